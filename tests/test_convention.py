"""Pose conventions (hand/convention.py): a pose of one skeleton, brought into a prior's convention, keeps its
joints; refinement with a prior made for another skeleton writes poses in the input's convention."""

import numpy as np
import pytest
import roma
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from affordhand.data.records import read_records
from affordhand.hand import BuiltinHand, skeleton
from affordhand.hand.convention import bone_directions, matched_convention
from affordhand.prior.config import PriorConfig
from affordhand.prior.model import Prior
from affordhand.refinement.pipeline import RefineConfig, refine_batch
from affordhand.refinement.settings import GuidedConfig

BUILTIN = (BuiltinHand().rest, BuiltinHand().tips)  # the built-in skeleton, the shipped prior's


def _spread_hand(degrees: float, seed: int = 0) -> BuiltinHand:
    """The built-in hand with each finger bone turned about the palm normal by up to `degrees`, lengths kept:
    a skeleton of another convention (as a MANO-like hand, whose fingers are spread, is to the built-in one)."""
    rest, tips = skeleton.rest_joints()
    rng = np.random.default_rng(seed)
    for f in range(5):
        chain = [rest[1 + 3 * f], rest[2 + 3 * f], rest[3 + 3 * f], tips[f]]
        bones = [chain[k + 1] - chain[k] for k in range(3)]
        points = [chain[0]]
        for bone in bones:
            a = np.radians(rng.uniform(-degrees, degrees))
            turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
            points.append(points[-1] + turn @ bone)
        rest[2 + 3 * f], rest[3 + 3 * f], tips[f] = points[1], points[2], points[3]
    return BuiltinHand(rest, tips)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(1.0, 35.0))
def test_a_pose_in_the_priors_convention_has_the_same_joints_and_comes_back(seed, degrees):
    hand = _spread_hand(degrees, seed)
    convention = matched_convention(hand, *BUILTIN)  # to the built-in hand's convention
    g = torch.Generator().manual_seed(seed)
    pose, orient = 0.6 * torch.randn(8, 45, generator=g), torch.randn(8, 3, generator=g)
    moved = convention.to_prior(pose)
    before = hand(orient, pose).joints
    after = convention.hand(orient, moved).joints
    assert (before - after).abs().max() < 1e-6  # metres
    # the same rotations (an axis-angle past pi comes back as its shorter twin, 2 pi - angle the other way)
    back = roma.rotvec_to_rotmat(convention.from_prior(moved).reshape(-1, 3))
    torch.testing.assert_close(back, roma.rotvec_to_rotmat(pose.reshape(-1, 3)), atol=1e-5, rtol=0)
    # the matched skeleton has the prior's bone directions and the input's bone lengths
    torch.testing.assert_close(bone_directions(convention.hand.rest, convention.hand.tips), bone_directions(*BUILTIN))


def test_one_skeleton_per_hand_changes_each_hand_as_its_own_skeleton_would():
    """A batch of skeletons (hand/model.py: SkeletonsHand) gets each skeleton's own convention, also when
    every hand comes in k samples in a row (as guided refinement repeats them)."""
    from affordhand.hand.model import skeletons_hand

    hands = [_spread_hand(25, seed) for seed in (1, 2, 3)]
    together = matched_convention(skeletons_hand(hands), *BUILTIN)
    g = torch.Generator().manual_seed(0)
    k = 2
    pose, orient = 0.6 * torch.randn(3 * k, 45, generator=g), torch.randn(3 * k, 3, generator=g)
    moved = together.to_prior(pose)
    for s, hand in enumerate(hands):
        rows = slice(s * k, (s + 1) * k)
        alone = matched_convention(hand, *BUILTIN)
        torch.testing.assert_close(moved[rows], alone.to_prior(pose[rows]), atol=1e-5, rtol=0)
        mine = together.hand(orient, moved).joints[rows]
        torch.testing.assert_close(mine, hand(orient[rows], pose[rows]).joints, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="cannot take 3 skeletons"):
        together.hand(orient[:4], moved[:4])


def test_the_same_skeleton_needs_no_change():
    assert matched_convention(BuiltinHand(), *BUILTIN) is None
    hand = _spread_hand(20)
    assert matched_convention(hand, hand.rest, hand.tips) is None


def test_the_convention_turns_a_spread_pose_into_the_built_in_one():
    """A finger of a spread skeleton brought in line with its neighbours is, in the built-in convention (fingers
    already in line), close to no abduction at all."""
    hand = _spread_hand(25, seed=3)
    convention = matched_convention(hand, *BUILTIN)
    # the pose that turns every bone of the spread hand back to the built-in directions
    straight = convention.from_prior(torch.zeros(1, 45))
    assert straight.abs().max() > 0.1  # not a zero pose in the spread hand's convention
    torch.testing.assert_close(convention.to_prior(straight), torch.zeros(1, 45), atol=1e-6, rtol=0)


def test_refinement_with_a_prior_of_another_skeleton_writes_poses_in_the_inputs_convention(tmp_path, synth_set):
    data = synth_set(n=40, seed=3, occlusion="medium")
    records = read_records(data / "test_init.jsonl").records[:4]
    hand = _spread_hand(20)
    prior = Prior(PriorConfig(conditions=["text"], text_encoder="none", text_dim=0, cond_dim=0, width=32, depth=1))
    prior.eval().pose_skeleton = BUILTIN
    config = RefineConfig(mode="uncond", guided=GuidedConfig(steps=10, samples=2))
    out = refine_batch(records, config, hand, prior)
    for rec in out:
        side = torch.tensor([rec["side"] == "left"])
        pose = torch.as_tensor(rec["hand_pose"], dtype=torch.float32)[None]
        orient = torch.as_tensor(rec["global_orient"], dtype=torch.float32)[None]
        transl = torch.as_tensor(rec["transl"], dtype=torch.float32)[None]
        scale = torch.tensor([rec["scale"]])
        joints = hand(orient, pose, transl=transl, scale=scale, is_left=side).joints[0]
        # the record's joints are those of its pose on the input's skeleton
        np.testing.assert_allclose(joints.detach().numpy(), rec["joints3d"], atol=1e-5)


def test_the_shipped_prior_knows_its_skeleton_and_an_unknown_one_keeps_the_hand_models_convention(tmp_path, synth_set):
    from affordhand.prior.model import load_prior

    shipped = load_prior("default")
    torch.testing.assert_close(shipped.pose_skeleton[0], BUILTIN[0])  # made on the built-in hand's grasps
    data = synth_set(n=40, seed=3, occlusion="medium")
    records = read_records(data / "test_init.jsonl").records[:3]
    prior = Prior(PriorConfig(conditions=["text"], text_encoder="none", text_dim=0, cond_dim=0, width=32, depth=1))
    prior.eval()  # trained on poses alone: its skeleton, so its convention, is unknown
    config = RefineConfig(mode="uncond", guided=GuidedConfig(steps=10, samples=2))
    as_input = RefineConfig(mode="uncond", guided=GuidedConfig(steps=10, samples=2, pose_convention="input"))
    hand = _spread_hand(20)
    for a, b in zip(refine_batch(records, config, hand, prior), refine_batch(records, as_input, hand, prior)):
        np.testing.assert_array_equal(a["hand_pose"], b["hand_pose"])


def test_samples_for_another_skeleton_are_written_in_its_convention(tmp_path):
    from affordhand.cli import main
    from affordhand.hand.calibrate import save_skeleton

    hand = _spread_hand(20)
    result = {"rest_joints": hand.rest.numpy(), "tips": hand.tips.numpy(), "records": 0}
    save_skeleton(tmp_path / "spread.json", {**result, "before_mm": 0.0, "after_mm": 0.0})
    hand = BuiltinHand(*(np.round(v.numpy(), 6) for v in (hand.rest, hand.tips)))  # as the file holds it
    common = ["sample", "--prior", "default", "--n", "3", "--steps", "5", "--text", "A right hand holds a mug."]
    assert main(common + ["--out", str(tmp_path / "own.jsonl")]) == 0
    assert main(common + ["--out", str(tmp_path / "spread.jsonl"), "--skeleton", str(tmp_path / "spread.json")]) == 0
    own, spread = (
        torch.as_tensor(np.stack([r["hand_pose"] for r in read_records(tmp_path / f"{name}.jsonl").records]))
        for name in ("own", "spread")
    )
    convention = matched_convention(hand, *BUILTIN)
    torch.testing.assert_close(convention.to_prior(spread.float()), own.float(), atol=1e-5, rtol=0)
    assert (spread - own).abs().max() > 0.05  # the same samples, in the spread skeleton's convention
