"""The initial 3D hand of the image front end: the hand model fitted first to MediaPipe's metric 3D
landmarks (orientation, finger pose, size), then to its 2D landmarks through the camera (translation,
orientation, scale, then fingers), in torch, batched over hands, a few hundred iterations in all."""

from __future__ import annotations

import numpy as np
import torch

from affordhand.hand.align import align_global
from affordhand.refine.run import RefineConfig, refine_batch


def fit_to_world(hand, world: np.ndarray, is_left: np.ndarray, iters: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Return (global_orient (N, 3), hand_pose (N, 45)) fitting the hand to root-relative 3D landmarks."""
    target = torch.as_tensor(world, dtype=torch.float32)
    target = target - target[:, :1]
    left = torch.as_tensor(is_left)
    n = len(world)
    orient0, scale0 = align_global(hand, torch.zeros(n, 45), target, left)
    orient = orient0.float().clone().requires_grad_(True)
    pose = torch.zeros(n, 45, requires_grad=True)
    log_s = scale0.float().log().clone().requires_grad_(True)
    opt = torch.optim.Adam([orient, pose, log_s], lr=0.03)
    for _ in range(iters):
        joints = hand(orient, pose, scale=log_s.exp(), is_left=left).joints
        loss = ((joints - target) ** 2).sum(-1).mean(-1) * 1e4 + 1e-3 * (pose ** 2).sum(-1)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return orient.detach().numpy(), pose.detach().numpy()


def initial_records(hand, hands: list, K: np.ndarray, ids: list[str]) -> list[dict]:
    """Return initial-estimate records for detected hands: 3D landmark fit, then 2D keypoint fit."""
    if not hands:
        return []
    is_left = np.array([h.side == "left" for h in hands])
    orient, pose = fit_to_world(hand, np.stack([h.world for h in hands]), is_left)
    records = [{"id": i, "side": h.side, "hand_pose": p, "global_orient": o, "keypoints2d": h.keypoints2d, "K": K,
                "visible": np.ones(21, bool)} for i, h, o, p in zip(ids, hands, orient, pose)]
    # Camera placement and a fingers' fit to the 2D landmarks (the `fit` mode of refinement).
    fitted = refine_batch(records, RefineConfig(mode="fit"), hand)
    for rec in fitted:
        rec.pop("refine_mode", None)
    return fitted


def occlusion_from_box(joints: np.ndarray, keypoints: np.ndarray, box, margin: float = 0.01) -> np.ndarray:
    """Return visible (21,) bools: a joint inside the object box (2D) and deeper than the palm centre by
    more than `margin` metres is taken to be behind the object (the object is assumed to sit at the palm)."""
    if box is None:
        return np.ones(21, bool)
    x0, y0, x1, y1 = box
    inside = (keypoints[:, 0] >= x0) & (keypoints[:, 0] <= x1) & (keypoints[:, 1] >= y0) & (keypoints[:, 1] <= y1)
    palm_depth = joints[[0, 5, 9, 13, 17], 2].mean()
    return ~(inside & (joints[:, 2] > palm_depth + margin))
