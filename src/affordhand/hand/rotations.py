"""Pose-space helpers on top of roma: shape handling, left/right mirroring, 6D rotations."""

from __future__ import annotations

import roma
import torch

# Mirroring a rotation through the x = 0 plane: M R M with M = diag(-1, 1, 1) equals R((x, -y, -z)).
_MIRROR = (1.0, -1.0, -1.0)


def mirror_rotvec(rotvec: torch.Tensor) -> torch.Tensor:
    """Return axis-angle vectors (..., 3) mirrored between right and left hands (MANO convention)."""
    return rotvec * rotvec.new_tensor(_MIRROR)


def mirror_where(rotvec: torch.Tensor, is_left: torch.Tensor) -> torch.Tensor:
    """Return axis-angle (B, ..., 3) mirrored in the rows where is_left (B,) is true.

    Mirroring is its own inverse, so this turns right-hand parameters into each hand's own side and back."""
    shape = (-1,) + (1,) * (rotvec.dim() - 1)
    return torch.where(is_left.reshape(shape), mirror_rotvec(rotvec), rotvec)


def as_joint_rotvecs(hand_pose: torch.Tensor) -> torch.Tensor:
    """Return hand_pose as (B, 15, 3) from (B, 45) or (B, 15, 3)."""
    return hand_pose.reshape(hand_pose.shape[0], 15, 3)


def rotvec_to_6d(rotvec: torch.Tensor) -> torch.Tensor:
    """Return the 6D representation (..., 6): the first two columns of the rotation matrix."""
    rotmat = roma.rotvec_to_rotmat(rotvec)
    return rotmat[..., :, :2].transpose(-1, -2).reshape(*rotvec.shape[:-1], 6)


def sixd_to_rotvec(sixd: torch.Tensor) -> torch.Tensor:
    """Return axis-angle (..., 3) from 6D (..., 6) by Gram-Schmidt (roma.special_gramschmidt)."""
    cols = sixd.reshape(*sixd.shape[:-1], 2, 3).transpose(-1, -2)
    return roma.rotmat_to_rotvec(roma.special_gramschmidt(cols))
