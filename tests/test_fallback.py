"""The safety net (refinement/fallback.py): a finger whose refined pose misses its seen keypoints more than the
initial pose has its seen rotations set back, alone; its hidden rotations and unseen fingers stay refined."""

import numpy as np
import pytest
import torch

from affordhand.hand import BuiltinHand, skeleton
from affordhand.hand.camera import project
from affordhand.refinement.batch import batch_from_records
from affordhand.refinement.fallback import FINGERS, keep_better_fingers

HAND = BuiltinHand()


def _batch(visible: np.ndarray, side: str = "right"):
    """One hand whose keypoints are its initial pose's exact projection."""
    g = torch.Generator().manual_seed(0)
    pose, orient = 0.3 * torch.rand(1, 45, generator=g), torch.tensor([[0.2, -2.5, 0.3]])
    K = np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    transl = torch.tensor([[0.0, 0.0, 0.5]])
    left = torch.tensor([side == "left"])
    joints = HAND(orient, pose, transl=transl, is_left=left).joints
    uv = project(joints, torch.as_tensor(K, dtype=torch.float32)[None])[0]
    rec = {"id": "h", "side": side, "hand_pose": pose[0].numpy(), "global_orient": orient[0].numpy(), "K": K}
    rec |= {"transl": transl[0].numpy(), "keypoints2d": uv.numpy(), "visible": visible}
    return batch_from_records([rec])


def _bend(pose: torch.Tensor, finger: str, by: float = 0.4) -> torch.Tensor:
    chain = skeleton.FINGERS.index(finger)
    out = pose.clone()
    out[:, 9 * chain : 9 * chain + 9] += by
    return out


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("finger", FINGERS)
def test_a_seen_finger_pulled_off_its_keypoints_is_set_back_alone(finger, side):
    batch = _batch(np.ones(21, bool), side)
    refined = _bend(batch.pose_r, finger)
    pose, kept = keep_better_fingers(HAND, batch, refined)
    assert kept[0].tolist() == [f == finger for f in FINGERS]
    chain = skeleton.FINGERS.index(finger)
    torch.testing.assert_close(pose[:, 9 * chain : 9 * chain + 9], batch.pose_r[:, 9 * chain : 9 * chain + 9])
    other = torch.ones(45, dtype=torch.bool)
    other[9 * chain : 9 * chain + 9] = False
    torch.testing.assert_close(pose[:, other], refined[:, other])  # the other fingers keep the refined pose


def test_a_finger_with_a_hidden_tip_gets_its_seen_rotations_back_and_keeps_the_hidden_one():
    visible = np.ones(21, bool)
    visible[skeleton.OPENPOSE_FINGER_JOINTS["ring"][-1]] = False  # the ring fingertip is hidden
    batch = _batch(visible)
    refined = _bend(batch.pose_r, "ring")
    pose, kept = keep_better_fingers(HAND, batch, refined)
    assert kept[0].tolist() == [f == "ring" for f in FINGERS]
    ring = 9 * skeleton.FINGERS.index("ring")
    # MCP and PIP rotations (their bone ends are seen) go back; the DIP's (it moves only the hidden tip) stays
    torch.testing.assert_close(pose[:, ring : ring + 6], batch.pose_r[:, ring : ring + 6])
    torch.testing.assert_close(pose[:, ring + 6 : ring + 9], refined[:, ring + 6 : ring + 9])


def test_a_finger_with_no_seen_joint_is_left_to_the_prior():
    visible = np.ones(21, bool)
    visible[list(skeleton.OPENPOSE_FINGER_JOINTS["pinky"])] = False
    batch = _batch(visible)
    refined = _bend(batch.pose_r, "pinky")
    pose, kept = keep_better_fingers(HAND, batch, refined)
    assert not kept.any()
    torch.testing.assert_close(pose, refined)


def test_a_refined_finger_that_meets_its_keypoints_better_stays():
    batch = _batch(np.ones(21, bool))
    worse_start = batch.with_global(batch.orient_r, batch.transl, batch.scale)
    worse_start.pose_r = _bend(batch.pose_r, "thumb", 0.3)  # the initial thumb misses its keypoints
    pose, kept = keep_better_fingers(HAND, worse_start, batch.pose_r)
    assert not kept.any()
    torch.testing.assert_close(pose, batch.pose_r)
