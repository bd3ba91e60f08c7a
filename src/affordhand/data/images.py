"""Reading photos safely: a size limit checked from the header before any decoding (a 76 KB PNG can
declare 400 Mpx and take gigabytes to decode), the formats photos come in, and one error type."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.errors import AffordhandError

MAX_PIXELS = 50_000_000  # a 50 Mpx photo is 8660 x 5773; larger images are refused before decoding
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO")  # what a photo comes as (MPO: phone JPEGs)


class ImageTooLarge(AffordhandError):
    """An image with more pixels than MAX_PIXELS."""


def read_image(path: str | Path) -> np.ndarray:
    """Return an RGB image (H, W, 3) uint8, or raise a clear error when it cannot be read."""
    return np.asarray(open_image(path))


def open_image(path: str | Path):
    """Return the image as a decoded RGB PIL image; AffordhandError (ImageTooLarge for an image over
    MAX_PIXELS) when it is missing, too large, not a photo format or unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise AffordhandError(f"{path}: no such image")
    try:
        with Image.open(path) as im:
            check_size(im.size, str(path))
            if im.format not in FORMATS:
                raise AffordhandError(f"{path}: a {im.format} image; photos come as {', '.join(FORMATS)}")
            return as_rgb(im)
    except Image.DecompressionBombError:  # over twice Pillow's own limit: refused inside Image.open
        raise ImageTooLarge(f"{path}: over the {MAX_PIXELS // 1_000_000} Mpx limit") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise AffordhandError(f"{path}: cannot read this image ({exc})") from None


def as_rgb(im):
    """Return a PIL image as 8-bit RGB as a viewer shows it: turned upright by its EXIF orientation, 16-bit and
    32-bit grey scaled to 8 bits (not clipped, which turns them white), palettes and alpha resolved."""
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        grey = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or grey.max() > 255 else 255.0
        if im.mode == "F":
            top = max(float(np.nanmax(grey)), 1e-12) if np.isfinite(grey).any() else 1.0
        grey = np.clip(np.nan_to_num(grey / top * 255.0), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if im.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im).convert("RGB")  # transparent parts on white, as a viewer shows
    return im.convert("RGB")


def check_size(size: tuple[int, int], name: str) -> None:
    """Raise ImageTooLarge for an image over MAX_PIXELS (checked from its header, before decoding)."""
    if size[0] * size[1] > MAX_PIXELS:
        raise ImageTooLarge(f"{name}: {size[0]}x{size[1]} px is over the {MAX_PIXELS // 1_000_000} Mpx limit")


EXIF_IFD = 0x8769  # the Exif sub-IFD, where cameras record their optics
FOCAL_35MM = 0xA405  # FocalLengthIn35mmFilm: the focal length a 36 x 24 mm frame would need for this view, mm
FILM_DIAGONAL_MM = float(np.hypot(36.0, 24.0))


def exif_focal_px(path: str | Path, width: int, height: int) -> float | None:
    """Return the focal length in pixels that the photo's EXIF 35 mm-equivalent focal length gives (the same
    diagonal field of view: f_px = f_35 * diagonal_px / 43.27 mm), or None when the photo records none."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            value = exif.get_ifd(EXIF_IFD).get(FOCAL_35MM) or exif.get(FOCAL_35MM)
        focal = float(value)
    except Exception:  # no EXIF, a broken one, or no such tag: the caller falls back
        return None
    if not 1.0 <= focal <= 5000.0:  # 0 means unknown; anything past a 5 m lens is a broken tag
        return None
    return focal * float(np.hypot(width, height)) / FILM_DIAGONAL_MM
