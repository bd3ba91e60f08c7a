"""What the benchmarks share: where `../shared` (the real data beside the checkout) is, the `--shared` and
`--markdown` flags, and the Markdown copy of a run's tables that the documentation includes
(`docs/results/`)."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The real data (research use: measured with, never shipped); AFFORDHAND_SHARED points elsewhere.
SHARED = Path(os.environ.get("AFFORDHAND_SHARED", REPO.parent / "shared"))


def refined_metrics(refiner, init: list[dict], gt: list[dict], config, by: str | None = None):
    """Return the evaluation (eval/evaluate.py: overall and groups, mm) of the refiner's output for config on
    init against the ground truth gt: the refine -> evaluate step every synthetic benchmark repeats."""
    from affordhand.eval.evaluate import evaluate

    return evaluate(gt, refiner.refine(init, config), refiner.hand, by=by)


def add_common_args(parser: argparse.ArgumentParser, shared: bool = True) -> None:
    """Add --markdown FILE (and, for benchmarks on real data, --shared DIR)."""
    if shared:
        parser.add_argument("--shared", type=Path, default=SHARED, help="the shared folder beside the checkout")
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the command and its tables (Markdown) to FILE"
    )


class _Tee(io.TextIOBase):
    def __init__(self, stream):
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def markdown_lines(text: str) -> str:
    """Return the Markdown of a benchmark's output: its tables and the headings and notes between them
    (lines that start with '|', '#' or '*'), each block separated by one blank line."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith(("|", "#", "*")):
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return "\n\n".join(blocks) + "\n"


@contextlib.contextmanager
def markdown_copy(path: Path | None):
    """Print as usual; with a path, also write there the command that ran and the Markdown it printed."""
    if path is None:
        yield
        return
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        yield
    args = list(sys.argv[1:])
    for flag in ("--markdown", "--keep"):  # the command as a reader reruns it: no copy, no local cache folder
        if flag in args:
            del args[args.index(flag) : args.index(flag) + 2]
        args = [a for a in args if not a.startswith(flag + "=")]
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], REPO), *args])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"```sh\n{command}\n```\n\n" + markdown_lines(tee.kept.getvalue()))
