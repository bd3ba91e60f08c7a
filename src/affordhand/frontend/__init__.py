"""Deprecated name of `affordhand.photo` (the photo pipeline), kept for one release: importing
`affordhand.frontend` or `affordhand.frontend.<module>` warns and gives the `affordhand.photo` module."""

import importlib
import sys
import warnings

warnings.warn(
    "affordhand.frontend is now affordhand.photo; the old name goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)
for _name in ("detect", "fit", "options", "pipeline"):
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"affordhand.photo.{_name}")
