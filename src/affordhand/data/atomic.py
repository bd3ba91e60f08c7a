"""Atomic file writes: write to a temporary file in the target's folder, then rename over the target,
so a crash never leaves half a file and readers see either the old or the new content."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` (normal permissions), on error
    it is removed and `path` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_journal(path: str | os.PathLike) -> list[dict]:
    """Return the JSON objects of an append-only JSONL journal, up to the first line a crash tore or
    corrupted (that line and any after it are dropped)."""
    import json

    path = Path(path)
    entries: list[dict] = []
    if not path.is_file():
        return entries
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # the process died while writing this line
            try:
                entry = json.loads(line.decode("utf-8"))
            except (ValueError, RecursionError):  # torn or corrupted: JSON, UTF-8, nesting
                break
            if not isinstance(entry, dict):
                break
            entries.append(entry)
    return entries


LOCK_FILE = ".affordhand.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on a folder that one command writes (a run, an export), made if missing; a second
    process that asks for it is refused at once with a one-line error. Temporary files that an earlier process
    left there when it was killed (atomic_path's `.NAME.*.tmp`) are removed once the lock is held."""
    import fcntl

    from affordhand.errors import AffordhandError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise AffordhandError(f"{folder} is a file; {what} writes a folder")
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise AffordhandError(
            f"{folder} is being written by another affordhand process; wait for it or use another folder"
        ) from None
    try:
        for stale in folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        yield folder
    finally:
        (folder / LOCK_FILE).unlink(missing_ok=True)  # an export is uploaded as it is: leave nothing of ours
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
