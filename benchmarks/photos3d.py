"""Hidden joints of real hands that hold nothing: photos with 3D truth, an object edge drawn over some joints.

    python benchmarks/photos3d.py [--every 4] [--prior default] [--text "A right hand ..."] [--seed 0] [--shared DIR]

Photos: `../shared/photos3d` (200 frames of one take of gestures with 3D joints and intrinsics; research use,
measured here only; skipped with a reason when absent), every `--every`-th frame. On each, an object edge is
drawn: a flat grey half-plane beyond the joints furthest along a random image direction, covering 6-10 of
them (their true projections). The photo then goes through the photo path of `affordhand image` (MediaPipe,
the initial fit, the hand's own skeleton, refinement with the prior; `--focal` from the photo's intrinsics),
told which joints the edge hides, without text (uncond mode) unless `--text` is given.

Scored in 3D against the truth, per photo: a similarity transform (rotation, translation, scale) is fitted on
the joints the edge leaves seen, and the hidden joints' mean distance after it is reported (mm), for
MediaPipe's own metric landmarks (its guess behind the edge), the initial fit and the refined hand; the
seen joints' distance after the same fit beside them.

Second table: the same photos as photographed (no edge, every joint seen), the same three against the truth
in 3D: root-relative MPJPE (wrist at the origin, camera axes: shape, tilt and size), the same after the best
scale alone and after the best rotation alone (how much of it is size and how much tilt), and PA-MPJPE;
then the steps of the photo path (STEPS): the built-in hand fitted to MediaPipe's 3D landmarks alone, fitted
to the 2D keypoints as well with the built-in proportions (the initial fit before the hand's own skeleton),
and the floor of the built-in hand, fitted to the true joints themselves.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import roma
import torch
from common import add_common_args, markdown_copy

from affordhand.report.tables import markdown_table

SOURCES = ("MediaPipe", "initial", "refined")
# Where the photo path's 3D error comes from, in the second table: the built-in hand fitted to MediaPipe's 3D
# landmarks alone, then to the 2D keypoints too with the built-in proportions (before the hand's own
# skeleton), and the floor: the built-in hand fitted to the true joints themselves.
STEPS = ("fit to MediaPipe's 3D alone", "2D fit, built-in proportions", "floor: built-in hand fitted to the truth")


def frames(shared: Path, every: int) -> list[dict]:
    """Return every `every`-th frame of photos3d: {image, K (3, 3), joints3d (21, 3) m}."""
    rows = [json.loads(line) for line in (shared / "photos3d" / "frames.jsonl").read_text().splitlines()]
    return [
        {"image": shared / "photos3d" / r["image"], "K": np.asarray(r["K"]), "joints3d": np.asarray(r["joints3d"])}
        for r in rows[::every]
    ]


def projected(frame: dict) -> np.ndarray:
    """Return the frame's true joints projected with its intrinsics: (21, 2) px."""
    joints = frame["joints3d"]
    return (frame["K"] @ (joints / joints[:, 2:3]).T).T[:, :2]


def draw_edge(frame: dict, folder: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    """Return (the photo with a grey half-plane over 6-10 joints, saved in folder; hidden (21,) bool)."""
    from PIL import Image, ImageDraw

    uv = projected(frame)
    angle = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(angle), np.sin(angle)])
    along = uv @ d
    k = int(rng.integers(6, 11))
    order = np.sort(along)[::-1]
    cut = 0.5 * (order[k - 1] + order[k])  # between the k-th furthest joint and the next
    hidden = along > cut
    image = Image.open(frame["image"]).convert("RGB")
    w, h = image.size
    # The half-plane {p : p . d > cut}, clipped to a square far larger than the photo.
    big = 4.0 * max(w, h)
    normal = np.array([-d[1], d[0]])
    base = cut * d
    corners = [base + big * normal, base + big * normal + big * d, base - big * normal + big * d, base - big * normal]
    ImageDraw.Draw(image).polygon([tuple(c) for c in corners], fill=(128, 128, 128))
    path = folder / f"edge_{Path(frame['image']).name}"
    image.save(path)
    return path, hidden


def similarity_error(pred: np.ndarray, truth: np.ndarray, seen: np.ndarray) -> tuple[float, float]:
    """Return (hidden, seen) mean joint distance (mm) after a similarity fit of pred to truth on the seen."""
    p = torch.as_tensor(pred, dtype=torch.float64)
    t = torch.as_tensor(truth, dtype=torch.float64)
    m = torch.as_tensor(seen)
    R, tr, s = roma.rigid_points_registration(p[m][None], t[m][None], compute_scaling=True)
    moved = s[0] * p @ R[0].T + tr[0]
    err = 1000 * torch.linalg.norm(moved - t, dim=-1).numpy()
    return float(err[~seen].mean()), float(err[seen].mean())


def root_relative_errors(pred: np.ndarray, truth: np.ndarray) -> list[float]:
    """Return [root-relative MPJPE, the same after the best scale alone, after the best rotation alone, and
    PA-MPJPE] (mm) of joints pred against truth (21, 3): where the root-relative error comes from."""
    p = torch.as_tensor(pred - pred[:1], dtype=torch.float64)[None]
    t = torch.as_tensor(truth - truth[:1], dtype=torch.float64)[None]
    mm = lambda q: float(1000 * torch.linalg.norm(q - t, dim=-1).mean())
    scale = (p * t).sum() / (p * p).sum()
    R, _ = roma.rigid_points_registration(p, t)
    R2, tr, s = roma.rigid_points_registration(p, t, compute_scaling=True)
    return [mm(p), mm(scale * p), mm(p @ R[0].T), mm(s[0] * p @ R2[0].T + tr[0])]


def refine_photo(path: Path, frame: dict, hidden: np.ndarray | None, refiner, options, args) -> dict | None:
    """Return {source: joints (21, 3)} of MediaPipe's world landmarks, the initial fit and the refined hand
    for the detection nearest the true hand in a photo, told which joints are hidden (None: none), with the
    take's focal length and a centred principal point (as `affordhand image --focal`); None if none found."""
    from affordhand.data.images import read_image
    from affordhand.hand.camera import default_intrinsics
    from affordhand.photo.detect import detect_hands
    from affordhand.photo.fit import PHOTO_FIT, initial_records
    from affordhand.photo.pipeline import _own_skeleton
    from affordhand.refinement.pipeline import GuidedConfig, RefineConfig, refine_batch

    hand = refiner.hand
    image = read_image(path)
    found = detect_hands(image, mirrored=False, flip_check=False)
    if not found:
        return None
    truth = frame["joints3d"]
    uv = projected(frame)
    # The detection nearest the true hand (the take shows one hand).
    best = int(np.argmin([np.linalg.norm(h.keypoints2d - uv, axis=1).mean() for h in found]))
    K = default_intrinsics(image.shape[1], image.shape[0]).numpy()
    K[0, 0] = K[1, 1] = frame["K"][0, 0]
    rec = initial_records(hand, [found[best]], K, [path.stem])[0][0]
    rec["visible"] = np.ones(21, bool) if hidden is None else ~hidden
    if args.text:
        rec["text"] = args.text
    steps = _path_steps(hand, found[best], rec, truth) if hidden is None else {}
    own, rec = _own_skeleton(hand, hand, rec, options)
    mode = "affordance" if args.text else "uncond"
    config = RefineConfig(mode=mode, seed=args.seed, guided=GuidedConfig(samples=options.samples), fit=PHOTO_FIT)
    refined = refine_batch([rec], config, own, refiner.prior)[0]
    joints = {"MediaPipe": found[best].world, "initial": np.asarray(rec["joints3d"])}
    return {**joints, "refined": np.asarray(refined["joints3d"]), **steps}


def _path_steps(hand, detected, rec: dict, truth: np.ndarray) -> dict:
    """Return {STEPS name: joints (21, 3)}: the built-in hand fitted to MediaPipe's 3D landmarks alone, the
    initial record before the hand's own skeleton, and the built-in hand fitted to the true joints (the
    same side as the record)."""
    from affordhand.photo.fit import fit_to_world

    left = np.array([rec["side"] == "left"])

    def fitted(points: np.ndarray) -> np.ndarray:
        orient, pose, _ = fit_to_world(hand, points[None], left)
        with torch.no_grad():
            out = hand(torch.as_tensor(orient), torch.as_tensor(pose), is_left=torch.as_tensor(left))
        return out.joints[0].numpy()

    return dict(zip(STEPS, (fitted(detected.world), np.asarray(rec["joints3d"]), fitted(truth))))


def run(args) -> list[dict]:
    """Return one row per photo: with a drawn edge, the hidden count and (hidden, seen) mm per source; as
    photographed, root_relative_errors per source."""
    from affordhand.photo.options import ImageOptions
    from affordhand.refinement.loader import load_refiner

    refiner = load_refiner(args.prior)
    options = ImageOptions(text=args.text, views=False)
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for frame in frames(Path(args.shared), args.every):
            path, hidden = draw_edge(frame, Path(tmp), rng)
            got = refine_photo(path, frame, hidden, refiner, options, args)
            row = {"photo": path.name, "found": got is not None}
            if got is not None:
                row["hidden"] = int(hidden.sum())
                row.update({source: similarity_error(got[source], frame["joints3d"], ~hidden) for source in SOURCES})
            whole = refine_photo(Path(frame["image"]), frame, None, refiner, options, args)
            if whole is not None:
                row["whole"] = {k: root_relative_errors(whole[k], frame["joints3d"]) for k in SOURCES + STEPS}
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=int, default=4, help="score every N-th frame")
    parser.add_argument("--prior", default="default")
    parser.add_argument("--text", help="a sentence for every hand (affordance mode); default: none (uncond)")
    parser.add_argument("--seed", type=int, default=0)
    add_common_args(parser)
    args = parser.parse_args()
    with markdown_copy(args.markdown):
        report(args, parser)


def report(args, parser: argparse.ArgumentParser) -> None:
    """Measure and print the table."""
    if not (args.shared / "photos3d" / "frames.jsonl").is_file():
        print(f"skipped: {args.shared / 'photos3d'} is not there (the photos live in ../shared beside the checkout)")
        sys.exit(0)
    if args.every < 1:
        parser.error("--every must be at least 1")
    print(
        f"command: python benchmarks/photos3d.py --every {args.every} --prior {args.prior} --seed {args.seed}"
        + (f' --text "{args.text}"' if args.text else "")
    )
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}\n")
    rows = run(args)
    scored = [r for r in rows if r["found"]]
    per_photo = np.mean([r["hidden"] for r in scored])
    print(f"photos: {len(rows)}, a hand found on {len(scored)}; hidden joints per photo {per_photo:.1f}\n")
    mp_hidden = np.mean([r["MediaPipe"][0] for r in scored])
    lines = []
    for source in SOURCES:
        hidden = np.mean([r[source][0] for r in scored])
        seen = np.mean([r[source][1] for r in scored])
        lines.append([source, f"{hidden:.1f}", f"{seen:.1f}", f"{hidden / mp_hidden:.3f}"])
    print(markdown_table(("source", "hidden joints, mm", "seen joints, mm", "hidden / MediaPipe's"), lines))
    print("\nmm after a similarity fit on the seen joints (rotation, translation, scale), mean over photos")
    whole = [r["whole"] for r in rows if "whole" in r]
    print(f"\n*As photographed ({len(whole)} photos with a hand found), 3D joints against the truth, mm:*\n")
    header = ("source", "root-relative MPJPE", "after the best scale", "after the best rotation", "PA-MPJPE")
    body = [[source, *(f"{v:.1f}" for v in np.mean([w[source] for w in whole], 0))] for source in SOURCES + STEPS]
    print(markdown_table(header, body))
    print(
        "\nMediaPipe: its metric world landmarks; initial and refined: the photo path's joints (camera frame); "
        "the last three: the photo path's steps and the built-in hand's floor"
    )


if __name__ == "__main__":
    main()
