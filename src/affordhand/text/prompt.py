"""The structured prompt of the description step (versioned: a new wording is a new version, and the
cache keys on it) and the summary prompt."""

from __future__ import annotations

import json

from affordhand.data.taxonomy import GRASPS, HOGRASPNET_ORDER

PROMPT_VERSION = "affordhand-describe-v1"
FIELDS = (
    "hand_caption",
    "object_category",
    "object_shape",
    "object_size",
    "interaction_type",
    "intention",
    "grasp_taxonomy",
    "hand_pose_description",
)
# What the summary sees: everything but the hand pose description (as the method does).
SUMMARY_FIELDS = tuple(f for f in FIELDS if f != "hand_pose_description")


def _box(box) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in box) + "]" if box is not None else "not given"


def grasp_list() -> str:
    """Return the 28 grasp classes with short definitions, one per line."""
    return "\n".join(f"- {GRASPS[g].name}: {GRASPS[g].definition}" for g in HOGRASPNET_ORDER)


def vlm_prompt(side: str, hand_box, object_box) -> str:
    """Return the question for the vision-language model about one hand in an image."""
    return f"""You see a {side} hand interacting with an object. The hand is inside the green box {_box(hand_box)}
and the object inside the red box {_box(object_box)} (pixel coordinates x0, y0, x1, y1; the boxes are also
drawn on the image). Describe the interaction. Answer with one JSON object and nothing else, with these keys:
- "hand_caption": one short sentence about what the hand does
- "object_category": what kind of object it is (e.g. mug, knife, ball)
- "object_shape": its shape (e.g. cylinder, box, sphere, thin plate, stick)
- "object_size": small, medium or large
- "interaction_type": e.g. power grasp, precision grasp, pinch, push
- "intention": why the hand holds it (e.g. drink, cut, write, pass, hold)
- "grasp_taxonomy": exactly one name from this list:
{grasp_list()}
- "hand_pose_description": how the fingers and thumb are placed"""


def summary_prompt(fields: dict, side: str) -> str:
    """Return the request for one sentence that condenses the fields."""
    shown = {k: fields.get(k) for k in SUMMARY_FIELDS if fields.get(k)}
    return (
        f"Summarize this description of a hand-object interaction in ONE sentence that starts with "
        f'"A {side} hand" and mentions the object, its shape or size, the intention and the grasp type. '
        f"Answer with the sentence only.\n{json.dumps(shown, ensure_ascii=False)}"
    )
