"""A license-free hand surface for the built-in skeleton: an implicit surface around its bones, meshed once
per skeleton (marching cubes, scikit-image) and posed by linear blend skinning.

Nothing here comes from MANO. The shape is the built-in hand's rest skeleton (hand/skeleton.py) wrapped in
flesh of adult proportions: each finger segment a tapered capsule (radii in FINGER_RADII, after the
finger breadths of hand anthropometry, about 16-20 mm at the proximal phalanx), the palm a rounded slab
through the wrist and the finger bases (PALM_HALF_THICKNESS + PALM_ROUNDING, about 26 mm thick), the
thumb's metacarpal a thicker capsule for the thenar eminence. The parts are joined with a smooth minimum,
so knuckles and the thumb web blend, while the gaps between fingers stay open.

Skinning: every vertex is weighted over the 16 joints by its distance to the parts each joint moves (the
palm: the wrist; a finger segment: the joint at its start), softly (SKIN_SOFTNESS), so a knuckle bends
as a blend of its two segments.

Frame: right hand, the built-in hand's model frame, metres, wrist at the origin (as `forward_kinematics`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import roma
import torch

from affordhand.errors import AffordhandError
from affordhand.hand import skeleton
from affordhand.hand.model import _mirror_inputs, chain_frames, place_points

# (start, end) radius in metres of the three segments of each chain, MANO finger order
# (thumb: metacarpal, proximal, distal).
FINGER_RADII = {
    "index": ((0.0092, 0.0085), (0.0082, 0.0076), (0.0074, 0.0062)),
    "middle": ((0.0094, 0.0087), (0.0084, 0.0078), (0.0076, 0.0064)),
    "pinky": ((0.0080, 0.0072), (0.0070, 0.0065), (0.0063, 0.0054)),
    "ring": ((0.0088, 0.0081), (0.0079, 0.0073), (0.0071, 0.0060)),
    "thumb": ((0.0125, 0.0100), (0.0098, 0.0090), (0.0088, 0.0075)),
}
PALM_HALF_THICKNESS = 0.005  # m, the slab's core; PALM_ROUNDING is added all round
PALM_ROUNDING = 0.0085
WRIST_EXTENT = 0.02  # m the palm reaches past the wrist joint, toward the forearm
BLEND = 0.004  # m, smooth-minimum width where parts meet
SKIN_SOFTNESS = 0.004  # m, how far a vertex's weights spread beyond its nearest part
VOXEL = 0.002  # m, marching-cubes grid spacing


@dataclass
class RestSurface:
    """The rest-pose mesh of one skeleton: vertices (V, 3) m, faces (F, 3), skin weights (V, 16) over the
    MANO-order joints (wrist first), and the rest joints (16, 3) they are skinned to."""

    vertices: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    rest: np.ndarray


def _segments(rest: np.ndarray, tips: np.ndarray):
    """Return (starts (S, 3), ends (S, 3), radii (S, 2), owner joint (S,)) of the finger segments."""
    starts, ends, radii, owners = [], [], [], []
    for f, finger in enumerate(skeleton.FINGERS):
        chain = [rest[1 + 3 * f], rest[2 + 3 * f], rest[3 + 3 * f], tips[f]]
        for level in range(3):
            starts.append(chain[level])
            ends.append(chain[level + 1])
            radii.append(FINGER_RADII[finger][level])
            owners.append(1 + 3 * f + level)
    return np.array(starts), np.array(ends), np.array(radii), np.array(owners)


def _capsule_distance(points: np.ndarray, start, end, radii) -> np.ndarray:
    """Return signed distances (N,) of points (N, 3) to a capsule whose radius tapers from start to end."""
    axis = end - start
    t = np.clip((points - start) @ axis / max(float(axis @ axis), 1e-12), 0.0, 1.0)
    closest = start + t[:, None] * axis
    return np.linalg.norm(points - closest, axis=1) - (radii[0] + t * (radii[1] - radii[0]))


def _palm_outline(rest: np.ndarray) -> np.ndarray:
    """Return the palm's core polygon (P, 2) in the model's (x, z) plane, counter-clockwise: the finger bases,
    the thumb's base and two wrist corners beyond the wrist joint."""
    bases = rest[[1, 4, 10, 7]]  # index, middle, ring, pinky bases (MANO order 1, 4, 10, 7)
    thumb = rest[13]
    ulnar = (WRIST_EXTENT, bases[-1, 2] + 0.008)
    radial = (WRIST_EXTENT, thumb[2] - 0.01)
    points = [radial, (thumb[0], thumb[2])] + [(b[0], b[2]) for b in bases] + [ulnar]
    poly = np.array(points)
    area = 0.5 * np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
    return poly if area > 0 else poly[::-1]


def _polygon_distance(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Return signed 2D distances (N,) of points (N, 2) to a simple polygon (P, 2): negative inside."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    ap = points[:, None] - a[None]
    t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
    dist = np.linalg.norm(ap - t[..., None] * ab, axis=-1).min(1)
    # Even-odd rule for the inside test.
    y = points[:, 1:2]
    crosses = ((a[:, 1] > y) != (b[:, 1] > y)) & (
        points[:, 0:1] < (b[:, 0] - a[:, 0]) * (y - a[:, 1]) / (b[:, 1] - a[:, 1] + 1e-12) + a[:, 0]
    )
    return np.where(crosses.sum(1) % 2 == 1, -dist, dist)


def _palm_distance(points: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Return signed distances (N,) to the palm: the core polygon extruded PALM_HALF_THICKNESS each side of
    the finger bases' plane, rounded by PALM_ROUNDING."""
    in_plane = _polygon_distance(points[:, [0, 2]], _palm_outline(rest))
    centre_y = rest[[1, 4, 7, 10], 1].mean()
    across = np.abs(points[:, 1] - centre_y) - PALM_HALF_THICKNESS
    q = np.stack([in_plane, across], 1)
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(1), 0.0) - PALM_ROUNDING


def _part_distances(points: np.ndarray, rest: np.ndarray, tips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (distances (N, 1 + S) to the palm and each finger segment, owner joint of each part (1 + S,))."""
    starts, ends, radii, owners = _segments(rest, tips)
    parts = [_palm_distance(points, rest)]
    parts += [_capsule_distance(points, s, e, r) for s, e, r in zip(starts, ends, radii)]
    return np.stack(parts, 1), np.concatenate([[0], owners])


def _smooth_min(d: np.ndarray, k: float) -> np.ndarray:
    """Return the smooth minimum over the last axis (log-sum-exp with width k)."""
    m = d.min(-1, keepdims=True)
    return (m - k * np.log(np.exp(-(d - m) / k).sum(-1, keepdims=True)))[..., 0]


def build_rest_surface(rest: np.ndarray, tips: np.ndarray, voxel: float = VOXEL) -> RestSurface:
    """Return the rest-pose surface of a skeleton (rest joints (16, 3), tips (5, 3), right hand, metres)."""
    require_meshing()
    from skimage.measure import marching_cubes

    rest, tips = np.asarray(rest, float), np.asarray(tips, float)
    if not (np.isfinite(rest).all() and np.isfinite(tips).all()):
        raise AffordhandError("the hand surface needs a finite skeleton")
    cloud = np.concatenate([rest, tips])
    margin = 0.03
    low, high = cloud.min(0) - margin, cloud.max(0) + margin
    low[0] = min(low[0], -margin)
    high[0] = max(high[0], WRIST_EXTENT + margin)
    axes = [np.arange(lo, hi + voxel, voxel) for lo, hi in zip(low, high)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    field = _smooth_min(_part_distances(grid, rest, tips)[0], BLEND).reshape([len(a) for a in axes])
    vertices, faces, _, _ = marching_cubes(field, level=0.0, spacing=(voxel, voxel, voxel))
    vertices = vertices + low
    return RestSurface(vertices, faces, _skin_weights(vertices, rest, tips), rest)


def _skin_weights(vertices: np.ndarray, rest: np.ndarray, tips: np.ndarray) -> np.ndarray:
    """Return (V, 16) weights: a soft assignment of each vertex to the joints moving the parts near it."""
    dist, owners = _part_distances(vertices, rest, tips)
    soft = np.exp(-(dist - dist.min(1, keepdims=True)) / SKIN_SOFTNESS)
    weights = np.zeros((len(vertices), 16))
    np.add.at(weights.T, owners, soft.T)
    return weights / weights.sum(1, keepdims=True)


@lru_cache(maxsize=8)
def _cached(rest_bytes: bytes, tips_bytes: bytes) -> RestSurface:
    rest = np.frombuffer(rest_bytes, dtype=np.float64).reshape(16, 3).copy()
    tips = np.frombuffer(tips_bytes, dtype=np.float64).reshape(5, 3).copy()
    return build_rest_surface(rest, tips)


def rest_surface(rest: np.ndarray, tips: np.ndarray) -> RestSurface:
    """Return the rest surface of a skeleton, built once per skeleton in a process."""
    return _cached(np.asarray(rest, np.float64).tobytes(), np.asarray(tips, np.float64).tobytes())


def pose_surface(
    surface: RestSurface, global_orient, hand_pose, transl=None, scale=None, is_left=None, skeleton_rest=None
) -> torch.Tensor:
    """Return posed vertices (B, V, 3), metres, camera frame, by linear blend skinning; the parameters are
    a HandModel's (global_orient (B, 3), hand_pose (B, 45), transl (B, 3), scale (B,), is_left (B,)).
    skeleton_rest (16, 3): the rest joints of the hand that is posed, when they differ from the ones the
    surface was made on (each part then follows its joint). A left hand's faces must be reversed
    (`faces_for`), as mirroring turns the surface inside out."""
    orient, pose = _mirror_inputs(global_orient, hand_pose, is_left)
    pose = pose.reshape(-1, 15, 3)
    dtype, device = pose.dtype, pose.device
    rest = torch.as_tensor(surface.rest, dtype=dtype, device=device)
    posed_rest = rest if skeleton_rest is None else torch.as_tensor(skeleton_rest, dtype=dtype, device=device)
    tips = rest.new_zeros(5, 3)  # the tips end no segment that moves a vertex
    rotations, positions = chain_frames(posed_rest, tips, orient, pose)
    B = pose.shape[0]
    root = roma.rotvec_to_rotmat(orient)
    joint_rot = torch.cat([root[:, None], rotations.reshape(B, 15, 3, 3)], 1)  # (B, 16, 3, 3) MANO order
    joint_pos = torch.cat([pose.new_zeros(B, 1, 3), positions[:, :, :3].reshape(B, 15, 3)], 1)
    verts = torch.as_tensor(surface.vertices, dtype=dtype, device=device)
    weights = torch.as_tensor(surface.weights, dtype=dtype, device=device)
    local = verts[None, None] - rest[None, :, None]  # (1, 16, V, 3): each vertex from each joint
    moved = torch.einsum("bjik,bjvk->bjvi", joint_rot, local.expand(B, -1, -1, -1)) + joint_pos[:, :, None]
    return place_points(torch.einsum("vj,bjvi->bvi", weights, moved), scale, is_left, transl)


def faces_for(surface: RestSurface, left: bool) -> np.ndarray:
    """Return the faces (F, 3) with outward normals for a right or a left (mirrored) hand."""
    return surface.faces[:, ::-1].copy() if left else surface.faces


def hand_mesh(
    hand, global_orient, hand_pose, transl=None, scale=None, is_left=None, base=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return [(vertices (V, 3) m, faces (F, 3))] per hand of a batch (a HandModel's parameters): the MANO mesh
    where the hand model is the user's MANO, else this module's surface on the built-in skeleton. base: the
    built-in hand that `hand` was derived from (a photo's own proportions), whose surface it can wear."""
    left = [False] * len(hand_pose) if is_left is None else [bool(v) for v in is_left]
    if getattr(hand, "name", "") == "mano":
        out = hand(global_orient, hand_pose, transl=transl, scale=scale, is_left=is_left)
        return [(v.detach().cpu().numpy(), np.asarray(out.faces)) for v in out.vertices]
    numpy = lambda t: t.detach().cpu().double().numpy()
    rest, tips = numpy(hand.rest), numpy(hand.tips)
    candidates = [(numpy(base.rest), numpy(base.tips))] if base is not None else []
    surface = rest_surface(*_bind_skeleton(rest, tips, candidates))
    with torch.no_grad():
        vertices = pose_surface(surface, global_orient.double(), hand_pose.double(), transl, scale, is_left, rest)
    return [(v.cpu().numpy(), faces_for(surface, side)) for v, side in zip(vertices, left)]


REBIND_MM = 10.0  # a skeleton this close to the built-in one (every joint) is skinned on its surface


def _bind_skeleton(rest: np.ndarray, tips: np.ndarray, candidates=()) -> tuple[np.ndarray, np.ndarray]:
    """Return the skeleton whose surface a hand wears: the first of the candidates (rest, tips) and the
    built-in skeleton whose joints are all within REBIND_MM of the hand's (a photo's own proportions: a
    surface made once, not per hand), else the hand's own (a calibrated skeleton of another convention)."""
    for base_rest, base_tips in [*candidates, skeleton.rest_joints()]:
        offsets = np.concatenate([rest - base_rest, tips - base_tips])
        if np.linalg.norm(offsets, axis=1).max() * 1000 <= REBIND_MM:
            return np.asarray(base_rest, float), np.asarray(base_tips, float)
    return rest, tips


def require_meshing() -> None:
    """Raise a one-line error now, before any work, when the surface cannot be made (no scikit-image)."""
    try:
        import skimage.measure  # noqa: F401
    except ImportError:
        raise AffordhandError("the hand surface needs scikit-image: pip install 'affordhand[image]'") from None
