import numpy as np
import pytest
import torch

from affordhand.cli import main
from affordhand.data.records import read_records
from affordhand.eval.evaluate import evaluate
from affordhand.hand import BuiltinHand, skeleton
from affordhand.synth.dataset import S3_TEST_OBJECTS, S4_TEST_GRASPS, SynthConfig, build
from affordhand.synth.grasps import SPECS, pose_to_angles, sample_poses


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    build(SynthConfig(n=600, seed=3), out)
    return out


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        assert main(["synth", "--n", "200", "--seed", "7", "--out", str(tmp_path / name)]) == 0
    for f in ("train.jsonl", "test.jsonl", "test_init.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert main(["synth", "--n", "200", "--seed", "8", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()


def test_every_class_stays_inside_joint_limits():
    limits = skeleton.joint_limits()
    rng = np.random.default_rng(0)
    for gid, spec in SPECS.items():
        angles = pose_to_angles(sample_poses(gid, rng.uniform(0.1, 25, 200), rng))
        assert np.all(angles >= limits[..., 0] - 1e-9) and np.all(angles <= limits[..., 1] + 1e-9), gid


def test_classes_differ_and_vary_within():
    rng = np.random.default_rng(1)
    power = sample_poses(2, np.full(300, 3.0), rng)  # small diameter: fingers wrapped
    pinch = sample_poses(9, np.full(300, 3.0), rng)  # palmar pinch: fingers straight
    flex = lambda p: pose_to_angles(p)[:, [4, 7], 0].mean()  # middle and ring PIP (MANO joints 4, 10)
    assert flex(power) > flex(pinch) + 0.5
    assert pose_to_angles(power)[:, 0, 0].std() > 0.05  # person-to-person variation is real
    small, large = sample_poses(1, np.full(300, 4.0), rng), sample_poses(1, np.full(300, 14.0), rng)
    assert flex(small) > flex(large) + 0.3  # aperture follows object size


def test_records_are_valid_and_left_hands_are_mirrored(synth_dir):
    recs = read_records(synth_dir / "train.jsonl").records
    hand = BuiltinHand().double()
    left = [r for r in recs if r["side"] == "left"][:20]
    right = [r for r in recs if r["side"] == "right"][:20]
    assert left and right
    for group in (left, right):
        stack = lambda k: torch.as_tensor(np.stack([r[k] for r in group]))
        joints = hand(
            stack("global_orient"),
            stack("hand_pose"),
            transl=stack("transl"),
            scale=torch.as_tensor([r["scale"] for r in group], dtype=torch.float64),
            is_left=torch.tensor([r["side"] == "left" for r in group]),
        ).joints
        assert torch.allclose(joints, stack("joints3d"), atol=2e-6)
    for r in recs[:50]:
        assert r["text"].startswith(f"A {r['side']} hand")
        assert "hand_pose_description" in r["fields"]


def test_object_split_holds_out_s3_objects(synth_dir):
    train = read_records(synth_dir / "train.jsonl").records
    test = read_records(synth_dir / "test.jsonl").records
    assert not {r["object"] for r in train} & set(S3_TEST_OBJECTS)
    assert {r["object"] for r in test} <= set(S3_TEST_OBJECTS)
    init = read_records(synth_dir / "test_init.jsonl").records
    assert [r["id"] for r in init] == [r["id"] for r in test]
    assert all("joints3d" not in r for r in init)


def test_taxonomy_split_holds_out_s4_grasps(tmp_path):
    build(SynthConfig(n=400, seed=0, split_by="taxonomy"), tmp_path)
    train = read_records(tmp_path / "train.jsonl").records
    assert not {r["taxonomy_id"] for r in train} & set(S4_TEST_GRASPS)


def test_occlusion_levels_order(tmp_path):
    means = {}
    for level in ("light", "medium", "heavy"):
        means[level] = build(SynthConfig(n=400, seed=0, occlusion=level), tmp_path / level)["occluded_mean"]
    assert means["light"] < means["medium"] < means["heavy"]


def test_simulated_regressor_is_worse_on_occluded_joints(synth_dir):
    gt = read_records(synth_dir / "test.jsonl").records
    init = read_records(synth_dir / "test_init.jsonl").records
    m = evaluate(gt, init, BuiltinHand()).overall
    assert m["mpjpe_occluded"] > m["mpjpe_visible"] + 3.0
    assert 3.0 < m["mpjpe_visible"] < 20.0
