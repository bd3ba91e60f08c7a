"""How evaluation joins predictions to ground truth and breaks its metrics down: the keys, and the group a
record falls in. Without numpy or torch, so the command line lists the choices at no cost."""

from __future__ import annotations

from affordhand.errors import AffordhandError

GROUP_KEYS = ("taxonomy", "object", "occluded_count", "camera", "subject")
MATCH_KEYS = ("id", "image")


def group_key(record: dict, by: str):
    """Return the group a ground-truth record falls in for the --by breakdown."""
    if by == "taxonomy":
        tid = record.get("taxonomy_id")
        if tid is None:
            return "unknown"
        from affordhand.data.taxonomy import GRASPS

        grasp = GRASPS.get(tid)
        return f"{tid:02d} {grasp.name}" if grasp else str(tid)
    if by == "object":
        return record.get("object") or "unknown"
    if by == "occluded_count":
        vis = record.get("visible")
        return int(21 - vis.sum()) if vis is not None else 0
    if by in ("camera", "subject"):
        return str(record.get(by) or "unknown")
    raise AffordhandError(f"unknown --by {by!r}: choose from {', '.join(GROUP_KEYS)}")
