"""Benchmark of sequence refinement: per-frame against joint refinement of clips, same prior.

    python benchmarks/sequences.py [--clips 48] [--grasps real|synth] [--profile hamer|synth] [--seed 0]
        [--prior default] [--mode affordance|uncond] [--smoothness S] [--carry-frames F] [--shared DIR]
        [--markdown FILE]

Clips (synth/clips.py, this project's own simulation): 24 frames of a grasp closing and then held, a camera
turning slowly, an object edge over 6-12 joints that moves (a finger is seen in some frames and hidden in
others), 2D keypoints with 1.5 px of jitter and a regressor whose errors vary slowly as well as per frame.

- `--grasps real` (default): grasps of `../shared/realgrasps` (real human grasps of objects the shipped
  prior never saw; research use, measured here, never shipped), posed by the data's own skeleton. Skipped
  with a reason when the folder is absent.
- `--grasps synth`: grasps from the built-in generator (another seed than the shipped prior's), posed by
  the built-in hand: the validation clips on which the sequence settings' defaults were chosen.
- The real clip (`--clip-frames`, default 60; 0 skips it): the first frames of the take in
  `../shared/photos3d` (one person's left hand, gestures, 3D joints per frame), written as an MP4 at 10
  frames per second, through `affordhand video` (sequence and `--per-frame`) and through `affordhand image`
  (one run, each hand's result as if its photo were alone), all with the take's per-frame intrinsics and no
  text: frames found, PA-MPJPE and root-relative MPJPE (mm), acceleration error and acceleration
  (mm/frame^2) against the take's joints, and the seconds per frame of each whole run in this process
  (imports excluded).
- Regressor `--profile` as in benchmarks/real_grasps.py: `hamer` (hidden fingers drift to a relaxed hand,
  rotation off by 6 deg, seen joints by 0.08 rad) or `synth` (4 deg, 0.06 rad, drift to the grasps' mean).

Reported per method: the acceleration error and the acceleration (mm/frame^2, root-relative joints, frames
1..T-2), occluded and visible MPJPE (mm) and frames refined per second on this machine (2 threads); the
true motion's own acceleration beside them (a method whose acceleration falls far below it smooths real
motion away).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from common import add_common_args, markdown_copy

from affordhand.errors import AffordhandError
from affordhand.eval.evaluate import evaluate
from affordhand.hand import BuiltinHand
from affordhand.refinement.loader import load_refiner
from affordhand.refinement.pipeline import RefineConfig, match_hand_to_input, refine_records
from affordhand.refinement.settings import SequenceConfig
from affordhand.report.tables import markdown_table
from affordhand.synth.clips import FRAMES, make_clips

COLUMNS = ("accel error", "accel", "occluded MPJPE", "visible MPJPE", "frames/s")


def real_grasps(shared: Path) -> tuple[list[dict], BuiltinHand, np.ndarray]:
    """Return (the real grasps with their sentences, the data's own skeleton, the grasps' mean pose)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from real_grasps import grasps_path, load_grasps, reference_hand

    records = load_grasps(grasps_path(shared))
    return records, reference_hand(records), np.stack([r["hand_pose"] for r in records]).mean(0)


def synthetic_grasps(n: int, seed: int) -> tuple[list[dict], BuiltinHand, np.ndarray]:
    """Return (n grasps of the built-in generator as right-hand records with template sentences, the built-in
    hand, their mean pose)."""
    from affordhand.data.taxonomy import GRASPS
    from affordhand.synth.config import SynthConfig
    from affordhand.synth.dataset import generate

    data = generate(SynthConfig(n=n, seed=seed, free_hands=0.0))
    records = []
    for i, (pose, obj, gid) in enumerate(zip(data["pose_r"], data["objects"], data["grasp_ids"])):
        text = f"A right hand holds a {obj.name}, using a {GRASPS[int(gid)].name} grasp."
        records.append(
            {"id": f"synth{i:04d}", "hand_pose": pose, "object": obj.name, "taxonomy_id": int(gid), "text": text}
        )
    return records, BuiltinHand(), data["pose_r"].mean(0)


def measure(gt, pred, hand, seconds: float | None) -> list:
    m = evaluate(gt, pred, hand).overall
    keys = ("accel_error", "accel", "mpjpe_occluded", "mpjpe_visible")
    return [m[k] for k in keys] + [len(gt) / seconds if seconds else float("nan")]


def run(args) -> dict[str, list]:
    """Return {method: [accel error, accel, occluded, visible, frames/s]}."""
    from real_grasps import PROFILES, RELAXED_HAND

    if args.grasps == "real":
        grasps, data_hand, mean = real_grasps(Path(args.shared))
    else:
        grasps, data_hand, mean = synthetic_grasps(max(args.clips, 40), args.seed + 101)
    mean_pose = RELAXED_HAND if args.profile == "hamer" else mean
    gt, init = make_clips(grasps, args.clips, data_hand, mean_pose, PROFILES[args.profile], args.seed, args.motion)
    refiner = load_refiner(args.prior)
    hand = match_hand_to_input(init, refiner.hand)[0]
    sequence = replace(
        SequenceConfig(),
        **{k: v for k, v in (("smoothness", args.smoothness), ("carry_frames", args.carry_frames)) if v is not None},
    )
    truth = measure(gt, gt, hand, None)
    rows = {"ground truth's own motion": [float("nan"), truth[1], float("nan"), float("nan"), float("nan")]}
    rows["regressor"] = measure(gt, init, hand, None)
    for label, per_frame in (("per-frame refine", True), ("sequence refine", False)):
        config = RefineConfig(mode=args.mode, seed=args.seed, per_frame=per_frame, sequence=sequence)
        start = time.perf_counter()
        out = refine_records(init, config, hand, refiner.prior, uncertainty=refiner.uncertainty)
        rows[label] = measure(gt, out, hand, time.perf_counter() - start)
    return rows


CLIP_COLUMNS = ("frames found", "PA-MPJPE", "MPJPE", "accel error", "accel", "s/frame")


def photos3d_clip(shared: Path, frames: int, folder: Path) -> tuple[Path, Path, list[dict]]:
    """Write the first `frames` frames of ../shared/photos3d (one take) as an MP4 at 10 frames per second, its
    per-frame intrinsics (`--cameras` lines of {"frame", "K"}) and the photos' own camera file (`image --cameras`
    lines); return (clip, per-frame cameras, the frames: image path, K, joints3d)."""
    from PIL import Image

    from affordhand.data.video import VideoWriter

    path = shared / "photos3d" / "frames.jsonl"
    if not path.is_file():
        raise AffordhandError(f"{path} is not there: the real clip lives in ../shared/photos3d beside the checkout")
    rows = [json.loads(line) for line in path.read_text().splitlines()[:frames]]
    clip, cameras = folder / "take.mp4", folder / "cameras.jsonl"
    with VideoWriter(clip, 10.0) as writer:
        for row in rows:
            writer.write(np.asarray(Image.open(shared / "photos3d" / row["image"]).convert("RGB")))
    cameras.write_text("".join(json.dumps({"frame": i, "K": r["K"]}) + "\n" for i, r in enumerate(rows)))
    (folder / "photo_cameras.jsonl").write_text(
        "".join(json.dumps({"image": Path(r["image"]).name, "K": r["K"]}) + "\n" for r in rows)
    )
    truth = [
        {"image": shared / "photos3d" / r["image"], "K": np.asarray(r["K"]), "joints3d": np.asarray(r["joints3d"])}
        for r in rows
    ]
    return clip, cameras, truth


def clip_scores(truth: list[dict], found: dict[int, np.ndarray], seconds: float) -> list:
    """Return [frames found, PA-MPJPE, root-relative MPJPE (mm), acceleration error, acceleration (mm/frame^2),
    s/frame] of predicted joints by frame (found: {frame: (21, 3) m}) against the take's 3D joints; the motion
    over the runs of three consecutive frames found."""
    from affordhand.eval import metrics

    idx = sorted(found)
    pred = torch.as_tensor(np.stack([found[i] for i in idx]))
    gt = torch.as_tensor(np.stack([truth[i]["joints3d"] for i in idx]))
    pa = float(metrics.pa_joint_errors_mm(pred, gt).mean())
    mpjpe = float(metrics.joint_errors_mm(pred, gt).mean())
    triples = [k for k in range(1, len(idx) - 1) if idx[k - 1] == idx[k] - 1 and idx[k + 1] == idx[k] + 1]
    acc_err = [metrics.acceleration_errors_mm(pred[k - 1 : k + 2], gt[k - 1 : k + 2]).mean() for k in triples]
    acc = [1000 * metrics.acceleration(pred[k - 1 : k + 2].double()).norm(dim=-1).mean() for k in triples]
    mean = lambda v: float(np.mean([float(x) for x in v])) if v else float("nan")
    return [len(idx), pa, mpjpe, mean(acc_err), mean(acc), seconds / len(truth)]


def nearest_hand(records: list[dict], frame: dict) -> np.ndarray:
    """Return the joints of the record whose wrist projects nearest the true wrist (a photo may hold two)."""
    K, wrist = frame["K"], frame["joints3d"][0]
    target = (K @ (wrist / wrist[2]))[:2]
    dist = [np.linalg.norm(np.asarray(r["keypoints2d"])[0] - target) for r in records]
    return np.asarray(records[int(np.argmin(dist))]["joints3d"])


def real_clip(args) -> dict[str, list]:
    """Return {method: CLIP_COLUMNS} of the photos3d take through `affordhand video` (sequence and per frame)
    and through `affordhand image`, each photo alone (one run), on the same frames and cameras, in this process."""
    import tempfile

    from affordhand.photo.options import ImageOptions
    from affordhand.photo.pipeline import read_cameras, run_images
    from affordhand.photo.video import VideoOptions, run_video

    refiner = load_refiner(args.prior)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip, cameras, truth = photos3d_clip(Path(args.shared), args.clip_frames, folder)
        options = ImageOptions(views=False, mesh=False)
        for label, per_frame in (("affordhand video", False), ("affordhand video --per-frame", True)):
            video = VideoOptions(per_frame=per_frame, frame_cameras=read_cameras(cameras, key="frame"))
            start = time.perf_counter()
            result = run_video(clip, folder / label.replace(" ", "_"), options, video, refiner)
            seconds = time.perf_counter() - start
            by_frame: dict[int, list] = {}
            for rec in result.records:
                by_frame.setdefault(rec["frame"], []).append(rec)
            rows[label] = clip_scores(truth, {i: nearest_hand(r, truth[i]) for i, r in by_frame.items()}, seconds)
        photos = replace(options, cameras=read_cameras(folder / "photo_cameras.jsonl"))
        start = time.perf_counter()
        entries = run_images([str(f["image"]) for f in truth], folder / "photos", photos, refiner)
        seconds = time.perf_counter() - start
        names = {Path(f["image"]).name: i for i, f in enumerate(truth)}
        by_photo: dict[int, list] = {}
        for e in entries:
            by_photo.setdefault(names[Path(e["record"]["image"]).name], []).append(e["record"])
        found = {i: nearest_hand(r, truth[i]) for i, r in by_photo.items()}
        rows["affordhand image, each photo alone"] = clip_scores(truth, found, seconds)
    return rows


def clip_table(args, rows: dict[str, list]) -> str:
    fmt = lambda k, v: str(v) if k == 0 else "-" if v != v else f"{v:.2f}"
    title = (
        f"### The photos3d take as a clip: its first {args.clip_frames} frames at 10 frames/s, per-frame "
        f"intrinsics, no text, 3D joints against the truth (mm, mm/frame^2; {platform.machine()}, "
        f"{torch.get_num_threads()} threads)"
    )
    body = [[name] + [fmt(k, v) for k, v in enumerate(values)] for name, values in rows.items()]
    return title + "\n\n" + markdown_table(["method", *CLIP_COLUMNS], body)


def tables(args, rows: dict[str, list]) -> str:
    fmt = lambda v, k: "-" if v != v else (f"{v:.0f}" if k == 4 else f"{v:.2f}")
    body = [[name] + [fmt(v, k) for k, v in enumerate(values)] for name, values in rows.items()]
    per, seq = rows["per-frame refine"], rows["sequence refine"]
    ratio = ["sequence / per-frame", f"{seq[0] / per[0]:.2f}x", f"{seq[1] / per[1]:.2f}x", f"{seq[2] / per[2]:.2f}x"]
    ratio += [f"{seq[3] - per[3]:+.2f} mm", f"{seq[4] / per[4]:.2f}x"]
    title = (
        f"### {args.clips} clips x {FRAMES} frames, {args.motion} motion, {args.grasps} grasps, "
        f"{args.profile} regressor, {args.mode} mode, "
        f"prior {args.prior}, seed {args.seed} ({platform.machine()}, {torch.get_num_threads()} threads); "
        "mm/frame^2 and mm"
    )
    return title + "\n\n" + markdown_table(["method", *COLUMNS], body + [ratio])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--grasps", choices=("real", "synth"), default="real")
    parser.add_argument("--profile", choices=("hamer", "synth"), default="hamer")
    parser.add_argument("--motion", choices=("slow", "fast"), default="slow", help="synth/clips.py: MOTIONS")
    parser.add_argument("--mode", choices=("affordance", "uncond"), default="affordance")
    parser.add_argument("--prior", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoothness", type=float, help="override SequenceConfig.smoothness")
    parser.add_argument("--carry-frames", type=float, help="override SequenceConfig.carry_frames")
    parser.add_argument("--clip-frames", type=int, default=60, help="frames of the real take run as a clip (0: none)")
    add_common_args(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    try:
        rows = run(args)
        clip = real_clip(args) if args.clip_frames else None
    except AffordhandError as exc:
        print(f"skipped: {exc}")
        return
    with markdown_copy(args.markdown):
        print(tables(args, rows))
        if clip:
            print()
            print(clip_table(args, clip))


if __name__ == "__main__":
    main()
