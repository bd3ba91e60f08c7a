"""Recover global orientation and hand scale from 3D joints: the hand model, posed with the given finger
pose, is registered to the joints by a similarity transform (roma.rigid_points_registration)."""

from __future__ import annotations

import roma
import torch


@torch.no_grad()
def align_global(
    hand,
    hand_pose: torch.Tensor,
    joints: torch.Tensor,
    is_left: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (global_orient (N, 3), scale (N,)) that best map the model's joints onto `joints` (N, 21, 3).

    hand_pose (N, 45) is in each record's own side convention; for either side the global orientation
    rotates the zero-orientation hand about the wrist, so one registration serves both."""
    N = hand_pose.shape[0]
    model = hand(hand_pose.new_zeros(N, 3), hand_pose, is_left=is_left).joints
    src = model - model[:, :1]
    dst = joints - joints[:, :1]
    R, _, s = roma.rigid_points_registration(src, dst, weights=weights, compute_scaling=True)
    return roma.rotmat_to_rotvec(R), s
