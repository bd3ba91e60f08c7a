"""The hand record format (JSON Lines, one hand per line): one reader and one writer for every command.

Known fields and their shapes (all optional but `id`; unknown keys are kept and passed through):
    id: str                       side: "right" | "left" (default right)
    hand_pose: 45 floats, axis-angle, MANO joint order, flat-hand mean, radians
    global_orient: 3 floats, axis-angle, radians         betas: 10 floats
    scale: float > 0 (built-in hand size)                transl: 3 floats, metres, camera frame
    joints3d: 21x3 metres, camera frame, OpenPose order  keypoints2d: 21x2 pixels
    visible: 21 bools (missing = all visible)            K: 3x3 camera intrinsics, pixels
    keypoint_confidence: 21 floats in [0, 1], how much each seen keypoint is trusted (missing = all fully)
    text: str   fields: object   taxonomy_id: int (Feix id)   object: str   image: str
    sequence: str (a clip, or a track in one)   frame: int >= 0 (its order there)   time: seconds >= 0
Arrays are read into numpy (float64; `visible` as bool) and written back as nested lists.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from affordhand.data.atomic import atomic_path
from affordhand.errors import AffordhandError

# Field -> shape of its array. hand_pose also accepts 15x3 on input.
ARRAY_FIELDS = {
    "hand_pose": (45,),
    "global_orient": (3,),
    "betas": (10,),
    "transl": (3,),
    "joints3d": (21, 3),
    "keypoints2d": (21, 2),
    "K": (3, 3),
    "keypoint_confidence": (21,),
}
STRING_FIELDS = ("text", "object", "image", "sequence")
MAX_ROTATION = 2 * math.pi  # rad; larger axis-angle norms are almost always degrees by mistake


class RecordError(AffordhandError):
    """A record that breaks the format; the message names file, line and field."""


@dataclass
class RecordFile:
    """Records read from one file, and (line, message) for each line skipped with skip_bad."""

    records: list[dict]
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _array(value, shape, name):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
        raise ValueError(f"field '{name}' must be numbers with shape {shape}") from None
    if name == "hand_pose" and arr.shape == (15, 3):
        arr = arr.reshape(45)
    if arr.shape != shape:
        raise ValueError(f"field '{name}' has shape {list(arr.shape)}, expected {list(shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"field '{name}' contains NaN or infinity")
    return arr


def _check_values(rec: dict) -> None:
    """Check what the shapes leave open: K is intrinsics, keypoint_confidence lies in [0, 1]."""
    if rec.get("keypoint_confidence") is not None:
        confidence = rec["keypoint_confidence"]
        if (confidence < 0).any() or (confidence > 1).any():
            raise ValueError("field 'keypoint_confidence' must be 21 numbers between 0 and 1")
    if rec.get("K") is not None:
        K = rec["K"]
        last_row = np.abs(K[2] - (0.0, 0.0, 1.0)) <= (1e-8, 1e-8, 1e-8 + 1e-5)  # np.allclose's tolerance, faster
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not last_row.all():
            raise ValueError("field 'K' must be intrinsics [[fx,0,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0")


def _check_place(rec: dict) -> None:
    """Check (and convert) a record's place in a sequence: `frame` (whole, >= 0) and `time` (seconds)."""
    if rec.get("frame") is not None:
        frame = rec["frame"]
        if isinstance(frame, (bool, np.bool_)) or not isinstance(frame, numbers.Integral) or frame < 0:
            raise ValueError("field 'frame' must be a whole number >= 0 (the frame's place in its sequence)")
        rec["frame"] = int(frame)
    if rec.get("time") is not None:
        t = rec["time"]
        try:
            ok = not isinstance(t, bool) and isinstance(t, (int, float)) and math.isfinite(t) and t >= 0
        except OverflowError:
            ok = False
        if not ok:
            raise ValueError("field 'time' must be a finite number of seconds >= 0")
        rec["time"] = float(t)
    if rec.get("sequence") == "":
        raise ValueError("field 'sequence' must be a non-empty string")


def validate_record(raw: dict, required: Iterable[str] = ()) -> dict:
    """Return a record with known fields checked and converted to numpy; raise ValueError naming the field."""
    if not isinstance(raw, dict):
        raise ValueError("a record must be a JSON object")
    rec = dict(raw)
    if not isinstance(rec.get("id"), str) or not rec["id"]:
        raise ValueError("field 'id' is required and must be a non-empty string")
    side = rec.setdefault("side", "right")
    if side not in ("right", "left"):
        raise ValueError(f"field 'side' must be 'right' or 'left', got {side!r}")
    for name, shape in ARRAY_FIELDS.items():
        if rec.get(name) is not None:
            rec[name] = _array(rec[name], shape, name)
    for name in ("hand_pose", "global_orient"):
        if name in rec and rec[name] is not None:
            norms = np.linalg.norm(rec[name].reshape(-1, 3), axis=1)
            if (norms > MAX_ROTATION).any():
                raise ValueError(
                    f"field '{name}' has an axis-angle of {norms.max():.1f} rad (> 2 pi): angles must be radians"
                )
    _check_values(rec)
    if rec.get("scale") is not None:
        s = rec["scale"]
        try:  # an integer too large for a float (400 digits) overflows here
            finite = not isinstance(s, bool) and isinstance(s, (int, float)) and math.isfinite(s)
        except OverflowError:
            finite = False
        if not finite or s <= 0:
            raise ValueError("field 'scale' must be a positive, finite number")
        rec["scale"] = float(s)
    if rec.get("visible") is not None:
        vis = rec["visible"]
        if isinstance(vis, np.ndarray):
            vis = vis.tolist()
        if not isinstance(vis, list) or len(vis) != 21 or not all(isinstance(v, (bool, int)) for v in vis):
            raise ValueError("field 'visible' must be a list of 21 booleans")
        rec["visible"] = np.asarray(vis, dtype=bool)
    for name in ("id",) + tuple(STRING_FIELDS):
        if rec.get(name) is not None and not isinstance(rec[name], str):
            raise ValueError(f"field '{name}' must be a string")
        if isinstance(rec.get(name), str):
            try:
                rec[name].encode("utf-8")
            except UnicodeEncodeError:  # JSON can spell a lone surrogate (\ud800) that no text can hold
                raise ValueError(f"field '{name}' holds a lone surrogate, not text") from None
    _check_place(rec)
    if rec.get("fields") is not None and not isinstance(rec["fields"], dict):
        raise ValueError("field 'fields' must be an object")
    if rec.get("taxonomy_id") is not None:
        if isinstance(rec["taxonomy_id"], bool) or not isinstance(rec["taxonomy_id"], int):
            raise ValueError("field 'taxonomy_id' must be an integer (Feix grasp id)")
    for name in required:
        if rec.get(name) is None:
            raise ValueError(f"field '{name}' is required here")
    return rec


def iter_records(
    path: str | os.PathLike, skip_bad: bool = False, required: Iterable[str] = (), skipped: list | None = None
) -> Iterator[dict]:
    """Yield validated records from a JSONL file; bad lines raise RecordError or, with skip_bad, are
    appended as (line, message) to `skipped`."""
    path = Path(path)
    required = tuple(required)
    if not path.is_file():
        raise AffordhandError(f"{path}: no such file")
    with path.open("rb") as f:
        for lineno, data in enumerate(f, start=1):
            if not data.strip():
                continue
            try:
                raw = json.loads(data.decode("utf-8"))
                yield validate_record(raw, required)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                msg = (
                    f"bad JSON: {exc.msg}"
                    if isinstance(exc, json.JSONDecodeError)
                    else f"not UTF-8 text (byte {exc.start})"
                    if isinstance(exc, UnicodeDecodeError)
                    else "bad JSON: nested too deeply"
                    if isinstance(exc, RecursionError)
                    else str(exc)
                )
                if not skip_bad:
                    raise RecordError(f"{path}:{lineno}: {msg} (use --skip-bad to skip such lines)") from None
                if skipped is not None:
                    skipped.append((lineno, msg))


def read_records(path: str | os.PathLike, skip_bad: bool = False, required: Iterable[str] = ()) -> RecordFile:
    """Return all records of a JSONL file (validated), with the lines skipped when skip_bad."""
    skipped: list = []
    records = list(iter_records(path, skip_bad=skip_bad, required=required, skipped=skipped))
    ids = set()
    for rec in records:
        if rec["id"] in ids:
            raise RecordError(f"{path}: id {rec['id']!r} appears more than once")
        ids.add(rec["id"])
    return RecordFile(records, skipped)


def _plain(value, decimals):
    if isinstance(value, np.ndarray):
        if value.dtype == bool:
            return value.tolist()
        return np.round(value.astype(np.float64), decimals).tolist()
    if isinstance(value, (np.floating,)):
        return round(float(value), decimals)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {k: _plain(v, decimals) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, decimals) for v in value]
    return value


def dumps_record(record: dict, decimals: int = 6) -> str:
    """Return one JSON line for a record (numpy arrays as lists, floats rounded to `decimals`)."""
    return json.dumps(_plain(record, decimals), separators=(",", ":"), allow_nan=False)


def write_records(path: str | os.PathLike, records: Iterable[dict], decimals: int = 6) -> int:
    """Write records atomically (temp file in the same folder, then rename); return how many."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(dumps_record(rec, decimals) + "\n")
            count += 1
        f.flush()
        os.fsync(f.fileno())
    return count
