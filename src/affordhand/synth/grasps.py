"""Parametric hand poses for the 28 HOGraspNet grasp classes.

A pose is built in anatomical angles per joint (flexion, abduction, twist; see hand.skeleton.joint_axes)
and turned into MANO axis-angle. Each class says what each finger does (its *role*), how the fingers
spread and how the thumb sits, following the class's Feix attributes: power grasps wrap the fingers
around the object with the palm in contact, precision grasps touch with the finger pads, intermediate
(side) grasps press the thumb against the side of the index; adducted thumbs lie along the hand.
The object's grip size sets the closure: a thinner object closes the wrap further. Person-to-person
variation adds per-sample offsets (global closure, spread, thumb) and per-joint noise; the DIP follows
the PIP (DIP ~ 2/3 PIP, the usual tendon coupling) with its own small noise. Poses are clipped to the
joint limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affordhand.hand import skeleton
from affordhand.hand.skeleton import angles_to_pose, pose_to_angles  # noqa: F401 (re-exported)

# Finger roles: (MCP flex, PIP flex) as (base, gain with closure c in [0, 1]), radians; DIP from coupling.
ROLES = {
    "wrap": ((0.45, 0.75), (0.55, 0.85)),
    "pad": ((0.45, 0.45), (0.30, 0.55)),
    "tip": ((0.55, 0.25), (0.95, 0.35)),
    "straight": ((0.45, 0.50), (0.05, 0.05)),  # flexed at the MCP only, straight fingers
    "extended": ((0.05, 0.00), (0.05, 0.00)),
    "relaxed": ((0.30, 0.00), (0.45, 0.00)),
    "curled": ((1.25, 0.00), (1.55, 0.00)),
    "side": ((0.85, 0.20), (1.00, 0.30)),  # index side offered to the thumb (lateral grasps)
    "hook": ((0.20, 0.20), (1.10, 0.40)),  # PIP/DIP bent around a loop or handle
}
DIP_COUPLING = 0.67
# Spread (abduction, rad) of index, middle, ring, pinky; positive toward the thumb (radial).
SPREADS = {
    "together": (-0.08, 0.0, 0.06, 0.12),
    "normal": (0.0, 0.0, 0.0, 0.0),
    "wide": (0.22, 0.02, -0.15, -0.30),
    "scissor": (0.15, -0.12, 0.0, 0.0),  # index and middle apart, object between them
}
# Thumb: CMC (flex, abduction, twist), MCP flex, IP flex, each (base, gain with closure). Negative CMC
# abduction swings the thumb from its rest direction toward the fingers; the values were found by solving
# for thumb angles that bring the thumb tip to the index tip (tip), to the index/middle pads (opposed),
# around the proximal phalanges (wrap) and onto the side of the index (lateral), at closure 0 and 1.
THUMBS = {
    "opposed": ((0.25, 0.40), (-0.42, 0.06), (0.00, 0.05), (0.15, 0.00), (0.05, 0.15)),
    "wrap": ((0.20, 0.20), (-0.30, -0.25), (0.00, 0.00), (0.30, 0.30), (0.30, 0.30)),
    "tip": ((0.50, -0.20), (-0.35, 0.05), (0.00, -0.10), (0.10, 0.80), (0.10, 0.60)),
    "adducted": ((0.00, 0.10), (-0.60, 0.00), (0.00, 0.00), (0.15, 0.10), (0.10, 0.10)),
    "lateral": ((0.30, -0.15), (-0.45, 0.25), (0.10, -0.30), (0.10, 0.50), (0.10, 0.45)),
    "parallel": ((0.35, 0.10), (-0.25, 0.00), (0.00, 0.00), (0.05, 0.00), (0.05, 0.00)),
}


@dataclass(frozen=True)
class GraspSpec:
    """How a class shapes the hand: roles of index, middle, ring, pinky; spread; thumb; closure range."""

    roles: tuple[str, str, str, str]
    spread: str
    thumb: str
    grip_range_cm: tuple[float, float] = (1.0, 12.0)  # grip size mapped to closure 1 .. 0


SPECS: dict[int, GraspSpec] = {
    1: GraspSpec(("wrap",) * 4, "normal", "wrap", (4.0, 14.0)),
    2: GraspSpec(("wrap",) * 4, "together", "wrap", (0.5, 5.0)),
    3: GraspSpec(("wrap",) * 4, "normal", "wrap", (2.0, 10.0)),
    4: GraspSpec(("wrap",) * 4, "together", "adducted", (1.0, 8.0)),
    5: GraspSpec(("wrap", "wrap", "relaxed", "relaxed"), "normal", "adducted", (0.5, 8.0)),
    7: GraspSpec(("pad", "pad", "pad", "relaxed"), "normal", "opposed", (0.5, 10.0)),
    9: GraspSpec(("straight", "extended", "extended", "extended"), "normal", "opposed", (0.1, 8.0)),
    10: GraspSpec(("wrap",) * 4, "wide", "opposed", (6.0, 20.0)),
    11: GraspSpec(("wrap",) * 4, "wide", "wrap", (3.0, 14.0)),
    12: GraspSpec(("pad",) * 4, "wide", "opposed", (4.0, 20.0)),
    13: GraspSpec(("pad",) * 4, "wide", "tip", (2.0, 14.0)),
    14: GraspSpec(("pad", "pad", "curled", "curled"), "normal", "opposed", (0.5, 8.0)),
    16: GraspSpec(("side", "curled", "curled", "curled"), "together", "lateral", (0.1, 6.0)),
    17: GraspSpec(("extended", "wrap", "wrap", "wrap"), "together", "adducted", (1.0, 8.0)),
    18: GraspSpec(("straight",) * 4, "normal", "opposed", (0.5, 20.0)),
    19: GraspSpec(("hook", "hook", "curled", "curled"), "normal", "opposed", (0.5, 6.0)),
    20: GraspSpec(("pad", "side", "curled", "curled"), "normal", "opposed", (0.5, 3.0)),
    22: GraspSpec(("straight",) * 4, "together", "parallel", (0.1, 20.0)),
    23: GraspSpec(("relaxed", "relaxed", "curled", "curled"), "scissor", "adducted", (0.1, 3.0)),
    24: GraspSpec(("tip", "relaxed", "relaxed", "relaxed"), "normal", "tip", (0.1, 3.0)),
    25: GraspSpec(("side", "side", "curled", "curled"), "together", "lateral", (0.5, 3.0)),
    26: GraspSpec(("wrap", "wrap", "wrap", "curled"), "normal", "opposed", (2.0, 10.0)),
    27: GraspSpec(("tip", "tip", "tip", "curled"), "normal", "tip", (0.5, 6.0)),
    28: GraspSpec(("wrap", "wrap", "curled", "curled"), "normal", "opposed", (2.0, 10.0)),
    29: GraspSpec(("side", "relaxed", "relaxed", "relaxed"), "together", "lateral", (0.5, 4.0)),
    30: GraspSpec(("extended", "extended", "extended", "extended"), "together", "adducted", (0.1, 20.0)),
    31: GraspSpec(("tip", "relaxed", "relaxed", "relaxed"), "normal", "tip", (0.5, 4.0)),
    33: GraspSpec(("tip", "extended", "extended", "extended"), "normal", "tip", (0.1, 3.0)),
}

# Person-to-person and trial-to-trial variation (radians, standard deviations).
NOISE = {"closure": 0.10, "joint": 0.06, "spread": 0.06, "thumb": 0.08, "coupling": 0.10}

# MANO chain index of index, middle, ring, pinky (MANO order: index, middle, pinky, ring, thumb).
_FINGER_CHAIN = {"index": 0, "middle": 1, "ring": 3, "pinky": 2}


def closure(spec: GraspSpec, grip_cm: np.ndarray) -> np.ndarray:
    """Return closure in [0, 1] (1 = tightest) for grip sizes in cm: linear over the class's range."""
    lo, hi = spec.grip_range_cm
    return np.clip((hi - grip_cm) / (hi - lo), 0.0, 1.0)


def sample_angles(feix_id: int, grip_cm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return anatomical angles (N, 15, 3) (flexion, abduction, twist) for N grasps of one class."""
    spec = SPECS[feix_id]
    n = len(grip_cm)
    c = np.clip(closure(spec, grip_cm) + rng.normal(0, NOISE["closure"], n), 0.0, 1.0)
    angles = np.zeros((n, 15, 3))
    for f, (finger, role) in enumerate(zip(("index", "middle", "ring", "pinky"), spec.roles)):
        (m0, m1), (p0, p1) = ROLES[role]
        j = 3 * _FINGER_CHAIN[finger]
        mcp = m0 + m1 * c + rng.normal(0, NOISE["joint"], n)
        pip = p0 + p1 * c + rng.normal(0, NOISE["joint"], n)
        coupling = DIP_COUPLING * (1 + rng.normal(0, NOISE["coupling"], n))
        dip = coupling * pip + rng.normal(0, NOISE["joint"] / 2, n)
        angles[:, j, 0], angles[:, j + 1, 0], angles[:, j + 2, 0] = mcp, pip, dip
        angles[:, j, 1] = SPREADS[spec.spread][f] + rng.normal(0, NOISE["spread"], n)
        angles[:, j : j + 3, 2] = rng.normal(0, NOISE["joint"] / 2, (n, 3))
    t = THUMBS[spec.thumb]
    thumb = [b + g * c + rng.normal(0, NOISE["thumb"], n) for b, g in t]
    angles[:, 12, 0], angles[:, 12, 1], angles[:, 12, 2] = thumb[0], thumb[1], thumb[2]
    angles[:, 13, 0], angles[:, 14, 0] = thumb[3], thumb[4]
    angles[:, 13:15, 1:] = rng.normal(0, NOISE["joint"] / 2, (n, 2, 2))
    limits = skeleton.joint_limits()
    return np.clip(angles, limits[..., 0], limits[..., 1])


def sample_poses(feix_id: int, grip_cm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return right-hand MANO hand_pose (N, 45) for N grasps of class feix_id around objects of grip_cm."""
    return angles_to_pose(sample_angles(feix_id, grip_cm, rng))
