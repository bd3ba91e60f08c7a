from affordhand.cli import main

raise SystemExit(main())
