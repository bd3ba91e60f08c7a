"""Hand models that share one interface: batched pose tensors in, 21 OpenPose joints out.

`BuiltinHand` (default, license-free) and `ManoHand` (the user's own MANO files through smplx) both take
    global_orient: (B, 3) axis-angle,  hand_pose: (B, 45) or (B, 15, 3) axis-angle, MANO joint order,
    transl: (B, 3) metres or None,    scale: (B,) or None,  betas: (B, 10) or None (MANO only),
    is_left: (B,) bool or None (all right)
and return a `HandOutput` with `joints` (B, 21, 3) in metres, OpenPose order, and for MANO `vertices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import roma
import torch
from torch import nn

from affordhand.hand import skeleton
from affordhand.hand.rotations import as_joint_rotvecs, mirror_where


@dataclass
class HandOutput:
    """joints: (B, 21, 3) metres, OpenPose order; vertices: (B, V, 3) metres or None; faces: (F, 3) or None."""

    joints: torch.Tensor
    vertices: torch.Tensor | None = None
    faces: np.ndarray | None = None


class HandModel(Protocol):
    """What refinement, evaluation and the front end need of a hand model (BuiltinHand, ManoHand): batched
    parameters in (shapes in this module's docstring), a HandOutput out; global orientation rotates about the
    wrist, then scale, then transl (the wrist's position) apply."""

    name: str

    def __call__(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None) -> HandOutput: ...

    def to(self, device) -> "HandModel": ...


def _mirror_inputs(global_orient, hand_pose, is_left):
    """Return right-hand parameters for a batch that mixes sides (left ones mirrored)."""
    if is_left is None:
        return global_orient, hand_pose
    return mirror_where(global_orient, is_left), mirror_where(as_joint_rotvecs(hand_pose), is_left)


def _mirror_points(points, is_left):
    """Return points (B, N, 3) with x flipped where is_left."""
    if is_left is None:
        return points
    sign = 1.0 - 2.0 * is_left.to(points.dtype).reshape(-1, 1, 1)
    flip = torch.cat([sign, torch.ones_like(sign), torch.ones_like(sign)], dim=-1)
    return points * flip


class BuiltinHand(nn.Module):
    """License-free kinematic hand: anatomical rest pose, one scale, MANO's pose convention."""

    name = "builtin"

    def __init__(self, rest: np.ndarray | None = None, tips: np.ndarray | None = None):
        super().__init__()
        default_rest, default_tips = skeleton.rest_joints()
        rest = default_rest if rest is None else np.asarray(rest)
        tips = default_tips if tips is None else np.asarray(tips)
        self.register_buffer("rest", torch.as_tensor(rest, dtype=torch.float32))  # (16, 3)
        self.register_buffer("tips", torch.as_tensor(tips, dtype=torch.float32))  # (5, 3)

    def forward(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None):
        """Return HandOutput with joints (B, 21, 3), metres; transl is the wrist position."""
        del betas  # the built-in hand has no shape space beyond its scale
        return HandOutput(
            joints=skeleton_joints(self.rest, self.tips, global_orient, hand_pose, transl, scale, is_left)
        )


class SkeletonsHand(BuiltinHand):
    """The built-in hand with one skeleton per hand of a batch: rest joints (S, 16, 3) and tips (S, 5, 3), hand
    b posed by skeleton b. A batch of k times as many hands (each hand's k samples in a row, as
    refinement's HandBatch.repeat makes them) takes each skeleton k times. The batch must keep the skeletons'
    order: a batch reordered or cut (sequences regrouped, chunks) would pose hands with others' skeletons."""

    def forward(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None):
        """Return HandOutput with joints (B, 21, 3), metres, B a multiple of the skeletons' count."""
        del betas
        count, skeletons = hand_pose.shape[0], self.rest.shape[0]
        if count % skeletons:
            raise ValueError(f"{count} hands cannot take {skeletons} skeletons in turn")
        rest, tips = (t.repeat_interleave(count // skeletons, 0) for t in (self.rest, self.tips))
        return HandOutput(joints=skeleton_joints(rest, tips, global_orient, hand_pose, transl, scale, is_left))


def skeletons_hand(skeletons: list[BuiltinHand]) -> SkeletonsHand:
    """Return one SkeletonsHand of the built-in skeletons given (one per hand of a batch), on the first's device."""
    rest = torch.stack([h.rest.cpu() for h in skeletons]).numpy()
    tips = torch.stack([h.tips.cpu() for h in skeletons]).numpy()
    return SkeletonsHand(rest, tips).to(skeletons[0].rest.device)


def skeleton_joints(rest, tips, global_orient, hand_pose, transl=None, scale=None, is_left=None) -> torch.Tensor:
    """Return joints (B, 21, 3), metres, of the built-in hand with rest joints (16, 3) and tips (5, 3) (tensors,
    differentiable: a skeleton being fitted), under a HandModel's parameters."""
    orient, pose = _mirror_inputs(global_orient, hand_pose, is_left)
    joints = forward_kinematics(rest.to(pose.dtype), tips.to(pose.dtype), orient, pose)
    return place_points(joints, scale, is_left, transl)


def place_points(points: torch.Tensor, scale=None, is_left=None, transl=None) -> torch.Tensor:
    """Return right-hand model points (B, N, 3), wrist at the origin, scaled, mirrored where is_left and moved
    by transl (the wrist's position): the built-in hand's order of global operations."""
    if scale is not None:
        points = points * scale.reshape(-1, 1, 1).to(points.dtype)
    points = _mirror_points(points, is_left)
    if transl is not None:
        points = points + transl.unsqueeze(1)
    return points


def chain_points(rest: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
    """Return the five chains' rest points (5, 4, 3), MANO finger order: base joint, the next two, the tip
    ((B, 5, 4, 3) for one skeleton per hand: rest (B, 16, 3), tips (B, 5, 3))."""
    return torch.stack([rest[..., 1::3, :], rest[..., 2::3, :], rest[..., 3::3, :], tips], -2)


def chain_frames(rest: torch.Tensor, tips: torch.Tensor, orient: torch.Tensor, pose: torch.Tensor):
    """Return (rotations (B, 5, 3, 3, 3), positions (B, 5, 4, 3)) of the five right-hand chains in MANO finger
    order, wrist at the origin: the world rotation of each chain's three joints, and the positions of its
    three joints and tip, for rest joints (16, 3), tips (5, 3) (or one skeleton per hand: (B, 16, 3), (B, 5,
    3)), orientation (B, 3) and pose (B, 15, 3)."""
    B = pose.shape[0]
    root = roma.rotvec_to_rotmat(orient)  # (B, 3, 3)
    local = roma.rotvec_to_rotmat(as_joint_rotvecs(pose)).reshape(B, 5, 3, 3, 3)  # chain, level
    points = chain_points(rest, tips)
    # the base from the wrist, then each bone
    offsets = torch.cat([points[..., :1, :], points.diff(dim=-2)], -2)
    per_hand = offsets.dim() == 4
    # Walk the five chains level by level: world rotation and position of each joint.
    rot = root.unsqueeze(1).expand(B, 5, 3, 3)
    if per_hand:
        pos = torch.einsum("bij,bfj->bfi", root, offsets[:, :, 0])
    else:
        pos = torch.einsum("bij,fj->bfi", root, offsets[:, 0])
    positions, rotations = [pos], []
    for level in range(3):
        rot = rot @ local[:, :, level]
        if per_hand:
            pos = pos + torch.einsum("bfij,bfj->bfi", rot, offsets[:, :, level + 1])
        else:
            pos = pos + torch.einsum("bfij,fj->bfi", rot, offsets[:, level + 1])
        positions.append(pos)
        rotations.append(rot)
    return torch.stack(rotations, dim=2), torch.stack(positions, dim=2)


def forward_kinematics(
    rest: torch.Tensor, tips: torch.Tensor, orient: torch.Tensor, pose: torch.Tensor
) -> torch.Tensor:
    """Return right-hand joints (B, 21, 3), OpenPose order, wrist at the origin, for rest joints (16, 3) and
    tips (5, 3) in MANO order, global orientation (B, 3) and finger pose (B, 15, 3) axis-angle.

    Differentiable in all inputs (skeleton calibration optimises rest and tips)."""
    B = pose.shape[0]
    chains = chain_frames(rest, tips, orient, pose)[1]  # (B, 5, 4, 3): joints 1..3 and tip per chain
    joints16 = torch.cat([pose.new_zeros(B, 1, 3), chains[:, :, :3].reshape(B, 15, 3)], dim=1)
    all_joints = torch.cat([joints16, chains[:, :, 3]], dim=1)  # (B, 21, 3) MANO order + tips
    return all_joints[:, list(skeleton.OPENPOSE_FROM_MANO)]
