"""2D overlays on the photo: keypoints before and after refinement, occluded joints marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.hand.skeleton import BONES

BEFORE, AFTER, HIDDEN, BOX = (230, 60, 40), (40, 120, 240), (255, 200, 0), (220, 0, 0)


def draw_overlay(image: np.ndarray, before: np.ndarray, after: np.ndarray, visible: np.ndarray, path: str | Path,
                 object_box=None) -> Path:
    """Save the image with the initial (red) and refined (blue) skeletons; occluded joints ringed yellow."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(im)
    r = max(2, round(max(im.size) / 200))
    if object_box is not None:
        draw.rectangle(list(object_box), outline=BOX, width=max(1, r // 2))
    for points, colour in ((before, BEFORE), (after, AFTER)):
        for a, b in BONES:
            draw.line([tuple(points[a]), tuple(points[b])], fill=colour, width=max(1, r // 2))
        for p in points:
            draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=colour)
    for p, seen in zip(after, visible):
        if not seen:
            draw.ellipse([p[0] - 2 * r, p[1] - 2 * r, p[0] + 2 * r, p[1] + 2 * r], outline=HIDDEN, width=max(1, r // 2))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path
