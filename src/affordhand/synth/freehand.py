"""Hands that hold nothing: open, relaxed, pointing, counting, OK, thumbs-up, fist, pinching the air, ...

Each gesture says, for the index, middle, ring and pinky, which posture the finger takes, and how the thumb
sits. The postures are anatomical angles (flexion of MCP, PIP, DIP, rad; hand/skeleton.py):
- `extended`: straight, slightly hyperextensible at the MCP;
- `relaxed`: the resting cascade of an unloaded hand, flexion growing from index to little finger (the
  resting posture of the hand, Kapandji, The Physiology of the Joints, vol. 1);
- `curled`: fully flexed into the palm, as in a fist (clipped to the joint limits);
- `bent`: the MCP straight, PIP and DIP flexed (a claw);
- `touch`: closed onto the thumb's tip (OK sign, pinching the air): made with the contact rule of
  synth/contact.py, a small sphere between index and thumb that both close onto, then taken away.
Person to person: the same hand sizes, spreads and small per-joint noise as the grasps (synth/grasps.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affordhand.data.objects import ObjectSpec
from affordhand.hand import skeleton
from affordhand.hand.skeleton import angles_to_pose
from affordhand.synth.grasps import PRESHAPE_SD, SPREADS, ULNAR_INCLINATION, sample_grasps

POSTURES = {
    "extended": (0.0, 0.05, 0.02),
    "relaxed": (0.35, 0.50, 0.25),
    "curled": (1.40, 1.70, 1.10),
    "bent": (0.10, 1.20, 0.80),
}
# The resting cascade: extra flexion of each finger's relaxed posture, index to little finger (rad).
CASCADE = (0.0, 0.1, 0.2, 0.3)
# Thumb postures: CMC (flexion, abduction, twist), MCP flexion, IP flexion (rad).
THUMBS = {
    "open": ((-0.30, 0.20, 0.0), 0.05, 0.05),
    "relaxed": ((0.10, 0.00, 0.0), 0.20, 0.20),
    "across": ((0.70, -0.30, 0.0), 0.50, 0.40),  # folded over the curled fingers (fist, pointing)
    "up": ((-0.30, 0.20, 0.0), 0.0, 0.0),  # extended away from the fist (thumbs-up)
    "tucked": ((0.90, -0.45, 0.0), 0.30, 0.30),  # across the palm (showing four)
}
_FINGER_CHAIN = {"index": 0, "middle": 1, "ring": 3, "pinky": 2}  # MANO chain of each finger


@dataclass(frozen=True)
class Gesture:
    """A free-hand pose: postures of index, middle, ring, pinky; spread; thumb; phrases for its sentence."""

    name: str
    fingers: tuple[str, str, str, str]
    spread: str
    thumb: str
    phrases: tuple[str, ...]


GESTURES: dict[str, Gesture] = {
    g.name: g
    for g in (
        Gesture("open", ("extended",) * 4, "wide", "open", ("is open with its fingers spread", "opens wide")),
        Gesture("flat", ("extended",) * 4, "together", "relaxed", ("is held flat", "is flat, fingers together")),
        Gesture("relaxed", ("relaxed",) * 4, "normal", "relaxed", ("rests, holding nothing", "hangs relaxed")),
        Gesture("fist", ("curled",) * 4, "together", "across", ("makes a fist", "is clenched into a fist")),
        Gesture(
            "point",
            ("extended", "curled", "curled", "curled"),
            "normal",
            "across",
            ("points with its index finger", "points at something", "shows one finger"),
        ),
        Gesture(
            "two",
            ("extended", "extended", "curled", "curled"),
            "wide",
            "across",
            ("shows two fingers", "makes a V sign", "counts two"),
        ),
        Gesture(
            "three",
            ("extended", "extended", "extended", "curled"),
            "wide",
            "across",
            ("shows three fingers", "counts three"),
        ),
        Gesture("four", ("extended",) * 4, "wide", "tucked", ("shows four fingers", "counts four")),
        Gesture("five", ("extended",) * 4, "wide", "open", ("shows five fingers", "counts five", "waves")),
        Gesture(
            "ok",
            ("touch", "extended", "extended", "extended"),
            "normal",
            "touch",
            ("makes an OK sign", "forms a ring with thumb and index finger"),
        ),
        Gesture(
            "pinch",
            ("touch", "relaxed", "relaxed", "relaxed"),
            "normal",
            "touch",
            ("pinches the air", "brings thumb and index finger together"),
        ),
        Gesture("thumbs_up", ("curled",) * 4, "together", "up", ("gives a thumbs-up", "shows a thumbs-up")),
        Gesture(
            "call",
            ("curled", "curled", "curled", "extended"),
            "normal",
            "up",
            ("makes a call-me sign", "extends thumb and little finger"),
        ),
        Gesture(
            "rock",
            ("extended", "curled", "curled", "extended"),
            "normal",
            "across",
            ("shows index and little finger", "makes a horns sign"),
        ),
        Gesture("claw", ("bent",) * 4, "wide", "relaxed", ("makes a claw", "bends its fingers like a claw")),
    )
}
_RING = ObjectSpec(0, "air", "nothing", "sphere", (1.5, 1.5, 1.5), 1.5, ("hold",), (24,))


def sample_gestures(names: list[str], rng: np.random.Generator) -> np.ndarray:
    """Return right-hand MANO hand_pose (N, 45) for the named gestures (GESTURES keys)."""
    n = len(names)
    limits = skeleton.joint_limits()
    angles = np.zeros((n, 15, 3))
    names = np.asarray(names)
    touching = np.flatnonzero([GESTURES[g].thumb == "touch" for g in names])
    if len(touching):  # index and thumb closed onto a small sphere between them (a tip pinch), then freed
        angles[touching] = sample_grasps(24, [_RING] * len(touching), rng)["angles"]
    for i, name in enumerate(names):
        g = GESTURES[name]
        for f, (finger, posture) in enumerate(zip(("index", "middle", "ring", "pinky"), g.fingers)):
            j = 3 * _FINGER_CHAIN[finger]
            angles[i, j, 1] = SPREADS[g.spread][f] - ULNAR_INCLINATION * (posture != "extended")
            angles[i, j, 1] += rng.normal(0, PRESHAPE_SD)
            if posture == "touch":
                continue
            flex = np.asarray(POSTURES[posture]) + rng.normal(0, PRESHAPE_SD, 3)
            if posture == "relaxed":
                flex = flex + CASCADE[f]
            angles[i, j : j + 3, 0] = flex
            angles[i, j : j + 3, 2] = rng.normal(0, PRESHAPE_SD / 2, 3)
        if g.thumb != "touch":
            (cf, ca, ct), mcp, ip = THUMBS[g.thumb]
            noise = rng.normal(0, PRESHAPE_SD, 5)
            angles[i, 12] = (cf + noise[0], ca + noise[1], ct + noise[2])
            angles[i, 13, 0], angles[i, 14, 0] = mcp + noise[3], ip + noise[4]
    angles = np.clip(angles, limits[..., 0], limits[..., 1])
    return angles_to_pose(angles)


def gesture_sentence(side: str, name: str, rng: np.random.Generator) -> str:
    """Return one sentence "A <side> hand ..." for a gesture, from its phrases."""
    phrases = GESTURES[name].phrases
    return f"A {side} hand {phrases[rng.integers(len(phrases))]}."


def gesture_fields(side: str, name: str, sentence: str) -> dict:
    """Return the structured affordance fields of a hand that holds nothing (what the VLM step answers)."""
    return {
        "hand_caption": sentence[2:-1],
        "object_category": "nothing",
        "object_shape": "none",
        "object_size": "none",
        "interaction_type": "no interaction, the hand holds nothing",
        "intention": "gesture",
        "grasp_taxonomy": "none",
        "hand_pose_description": f"{side} hand, {GESTURES[name].name.replace('_', ' ')} gesture",
    }
