"""Keypoint fitting by gradient descent: the global fit (orientation, translation, scale) that runs before
the diffusion refinement, and the `fit` baseline (finger pose too, with a pull toward the initial pose).

The global fit weights the wrist and finger bases (moved by the global parameters alone) fully and the
other finger joints by `finger_weight`, because the finger pose is the uncertain part of the initial
estimate; fitting it at full weight would bend the hand's global pose to absorb finger errors. It also holds
the orientation near the input's own (`orient_prior`): a regressor's orientation is an estimate from the
whole image, while the few seen keypoints of an occluded hand, under the regressor's wrong hidden fingers
and a few pixels of noise, pin the out-of-plane rotation down poorly, and a fit on them alone ends farther
from the truth than the regressor was.
"""

from __future__ import annotations

import torch

from affordhand.hand.model import HandModel
from affordhand.refinement.batch import (
    MIDDLE_BASE_LENGTH,
    PALM_JOINTS,
    HandBatch,
    keypoint_loss,
    rigid_joints,
    side_rotation,
    wrist_frame_joints,
)
from affordhand.refinement.settings import FitConfig


def initial_translation(batch: HandBatch) -> torch.Tensor:
    """Return (B, 3) translations: the batch's own where given, else from the wrist keypoint and hand size."""
    f = batch.K[:, 0, 0]
    span = torch.linalg.norm(batch.keypoints[:, 9] - batch.keypoints[:, 0], dim=-1).clamp_min(5.0)
    z = f * MIDDLE_BASE_LENGTH * batch.scale / span
    uv = batch.keypoints[:, 0]
    x = (uv[:, 0] - batch.K[:, 0, 2]) * z / f
    y = (uv[:, 1] - batch.K[:, 1, 2]) * z / batch.K[:, 1, 1]
    guess = torch.stack([x, y, z], -1)
    given = torch.isfinite(batch.transl).all(-1, keepdim=True)
    return torch.where(given, torch.nan_to_num(batch.transl), guess)


def _joint_weights(batch: HandBatch, finger_weight: float) -> torch.Tensor:
    w = torch.full((21,), finger_weight, device=batch.keypoints.device)
    w[list(PALM_JOINTS)] = 1.0
    return w[None] * batch.keypoint_weights


def orientation_cost(rotation: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    """Return (B,) 2 sin^2(angle / 2) of each rotation matrix from its anchor: about angle^2 / 2 for small
    angles, smooth everywhere (the angle itself has no gradient at 0). Mirroring both (a left hand's side
    convention) leaves it unchanged."""
    return 0.25 * ((rotation - anchor) ** 2).sum((-1, -2))


def fit_global(
    hand: HandModel,
    batch: HandBatch,
    config: FitConfig = FitConfig(),
    anchor: torch.Tensor | None = None,
    groups: torch.Tensor | None = None,
) -> HandBatch:
    """Return the batch with its orientation, translation and scale fitted to the visible keypoints, the
    finger pose held fixed and the orientation held near `anchor` (B, 3) (default: the batch's own) by
    config.orient_prior. groups (B,) (0..G-1), where given, makes the hands of one group (the frames of one
    sequence) share one scale, held near the mean of their initial log scales."""
    orient = batch.orient_r.clone().requires_grad_(True)
    transl = initial_translation(batch).requires_grad_(True)
    if groups is None:
        groups = torch.arange(len(batch.scale), device=batch.scale.device)
    count = torch.zeros(int(groups.max()) + 1, device=groups.device).index_add_(0, groups, torch.ones_like(batch.scale))
    log_g0 = torch.zeros_like(count).index_add_(0, groups, batch.scale.log()) / count
    log_g = log_g0.clone().requires_grad_(True)
    opt = torch.optim.Adam(
        [
            {"params": [orient], "lr": config.lr_orient},
            {"params": [transl], "lr": config.lr_transl},
            {"params": [log_g], "lr": config.lr_scale},
        ]
    )
    w = _joint_weights(batch, config.finger_weight)
    anchor = side_rotation((batch.orient_r if anchor is None else anchor).detach(), batch.is_left)
    # The keypoint cost is a weighted mean; against the sum, as in a likelihood, the hold weighs less the more
    # joints are seen: orient_prior is its weight where the six palm joints alone are.
    hold = config.orient_prior * len(PALM_JOINTS) / w.sum(-1).clamp_min(1.0)
    with torch.no_grad():  # the fingers are held fixed: their kinematics run once
        local = wrist_frame_joints(hand, batch.pose_r, batch.is_left)
    for _ in range(config.iters):
        rotation = side_rotation(orient, batch.is_left)
        log_s = log_g[groups]
        joints = rigid_joints(local, orient, transl, log_s.exp(), batch.is_left, rotation)
        loss = keypoint_loss(hand, batch, None, config.sigma_px, w, joints)
        loss = loss + config.scale_prior * (log_s - log_g0[groups]) ** 2
        if config.orient_prior:
            loss = loss + hold * orientation_cost(rotation, anchor)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return batch.with_global(orient.detach(), transl.detach(), log_g[groups].exp().detach())


def fit_pose(hand: HandModel, batch: HandBatch, config: FitConfig = FitConfig()) -> torch.Tensor:
    """Return finger poses (B, 45) fitted to the visible keypoints of a globally fitted batch, pulled toward
    the initial pose and kept inside the joint limits' range by the same pull (the `fit` baseline)."""
    init = batch.pose_r.detach()
    pose = init.clone().requires_grad_(True)
    opt = torch.optim.Adam([pose], lr=config.lr_pose)
    for _ in range(config.pose_iters):
        loss = keypoint_loss(hand, batch, pose, config.pose_sigma_px)
        loss = loss + config.pose_prior * ((pose - init) ** 2).sum(-1)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return pose.detach()
