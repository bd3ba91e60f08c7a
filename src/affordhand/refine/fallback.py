"""The safety net of refinement: a finger whose joints are all seen keeps its initial pose where that meets
its keypoints better than the refined one.

The prior is trusted where the image says nothing (hidden joints) and weighed against the keypoints where
it does. When a prior is off its domain (a prior of synthetic grasps on a real hand, a gesture that is no
grasp), its pull can move a fully visible finger away from the keypoints that the initial estimate met;
then the evidence, not the prior, decides: that finger's three rotations are set back to the initial ones.
Fingers are independent chains, so a finger can be set back alone; a finger with a hidden joint is left to
the prior. The comparison is the finger's mean reprojection error at the reference hand size
(refine/batch.py), under the same global fit.
"""

from __future__ import annotations

import torch

from affordhand.hand import skeleton
from affordhand.hand.model import HandModel
from affordhand.refine.batch import HandBatch, reprojection

FINGERS = tuple(skeleton.OPENPOSE_FINGER_JOINTS)  # thumb, index, middle, ring, pinky


def _finger_error(hand: HandModel, batch: HandBatch, pose_r: torch.Tensor) -> torch.Tensor:
    """Return (B, 5) each finger's mean reprojection error (reference px) for finger poses pose_r."""
    error = (reprojection(hand, batch, pose_r) / batch.px_scale[:, None] ** 2).sqrt()
    return torch.stack([error[:, list(skeleton.OPENPOSE_FINGER_JOINTS[f])].mean(1) for f in FINGERS], 1)


@torch.no_grad()
def keep_better_fingers(hand: HandModel, batch: HandBatch, refined: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (finger poses (B, 45), kept (B, 5) bool in FINGERS order): the refined poses, with each fully
    seen finger whose initial pose (batch.pose_r) reprojects closer to its keypoints set back to it."""
    seen = torch.stack([batch.visible[:, list(skeleton.OPENPOSE_FINGER_JOINTS[f])].all(1) for f in FINGERS], 1)
    kept = seen & (_finger_error(hand, batch, batch.pose_r) < _finger_error(hand, batch, refined))
    chain = torch.tensor([skeleton.FINGERS.index(f) for f in FINGERS], device=refined.device)  # MANO chains
    per_value = torch.zeros_like(refined, dtype=torch.bool).reshape(-1, 5, 9)
    per_value[:, chain] = kept[:, :, None].expand(-1, -1, 9)
    return torch.where(per_value.reshape(-1, 45), batch.pose_r, refined), kept
