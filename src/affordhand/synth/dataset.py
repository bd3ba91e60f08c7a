"""The embedded default data set: synthetic grasps with affordance text, occlusion and a simulated regressor."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import roma
import torch

from affordhand.data.descriptions import affordance_fields, describe
from affordhand.data.objects import OBJECTS, OBJECTS_BY_ID, ObjectSpec
from affordhand.data.records import write_records
from affordhand.data.taxonomy import GRASPS
from affordhand.errors import AffordhandError
from affordhand.hand.rotations import mirror_rotvec
from affordhand.synth import scene
from affordhand.synth.config import SynthConfig
from affordhand.synth.freehand import GESTURES, gesture_fields, gesture_sentence, sample_gestures
from affordhand.synth.grasps import sample_poses

# Held-out objects and grasps of HOGraspNet's s3 (unseen objects) and s4 (unseen grasps) splits.
S3_TEST_OBJECTS = tuple(OBJECTS_BY_ID[i].name for i in (10, 2, 12, 20, 4, 6, 11))
S4_TEST_GRASPS = (23, 25, 29, 16)
LEFT_FRACTION = 0.3


def _mirror_np(rotvec: np.ndarray) -> np.ndarray:
    return mirror_rotvec(torch.as_tensor(rotvec)).numpy()


def _joints_and_visibility(pose_r, orient_r, is_left, transl, hand_scale, K, objects, grasp_ids, obj_scale, hand=None):
    """Return camera-frame joints (n, 21, 3) and visible flags (n, 21): a joint is hidden inside the held
    object's sphere or behind another part of the hand; the wrist stays visible when nothing else is. A hand
    that holds nothing (object None) hides only itself."""
    n = len(pose_r)
    # Joints: right-hand model frame, then global rotation and scale, mirrored for left hands, translated.
    local = scene.forward(pose_r, np.zeros((n, 3)), np.zeros(n, bool), hand=hand)
    power = np.array([g in GRASPS and GRASPS[g].kind == "power" for g in grasp_ids])
    holds = np.array([o is not None for o in objects])
    sizes = np.array([np.median(o.size_cm) if o is not None else 0.0 for o in objects])
    centre_local, radius = scene.object_sphere(local, power, sizes, 1.0)
    radius = radius * holds
    R = roma.rotvec_to_rotmat(torch.as_tensor(orient_r)).numpy()
    flip = np.where(is_left, -1.0, 1.0)[:, None]
    centre = np.einsum("nij,nj->ni", R, centre_local * hand_scale[:, None])
    centre[:, 0] *= flip[:, 0]
    centre += transl
    joints = scene.forward(pose_r, orient_r, is_left, transl=transl, scale=hand_scale, hand=hand)
    visible = ~(
        scene.object_occlusion(joints, centre, radius * obj_scale * hand_scale) | scene.self_occlusion(joints, K)
    )
    visible[:, 0] |= ~visible.any(1)  # keep at least the wrist, as detectors anchor on it
    return joints, visible


def _descriptions(sides, objects, grasp_ids, intentions, gestures, rng) -> tuple[list[str], list[dict]]:
    """Return each hand's affordance sentence and structured fields (a gesture's where it holds nothing)."""
    texts, fields = [], []
    for side, obj, gid, intention, gesture in zip(sides, objects, grasp_ids, intentions, gestures):
        if obj is None:
            texts.append(gesture_sentence(side, gesture, rng))
            fields.append(gesture_fields(side, gesture, texts[-1]))
            continue
        grasp = GRASPS[int(gid)]
        fields.append(affordance_fields(side, obj, grasp, intention))
        texts.append(describe(side, obj, grasp, intention, rng))
    return texts, fields


def _scene(pose_r, is_left, objects, grasp_ids, occlusion: str, rng, hand=None) -> dict:
    """Return one scene per hand: orientation, camera, translation, scale, camera-frame joints, visibility
    (occlusion level per hand: `occlusion`, or drawn for "mixed") and noisy 2D keypoints."""
    n = len(pose_r)
    if occlusion == "mixed":
        levels = np.array(list(scene.LEVELS))[rng.integers(len(scene.LEVELS), size=n)]
    else:
        levels = np.full(n, occlusion)
    palm_prob = np.array([scene.LEVELS[lv].palm_toward_camera for lv in levels])
    obj_scale = np.array([scene.LEVELS[lv].object_scale for lv in levels])
    orient_r = scene.sample_orientations(n, rng.random(n) < palm_prob, rng)
    K = scene.sample_intrinsics(n, rng)
    transl = scene.sample_translations(n, K, rng)
    hand_scale = rng.uniform(0.85, 1.1, n)
    joints, visible = _joints_and_visibility(
        pose_r, orient_r, is_left, transl, hand_scale, K, objects, grasp_ids, obj_scale, hand
    )
    keypoints = scene.project_np(joints, K) + rng.normal(0, scene.PIXEL_NOISE, (n, 21, 2))
    return {
        "orient_r": orient_r,
        "transl": transl,
        "scale": hand_scale,
        "K": K,
        "joints": joints,
        "visible": visible,
        "keypoints": keypoints,
        "levels": levels,
    }


def generate(config: SynthConfig) -> dict[str, np.ndarray | list]:
    """Return the ground truth of config.n grasps as arrays (right-hand parameters plus side)."""
    rng = np.random.default_rng(config.seed)
    n = config.n
    names = sorted(OBJECTS)
    objects = [OBJECTS[names[i]] for i in rng.integers(len(names), size=n)]
    grasp_ids = np.array([o.grasps[rng.integers(len(o.grasps))] for o in objects])
    intentions = [o.intentions[rng.integers(len(o.intentions))] for o in objects]
    # Hands that hold nothing: no object, no grasp class (0), a gesture instead.
    free = rng.random(n) < config.free_hands
    names = sorted(GESTURES)
    gestures = np.where(free, np.array(names)[rng.integers(len(names), size=n)], "")
    objects = [None if f else o for o, f in zip(objects, free)]
    grasp_ids = np.where(free, 0, grasp_ids)
    pose_r = np.zeros((n, 45))
    for gid in np.unique(grasp_ids[~free]):
        idx = np.flatnonzero(grasp_ids == gid)
        pose_r[idx] = sample_poses(int(gid), [objects[i] for i in idx], rng)
    if free.any():
        pose_r[free] = sample_gestures(list(gestures[free]), rng)
    is_left = rng.random(n) < LEFT_FRACTION
    seen = _scene(pose_r, is_left, objects, grasp_ids, config.occlusion, rng)
    sides = np.where(is_left, "left", "right")
    texts, fields = _descriptions(sides, objects, grasp_ids, intentions, gestures, rng)
    return {
        "pose_r": pose_r,
        "is_left": is_left,
        **seen,
        "objects": objects,
        "grasp_ids": grasp_ids,
        "texts": texts,
        "fields": fields,
        "gestures": gestures,
    }


def split_mask(data: dict, config: SynthConfig) -> np.ndarray:
    """Return a bool mask of test records: held-out objects (s3), grasps (s4) or a random fraction."""
    n = len(data["grasp_ids"])
    if config.split_by == "object":
        return np.array([o is not None and o.name in S3_TEST_OBJECTS for o in data["objects"]])
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
            "occlusion_level": str(data["levels"][i]),
        }
        if data["objects"][i] is None:
            rec["gesture"] = str(data["gestures"][i])
        else:
            rec["taxonomy_id"] = int(data["grasp_ids"][i])
            rec["object"] = data["objects"][i].name
        if truth:
            rec["joints3d"] = data["joints"][i]
        out.append(rec)
    return out


def _initial_estimates(
    data: dict, test_idx: np.ndarray, mean_pose_r: np.ndarray, seed: int, hand=None, noise: dict = scene.REGRESSOR
):
    """Return (data with the initial estimate's 2D keypoints, (pose_r, orient_r, transl, scale) with the
    simulated regressor's estimates at test_idx): the detector's keypoints (noisy truth) where a joint is
    visible, the regressor's own projection where it is not; hidden fingers drift to mean_pose_r (45,). noise:
    the simulated regressor's noise (scene.REGRESSOR's keys)."""
    rng = np.random.default_rng(seed)
    sub = {k: data[k][test_idx] for k in ("pose_r", "orient_r", "transl", "scale", "visible")}
    pose_i, orient_i, transl_i, scale_i = scene.simulate_regressor(
        sub["pose_r"], sub["orient_r"], sub["transl"], sub["scale"], sub["visible"], mean_pose_r, rng, noise=noise
    )
    full = {k: data[k].copy() for k in ("pose_r", "orient_r", "transl", "scale")}
    full["pose_r"][test_idx], full["orient_r"][test_idx] = pose_i, orient_i
    full["transl"][test_idx], full["scale"][test_idx] = transl_i, scale_i
    init_joints = scene.forward(pose_i, orient_i, data["is_left"][test_idx], transl_i, scale_i, hand=hand)
    init_kp = np.where(
        sub["visible"][..., None], data["keypoints"][test_idx], scene.project_np(init_joints, data["K"][test_idx])
    )
    init_data = dict(data, keypoints=data["keypoints"].copy())
    init_data["keypoints"][test_idx] = init_kp
    return init_data, (full["pose_r"], full["orient_r"], full["transl"], full["scale"])


# Stand-in for an object the catalogue does not know, for occlusion: a mid-sized thing (cm).
_UNKNOWN_OBJECT = ObjectSpec(0, "object", "object", "object", (7.0, 7.0, 7.0), 7.0, ("hold",), ())


def scenes_for(records: list[dict], mean_pose_r: np.ndarray, seed: int, prefix: str = "view_", hand=None):
    """Return (truth, initial estimates): each record's finger pose in a synthetic scene as `synth` makes
    them (camera, occlusion by the held object's sphere and by the hand, keypoint noise; mixed occlusion
    levels) and the simulated regressor's estimate of it, whose hidden fingers drift to mean_pose_r (45,
    right hand), posed by `hand` (a built-in hand with its own skeleton; default: the built-in one). Records
    need `hand_pose` and `side`; their `text`, `taxonomy_id`, `object` and `fields` are
    kept. A record with neither object nor grasp holds nothing."""
    rng = np.random.default_rng(seed)
    pose = np.stack([np.asarray(r["hand_pose"], float).reshape(45) for r in records])
    is_left = np.array([r.get("side") == "left" for r in records])
    pose_r = np.where(is_left[:, None], _mirror_np(pose.reshape(-1, 15, 3)).reshape(-1, 45), pose)
    holds = [r.get("object") is not None or r.get("taxonomy_id") is not None for r in records]
    objects = [
        (OBJECTS.get("_".join(str(r.get("object", "")).lower().split())) or _UNKNOWN_OBJECT) if h else None
        for r, h in zip(records, holds)
    ]
    grasp_ids = np.array([int(r.get("taxonomy_id") or 0) for r in records])
    data = {"pose_r": pose_r, "is_left": is_left, **_scene(pose_r, is_left, objects, grasp_ids, "mixed", rng, hand)}
    idx = np.arange(len(records))
    init_data, (pose_i, orient_i, transl_i, scale_i) = _initial_estimates(data, idx, mean_pose_r, seed + 1, hand)

    def placed(source: dict, i: int, pose_r, orient_r, transl, scale, truth: bool) -> dict:
        left = bool(is_left[i])
        rec = {k: records[i][k] for k in ("text", "taxonomy_id", "object", "fields") if records[i].get(k) is not None}
        rec.update(
            id=f"{prefix}{i:07d}",
            side="left" if left else "right",
            hand_pose=_mirror_np(pose_r[i].reshape(15, 3)).reshape(45) if left else pose_r[i],
            global_orient=_mirror_np(orient_r[i]) if left else orient_r[i],
            transl=transl[i],
            scale=float(scale[i]),
            keypoints2d=source["keypoints"][i],
            visible=data["visible"][i],
            K=data["K"][i],
        )
        if truth:
            rec["joints3d"] = data["joints"][i]
        return rec

    truth = [placed(data, i, pose_r, data["orient_r"], data["transl"], data["scale"], True) for i in idx]
    init = [placed(init_data, i, pose_i, orient_i, transl_i, scale_i, False) for i in idx]
    return truth, init


def build(config: SynthConfig, out_dir: str | Path, regressor: dict | None = None) -> dict:
    """Write train.jsonl, test.jsonl, test_init.jsonl and config.json into out_dir; return a summary.
    regressor: another simulated regressor's noise (scene.REGRESSOR's keys), for benchmarks that vary it."""
    import json

    out = Path(out_dir)
    data = generate(config)
    test = split_mask(data, config)
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise AffordhandError(f"the {config.split_by} split left an empty train or test set: raise --n")
    prefix = f"syn{config.seed}_"
    mean_pose_r = data["pose_r"][train_idx].mean(0)
    noise = scene.REGRESSOR if regressor is None else regressor
    init_data, init_params = _initial_estimates(data, test_idx, mean_pose_r, config.seed + 2, noise=noise)
    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "train.jsonl", _records(data, train_idx, prefix))
    write_records(out / "test.jsonl", _records(data, test_idx, prefix))
    write_records(
        out / "test_init.jsonl",
        _records(init_data, test_idx, prefix, *init_params, truth=False),
    )
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    occluded = 21 - data["visible"].sum(1)
    return {
        "train": len(train_idx),
        "test": len(test_idx),
        "taxonomy": Counter(int(g) if g else "none (free hand)" for g in data["grasp_ids"]),
        "object": Counter(o.name if o is not None else "none (free hand)" for o in data["objects"]),
        "occluded_count": Counter(int(c) for c in occluded),
        "occluded_mean": float(occluded.mean()),
    }
