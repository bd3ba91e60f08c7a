"""Whether long commands draw progress bars: on a terminal, unless `affordhand --quiet` (or
AFFORDHAND_QUIET=1) asked for silence."""

from __future__ import annotations

import os
import sys


def quiet() -> bool:
    """Return whether progress bars are turned off for this process."""
    return os.environ.get("AFFORDHAND_QUIET", "") not in ("", "0")


def show_progress() -> bool:
    """Return whether to draw a progress bar: stderr is a terminal and nobody asked for quiet."""
    return sys.stderr.isatty() and not quiet()
