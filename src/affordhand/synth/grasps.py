"""Grasps made by contact: for each of the 28 HOGraspNet classes, an object primitive placed against the hand
as the class's opposition says, and fingers closed onto it until they touch (synth/contact.py).

For each grasp:
1. **The object** becomes one primitive of its catalogue size and shape (data/objects.py): a cylinder round
   its grip (the dimension the hand closes around) for wraps, a sphere for spherical grasps, a flat disc or
   plate for disk, extension and palmar grasps, a small sphere, block or rod for pinches, a thin plate or rod
   at the index's side for lateral grasps. Its size varies by OBJECT_SIZE_SD about the catalogue's.
2. **The placement** follows Feix et al.'s (2016) opposition: palm opposition puts the primitive against the
   palm's face (a handle runs obliquely across the palm, from the hypothenar toward the index's base, as in
   the power grip that Napier (1956) described); pad opposition puts it in front of the fingers' pads with
   the palm free (a gap); side opposition puts it against the radial side of the bent index. Where the hand
   is in its way (the opposed thumb's metacarpal, in palm opposition), it slides along the palm toward the
   little finger's side (WRAP_PUSHES) until clear.
3. **The fingers** that the class's virtual fingers name close onto it, every joint at the rate of the
   finger's role (wrap and pad: mostly at the MCP; tip: mostly at the PIP), the DIP coupled to the PIP by
   DIP_COUPLING. The other fingers go to their role's posture (extended, relaxed, curled) and stop early
   where they meet the object.
4. **The thumb** (in palm opposition already opposed before the object came, THUMB_FIRST) is tried at
   THUMB_FLEXIONS x THUMB_CANDIDATES carpometacarpal postures (flexion, and
   abduction within the class's range: abducted in opposition, adducted along the index), each closed onto
   the object; the one whose contact best opposes the fingers' (the object's normals at the two contacts
   most nearly opposite: the simplest force-closure criterion) is kept; in palm opposition, where the palm
   opposes the fingers, the one that reaches furthest round the object's far side.
5. **Rejected**: a grasp in which a segment lies deeper than TOUCH_M inside the object, the palm's face
   cuts into it, or the thumb or no finger of the virtual fingers touches it. Rejected grasps are drawn
   again with other sizes and placements (at most MAX_TRIES rounds).

Person to person the hand's size (HAND_SIZE_SD) and each finger's length (FINGER_LENGTH_SD) vary, after the
coefficient of variation of hand and finger lengths in adult anthropometry (Greiner 1991: about 5 % for hand
length, 3-4 % for finger segments relative to it). Each joint's rate and each pre-shape get small noise
(RATE_SD, PRESHAPE_SD): people close their hands in slightly different ways.

Nothing here is fitted to recorded grasps: no pose, mean or distribution comes from them. A few settings were
chosen, as on a validation set, on half of the real grasps' objects (`benchmarks/grasp_realism.py --objects
validation`): the fingers' ulnar inclination, their adducted "normal" spread, the wrap's PIP rate, the DIP
coupling, the thumb's rates, flexion presets and abduction ranges, whether the thumb opposes before the
object comes, the direction in which the thumb's distal joints flex (hand/skeleton.py: FLEX_TOWARD) and how
far from the palm the extension grasps hold a flat object; realism is reported on the other half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affordhand.data.objects import ObjectSpec
from affordhand.data.taxonomy import GRASPS
from affordhand.hand import skeleton
from affordhand.hand.skeleton import angles_to_pose, pose_to_angles  # noqa: F401 (re-exported)
from affordhand.synth.contact import (
    BOX,
    CYLINDER,
    SPHERE,
    TOUCH_M,
    HandShape,
    Objects,
    close_chains,
    object_distance,
    object_normal,
    rotation_about,
    segment_distances,
    support,
)

# The DIP's closing rate against the PIP's. Free motion couples them at about 2/3 (Rijpkema & Girard 1991);
# chosen on the validation half of the real grasps' objects among 0.67, 0.4, 0.2 and 0.1, as were the wrap's
# PIP rate (among 1.0, 0.6, 0.4) and the thumb's settings below (benchmarks/grasp_realism.py --objects
# validation).
DIP_COUPLING = 0.1
# Finger roles: (pre-shape flexion of MCP, PIP, DIP), (closing rates), whether the finger closes onto the
# object (a virtual finger) or only toward its pre-shape's own target, and that target (rad).
ROLES = {
    "wrap": ((0.10, 0.10, 0.05), (1.0, 0.4, None), True, None),
    "pad": ((0.15, 0.10, 0.05), (1.0, 0.5, None), True, None),
    "tip": ((0.20, 0.30, 0.15), (0.6, 1.0, None), True, None),
    "straight": ((0.05, 0.05, 0.02), (1.0, 0.12, None), True, None),
    "hook": ((0.10, 0.20, 0.10), (0.3, 1.0, None), True, None),
    "extended": ((0.0, 0.0, 0.0), (1.0, 1.0, None), False, (0.05, 0.05, 0.03)),
    "relaxed": ((0.0, 0.0, 0.0), (1.0, 1.0, None), False, (0.35, 0.45, 0.30)),
    "curled": ((0.0, 0.0, 0.0), (1.0, 1.0, None), False, (1.30, 1.60, 1.05)),
    "side": ((0.0, 0.0, 0.0), (1.0, 1.0, None), False, (0.80, 1.00, 0.55)),
}
# Spread (abduction, rad) of index, middle, ring, pinky; positive toward the thumb. A grasping hand holds its
# fingers together (adducted, Napier 1956), so "normal" is "together" unless a class spreads them.
SPREADS = {
    "together": (-0.06, 0.0, 0.05, 0.10),
    "normal": (-0.06, 0.0, 0.05, 0.10),
    "wide": (0.20, 0.02, -0.12, -0.25),
    "scissor": (0.20, -0.15, 0.0, 0.0),
}
# Fingers incline toward the ulnar side in grasping (Napier 1956: "in the power grip the fingers are flexed
# and laterally rotated and inclined towards the ulnar side of the hand"), rad of MCP abduction; chosen on
# the validation half of the real grasps' objects (benchmarks/grasp_realism.py) among 0, 0.1, 0.15, 0.2.
ULNAR_INCLINATION = 0.15
# Thumb carpometacarpal abduction tried (rad; positive: in front of the palm, negative: toward the index in
# the palm's plane), per the class's thumb (Feix: abducted, opposed in front of the palm, or adducted, lying
# along the index near the palm's plane), and its closing rates (CMC flexion, MCP, IP). Ranges chosen on the
# validation half among (-0.45, 0.75) / (-0.8, -0.15), (0.2, 0.9) / (-0.8, -0.15) and (0.2, 0.9) / (-0.3, 0.3).
THUMB_RANGES = {"abducted": (0.2, 0.9), "adducted": (-0.3, 0.3)}
THUMB_CANDIDATES = 4
# CMC flexion presets tried (rad), chosen among (-0.4, 0.2, 0.8), (0, 0.4, 0.8), (0.3, 0.6, 0.9) and
# (-0.2, 0.2, 0.6); and the closing rates, among (1, .5, .1), (1, 1, .2), (.5, 1, .1), (.3, 1, .3) and
# (.2, 1, .5): the thumb closes mostly by folding at the MCP across the palm (hand/skeleton.py: FLEX_TOWARD),
# and the interphalangeal joint stays nearly straight, as in the real grasps.
THUMB_FLEXIONS = (0.0, 0.4, 0.8)
THUMB_RATES = (0.5, 1.0, 0.1)
THUMB_PRESHAPE = (-0.60, 0.0, 0.0)  # CMC flexion, MCP, IP: the thumb starts open, in the palm's plane
# In palm opposition the thumb takes an opposed carpometacarpal posture (flexion, abduction ranges, rad) before
# the object comes, so the object rests against the palm and the thenar eminence instead of cutting into the
# thumb's metacarpal (with the open pre-shape, 7 % of grasps failed every round for that); the thumb then
# closes from postures about it (THUMB_AROUND: flexion up to this much below, abduction either side). Chosen
# on the validation half against the open pre-shape (THUMB_FIRST False); the adducted abduction range, with the
# thumb's MCP and IP axes of hand/skeleton.py: FLEX_TOWARD, among (-0.6, -0.1) and (-0.3, 0.3).
THUMB_FIRST = True
THUMB_FIRST_OPPOSITIONS = ("palm",)
THUMB_OPPOSED = {"abducted": ((0.3, 0.8), (0.3, 0.8)), "adducted": ((0.1, 0.5), (-0.3, 0.3))}
THUMB_AROUND = (0.4, 0.2)
# The directions an object in palm opposition is moved until the hand is clear of it, round by round: first
# along the palm toward the little finger's side and the fingers, off the opposed thumb's metacarpal, so it
# stays against the palm; where that fails (a thin handle the thumb then cannot reach), off the palm as well.
# Chosen on the validation half among straight off the palm (0, -1, 0), (-0.6, -0.8, 0), (-0.4, -0.8, -0.4),
# (-0.7, -0.1, -0.7) and (-0.4, -0.2, -0.9) alone; straight off the palm, a thin handle ends up held by the
# fingers' middle phalanges and the hand's aperture no longer follows the object's size.
WRAP_PUSHES = ((-0.4, -0.2, -0.9), (-0.4, -0.8, -0.4))

# Where a wrapped handle touches the palm along the hand (x, m at scale 1: the wrist at 0, the finger bases
# at about -0.09): under the palm's middle, toward the finger bases.
WRAP_PALM_X = (-0.075, -0.05)
OBJECT_SIZE_SD = 0.12  # relative
HAND_SIZE_SD = 0.05
FINGER_LENGTH_SD = 0.035
RATE_SD = 0.12  # relative, per joint
PRESHAPE_SD = 0.05  # rad
MAX_TRIES = 12
FINGERS = ("index", "middle", "ring", "pinky")
_CHAIN = {"index": 0, "middle": 1, "pinky": 2, "ring": 3, "thumb": 4}  # MANO finger order


@dataclass(frozen=True)
class GraspSpec:
    """How a class shapes the hand: the object's primitive (`family`), the roles of index, middle, ring and
    pinky, their spread, whether the thumb closes onto the object, and the palm's gap range (m)."""

    family: str  # wrap | sphere | disk | plate | pinch | side | between
    roles: tuple[str, str, str, str]
    spread: str
    thumb_closes: bool = True
    gap_m: tuple[float, float] = (0.0, 0.0)


# How far from the palm a flat object held by the straight fingers' pads lies (extension type and parallel
# extension, m): chosen on the validation half among (0.02, 0.06), (0.03, 0.07), (0.04, 0.08) and (0.05, 0.09).
EXTENSION_GAP_M = (0.04, 0.08)
SPECS: dict[int, GraspSpec] = {
    1: GraspSpec("wrap", ("wrap",) * 4, "normal"),
    2: GraspSpec("wrap", ("wrap",) * 4, "together"),
    3: GraspSpec("wrap", ("wrap",) * 4, "normal"),
    4: GraspSpec("wrap", ("wrap",) * 4, "together"),
    5: GraspSpec("wrap", ("wrap", "wrap", "relaxed", "relaxed"), "normal"),
    7: GraspSpec("pinch", ("pad", "pad", "pad", "relaxed"), "normal", gap_m=(0.015, 0.04)),
    9: GraspSpec("pinch", ("pad", "relaxed", "relaxed", "relaxed"), "normal", gap_m=(0.01, 0.04)),
    10: GraspSpec("disk", ("wrap",) * 4, "wide"),
    11: GraspSpec("sphere", ("wrap",) * 4, "wide"),
    12: GraspSpec("disk", ("pad",) * 4, "wide", gap_m=(0.01, 0.03)),
    13: GraspSpec("sphere", ("pad",) * 4, "wide", gap_m=(0.01, 0.03)),
    14: GraspSpec("pinch", ("pad", "pad", "curled", "curled"), "normal", gap_m=(0.015, 0.04)),
    16: GraspSpec("side", ("side", "curled", "curled", "curled"), "together"),
    17: GraspSpec("wrap", ("extended", "wrap", "wrap", "wrap"), "together"),
    18: GraspSpec("plate", ("straight",) * 4, "normal", gap_m=EXTENSION_GAP_M),
    19: GraspSpec("pinch", ("hook", "hook", "curled", "curled"), "normal", gap_m=(0.01, 0.03)),
    20: GraspSpec("side", ("side", "side", "curled", "curled"), "normal"),
    22: GraspSpec("plate", ("straight",) * 4, "together", gap_m=EXTENSION_GAP_M),
    23: GraspSpec("between", ("relaxed", "relaxed", "curled", "curled"), "scissor", thumb_closes=False),
    24: GraspSpec("pinch", ("tip", "relaxed", "relaxed", "relaxed"), "normal", gap_m=(0.02, 0.045)),
    25: GraspSpec("side", ("side", "side", "curled", "curled"), "together"),
    26: GraspSpec("sphere", ("wrap", "wrap", "wrap", "curled"), "normal", gap_m=(0.0, 0.015)),
    27: GraspSpec("sphere", ("tip", "tip", "tip", "curled"), "normal", gap_m=(0.015, 0.04)),
    28: GraspSpec("sphere", ("wrap", "wrap", "curled", "curled"), "normal", gap_m=(0.0, 0.015)),
    29: GraspSpec("side", ("side", "relaxed", "relaxed", "relaxed"), "together"),
    30: GraspSpec("plate", ("straight",) * 4, "together"),
    31: GraspSpec("pinch", ("tip", "relaxed", "relaxed", "relaxed"), "normal", gap_m=(0.01, 0.03)),
    33: GraspSpec("pinch", ("tip", "curled", "curled", "curled"), "normal", gap_m=(0.02, 0.045)),
}
# Where along the hand's breadth (z, m at scale 1) the object sits, by the virtual fingers it meets.
_BREADTH_Z = {"2": 0.022, "3": 0.005, "2-3": 0.012, "2-4": 0.004, "3-5": -0.012, "2-5": -0.004}


def _primitive(spec: GraspSpec, obj: ObjectSpec, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """Return (kind, size (3,) m at hand scale 1) of the primitive the class holds of this object."""
    dims = np.sort(np.asarray(obj.size_cm, float))[::-1] / 100  # largest first
    grip = obj.grip_cm / 100
    jitter = np.exp(rng.normal(0, OBJECT_SIZE_SD))
    shape = obj.shape
    if spec.family == "wrap":
        if "box" in shape or "cube" in shape:
            return BOX, np.array([grip / 2, grip / 2, dims[0] / 2]) * jitter
        return CYLINDER, np.array([grip / 2 * jitter, dims[0] / 2, 0.0])
    if spec.family == "sphere":
        return SPHERE, np.array([np.clip(grip, 0.02, 0.12) / 2 * jitter, 0.0, 0.0])
    if spec.family == "disk":
        return CYLINDER, np.array([np.clip(dims[0], 0.05, 0.2) / 2 * jitter, max(dims[2], 0.005) / 2, 0.0])
    if spec.family == "plate":
        return BOX, np.array([min(dims[0], 0.2) / 2, max(dims[2], 0.002) / 2 * jitter, min(dims[1], 0.15) / 2])
    if spec.family in ("side", "between"):
        if "plate" in shape or "box" in shape or "disk" in shape:
            return BOX, np.array([min(dims[1], 0.06) / 2, max(dims[2], 0.002) / 2 * jitter, min(dims[0], 0.1) / 2])
        return CYLINDER, np.array([np.clip(grip, 0.004, 0.02) / 2 * jitter, min(dims[0], 0.2) / 2, 0.0])
    # pinch: a small thing of the object's grip size, clipped to what a pinch holds
    size = np.clip(grip, 0.005, 0.06) * jitter
    if "sphere" in shape:
        return SPHERE, np.array([size / 2, 0.0, 0.0])
    if "cylinder" in shape or "stick" in shape or "handle" in shape:
        return CYLINDER, np.array([size / 2, min(dims[0], 0.15) / 2, 0.0])
    return BOX, np.array([size / 2, size / 2, min(dims[1], 0.06) / 2])


def _place(spec: GraspSpec, vf: str, kind: np.ndarray, size: np.ndarray, shape: HandShape, rng) -> Objects:
    """Return the primitives placed in each hand's frame (scaled with the hand: size is at scale 1)."""
    n = len(kind)
    s = shape.scale
    size = size * s[:, None]
    depth = shape.palm_depth
    z0 = (_BREADTH_Z[vf] + rng.normal(0, 0.004, n)) * s
    gap = rng.uniform(*spec.gap_m, n) * s
    # The extent of each primitive along the palm's normal (-y) from its centre, in its placed rotation.
    if spec.family == "wrap":
        # A handle across the palm, tilted from the transverse axis toward the index's base.
        tilt = rng.uniform(0.1, 0.6, n)
        rot = rotation_about(np.array([0.0, 1.0, 0.0]), tilt)  # local z = the handle's axis
        x0 = rng.uniform(*WRAP_PALM_X, n) * s
    elif spec.family in ("sphere", "pinch"):
        roll = rng.uniform(-0.4, 0.4, n)
        rot = rotation_about(np.array([0.0, 1.0, 0.0]), roll + np.pi / 2)  # rods lie along the fingers' path
        reach = (-0.07, -0.05) if spec.gap_m[1] <= 0.015 else (-0.12, -0.095)
        x0 = rng.uniform(*reach, n) * s
    elif spec.family == "disk":
        rot = rotation_about(np.array([1.0, 0.0, 0.0]), np.full(n, np.pi / 2) + rng.normal(0, 0.15, n))
        x0 = rng.uniform(-0.075, -0.05, n) * s
    elif spec.family == "plate":
        rot = rotation_about(np.array([0.0, 1.0, 0.0]), rng.normal(0, 0.2, n))  # local y = the palm's normal
        x0 = -size[:, 0] + rng.uniform(-0.09, -0.06, n) * s  # the plate's near edge near the finger bases
    else:  # side, between: placed against the fingers later
        rot = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        x0 = np.zeros(n)
    placed = Objects(kind.copy(), np.zeros((n, 3)), rot, size)
    half = support(placed, np.array([0.0, -1.0, 0.0]))  # the primitive's reach toward the palm
    placed.centre = np.stack([x0, -depth - gap - half, z0], 1)
    return placed


def _finger_setup(spec: GraspSpec, n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Return (pre-shape angles (N, 15, 3), rates (N, 15, 3), targets (N, 15, 3), chains that must touch)."""
    limits = skeleton.joint_limits()
    angles = np.zeros((n, 15, 3))
    rates = np.zeros((n, 15, 3))
    target = np.broadcast_to(limits[..., 1], (n, 15, 3)).copy()
    touching = []
    for f, (finger, role) in enumerate(zip(FINGERS, spec.roles)):
        pre, rate, closes, goal = ROLES[role]
        j = 3 * _CHAIN[finger]
        angles[:, j : j + 3, 0] = np.asarray(pre) + rng.normal(0, PRESHAPE_SD, (n, 3)) * (np.asarray(pre) > 0)
        spread = SPREADS[spec.spread][f] - ULNAR_INCLINATION
        angles[:, j : j + 3, 1] = (spread + rng.normal(0, PRESHAPE_SD, (n, 1))) * [1, 0, 0]
        rate = (rate[0], rate[1], DIP_COUPLING * rate[1])  # the DIP follows the PIP
        rates[:, j : j + 3, 0] = np.asarray(rate) * np.exp(rng.normal(0, RATE_SD, (n, 3)))
        target[:, j : j + 3, 1:] = angles[:, j : j + 3, 1:]
        if closes:
            touching.append(_CHAIN[finger])
        else:
            target[:, j : j + 3, 0] = np.asarray(goal) + rng.normal(0, PRESHAPE_SD, (n, 3))
    return angles, rates, target, touching


def _close_thumb(thumb: str, shape, objects, angles, finger_contact_normal, rng, wrap=False, around=False):
    """Return (angles with the thumb closed, thumb clearance (N, 3)) at the best-opposing carpometacarpal
    posture of THUMB_FLEXIONS x THUMB_CANDIDATES abductions (all tried in one batch); `around`: postures
    about the thumb's own pre-shape (THUMB_AROUND) instead."""
    n = len(angles)
    lo, hi = THUMB_RANGES[thumb]
    k = len(THUMB_FLEXIONS) * THUMB_CANDIDATES
    rows = np.tile(np.arange(n), k)  # candidate-major
    flex = np.repeat(np.asarray(THUMB_FLEXIONS), THUMB_CANDIDATES * n) + rng.uniform(-0.15, 0.15, n * k)
    step = np.tile(np.repeat(np.arange(THUMB_CANDIDATES), n), len(THUMB_FLEXIONS))
    abduction = lo + (hi - lo) * (step + rng.uniform(0, 1, n * k)) / THUMB_CANDIDATES
    if around:
        df, da = THUMB_AROUND
        flex = angles[rows, 12, 0] + np.repeat(np.linspace(-df, 0, len(THUMB_FLEXIONS)), THUMB_CANDIDATES * n)
        abduction = angles[rows, 12, 1] + da * (2 * (step + rng.uniform(0, 1, n * k)) / THUMB_CANDIDATES - 1)
    twist = np.tile(rng.normal(0, PRESHAPE_SD, n), k)
    trial = angles[rows].copy()
    trial[:, 12, 0], trial[:, 12, 1], trial[:, 12, 2] = flex, abduction, twist
    trial[:, 13, 0], trial[:, 14, 0] = THUMB_PRESHAPE[1:]
    rates = np.zeros((n * k, 15, 3))
    rates[:, 12:15, 0] = np.asarray(THUMB_RATES) * np.exp(rng.normal(0, RATE_SD, (n, 3)))[rows]
    target = np.broadcast_to(skeleton.joint_limits()[..., 1], (n * k, 15, 3)).copy()
    target[:, 12, 1], target[:, 12, 2] = abduction, twist
    many, hands = objects.take(rows), shape.take(rows)
    trial, clear = close_chains(hands, many, trial, rates, target, [4])
    clear = clear[:, 0]
    pad = _contact_points(hands, trial, many, 4)
    normal = object_normal(many, pad[:, None])[:, 0]
    if wrap:  # palm opposition: the palm opposes the fingers; the thumb wraps round the far side
        score = normal[:, 1]  # -1: the object's far side from the palm
    else:
        score = np.einsum("ni,ni->n", normal, finger_contact_normal[rows])  # -1: opposite the fingers
    score = np.where(clear[:, 2] < TOUCH_M, score, np.where(clear.min(1) < TOUCH_M, score + 1.0, score + 3.0))
    score = np.where(clear.min(1) < -TOUCH_M, score + 10.0, score)  # it started inside the object
    best = score.reshape(k, n).argmin(0) * n + np.arange(n)
    return trial[best], clear[best]


def _contact_points(shape: HandShape, angles: np.ndarray, objects: Objects, chain: int) -> np.ndarray:
    """Return (N, 3) the point of a chain's distal segment axis nearest the object."""
    pts = shape.chains(angles, which=[chain])[:, 0]  # (N, 4, 3)
    t = np.linspace(0, 1, 6)
    samples = pts[:, 2:3] + t[:, None] * (pts[:, 3:4] - pts[:, 2:3])  # (N, 6, 3)
    d = object_distance(objects, samples)
    return samples[np.arange(len(pts)), d.argmin(1)]


def _against_fingers(spec: GraspSpec, objects: Objects, shape: HandShape, angles: np.ndarray, rng) -> Objects:
    """Return side / between primitives placed against the bent fingers: on the index's radial side (lateral
    grasps) or in the gap between index and middle (adduction grip)."""
    chains = shape.chains(angles)
    n = len(angles)
    radii = shape.radii
    if spec.family == "side":
        seg = 1  # the index's middle phalanx
        a, b = chains[:, 0, seg], chains[:, 0, seg + 1]
        along = (b - a) / np.linalg.norm(b - a, axis=1, keepdims=True)
        mid = a + (b - a) * rng.uniform(0.3, 0.7, n)[:, None]
        side = np.array([0.0, 0.0, 1.0])
        # Local axes: z along the finger segment (a rod's axis, a plate's length), y the radial side's normal.
        y = np.broadcast_to(side, (n, 3))
        z = along - np.einsum("ni,ni->n", along, y)[:, None] * y
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        x = np.cross(y, z)
        rot = np.stack([x, y, z], -1)
        half = np.where(objects.kind == BOX, objects.size[:, 1], objects.size[:, 0])
        centre = mid + y * (radii[:, 0, seg].mean(1) + half + 0.0005)[:, None]
        return Objects(objects.kind, centre, rot, objects.size)
    # between index and middle, through the gap along the palm's normal, at their proximal phalanges
    p_index = chains[:, 0, 0] + 0.5 * (chains[:, 0, 1] - chains[:, 0, 0])
    p_middle = chains[:, 1, 0] + 0.5 * (chains[:, 1, 1] - chains[:, 1, 0])
    centre = 0.5 * (p_index + p_middle)
    gap = np.linalg.norm(p_index - p_middle, axis=1) - radii[:, 0, 0].mean(1) - radii[:, 1, 0].mean(1)
    size = objects.size.copy()
    size[:, 2] = np.minimum(size[:, 2], 0.015)  # the part between the fingers
    if (objects.kind == BOX).any():
        size[:, 1] = np.where(objects.kind == BOX, np.minimum(size[:, 1], 0.45 * gap), size[:, 1])
    size[:, 0] = np.where(objects.kind == CYLINDER, np.minimum(size[:, 0], 0.45 * gap), size[:, 0])
    axis_y = rotation_about(np.array([1.0, 0.0, 0.0]), np.full(n, -np.pi / 2))  # local z = the palm's normal
    return Objects(objects.kind, centre, axis_y, size)


def _palm_penetrates(shape: HandShape, objects: Objects) -> np.ndarray:
    return object_distance(objects, shape.palm_points()).min(1) < -TOUCH_M


def _push_clear(objects: Objects, shape: HandShape, angles: np.ndarray, direction: np.ndarray) -> Objects:
    """Return the primitives moved along unit directions (N, 3) until no segment of the posed hands lies
    closer than TOUCH_M / 2 to them (a hand part in the way, such as the thenar eminence, holds them off)."""
    chains = shape.chains(angles)
    for _ in range(4):
        lack = TOUCH_M / 2 - segment_distances(objects, chains, shape.radii).min((1, 2))
        if (lack <= 1e-6).all():
            break
        objects.centre = objects.centre + np.maximum(lack, 0)[:, None] * direction
    return objects


def _thumb_preshape(grasp_id: int, angles: np.ndarray, rng) -> bool:
    """Set the thumb's pre-shape in angles (in place); return whether it is opposed before the object comes
    (THUMB_FIRST: the object then rests against the palm and the thumb's metacarpal, never inside them)."""
    angles[:, 12, 0], angles[:, 13, 0], angles[:, 14, 0] = THUMB_PRESHAPE
    angles[:, 12, 1] = np.mean(THUMB_RANGES[GRASPS[grasp_id].thumb])
    opposed = THUMB_FIRST and GRASPS[grasp_id].opposition in THUMB_FIRST_OPPOSITIONS
    if opposed:
        flex, abd = THUMB_OPPOSED[GRASPS[grasp_id].thumb]
        angles[:, 12, 0], angles[:, 12, 1] = rng.uniform(*flex, len(angles)), rng.uniform(*abd, len(angles))
    return opposed


def _finger_normal(shape: HandShape, angles: np.ndarray, placed: Objects, touching: list[int]) -> np.ndarray:
    """Return the fingers' contact normal (N, 3): the mean object normal at the touching fingers' nearest
    points, unit length."""
    normals = [object_normal(placed, _contact_points(shape, angles, placed, c)[:, None])[:, 0] for c in touching]
    normal = np.mean(normals, 0)
    return normal / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)


def _attempt(grasp_id: int, objects: list[ObjectSpec], rng: np.random.Generator, round_: int = 0):
    """Return (angles (N, 15, 3), ok (N,)) for one round of grasps of class grasp_id on these objects."""
    spec = SPECS[grasp_id]
    n = len(objects)
    shape = HandShape(
        lengths=np.exp(rng.normal(0, FINGER_LENGTH_SD, (n, 5))), scale=np.exp(rng.normal(0, HAND_SIZE_SD, n))
    )
    prims = [_primitive(spec, o, rng) for o in objects]
    kind = np.array([p[0] for p in prims])
    size = np.stack([p[1] for p in prims])
    placed = _place(spec, GRASPS[grasp_id].virtual_fingers, kind, size, shape, rng)
    angles, rates, target, touching = _finger_setup(spec, n, rng)
    opposed = _thumb_preshape(grasp_id, angles, rng)
    if spec.family == "between":
        target[:, 0:3, 0] = angles[:, 0:3, 0] = ROLES["relaxed"][3]
        target[:, 3:6, 0] = angles[:, 3:6, 0] = ROLES["relaxed"][3]
    if spec.family in ("side", "between"):
        # The fingers take their posture first; the object is then put against them.
        free = Objects(placed.kind, np.tile([[10.0, 10.0, 10.0]], (n, 1)), placed.rotation, placed.size)
        angles, _ = close_chains(shape, free, angles, rates, target, [0, 1, 2, 3])
        placed = _against_fingers(spec, placed, shape, angles, rng)
        away = placed.rotation[:, :, 1] if spec.family == "side" else np.tile([0.0, -1.0, 0.0], (n, 1))
        placed = _push_clear(placed, shape, angles, away)
        if spec.family == "between":
            # Index and middle adduct onto the object between them.
            rates = np.zeros_like(rates)
            rates[:, 0, 1], rates[:, 3, 1] = -1.0, 1.0
            target = angles.copy()
            target[:, 0, 1], target[:, 3, 1] = -0.45, 0.45
            angles, _ = close_chains(shape, placed, angles, rates, target, [0, 1])
            touching = [0, 1]
        else:
            touching = [0]
    else:
        away = np.asarray(WRAP_PUSHES[round_ % len(WRAP_PUSHES)] if opposed else (0.0, -1.0, 0.0), float)
        placed = _push_clear(placed, shape, angles, np.tile(away / np.linalg.norm(away), (n, 1)))
        angles, _ = close_chains(shape, placed, angles, rates, target, [0, 1, 2, 3])
    chains = shape.chains(angles)
    clear = segment_distances(placed, chains[:, :4], shape.radii[:, :4])  # (N, 4, 3)
    finger_normal = _finger_normal(shape, angles, placed, touching)
    if spec.thumb_closes:
        wrap = GRASPS[grasp_id].opposition == "palm"
        angles, thumb_clear = _close_thumb(
            GRASPS[grasp_id].thumb, shape, placed, angles, finger_normal, rng, wrap, around=opposed
        )
        thumb_ok = thumb_clear.min(1) < TOUCH_M
    else:
        angles[:, 12, 0], angles[:, 12, 1], angles[:, 13, 0], angles[:, 14, 0] = 0.3, -0.5, 0.2, 0.2
        angles[:, 12:15, 0] += rng.normal(0, PRESHAPE_SD, (n, 3))
        thumb_ok = np.ones(n, bool)
    final = segment_distances(placed, shape.chains(angles), shape.radii)  # (N, 5, 3)
    touch_any = (clear[:, touching] < TOUCH_M).any(-1).any(-1)
    ok = thumb_ok & touch_any & (final.min((1, 2)) >= -TOUCH_M) & ~_palm_penetrates(shape, placed)
    limits = skeleton.joint_limits()
    ok &= ((angles >= limits[..., 0] - 1e-9) & (angles <= limits[..., 1] + 1e-9)).all((1, 2))
    return angles, ok, placed, shape


def sample_grasps(grasp_id: int, objects: list[ObjectSpec], rng: np.random.Generator) -> dict:
    """Return grasps of class grasp_id, one per catalogue object: `angles` (N, 15, 3) anatomical, `pose` (N, 45)
    right-hand MANO axis-angle, `ok` (N,) whether it passed (a grasp that failed MAX_TRIES rounds keeps its
    last try), and the primitive (`objects`, contact.Objects) and the hand (`hands`, contact.HandShape) each
    grasp was made on."""
    n = len(objects)
    angles, ok = np.zeros((n, 15, 3)), np.zeros(n, bool)
    placed = Objects(np.zeros(n, int), np.zeros((n, 3)), np.zeros((n, 3, 3)), np.zeros((n, 3)))
    hands = HandShape(np.ones((n, 5)), np.ones(n))
    todo = np.arange(n)
    for round_ in range(MAX_TRIES):
        got, good, prims, shape = _attempt(grasp_id, [objects[i] for i in todo], rng, round_)
        fill = good | ~ok[todo]
        idx = todo[fill]
        angles[idx], ok[idx] = got[fill], good[fill]
        placed.kind[idx], placed.centre[idx] = prims.kind[fill], prims.centre[fill]
        placed.rotation[idx], placed.size[idx] = prims.rotation[fill], prims.size[fill]
        hands.scale[idx], hands.offsets[idx] = shape.scale[fill], shape.offsets[fill]
        hands.radii[idx], hands.palm_depth[idx] = shape.radii[fill], shape.palm_depth[fill]
        todo = todo[~good]
        if not len(todo):
            break
    return {"angles": angles, "pose": angles_to_pose(angles), "ok": ok, "objects": placed, "hands": hands}


def sample_poses(grasp_id: int, objects: list[ObjectSpec], rng: np.random.Generator) -> np.ndarray:
    """Return right-hand MANO hand_pose (N, 45) for grasps of class grasp_id, one per catalogue object."""
    return sample_grasps(grasp_id, objects, rng)["pose"]
