"""Joint refinement of a sequence's frames: one hand, moving, seen frame after frame.

Per-frame refinement solves every frame alone, so its result jitters with the regressor's and the keypoints'
noise, and a finger hidden for a few frames jumps to whatever the prior fills in. A sequence is solved as one:

1. One scale per sequence (refinement/fit.py: fit_global's groups): the hand does not change size.
2. The diffusion samples of a sequence's frames share their starting noise (the sequence's seed, not the
   frame's), so the prior's fill-in varies with the evidence, not from frame to frame; the selection (the
   samples' mean) is the same rule in every frame.
3. A joint fit over the frames (`smooth_sequences`): each seen joint's keypoint (Gaussian near it, Cauchy
   tails for a detector's outliers, summed over the joints, so a frame's evidence grows with what it shows),
   a pull of each finger rotation toward its per-frame refinement (hidden ones toward the target of step 4,
   harder: nothing else holds them), and the accelerations of the root-relative joints (squared below
   accel_robust_mm, logarithmic beyond), the orientation and the wrist's translation. Small accelerations
   are jitter and go; a large one is a real, fast movement, costs little more than a moderate one, and the
   keypoints keep it.
4. A hidden finger follows what was seen of it nearby before it falls back on the prior (`carried_targets`):
   its target is a blend of the per-frame refinements of the frames where it was seen, weighted by
   exp(-distance / carry_frames) and by how alike the rest of the hand was then (the rotations seen in both
   frames), and the prior's own fill-in in this frame, weighted as a seen frame carry_frames away.

Sequences longer than the batch are refined in windows that overlap (refine_records); each frame's result is
the one of the window in which it lies furthest from an edge.
"""

from __future__ import annotations

import torch

from affordhand.hand import skeleton
from affordhand.hand.model import HandModel
from affordhand.refinement.batch import HandBatch, joints_camera, reference_reprojection, side_rotation
from affordhand.refinement.fit import orientation_cost
from affordhand.refinement.settings import FitConfig, SequenceConfig

LEVER_MM = 100.0  # mm: a rotation's second difference moves a point this far from the wrist by its size


def neighbour_triples(groups: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (previous, current, next) batch indices of every three consecutive frames of the groups (each a
    list of batch indices in frame order)."""
    triples = [(g[i - 1], g[i], g[i + 1]) for g in groups for i in range(1, len(g) - 1)]
    if not triples:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, empty
    prev, cur, nxt = (torch.as_tensor(c, dtype=torch.long) for c in zip(*triples))
    return prev, cur, nxt


def second_difference(x: torch.Tensor, prev, cur, nxt, frames: torch.Tensor | None) -> torch.Tensor:
    """Return x's second difference per frame^2 at the triples (x[nxt] - 2 x[cur] + x[prev] for consecutive
    frames; for frames gaps apart, the same divided out: 2 (slope after - slope before) / (both gaps))."""
    if frames is None:
        return x[nxt] - 2 * x[cur] + x[prev]
    shape = (-1,) + (1,) * (x.dim() - 1)
    before = (frames[cur] - frames[prev]).clamp_min(1.0).reshape(shape)
    after = (frames[nxt] - frames[cur]).clamp_min(1.0).reshape(shape)
    return 2 * ((x[nxt] - x[cur]) / after - (x[cur] - x[prev]) / before) / (before + after)


def carried_targets(
    pose: torch.Tensor,
    seen: torch.Tensor,
    groups: list[list[int]],
    carry_frames: float,
    alike_rad: float = 0.0,
    frames: torch.Tensor | None = None,
):
    """Return (B, 45) the targets of the rotations: a seen one's own value; a hidden one's blend of the values
    seen in the other frames of its group, each weighted by exp(-|frame distance| / carry_frames), and its own
    (the prior's fill-in), weighted exp(-1) as a seen frame carry_frames away. With alike_rad, a frame's weight
    is also exp(-(d / alike_rad)^2), d the rms difference of the rotations seen in both frames: a hand that has
    moved since is no witness of its hidden finger. Distances count frame numbers (frames (B,), where given),
    else places in the group. carry_frames 0: pose as it is."""
    target = pose.clone()
    if carry_frames <= 0:
        return target
    for group in groups:
        if len(group) < 2:
            continue
        idx = torch.as_tensor(group, dtype=torch.long, device=pose.device)
        at = torch.arange(len(group), dtype=pose.dtype, device=pose.device) if frames is None else frames[idx]
        k = torch.exp(-(at[:, None] - at[None]).abs().to(pose.dtype) / carry_frames)  # (T, T)
        s = seen[idx].to(pose.dtype)  # (T, 45)
        if alike_rad > 0:
            both = s @ s.T  # coordinates seen in both frames
            p = pose[idx] * s
            sq = (p**2) @ s.T + s @ (p**2).T - 2 * p @ p.T  # summed over the coordinates seen in both
            d2 = sq.clamp_min(0) / both.clamp_min(1.0)
            k = k * torch.where(both > 0, torch.exp(-d2 / alike_rad**2), torch.zeros_like(k))
        k.fill_diagonal_(0.0)
        weight = k @ s  # (T, 45): how much seen evidence nearby
        carried = k @ (s * pose[idx])
        own = torch.exp(torch.tensor(-1.0, dtype=pose.dtype))
        blended = (carried + own * pose[idx]) / (weight + own)
        target[idx] = torch.where(seen[idx], pose[idx], blended)
    return target


def smooth_sequences(
    hand: HandModel,
    fitted: HandBatch,
    pose_r: torch.Tensor,
    groups: list[list[int]],
    config: SequenceConfig,
    fit: FitConfig,
    anchor_orient: torch.Tensor,
    frames: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (finger poses (B, 45), orientations (B, 3), translations (B, 3)) fitted jointly over the frames
    of each group (lists of batch indices in frame order), from the per-frame refinement pose_r under the
    fitted batch's global pose; its scale is kept. The orientation is held near anchor_orient (the input's) as
    the global fit holds it (FitConfig.orient_prior). frames (B,): the frame numbers (gaps are divided out of
    the accelerations); None: consecutive."""
    seen = skeleton.seen_rotations(fitted.visible)
    target = carried_targets(pose_r.detach(), seen, groups, config.carry_frames, config.carry_alike_rad, frames)
    pull = torch.where(seen, config.anchor_seen, config.anchor_hidden).to(pose_r.dtype)
    prev, cur, nxt = (t.to(pose_r.device) for t in neighbour_triples(groups))
    pose = pose_r.detach().clone().requires_grad_(True)
    orient = fitted.orient_r.detach().clone().requires_grad_(True)
    transl = fitted.transl.detach().clone().requires_grad_(True)
    if config.iters == 0 or not len(cur):
        return pose.detach(), orient.detach(), transl.detach()
    opt = torch.optim.Adam(
        [
            {"params": [pose, orient], "lr": config.lr},
            {"params": [transl], "lr": config.lr * 0.1},  # metres: a tenth of the rotations' step
        ]
    )
    anchor = side_rotation(anchor_orient.detach(), fitted.is_left)
    hold = fit.orient_prior * 6  # as fit_global weighs six palm joints seen: orient_prior
    smooth, c2 = config.smoothness, config.robust_px**2
    seen_joints = fitted.keypoint_weights.to(pose_r.dtype)
    for _ in range(config.iters):
        joints = joints_camera(hand, pose, orient, transl, fitted.scale, fitted.is_left)
        rotation = side_rotation(orient, fitted.is_left)
        # Each seen joint's keypoint: Gaussian of keypoint_px near it, Cauchy tails beyond robust_px; summed
        # over the joints, so that a frame's evidence grows with what it shows (unlike the per-frame mean).
        sq = reference_reprojection(hand, fitted, joints=joints)
        loss = (seen_joints * c2 * torch.log1p(sq / c2)).sum(-1) / (2 * config.keypoint_px**2)
        loss = loss + (pull * (pose - target) ** 2).sum(-1) + hold * orientation_cost(rotation, anchor)
        if smooth:
            rel = 1000.0 * (joints - joints[:, :1])
            acc = second_difference(rel, prev, cur, nxt, frames)
            turn = LEVER_MM * second_difference(rotation, prev, cur, nxt, frames)
            move = 1000.0 * second_difference(transl, prev, cur, nxt, frames)
            a2 = (acc**2).sum(-1)
            if config.accel_robust_mm > 0:  # quadratic below it, logarithmic beyond: fast real motion stays
                r2 = config.accel_robust_mm**2
                a2 = r2 * torch.log1p(a2 / r2)
            motion = a2.sum(-1) / config.accel_mm**2
            motion = motion + config.orient_accel * (turn**2).sum((-1, -2)) / config.accel_mm**2
            motion = motion + (move**2).sum(-1) / config.transl_accel_mm**2
            loss = loss.index_add(0, cur, smooth * motion / 2)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return pose.detach(), orient.detach(), transl.detach()
