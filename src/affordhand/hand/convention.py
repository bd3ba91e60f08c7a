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

A prior knows its skeleton when it was trained on records with 3D joints (the calibrated skeleton kept with
it) or is the shipped one (made from the built-in hand's grasps); a prior trained on poses alone does not, and
refinement then keeps the hand model's convention (prior/model.py: Prior.pose_skeleton).
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch
from torch import nn

from affordhand.hand.model import BuiltinHand, HandModel, SkeletonsHand, chain_points
from affordhand.hand.rotations import mirror_where
from affordhand.hand.skeleton import OPENPOSE_FROM_MANO

SAME_DIRECTION_RAD = 1e-5  # skeletons whose bones all agree this well share a convention: nothing to convert


def bone_directions(rest: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
    """Return unit rest directions (15, 3) of the bone each MANO-order finger joint moves (to the next joint
    of its chain, or to the tip); (S, 15, 3) for one skeleton per hand (rest (S, 16, 3), tips (S, 5, 3))."""
    chains = chain_points(rest, tips)
    bones = (chains[..., 1:, :] - chains[..., :-1, :]).reshape(*chains.shape[:-3], 15, 3)
    return bones / bones.norm(dim=-1, keepdim=True)


def _angles(source: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (axes (N, 3) unnormalised, angles (N,)) between unit vectors source and target (N, 3)."""
    axis = torch.linalg.cross(source, target)
    return axis, torch.atan2(axis.norm(dim=-1), (source * target).sum(-1))


def _aligning_rotations(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Return (..., 3, 3) the smallest rotations taking unit vectors source (..., 3) onto target (..., 3)."""
    axis, angle = _angles(source, target)
    return roma.rotvec_to_rotmat(axis / axis.norm(dim=-1).clamp_min(1e-12)[..., None] * angle[..., None])


def _parents(align: torch.Tensor) -> torch.Tensor:
    """Return (15, 3, 3) A of each finger joint's parent: the joint before it in its chain, the wrist (the
    identity) for a chain's base joint; (S, 15, 3, 3) for one skeleton per hand."""
    lead = align.shape[:-3]
    parent = torch.eye(3, dtype=align.dtype, device=align.device).expand(*lead, 15, 3, 3).clone()
    parent.reshape(*lead, 5, 3, 3, 3)[..., 1:, :, :] = align.reshape(*lead, 5, 3, 3, 3)[..., :-1, :, :]
    return parent


def _turn(pose: torch.Tensor, align: torch.Tensor, parent: torch.Tensor, inverse: bool) -> torch.Tensor:
    """Return right-hand poses (B, 45) turned into the prior's convention (R' = A_parent^T R A_j) or, inverse,
    back (R = A_parent R' A_j^T); align and parent (15, 3, 3) from PoseConvention, or (S, 15, 3, 3) for one
    skeleton per hand (B a multiple of S: each skeleton's hands in a row, as SkeletonsHand takes them)."""
    B = pose.shape[0]
    rot = roma.rotvec_to_rotmat(pose.reshape(B, 15, 3))
    align, parent = align.to(pose.device, pose.dtype), parent.to(pose.device, pose.dtype)
    if align.dim() == 4:
        if B % align.shape[0]:
            raise ValueError(f"{B} poses cannot take {align.shape[0]} skeletons' conventions in turn")
        align, parent = (t.repeat_interleave(B // align.shape[0], 0) for t in (align, parent))
    if inverse:
        out = parent @ rot @ align.transpose(-1, -2)
    else:
        out = parent.transpose(-1, -2) @ rot @ align
    return roma.rotmat_to_rotvec(out).reshape(B, 45)


class ConventionHand(nn.Module):
    """A hand model that takes finger poses of the prior's convention: it turns them into the wrapped model's
    own (left hands' through their mirror image, as the hand models mirror them) and poses that model."""

    def __init__(self, hand: HandModel, align: torch.Tensor):
        super().__init__()
        self.hand, self.name = hand, hand.name
        self.register_buffer("align", align)
        self.register_buffer("parent", _parents(align))

    def forward(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None):
        """Return the wrapped model's HandOutput for hand_pose (B, 45) or (B, 15, 3) of the prior's convention
        (each hand's own side, as every hand model takes it); the other arguments pass through."""
        B = hand_pose.shape[0]
        pose = hand_pose.reshape(B, 15, 3)
        left = is_left if is_left is not None else torch.zeros(B, dtype=torch.bool, device=pose.device)
        right = mirror_where(pose, left).reshape(B, 45)
        own = mirror_where(_turn(right, self.align, self.parent, inverse=True).reshape(B, 15, 3), left)
        return self.hand(global_orient, own.reshape(hand_pose.shape), transl, scale, betas, is_left)


def rest_points(hand: HandModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a hand model's right-hand rest joints (16, 3) and tips (5, 3), MANO order (its joints under no
    rotation, for a model other than the built-in one)."""
    if isinstance(hand, BuiltinHand):
        return hand.rest, hand.tips
    tensors = [*hand.buffers(), *hand.parameters()]
    device = tensors[0].device if tensors else torch.device("cpu")
    with torch.no_grad():
        joints = hand(torch.zeros(1, 3, device=device), torch.zeros(1, 45, device=device)).joints[0].float()
    mano = torch.empty_like(joints)
    mano[list(OPENPOSE_FROM_MANO)] = joints
    return mano[:16], mano[16:]


@dataclass
class PoseConvention:
    """The change from a hand model's pose convention to a prior's (see the module's docstring)."""

    hand: nn.Module  # the matched skeleton (the input's joints, the prior's bone directions), or the wrapped model
    align: torch.Tensor  # (15, 3, 3) A_j, or (S, 15, 3, 3) for one skeleton per hand

    def __post_init__(self):
        self.parent = _parents(self.align)

    def to_prior(self, pose: torch.Tensor) -> torch.Tensor:
        """Return right-hand poses (B, 45) of the input's convention in the prior's."""
        return _turn(pose, self.align, self.parent, inverse=False)

    def from_prior(self, pose: torch.Tensor) -> torch.Tensor:
        """Return right-hand poses (B, 45) of the prior's convention in the input's."""
        return _turn(pose, self.align, self.parent, inverse=True)


def prior_convention(hand: HandModel, prior) -> PoseConvention | None:
    """Return the change from a hand model's pose convention to a prior's, or None where there is none to
    make: the same bone directions, or a prior whose skeleton is unknown (Prior.pose_skeleton None)."""
    return None if prior.pose_skeleton is None else matched_convention(hand, *prior.pose_skeleton)


def matched_convention(hand: HandModel, prior_rest: torch.Tensor, prior_tips: torch.Tensor) -> PoseConvention | None:
    """Return the change from a hand model's pose convention to that of the prior's skeleton (rest joints
    (16, 3), tips (5, 3)), or None when the bone directions already agree."""
    rest, tips = rest_points(hand)
    prior_rest, prior_tips = (torch.as_tensor(v).to(rest.device, rest.dtype) for v in (prior_rest, prior_tips))
    target = bone_directions(rest, tips)
    source = bone_directions(prior_rest, prior_tips).expand_as(target)
    if _angles(source, target)[1].max() < SAME_DIRECTION_RAD:
        return None
    align = _aligning_rotations(source, target)
    if not isinstance(hand, BuiltinHand):
        return PoseConvention(ConventionHand(hand, align), align)
    chains = chain_points(rest, tips)
    lengths = (chains[..., 1:, :] - chains[..., :-1, :]).norm(dim=-1)  # (5, 3), or (S, 5, 3)
    bones = lengths[..., None] * source.reshape(*source.shape[:-2], 5, 3, 3)
    points = chains[..., :1, :] + torch.cumsum(bones, dim=-2)  # joints 2, 3 and the tip of each chain
    matched_rest = rest.clone()
    matched_rest[..., 2::3, :], matched_rest[..., 3::3, :] = points[..., 0, :], points[..., 1, :]
    kind = SkeletonsHand if rest.dim() == 3 else BuiltinHand
    matched = kind(matched_rest.cpu().numpy(), points[..., 2, :].cpu().numpy()).to(rest.device)
    return PoseConvention(matched, align)
