"""Clips for sequence refinement: a grasp closing and then held, seen by a slowly turning camera, with an
object edge that moves over the hand and a regressor whose errors vary slowly as well as from frame to frame.

A tool to measure sequence refinement against per-frame refinement (benchmarks/sequences.py, the tests), not
a model of any data set. Each clip, from one grasp (its finger pose, in any hand model's convention):
- fingers: a pre-shape (OPEN_FRACTION of the grasp) closing to the grasp over 4-10 frames (smoothstep), then
  held ("slow"); or ("fast") on through another grasp, the pre-shape and back, each change in 2-5 frames;
- camera: a random start, turning 0.5-2 deg per frame about a random axis ("fast": 3-8); the wrist 0.3-0.8 m
  away, drifting 0-3 mm per frame ("fast": 3-12); focal 500-700 px, 640 x 480 images;
- occluder: an image edge over the joints furthest along a direction that turns 2-8 deg per frame, hiding
  6-12 joints, the count moving linearly from one end of the range to another over the clip: a finger is
  seen in some frames and hidden in others;
- 2D keypoints: the true joints projected + N(0, 1.5 px) per frame (a detector's jitter);
- the regressor: the profile's noise (synth/scene.py: simulate_regressor's keys: rot_deg, transl_m, scale,
  seen, unseen, evidence), split into a slowly varying part (SLOW_SHARE of the variance, an AR(1) process of
  per-frame correlation SLOW_CORRELATION, as a network's error follows the image, which changes slowly) and a
  white part; a hidden finger drifts to the given mean pose as in one image; its scale error is fixed per clip.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import roma
import torch

from affordhand.hand import BuiltinHand, skeleton
from affordhand.synth.scene import PIXEL_NOISE, project_np, sample_intrinsics, sample_translations

FRAMES = 24
FPS = 30.0
OPEN_FRACTION = 0.2  # the pre-shape: this fraction of the grasp's finger pose


@dataclass(frozen=True)
class Motion:
    """How a clip moves: frames per change of the fingers (uniform), the camera's turn (deg) and the wrist's
    drift (mm) per frame, and whether the fingers keep changing (between the pre-shape, the grasp and another
    grasp) instead of closing once and holding."""

    change_frames: tuple[int, int]
    turn_deg: tuple[float, float]
    drift_mm: tuple[float, float]
    keeps_changing: bool


MOTIONS = {
    "slow": Motion((4, 10), (0.5, 2.0), (0.0, 3.0), False),  # a grasp closing, then held
    # gestures in quick succession, as in a hand-tracking take (joints moving 1-2 cm between frames)
    "fast": Motion((2, 5), (3.0, 8.0), (3.0, 12.0), True),
}
EDGE_TURN_DEG = (2.0, 8.0)  # the occluding edge's direction turns this much per frame, deg
HIDDEN = (6, 12)  # joints the edge hides, inclusive
SLOW_SHARE = (
    0.8  # share of the regressor's error variance that varies slowly (its acceleration then near a HaMeR-like one's)
)
SLOW_CORRELATION = 0.9  # per-frame correlation of the slow part


def _ar1(rng: np.random.Generator, frames: int, shape: tuple) -> np.ndarray:
    """Return (frames, *shape) a stationary AR(1) process of unit variance, correlation SLOW_CORRELATION."""
    out = np.empty((frames, *shape))
    out[0] = rng.normal(size=shape)
    rho = SLOW_CORRELATION
    for t in range(1, frames):
        out[t] = rho * out[t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=shape)
    return out


def _noise(rng, frames: int, shape: tuple, std) -> np.ndarray:
    """Return (frames, *shape) errors of standard deviation std: SLOW_SHARE slow, the rest white."""
    slow = np.sqrt(SLOW_SHARE) * _ar1(rng, frames, shape)
    white = np.sqrt(1 - SLOW_SHARE) * rng.normal(size=(frames, *shape))
    return (slow + white) * np.asarray(std)


def _rotations(rotvecs: np.ndarray) -> np.ndarray:
    return roma.rotvec_to_rotmat(torch.as_tensor(rotvecs, dtype=torch.float64)).numpy()


def _rotvecs(mats: np.ndarray) -> np.ndarray:
    return roma.rotmat_to_rotvec(torch.as_tensor(mats, dtype=torch.float64)).numpy()


def edge_hidden(uv: np.ndarray, angle: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Return (n, 21) bool: the `count` joints furthest along the image direction at `angle` (rad)."""
    direction = np.stack([np.cos(angle), np.sin(angle)], 1)
    along = np.einsum("njk,nk->nj", uv, direction)
    rank = np.argsort(np.argsort(-along, axis=1), axis=1)
    return rank < count[:, None]


def _fingers(grasp_pose: np.ndarray, other: np.ndarray, motion: Motion, rng) -> np.ndarray:
    """Return (T, 45) finger poses: from the pre-shape to the grasp (then held), or, for a motion that keeps
    changing, on through the other grasp, the pre-shape and back, each change over change_frames frames
    (smoothstep: the fingers start and stop gently)."""
    T = FRAMES
    targets = [grasp_pose, other, OPEN_FRACTION * grasp_pose] if motion.keeps_changing else [grasp_pose]
    keys, t, k = [(0, OPEN_FRACTION * grasp_pose)], 0, 0
    while t < T and (motion.keeps_changing or k < 1):
        t += int(rng.integers(motion.change_frames[0], motion.change_frames[1] + 1))
        keys.append((t, targets[k % len(targets)]))
        k += 1
    pose = np.repeat(keys[-1][1][None], T, 0)
    for (t0, p0), (t1, p1) in zip(keys, keys[1:]):
        for frame in range(t0, min(t1, T)):
            s = (frame - t0) / (t1 - t0)
            pose[frame] = p0 + s * s * (3 - 2 * s) * (p1 - p0)
    return pose


def _motion(grasp: dict, other: dict, motion: Motion, rng: np.random.Generator) -> dict:
    """Return one clip's true motion: finger poses (T, 45), orientations (T, 3), translations (T, 3), K."""
    T = FRAMES
    grasp_pose = np.asarray(grasp["hand_pose"], dtype=np.float64)
    pose = _fingers(grasp_pose, np.asarray(other["hand_pose"], dtype=np.float64), motion, rng)
    q = rng.normal(size=4)
    start = roma.unitquat_to_rotmat(torch.as_tensor(q / np.linalg.norm(q))).numpy()
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    turn = np.radians(rng.uniform(*motion.turn_deg)) * np.arange(T)
    camera = np.einsum("tij,jk->tik", _rotations(axis[None] * turn[:, None]), start)
    own = _rotations(np.asarray(grasp.get("global_orient", np.zeros(3)), dtype=np.float64)[None])[0]
    K = np.repeat(sample_intrinsics(1, rng), T, 0)
    drift = rng.normal(size=3)
    drift *= rng.uniform(*motion.drift_mm) / 1000 / np.linalg.norm(drift)
    transl = sample_translations(1, K[:1], rng) + np.arange(T)[:, None] * drift
    return {"pose": pose, "orient": _rotvecs(camera @ own), "transl": transl, "K": K}


def _regressor(truth: dict, visible: np.ndarray, mean_pose: np.ndarray, noise: dict, rng) -> dict:
    """Return the regressor's per-frame estimates of a clip's motion (module docstring)."""
    T, pose = FRAMES, truth["pose"]
    seen = skeleton.seen_rotations(visible)
    guess = mean_pose + noise["evidence"] * (pose - mean_pose) + _noise(rng, T, (45,), noise["unseen"])
    tilt = _noise(rng, T, (3,), np.radians(noise["rot_deg"]) / np.sqrt(3))  # per axis: the angle's rms is rot_deg
    return {
        "pose": np.where(seen, pose + _noise(rng, T, (45,), noise["seen"]), guess),
        "orient": _rotvecs(_rotations(tilt) @ _rotations(truth["orient"])),
        "transl": truth["transl"] + _noise(rng, T, (3,), noise["transl_m"]),
        "scale": np.full(T, 1 + noise["scale"] * rng.normal()),
    }


def _posed(hand: BuiltinHand, motion: dict) -> np.ndarray:
    scale = motion.get("scale")
    with torch.no_grad():
        return hand(
            torch.as_tensor(motion["orient"]),
            torch.as_tensor(motion["pose"]),
            transl=torch.as_tensor(motion["transl"]),
            scale=None if scale is None else torch.as_tensor(scale),
        ).joints.numpy()


def make_clip(
    grasp: dict,
    hand: BuiltinHand,
    mean_pose: np.ndarray,
    noise: dict,
    rng: np.random.Generator,
    name: str,
    motion: Motion = MOTIONS["slow"],
    other: dict | None = None,
) -> tuple[list[dict], list[dict]]:
    """Return (ground truth, regressor estimates), FRAMES records each, of one clip of a right-hand grasp
    record (hand_pose, optional global_orient, text, object, taxonomy_id), posed by `hand` (float64; the
    data's own skeleton: it also gives the regressor's own 3D joints, as HaMeR gives them); other: the grasp a
    motion that keeps changing passes through."""
    T = FRAMES
    truth = _motion(grasp, other or grasp, motion, rng)
    K, joints = truth["K"], _posed(hand, truth)
    uv = project_np(joints, K) + rng.normal(0, PIXEL_NOISE, (T, 21, 2))
    angle = rng.uniform(0, 2 * np.pi) + np.radians(rng.uniform(*EDGE_TURN_DEG)) * rng.choice([-1, 1]) * np.arange(T)
    ends = rng.integers(HIDDEN[0], HIDDEN[1] + 1, 2)
    visible = ~edge_hidden(uv, angle, np.rint(np.linspace(ends[0], ends[1], T)).astype(int))
    est = _regressor(truth, visible, mean_pose, noise, rng)
    est_joints = _posed(hand, est)
    est_uv = project_np(est_joints, K)
    gt, init = [], []
    for t in range(T):
        common = {
            "id": f"{name}/{t:03d}",
            "side": "right",
            "sequence": name,
            "frame": t,
            "time": t / FPS,
            "K": K[t],
            "visible": visible[t],
            **{k: grasp[k] for k in ("text", "object", "taxonomy_id") if grasp.get(k) is not None},
        }
        true_pose = {"hand_pose": truth["pose"][t], "global_orient": truth["orient"][t]}
        gt.append({**common, **true_pose, "joints3d": joints[t], "keypoints2d": uv[t]})
        init.append(
            {
                **common,
                "hand_pose": est["pose"][t],
                "global_orient": est["orient"][t],
                "transl": est["transl"][t],
                "joints3d": est_joints[t],
                "keypoints2d": np.where(visible[t][:, None], uv[t], est_uv[t]),
            }
        )
    return gt, init


def make_clips(
    grasps: list[dict],
    clips: int,
    hand: BuiltinHand,
    mean_pose: np.ndarray,
    noise: dict,
    seed: int,
    motion: str = "slow",
) -> tuple[list[dict], list[dict]]:
    """Return (ground truth, regressor estimates) of `clips` clips, each of a grasp drawn from `grasps` in turn
    (a seeded shuffle), sequences named <grasp id>/clip<k>; motion: a key of MOTIONS."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(grasps))
    hand = copy.deepcopy(hand).double()
    gt, init = [], []
    for k in range(clips):
        grasp = grasps[order[k % len(grasps)]]
        other = grasps[int(rng.integers(len(grasps)))]
        name = f"{grasp['id']}/clip{k}"
        g, i = make_clip(grasp, hand, mean_pose, noise, rng, name, MOTIONS[motion], other)
        gt += g
        init += i
    return gt, init
