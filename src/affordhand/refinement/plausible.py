"""Plausibility of refinement inputs and outputs: values the record format accepts but that no camera or
hand produces (a wrist at the camera centre, a hand a kilometre long, a focal length of 1e-30 px), and
results that are not finite numbers.

Each range is wide enough for any real camera and hand; a record outside one gets a warning (or, with
`refine --strict`, an error) naming what is off.
"""

from __future__ import annotations

import numpy as np
import torch

from affordhand.hand.camera import project
from affordhand.hand.model import HandModel
from affordhand.refinement.batch import batch_from_records

DEPTH_M = (0.05, 50.0)  # wrist distance along the optical axis, metres
SCALE = (0.25, 4.0)  # built-in hand size; 1 is an adult hand
FOCAL_PX = (10.0, 1e5)  # fx and fy, pixels
KEYPOINT_REACH = 1e5  # px from the principal point
REPROJECTION_HANDS = 1.0  # mean 2D error of the visible joints, in hand sizes (all keypoints' extent)
RESULT_FIELDS = ("hand_pose", "global_orient", "transl", "scale", "joints3d")


def _outside(value: float, bounds: tuple[float, float]) -> bool:
    return not bounds[0] <= value <= bounds[1]


def implausible(records: list[dict], hand: HandModel) -> list[list[str]]:
    """Return, per record (validated, with the fields refinement needs), what is implausible in it."""
    reasons: list[list[str]] = [[] for _ in records]
    check_2d = []
    for i, r in enumerate(records):
        K = r["K"]
        if _outside(K[0, 0], FOCAL_PX) or _outside(K[1, 1], FOCAL_PX):
            reasons[i].append(
                f"focal length {K[0, 0]:.3g}, {K[1, 1]:.3g} px is outside {FOCAL_PX[0]:g}-{FOCAL_PX[1]:g}"
            )
        reach = np.abs(r["keypoints2d"] - K[:2, 2]).max()
        if reach > KEYPOINT_REACH:
            reasons[i].append(f"keypoints lie {reach:.3g} px from the principal point (> {KEYPOINT_REACH:g})")
        scale = r.get("scale") or 1.0
        if _outside(scale, SCALE):
            reasons[i].append(f"scale {scale:.3g} is outside {SCALE[0]:g}-{SCALE[1]:g} (1 is an adult hand)")
        if r.get("transl") is not None and _outside(float(r["transl"][2]), DEPTH_M):
            reasons[i].append(f"depth {r['transl'][2]:.3g} m is outside {DEPTH_M[0]:g}-{DEPTH_M[1]:g} m")
        if not reasons[i] and r.get("transl") is not None:
            check_2d.append(i)
    if check_2d:
        for i, error in zip(check_2d, _reprojection_in_hands([records[i] for i in check_2d], hand)):
            if not error <= REPROJECTION_HANDS:  # also catches nan
                reasons[i].append(
                    f"the initial estimate reprojects {error:.1f} hand sizes from its keypoints "
                    f"(> {REPROJECTION_HANDS:g}): is transl in metres, in the camera frame?"
                )
    return reasons


@torch.no_grad()
def _reprojection_in_hands(records: list[dict], hand: HandModel) -> np.ndarray:
    """Return each record's mean 2D error over visible joints, in units of its keypoints' extent."""
    batch = batch_from_records(records)
    uv = project(batch.joints(hand), batch.K)
    vis = batch.visible.float()
    error = ((uv - batch.keypoints).norm(dim=-1) * vis).sum(-1) / vis.sum(-1).clamp_min(1)
    # The hand's size in the image: the extent of all 21 keypoints (a hidden joint's keypoint is a guess, but
    # the visible ones alone can be a few pixels apart on a heavily occluded hand).
    extent = (batch.keypoints.amax(1) - batch.keypoints.amin(1)).amax(-1).clamp_min(1.0)
    return (error / extent).numpy()


def not_finite(record: dict) -> list[str]:
    """Return the result fields of a refined record that hold NaN or infinity (or overflow JSON)."""
    bad = []
    for name in RESULT_FIELDS:
        value = record.get(name)
        if value is not None and not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
            bad.append(name)
    return bad
