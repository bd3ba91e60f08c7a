"""Sequences in the record format: hands that carry `sequence` (a clip, or one hand's track in a clip) and
`frame` (their order in it), grouped and ordered for the refinement and the metrics that use time."""

from __future__ import annotations

from affordhand.errors import AffordhandError


def sequence_groups(records: list[dict]) -> list[list[int]]:
    """Return the records' indices grouped by sequence, in the order each sequence first appears, each group
    ordered by frame (by time, then input order, where a record lacks one); a record without `sequence` is a
    group of its own. Two records of one sequence with the same frame are refused."""
    groups: dict[object, list[int]] = {}
    for i, rec in enumerate(records):
        name = rec.get("sequence")
        groups.setdefault(("seq", name) if name is not None else ("one", i), []).append(i)
    out = []
    for (kind, name), members in groups.items():
        if kind == "seq" and len(members) > 1:
            members = sorted(members, key=lambda i: _order(records[i], i))
            frames = [records[i].get("frame") for i in members]
            for a, b in zip(frames, frames[1:]):
                if a is not None and a == b:
                    raise AffordhandError(f"sequence {name!r} has two records of frame {a}")
        out.append(members)
    return out


def _order(record: dict, index: int) -> tuple:
    frame, time = record.get("frame"), record.get("time")
    return (frame if frame is not None else float("inf"), time if time is not None else float("inf"), index)


def has_sequences(records: list[dict]) -> bool:
    """Return whether any record belongs to a sequence of more than one frame."""
    return any(len(g) > 1 for g in sequence_groups(records))


def windows(length: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Return [(start, stop)] windows of at most `size` frames covering range(length), neighbours sharing
    `overlap` frames, at most half a window (a sequence of at most `size` frames is one window)."""
    if length <= size:
        return [(0, length)]
    overlap = min(overlap, size // 2)
    step = size - overlap
    starts = list(range(0, length - size, step)) + [length - size]
    return [(s, s + size) for s in starts]
