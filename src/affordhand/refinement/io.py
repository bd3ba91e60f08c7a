"""Resumable, atomic output for `affordhand refine`: finished records go to OUT.partial as they are done
(flushed per batch), after a first line holding the run's settings; a rerun reads it back, refuses to mix
runs made with other settings or input, skips what is done, and the finished file replaces OUT atomically
in input order, with the settings kept beside it in OUT.config.json. Under torchrun each rank keeps its
own partial (OUT.rank<R>of<N>.partial) and rank 0 merges them."""

from __future__ import annotations

import json
import os
from pathlib import Path

from affordhand.data.atomic import atomic_path, read_journal
from affordhand.data.provenance import write_settings
from affordhand.data.records import RecordError, dumps_record, iter_records, validate_record

LIGHT_FIELDS = ("id", "side", "hand_pose", "global_orient", "joints3d")  # what self-calibration reads

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
        self.settings, self.rank, self.done_ids = settings, rank, list(done)
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


def with_text(record: dict, described: dict[str, dict] | None) -> dict:
    """Return the record with its text (and structured fields) from described records by id, if any."""
    if described and record["id"] in described:
        record["text"] = described[record["id"]]["text"]
        if isinstance(described[record["id"]].get("fields"), dict):
            record["fields"] = described[record["id"]]["fields"]
    return record


ORDER_FIELDS = ("id", "sequence", "frame", "time")  # what places a record in its sequence


def scan_input(path, skip_bad: bool, required, described: dict | None):
    """Read the input once, keeping only what the run needs up front: (ids in order, the records' pose and
    joints for self-calibration, how many have no text, skipped lines, each record's place in its sequence:
    its ORDER_FIELDS). Refuses duplicate ids."""
    ids, seen, light, without_text, skipped, places = [], set(), [], 0, [], []
    for rec in iter_records(path, skip_bad=skip_bad, required=required, skipped=skipped):
        if rec["id"] in seen:
            raise RecordError(f"{path}: id {rec['id']!r} appears more than once")
        seen.add(rec["id"])
        ids.append(rec["id"])
        rec = with_text(rec, described)
        without_text += not rec.get("text")
        if rec.get("joints3d") is not None:
            light.append({k: rec[k] for k in LIGHT_FIELDS if k in rec})
        places.append({k: rec[k] for k in ORDER_FIELDS if rec.get(k) is not None})
    return ids, light, without_text, skipped, places


def input_batches(
    path,
    skip_bad: bool,
    required,
    described: dict | None,
    batch: int,
    rank: int = 0,
    world: int = 1,
    skip_ids=frozenset(),
):
    """Yield lists of records: the input's batches of `batch` consecutive records that belong to this rank
    (batch b goes to rank b % world), without the records in skip_ids; the file is streamed, never held."""
    chunk, current = [], None
    for position, rec in enumerate(iter_records(path, skip_bad=skip_bad, required=required)):
        index = position // batch
        if index % world != rank:
            continue
        if current is not None and index != current and chunk:
            yield chunk
            chunk = []
        current = index
        if rec["id"] not in skip_ids:
            chunk.append(with_text(rec, described))
    if chunk:
        yield chunk


def planned_batches(
    path, skip_bad: bool, required, described: dict | None, plan: list[list[str]], rank: int = 0, world: int = 1
):
    """Yield lists of records: the planned batches (lists of ids, whole sequences) that belong to this rank
    (batch b goes to rank b % world), each as soon as all its records are read; the file is streamed once and
    only the records of batches not yet complete are held (one sequence's, where sequences lie together)."""
    batch_of = {rid: b for b, ids in enumerate(plan) for rid in ids if b % world == rank}
    held: dict[int, dict[str, dict]] = {}
    for rec in iter_records(path, skip_bad=skip_bad, required=required):
        b = batch_of.get(rec["id"])
        if b is None:
            continue
        held.setdefault(b, {})[rec["id"]] = with_text(rec, described)
        if len(held[b]) == len(plan[b]):
            got = held.pop(b)
            yield [got[rid] for rid in plan[b]]


def _line_index(path: Path) -> dict[str, tuple[int, int]]:
    """Return {id: (byte offset, length)} of the records in a partial file (up to a torn line)."""
    index: dict[str, tuple[int, int]] = {}
    if not path.is_file():
        return index
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                break
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                index[entry["id"]] = (offset, len(raw))
            offset += len(raw)
    return index


def finish(out: Path, settings: dict, order: list[str], world: int = 1) -> tuple[int, list[str]]:
    """Merge the partial output of every rank into OUT (input order) with OUT.config.json beside it, then
    remove the partials; return (records written, ids that got no finite result). Streams: only each
    record's place in its partial file is held, and the records are copied line by line."""
    paths = [partial_path(out, rank, world) for rank in range(world)]
    indexes = [_line_index(path) for path in paths]
    files = [path.open("rb") if path.is_file() else None for path in paths]
    written, failed = 0, []
    try:
        with atomic_path(out) as tmp, tmp.open("wb") as f:
            for rid in order:
                rank = next((r for r, index in enumerate(indexes) if rid in index), None)
                if rank is None:
                    failed.append(rid)
                    continue
                offset, length = indexes[rank][rid]
                files[rank].seek(offset)
                f.write(files[rank].read(length))
                written += 1
            f.flush()
            os.fsync(f.fileno())
            write_settings(out, settings, records=written, failed=failed)
    finally:
        for handle in files:
            if handle is not None:
                handle.close()
    for path in paths:
        path.unlink(missing_ok=True)
    return written, failed
