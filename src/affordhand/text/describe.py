"""`affordhand describe`: structured affordance fields and one sentence per hand, from a VLM and an LLM
(or from templates), as a resumable batch job.

Every finished item is appended to OUT.cache.jsonl (flushed and synced) under a key made of the image's
content hash, the boxes, the side, the prompt version and the model names; a rerun skips what is there, so
a run killed at any point finishes later with nothing lost and nothing asked twice. Failures are written
to the output with their error and tried again on the next run. OUT itself is written atomically, in
input order, at the end.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import Progress

from affordhand.data.atomic import atomic_path, read_journal
from affordhand.data.descriptions import affordance_fields, describe, sentence_from_fields
from affordhand.data.images import open_image
from affordhand.data.objects import OBJECTS
from affordhand.data.records import read_records
from affordhand.data.taxonomy import GRASPS
from affordhand.errors import AffordhandError
from affordhand.progress import show_progress
from affordhand.text.backends import ModelError
from affordhand.text.parse import clean_sentence, parse_fields
from affordhand.text.prompt import PROMPT_VERSION, summary_prompt, vlm_prompt

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class Item:
    """One hand to describe."""

    id: str
    side: str = "right"
    image: Path | None = None
    hand_box: list | None = None
    object_box: list | None = None
    labels: dict = field(default_factory=dict)  # object, taxonomy_id (for the template backend)


def _box(value, where):
    if value is None:
        return None
    try:
        box = [float(v) for v in value]
    except (TypeError, ValueError):
        box = []
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise AffordhandError(f"{where}: a box must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
    return box


def items_from_records(path: str | Path) -> list[Item]:
    """Return items from hand records (image path, `box` / `hand_box`, `object_box`, labels)."""
    items = []
    base = Path(path).parent
    for rec in read_records(path).records:
        image = Path(rec["image"]) if rec.get("image") else None
        if image is not None and not image.is_absolute() and not image.exists():
            image = base / image
        items.append(
            Item(
                rec["id"],
                rec["side"],
                image,
                _box(rec.get("hand_box", rec.get("box")), f"{path}:{rec['id']}"),
                _box(rec.get("object_box"), f"{path}:{rec['id']}"),
                {"object": rec.get("object"), "taxonomy_id": rec.get("taxonomy_id")},
            )
        )
    return items


def items_from_images(folder: str | Path, boxes: str | Path) -> list[Item]:
    """Return items from an image folder and a boxes file (JSONL: image, side, hand_box, object_box, id)."""
    folder, boxes = Path(folder), Path(boxes)
    if not folder.is_dir():
        raise AffordhandError(f"{folder}: not a folder of images")
    if not boxes.is_file():
        raise AffordhandError(f"{boxes}: no such boxes file")
    items = []
    for lineno, line in enumerate(boxes.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
            name = row["image"]
            if not isinstance(name, str) or "\x00" in name:
                raise TypeError
        except (ValueError, RecursionError, KeyError, TypeError):  # bad JSON or UTF-8, deep nesting, no name
            raise AffordhandError(f"{boxes}:{lineno}: expected a JSON object with at least 'image'") from None
        side = row.get("side", "right")
        if side not in ("right", "left"):
            raise AffordhandError(f"{boxes}:{lineno}: side must be right or left")
        items.append(
            Item(
                str(row.get("id") or f"{name}#{lineno}"),
                side,
                folder / name,
                _box(row.get("hand_box"), f"{boxes}:{lineno}"),
                _box(row.get("object_box"), f"{boxes}:{lineno}"),
            )
        )
    return items


def annotated_jpeg(path: Path, hand_box, object_box, max_side: int = 1024) -> bytes:
    """Return the image as JPEG with the hand box (green) and object box (red) drawn, at most max_side px."""
    from PIL import ImageDraw

    image = open_image(path)
    draw = ImageDraw.Draw(image)
    width = max(2, round(max(image.size) / 300))
    w, h = image.size
    for box, colour in ((hand_box, (0, 200, 0)), (object_box, (220, 0, 0))):
        if box is not None:  # clipped to just outside the image: a huge box costs no more than one that fits
            edge = width + 1
            clipped = [min(max(v, -edge), (w if i % 2 == 0 else h) + edge) for i, v in enumerate(box)]
            draw.rectangle(clipped, outline=colour, width=width)
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def template_result(item: Item) -> dict:
    """Return fields and sentence from the item's labels (object, taxonomy_id): no model involved."""
    obj = OBJECTS.get(item.labels.get("object") or "")
    grasp = GRASPS.get(item.labels.get("taxonomy_id"))
    if obj is None or grasp is None:
        raise ModelError("the template backend needs a known `object` and `taxonomy_id` in the record")
    rng = np.random.default_rng(zlib.crc32(item.id.encode()))
    intention = obj.intentions[0]
    return {
        "fields": affordance_fields(item.side, obj, grasp, intention),
        "text": describe(item.side, obj, grasp, intention, rng),
        "warnings": [],
    }


class Describer:
    """Runs the two model steps for one item with a backend (None = template)."""

    def __init__(self, backend=None, taxonomy: dict[str, int] | None = None):
        self.backend, self.taxonomy = backend, taxonomy or {}

    @property
    def models(self) -> dict:
        if self.backend is None:
            return {"backend": "template", "vlm_model": None, "summary_model": None}
        return {
            "backend": self.backend.name,
            "vlm_model": self.backend.model,
            "summary_model": self.backend.summary_model,
        }

    def key(self, item: Item) -> str:
        """Return the cache key of an item: image content, boxes, side, prompt version, models."""
        h = hashlib.sha256()
        if item.image is not None and item.image.is_file():
            h.update(item.image.read_bytes())
        else:
            h.update(json.dumps(item.labels, sort_keys=True).encode())
        h.update(
            json.dumps(
                [
                    item.id if item.image is None else "",
                    item.side,
                    item.hand_box,
                    item.object_box,
                    PROMPT_VERSION,
                    self.models,
                    self.taxonomy.get(item.id),
                ]
            ).encode()
        )
        return h.hexdigest()

    def run(self, item: Item) -> dict:
        """Return the result of one item; model failures are raised as ModelError."""
        if self.backend is None:
            return template_result(item)
        if item.image is None or not item.image.is_file():
            raise ModelError(f"image not found: {item.image}")
        try:
            jpeg = annotated_jpeg(item.image, item.hand_box, item.object_box)
        except (AffordhandError, OSError) as exc:
            raise ModelError(f"cannot read image {item.image}: {exc}") from None
        fields, warnings = parse_fields(
            self.backend.ask_vlm(jpeg, vlm_prompt(item.side, item.hand_box, item.object_box))
        )
        if fields is None:
            raise ModelError("; ".join(warnings))
        if item.id in self.taxonomy and self.taxonomy[item.id] in GRASPS:
            fields["grasp_taxonomy"] = GRASPS[self.taxonomy[item.id]].name
        sentence = None
        for attempt in range(2):  # one retry when the summary breaks the form
            prompt = summary_prompt(fields, item.side)
            if attempt:
                prompt += f'\nYour last answer did not start with "A {item.side} hand". Answer with one such sentence.'
            sentence = clean_sentence(self.backend.ask_text(prompt), item.side)
            if sentence:
                break
        if sentence is None:
            sentence = sentence_from_fields(fields, item.side)
            warnings.append("the summary broke the form twice; used the template sentence")
        return {"fields": fields, "text": sentence, "warnings": warnings}


def _read_cache(path: Path) -> dict[str, dict]:
    """Return cached results by key (a torn last line is ignored)."""
    return {e["key"]: e["result"] for e in read_journal(path) if "key" in e and "result" in e}


def run_describe(items: list[Item], describer: Describer, out: str | Path, concurrency: int = 4) -> dict:
    """Describe every item (cached ones skipped), write OUT atomically; return done / cached / failed counts."""
    out = Path(out)
    if len({i.id for i in items}) != len(items):
        raise AffordhandError("item ids must be unique")
    cache_path = out.with_name(out.name + ".cache.jsonl")
    cache = _read_cache(cache_path)
    # Rewrite the cache without a torn tail before appending to it.
    with atomic_path(cache_path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for k, v in cache.items():
            f.write(json.dumps({"key": k, "result": v}, ensure_ascii=False) + "\n")
    keys = {item.id: describer.key(item) for item in items}
    results: dict[str, dict] = {}
    counts = {"done": 0, "cached": 0, "failed": 0}
    todo = []
    for item in items:
        if keys[item.id] in cache:
            results[item.id] = cache[keys[item.id]]
            counts["cached"] += 1
        else:
            todo.append(item)

    def work(item):
        t0 = time.perf_counter()
        try:
            res = describer.run(item)
            res["status"] = "ok"
        except ModelError as exc:
            res = {"status": "failed", "error": str(exc), "fields": None, "text": None, "warnings": []}
        res["seconds"] = round(time.perf_counter() - t0, 3)
        return item, res

    with (
        cache_path.open("a", encoding="utf-8") as journal,
        ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
        Progress(disable=not show_progress()) as bar,
    ):
        task = bar.add_task("describe", total=len(items), completed=counts["cached"])
        for future in as_completed([pool.submit(work, item) for item in todo]):
            item, res = future.result()
            res.update(describer.models, prompt_version=PROMPT_VERSION)
            results[item.id] = res
            if res["status"] == "ok":
                counts["done"] += 1
                journal.write(json.dumps({"key": keys[item.id], "result": res}, ensure_ascii=False) + "\n")
                journal.flush()
                os.fsync(journal.fileno())
            else:
                counts["failed"] += 1
            bar.advance(task)
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8") as f:
        for item in items:
            res = dict(results[item.id])
            row = {"id": item.id, "side": item.side, **res}
            if item.image is not None:
                row["image"] = str(item.image)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return counts
