"""Robust reading of model answers: JSON anywhere in the reply, fields normalised, grasp names mapped
onto the 28 classes, summary sentences checked for their form. Nothing here raises on a bad answer: every
problem becomes a warning in the result."""

from __future__ import annotations

import difflib
import json
import re

from affordhand.data.taxonomy import GRASPS, grasp_by_name
from affordhand.text.prompt import FIELDS

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def _balanced_objects(text: str):
    """Yield substrings that are brace-balanced {...} spans (strings respected), in order."""
    depth, start, in_str, esc = 0, None, False, False
    for i, ch in enumerate(text):
        if in_str:
            esc = (ch == "\\") and not esc
            if ch == '"' and not esc:
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch == "{":
            depth, start = depth + 1, i if depth == 0 else start
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start : i + 1]


def extract_json(reply: str) -> dict | None:
    """Return the first JSON object in a reply (code fence, bare, or inside prose), or None."""
    candidates = [m.group(1) for m in _FENCE.finditer(reply)] + list(_balanced_objects(reply))
    for raw in candidates:
        for text in (raw, re.sub(r",\s*([}\]])", r"\1", raw)):  # also forgive trailing commas
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    return None


def match_grasp(answer) -> tuple[str | None, str | None]:
    """Return (class name or None, warning or None) for a model's grasp answer."""
    if answer is None:
        return None, None
    text = str(answer).strip()
    grasp = grasp_by_name(text)
    if grasp:
        return grasp.name, None
    for number in re.findall(r"\b(\d{1,2})\b", text):
        if int(number) in GRASPS and GRASPS[int(number)].name.lower() in text.lower():
            return GRASPS[int(number)].name, None
    names = [g.name for g in GRASPS.values()]
    close = difflib.get_close_matches(text.title(), names, n=1, cutoff=0.6)
    if close:
        return close[0], f"grasp_taxonomy {text!r} is not a class; mapped to {close[0]!r}"
    return None, f"grasp_taxonomy {text!r} is not one of the 28 classes; left empty"


def parse_fields(reply: str) -> tuple[dict | None, list[str]]:
    """Return (fields, warnings) from a VLM reply; fields is None when no JSON object could be read."""
    data = extract_json(reply or "")
    if data is None:
        return None, ["no JSON object in the reply"]
    warnings = []
    fields = {}
    for key in FIELDS:
        value = data.get(key)
        if value is None:
            warnings.append(f"missing field {key}")
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        elif not isinstance(value, str):
            value = str(value)
        fields[key] = value.strip() if isinstance(value, str) else None
    for key in data:
        if key not in FIELDS:
            warnings.append(f"ignored extra field {key}")
    fields["grasp_taxonomy"], warning = match_grasp(fields.get("grasp_taxonomy"))
    if warning:
        warnings.append(warning)
    return fields, warnings


def clean_sentence(reply: str, side: str) -> str | None:
    """Return the reply as one sentence starting "A <side> hand", or None if it breaks that form."""
    text = (reply or "").strip().strip('"').strip("'").strip()
    text = text.splitlines()[0].strip() if text else ""
    prefix = f"A {side} hand"
    if not text.startswith(prefix) or len(text) < len(prefix) + 5:
        return None
    end = re.search(r"[.!?](\s|$)", text)
    text = text[: end.start() + 1] if end else text + "."
    return text
