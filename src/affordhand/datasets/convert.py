"""Streaming conversion of data sets to hand-record files, with progress and per-file error reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from rich.progress import Progress

from affordhand.data.records import validate_record, write_records
from affordhand.hand.align import align_global
from affordhand.hand.model import HandModel
from affordhand.progress import show_progress

BATCH = 1024


def with_global_orient(records: list[dict], hand: HandModel) -> list[dict]:
    """Set `global_orient` (where missing) and `scale` of the records that have hand_pose and joints3d
    (camera frame), by registering the hand model to the joints."""
    full = [r for r in records if r.get("hand_pose") is not None and r.get("joints3d") is not None]
    if not full:
        return records
    records, everything = full, records
    pose = torch.as_tensor(np.stack([r["hand_pose"] for r in records]), dtype=torch.float64)
    joints = torch.as_tensor(np.stack([r["joints3d"] for r in records]), dtype=torch.float64)
    is_left = torch.as_tensor([r["side"] == "left" for r in records])
    orient, scale = align_global(hand.double(), pose, joints, is_left)
    for r, o, s in zip(records, orient.numpy(), scale.numpy()):
        r.setdefault("global_orient", o)
        r.setdefault("scale", float(s))
    return everything


def convert_stream(
    items: Iterable, convert: Callable, out: Path, hand: HandModel, total: int | None = None, label: str = "convert"
) -> dict:
    """Convert items one by one (broken ones reported with their path and skipped), fill in global
    orientation in batches, validate and write the records atomically; return counts."""
    counts = {"written": 0, "broken": 0, "no_visibility": 0, "registered": 0}

    def records() -> Iterator[dict]:
        pending: list[dict] = []
        with Progress(transient=False, disable=not show_progress()) as bar:
            task = bar.add_task(label, total=total)
            for item in items:
                bar.advance(task)
                try:
                    rec = convert(item)
                except (KeyError, ValueError, TypeError, IndexError, OSError, AttributeError) as exc:
                    counts["broken"] += 1
                    where = getattr(item, "path", item)
                    print(f"skipping {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                if rec.get("visible") is None:
                    counts["no_visibility"] += 1
                pending.append(rec)
                if len(pending) >= BATCH:
                    yield from _finish(pending)
                    pending = []
            yield from _finish(pending)

    def _finish(batch):
        counts["registered"] += sum(r.get("global_orient") is None and r.get("joints3d") is not None for r in batch)
        with_global_orient(batch, hand)
        for rec in batch:
            counts["written"] += 1
            yield validate_record(rec)

    write_records(out, records())
    return counts
