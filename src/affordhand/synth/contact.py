"""Object primitives and the built-in hand's collision shape, and a closing rule that bends fingers onto an
object until they touch it.

Shapes (right-hand model frame of hand/skeleton.py, metres: fingers along -x, palm facing -y, thumb on +z):
- an object is one primitive, a sphere, a capped cylinder or a box, given by its centre, a rotation (its local
  axes as columns; a cylinder's axis is local z) and its size; `object_distance` is its signed distance;
- a hand is the built-in skeleton's fifteen finger segments as tapered capsules (the radii of the
  license-free surface, hand/surface.py: FINGER_RADII) and the palm's front face, a plane PALM_DEPTH below
  the finger bases (the surface's slab: half thickness plus rounding).

Closing (`close_chains`) follows the rule of grasp simulators such as GraspIt!'s auto-grasp (Miller & Allen,
IEEE RAM 2004): every joint of a chain turns at its own rate (a velocity in anatomical angles: flexion,
abduction, twist); when a segment touches the object, the joints that move that segment stop and the joints
beyond it go on, so a finger wraps round what it meets; a chain stops at its target posture or at the joint
limits. Steps are STEP_RAD of the fastest joint; a step that would push a segment more than TOUCH_M into the
object is not taken, so a finished chain lies within TOUCH_M of the surface where it touches and never
deeper than that inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import roma
import torch

from affordhand.hand import skeleton
from affordhand.hand.surface import FINGER_RADII, PALM_HALF_THICKNESS, PALM_ROUNDING

SPHERE, CYLINDER, BOX = 0, 1, 2
PALM_DEPTH = PALM_HALF_THICKNESS + PALM_ROUNDING  # m, from the finger bases' plane to the palm's face
STEP_RAD = 0.04  # rad, the fastest joint's turn per closing step
TOUCH_M = 0.0015  # m: within this of the surface a segment touches it; deeper it penetrates
POINTS_PER_SEGMENT = 6  # samples along each capsule's axis
# Radii (m) at the start and end of each chain's three segments, MANO finger order, from the surface.
_RADII = np.array([FINGER_RADII[f] for f in skeleton.FINGERS])  # (5, 3, 2)
_AXES = skeleton.joint_axes()  # (15, 3, 3)


@dataclass
class Objects:
    """N object primitives: kind (N,) SPHERE / CYLINDER / BOX, centre (N, 3) m, rotation (N, 3, 3) (local
    axes as columns), size (N, 3) m: a sphere's (radius, -, -), a cylinder's (radius, half length, -), a
    box's half extents along its local axes."""

    kind: np.ndarray
    centre: np.ndarray
    rotation: np.ndarray
    size: np.ndarray

    def take(self, idx) -> "Objects":
        return Objects(self.kind[idx], self.centre[idx], self.rotation[idx], self.size[idx])


def object_distance(objects: Objects, points: np.ndarray) -> np.ndarray:
    """Return signed distances (N, M) of points (N, M, 3) to each hand's object: negative inside."""
    local = np.einsum("nji,nmj->nmi", objects.rotation, points - objects.centre[:, None])  # R^T (p - c)
    out = np.empty(local.shape[:2])
    for kind in np.unique(objects.kind):
        rows = objects.kind == kind
        p, s = local[rows], objects.size[rows][:, None]
        if kind == SPHERE:
            out[rows] = np.linalg.norm(p, axis=-1) - s[..., 0]
        elif kind == CYLINDER:
            q = np.stack([np.linalg.norm(p[..., :2], axis=-1) - s[..., 0], np.abs(p[..., 2]) - s[..., 1]], -1)
            out[rows] = np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(-1), 0.0)
        else:
            q = np.abs(p) - s
            out[rows] = np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(-1), 0.0)
    return out


def support(objects: Objects, direction: np.ndarray) -> np.ndarray:
    """Return (N,) how far each primitive reaches from its centre along unit direction (3,)."""
    local = np.einsum("nji,j->ni", objects.rotation, direction)  # the direction in each object's axes
    s = objects.size
    cylinder = s[:, 0] * np.sqrt(np.clip(1 - local[:, 2] ** 2, 0, 1)) + s[:, 1] * np.abs(local[:, 2])
    box = (s * np.abs(local)).sum(1)
    return np.where(objects.kind == SPHERE, s[:, 0], np.where(objects.kind == CYLINDER, cylinder, box))


def object_normal(objects: Objects, points: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Return unit outward normals (N, M, 3) of the objects' distance field at points (N, M, 3)."""
    grad = np.zeros_like(points)
    for k in range(3):
        d = np.zeros(3)
        d[k] = eps
        grad[..., k] = object_distance(objects, points + d) - object_distance(objects, points - d)
    return grad / np.maximum(np.linalg.norm(grad, axis=-1, keepdims=True), 1e-12)


def rotation_about(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Return (N, 3, 3) rotations by angle (N,) rad about unit axes (N, 3) or one axis (3,)."""
    axis = np.broadcast_to(np.asarray(axis, float), (len(angle), 3))
    return roma.rotvec_to_rotmat(torch.as_tensor(axis * np.asarray(angle)[:, None])).numpy()


class HandShape:
    """The built-in hand of N people: per-person chain points (N, 5, 4, 3) (base, two joints, tip, MANO
    finger order, wrist at the origin) scaled per finger by `lengths` (N, 5) about each finger's base."""

    def __init__(self, lengths: np.ndarray, scale: np.ndarray):
        rest, tips = skeleton.rest_joints()
        points = np.stack([rest[1::3], rest[2::3], rest[3::3], tips], 1)  # (5, 4, 3)
        bones = np.diff(points, axis=1)  # (5, 3, 3)
        self.scale = np.asarray(scale, float)  # (N,) overall hand size
        base = points[None, :, :1] * self.scale[:, None, None, None]
        bones = bones[None] * (self.scale[:, None] * lengths)[..., None, None]
        self.offsets = np.concatenate([base, bones], 2)  # (N, 5, 4, 3): base from wrist, then each bone
        self.radii = _RADII[None] * self.scale[:, None, None, None].copy()  # (N, 5, 3, 2)
        self.palm_depth = PALM_DEPTH * self.scale

    def take(self, rows) -> "HandShape":
        """Return the hands `rows` (an index array)."""
        out = object.__new__(HandShape)
        out.scale, out.offsets, out.radii = self.scale[rows], self.offsets[rows], self.radii[rows]
        out.palm_depth = self.palm_depth[rows]
        return out

    def chains(self, angles: np.ndarray, rows=None, which=None) -> np.ndarray:
        """Return chain points (N, C, 4, 3) for anatomical angles (N, 15, 3): of the hands `rows` and the chains
        `which` (MANO finger indices) where given, else all N hands and all five chains."""
        n = len(angles)
        which = list(range(5)) if which is None else list(which)
        offsets = (self.offsets if rows is None else self.offsets[rows])[:, which]
        cols = [3 * f + k for f in which for k in range(3)]
        pose = np.einsum("njk,jkd->njd", angles[:, cols], _AXES[cols])
        local = roma.rotvec_to_rotmat(torch.as_tensor(pose)).numpy().reshape(n, len(which), 3, 3, 3)
        rot = np.broadcast_to(np.eye(3), (n, len(which), 3, 3))
        pos = offsets[:, :, 0]
        out = [pos]
        for level in range(3):
            rot = rot @ local[:, :, level]
            pos = pos + np.einsum("nfij,nfj->nfi", rot, offsets[:, :, level + 1])
            out.append(pos)
        return np.stack(out, 2)

    def palm_points(self, n_side: int = 5) -> np.ndarray:
        """Return points (N, n_side**2, 3) on the palm's face: a grid over the quad of the wrist's breadth and
        the finger bases."""
        u, v = np.meshgrid(np.linspace(0.05, 0.95, n_side), np.linspace(0.0, 1.0, n_side))
        x = -0.085 * u  # from the wrist crease to the finger bases
        z = 0.025 - 0.055 * v  # from the index side to the little finger's
        grid = np.stack([x.ravel(), np.zeros(x.size), z.ravel()], -1)
        points = grid[None] * self.scale[:, None, None]
        points[..., 1] = -self.palm_depth[:, None]
        return points


def segment_distances(objects: Objects, chains: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Return the clearance (N, C, 3) of each segment of chains (N, C, 4, 3), capsule radii (N, C, 3, 2),
    from the object: the least signed distance of its surface, negative when it is inside."""
    t = np.linspace(0.0, 1.0, POINTS_PER_SEGMENT)
    start, end = chains[:, :, :3], chains[:, :, 1:]
    points = start[..., None, :] + t[:, None] * (end - start)[..., None, :]  # (N, C, 3, P, 3)
    r = radii[..., :1] + t * (radii[..., 1:] - radii[..., :1])  # (N, C, 3, P)
    n = len(chains)
    d = object_distance(objects, points.reshape(n, -1, 3)).reshape(points.shape[:-1]) - r
    return d.min(-1)


def close_chains(
    shape: HandShape,
    objects: Objects,
    angles: np.ndarray,
    velocity: np.ndarray,
    target: np.ndarray,
    chains: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Return (angles (N, 15, 3), clearance (N, len(chains), 3)) after closing the given chains (MANO finger
    indices) from `angles` at `velocity` (N, 15, 3) rad per unit time until they touch the object or reach
    `target` (N, 15, 3, the posture where a joint stops by itself; clipped to the joint limits).

    A step that would push a segment deeper than TOUCH_M is halved, down to 1/8 of STEP_RAD, before the
    joints moving that segment stop: a finished chain touches within a fraction of a millimetre."""
    limits = skeleton.joint_limits()
    target = np.clip(target, limits[..., 0], limits[..., 1])
    angles = np.clip(angles.copy(), limits[..., 0], limits[..., 1])
    cols = [3 * f + k for f in chains for k in range(3)]
    n, c = len(angles), len(chains)
    vel = velocity[:, cols].reshape(n, c, 3, 3)
    speed = np.abs(vel).max(-1)  # (N, c, 3)
    moving = speed > 0
    step = STEP_RAD * vel / np.maximum(speed.max(-1), 1e-9)[..., None, None]
    goal = target[:, cols].reshape(n, c, 3, 3)
    radii = shape.radii[:, chains]
    fraction = np.ones((n, c))  # of a full step, halved where a step was refused
    level = np.arange(3)
    for _ in range(int(np.ceil(np.pi / STEP_RAD)) + 60):
        rows = np.flatnonzero(moving.any((1, 2)))
        if not len(rows):
            break
        cur = angles[rows][:, cols].reshape(len(rows), c, 3, 3)
        move = step[rows] * (moving[rows][..., None] * fraction[rows][..., None, None])
        proposal = cur + move
        # A joint stops at its target: no coordinate passes the goal in the direction of its velocity.
        proposal = np.where(np.sign(step[rows]) * (proposal - goal[rows]) > 0, goal[rows], proposal)
        trial = angles[rows]
        trial[:, cols] = proposal.reshape(len(rows), c * 3, 3)
        clearance = segment_distances(objects.take(rows), shape.chains(trial, rows, chains), radii[rows])
        hit = clearance < -TOUCH_M
        refused = hit.any(-1)  # (R, c): a chain moves only where no segment would penetrate
        halve = refused & (fraction[rows] > 0.125 + 1e-9)
        # Past the finest step, the deepest segment that would penetrate stops its own joint and every
        # joint before it; the joints beyond go on at full steps.
        last_hit = np.where(hit, level, -1).max(-1)
        stop = (level[None, None] <= last_hit[..., None]) & (refused & ~halve)[..., None]
        accepted = np.where(refused[..., None, None], cur, proposal)
        angles[rows[:, None], np.array(cols)[None]] = accepted.reshape(len(rows), c * 3, 3)
        fr = fraction[rows]
        fr[halve] /= 2
        fr[refused & ~halve] = 1.0
        fraction[rows] = fr
        done = (np.abs(proposal - goal[rows]) < 1e-9).all(-1) & ~refused[..., None]
        moving[rows] &= ~(stop | done)
    clearance = segment_distances(objects, shape.chains(angles, which=chains), radii)
    return angles, clearance
