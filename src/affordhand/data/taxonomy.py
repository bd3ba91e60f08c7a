"""The 28 grasp classes that HOGraspNet labels, with their attributes from the GRASP taxonomy (and the five
other Feix classes, which other data sets such as YCB-Affordance label).

Source: T. Feix, J. Romero, H.-B. Schmiedmayer, A. M. Dollar, D. Kragic, "The GRASP Taxonomy of Human
Grasp Types", IEEE Trans. Human-Machine Systems 46(1), 2016 (Fig. 3: type, opposition, thumb position and
virtual fingers of each grasp). HOGraspNet (Cho et al., ECCV 2024) uses 28 of its 33 classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Grasp:
    """One grasp class: Feix id, name, power/intermediate/precision, opposition, thumb, virtual fingers."""

    feix_id: int
    name: str
    kind: str  # power | intermediate | precision
    opposition: str  # palm | pad | side
    thumb: str  # abducted | adducted
    virtual_fingers: str  # fingers opposing the thumb or palm (2 = index ... 5 = little)
    definition: str


_TABLE = (
    (1, "Large Diameter", "power", "palm", "abducted", "2-5", "whole hand wraps a large cylinder, thumb around it"),
    (2, "Small Diameter", "power", "palm", "abducted", "2-5", "whole hand wraps a thin cylinder tightly"),
    (3, "Medium Wrap", "power", "palm", "abducted", "2-5", "fingers wrap a medium cylinder, thumb around it"),
    (4, "Adducted Thumb", "power", "palm", "adducted", "2-5", "fingers wrap a handle, thumb lies along the side"),
    (5, "Light Tool", "power", "palm", "adducted", "2-5", "loose wrap of a light handle, thumb adducted"),
    (7, "Prismatic 3 Finger", "precision", "pad", "abducted", "2-4", "thumb opposes index, middle and ring pads"),
    (9, "Palmar Pinch", "precision", "pad", "abducted", "2", "thumb pad against index pad, fingers extended"),
    (10, "Power Disk", "power", "palm", "abducted", "2-5", "palm and spread fingers around a disk's rim"),
    (11, "Power Sphere", "power", "palm", "abducted", "2-5", "palm and spread fingers around a ball"),
    (12, "Precision Disk", "precision", "pad", "abducted", "2-5", "finger pads around a disk, palm free"),
    (13, "Precision Sphere", "precision", "pad", "abducted", "2-5", "finger pads around a ball, palm free"),
    (14, "Tripod", "precision", "pad", "abducted", "2-3", "thumb, index and middle pads hold a small object"),
    (16, "Lateral", "intermediate", "side", "adducted", "2", "thumb pad presses on the side of the index"),
    (17, "Index Finger Extension", "power", "palm", "adducted", "3-5", "handle wrapped, index stretched along it"),
    (18, "Extension Type", "power", "pad", "abducted", "2-5", "flat object between thumb and straight fingers"),
    (19, "Distal Type", "power", "pad", "abducted", "2-5", "scissor-like grip, fingertips in loops"),
    (20, "Writing Tripod", "precision", "side", "abducted", "3", "pen held by thumb, index tip and middle side"),
    (22, "Parallel Extension", "precision", "pad", "adducted", "2-5", "thumb and straight fingers press a flat object"),
    (23, "Adduction Grip", "intermediate", "side", "abducted", "2", "object held between index and middle sides"),
    (24, "Tip Pinch", "precision", "pad", "abducted", "2", "thumb tip against index tip"),
    (25, "Lateral Tripod", "intermediate", "side", "adducted", "3", "thumb, index and side of middle finger"),
    (26, "Sphere 4 Finger", "power", "pad", "abducted", "2-4", "ball held by thumb and three fingers"),
    (27, "Quadpod", "precision", "pad", "abducted", "2-4", "thumb and three fingertips around a small object"),
    (28, "Sphere 3 Finger", "power", "pad", "abducted", "2-3", "ball held by thumb, index and middle"),
    (29, "Stick", "intermediate", "side", "adducted", "2", "thin stick between thumb and side of index"),
    (30, "Palmar", "power", "palm", "adducted", "2-5", "flat object pressed on the palm by fingers"),
    (31, "Ring", "power", "pad", "abducted", "2", "thumb and index form a ring around a handle"),
    (33, "Inferior Pincer", "precision", "pad", "abducted", "2", "thumb and index tips pick a small object"),
)

# The five Feix classes that HOGraspNet leaves out (same source, same columns).
_OTHERS = (
    (6, "Prismatic 4 Finger", "precision", "pad", "abducted", "2-5", "thumb opposes four finger pads on a prism"),
    (8, "Prismatic 2 Finger", "precision", "pad", "abducted", "2-3", "thumb opposes index and middle pads"),
    (15, "Fixed Hook", "power", "palm", "adducted", "2-5", "curled fingers hook under a handle, thumb idle"),
    (21, "Tripod Variation", "intermediate", "side", "abducted", "3-4", "object between thumb, index and ring side"),
    (32, "Ventral", "intermediate", "side", "adducted", "2", "object pressed along the index by the thumb"),
)

GRASPS: dict[int, Grasp] = {row[0]: Grasp(*row) for row in _TABLE}
FEIX_GRASPS: dict[int, Grasp] = dict(sorted({**GRASPS, **{row[0]: Grasp(*row) for row in _OTHERS}}.items()))
_NUMBER_WORDS = {"two": "2", "three": "3", "four": "4", "five": "5"}
# The order in which HOGraspNet numbers its classes.
HOGRASPNET_ORDER = (
    1,
    2,
    17,
    18,
    22,
    30,
    3,
    4,
    5,
    19,
    31,
    10,
    11,
    26,
    28,
    16,
    29,
    23,
    20,
    25,
    9,
    24,
    33,
    7,
    12,
    13,
    27,
    14,
)


def _words(text: str) -> str:
    """Return text lower-cased, as single-spaced words, with number words as digits ("four" -> "4")."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return " ".join(_NUMBER_WORDS.get(w, w) for w in words)


def grasp_by_name(name: str, classes: dict[int, Grasp] = GRASPS) -> Grasp | None:
    """Return the grasp whose name matches (case, spacing, hyphens and number words ignored), or None."""
    key = _words(name).replace(" ", "")
    for grasp in classes.values():
        if _words(grasp.name).replace(" ", "") == key:
            return grasp
    return None


def grasp_in_text(text: str) -> Grasp | None:
    """Return the Feix grasp a sentence names ("... in a medium wrap grasp"): the longest name followed by
    "grasp" or "grip" ("lateral tripod" before "tripod"; "ring finger" names no grasp), or None."""
    words = f" {_words(text)} "
    named = [g for g in FEIX_GRASPS.values() if any(f" {_words(g.name)} {w} " in words for w in ("grasp", "grip"))]
    return max(named, key=lambda g: len(g.name)) if named else None


def record_grasp(record: dict) -> Grasp | None:
    """Return a record's Feix grasp: its `taxonomy_id` label, else `fields.grasp_taxonomy`, else the grasp its
    `text` names, else None."""
    tid = record.get("taxonomy_id")
    if tid is not None and int(tid) in FEIX_GRASPS:
        return FEIX_GRASPS[int(tid)]
    fields = record.get("fields")
    if isinstance(fields, dict) and isinstance(fields.get("grasp_taxonomy"), str):
        grasp = grasp_by_name(fields["grasp_taxonomy"], FEIX_GRASPS)
        if grasp is not None:
            return grasp
    text = record.get("text")
    return grasp_in_text(text) if isinstance(text, str) else None
