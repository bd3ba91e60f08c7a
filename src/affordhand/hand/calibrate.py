"""Skeleton calibration: fit the built-in hand's rest skeleton (and a scale per record) to records that
have both a MANO pose and 3D joints, so the license-free hand reproduces a data set's MANO joints without
MANO files. The result belongs to the user (it is derived from their data) and is never shipped.

The skeleton file (JSON): {"format": "affordhand-skeleton-1", "rest_joints": 16 x 3, "tips": 5 x 3, ...},
metres, right hand, MANO joint order, the built-in hand's frame conventions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from affordhand.data.atomic import atomic_write_text
from affordhand.errors import AffordhandError
from affordhand.hand import skeleton
from affordhand.hand.model import BuiltinHand, HandModel, skeleton_joints

FORMAT = "affordhand-skeleton-1"


def _residuals_mm(rest, tips, orient, pose, target, is_left, log_scale) -> torch.Tensor:
    joints = skeleton_joints(rest, tips, orient, pose, scale=log_scale.exp(), is_left=is_left)
    return 1000 * torch.linalg.norm(joints - target, dim=-1)


def _scale_fit(joints: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return the per-record scale s (B,) minimising |s * joints - target|^2 (least squares, closed form)."""
    return (joints * target).sum((1, 2)) / (joints * joints).sum((1, 2)).clamp_min(1e-12)


def _best_scale(rest, tips, orient, pose, target, is_left) -> torch.Tensor:
    """Return the per-record log scale that best fits target."""
    joints = skeleton_joints(rest, tips, orient, pose, is_left=is_left)
    return _scale_fit(joints, target).clamp_min(1e-3).log()


PAIRED = ("hand_pose", "global_orient", "joints3d")
MIN_RECORDS = 10
TOLERANCE_MM = 3.0  # joints further than this (mean) from a hand model's come from another skeleton


def paired_records(records: list[dict], limit: int | None = None) -> list[dict]:
    """Return the records that hold a pose and its own 3D joints (at most `limit`, evenly spread)."""
    usable = [r for r in records if all(r.get(k) is not None for k in PAIRED)]
    if limit is not None and len(usable) > limit:
        usable = [usable[i] for i in np.linspace(0, len(usable) - 1, limit).round().astype(int)]
    return usable


@torch.no_grad()
def skeleton_mismatch_mm(records: list[dict], hand: HandModel) -> float | None:
    """Return the mean distance (mm) between the records' own 3D joints and the hand model's joints for the
    same pose (root-relative, after the best scale per record), or None when no record holds both."""
    usable = paired_records(records, limit=512)
    if not usable:
        return None
    f32 = lambda key: torch.as_tensor(np.stack([r[key] for r in usable]), dtype=torch.float32)
    is_left = torch.as_tensor([r["side"] == "left" for r in usable])
    betas = None
    if any(r.get("betas") is not None for r in usable):
        betas = torch.as_tensor(np.stack([r.get("betas", np.zeros(10)) for r in usable]), dtype=torch.float32)
    model = hand(f32("global_orient"), f32("hand_pose"), betas=betas, is_left=is_left).joints.double()
    target = f32("joints3d").double()
    model, target = model - model[:, :1], target - target[:, :1]
    s = _scale_fit(model, target)
    return float(1000 * torch.linalg.norm(model * s[:, None, None] - target, dim=-1).mean())


def calibrate(records: list[dict], iters: int = 400, lr: float = 5e-4, limit: int | None = 2048) -> dict:
    """Return {'rest_joints', 'tips', 'before_mm', 'after_mm', 'scale'} fitted to records.

    Records need hand_pose, global_orient and joints3d (root-relative use: translation is ignored); at most
    `limit` of them, evenly spread, are used (the skeleton has 63 numbers: a few thousand hands fix it)."""
    if isinstance(iters, bool) or not isinstance(iters, int) or not 1 <= iters <= 100_000:
        raise AffordhandError(f"iters must be an integer between 1 and 100000, got {iters!r}")
    usable = paired_records(records, limit)
    if len(usable) < MIN_RECORDS:
        raise AffordhandError(
            f"calibration needs at least {MIN_RECORDS} records with hand_pose, global_orient and joints3d; "
            f"found {len(usable)}"
        )
    f64 = lambda key: torch.as_tensor(np.stack([r[key] for r in usable]), dtype=torch.float64)
    pose, orient = f64("hand_pose").reshape(-1, 15, 3), f64("global_orient")
    target = f64("joints3d")
    target = target - target[:, :1]
    is_left = torch.as_tensor([r["side"] == "left" for r in usable])
    rest0, tips0 = (torch.as_tensor(a, dtype=torch.float64) for a in skeleton.rest_joints())
    before = _residuals_mm(
        rest0, tips0, orient, pose, target, is_left, _best_scale(rest0, tips0, orient, pose, target, is_left)
    ).mean(0)
    rest = rest0.clone().requires_grad_(True)
    tips = tips0.clone().requires_grad_(True)
    opt = torch.optim.Adam([rest, tips], lr=lr)
    for _ in range(iters):
        log_s = _best_scale(rest, tips, orient, pose, target, is_left)
        log_s = log_s - log_s.mean()  # the skeleton carries the size; records vary around it
        loss = (_residuals_mm(rest, tips, orient, pose, target, is_left, log_s) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            rest.grad[0] = 0  # the wrist stays at the origin
        opt.step()
    with torch.no_grad():
        log_s = _best_scale(rest, tips, orient, pose, target, is_left)
        after = _residuals_mm(rest, tips, orient, pose, target, is_left, log_s).mean(0)
        mean_scale = float(log_s.mean().exp())
        # Fold the mean scale into the skeleton, so scale 1 means the data set's typical hand.
        rest, tips = rest * mean_scale, tips * mean_scale
    check_skeleton(rest.numpy(), tips.numpy(), "the fitted skeleton")
    return {
        "rest_joints": rest.detach().numpy(),
        "tips": tips.detach().numpy(),
        "before_mm": before.numpy(),
        "after_mm": after.numpy(),
        "scale": (log_s.exp() / mean_scale).numpy(),
        "records": len(usable),
    }


def save_skeleton(path: str | Path, result: dict, source: str = "") -> None:
    """Write a skeleton file (JSON) atomically."""
    data = {
        "format": FORMAT,
        "rest_joints": np.round(result["rest_joints"], 6).tolist(),
        "tips": np.round(result["tips"], 6).tolist(),
        "records": result["records"],
        "source": source,
        "residual_mm_before": np.round(result["before_mm"], 3).tolist(),
        "residual_mm_after": np.round(result["after_mm"], 3).tolist(),
    }
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# A skeleton's bones may be this much shorter or longer than the built-in hand's (a child's hand is about 0.6x
# an adult's, a large adult's 1.2x); anything outside is another unit or a broken fit.
SIZE_RANGE = (0.4, 2.5)


def check_skeleton(rest: np.ndarray, tips: np.ndarray, where: str) -> None:
    """Raise AffordhandError unless a skeleton's rest joints (16, 3) and tips (5, 3) are finite and of a hand's
    size: the median of its bone lengths against the built-in hand's within SIZE_RANGE, no bone of length 0."""
    if not (np.isfinite(rest).all() and np.isfinite(tips).all()):
        raise AffordhandError(f"{where}: the skeleton holds values that are not finite")
    joints, ref = np.concatenate([rest, tips]), np.concatenate(skeleton.rest_joints())
    parents = np.asarray(skeleton.MANO_PARENTS + (3, 6, 9, 12, 15))  # each tip's parent: its finger's last joint
    bones = np.linalg.norm(joints[1:] - joints[parents[1:]], axis=1)
    ratio = bones / np.linalg.norm(ref[1:] - ref[parents[1:]], axis=1)
    size = float(np.median(ratio))
    if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1] or ratio.min() < 0.05:
        raise AffordhandError(
            f"{where}: the skeleton's bones are {size:.3g}x the built-in hand's (shortest {ratio.min():.2g}x); "
            f"a hand's lie within {SIZE_RANGE[0]}-{SIZE_RANGE[1]}x: are its joints in metres?"
        )


def load_skeleton(path: str | Path) -> BuiltinHand:
    """Return a built-in hand with the skeleton of a calibration file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        rest, tips = np.asarray(data["rest_joints"], float), np.asarray(data["tips"], float)
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise AffordhandError(f"{path}: not a skeleton file ({exc}); make one with `affordhand calibrate`") from None
    if data.get("format") != FORMAT or rest.shape != (16, 3) or tips.shape != (5, 3) or not np.isfinite(rest).all():
        raise AffordhandError(f"{path}: not an {FORMAT} file with 16 rest joints and 5 tips")
    if np.abs(rest[0]).max() > 1e-9:
        raise AffordhandError(f"{path}: the wrist (first rest joint) must be at the origin, got {rest[0].tolist()}")
    check_skeleton(rest, tips, str(path))
    return BuiltinHand(rest, tips)
