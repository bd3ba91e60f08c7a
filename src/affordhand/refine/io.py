"""Resumable, atomic output for `affordhand refine`: finished records go to OUT.partial as they are done
(flushed per batch), after a first line holding the run's settings; a rerun reads it back, refuses to mix
runs made with other settings or input, skips what is done, and the finished file replaces OUT atomically
in input order, with the settings kept beside it in OUT.config.json."""

from __future__ import annotations

import os
from pathlib import Path

from affordhand.data.atomic import read_journal
from affordhand.data.provenance import write_settings
from affordhand.data.records import dumps_record, validate_record, write_records

SETTINGS_KEY = "affordhand_settings"  # the partial file's first line: {"affordhand_settings": {...}}


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def read_partial(out: Path) -> tuple[dict | None, dict[str, dict]]:
    """Return (the settings the partial output was made with, or None; the records finished in it by id).
    A torn last line is ignored."""
    entries = read_journal(partial_path(out))
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

    def __init__(self, out: Path, done: dict[str, dict], settings: dict):
        self.path = partial_path(out)
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

    def finish(self, out: Path, order: list[str], done: dict[str, dict], **summary) -> None:
        """Write OUT (input order) and OUT.config.json (the settings and `summary`), then drop the partial."""
        self.f.close()
        write_settings(out, self.settings, **summary)
        write_records(out, (done[i] for i in order if i in done))
        self.path.unlink(missing_ok=True)
