"""Structured affordance fields and one-sentence descriptions for labelled grasps (no model needed).

The fields are those the VLM step of the method produces; the sentence is what the LLM summary produces:
one sentence starting "A right hand" / "A left hand" that names the object, its shape or size, the
intention and the grasp type, and leaves the hand pose description out. Several templates and synonyms
are drawn at random so that no single string identifies a class.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from affordhand.data.objects import OBJECTS, ObjectSpec
from affordhand.data.taxonomy import GRASPS, Grasp, grasp_by_name
from affordhand.errors import AffordhandError

_HOLD_VERBS = ("holds", "grips", "grasps", "is holding", "clasps")
_INTENT_PHRASES = {
    "hold": ("to hold it", "to keep it steady", "just holding it"),
    "pass": ("to hand it over", "to pass it to someone"),
    "place": ("to put it down", "to place it somewhere"),
    "open": ("to open it", "in order to open it"),
    "eat": ("to eat it", "to take a bite"),
    "peel": ("to peel it",),
    "drink": ("to drink from it", "to take a sip"),
    "pour": ("to pour from it", "to pour its contents"),
    "carry": ("to carry it", "to move it elsewhere"),
    "scoop": ("to scoop with it",),
    "stir": ("to stir with it",),
    "cut": ("to cut with it", "in order to cut"),
    "spread": ("to spread with it",),
    "write": ("to write with it", "to write a note"),
    "draw": ("to draw with it",),
    "uncap": ("to take its cap off",),
    "flip": ("to flip food with it",),
    "scrape": ("to scrape with it",),
    "screw": ("to turn a screw", "to drive a screw"),
    "pry": ("to pry something open",),
    "hammer": ("to hammer a nail", "to strike with it"),
    "throw": ("to throw it", "ready to throw it"),
    "catch": ("after catching it",),
    "pay": ("to pay with it",),
    "insert": ("to insert it into a slot",),
    "roll": ("to roll it", "about to roll it"),
    "pick up": ("to pick it up", "lifting it"),
    "close": ("to close it",),
    "call": ("to make a call",),
    "type": ("to type on it",),
    "click": ("to click it",),
    "move": ("to move it around",),
    "tear": ("to tear off a strip",),
    "squeeze": ("to squeeze it",),
    "staple": ("to staple papers",),
    "press": ("to press it down",),
}
_TEMPLATES = (
    "{Side} {verb} {a} {size} {shape} {obj} {intent}, using a {grasp} grasp.",
    "{Side} {verb} {a} {obj} ({size}, {shape}) with a {grasp} grasp {intent}.",
    "{Side} uses a {grasp} grasp on {a} {size} {obj} {intent}.",
    "{Side} {verb} the {shape} {obj} in a {grasp} grasp {intent}.",
    "{Side} wraps around {a} {size} {obj} in a {grasp} grasp, {intent}.",
)
_INTERACTION = {
    "power": "power grasp with palm contact",
    "intermediate": "side grasp",
    "precision": "precision grasp with the fingertips",
}


def affordance_fields(side: str, obj: ObjectSpec, grasp: Grasp, intention: str) -> dict:
    """Return the structured affordance fields for a labelled grasp (what the VLM step would answer)."""
    thumb = "thumb abducted" if grasp.thumb == "abducted" else "thumb along the side of the hand"
    return {
        "hand_caption": f"a {side} hand {grasp.kind} grasping a {obj.display_name}",
        "object_category": obj.category,
        "object_shape": obj.shape,
        "object_size": obj.size_word,
        "interaction_type": _INTERACTION[grasp.kind],
        "intention": intention,
        "grasp_taxonomy": grasp.name,
        "hand_pose_description": f"{grasp.definition}; {thumb}",
    }


def describe(side: str, obj: ObjectSpec, grasp: Grasp, intention: str, rng: np.random.Generator) -> str:
    """Return one sentence "A right/left hand ..." from the fields (hand pose description left out)."""
    size = obj.size_word
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    phrases = _INTENT_PHRASES.get(intention, (f"to {intention} it",))
    sentence = template.format(
        Side=f"A {side} hand",
        verb=_HOLD_VERBS[rng.integers(len(_HOLD_VERBS))],
        a="a",
        size=size,
        shape=obj.shape,
        obj=obj.display_name,
        intent=phrases[rng.integers(len(phrases))],
        grasp=grasp.name.lower(),
    )
    # "a" before a vowel sound anywhere in the sentence ("a adducted thumb grasp") becomes "an".
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", " ".join(sentence.split()))


SENTENCE_STARTS = ("A right hand", "A left hand")


MAX_SENTENCE = 1000  # characters; the text encoders read at most 128 tokens (about 500 characters) of it


def check_sentence(text: str, what: str = "the text") -> None:
    """Raise AffordhandError unless text is an affordance sentence: one that starts "A right hand" or
    "A left hand", as the prior was trained on, of at most MAX_SENTENCE characters, without control
    characters."""
    if not isinstance(text, str) or not text.startswith(SENTENCE_STARTS):
        raise AffordhandError(f'{what} must be one sentence starting "A right hand" or "A left hand"')
    if len(text) > MAX_SENTENCE:
        raise AffordhandError(f"{what} is {len(text)} characters long; a sentence has at most {MAX_SENTENCE}")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise AffordhandError(f"{what} holds control characters (a line break, a tab, ...): give one plain sentence")


def sentence_from_fields(fields: dict, side: str) -> str:
    """Return a template sentence "A <side> hand ..." from structured fields (no model needed)."""
    size = fields.get("object_size") or ""
    shape = fields.get("object_shape") or ""
    category = fields.get("object_category") or "object"
    intention = fields.get("intention")
    grasp = fields.get("grasp_taxonomy")
    words = " ".join(w for w in (size, shape, category) if w)
    sentence = f"A {side} hand holds a {words}"
    if intention:
        sentence += f" to {intention}"
    if grasp:
        sentence += f", using a {grasp.lower()} grasp"
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", r"\1n ", " ".join(sentence.split())) + "."


def template_sentence(side: str, object_name: str, grasp_name: str, intention: str | None = None) -> str:
    """Return the template sentence for a hand holding object_name with a Feix grasp (name or number), no
    model involved. Objects of the HOGraspNet catalogue get its size, shape and first intention; any other
    object is named as given."""
    grasp = GRASPS.get(int(grasp_name)) if grasp_name.strip().isdigit() else grasp_by_name(grasp_name)
    if grasp is None:
        names = ", ".join(g.name.lower() for g in GRASPS.values())
        raise AffordhandError(f"unknown grasp {grasp_name!r}: give a Feix number or one of {names}")
    name = object_name.strip()
    if not name:
        raise AffordhandError("the template description needs an object name")
    obj = OBJECTS.get("_".join(name.lower().split()))
    if obj is None:
        return sentence_from_fields(
            {"object_category": name, "intention": intention, "grasp_taxonomy": grasp.name}, side
        )
    return describe(side, obj, grasp, intention or obj.intentions[0], np.random.default_rng(0))
