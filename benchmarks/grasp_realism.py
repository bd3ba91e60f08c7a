"""How real are the built-in generator's grasps? Synthetic poses against real ones, overall and class by class.

    python benchmarks/grasp_realism.py [--n 20000] [--seed 0] [--objects report|validation|all] [--shared DIR]

The real grasps' objects are split in two halves (sorted names, alternately): `validation` is the half on
which the generator's few free settings were chosen (synth/grasps.py says which), `report` (the default) the
other half, on which realism is reported.

The first table, over all classes (mm; the issue's measures):
- `any NN`: mean distance of each real grasp to the nearest of all N synthetic grasps, of any class;
- `same NN`: the same, to the nearest synthetic grasp of its own class (classes the generator has);
- `synth -> real`: mean distance of each synthetic grasp to the nearest real one (of the chosen objects, and
  of all of them): a generator that buys coverage with noise gets worse here;
- `2-sample`: leave-one-out 1-nearest-neighbour accuracy of telling the real grasps from as many synthetic
  ones drawn at random (0.5: indistinguishable);
- `real grasps outside the joint limits`: the share of real grasps with an anatomical angle outside the
  built-in hand's limits (hand/skeleton.py): how well its joint axes and ranges describe real hands.

Real: `../shared/realgrasps/grasps.jsonl` (223 human-annotated MANO grasps of 40 YCB objects; research use:
measured here, never fitted into the generator), brought into the built-in hand's pose convention as
refinement brings them (hand/convention.py, through the built-in skeleton calibrated on their own joints).
Synthetic: `affordhand synth --n N --seed SEED`'s ground truth, every object and split. Both go through the
built-in hand, so only the finger pose differs: root-relative joints 1-20, mm. Per Feix class in both:

- `real LOO`: mean distance of each real grasp to the mean of the class's real grasps of *other* objects
  (how far a grasp lies from its class when the object is new: the scale to read the others against);
- `synth mean`: mean distance of each real grasp to the synthetic class mean;
- `synth NN`: mean distance of each real grasp to its nearest synthetic grasp of the class (coverage);
- `2-sample`: leave-one-out 1-nearest-neighbour two-sample test on the real grasps and as many synthetic
  ones of the class: accuracy 0.5 means the two cannot be told apart, 1.0 that they never overlap.

A second table gives class means of anatomical angles (rad; `hand.skeleton.pose_to_angles`), real / synthetic:
finger flexion at the MCP, PIP and DIP averaged over the four fingers, and the thumb's CMC flexion and
abduction (positive: in front of the palm; negative: toward the index in the palm's plane).

Skipped with a reason when `../shared` is absent.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections import defaultdict

import numpy as np
import torch
from common import add_common_args, markdown_copy

from affordhand.data.records import read_records
from affordhand.hand import BuiltinHand
from affordhand.hand.calibrate import calibrate
from affordhand.hand.convention import matched_convention
from affordhand.hand.skeleton import limit_violations, pose_to_angles
from affordhand.report.tables import markdown_table
from affordhand.synth.config import SynthConfig
from affordhand.synth.dataset import generate


def finger_joints(hand: BuiltinHand, poses: np.ndarray) -> np.ndarray:
    """Return root-relative joints 1-20 (N, 20, 3), mm, of right-hand finger poses (N, 45), no rotation."""
    pose = torch.as_tensor(np.asarray(poses), dtype=torch.float32).reshape(-1, 15, 3)
    with torch.no_grad():
        joints = hand(torch.zeros(len(pose), 3), pose).joints
    return 1000 * (joints - joints[:, :1])[:, 1:].numpy()


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the mean per-joint distance (len(a), len(b)) between two sets of joints (N, 20, 3)."""
    return np.linalg.norm(a[:, None] - b[None], axis=-1).mean(-1)


def nearest(a: np.ndarray, b: np.ndarray, chunk: int = 16) -> np.ndarray:
    """Return (len(a),) each of a's distance to its nearest in b (joints (N, 20, 3)), in chunks of a."""
    return np.concatenate([distance(a[i : i + chunk], b).min(1) for i in range(0, len(a), chunk)])


def two_sample_accuracy(real: np.ndarray, synth: np.ndarray, rng: np.random.Generator) -> float:
    """Return the leave-one-out 1-NN accuracy of telling real from synthetic, on equal numbers of each."""
    synth = synth[rng.choice(len(synth), size=len(real), replace=False)]
    both = np.concatenate([real, synth])
    label = np.r_[np.zeros(len(real)), np.ones(len(synth))]
    d = distance(both, both)
    np.fill_diagonal(d, np.inf)
    return float((label[d.argmin(1)] == label).mean())


def in_builtin_convention(real: list[dict]) -> list[dict]:
    """Return the real grasps with their poses in the built-in hand's convention."""
    fitted = calibrate(real)
    builtin = BuiltinHand()
    convention = matched_convention(BuiltinHand(fitted["rest_joints"], fitted["tips"]), builtin.rest, builtin.tips)
    if convention is None:  # their skeleton's bones point as the built-in hand's
        return real
    poses = torch.as_tensor(np.stack([r["hand_pose"] for r in real]), dtype=torch.float32)
    moved = convention.to_prior(poses).numpy()
    return [{**r, "hand_pose": p} for r, p in zip(real, moved)]


def realism(real: list[dict], data: dict, rng: np.random.Generator) -> list[tuple]:
    """Return rows (class, n real, real LOO, synth mean, synth NN, 2-sample accuracy) per shared class."""
    hand = BuiltinHand()
    synth_by = defaultdict(list)
    for i, gid in enumerate(data["grasp_ids"]):
        synth_by[int(gid)].append(i)
    real_by = defaultdict(list)
    for r in real:
        real_by[int(r["taxonomy_id"])].append(r)
    rows = []
    for gid in sorted(set(real_by) & set(synth_by)):
        grasps = real_by[gid]
        jr = finger_joints(hand, np.stack([r["hand_pose"] for r in grasps]))
        js = finger_joints(hand, data["pose_r"][synth_by[gid]])
        objects = np.array([r["object"] for r in grasps])
        loo = [
            np.linalg.norm(jr[i] - jr[objects != objects[i]].mean(0), axis=-1).mean()
            for i in range(len(grasps))
            if (objects != objects[i]).any()
        ]
        rows.append(
            (
                gid,
                len(grasps),
                float(np.mean(loo)) if loo else float("nan"),
                float(np.linalg.norm(jr - js.mean(0), axis=-1).mean()),
                float(distance(jr, js).min(1).mean()),
                two_sample_accuracy(jr, js, rng) if len(grasps) >= 5 else float("nan"),
            )
        )
    return rows


def angle_rows(real: list[dict], data: dict, least: int = 5) -> list[tuple]:
    """Return rows (class, real means (5,), synthetic means (5,)) of finger MCP / PIP / DIP flexion and thumb
    CMC flexion / abduction, for the classes with at least `least` real grasps."""

    def means(poses: np.ndarray) -> np.ndarray:
        a = pose_to_angles(poses).mean(0)  # (15, 3)
        fingers = a[:12, 0].reshape(4, 3).mean(0)
        return np.r_[fingers, a[12, 0], a[12, 1]]

    rows = []
    for gid in sorted({int(r["taxonomy_id"]) for r in real}):
        poses = np.stack([r["hand_pose"] for r in real if int(r["taxonomy_id"]) == gid])
        synth = data["pose_r"][data["grasp_ids"] == gid]
        if len(poses) >= least and len(synth):
            rows.append((gid, means(poses), means(synth)))
    return rows


def overall_table(real: list[dict], every: list[dict], data: dict, rng: np.random.Generator) -> dict:
    """Print and return the overall measures: any-class and same-class coverage, synthetic-to-real distance
    (to the chosen real grasps and to all of them) and the two-sample accuracy."""
    hand = BuiltinHand()
    poses = np.stack([r["hand_pose"] for r in real])
    jr = finger_joints(hand, poses)
    je = finger_joints(hand, np.stack([r["hand_pose"] for r in every]))
    grasps = np.asarray(data["grasp_ids"]) > 0  # not the hands that hold nothing
    js = finger_joints(hand, data["pose_r"][grasps])
    gids = np.asarray(data["grasp_ids"])[grasps]
    same = [
        nearest(jr[i : i + 1], js[gids == int(r["taxonomy_id"])])[0]
        for i, r in enumerate(real)
        if (gids == int(r["taxonomy_id"])).any()
    ]
    out = {
        "any NN": float(nearest(jr, js).mean()),
        "same NN": float(np.mean(same)),
        "synth -> real": float(nearest(js, jr, chunk=512).mean()),
        "synth -> all real": float(nearest(js, je, chunk=512).mean()),
        "2-sample": two_sample_accuracy(jr, js, rng),
        "real outside limits": float((limit_violations(poses.astype(float)) > 0).mean()),
    }
    header = ("real grasps", "any NN", "same NN (classes in both)", "synth -> real", "synth -> all real", "2-sample")
    header += ("real grasps outside the joint limits",)
    row = [len(real), f"{out['any NN']:.2f}", f"{out['same NN']:.2f} ({len(same)})", f"{out['synth -> real']:.2f}"]
    row += [f"{out['synth -> all real']:.2f}", f"{out['2-sample']:.2f}", f"{out['real outside limits']:.2f}"]
    print(markdown_table(header, [row]))
    print(f"\nmm, root-relative joints 1-20 of the built-in hand, {len(js)} synthetic grasps\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000, help="synthetic grasps generated")
    parser.add_argument("--seed", type=int, default=0)
    add_common_args(parser)
    parser.add_argument("--objects", default="report", choices=("report", "validation", "all"))
    args = parser.parse_args()
    with markdown_copy(args.markdown):
        report(args, parser)


def report(args, parser: argparse.ArgumentParser) -> None:
    """Measure and print the tables."""
    path = args.shared / "realgrasps" / "grasps.jsonl"
    if not path.is_file():
        print(f"skipped: {path} is not there (the real grasps live in ../shared beside the checkout)")
        sys.exit(0)
    print(f"command: python benchmarks/grasp_realism.py --n {args.n} --seed {args.seed} --objects {args.objects}")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}\n")
    every = in_builtin_convention(read_records(path).records)
    objects = sorted({r["object"] for r in every})
    chosen = {"validation": objects[0::2], "report": objects[1::2], "all": objects}[args.objects]
    real = [r for r in every if r["object"] in chosen]
    print(f"real grasps: {len(real)} of {len(every)}, {len(chosen)} objects ({args.objects} half)\n")
    data = generate(SynthConfig(n=args.n, seed=args.seed))
    overall_table(real, every, data, np.random.default_rng(args.seed))
    rows = realism(real, data, np.random.default_rng(args.seed))
    weight = np.array([r[1] for r in rows], dtype=float)
    cols = np.array([r[2:] for r in rows], dtype=float)
    avg = [np.nansum(c * weight) / weight[~np.isnan(c)].sum() for c in cols.T]
    lines = [[gid, n, f"{loo:.1f}", f"{mean:.1f}", f"{nn:.1f}", f"{acc:.2f}"] for gid, n, loo, mean, nn, acc in rows]
    lines.append(["all (weighted by real grasps)", int(weight.sum()), *(f"{v:.2f}" for v in avg)])
    header = ("Feix class", "real grasps", "real LOO", "synth mean", "synth NN", "2-sample accuracy")
    print(markdown_table(header, lines))
    print("\nmm, root-relative joints 1-20 of the built-in hand; 2-sample: 0.5 = indistinguishable")
    header = ("Feix class", "finger MCP flexion", "PIP", "DIP", "thumb CMC flexion", "thumb CMC abduction")
    angles = [[gid, *(f"{a:.2f} / {b:.2f}" for a, b in zip(r, y))] for gid, r, y in angle_rows(real, data)]
    print("\n" + markdown_table(header, angles))
    print("\nclass means, rad, real / synthetic (classes with 5 or more real grasps)")


if __name__ == "__main__":
    main()
