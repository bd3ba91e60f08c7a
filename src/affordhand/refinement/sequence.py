"""Joint refinement of a sequence's frames: one hand, moving, seen frame after frame.

Per-frame refinement solves every frame alone, so its result jitters with the regressor's and the keypoints'
noise, and a finger hidden for a few frames jumps to whatever the prior fills in. A sequence is solved as one:

1. One scale per sequence (refinement/fit.py: fit_global's groups): the hand does not change size.
2. The diffusion samples of a sequence's frames share their starting noise (the sequence's seed, not the
   frame's), so the prior's fill-in varies with the evidence, not from frame to frame; the selection (the
   samples' mean) is the same rule in every frame.
3. A joint fit over the frames (`smooth_sequences`): each frame's robust 2D cost of its seen joints, a pull
   of each finger rotation toward its per-frame refinement, and the squared accelerations of the
   root-relative joints, the orientation and the wrist's translation. The 2D term keeps real motion (a
   grasp closing in a few frames is seen in the keypoints); the acceleration term removes what no hand does
   from frame to frame.
4. A hidden finger follows what was seen of it nearby before it falls back on the prior (`carried_targets`):
   the pull of a hidden rotation is toward a blend of the per-frame refinements of the frames where it was
   seen, weighted by exp(-distance / carry_frames), and the prior's own fill-in in this frame, weighted as a
   seen frame carry_frames away.

Sequences longer than the batch are refined in windows that overlap (refine_records); each frame's result is
the one of the window in which it lies furthest from an edge.
"""

from __future__ import annotations

import torch

from affordhand.hand import skeleton
from affordhand.hand.model import HandModel
from affordhand.refinement.batch import HandBatch, joints_camera, keypoint_loss, side_rotation
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


def carried_targets(pose: torch.Tensor, seen: torch.Tensor, groups: list[list[int]], carry_frames: float):
    """Return (B, 45) the targets of the rotations: a seen one's own value; a hidden one's blend of the values
    seen in the other frames of its group, each weighted by exp(-|frame distance| / carry_frames), and its own
    (the prior's fill-in), weighted exp(-1) as a seen frame carry_frames away. carry_frames 0: pose as it is."""
    target = pose.clone()
    if carry_frames <= 0:
        return target
    for group in groups:
        if len(group) < 2:
            continue
        idx = torch.as_tensor(group, dtype=torch.long, device=pose.device)
        frames = torch.arange(len(group), dtype=pose.dtype, device=pose.device)
        k = torch.exp(-(frames[:, None] - frames[None]).abs() / carry_frames)  # (T, T)
        k.fill_diagonal_(0.0)
        s = seen[idx].to(pose.dtype)  # (T, 45)
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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (finger poses (B, 45), orientations (B, 3), translations (B, 3)) fitted jointly over the frames
    of each group (lists of batch indices in frame order), from the per-frame refinement pose_r under the
    fitted batch's global pose; its scale is kept. The orientation is held near anchor_orient (the input's) as
    the global fit holds it (FitConfig.orient_prior)."""
    seen = skeleton.seen_rotations(fitted.visible)
    target = carried_targets(pose_r.detach(), seen, groups, config.carry_frames)
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
    seen_joints = fitted.visible.float().sum(-1).clamp_min(1.0)
    hold = fit.orient_prior * 6 / seen_joints  # as fit_global weighs it: six palm joints seen = orient_prior
    smooth = config.smoothness
    for _ in range(config.iters):
        joints = joints_camera(hand, pose, orient, transl, fitted.scale, fitted.is_left)
        rotation = side_rotation(orient, fitted.is_left)
        loss = keypoint_loss(hand, fitted, None, fit.pose_sigma_px, joints=joints)
        loss = loss + (pull * (pose - target) ** 2).sum(-1) + hold * orientation_cost(rotation, anchor)
        if smooth:
            rel = 1000.0 * (joints - joints[:, :1])
            acc = rel[nxt] - 2 * rel[cur] + rel[prev]
            turn = LEVER_MM * (rotation[nxt] - 2 * rotation[cur] + rotation[prev])
            move = 1000.0 * (transl[nxt] - 2 * transl[cur] + transl[prev])
            motion = (acc**2).sum(-1).mean(-1) / config.accel_mm**2
            motion = motion + config.orient_accel * (turn**2).sum((-1, -2)) / config.accel_mm**2
            motion = motion + (move**2).sum(-1) / config.transl_accel_mm**2
            loss = loss.index_add(0, cur, smooth * motion)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return pose.detach(), orient.detach(), transl.detach()
