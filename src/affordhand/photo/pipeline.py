"""`affordhand image`: photos in, refined 3D hands and the things people look at out."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from affordhand.data.images import exif_focal_px
from affordhand.data.records import write_records
from affordhand.errors import AffordhandError
from affordhand.hand import skeleton
from affordhand.hand.calibrate import FORMAT
from affordhand.hand.camera import default_intrinsics, project
from affordhand.hand.model import BuiltinHand, HandModel, skeletons_hand
from affordhand.photo.detect import detect_hands, read_image
from affordhand.photo.fit import PHOTO_FIT, fit_skeletons, initial_records, occlusion_from_box
from affordhand.photo.options import ImageOptions  # noqa: F401  (its home is options.py)
from affordhand.refinement.loader import Refiner
from affordhand.refinement.pipeline import refine_batch
from affordhand.refinement.settings import GuidedConfig, RefineConfig
from affordhand.report.figures import hand_views
from affordhand.report.mesh import export_mesh
from affordhand.report.overlay import draw_overlay
from affordhand.report.plot3d import hands_html

FINGERS = tuple(skeleton.OPENPOSE_FINGER_JOINTS)


def _numbers(text: str) -> tuple[float, ...]:
    """Return the comma-separated numbers of text, or () where one is not a number."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        return ()


def parse_box(text: str | None):
    """Return (x0, y0, x1, y1) from 'x0,y0,x1,y1', or None."""
    if not text:
        return None
    box = _numbers(text)
    if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
        raise AffordhandError(f"--object-box must be finite x0,y0,x1,y1 with x1 > x0 and y1 > y0, got {text!r}")
    return box


def parse_numbers(text: str | None, count: int, flag: str) -> tuple[float, ...] | None:
    """Return `count` comma-separated numbers, or None for no text (finiteness is the settings' to check)."""
    if not text:
        return None
    values = _numbers(text)
    if len(values) != count:
        raise AffordhandError(f"{flag} must be {count} comma-separated numbers, got {text!r}")
    return values


def read_cameras(path: str | Path, key: str = "image") -> dict:
    """Return {image name: (fx, fy, cx, cy)} from a JSONL file of {"image": "a.jpg", "K": [[fx, 0, cx], [0,
    fy, cy], [0, 0, 1]]} lines (the image's file name, or the path as given on the command line), or with key
    "frame" {frame index: (fx, fy, cx, cy)} from lines of {"frame": 0, "K": ...} (a clip's frames, from 0);
    a line that is not that is a `file:line` error."""
    import json

    cameras = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AffordhandError(f"--cameras {path}: cannot read it ({exc.__class__.__name__})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        what = "NAME" if key == "image" else "INDEX"
        try:
            row = json.loads(line, parse_constant=lambda c: float("nan"))
            K = np.asarray(row["K"], dtype=float)
            name = row[key]
        except (ValueError, KeyError, TypeError):
            raise AffordhandError(f'{where}: expected {{"{key}": {what}, "K": 3 x 3 numbers}}') from None
        named = isinstance(name, str) and bool(name) if key == "image" else type(name) is int and name >= 0
        if not named or K.shape != (3, 3) or not np.isfinite(K).all():
            raise AffordhandError(f'{where}: expected {{"{key}": {what}, "K": 3 x 3 finite numbers}}')
        cameras[name] = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    return cameras


def parse_fingers(text: str | None) -> tuple[str, ...]:
    """Return finger names from 'thumb,index', checked."""
    if not text:
        return ()
    names = tuple(t.strip().lower() for t in text.split(",") if t.strip())
    bad = [n for n in names if n not in FINGERS]
    if bad:
        raise AffordhandError(f"--occluded takes finger names ({', '.join(FINGERS)}), not {', '.join(bad)}")
    return names


MIN_SEEN_BY_DOUBT = 6  # doubt alone never leaves fewer seen joints than this (a box or --occluded may)
# The mirror pass's disagreement (a fraction of the hand's size) at which a keypoint's confidence is one half:
# twice MediaPipe's keypoint noise (KEYPOINT_SD_PX, 3 px at the reference palm of 100 px, on a hand box of
# about two palms: 0.015), as two passes that each place the joint that well disagree by up to about that.
DOUBT_SCALE = 0.03
# A seen keypoint counts for at least this share of a sure one (its noise at most about 3 times a sure one's):
# where MediaPipe doubts the whole hand (a dark photo), its points are still the best evidence of where the
# hand is, and below this share the priors alone would place it (benchmarks/photos.py, harder photos: the
# worst photo 5.4 px behind MediaPipe's points without a floor, 2.3 px with it). Past --max-disagreement a
# joint is unseen instead.
CONFIDENCE_FLOOR = 0.1


def keypoint_confidence(detection) -> np.ndarray:
    """Return (21,) each keypoint's confidence in [CONFIDENCE_FLOOR, 1]: 1 / (1 + (disagreement /
    DOUBT_SCALE)^2), the disagreement between the photo's and its mirror image's pass, or CONFIDENCE_FLOOR if
    higher; 1 where the mirror pass said nothing."""
    if detection.disagreement is None:
        return np.ones(21)
    doubt = np.nan_to_num(np.asarray(detection.disagreement, float), nan=0.0)
    return np.maximum(1.0 / (1.0 + (doubt / DOUBT_SCALE) ** 2), CONFIDENCE_FLOOR)


def joint_visibility(rec: dict, detection, options: ImageOptions) -> np.ndarray:
    """Return (21,) visible flags: not behind the object box, not in a finger the user says is hidden, and
    placed alike by MediaPipe in the image and its mirror image. Doubt alone never leaves fewer than
    MIN_SEEN_BY_DOUBT joints seen: the least doubtful of those the box and the user leave stay seen."""
    visible = occlusion_from_box(rec["joints3d"], rec["keypoints2d"], options.object_box)
    for finger in options.occluded:
        visible[list(skeleton.OPENPOSE_FINGER_JOINTS[finger])] = False
    if detection.disagreement is None:
        return visible
    doubt = np.nan_to_num(np.asarray(detection.disagreement, float), nan=0.0)
    sure = visible & ~(doubt > options.max_disagreement)
    keep = min(MIN_SEEN_BY_DOUBT, int(visible.sum()))
    if sure.sum() < keep:
        order = np.argsort(np.where(visible, doubt, np.inf), kind="stable")
        sure[order[:keep]] = True
    return sure


def _hand_text(rec: dict, path: Path, options: ImageOptions, describer, notes: list[str]) -> str | None:
    """Return the hand's affordance sentence (given, or from the describer; its side made the hand's), or
    None; what went wrong is added to notes."""
    text = options.text
    if text is None and describer is not None:
        from affordhand.text.backends import ModelError
        from affordhand.text.describe import Item

        kp = rec["keypoints2d"]
        box = [float(kp[:, 0].min()), float(kp[:, 1].min()), float(kp[:, 0].max()), float(kp[:, 1].max())]
        try:
            text = describer.run(Item(rec["id"], rec["side"], path, box, options.object_box))["text"]
        except ModelError as exc:
            notes.append(f"no description ({exc}); refined without affordance text")
    if not text:
        if describer is None:
            notes.append("no text given (--text or --describe-backend); refined without affordance text")
        return None
    return for_side(text, rec["side"])


def for_side(text: str, side: str) -> str:
    """Return an affordance sentence made the given side's ("A right hand ..." -> "A left hand ...")."""
    hand = f"A {side} hand"
    return text.replace("A right hand", hand).replace("A left hand", hand)


def _write_views(image, rec, refined, K, hands: tuple, stem: str, out: Path, options: ImageOptions) -> dict:
    """Write the overlay, mesh and (with options.views) the 3D figure and viewer; return their paths and the
    2D keypoints before and after, and the wrist-relative joints before and after. hands: (the hand's own
    model, the model it was derived from)."""
    uv_before = project(torch.as_tensor(rec["joints3d"])[None], torch.as_tensor(K)[None])[0].numpy()
    uv_after = project(torch.as_tensor(refined["joints3d"])[None], torch.as_tensor(K)[None])[0].numpy()
    # 3D views are wrist-relative: the refinement's global fit may trade depth for size, which would
    # otherwise show the same hand twice at different distances.
    wrist = np.asarray(refined["joints3d"])[:1]
    before = np.asarray(rec["joints3d"]) - np.asarray(rec["joints3d"])[:1]
    after = np.asarray(refined["joints3d"]) - wrist
    surface = None
    overlay = out / f"{stem}_overlay.png"
    radius = _radius_px(refined, K)
    files = {"overlay": draw_overlay(image, uv_before, uv_after, rec["visible"], overlay, options.object_box, radius)}
    if options.mesh or options.views:
        vertices, faces = _surface(*hands, refined, options.device)
        surface = (vertices - wrist, faces)
    if options.mesh:
        files["mesh"] = export_mesh(out / f"{stem}.glb", vertices, faces)
    if options.views:
        layers = [(before, "#d62728", "initial"), (after, "#1f77b4", "refined")]
        title = f"{stem} ({rec['side']})"
        files["figure"] = hand_views(layers, out / f"{stem}_3d.png", title, mesh=surface)
        files["viewer"] = hands_html(layers, out / f"{stem}_3d.html", title=stem, mesh=surface)
    return {"files": files, "uv": (uv_before, uv_after), "joints": (before, after), "surface": surface}


def _entry(rec: dict, refined: dict, views: dict, note, mode: str) -> dict:
    """Return the report entry of one hand."""
    seen = rec["visible"].astype(bool)
    mean_px = lambda uv: float(np.linalg.norm(uv - rec["keypoints2d"], axis=-1)[seen].mean())
    err = lambda uv: mean_px(uv) if seen.any() else float("nan")
    uv_before, uv_after = views["uv"]
    spread = refined.get("joint_std_mm")
    return {
        "record": refined,
        "files": views["files"],
        "joints_before": views["joints"][0],
        "joints_after": views["joints"][1],
        "surface": views["surface"],
        "text": rec.get("text"),
        "note": note,
        "mode": mode,
        "reprojection_px": (err(uv_before), err(uv_after)),
        "occluded": int((~seen).sum()),
        "keypoints2d": {"detected": rec["keypoints2d"], "initial": uv_before, "refined": uv_after},
        "spread_mm": float(np.mean(spread)) if spread is not None else None,
    }


def camera_for(path: Path, width: int, height: int, options: ImageOptions) -> tuple[np.ndarray, str]:
    """Return the photo's intrinsics K (3 x 3 px) and where its focal length comes from, first found of:
    "cameras" (this image's line in `--cameras`), "intrinsics", "focal", "exif" (the 35 mm-equivalent focal
    length the camera recorded) and "default" (a 60-degree horizontal field of view, centred)."""
    K = default_intrinsics(width, height).numpy()
    cameras = options.cameras or {}
    listed = cameras.get(path.name, cameras.get(str(path)))
    for source, intrinsics in (("cameras", listed), ("intrinsics", options.intrinsics)):
        if intrinsics is not None:
            K[0, 0], K[1, 1], K[0, 2], K[1, 2] = intrinsics
            return K, source
    if options.focal:
        K[0, 0] = K[1, 1] = options.focal
        return K, "focal"
    focal = exif_focal_px(path, width, height)
    if focal is not None:
        K[0, 0] = K[1, 1] = focal
        return K, "exif"
    return K, "default"


def process_image(path: Path, out: Path, options: ImageOptions, refiner: Refiner, describer=None) -> list[dict]:
    """Detect, fit, refine and write the outputs of every hand in one image with the refiner's prior, hand
    model and uncertainty recipe (each refined joint gets its 90 % radius, drawn as a circle in the overlay);
    return report entries. The refiner's device is the one used. An image that cannot be read raises
    AffordhandError."""
    return process_images([Path(path)], out, options, refiner, describer, strict=True)


def _detections(paths: list[Path], options: ImageOptions, strict: bool, done) -> list[tuple]:
    """Return (path, image, hands found, K, focal source) of each image with a hand; an image without one is
    said on stderr, one that cannot be read too (strict: raised)."""
    out = []
    for path in paths:
        try:
            image = read_image(path)
        except AffordhandError as exc:
            if strict:
                raise
            print(f"error: {exc}", file=sys.stderr)  # one unreadable image does not stop the batch
            done(path)
            continue
        h, w = image.shape[:2]
        found = detect_hands(image, mirrored=options.mirrored, flip_check=options.max_disagreement < 1)
        if not found:
            print(f"{path}: no hand found (MediaPipe); nothing written for this image", file=sys.stderr)
            done(path)
            continue
        out.append((path, image, found, *camera_for(path, w, h, options)))
    return out


def process_images(
    paths: list[Path], out: Path, options: ImageOptions, refiner: Refiner, describer=None, strict=False, done=None
) -> list[dict]:
    """Return the report entries of every hand in the images (process_image's, each image's hands as alone),
    the fits batched over all hands: MediaPipe on each image, then every hand's initial fit at once, every
    hand's own skeleton at once and refinement at once (_refined_together), then the outputs hand by hand.
    done(path) is called as each image is finished (a progress bar's step)."""
    options = replace(options, device=refiner.device)
    done = done or (lambda path: None)
    hand, front = refiner.device_hand, refiner.hand  # the fits run on the CPU
    images = _detections([Path(p) for p in paths], options, strict, done)
    if not images:
        return []
    found = [(path, k, h, K, source) for path, _, hands, K, source in images for k, h in enumerate(hands)]
    pixels = {path: image for path, image, *_ in images}
    ids = [f"{path.stem}/hand{k}" for path, k, *_ in found]
    init, side_notes = initial_records(front, [f[2] for f in found], np.stack([f[3] for f in found]), ids)
    notes = {}
    for rec, (path, k, detected, K, source) in zip(init, found):
        rec["focal_px"], rec["focal_source"] = float(K[0, 0]), source
        rec["visible"], rec["image"] = joint_visibility(rec, detected, options), str(path)
        if options.weigh_doubt:
            rec["keypoint_confidence"] = keypoint_confidence(detected)
        if options.object_box is not None:
            rec["object_box"] = list(options.object_box)
        notes[rec["id"]] = [side_notes[rec["id"]]] if rec["id"] in side_notes else []
        text = _hand_text(rec, path, options, describer, notes[rec["id"]])
        if text:
            rec["text"] = text
    skeletons = _own_skeletons(hand, front, init, options)
    init = _refitted(init, skeletons)
    refined = _refined_together(init, skeletons, hand, refiner, options)
    entries = []
    for n, (rec, done_rec, bones, (path, k, _, K, _)) in enumerate(zip(init, refined, skeletons, found)):
        own = hand if bones is None else bones.to(options.device)
        views = _write_views(pixels[path], rec, done_rec, K, (own, hand), f"{path.stem}_hand{k}", out, options)
        entries.append(_entry(rec, done_rec, views, "; ".join(notes[rec["id"]]) or None, _mode(rec)))
        if n + 1 == len(found) or found[n + 1][0] != path:
            done(path)
    return entries


def _mode(record: dict) -> str:
    """Return the refinement mode of a photo's hand: affordance with a sentence, uncond without."""
    return "affordance" if record.get("text") else "uncond"


def _refined_together(records: list[dict], skeletons: list, hand: HandModel, refiner: Refiner, options) -> list:
    """Return the refined records, in their order: the hands with text (affordance mode) in one batch and the
    others (uncond) in another, each hand posed by its own skeleton (hand/model.py: SkeletonsHand) or, where
    the hands have none (_own_skeletons gives all or none), by the refiner's hand. Each hand's noise is its
    own (its id's seed), so it ends as it would alone."""
    out: list = [None] * len(records)
    guided = GuidedConfig(samples=options.samples)
    for mode in ("affordance", "uncond"):
        members = [i for i, rec in enumerate(records) if _mode(rec) == mode]
        if not members:
            continue
        own = [skeletons[i] for i in members]
        model = hand if own[0] is None else skeletons_hand(own).to(options.device)
        config = RefineConfig(mode=mode, seed=options.seed, guided=guided, fit=PHOTO_FIT)
        batch = [records[i] for i in members]  # groups=[]: no sequences, so the batch keeps its order
        refined = refine_batch(batch, config, model, refiner.prior, options.device, refiner.uncertainty, groups=[])
        for i, rec in zip(members, refined):
            out[i] = rec
    return out


def _own_skeletons(hand: HandModel, front: HandModel, records: list[dict], options: ImageOptions) -> list:
    """Return each hand's own skeleton (photo/fit.py: fit_skeletons, all at once), or None per hand where
    the proportions stay the model's (options.own_skeleton off, or not the built-in hand)."""
    if not options.own_skeleton or type(hand) is not BuiltinHand:
        return [None] * len(records)
    return fit_skeletons(front, records)


def _refitted(records: list[dict], skeletons: list) -> list[dict]:
    """Return the records fitted again (global pose, then fingers) each with its own skeleton, all at once,
    the skeleton kept in the record (`skeleton`, the format of `affordhand calibrate`'s files); records
    whose skeleton is None as they are."""
    mine = [i for i, own in enumerate(skeletons) if own is not None]
    if not mine:
        return records
    hand = skeletons_hand([skeletons[i] for i in mine])
    fitted = refine_batch([records[i] for i in mine], RefineConfig(mode="fit", fit=PHOTO_FIT), hand, groups=[])
    out = list(records)
    rounded = lambda t: np.round(t.numpy().astype(float), 6).tolist()  # metres, as skeleton files hold them
    for i, rec in zip(mine, fitted):
        rec.pop("refine_mode", None)
        rec["skeleton"] = {
            "format": FORMAT,
            "rest_joints": rounded(skeletons[i].rest),
            "tips": rounded(skeletons[i].tips),
        }
        out[i] = rec
    return out


def _with_skeleton(hand: HandModel, rec: dict, own, options: ImageOptions) -> tuple[HandModel, dict]:
    """Return (the hand model for this hand, on options.device; its initial record fitted again with it, the
    skeleton kept in the record (`skeleton`, the format of `affordhand calibrate`'s files)); the model and
    record as they are where own is None."""
    if own is None:
        return hand, rec
    return own.to(options.device), _refitted([rec], [own])[0]


def _own_skeleton(hand: HandModel, front: HandModel, rec: dict, options: ImageOptions) -> tuple[HandModel, dict]:
    """Return (the hand model for this hand, on options.device; its initial record): the built-in hand with
    the joints moved to meet the visible keypoints and the record fitted again with it, the skeleton kept in
    the record; else the model and record as they are. front: the same hand model on the CPU."""
    return _with_skeleton(hand, rec, _own_skeletons(hand, front, [rec], options)[0], options)


def _radius_px(record: dict, K: np.ndarray) -> np.ndarray | None:
    """Return each refined joint's uncertainty radius in pixels at its depth, or None without one."""
    if record.get("joint_uncertainty_mm") is None:
        return None
    depth = np.clip(np.asarray(record["joints3d"])[:, 2], 1e-3, None)
    return np.asarray(record["joint_uncertainty_mm"]) / 1000 * K[0, 0] / depth


def _surface(hand: HandModel, base: HandModel, record: dict, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the refined hand's surface (vertices (V, 3) m, camera frame; faces (F, 3)): MANO's mesh with the
    user's MANO files, else the built-in hand's license-free surface (hand/surface.py), made for `base`, the
    model the hand's own proportions were derived from."""
    from affordhand.hand.surface import hand_mesh

    t = lambda k: torch.as_tensor(np.asarray(record[k]), dtype=torch.float32, device=device)[None]
    left = torch.tensor([record["side"] == "left"], device=device)
    base = base if type(base) is BuiltinHand else None
    return hand_mesh(hand, t("global_orient"), t("hand_pose"), t("transl"), t("scale")[0], left, base)[0]


# Photos whose hands are fitted and refined together in one pass of run_images: it bounds the memory of a
# large folder, and records.jsonl is written after each pass.
PHOTOS_PER_PASS = 64


def run_images(
    paths: list[str],
    out_dir: str | Path,
    options: ImageOptions,
    refiner: Refiner,
    describer=None,
) -> list[dict]:
    """Process every image, PHOTOS_PER_PASS at a time; write records.jsonl (after each pass) and report.html
    into out_dir; return the report entries."""
    from affordhand.report.html import batch_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from rich.progress import Progress

    from affordhand.progress import show_progress

    entries = []
    with Progress(disable=not show_progress() or len(paths) < 2) as bar:
        task = bar.add_task("image", total=len(paths))
        for start in range(0, len(paths), PHOTOS_PER_PASS):
            chunk = paths[start : start + PHOTOS_PER_PASS]
            entries += process_images(chunk, out, options, refiner, describer, done=lambda path: bar.advance(task))
            write_records(out / "records.jsonl", [e["record"] for e in entries])  # a crash keeps the passes done
    batch_report(out / "report.html", entries)
    return entries
