"""What a finger pose means depends on the skeleton it was made for: the pose conventions of two skeletons.

Axis-angle joint rotations act on a skeleton's rest bones. Two skeletons whose rest bones point in other
directions (the built-in hand's fingers lie close together; a MANO-like hand's are spread, its little finger
by some 30 degrees more) give other joints for the same pose, and a grasp written for one is not that grasp
on the other. A prior learns poses in its training skeleton's convention, so refinement brings each pose
into that convention first, on a skeleton made to match.

For an input skeleton S (rest bones d_j) and the prior's skeleton P (rest bones e_j), the *matched* skeleton
M keeps S's wrist, finger bases and bone lengths and takes P's bone directions. With A_j the smallest
rotation taking e_j onto d_j, a pose R of S is the pose R'_j = A_parent(j)^T R_j A_j of M (A of a finger's
base's parent, the wrist, is the identity): every world bone is the same, so M under R' has exactly S's
joints under R, and R' means on M what the prior learnt on P. A hand model other than the built-in one (MANO)
is wrapped instead: it takes poses of the prior's convention and turns them into its own before posing itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch
from torch import nn

from affordhand.hand.model import BuiltinHand
from affordhand.hand.rotations import mirror_where
from affordhand.hand.skeleton import OPENPOSE_FROM_MANO

SAME_DIRECTION_RAD = 1e-5  # skeletons whose bones all agree this well share a convention: nothing to convert


def bone_directions(rest: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
    """Return unit rest directions (15, 3) of the bone each MANO-order finger joint moves (to the next joint
    of its chain, or to the tip)."""
    chains = torch.stack([rest[1::3], rest[2::3], rest[3::3], tips], 1)  # (5 chains, 4 points, 3)
    bones = (chains[:, 1:] - chains[:, :-1]).reshape(15, 3)
    return bones / bones.norm(dim=-1, keepdim=True)


def _aligning_rotations(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return (N, 3, 3) the smallest rotations taking unit vectors source (N, 3) onto target (N, 3)."""
    axis = torch.linalg.cross(source, target)
    sin, cos = axis.norm(dim=-1), (source * target).sum(-1)
    angle = torch.atan2(sin, cos)
    return roma.rotvec_to_rotmat(axis / sin.clamp_min(1e-12)[:, None] * angle[:, None])


def _turn(pose: torch.Tensor, align: torch.Tensor, inverse: bool) -> torch.Tensor:
    """Return right-hand poses (B, 45) turned into the prior's convention (R' = A_parent^T R A_j) or, inverse,
    back (R = A_parent R' A_j^T)."""
    B = pose.shape[0]
    rot = roma.rotvec_to_rotmat(pose.reshape(B, 15, 3))
    align = align.to(pose.device, pose.dtype)
    parent = torch.eye(3, dtype=pose.dtype, device=pose.device).expand(15, 3, 3).clone()
    inner = torch.arange(15, device=pose.device) % 3 > 0  # joints whose parent is a finger joint
    parent[inner] = align[inner.nonzero().squeeze(1) - 1]
    if inverse:
        out = parent @ rot @ align.transpose(-1, -2)
    else:
        out = parent.transpose(-1, -2) @ rot @ align
    return roma.rotmat_to_rotvec(out).reshape(B, 45)


class ConventionHand(nn.Module):
    """A hand model that takes finger poses of the prior's convention: it turns them into the wrapped model's
    own (left hands' through their mirror image) and poses that model."""

    def __init__(self, hand: nn.Module, align: torch.Tensor):
        super().__init__()
        self.hand, self.name = hand, hand.name
        self.register_buffer("align", align)

    def forward(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None):
        B = hand_pose.shape[0]
        pose = hand_pose.reshape(B, 15, 3)
        left = is_left if is_left is not None else torch.zeros(B, dtype=torch.bool, device=pose.device)
        right = mirror_where(pose, left).reshape(B, 45)
        own = mirror_where(_turn(right, self.align, inverse=True).reshape(B, 15, 3), left)
        return self.hand(global_orient, own.reshape(hand_pose.shape), transl, scale, betas, is_left)


def rest_points(hand) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a hand model's right-hand rest joints (16, 3) and tips (5, 3), MANO order (its joints under no
    rotation, for a model other than the built-in one)."""
    if isinstance(hand, BuiltinHand):
        return hand.rest, hand.tips
    device = next((b.device for b in hand.buffers()), torch.device("cpu"))
    with torch.no_grad():
        joints = hand(torch.zeros(1, 3, device=device), torch.zeros(1, 45, device=device)).joints[0].float()
    mano = torch.empty_like(joints)
    mano[list(OPENPOSE_FROM_MANO)] = joints
    return mano[:16], mano[16:]


@dataclass
class PoseConvention:
    """The change from an input skeleton's pose convention to a prior's (see the module's docstring)."""

    hand: nn.Module  # the matched skeleton (the input's joints, the prior's bone directions), or the wrapped model
    align: torch.Tensor  # (15, 3, 3) A_j

    def to_prior(self, pose: torch.Tensor) -> torch.Tensor:
        """Return right-hand poses (B, 45) of the input's convention in the prior's."""
        return _turn(pose, self.align, inverse=False)

    def from_prior(self, pose: torch.Tensor) -> torch.Tensor:
        """Return right-hand poses (B, 45) of the prior's convention in the input's."""
        return _turn(pose, self.align, inverse=True)


def matched_convention(hand, prior_rest: torch.Tensor | None, prior_tips: torch.Tensor | None) -> PoseConvention | None:
    """Return the change from a hand model's pose convention to that of the prior's skeleton (rest joints
    (16, 3), tips (5, 3); None: the built-in default), or None when the bone directions already agree."""
    rest, tips = rest_points(hand)
    if prior_rest is None or prior_tips is None:
        default = BuiltinHand()
        prior_rest, prior_tips = default.rest, default.tips
    prior_rest, prior_tips = (
        torch.as_tensor(v, dtype=rest.dtype, device=rest.device) for v in (prior_rest, prior_tips)
    )
    source, target = bone_directions(prior_rest, prior_tips), bone_directions(rest, tips)
    if (
        torch.atan2(torch.linalg.cross(source, target).norm(dim=-1), (source * target).sum(-1)).max()
        < SAME_DIRECTION_RAD
    ):
        return None
    align = _aligning_rotations(source, target)
    if not isinstance(hand, BuiltinHand):
        return PoseConvention(ConventionHand(hand, align), align)
    chains = torch.stack([rest[1::3], rest[2::3], rest[3::3], tips], 1)  # (5, 4, 3)
    lengths = (chains[:, 1:] - chains[:, :-1]).norm(dim=-1)  # (5, 3)
    steps = lengths[..., None] * source.reshape(5, 3, 3)
    points = chains[:, :1] + torch.cumsum(steps, dim=1)  # (5, 3, 3): joints 2, 3 and the tip of each chain
    matched_rest = rest.clone()
    matched_rest[2::3], matched_rest[3::3] = points[:, 0], points[:, 1]
    matched = BuiltinHand(matched_rest.cpu().numpy(), points[:, 2].cpu().numpy()).to(rest.device)
    return PoseConvention(matched, align)
