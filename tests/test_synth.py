from dataclasses import replace

import numpy as np
import pytest
import torch

from affordhand.cli import main
from affordhand.data.objects import OBJECTS
from affordhand.data.records import read_records
from affordhand.eval.evaluate import evaluate
from affordhand.hand import BuiltinHand, skeleton
from affordhand.synth.contact import HandShape, object_distance, segment_distances
from affordhand.synth.dataset import S3_TEST_OBJECTS, S4_TEST_GRASPS, SynthConfig, build
from affordhand.synth.grasps import SPECS, pose_to_angles, sample_grasps, sample_poses


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    build(SynthConfig(n=600, seed=3), out)
    return out


@pytest.mark.slow
def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        assert main(["synth", "--n", "60", "--seed", "7", "--out", str(tmp_path / name)]) == 0
    for f in ("train.jsonl", "test.jsonl", "test_init.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert main(["synth", "--n", "60", "--seed", "8", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()


def _class_objects(gid: int, n: int, rng) -> list:
    """Return n catalogue objects listed for grasp class gid, drawn at random."""
    listed = [o for o in OBJECTS.values() if gid in o.grasps]
    return [listed[i] for i in rng.integers(len(listed), size=n)]


@pytest.mark.slow
def test_every_class_touches_its_object_and_does_not_penetrate_it():
    """For every class: at least 90 % of grasps pass, and on those no hand segment lies deeper than 1.5 mm
    inside the primitive, the palm's face does not cut it, a finger of the class touches it (within 1.5 mm),
    and so does the thumb where it closes (all but the adduction grip), with distances recomputed from the
    returned hands and objects."""
    limits = skeleton.joint_limits()
    rng = np.random.default_rng(0)
    for gid in SPECS:
        got = sample_grasps(gid, _class_objects(gid, 24, rng), rng)
        assert got["ok"].mean() >= 0.9, gid  # a grasp that fails every try (rare: a dice in a quadpod) is flagged
        ok = got["ok"]
        objects, hands, angles = got["objects"].take(ok), got["hands"].take(np.flatnonzero(ok)), got["angles"][ok]
        clearance_mm = 1000 * segment_distances(objects, hands.chains(angles), hands.radii)
        assert clearance_mm.min() >= -1.5 - 1e-6, (gid, clearance_mm.min())
        palm_mm = 1000 * object_distance(objects, hands.palm_points())
        assert palm_mm.min() >= -1.5 - 1e-6, gid
        assert (clearance_mm[:, :4].min((1, 2)) < 1.5).all(), gid
        if SPECS[gid].thumb_closes:
            assert (clearance_mm[:, 4].min(1) < 1.5).all(), gid
        assert np.all(angles >= limits[..., 0] - 1e-9) and np.all(angles <= limits[..., 1] + 1e-9), gid


def test_the_collision_hand_is_the_builtin_hand():
    """HandShape's chains at unit size and lengths are the built-in hand's joints (an independent FK)."""
    rng = np.random.default_rng(2)
    angles = rng.uniform(-0.2, 0.8, (5, 15, 3))
    shape = HandShape(np.ones((5, 5)), np.ones(5))
    chains = shape.chains(angles)  # (5, 5, 4, 3) MANO finger order
    hand = BuiltinHand().double()
    pose = torch.as_tensor(skeleton.angles_to_pose(angles)).reshape(5, 15, 3)
    joints = hand(torch.zeros(5, 3, dtype=torch.float64), pose).joints.numpy()  # OpenPose order
    tips = joints[:, [8, 12, 20, 16, 4]]  # index, middle, pinky, ring, thumb tips
    assert np.allclose(chains[:, :, 3], tips, atol=1e-9)


@pytest.mark.slow
def test_classes_differ_and_vary_within():
    rng = np.random.default_rng(1)
    power = sample_poses(2, _class_objects(2, 100, rng), rng)  # small diameter: fingers wrapped
    pinch = sample_poses(22, _class_objects(22, 100, rng), rng)  # parallel extension: fingers straight
    flex = lambda p: pose_to_angles(p)[:, [4, 10], 0].mean()  # middle and ring PIP (MANO joints 4, 10)
    assert flex(power) > flex(pinch) + 0.5
    assert pose_to_angles(power)[:, 0, 0].std() > 0.05  # person-to-person variation is real
    can = OBJECTS["master_chef_can"]
    thin, thick = replace(can, grip_cm=4.0), replace(can, grip_cm=12.0)
    small, large = sample_poses(1, [thin] * 100, rng), sample_poses(1, [thick] * 100, rng)
    assert flex(small) > flex(large) + 0.2  # aperture follows object size


@pytest.mark.slow
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
    assert not {r.get("object") for r in train} & set(S3_TEST_OBJECTS)
    assert {r["object"] for r in test} <= set(S3_TEST_OBJECTS)  # free hands hold no test object: all train
    init = read_records(synth_dir / "test_init.jsonl").records
    assert [r["id"] for r in init] == [r["id"] for r in test]
    assert all("joints3d" not in r for r in init)


@pytest.mark.slow
def test_taxonomy_split_holds_out_s4_grasps(tmp_path):
    build(SynthConfig(n=150, seed=0, split_by="taxonomy"), tmp_path)
    train = read_records(tmp_path / "train.jsonl").records
    assert not {r.get("taxonomy_id") for r in train} & set(S4_TEST_GRASPS)


@pytest.mark.slow
def test_occlusion_levels_order(tmp_path):
    means = {}
    for level in ("light", "medium", "heavy"):
        means[level] = build(SynthConfig(n=120, seed=0, occlusion=level), tmp_path / level)["occluded_mean"]
    assert means["light"] < means["medium"] < means["heavy"]


def test_simulated_regressor_is_worse_on_occluded_joints(synth_dir):
    gt = read_records(synth_dir / "test.jsonl").records
    init = read_records(synth_dir / "test_init.jsonl").records
    m = evaluate(gt, init, BuiltinHand()).overall
    assert m["mpjpe_occluded"] > m["mpjpe_visible"] + 3.0
    assert 3.0 < m["mpjpe_visible"] < 20.0


@pytest.mark.slow
def test_free_hands_are_in_the_training_data(tmp_path):
    """Hands that hold nothing are part of what the shipped prior trains on: gesture records with their own
    sentences, no object and no grasp class, and poses that differ by gesture."""
    from affordhand.prior.shipped import SHIPPED_DATA
    from affordhand.synth.freehand import GESTURES, sample_gestures

    assert SHIPPED_DATA.free_hands >= 0.05
    build(SynthConfig(n=200, seed=2, free_hands=SHIPPED_DATA.free_hands), tmp_path)
    train = read_records(tmp_path / "train.jsonl").records
    free = [r for r in train if "gesture" in r]
    assert 0.05 * len(train) < len(free) < 0.2 * len(train)
    for r in free:
        assert r["gesture"] in GESTURES and "taxonomy_id" not in r and "object" not in r
        assert r["text"].startswith(f"A {r['side']} hand") and r["fields"]["grasp_taxonomy"] == "none"
    rng = np.random.default_rng(0)
    fist, point = (pose_to_angles(sample_gestures([g] * 50, rng)) for g in ("fist", "point"))
    assert fist[:, 1, 0].mean() > point[:, 1, 0].mean() + 1.0  # the index's PIP: curled against straight


def test_scenes_for_user_records_keep_their_labels():
    """scenes_for puts given poses in synthetic scenes: the truth's joints are the hand posed by the record's
    own finger pose, and the initial estimate hides nothing the truth shows."""
    from affordhand.synth.dataset import scenes_for

    rng = np.random.default_rng(4)
    poses = sample_poses(3, _class_objects(3, 6, rng), rng)
    records = [
        {"hand_pose": p, "side": s, "text": "A hand holds a mug.", "taxonomy_id": 3, "object": "mug"}
        for p, s in zip(poses, ["right", "left"] * 3)
    ]
    truth, init = scenes_for(records, poses.mean(0), seed=0)
    assert [r["id"] for r in truth] == [r["id"] for r in init]
    hand = BuiltinHand().double()
    for t, r in zip(truth, records):
        assert t["side"] == r["side"] and t["taxonomy_id"] == 3 and t["object"] == "mug"
        assert np.allclose(t["hand_pose"], r["hand_pose"])
        joints = hand(
            torch.as_tensor(t["global_orient"])[None],
            torch.as_tensor(t["hand_pose"])[None],
            transl=torch.as_tensor(t["transl"])[None],
            scale=torch.tensor([t["scale"]], dtype=torch.float64),
            is_left=torch.tensor([t["side"] == "left"]),
        ).joints[0]
        assert np.allclose(joints.numpy(), t["joints3d"], atol=1e-6)
    assert all(np.array_equal(t["visible"], i["visible"]) and "joints3d" not in i for t, i in zip(truth, init))
