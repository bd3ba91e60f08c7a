"""Joint-error metrics for 21-joint hands. Inputs in metres, outputs in millimetres.

All functions take pred, gt: (N, 21, 3) tensors. MPJPE is root-relative (wrist at joint 0) and averages
over all 21 joints (the wrist contributes 0); PA-MPJPE aligns pred to gt by a similarity transform
(rotation, translation, scale; roma.rigid_points_registration) per hand before measuring.
"""

from __future__ import annotations

import roma
import torch

PCK_THRESHOLDS_MM = torch.linspace(0.0, 50.0, 101)


def root_relative(joints: torch.Tensor) -> torch.Tensor:
    """Return joints (N, 21, 3) with the wrist (joint 0) moved to the origin."""
    return joints - joints[:, :1]


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Return pred (N, J, 3) mapped onto gt by the least-squares similarity transform of each hand."""
    R, t, s = roma.rigid_points_registration(pred, gt, compute_scaling=True)
    return s.reshape(-1, 1, 1) * torch.einsum("nij,nkj->nki", R, pred) + t.unsqueeze(1)


def joint_errors_mm(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Return root-relative per-joint Euclidean errors (N, 21) in mm."""
    return 1000.0 * torch.linalg.norm(root_relative(pred) - root_relative(gt), dim=-1)


def pa_joint_errors_mm(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Return per-joint errors (N, 21) in mm after similarity Procrustes alignment."""
    return 1000.0 * torch.linalg.norm(procrustes_align(pred.double(), gt.double()) - gt.double(), dim=-1)


def acceleration(joints: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
    """Return (T - 2, 21, 3) the second differences J[t+1] - 2 J[t] + J[t-1] of a sequence's root-relative
    joints (T, 21, 3): the acceleration in units per frame^2. With frame numbers (T,) that skip frames, each
    is divided by its gaps: 2 (slope after - slope before) / (gap before + gap after)."""
    from affordhand.refinement.sequence import second_difference

    rel = root_relative(joints)
    at = torch.arange(1, len(rel) - 1)
    frames = None if frames is None else torch.as_tensor(frames, dtype=rel.dtype)
    return second_difference(rel, at - 1, at, at + 1, frames)


def acceleration_errors_mm(pred: torch.Tensor, gt: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
    """Return (T - 2, 21) |a_pred - a_true| per frame t = 1..T-2 and joint, mm/frame^2, of one sequence's
    joints (T, 21, 3) in metres (frames: their numbers, see acceleration)."""
    return 1000.0 * torch.linalg.norm(acceleration(pred.double(), frames) - acceleration(gt.double(), frames), dim=-1)


def masked_mean(errors: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Return the mean of errors over joints where mask is true (all joints when mask is None); NaN if none."""
    if mask is None:
        return float(errors.mean()) if errors.numel() else float("nan")
    sel = errors[mask]
    return float(sel.mean()) if sel.numel() else float("nan")


def pck_curve(errors_mm: torch.Tensor, thresholds_mm: torch.Tensor = PCK_THRESHOLDS_MM) -> torch.Tensor:
    """Return the fraction of joint errors (any shape, mm) at or below each threshold."""
    flat = errors_mm.reshape(-1, 1).double()
    if flat.numel() == 0:
        return torch.full((len(thresholds_mm),), float("nan"), dtype=torch.float64)
    return (flat <= thresholds_mm.reshape(1, -1).double()).double().mean(0)


def auc(errors_mm: torch.Tensor, thresholds_mm: torch.Tensor = PCK_THRESHOLDS_MM) -> float:
    """Return the normalised area under the PCK curve over the thresholds (trapezoid rule), in [0, 1]."""
    curve = pck_curve(errors_mm, thresholds_mm)
    t = thresholds_mm.double()
    return float(torch.trapezoid(curve, t) / (t[-1] - t[0]))


def summarize(pred: torch.Tensor, gt: torch.Tensor, visible: torch.Tensor) -> dict:
    """Return the metric dict (mm; auc in [0,1] over 0-50 mm of PA errors) for pred/gt (N, 21, 3), visible (N, 21)."""
    err = joint_errors_mm(pred.double(), gt.double())
    pa = pa_joint_errors_mm(pred, gt)
    occluded = ~visible
    return {
        "mpjpe": masked_mean(err),
        "pa_mpjpe": masked_mean(pa),
        "mpjpe_visible": masked_mean(err, visible),
        "mpjpe_occluded": masked_mean(err, occluded),
        "pa_mpjpe_visible": masked_mean(pa, visible),
        "pa_mpjpe_occluded": masked_mean(pa, occluded),
        "auc": auc(pa),
        "count": int(pred.shape[0]),
    }
