"""The prior's condition vector: what a record says about the affordance, as numbers.

A prior is conditioned on the fields named by `PriorConfig.conditions`, each a block of the vector:
- `text`: the sentence's embedding by the prior's text encoder (D values), then 1 if there is a sentence;
- `grasp`: the Feix grasp (the record's `taxonomy_id`, else `fields.grasp_taxonomy`, else the grasp its
  sentence names): a one-hot over the 33 Feix classes and the class's attributes from Feix et al. (power /
  intermediate / precision, palm / pad / side opposition, thumb abducted / adducted, the fingers that act
  as virtual fingers 2-5), 45 values, then 1 if the grasp is known.
A missing field is a block of zeros. Training drops each block at random (`field_drop`) so that any subset
of fields conditions the prior; a record with no field at all gets the learned null condition
(classifier-free guidance's unconditional branch).

A config.json without `conditions` is a sentence-only prior (`["text"]`): the embedding alone, no presence bit.

A prior also lists the objects its training records name (`PriorConfig.objects`), so that refinement can
tell a hand whose object it was trained on from one it was not (`object_is_known`).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from affordhand.data.taxonomy import Grasp, grasp_in_text
from affordhand.prior.config import FEIX_IDS, GRASP_KINDS, OPPOSITIONS, condition_dim, condition_layout


def grasp_features(grasp: Grasp) -> np.ndarray:
    """Return the grasp's feature vector (GRASP_FEATURES,): class one-hot, then its Feix attributes."""
    low, _, high = grasp.virtual_fingers.partition("-")
    fingers = range(int(low), int(high or low) + 1)
    parts = (
        [g == grasp.feix_id for g in FEIX_IDS],
        [k == grasp.kind for k in GRASP_KINDS],
        [o == grasp.opposition for o in OPPOSITIONS],
        [grasp.thumb == "abducted", grasp.thumb == "adducted"],
        [f in fingers for f in (2, 3, 4, 5)],
    )
    return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])


def condition_vectors(
    conditions, encoder, texts: list[str | None], grasps: list[Grasp | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (cond (B, C), has_cond (B,)) for each hand's sentence and grasp (None where unknown).

    The text encoder runs only when a sentence is there and the layout has a text block."""
    layout = condition_layout(conditions, encoder.dim)
    B = len(texts)
    cond = torch.zeros(B, condition_dim(conditions, encoder.dim))
    has = torch.zeros(B, dtype=torch.bool)
    legacy = list(conditions) == ["text"]
    if "text" in layout:
        idx = [i for i, t in enumerate(texts) if t]
        if idx:
            emb = encoder.encode([texts[i] for i in idx])
            block = layout["text"]
            if legacy:
                cond[idx, block] = emb
            else:
                cond[idx, block.start : block.stop - 1] = emb
                cond[idx, block.stop - 1] = 1.0
            has[idx] = True
    if "grasp" in layout:
        idx = [i for i, g in enumerate(grasps) if g is not None]
        if idx:
            block = layout["grasp"]
            cond[idx, block.start : block.stop - 1] = torch.as_tensor(
                np.stack([grasp_features(grasps[i]) for i in idx])
            )
            cond[idx, block.stop - 1] = 1.0
            has[idx] = True
    return cond, has


def drop_fields(
    cond: torch.Tensor, has_cond: torch.Tensor, layout: dict[str, slice], p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (cond, has_cond) with each field's block zeroed at random (probability p per field and row);
    a row left with no field gets the null condition, as at inference. Draws are made for every row and
    field, whatever is dropped, so the random stream does not depend on the data."""
    if len(layout) < 2 or p <= 0:
        return cond, has_cond
    drop = torch.rand(cond.shape[0], len(layout), generator=generator).to(cond.device) < p
    mask = torch.ones_like(cond)
    for k, block in enumerate(layout.values()):
        mask[:, block] = (~drop[:, k : k + 1]).to(cond.dtype)
    cond = cond * mask
    present = torch.stack([cond[:, block.stop - 1] > 0 for block in layout.values()], 1).any(1)
    return cond, has_cond & present


def object_key(name: str) -> str:
    """Return an object name as case-folded single-spaced words ("Potted_Meat-Can" -> "potted meat can")."""
    return " ".join(re.sub(r"[\W_]+", " ", name.casefold()).split())


def record_objects(record: dict) -> list[str]:
    """Return the names a record gives its object (`object`, `fields.object_category`), as object keys."""
    fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}
    keys = (object_key(n) for n in (record.get("object"), fields.get("object_category")) if isinstance(n, str))
    return [k for k in keys if k]


def known_objects(records) -> list[str]:
    """Return the sorted object keys that the records name (what a prior trained on them has seen)."""
    return sorted({key for r in records for key in record_objects(r)})


def object_is_known(record: dict, known) -> bool | None:
    """Return whether a hand's object is among the known object keys: by the names its record gives, else
    by a known name in its sentence (as whole words, outside the grasp's name: "a ring grasp" names no
    ring); None when nothing is known (a prior that lists no objects)."""
    if not known:
        return None
    names = record_objects(record)
    if names:
        return any(n in known for n in names)
    text = record.get("text") if isinstance(record.get("text"), str) else ""
    sentence, grasp = f" {object_key(text)} ", grasp_in_text(text)
    if grasp is not None:
        for word in ("grasp", "grip"):
            sentence = sentence.replace(f" {object_key(grasp.name)} {word} ", " ")
    return any(f" {k} " in sentence for k in known)
