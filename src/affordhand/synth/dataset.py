"""The embedded default data set: synthetic grasps with affordance text, occlusion and a simulated regressor."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import roma
import torch

from affordhand.data.descriptions import affordance_fields, describe
from affordhand.data.objects import OBJECTS, OBJECTS_BY_ID
from affordhand.data.records import write_records
from affordhand.data.taxonomy import GRASPS
from affordhand.errors import AffordhandError
from affordhand.hand.rotations import mirror_rotvec
from affordhand.synth import scene
from affordhand.synth.config import SynthConfig
from affordhand.synth.grasps import sample_poses

# Held-out objects and grasps of HOGraspNet's s3 (unseen objects) and s4 (unseen grasps) splits.
S3_TEST_OBJECTS = tuple(OBJECTS_BY_ID[i].name for i in (10, 2, 12, 20, 4, 6, 11))
S4_TEST_GRASPS = (23, 25, 29, 16)
LEFT_FRACTION = 0.3


def _mirror_np(rotvec: np.ndarray) -> np.ndarray:
    return mirror_rotvec(torch.as_tensor(rotvec)).numpy()


def _joints_and_visibility(pose_r, orient_r, is_left, transl, hand_scale, K, objects, grasp_ids, obj_scale):
    """Return camera-frame joints (n, 21, 3) and visible flags (n, 21): a joint is hidden inside the held
    object's sphere or behind another part of the hand; the wrist stays visible when nothing else is."""
    n = len(pose_r)
    # Joints: right-hand model frame, then global rotation and scale, mirrored for left hands, translated.
    local = scene.forward(pose_r, np.zeros((n, 3)), np.zeros(n, bool))
    power = np.array([GRASPS[g].kind == "power" for g in grasp_ids])
    centre_local, radius = scene.object_sphere(local, power, np.array([np.median(o.size_cm) for o in objects]), 1.0)
    R = roma.rotvec_to_rotmat(torch.as_tensor(orient_r)).numpy()
    flip = np.where(is_left, -1.0, 1.0)[:, None]
    centre = np.einsum("nij,nj->ni", R, centre_local * hand_scale[:, None])
    centre[:, 0] *= flip[:, 0]
    centre += transl
    joints = scene.forward(pose_r, orient_r, is_left, transl=transl, scale=hand_scale)
    visible = ~(
        scene.object_occlusion(joints, centre, radius * obj_scale * hand_scale) | scene.self_occlusion(joints, K)
    )
    visible[:, 0] |= ~visible.any(1)  # keep at least the wrist, as detectors anchor on it
    return joints, visible


def _descriptions(sides, objects, grasp_ids, intentions, rng) -> tuple[list[str], list[dict]]:
    """Return each grasp's affordance sentence and structured fields."""
    texts, fields = [], []
    for side, obj, gid, intention in zip(sides, objects, grasp_ids, intentions):
        grasp = GRASPS[int(gid)]
        fields.append(affordance_fields(side, obj, grasp, intention))
        texts.append(describe(side, obj, grasp, intention, rng))
    return texts, fields


def generate(config: SynthConfig) -> dict[str, np.ndarray | list]:
    """Return the ground truth of config.n grasps as arrays (right-hand parameters plus side)."""
    rng = np.random.default_rng(config.seed)
    n = config.n
    names = sorted(OBJECTS)
    objects = [OBJECTS[names[i]] for i in rng.integers(len(names), size=n)]
    grasp_ids = np.array([o.grasps[rng.integers(len(o.grasps))] for o in objects])
    intentions = [o.intentions[rng.integers(len(o.intentions))] for o in objects]
    grip = np.array([o.grip_cm for o in objects]) * rng.uniform(0.9, 1.1, n)
    pose_r = np.zeros((n, 45))
    for gid in np.unique(grasp_ids):
        idx = np.flatnonzero(grasp_ids == gid)
        pose_r[idx] = sample_poses(int(gid), grip[idx], rng)
    is_left = rng.random(n) < LEFT_FRACTION
    if config.occlusion == "mixed":
        levels = np.array(list(scene.LEVELS))[rng.integers(len(scene.LEVELS), size=n)]
    else:
        levels = np.full(n, config.occlusion)
    palm_prob = np.array([scene.LEVELS[lv].palm_toward_camera for lv in levels])
    obj_scale = np.array([scene.LEVELS[lv].object_scale for lv in levels])
    orient_r = scene.sample_orientations(n, rng.random(n) < palm_prob, rng)
    K = scene.sample_intrinsics(n, rng)
    transl = scene.sample_translations(n, K, rng)
    hand_scale = rng.uniform(0.85, 1.1, n)
    joints, visible = _joints_and_visibility(
        pose_r, orient_r, is_left, transl, hand_scale, K, objects, grasp_ids, obj_scale
    )
    keypoints = scene.project_np(joints, K) + rng.normal(0, scene.PIXEL_NOISE, (n, 21, 2))
    sides = np.where(is_left, "left", "right")
    texts, fields = _descriptions(sides, objects, grasp_ids, intentions, rng)
    return {
        "pose_r": pose_r,
        "orient_r": orient_r,
        "is_left": is_left,
        "transl": transl,
        "scale": hand_scale,
        "K": K,
        "joints": joints,
        "visible": visible,
        "keypoints": keypoints,
        "objects": objects,
        "grasp_ids": grasp_ids,
        "texts": texts,
        "fields": fields,
        "levels": levels,
    }


def split_mask(data: dict, config: SynthConfig) -> np.ndarray:
    """Return a bool mask of test records: held-out objects (s3), grasps (s4) or a random fraction."""
    n = len(data["grasp_ids"])
    if config.split_by == "object":
        return np.array([o.name in S3_TEST_OBJECTS for o in data["objects"]])
    if config.split_by == "taxonomy":
        return np.isin(data["grasp_ids"], S4_TEST_GRASPS)
    if config.split_by == "random":
        if not 0.0 < config.test_fraction < 1.0:
            raise AffordhandError("--test-fraction must be between 0 and 1")
        rng = np.random.default_rng(config.seed + 1)
        return rng.random(n) < config.test_fraction
    raise AffordhandError(f"unknown --split-by {config.split_by!r}: object, taxonomy or random")


def _records(
    data: dict, idx: np.ndarray, prefix: str, pose_r=None, orient_r=None, transl=None, scale=None, truth: bool = True
) -> list[dict]:
    pose_r = data["pose_r"] if pose_r is None else pose_r
    orient_r = data["orient_r"] if orient_r is None else orient_r
    transl = data["transl"] if transl is None else transl
    scale = data["scale"] if scale is None else scale
    out = []
    for i in idx:
        left = bool(data["is_left"][i])
        pose = _mirror_np(pose_r[i].reshape(15, 3)).reshape(45) if left else pose_r[i]
        orient = _mirror_np(orient_r[i]) if left else orient_r[i]
        rec = {
            "id": f"{prefix}{i:07d}",
            "side": "left" if left else "right",
            "hand_pose": pose,
            "global_orient": orient,
            "transl": transl[i],
            "scale": float(scale[i]),
            "keypoints2d": data["keypoints"][i],
            "visible": data["visible"][i],
            "K": data["K"][i],
            "text": data["texts"][i],
            "fields": data["fields"][i],
            "taxonomy_id": int(data["grasp_ids"][i]),
            "object": data["objects"][i].name,
            "occlusion_level": str(data["levels"][i]),
        }
        if truth:
            rec["joints3d"] = data["joints"][i]
        out.append(rec)
    return out


def build(config: SynthConfig, out_dir: str | Path) -> dict:
    """Write train.jsonl, test.jsonl, test_init.jsonl and config.json into out_dir; return a summary."""
    import json

    out = Path(out_dir)
    data = generate(config)
    test = split_mask(data, config)
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise AffordhandError(f"the {config.split_by} split left an empty train or test set: raise --n")
    prefix = f"syn{config.seed}_"
    mean_pose_r = data["pose_r"][train_idx].mean(0)
    rng = np.random.default_rng(config.seed + 2)
    sub = {k: data[k][test_idx] for k in ("pose_r", "orient_r", "transl", "scale", "visible")}
    pose_i, orient_i, transl_i, scale_i = scene.simulate_regressor(
        sub["pose_r"], sub["orient_r"], sub["transl"], sub["scale"], sub["visible"], mean_pose_r, rng
    )
    # The initial estimate's 2D keypoints: the detector's (noisy truth) where visible, else its own guess.
    full = {k: data[k].copy() for k in ("pose_r", "orient_r", "transl", "scale")}
    full["pose_r"][test_idx], full["orient_r"][test_idx] = pose_i, orient_i
    full["transl"][test_idx], full["scale"][test_idx] = transl_i, scale_i
    init_joints = scene.forward(pose_i, orient_i, data["is_left"][test_idx], transl_i, scale_i)
    init_kp = np.where(
        sub["visible"][..., None], data["keypoints"][test_idx], scene.project_np(init_joints, data["K"][test_idx])
    )
    init_data = dict(data, keypoints=data["keypoints"].copy())
    init_data["keypoints"][test_idx] = init_kp
    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "train.jsonl", _records(data, train_idx, prefix))
    write_records(out / "test.jsonl", _records(data, test_idx, prefix))
    write_records(
        out / "test_init.jsonl",
        _records(
            init_data, test_idx, prefix, full["pose_r"], full["orient_r"], full["transl"], full["scale"], truth=False
        ),
    )
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    occluded = 21 - data["visible"].sum(1)
    return {
        "train": len(train_idx),
        "test": len(test_idx),
        "taxonomy": Counter(int(g) for g in data["grasp_ids"]),
        "object": Counter(o.name for o in data["objects"]),
        "occluded_count": Counter(int(c) for c in occluded),
        "occluded_mean": float(occluded.mean()),
    }
