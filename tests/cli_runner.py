"""Running `affordhand` in the test's own process: its exit status, stdout and stderr as a subprocess gives
them, without a new interpreter's imports (seconds per call). Tests of what only a real process shows (a
kill, a signal, threads per process) start one."""

import contextlib
import io
import types


def run_cli(*argv: str) -> types.SimpleNamespace:
    """Return (returncode, stdout, stderr) of `affordhand ARGV` run by its main()."""
    from affordhand.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
