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
- Regressor `--profile` as in benchmarks/real_grasps.py: `hamer` (hidden fingers drift to a relaxed hand,
  rotation off by 6 deg, seen joints by 0.08 rad) or `synth` (4 deg, 0.06 rad, drift to the grasps' mean).

Reported per method: the acceleration error and the acceleration (mm/frame^2, root-relative joints, frames
1..T-2), occluded and visible MPJPE (mm) and frames refined per second on this machine (2 threads); the
true motion's own acceleration beside them (a method whose acceleration falls far below it smooths real
motion away).
"""

from __future__ import annotations

import argparse
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
    gt, init = make_clips(grasps, args.clips, data_hand, mean_pose, PROFILES[args.profile], args.seed)
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


def tables(args, rows: dict[str, list]) -> str:
    fmt = lambda v, k: "-" if v != v else (f"{v:.0f}" if k == 4 else f"{v:.2f}")
    body = [[name] + [fmt(v, k) for k, v in enumerate(values)] for name, values in rows.items()]
    per, seq = rows["per-frame refine"], rows["sequence refine"]
    ratio = ["sequence / per-frame", f"{seq[0] / per[0]:.2f}x", f"{seq[1] / per[1]:.2f}x", f"{seq[2] / per[2]:.2f}x"]
    ratio += [f"{seq[3] - per[3]:+.2f} mm", f"{seq[4] / per[4]:.2f}x"]
    title = (
        f"### {args.clips} clips x {FRAMES} frames, {args.grasps} grasps, {args.profile} regressor, {args.mode} mode, "
        f"prior {args.prior}, seed {args.seed} ({platform.machine()}, {torch.get_num_threads()} threads); "
        "mm/frame^2 and mm"
    )
    return title + "\n\n" + markdown_table(["method", *COLUMNS], body + [ratio])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--grasps", choices=("real", "synth"), default="real")
    parser.add_argument("--profile", choices=("hamer", "synth"), default="hamer")
    parser.add_argument("--mode", choices=("affordance", "uncond"), default="affordance")
    parser.add_argument("--prior", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoothness", type=float, help="override SequenceConfig.smoothness")
    parser.add_argument("--carry-frames", type=float, help="override SequenceConfig.carry_frames")
    add_common_args(parser)
    args = parser.parse_args()
    torch.set_num_threads(2)
    try:
        rows = run(args)
    except AffordhandError as exc:
        print(f"skipped: {exc}")
        return
    with markdown_copy(args.markdown):
        print(tables(args, rows))


if __name__ == "__main__":
    main()
