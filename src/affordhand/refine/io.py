"""Resumable, atomic output for `affordhand refine`: finished records go to OUT.partial as they are done
(flushed per batch); a rerun reads it back, skips what is done, and the finished file replaces OUT
atomically in input order."""

from __future__ import annotations

import os
from pathlib import Path

from affordhand.data.atomic import read_journal
from affordhand.data.records import dumps_record, validate_record, write_records


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def read_done(out: Path) -> dict[str, dict]:
    """Return the records already finished in OUT.partial by id (a torn last line is ignored)."""
    done: dict[str, dict] = {}
    for raw in read_journal(partial_path(out)):
        try:
            rec = validate_record(raw)
        except ValueError:
            break
        done[rec["id"]] = rec
    return done


class PartialWriter:
    """Appends finished records to OUT.partial, flushed and fsynced after each batch."""

    def __init__(self, out: Path, done: dict[str, dict]):
        self.path = partial_path(out)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Rewrite what was read back, so a torn tail line never stays in the file.
        with self.path.open("w", encoding="utf-8") as f:
            for rec in done.values():
                f.write(dumps_record(rec) + "\n")
        self.f = self.path.open("a", encoding="utf-8")

    def add(self, records: list[dict]) -> None:
        for rec in records:
            self.f.write(dumps_record(rec) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def finish(self, out: Path, order: list[str], done: dict[str, dict]) -> None:
        self.f.close()
        write_records(out, (done[i] for i in order if i in done))
        self.path.unlink(missing_ok=True)
