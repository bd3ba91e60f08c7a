"""The safety net of refinement: where the initial pose of a finger meets its seen keypoints better than the
refined one, the finger's seen rotations go back to the initial ones.

The prior is trusted where the image says nothing (hidden joints) and weighed against the keypoints where
it does. When a prior is off its domain (a prior of synthetic grasps on a real hand, a gesture that is no
grasp), its pull can move a seen finger away from the keypoints that the initial estimate met; then the
evidence, not the prior, decides. For each finger, the mean reprojection error of its seen joints (at the
reference hand size, refinement/batch.py, under the same global fit) is compared between the initial and the
refined pose; where the initial one is lower, the finger's rotations whose bone end is seen are set back,
and those whose bone end is hidden keep the prior's answer (they move no seen joint). Fingers are
independent chains, so one finger can be set back alone.
"""

from __future__ import annotations

import torch

from affordhand.hand import skeleton
from affordhand.hand.model import HandModel
from affordhand.refinement.batch import HandBatch, reference_reprojection

FINGERS = tuple(skeleton.OPENPOSE_FINGER_JOINTS)  # thumb, index, middle, ring, pinky


def _finger_error(hand: HandModel, batch: HandBatch, pose_r: torch.Tensor) -> torch.Tensor:
    """Return (B, 5) each finger's mean reprojection error over its seen joints (reference px; 0 where
    none is seen) for finger poses pose_r."""
    error = reference_reprojection(hand, batch, pose_r).sqrt()
    seen = batch.visible.to(error.dtype)
    per_finger = []
    for finger in FINGERS:
        joints = list(skeleton.OPENPOSE_FINGER_JOINTS[finger])
        per_finger.append((error[:, joints] * seen[:, joints]).sum(1) / seen[:, joints].sum(1).clamp_min(1))
    return torch.stack(per_finger, 1)


@torch.no_grad()
def keep_better_fingers(hand: HandModel, batch: HandBatch, refined: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (finger poses (B, 45), kept (B, 5) bool in FINGERS order): the refined poses, with the seen
    rotations of each finger whose initial pose (batch.pose_r) reprojects closer to its seen keypoints set
    back to the initial ones."""
    seen_any = torch.stack([batch.visible[:, list(skeleton.OPENPOSE_FINGER_JOINTS[f])].any(1) for f in FINGERS], 1)
    kept = seen_any & (_finger_error(hand, batch, batch.pose_r) < _finger_error(hand, batch, refined))
    chain = torch.tensor([skeleton.FINGERS.index(f) for f in FINGERS], device=refined.device)  # MANO chains
    per_value = torch.zeros_like(refined, dtype=torch.bool).reshape(-1, 5, 9)
    per_value[:, chain] = kept[:, :, None].expand(-1, -1, 9)
    back = per_value.reshape(-1, 45) & skeleton.seen_rotations(batch.visible)
    return torch.where(back, batch.pose_r, refined), kept
