"""Make the README's picture of the image front end and the web page from the example photo.

    python examples/readme_picture.py [--out docs/image_and_web.png]

1. `affordhand image examples/photos/fingerpose_halfcurl.jpg --text ... --views` writes the overlay and the 3D figure;
2. `affordhand serve` is driven in headless Chromium (Debian's chromium and chromium-driver, selenium from the
   `dev` extra): upload the same photo, type the same text, press Refine, take a screenshot;
3. the three are put side by side into one PNG.
Every part is regenerated on each run; nothing in the picture is drawn by hand.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from affordhand.cli import main as cli
from affordhand.web.browser import refine_in_browser, running_server

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "examples" / "photos" / "fingerpose_halfcurl.jpg"
TEXT = "A left hand curls its index finger over its thumb, the other fingers closed."
HEIGHT = 1400  # px of the finished picture's panels


def _fit_height(im: Image.Image, height: int) -> Image.Image:
    return im.resize((round(im.width * height / im.height), height), Image.LANCZOS)


def _trim(im: Image.Image, pad: int = 10) -> Image.Image:
    """Return the image cropped to its non-white content, with a small white border."""
    box = ImageOps.invert(im).getbbox()
    if box is None:
        return im
    return ImageOps.expand(im.crop(box), border=pad, fill="white")


def _caption(im: Image.Image, text: str) -> Image.Image:
    font = ImageFont.load_default(size=22)
    out = Image.new("RGB", (im.width, im.height + 40), "white")
    out.paste(im, (0, 40))
    ImageDraw.Draw(out).text((10, 8), text, fill="black", font=font)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "image_and_web.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if cli(["image", str(PHOTO), "--out", str(tmp / "image"), "--text", TEXT, "--views"]) != 0:
            raise SystemExit("affordhand image failed")
        with running_server() as url:
            refine_in_browser(url, PHOTO, TEXT, screenshot=tmp / "web.png", window=(1200, 1750))
        stem = PHOTO.stem + "_hand0"
        overlay = Image.open(tmp / "image" / f"{stem}_overlay.png").convert("RGB")
        figure = _trim(Image.open(tmp / "image" / f"{stem}_3d.png").convert("RGB"))
        web = Image.open(tmp / "web.png").convert("RGB")
        left = Image.new("RGB", (max(overlay.width, figure.width), overlay.height + figure.height), "white")
        left.paste(overlay, (0, 0))
        left.paste(figure, (0, overlay.height))
        panels = [
            _caption(_fit_height(left, HEIGHT), "affordhand image: overlay and 3D view"),
            _caption(_fit_height(web, HEIGHT), "affordhand serve: the web page, same photo and text"),
        ]
        picture = Image.new("RGB", (sum(p.width for p in panels) + 20, panels[0].height), "white")
        x = 0
        for p in panels:
            picture.paste(p, (x, 0))
            x += p.width + 20
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        picture = picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT)  # a third of the bytes
        picture.save(args.out, optimize=True)
    print(f"wrote {args.out} ({picture.width} x {picture.height})")


if __name__ == "__main__":
    main()
