"""The license-free built-in hand: rest-pose joints, anatomical joint axes and joint limits.

Conventions (the same as MANO's, so MANO poses bend this hand the same way):
- Right hand, model frame: fingers point along -x from the wrist, the palm faces -y, the thumb lies on +z.
- Every rest-pose joint frame is aligned with the model frame; zero pose = flat open hand.
- For the four fingers a positive rotation about +z flexes toward the palm, +y spreads toward the thumb.
- Left hand = right hand mirrored in x; its axis-angle parameters mirror as (x, -y, -z).

Rest positions are built from adult anatomical proportions, not from any MANO file:
phalanx lengths after Alexander & Viktor (2010) and Buryanov & Kotiuk (2010) (mean adult lengths of
proximal / middle / distal phalanges, distal lengths extended by ~4 mm of fingertip pulp), metacarpal
lengths and MCP breadth after Garrett (1971) / Greiner (1991) anthropometry (hand breadth ~8.5 cm, wrist
crease to middle MCP ~9.5 cm). All lengths in metres for a mid-sized adult hand (scale = 1).
"""

from __future__ import annotations

import numpy as np

# MANO joint order of the 15 finger joints, each with 3 axis-angle values.
MANO_JOINT_NAMES = (
    "index1",
    "index2",
    "index3",
    "middle1",
    "middle2",
    "middle3",
    "pinky1",
    "pinky2",
    "pinky3",
    "ring1",
    "ring2",
    "ring3",
    "thumb1",
    "thumb2",
    "thumb3",
)
FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # MANO chain order

# The 21 output joints, OpenPose / HOGraspNet order.
OPENPOSE_JOINT_NAMES = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_mcp",
    "index_pip",
    "index_dip",
    "index_tip",
    "middle_mcp",
    "middle_pip",
    "middle_dip",
    "middle_tip",
    "ring_mcp",
    "ring_pip",
    "ring_dip",
    "ring_tip",
    "pinky_mcp",
    "pinky_pip",
    "pinky_dip",
    "pinky_tip",
)
# For each OpenPose joint: index into [wrist, 15 MANO joints, 5 tips in MANO finger order].
OPENPOSE_FROM_MANO = (0, 13, 14, 15, 20, 1, 2, 3, 16, 4, 5, 6, 17, 10, 11, 12, 19, 7, 8, 9, 18)
# Bones as (parent, child) in OpenPose order, finger by finger (thumb first).
BONES = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (0, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (0, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (0, 13),
    (13, 14),
    (14, 15),
    (15, 16),
    (0, 17),
    (17, 18),
    (18, 19),
    (19, 20),
)
# Which OpenPose joints belong to which finger (tips included), used for occlusion by finger.
OPENPOSE_FINGER_JOINTS = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}
# For each of the 15 MANO finger joints, the OpenPose joint at the end of the bone it rotates: its rotation
# shows in the image only where that joint is seen.
MANO_BONE_END = tuple(
    OPENPOSE_FROM_MANO.index(k + 2) if k % 3 != 2 else OPENPOSE_FROM_MANO.index(16 + k // 3) for k in range(15)
)


def seen_rotations(visible):
    """Return (B, 45) bool from visible (B, 21) joints (torch or numpy): each finger rotation's 3 values are
    seen where the joint at the end of the bone it rotates is seen (MANO_BONE_END)."""
    ends = visible[:, list(MANO_BONE_END)]
    return ends.repeat_interleave(3, 1) if hasattr(ends, "repeat_interleave") else ends.repeat(3, axis=1)


# Parent of each of the 16 MANO joints (wrist = -1).
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Base joint (MCP, or CMC for the thumb) in the right-hand model frame, wrist at the origin, metres.
_BASE = {
    "index": (-0.0900, 0.0000, 0.0245),
    "middle": (-0.0930, 0.0000, 0.0030),
    "ring": (-0.0870, -0.0010, -0.0160),
    "pinky": (-0.0780, -0.0030, -0.0330),
    "thumb": (-0.0250, -0.0110, 0.0250),
}
# Bone lengths base->2->3->tip (proximal, middle, distal+pulp; thumb: metacarpal, proximal, distal+pulp).
_LENGTHS = {
    "index": (0.0395, 0.0230, 0.0205),
    "middle": (0.0445, 0.0275, 0.0215),
    "ring": (0.0415, 0.0265, 0.0210),
    "pinky": (0.0330, 0.0190, 0.0195),
    "thumb": (0.0450, 0.0310, 0.0265),
}
# Rest direction of each finger (flat hand: slight natural spread; thumb abducted ~40 deg from the index).
_DIRECTIONS = {
    "index": (-1.0, 0.0, 0.06),
    "middle": (-1.0, 0.0, 0.0),
    "ring": (-1.0, 0.0, -0.06),
    "pinky": (-1.0, 0.0, -0.13),
    "thumb": (-0.72, -0.22, 0.66),
}


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def rest_joints() -> tuple[np.ndarray, np.ndarray]:
    """Return the right hand's rest pose: (16, 3) MANO-order joints and (5, 3) fingertips, metres."""
    joints = np.zeros((16, 3))
    tips = np.zeros((5, 3))
    for f, finger in enumerate(FINGERS):
        d = _unit(_DIRECTIONS[finger])
        p = np.asarray(_BASE[finger], dtype=np.float64)
        chain = [p]
        for length in _LENGTHS[finger]:
            p = p + length * d
            chain.append(p)
        joints[1 + 3 * f : 4 + 3 * f] = chain[:3]
        tips[f] = chain[3]
    return joints, tips


# The directions (right-hand model frame) toward which the thumb's flexion moves its tip (the four fingers
# flex toward the palm, -y). The thumb's column is pronated against the fingers (Kapandji, The Physiology
# of the Joints, vol. 1: its pulp faces the fingers' pulps), so its joints do not flex as theirs do:
# - at the carpometacarpal joint, flexion moves the thumb in front of the palm and across it (opposition);
# - at the metacarpophalangeal and interphalangeal joints, flexion folds the thumb across the palm in the
#   palm's own plane, toward the little finger's side. Chosen on the validation half of the real grasps'
#   objects among moving the tip toward (0, -a, -1) for a = 1.25 (the carpometacarpal joint's direction),
#   0.8, 0.4 and 0, where the fewest of those grasps lie outside the joint limits and the generator's
#   grasps come nearest them (benchmarks/grasp_realism.py --objects validation prints both).
FLEX_TOWARD = {"thumb_cmc": (0.0, -1.0, -0.8), "thumb_distal": (0.0, 0.0, -1.0)}


def _axes(direction, toward) -> np.ndarray:
    """Return (3, 3) rows flexion, abduction, twist of a bone along `direction` that flexes toward `toward`."""
    d = _unit(direction)
    n = _unit(np.asarray(toward, float) - np.dot(toward, d) * d)
    flex = _unit(np.cross(d, n))  # a rotation about flex moves d toward n
    abduct = _unit(np.cross(d, flex))
    twist = _unit(np.cross(flex, abduct))  # along the bone
    return np.stack([flex, abduct, twist])


# Per-joint limits in anatomical angles (flexion, abduction, twist), radians, for the right hand.
# Finger ranges after the active ranges of motion in Hume et al. (1990) and Lee & Jung (2015), widened a
# little for passive motion; used for plausibility checks and to keep synthesized poses in range.
_FINGER_LIMITS = {
    1: ((-0.50, 1.70), (-0.45, 0.45), (-0.30, 0.30)),  # MCP
    2: ((-0.10, 1.95), (-0.15, 0.15), (-0.25, 0.25)),  # PIP
    3: ((-0.35, 1.60), (-0.15, 0.15), (-0.25, 0.25)),  # DIP
}
_THUMB_LIMITS = {
    1: ((-0.70, 1.30), (-0.90, 0.90), (-0.90, 0.90)),  # CMC
    2: ((-0.40, 1.20), (-0.35, 0.35), (-0.50, 0.50)),  # MCP
    3: ((-0.45, 1.60), (-0.25, 0.25), (-0.35, 0.35)),  # IP
}


def joint_limits() -> np.ndarray:
    """Return (15, 3, 2) lower/upper limits of (flexion, abduction, twist) per MANO joint, radians."""
    limits = np.zeros((15, 3, 2))
    for f, finger in enumerate(FINGERS):
        table = _THUMB_LIMITS if finger == "thumb" else _FINGER_LIMITS
        for k in (1, 2, 3):
            limits[3 * f + k - 1] = np.asarray(table[k])
    return limits


def joint_axes() -> np.ndarray:
    """Return (15, 3, 3) anatomical axes per MANO joint: rows flexion, abduction, twist, unit vectors in the
    right-hand model frame. A joint's axis-angle vector r splits into anatomical angles as `axes @ r`; a pose
    is built from angles as `axes.T @ angles`. For the four fingers the rows are exactly (z, y, -x); the
    thumb's follow its rest direction, its carpometacarpal joint and its two others each flexing toward its
    own FLEX_TOWARD."""
    finger = np.stack([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # flexion toward the palm
    thumb = [_axes(_DIRECTIONS["thumb"], FLEX_TOWARD[k]) for k in ("thumb_cmc", "thumb_distal", "thumb_distal")]
    return np.stack([finger] * 12 + thumb)


def angles_to_pose(angles: np.ndarray) -> np.ndarray:
    """Return right-hand MANO axis-angle (N, 45) from anatomical angles (N, 15, 3)."""
    return np.einsum("njk,jkd->njd", angles, joint_axes()).reshape(len(angles), 45)


def pose_to_angles(pose: np.ndarray) -> np.ndarray:
    """Return anatomical angles (N, 15, 3) of right-hand MANO axis-angle (N, 45) (inverse of angles_to_pose)."""
    return np.einsum("njd,jkd->njk", pose.reshape(len(pose), 15, 3), joint_axes())


def limit_violations(pose: np.ndarray, tolerance: float = 1e-4) -> np.ndarray:
    """Return (N,) how many anatomical angles of right-hand poses (N, 45) lie outside the joint limits by more
    than `tolerance` rad (a joint closed onto its limit sits on it; float32 storage moves it by ~1e-7)."""
    angles, limits = pose_to_angles(pose), joint_limits()
    return ((angles < limits[..., 0] - tolerance) | (angles > limits[..., 1] + tolerance)).sum((-1, -2))
