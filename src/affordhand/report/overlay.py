"""2D overlays on the photo: keypoints before and after refinement, occluded joints marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.hand.skeleton import BONES

BEFORE, AFTER, HIDDEN, BOX = (230, 60, 40), (40, 120, 240), (255, 200, 0), (220, 0, 0)
TIPS = (4, 8, 12, 16, 20)  # OpenPose fingertips


def draw_overlay(
    image: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    visible: np.ndarray,
    path: str | Path,
    object_box=None,
    radius_px: np.ndarray | None = None,
) -> Path:
    """Save the image with the initial (red) and refined (blue) skeletons; occluded joints ringed yellow;
    with radius_px (21,), a thin blue circle around each refined fingertip: its 90 % uncertainty radius (the
    tips carry the largest radii; circles on every joint would hide the hand)."""
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
    if radius_px is not None:
        for tip in TIPS:
            p, rad = after[tip], radius_px[tip]
            if rad >= r:
                draw.ellipse([p[0] - rad, p[1] - rad, p[0] + rad, p[1] + rad], outline=AFTER, width=1)
    for p, seen in zip(after, visible):
        if not seen:
            draw.ellipse([p[0] - 2 * r, p[1] - 2 * r, p[0] + 2 * r, p[1] + 2 * r], outline=HIDDEN, width=max(1, r // 2))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path
