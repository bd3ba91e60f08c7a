"""Records to tensors and back for refinement: a batch of hands with their 2D evidence and camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from affordhand.hand.camera import project
from affordhand.hand.rotations import mirror_where

# Joints that only global orientation, translation and scale move (wrist and the base of each finger).
PALM_JOINTS = (0, 1, 5, 9, 13, 17)
NEEDED = ("hand_pose", "global_orient", "keypoints2d", "K")


@dataclass
class HandBatch:
    """B hands. Poses are right-hand parameters (left hands mirrored); the model mirrors them back.

    pose_r: (B, 45) rad   orient_r: (B, 3) rad   transl: (B, 3) m or None rows (nan)   scale: (B,)
    keypoints: (B, 21, 2) px   visible: (B, 21) bool   K: (B, 3, 3)   is_left: (B,) bool
    """

    pose_r: torch.Tensor
    orient_r: torch.Tensor
    transl: torch.Tensor
    scale: torch.Tensor
    keypoints: torch.Tensor
    visible: torch.Tensor
    K: torch.Tensor
    is_left: torch.Tensor

    def to(self, device) -> "HandBatch":
        return HandBatch(*[getattr(self, f).to(device) for f in self.__dataclass_fields__])


def batch_from_records(records: list[dict]) -> HandBatch:
    """Return a HandBatch (float32) from validated records that hold the NEEDED fields."""
    f32 = lambda key: torch.as_tensor(np.stack([r[key] for r in records]), dtype=torch.float32)
    is_left = torch.as_tensor([r["side"] == "left" for r in records])
    pose = f32("hand_pose").reshape(-1, 15, 3)
    pose = mirror_where(pose, is_left).reshape(-1, 45)
    orient = mirror_where(f32("global_orient"), is_left)
    transl = torch.as_tensor(
        np.stack([r["transl"] if r.get("transl") is not None else np.full(3, np.nan) for r in records]),
        dtype=torch.float32,
    )
    scale = torch.as_tensor([r.get("scale") or 1.0 for r in records], dtype=torch.float32)
    visible = torch.as_tensor(
        np.stack([r["visible"] if r.get("visible") is not None else np.ones(21, bool) for r in records])
    )
    return HandBatch(pose, orient, transl, scale, f32("keypoints2d"), visible, f32("K"), is_left)


def joints_camera(hand, pose_r, orient_r, transl, scale, is_left) -> torch.Tensor:
    """Return camera-frame joints (B, 21, 3), metres, from right-hand parameters."""
    pose = mirror_where(pose_r.reshape(-1, 15, 3), is_left)
    orient = mirror_where(orient_r, is_left)
    return hand(orient, pose, transl=transl, scale=scale, is_left=is_left).joints


def reprojection(hand, pose_r, orient_r, transl, scale, batch: HandBatch) -> torch.Tensor:
    """Return squared pixel residuals (B, 21) of the hand against the batch's 2D keypoints."""
    uv = project(joints_camera(hand, pose_r, orient_r, transl, scale, batch.is_left), batch.K)
    return ((uv - batch.keypoints) ** 2).sum(-1)


def geman_mcclure(sq_residual: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Return the robust Geman-McClure cost in [0, 1) of squared residuals (px^2), scale sigma_px."""
    return sq_residual / (sq_residual + sigma_px**2)
