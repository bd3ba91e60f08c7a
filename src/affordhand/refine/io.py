"""Resumable, atomic output for `affordhand refine`: finished records go to OUT.partial as they are done
(flushed per batch), after a first line holding the run's settings; a rerun reads it back, refuses to mix
runs made with other settings or input, skips what is done, and the finished file replaces OUT atomically
in input order, with the settings kept beside it in OUT.config.json. Under torchrun each rank keeps its
own partial (OUT.rank<R>of<N>.partial) and rank 0 merges them."""

from __future__ import annotations

import os
from pathlib import Path

from affordhand.data.atomic import read_journal
from affordhand.data.provenance import write_settings
from affordhand.data.records import dumps_record, validate_record, write_records

SETTINGS_KEY = "affordhand_settings"  # the partial file's first line: {"affordhand_settings": {...}}


def partial_path(out: Path, rank: int = 0, world: int = 1) -> Path:
    """Return the partial file of one process: OUT.partial, or OUT.rank<R>of<N>.partial under torchrun."""
    return out.with_name(out.name + (".partial" if world == 1 else f".rank{rank}of{world}.partial"))


def read_partial(out: Path, rank: int = 0, world: int = 1) -> tuple[dict | None, dict[str, dict]]:
    """Return (the settings the partial output was made with, or None; the records finished in it by id).
    A torn last line is ignored."""
    entries = read_journal(partial_path(out, rank, world))
    settings = None
    if entries and isinstance(entries[0].get(SETTINGS_KEY), dict):
        settings = entries.pop(0)[SETTINGS_KEY]
    done: dict[str, dict] = {}
    for raw in entries:
        try:
            rec = validate_record(raw)
        except ValueError:
            break
        done[rec["id"]] = rec
    return settings, done


class PartialWriter:
    """Appends finished records to OUT.partial, flushed and fsynced after each batch."""

    def __init__(self, out: Path, done: dict[str, dict], settings: dict, rank: int = 0, world: int = 1):
        self.path = partial_path(out, rank, world)
        self.settings = settings
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Rewrite what was read back, so a torn tail line never stays in the file.
        with self.path.open("w", encoding="utf-8") as f:
            f.write(dumps_record({SETTINGS_KEY: settings}) + "\n")
            for rec in done.values():
                f.write(dumps_record(rec) + "\n")
        self.f = self.path.open("a", encoding="utf-8")

    def add(self, records: list[dict]) -> None:
        for rec in records:
            self.f.write(dumps_record(rec) + "\n")
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


def finish(out: Path, settings: dict, order: list[str], world: int = 1) -> tuple[int, list[str]]:
    """Merge the partial output of every rank into OUT (input order) with OUT.config.json beside it, then
    remove the partials; return (records written, ids that got no finite result)."""
    done: dict[str, dict] = {}
    for rank in range(world):
        done.update(read_partial(out, rank, world)[1])
    failed = [i for i in order if i not in done]
    write_settings(out, settings, records=len(done), failed=failed)
    write_records(out, (done[i] for i in order if i in done))
    for rank in range(world):
        partial_path(out, rank, world).unlink(missing_ok=True)
    return len(done), failed
