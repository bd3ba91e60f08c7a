"""Scenes for synthetic grasps: camera, hand placement, occlusion and a simulated regressor.

Camera frame: x right, y down, z forward (metres); images 640 x 480 pixels.

Occlusion per joint is (a) by the object, a sphere placed where the grasp holds it (palm side for power
grasps, between thumb and index tips otherwise) and sized from the catalogue: a joint is hidden when the
segment from it to the camera passes through the sphere in front of it; and (b) self-occlusion by depth
order: a joint is hidden when another part of the hand (joints and bone midpoints, 9 mm radius) covers it
in the image and lies at least 12 mm nearer the camera.

The simulated regressor (what a single-image network like HaMeR gives) follows this noise model:
- global rotation: the true one composed with a random rotation of N(0, 4 deg) angle;
- translation: + N(0, (5, 5, 20) mm) (depth is the least certain); scale: x (1 + N(0, 0.04));
- a finger joint whose bone end is visible: true angle + N(0, 0.06 rad) per axis;
- a finger joint whose bone end is occluded: regression to the mean, mean + 0.3 (true - mean) +
  N(0, 0.12 rad), where `mean` is the training set's mean pose. The 0.3 stands for what a network still
  infers from the silhouette and the visible rest of the hand; it never sees more of the hidden finger.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import roma
import torch

from affordhand.hand import BuiltinHand, skeleton
from affordhand.hand.rotations import mirror_where

IMAGE_SIZE = (640, 480)
PIXEL_NOISE = 1.5  # px, std of 2D keypoint noise
FINGER_RADIUS = 0.009  # m
SELF_OCCLUSION_DEPTH = 0.012  # m


@dataclass(frozen=True)
class OcclusionLevel:
    """How often the camera sees the palm (and so the object in front of it), and occluder size."""

    palm_toward_camera: float
    object_scale: float


LEVELS = {
    "light": OcclusionLevel(0.15, 0.7),
    "medium": OcclusionLevel(0.5, 1.0),
    "heavy": OcclusionLevel(0.9, 1.35),
}
REGRESSOR = {
    "rot_deg": 4.0,
    "transl_m": (0.005, 0.005, 0.02),
    "scale": 0.04,
    "seen": 0.06,
    "unseen": 0.12,
    "evidence": 0.3,
}


def sample_intrinsics(n: int, rng: np.random.Generator) -> np.ndarray:
    """Return (n, 3, 3) intrinsics: focal 500-700 px, principal point near the image centre."""
    K = np.zeros((n, 3, 3))
    f = rng.uniform(500, 700, n)
    K[:, 0, 0], K[:, 1, 1] = f, f
    K[:, 0, 2] = IMAGE_SIZE[0] / 2 + rng.normal(0, 5, n)
    K[:, 1, 2] = IMAGE_SIZE[1] / 2 + rng.normal(0, 5, n)
    K[:, 2, 2] = 1.0
    return K


def _random_rotvecs(n: int, rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return roma.unitquat_to_rotvec(torch.as_tensor(q)).numpy()


def sample_orientations(n: int, palm_toward_camera: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return (n, 3) right-hand global orientations; where palm_toward_camera, the palm faces the camera."""
    R = roma.rotvec_to_rotmat(torch.as_tensor(_random_rotvecs(n, rng)))
    palm_z = R[:, 2, 1] * -1.0  # z of R @ (0, -1, 0): the palm normal in the camera frame
    wrong = (palm_z < 0).numpy() != palm_toward_camera  # facing the camera means a negative z
    flip = roma.rotvec_to_rotmat(torch.tensor([np.pi, 0.0, 0.0], dtype=R.dtype))
    R[wrong] = R[wrong] @ flip
    return roma.rotmat_to_rotvec(R).numpy()


def sample_translations(n: int, K: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return (n, 3) wrist positions 0.3-0.8 m in front of the camera, projecting near the image centre."""
    z = rng.uniform(0.3, 0.8, n)
    u = rng.uniform(0.3, 0.7, n) * IMAGE_SIZE[0]
    v = rng.uniform(0.35, 0.75, n) * IMAGE_SIZE[1]
    x = (u - K[:, 0, 2]) * z / K[:, 0, 0]
    y = (v - K[:, 1, 2]) * z / K[:, 1, 1]
    return np.stack([x, y, z], 1)


def project_np(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Return (n, J, 2) pixels of camera-frame points (n, J, 3) in metres."""
    uv = np.einsum("nij,nkj->nki", K, points / np.maximum(points[..., 2:3], 1e-3))
    return uv[..., :2]


def object_occlusion(joints: np.ndarray, centre: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Return (n, 21) bool: the segment from each joint to the camera passes through the object sphere."""
    d = -joints  # toward the camera at the origin
    to_c = centre[:, None] - joints
    along = np.einsum("njk,njk->nj", to_c, d)
    t = np.clip(along / np.einsum("njk,njk->nj", d, d), 0.0, 1.0)
    closest = joints + t[..., None] * d
    dist = np.linalg.norm(closest - centre[:, None], axis=-1)
    return (dist < radius[:, None]) & (along > 0)


def self_occlusion(joints: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Return (n, 21) bool: another part of the hand covers the joint in the image, nearer the camera."""
    parts = np.concatenate([joints, np.stack([(joints[:, a] + joints[:, b]) / 2 for a, b in skeleton.BONES], 1)], 1)
    part_of = list(range(21)) + [
        b for _, b in skeleton.BONES
    ]  # which joint each occluder belongs to (for bones: child)
    uv_j, uv_p = project_np(joints, K), project_np(parts, K)
    radius_px = K[:, 0, 0, None] * FINGER_RADIUS / parts[..., 2]  # (n, P)
    d2 = np.linalg.norm(uv_j[:, :, None] - uv_p[:, None], axis=-1)  # (n, 21, P)
    nearer = parts[:, None, :, 2] < joints[:, :, None, 2] - SELF_OCCLUSION_DEPTH
    parent = {b: a for a, b in skeleton.BONES}
    own = np.zeros((21, len(part_of)), dtype=bool)
    for j in range(21):
        for p, owner in enumerate(part_of):
            own[j, p] = owner == j or parent.get(owner) == j or parent.get(j) == owner
    covered = (d2 < radius_px[:, None]) & nearer & ~own[None]
    return covered.any(-1)


def object_sphere(joints_local: np.ndarray, power: np.ndarray, size_cm: np.ndarray, scale: float):
    """Return object centres (n, 3) in the hand frame and radii (n,) in metres."""
    palm = joints_local[:, [0, 5, 9, 13, 17]].mean(1)
    palm_normal = np.array([0.0, -1.0, 0.0])
    radius = np.clip(0.5 * size_cm / 100.0, 0.01, 0.08) * scale
    centre_power = palm + (radius[:, None] + 0.01) * palm_normal
    centre_pinch = 0.5 * (joints_local[:, 4] + joints_local[:, 8]) + 0.5 * radius[:, None] * palm_normal
    return np.where(power[:, None], centre_power, centre_pinch), radius


def simulate_regressor(pose_r, orient_r, transl, scale, visible, mean_pose_r, rng, noise: dict = REGRESSOR):
    """Return (hand_pose_r, global_orient_r, transl, scale) of a simulated single-image regressor.

    Inputs are right-hand parameters (N, 45), (N, 3); visible (N, 21) bool; mean_pose_r (45,): the pose that
    hidden fingers drift to; noise: the REGRESSOR keys (another profile for other regressors)."""
    n = len(pose_r)
    noise_rot = _random_rotvecs(n, rng)
    noise_rot *= (np.radians(noise["rot_deg"]) * np.abs(rng.normal(size=(n, 1)))) / np.maximum(
        np.linalg.norm(noise_rot, axis=1, keepdims=True), 1e-9
    )
    orient = roma.rotvec_composition([torch.as_tensor(noise_rot), torch.as_tensor(orient_r)]).numpy()
    transl = transl + rng.normal(size=(n, 3)) * np.asarray(noise["transl_m"])
    scale = scale * (1 + noise["scale"] * rng.normal(size=n))
    # A MANO joint's rotation shows in the position of its bone's end (the next joint along the chain).
    seen = skeleton.seen_rotations(visible)  # (n, 45)
    mean = np.broadcast_to(mean_pose_r, pose_r.shape)
    guess = mean + noise["evidence"] * (pose_r - mean) + rng.normal(0, noise["unseen"], pose_r.shape)
    near = pose_r + rng.normal(0, noise["seen"], pose_r.shape)
    return np.where(seen, near, guess), orient, transl, scale


def forward(pose_r: np.ndarray, orient_r: np.ndarray, is_left: np.ndarray, transl=None, scale=None, hand=None):
    """Return joints (n, 21, 3) for right-hand parameters, mirrored to the left hand where is_left, posed by
    `hand` (a BuiltinHand; default: the built-in skeleton)."""
    hand = (BuiltinHand() if hand is None else copy.deepcopy(hand)).double()
    pose = torch.as_tensor(pose_r).reshape(-1, 15, 3)
    orient = torch.as_tensor(orient_r)
    left = torch.as_tensor(is_left)
    pose = mirror_where(pose, left)
    orient = mirror_where(orient, left)
    with torch.no_grad():
        out = hand(
            orient,
            pose,
            transl=None if transl is None else torch.as_tensor(transl),
            scale=None if scale is None else torch.as_tensor(scale),
            is_left=left,
        )
    return out.joints.numpy()
