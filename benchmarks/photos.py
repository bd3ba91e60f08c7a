"""Benchmark on real photos: does the refined hand sit on the hand in the photo?

    python benchmarks/photos.py [--text "A right hand holds an object."] [--samples 4] [--shared DIR] [--skeleton-sd MM]

Photos: every annotated hand of `../shared/photos` (OneHand10K and CMU Panoptic samples with 2D joint
annotations; research use, measured here only; skipped with a reason when absent) and the example photo's
three by-eye points (examples/photos/README.md). Each photo goes through `affordhand image` (MediaPipe,
initial fit, refinement with the shipped prior); the detected hand nearest the annotation is scored.
For MediaPipe's points, the initial fit's projection and the refined hand's projection it reports, over
the annotated joints that refinement treats as visible (and apart, the ones it treats as occluded): the
mean distance to the annotation in pixels, and PCK at 0.1 of the hand's size (the annotation's bounding
box, longer side).

Speed (second table): seconds per photo of the pipeline as `affordhand image` runs it on one photo (no
`--views`), beside MediaPipe's own two passes (the photo and its mirror image) on the same photo, measured in
the same run; then one run over 20 photos (the data set photos copied in turn: fits and refinement batched
over all their hands), beside MediaPipe's two passes over the same 20.

Hidden fingers (third table): on each data set photo with every joint annotated, a grey box is drawn over
the ring and pinky fingers' annotated joints (their box, grown by 8 % of the hand's size), and the photo
goes through the pipeline with `--occluded ring,pinky`. MediaPipe still places those joints (a guess
behind the box); the initial fit and refinement treat them as hidden. Scored on those 8 joints against the
annotation: is the refined hand's guess closer than MediaPipe's and the initial fit's?

Harder photos (fourth table): each data set photo, and every 10th frame of `../shared/photos3d` (its 3D joints
projected with the frame's intrinsics), made small (224 px), blurred or dark, through the pipeline
with MediaPipe's doubt weighed (the default: each keypoint's confidence falls with how far it moves between
the photo and its mirror image; unseen only past 0.3 of the hand's size) and dropped (unseen past
0.06, the others fully trusted); scored on every annotated joint.

Last, it prints how far MediaPipe's points move between the photo and its mirror image (the flip check of
`--max-disagreement`) on the data set photos, against MediaPipe's error on those joints.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import REPO, add_common_args, markdown_copy

from affordhand.errors import AffordhandError
from affordhand.hand import skeleton
from affordhand.report.tables import markdown_table

EXAMPLE = REPO / "examples" / "photos" / "fingerpose_halfcurl.jpg"
# By-eye points of the example photo (examples/photos/README.md): index tip, index PIP, thumb tip.
EXAMPLE_POINTS = {8: (335, 210), 6: (195, 235), 4: (332, 302)}
SOURCES = ("detected", "initial", "refined")


def annotated_hands(shared: Path) -> list[dict]:
    """Return [{image, keypoints2d (21, 2), labelled (21,)}]: the shared photos' annotations (when the
    folder is there) and the example photo's by-eye points."""
    hands = []
    path = shared / "photos" / "annotations.jsonl"
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            hands.append(
                {
                    "image": shared / "photos" / row["image"],
                    "keypoints2d": np.asarray(row["keypoints2d"], float),
                    "labelled": np.asarray(row["labelled"], bool),
                }
            )
    kp, labelled = np.zeros((21, 2)), np.zeros(21, bool)
    for j, uv in EXAMPLE_POINTS.items():
        kp[j], labelled[j] = uv, True
    hands.append({"image": EXAMPLE, "keypoints2d": kp, "labelled": labelled})
    return hands


def score(hand: dict, entries: list[dict]) -> dict | None:
    """Return per source (detected, initial, refined) the errors (px) of the labelled joints, split by
    what refinement took as visible, for the detected hand nearest the annotation; None if none found."""
    if not entries:
        return None
    lab = hand["labelled"]
    near = min(
        entries,
        key=lambda e: np.linalg.norm(e["keypoints2d"]["detected"][lab] - hand["keypoints2d"][lab], axis=-1).mean(),
    )
    visible = np.asarray(near["record"]["visible"], bool)
    box = hand["keypoints2d"][lab]
    size = float(np.ptp(box, 0).max()) if lab.sum() > 1 else float("nan")
    out = {"size": size, "visible": lab & visible, "occluded": lab & ~visible, "extent": extent_ratio(near)}
    for source in SOURCES:
        out[source] = np.linalg.norm(near["keypoints2d"][source] - hand["keypoints2d"], axis=-1)
    return out


def extent_ratio(entry: dict) -> float:
    """Return the diagonal of the refined hand's projected joints' 2D box over that of MediaPipe's 21 points
    (a collapsed hand is far below 1)."""
    diagonal = lambda uv: float(np.linalg.norm(np.ptp(np.asarray(uv), 0)))
    return diagonal(entry["keypoints2d"]["refined"]) / diagonal(entry["keypoints2d"]["detected"])


def print_extents(ratios: list[float], what: str) -> None:
    """Print the range of extent_ratio over hands, against the target (within 1.5x either way)."""
    lo, hi = min(ratios), max(ratios)
    met = "met" if 1 / 1.5 <= lo and hi <= 1.5 else "NOT met"
    print(
        f"\n*No collapse, {what}: the refined hand's projected extent is {lo:.2f}-{hi:.2f}x MediaPipe's points' "
        f"over {len(ratios)} hands (target: within 1.5x either way): {met}.*"
    )


def run(args) -> list[tuple[str, dict]]:
    from affordhand.photo.options import ImageOptions
    from affordhand.photo.pipeline import process_image, process_images
    from affordhand.refinement.loader import load_refiner

    refiner = load_refiner("default")
    options = ImageOptions(text=args.text, samples=args.samples, views=False, mesh=False)  # the CLI's default
    rows, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        process_image(EXAMPLE, Path(tmp), options, refiner)  # warm-up: graphs, text encoder, first calls
        for hand in annotated_hands(Path(args.shared)):
            t0 = time.perf_counter()
            entries = process_image(Path(hand["image"]), Path(tmp), options, refiner)
            seconds.append((Path(hand["image"]).name, time.perf_counter() - t0, mediapipe_seconds(hand["image"])))
            rows.append((Path(hand["image"]).name, score(hand, entries)))
        batch = batch_of_photos([Path(hand["image"]) for hand in annotated_hands(Path(args.shared))], Path(tmp))
        theirs = sum(mediapipe_seconds(path) for path in batch)
        t0 = time.perf_counter()  # the photos as one run of `affordhand image`: fits and refinement batched
        process_images(batch, Path(tmp), options, refiner)
        seconds.append((f"one run over {len(batch)} photos (batched)", time.perf_counter() - t0, -theirs))
    return rows, seconds


BATCH = 20  # photos in the batched run, as the issue measures it


def batch_of_photos(photos: list[Path], folder: Path) -> list[Path]:
    """Return BATCH photo files in folder: copies of the photos given, in turn (each copy its own file)."""
    import shutil

    paths = []
    for k in range(BATCH):
        source = photos[k % len(photos)]
        paths.append(folder / f"batch{k:02d}_{source.name}")
        shutil.copy(source, paths[-1])
    return paths


def mediapipe_seconds(path) -> float:
    """Return the seconds MediaPipe's own two passes (the photo and its mirror image) take on a photo."""
    from affordhand.photo.detect import detect_hands, read_image

    image = read_image(path)
    t0 = time.perf_counter()
    detect_hands(image, flip_check=True)
    return time.perf_counter() - t0


def print_speed(seconds: list[tuple[str, float, float]]) -> None:
    """Print seconds per photo of the photo pipeline (as `affordhand image` runs it on one photo, without
    --views) beside MediaPipe's own two passes on the same photo, measured in the same run, and the seconds
    of one run over BATCH photos (fits and refinement batched over their hands) beside MediaPipe's on the
    same BATCH photos (given negated)."""
    batched = [(name, ours, -theirs) for name, ours, theirs in seconds if theirs < 0]
    seconds = [s for s in seconds if s[2] >= 0]
    rows = [[name, f"{theirs:.2f}", f"{ours:.2f}", f"{ours / theirs:.0f}x"] for name, ours, theirs in seconds]
    ours, theirs = sum(s[1] for s in seconds), sum(s[2] for s in seconds)
    rows.append([f"all ({len(seconds)} photos, after a warm-up photo)", f"{theirs:.2f}", f"{ours:.2f}"])
    rows[-1].append(f"{ours / theirs:.0f}x")
    for name, together, mediapipe in batched:
        rows.append([name, f"{mediapipe:.2f}", f"{together:.2f}", f"{together / mediapipe:.1f}x"])
    header = ("photo", "MediaPipe's two passes, s", "affordhand image, s", "ratio")
    print("\n" + markdown_table(header, rows))


HIDDEN = ("ring", "pinky")


def hidden_variant(hand: dict, folder: Path) -> dict | None:
    """Return the hand with its photo copied into folder with a grey box over the HIDDEN fingers' annotated
    joints, or None where not every joint is annotated."""
    from PIL import Image, ImageDraw

    if not hand["labelled"].all():
        return None
    joints = [j for f in HIDDEN for j in skeleton.OPENPOSE_FINGER_JOINTS[f]]
    kp = hand["keypoints2d"]
    grow = 0.08 * float(np.ptp(kp, 0).max())
    lo, hi = kp[joints].min(0) - grow, kp[joints].max(0) + grow
    image = Image.open(hand["image"]).convert("RGB")
    ImageDraw.Draw(image).rectangle([*lo, *hi], fill=(128, 128, 128))
    path = folder / f"hidden_{Path(hand['image']).name}"
    image.save(path)
    labelled = np.zeros(21, bool)
    labelled[joints] = True
    return {"image": path, "keypoints2d": kp, "labelled": labelled}


def run_hidden(args) -> list[tuple[str, dict]]:
    """Return [(photo, score)] of the hidden-finger variants (see the module's docstring)."""
    from affordhand.photo.options import ImageOptions
    from affordhand.photo.pipeline import process_image
    from affordhand.refinement.loader import load_refiner

    refiner = load_refiner("default")
    options = ImageOptions(text=args.text, samples=args.samples, views=False, mesh=False, occluded=HIDDEN)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hand in annotated_hands(Path(args.shared)):
            variant = hidden_variant(hand, Path(tmp))
            if variant is not None:
                entries = process_image(variant["image"], Path(tmp), options, refiner)
                rows.append((Path(hand["image"]).name, score(variant, entries)))
    return rows


def print_hidden(rows: list[tuple[str, dict]]) -> None:
    print(f"\n{', '.join(HIDDEN)} fingers hidden by a drawn box (their 8 joints, px from the annotation):\n")
    pooled, lines = {s: [] for s in SOURCES}, []
    for name, r in rows:
        if r is None:
            lines.append([name, "no hand found", "", ""])
            continue
        hid = r["occluded"]
        for s in SOURCES:
            pooled[s] += list(r[s][hid])
        lines.append([name, *(f"{r[s][hid].mean():.1f}" for s in SOURCES)])
    if pooled["detected"]:
        lines.append(["all", *(f"{np.mean(pooled[s]):.1f}" for s in SOURCES)])
    print(markdown_table(("photo", "MediaPipe's guess", "initial fit", "refined"), lines))


def print_table(rows: list[tuple[str, dict]]) -> None:
    pooled = {s: [] for s in SOURCES}
    pck = {s: [] for s in SOURCES}
    lines = []
    for name, r in rows:
        if r is None:
            lines.append([name, "-", "no hand found", "", "", "", ""])
            continue
        vis, occ = r["visible"], r["occluded"]
        mean = {s: float(r[s][vis].mean()) if vis.any() else float("nan") for s in SOURCES}
        hit = {
            s: float((r[s][vis] <= 0.1 * r["size"]).mean()) if vis.any() and r["size"] == r["size"] else float("nan")
            for s in SOURCES
        }
        for s in SOURCES:
            pooled[s] += list(r[s][vis])
            if r["size"] == r["size"]:
                pck[s] += list(r[s][vis] <= 0.1 * r["size"])
        occluded = f"{r['detected'][occ].mean():.1f} / {r['refined'][occ].mean():.1f}" if occ.any() else "-"
        means = [f"{mean[s]:.1f}" for s in SOURCES]
        hits = " / ".join(f"{hit[s]:.2f}" for s in SOURCES)
        lines.append([name, f"{int(vis.sum())} / {int(occ.sum())}", *means, hits, occluded])
    m = {s: float(np.mean(pooled[s])) for s in SOURCES}
    hits = " / ".join(f"{np.mean(pck[s]):.2f}" for s in SOURCES)
    lines.append(["all", f"{len(pooled['detected'])} joints", *(f"{m[s]:.1f}" for s in SOURCES), hits, ""])
    header = ("photo", "joints (vis / occ)", "MediaPipe px", "initial fit px", "refined px")
    header += ("PCK@0.1 MediaPipe / initial / refined", "occluded: MediaPipe / refined px")
    print(markdown_table(header, lines))
    worse = []
    for name, r in rows:
        if r is not None and r["visible"].any():
            diff = (r["refined"] - r["detected"])[r["visible"]]  # paired, per joint
            if diff.mean() > 0:
                se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
                worse.append(f"{name} ({diff.mean():+.2f} px, standard error {se:.2f} over {len(diff)} joints)")
    print(
        "\n- refined <= MediaPipe on visible joints, every photo: "
        + ("met" if not worse else "NOT met: " + "; ".join(worse))
    )
    print(
        f"- refined at most 1 px worse overall: {m['refined'] - m['detected']:+.2f} px -> "
        f"{'met' if m['refined'] - m['detected'] <= 1 else 'NOT met'}"
    )
    print_extents([r["extent"] for _, r in rows if r is not None], "annotated photos")


UNSURE = ("small", "blurred", "dark")  # versions of the photos on which MediaPipe is less sure
DOUBT = {  # label: ImageOptions settings
    "doubt dropped (past 0.06)": {"max_disagreement": 0.06, "weigh_doubt": False},
    "doubt weighed (default)": {},
}


def unsure_variant(hand: dict, kind: str, folder: Path) -> dict:
    """Return the hand with its photo made harder for MediaPipe, saved in folder: "small" (longer side 224
    px, the annotation scaled with it), "blurred" (Gaussian, radius 1 % of the longer side) or "dark" (a
    quarter of the light, gamma 1.5)."""
    from PIL import Image, ImageFilter

    from affordhand.data.images import read_image

    image = Image.fromarray(read_image(hand["image"]))
    kp = hand["keypoints2d"].copy()
    if kind == "small":
        zoom = 224 / max(image.size)
        image = image.resize((round(image.size[0] * zoom), round(image.size[1] * zoom)), Image.LANCZOS)
        kp = kp * zoom
    elif kind == "blurred":
        image = image.filter(ImageFilter.GaussianBlur(0.01 * max(image.size)))
    else:
        pixels = np.asarray(image, float) / 255
        image = Image.fromarray(np.uint8(255 * 0.25 * pixels**1.5))
    path = folder / f"{kind}_{Path(hand['image']).stem}.png"
    image.save(path)
    return {**hand, "image": path, "keypoints2d": kp}


PHOTOS3D_EVERY = 10  # every 10th frame of the photos3d take in the harder-photo table (20 photos)


def photos3d_hands(shared: Path) -> list[dict]:
    """Return [{image, keypoints2d (21, 2), labelled (21,)}] of every PHOTOS3D_EVERY-th frame of photos3d, its
    21 joints projected with the frame's intrinsics (all labelled); [] when the folder is not there."""
    from photos3d import frames, projected

    if not (shared / "photos3d" / "frames.jsonl").is_file():
        return []
    return [
        {"image": f["image"], "keypoints2d": projected(f), "labelled": np.ones(21, bool)}
        for f in frames(shared, PHOTOS3D_EVERY)
    ]


def run_unsure(args) -> dict[tuple[str, str], dict[str, list]]:
    """Return {(photo set, version): {method: per_photo_errors}}: each photo of the data set and of photos3d
    made small, blurred or dark, through the pipeline (one run per set, version and method) with doubt
    dropped (unseen past 0.06) and weighed (DOUBT)."""
    from affordhand.photo.options import ImageOptions
    from affordhand.photo.pipeline import process_images
    from affordhand.refinement.loader import load_refiner

    refiner = load_refiner("default")
    sets = {"photos": annotated_hands(Path(args.shared))[:-1], "photos3d": photos3d_hands(Path(args.shared))}
    out: dict[tuple[str, str], dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, hands in sets.items():
            folder = Path(tmp) / name
            folder.mkdir()
            for kind in UNSURE if hands else ():
                versions = [unsure_variant(hand, kind, folder) for hand in hands]
                out[name, kind] = {}
                for label, settings in DOUBT.items():
                    options = ImageOptions(text=args.text, samples=args.samples, views=False, mesh=False, **settings)
                    entries = process_images([Path(v["image"]) for v in versions], folder, options, refiner)
                    out[name, kind][label] = per_photo_errors(versions, entries)
    return out


def per_photo_errors(versions: list[dict], entries: list[dict]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Return per photo with a hand found (MediaPipe's, the refined hand's) error (px) per annotated joint,
    and the refined hand's extent_ratio."""
    out = []
    for version in versions:
        found = score(version, [e for e in entries if Path(e["record"]["image"]) == Path(version["image"])])
        if found is not None:
            lab = version["labelled"]
            out.append((found["detected"][lab], found["refined"][lab], found["extent"]))
    return out


def print_unsure(rows: dict[tuple[str, str], dict[str, list]]) -> None:
    """Print the refined hand's error on the harder versions of the photos, doubt dropped against weighed:
    over every annotated joint, and the photo where the refined hand is farthest behind MediaPipe's points."""
    print(
        "\n*Photos made harder for MediaPipe (every annotated joint, px; MediaPipe's points / refined; the worst"
        " photo: refined minus MediaPipe, its mean over its joints):*\n"
    )
    body = []
    for (name, kind), methods in rows.items():
        cells = [f"{name}, {kind}"]
        for label in DOUBT:
            photos = methods[label]
            detected = np.concatenate([d for d, _, _ in photos]) if photos else np.zeros(0)
            refined = np.concatenate([r for _, r, _ in photos]) if photos else np.zeros(0)
            worst = max((r.mean() - d.mean() for d, r, _ in photos), default=float("nan"))
            cells.append(
                f"{np.mean(detected):.1f} / {np.mean(refined):.1f}, worst {worst:+.1f} "
                f"({len(photos)} photos, {len(refined)} joints)"
            )
        body.append(cells)
    print(markdown_table(["photos, version", *DOUBT], body))
    weighed = [e for methods in rows.values() for _, _, e in methods[list(DOUBT)[-1]]]
    if weighed:
        print_extents(weighed, "harder photos, doubt weighed")


def print_disagreement(shared: Path, threshold: float = 0.04) -> None:
    """Print how the mirror pass's disagreement (detect.py; `--max-disagreement`, a fraction of the hand's
    size: MediaPipe's keypoints' box, longer side) relates to MediaPipe's error, in the same unit, on the
    data set photos' annotated joints."""
    from affordhand.photo.detect import detect_hands, read_image
    from affordhand.photo.options import ImageOptions

    moved, error = [], []
    for hand in annotated_hands(shared)[:-1]:  # the data set's photos, not the example's three points
        found, lab = detect_hands(read_image(hand["image"])), hand["labelled"]
        if not found:
            continue
        kp = hand["keypoints2d"]
        near = min(found, key=lambda f: np.linalg.norm(f.keypoints2d[lab] - kp[lab], axis=-1).mean())
        size = max(float(np.ptp(near.keypoints2d, 0).max()), 1.0)
        moved += list(near.disagreement[lab])
        error += list(np.linalg.norm(near.keypoints2d - kp, axis=-1)[lab] / size)
    moved, error = np.asarray(moved), np.asarray(error)
    known = np.isfinite(moved)  # nan where the mirror pass missed the hand
    if not known.any():
        print("\nMirror pass: no annotated hand was found in both passes")
        return
    moved, error = moved[known], error[known]
    default = ImageOptions.max_disagreement
    above = moved > threshold
    print(
        f"\nMirror pass: of {len(moved)} annotated joints found in both passes ({int((~known).sum())} not), "
        f"{int((moved > default).sum())} moved by more than the default --max-disagreement {default} of the "
        f"hand's size and {int(above.sum())} by more than {threshold}; the largest {moved.max():.3f}. MediaPipe's "
        f"error, in the same unit: {error[above].mean() if above.any() else float('nan'):.3f} on those "
        f"above {threshold}, {error[~above].mean() if (~above).any() else float('nan'):.3f} on the others"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="A right hand holds an object.")
    parser.add_argument("--samples", type=int, default=4)
    add_common_args(parser)
    parser.add_argument(
        "--skeleton-sd",
        type=float,
        default=None,
        help="the skeleton prior's spread in mm (photo/fit.py: SKELETON_SD_MM) for this run, to see where a "
        "looser prior takes the fit",
    )
    args = parser.parse_args()
    with markdown_copy(args.markdown):
        report(args, parser)


def report(args, parser: argparse.ArgumentParser) -> None:
    """Measure and print the tables."""
    if args.skeleton_sd is not None:
        from affordhand.photo import fit

        fit.SKELETON_SD_MM = args.skeleton_sd  # a one-shot script: left set
    extra = f" --skeleton-sd {args.skeleton_sd:g}" if args.skeleton_sd is not None else ""
    print(f"command: python benchmarks/photos.py --text {args.text!r} --samples {args.samples}{extra}")
    if not (Path(args.shared) / "photos" / "annotations.jsonl").is_file():
        print(f"note: {Path(args.shared) / 'photos'} is not there: only the example photo is measured")
    try:
        rows, seconds = run(args)
    except AffordhandError as exc:
        print(f"skipped: {exc}")
        return
    print_table(rows)
    print_speed(seconds)
    if (Path(args.shared) / "photos" / "annotations.jsonl").is_file():
        print_hidden(run_hidden(args))
        print_unsure(run_unsure(args))
        print_disagreement(Path(args.shared))


if __name__ == "__main__":
    main()
