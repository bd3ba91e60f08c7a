"""2D overlays on the photo: keypoints before and after refinement, occluded joints marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.hand.skeleton import BONES

BEFORE, AFTER, HIDDEN, BOX = (230, 60, 40), (40, 120, 240), (255, 200, 0), (220, 0, 0)
TIPS = (4, 8, 12, 16, 20)  # OpenPose fingertips


MIN_SIDE = 640  # smaller photos are upscaled for the overlay, so 21 joints do not melt into one blob
LEGEND = (("initial fit", BEFORE), ("refined", AFTER), ("occluded (ring)", HIDDEN))


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
    tips carry the largest radii; circles on every joint would hide the hand). A photo smaller than
    MIN_SIDE is upscaled first; line widths and markers follow the hand's size in the picture; a legend
    names the colours."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(image).convert("RGB")
    zoom = max(1, int(np.ceil(MIN_SIDE / max(im.size))))
    if zoom > 1:
        im = im.resize((im.size[0] * zoom, im.size[1] * zoom), Image.LANCZOS)
    before, after = np.asarray(before) * zoom, np.asarray(after) * zoom
    draw = ImageDraw.Draw(im)
    hand = float(np.ptp(np.concatenate([before, after]), axis=0).max())
    r = int(np.clip(hand / 70, 2, max(im.size) / 150))  # marker radius: a bone is about 10 markers long
    width = max(1, r // 2)
    if object_box is not None:
        draw.rectangle([v * zoom for v in object_box], outline=BOX, width=width)
    for points, colour in ((before, BEFORE), (after, AFTER)):
        for a, b in BONES:
            draw.line([tuple(points[a]), tuple(points[b])], fill=colour, width=width)
        for p in points:
            draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=colour)
    legend = list(LEGEND)
    if radius_px is not None:
        legend.append(("90 % radius (tips)", AFTER))
        for tip in TIPS:
            p, rad = after[tip], radius_px[tip] * zoom
            if rad >= r:
                draw.ellipse([p[0] - rad, p[1] - rad, p[0] + rad, p[1] + rad], outline=AFTER, width=1)
    for p, seen in zip(after, visible):
        if not seen:
            draw.ellipse([p[0] - 2 * r, p[1] - 2 * r, p[0] + 2 * r, p[1] + 2 * r], outline=HIDDEN, width=width)
    _legend(draw, legend, max(im.size))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, compress_level=1)  # PNG stays lossless; the fastest of zlib's levels (a tenth of the default's time)
    return path


def _legend(draw, entries, side: int) -> None:
    """Draw the colour key in the top-left corner, on a light box."""
    line = max(12, side // 45)
    box = [4, 4, 4 + 11 * line, 8 + line * len(entries)]
    draw.rectangle(box, fill=(255, 255, 255), outline=(120, 120, 120))
    for k, (label, colour) in enumerate(entries):
        y = 6 + k * line
        draw.rectangle([10, y + line // 4, 10 + line // 2, y + 3 * line // 4], fill=colour)
        draw.text((16 + line // 2, y), label, fill=(0, 0, 0))


def draw_hands(image: np.ndarray, hands: list[tuple[np.ndarray, np.ndarray, str]]) -> np.ndarray:
    """Return a copy of an RGB frame with each hand's refined skeleton drawn (uv (21, 2) px, visible (21,)
    bools, a label written at the wrist): blue bones and joints, occluded joints ringed yellow; line widths
    follow the hand's size in the frame (a video's overlay, frame by frame)."""
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for uv, visible, label in hands:
        uv = np.asarray(uv, dtype=float)
        r = int(np.clip(float(np.ptp(uv, axis=0).max()) / 70, 2, max(im.size) / 150))
        width = max(1, r // 2)
        for a, b in BONES:
            draw.line([tuple(uv[a]), tuple(uv[b])], fill=AFTER, width=width)
        for p, seen in zip(uv, visible):
            draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=AFTER)
            if not seen:
                draw.ellipse([p[0] - 2 * r, p[1] - 2 * r, p[0] + 2 * r, p[1] + 2 * r], outline=HIDDEN, width=width)
        draw.text((uv[0, 0] + 2 * r, uv[0, 1] + 2 * r), label, fill=(255, 255, 255))
    return np.asarray(im)
