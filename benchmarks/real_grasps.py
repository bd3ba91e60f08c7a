"""Benchmark on real grasps: does refinement help real hands, with and without the affordance text?

    python benchmarks/real_grasps.py [--folds 5] [--views 4] [--steps 8000] [--seed 0] [--keep DIR] [--shared DIR]
        [--prior RUN] [--pose-convention prior|input] [--fallback fingers|none] [--unseen-objects grasp|text]
        [--sample-noise antithetic|independent] [--split objects|grasps] [--no-refit-global]

Data: `../shared/realgrasps/grasps.jsonl` (223 human-annotated MANO grasps of 40 YCB objects; research use:
measured here, never shipped, never fitted into the code). Skipped with a reason when the folder is absent.

Protocol (everything below is this script's own simulation, the same for every mode):
- Object-held-out cross-validation: the objects are dealt into `--folds` folds (seeded); for each fold a
  prior is trained with `affordhand train`'s defaults on the other objects' grasps and tested on this
  fold's grasps, so every test object is new to its prior. The shipped prior is tested on all of them.
- Text: "A right hand holds a <object>, using a <grasp> grasp." from the record's object and Feix grasp,
  the sentence the template describer writes for an object outside its catalogue. Every test object is
  new to its fold prior, so by default (`--unseen-objects grasp`, as refine's) affordance mode conditions
  those priors on the grasp alone; `--unseen-objects text` keeps the sentence as well. `--split grasps`
  holds out grasps instead (most test objects seen in training; their priors kept as `grasps-fold<k>`)
  and adds the fold priors' rows on hands whose object and grasp class were both seen, and the others.
- The fold priors alone (last table): the mean of 32 poses drawn from each fold's prior for each test grasp,
  with sentence and grasp, the grasp alone, the sentence alone or nothing, under the true global pose,
  against the training mean of the grasp's class and of all grasps.
- Views: `--views` per grasp; a uniformly random camera rotation applied to the grasp, the wrist 0.3-0.8 m
  away, focal 500-700 px, 640x480 images. 2D keypoints: the true joints projected, + N(0, 1.5 px).
- Occluder: an object edge across the image hides the 6-12 joints (uniform) that lie furthest along a
  random image direction.
- Regressors, two profiles (`synth/scene.py: simulate_regressor`). Both: a finger joint whose bone end is
  seen gets its true rotation + noise; a hidden one drifts to a mean pose: mean + 0.3 (true - mean) +
  N(0, 0.12 rad); translation off by N(0, (5, 5, 20) mm). Like HaMeR, each also gives its own 3D joints,
  made by the data's own skeleton (fitted once to all grasps: 0.0004 mm residual).
  - `synth`: the synthetic data's regressor: rotation off by N(0, 4 deg), seen joints + N(0, 0.06 rad),
    hidden ones drift to the training fold's mean grasp.
  - `hamer`: rotation off by N(0, 6 deg), seen joints + N(0, 0.08 rad), hidden ones drift to the
    regressor's own mean, a relaxed hand (every finger joint flexed 0.3 rad, thumb straight) that knows
    nothing of grasps, as a network's mean pose does.
  - `--rot-deg D` sets both profiles' rotation noise to N(0, D deg): how much the global fit's hold on the
    regressor's orientation (`--orient-prior`, as refine's) costs when that orientation is worse.
- Scored against the data set's joints (not the built-in skeleton's): root-relative MPJPE and PA-MPJPE,
  mm, over occluded and visible joints. Oracle: the training fold's mean pose of the true grasp class,
  under the true global orientation, through the data's own skeleton.
- Per-joint uncertainty (`joint_uncertainty_mm`, 90 % radii, joints 1-20): coverage, mean radius, mean
  error and Spearman(radius, error) per visible / occluded group. Fold priors: their own recipe, fitted as
  `affordhand train` fits it (objects of the fold's training grasps held out from a calibration prior), and
  a recipe fitted on the other folds' hands (other objects); the shipped prior: its shipped recipe
  (synthetic hands), and the same cross-fold recalibration.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import roma
import torch
from common import SHARED, add_common_args, markdown_copy

from affordhand.data.records import read_records, write_records
from affordhand.errors import AffordhandError
from affordhand.eval.evaluate import evaluate, matched_errors
from affordhand.hand import BuiltinHand
from affordhand.hand.calibrate import calibrate
from affordhand.prior.config import PriorConfig
from affordhand.prior.train import train
from affordhand.refinement.heldout_calibration import calibrate_heldout
from affordhand.refinement.loader import load_refiner
from affordhand.refinement.pipeline import FitConfig, GuidedConfig, RefineConfig, match_hand_to_input
from affordhand.refinement.uncertainty import (
    PLACE,
    UNCERTAINTY_FILE,
    coverage,
    fit_uncertainty,
    record_features,
)
from affordhand.report.tables import markdown_table
from affordhand.synth.scene import (
    PIXEL_NOISE,
    REGRESSOR,
    project_np,
    sample_intrinsics,
    sample_translations,
    simulate_regressor,
)

HIDDEN_RANGE = (6, 12)  # joints the occluder hides, inclusive
RELAXED_HAND = np.zeros(45)
RELAXED_HAND[2:36:3] = 0.3  # flexion (z) of the 12 joints of the four fingers, MANO order; thumb straight
PROFILES = {"synth": {**REGRESSOR}, "hamer": {**REGRESSOR, "rot_deg": 6.0, "seen": 0.08}}
KEYS = ("mpjpe_occluded", "mpjpe_visible", "mpjpe", "pa_mpjpe_occluded", "pa_mpjpe")


def grasps_path(shared: Path = SHARED) -> Path:
    """Return the real grasps file, or raise AffordhandError saying why it is not there."""
    path = Path(shared) / "realgrasps" / "grasps.jsonl"
    if not path.is_file():
        raise AffordhandError(
            f"{path} is not there: the real grasps live in ../shared/realgrasps beside the "
            "checkout (research use only, never shipped)"
        )
    return path


def grasp_sentence(record: dict) -> str:
    """Return the template sentence of a grasp: its object and its Feix grasp name."""
    return f"A right hand holds a {record['object']}, using a {record['grasp']} grasp."


def load_grasps(path: Path) -> list[dict]:
    """Return the real grasps as records, each with its template `text` (a record's own text is kept)."""
    records = read_records(path).records
    for r in records:
        if not r.get("text"):
            r["text"] = grasp_sentence(r)
    return records


def object_folds(records: list[dict], folds: int, seed: int) -> list[list[str]]:
    """Return `folds` disjoint lists of object names covering every object (seeded deal)."""
    objects = sorted({r["object"] for r in records})
    order = np.random.default_rng(seed).permutation(len(objects))
    return [sorted(objects[i] for i in order[k::folds]) for k in range(folds)]


def fold_splits(records: list[dict], folds: int, seed: int, split: str = "objects") -> list[tuple[list, list]]:
    """Return [(training grasps, test grasps)] per fold: objects held out ("objects": every test object is
    new to its prior), or grasps held out ("grasps": most test objects, and many of their grasp classes on
    that object, are in the training grasps, as in a data set split by subject)."""
    if split == "objects":
        held = object_folds(records, folds, seed)
        return [([r for r in records if r["object"] not in h], [r for r in records if r["object"] in h]) for h in held]
    fold_of = np.empty(len(records), int)
    fold_of[np.random.default_rng(seed).permutation(len(records))] = np.arange(len(records)) % folds
    return [
        ([r for r, f in zip(records, fold_of) if f != k], [r for r, f in zip(records, fold_of) if f == k])
        for k in range(folds)
    ]


PRIOR_ALONE = {  # label: (sentence, grasp) given to the prior
    "sentence and grasp": (True, True),
    "grasp alone": (False, True),
    "sentence alone": (True, False),
    "nothing (uncond)": (False, False),
}


def prior_alone(prior, test: list[dict], train: list[dict], ref_hand: BuiltinHand, samples: int, seed: int) -> dict:
    """Return {label: summed per-grasp error (mm)}: how far from each test grasp the mean of `samples` poses
    drawn from the prior alone lies (no image; under the true global pose, through the data's own
    skeleton; root-relative joints 1-20), for each condition in PRIOR_ALONE, and the training mean of the
    grasp's class and of all grasps."""
    from affordhand.data.taxonomy import record_grasp
    from affordhand.prior.generate import encode_conditions, sample_poses

    orient = torch.as_tensor(np.stack([r["global_orient"] for r in test]))
    joints = lambda pose: ref_hand(orient, torch.as_tensor(pose, dtype=orient.dtype)).joints.numpy()
    with torch.no_grad():
        truth = joints(np.stack([r["hand_pose"] for r in test]))
    error = lambda pose: float(1000 * np.linalg.norm(joints(pose) - truth, axis=-1)[:, 1:].mean(-1).sum())
    out = {}
    for label, (sentence, grasp) in PRIOR_ALONE.items():
        texts = [r["text"] if sentence else None for r in test]
        cond, has = encode_conditions(prior, texts, [record_grasp(r) if grasp else None for r in test])
        rep = lambda t: None if t is None or not has.any() else t.repeat_interleave(samples, 0)
        poses = sample_poses(
            prior, [None] * (len(test) * samples), guidance=1.0, seed=seed, cond=rep(cond), has_cond=rep(has)
        )
        with torch.no_grad():
            out[label] = error(poses.numpy().reshape(len(test), samples, 45).mean(1))
    poses, classes = np.stack([g["hand_pose"] for g in train]), np.array([g["taxonomy_id"] for g in train])
    class_mean = lambda c: poses[classes == c].mean(0) if (classes == c).any() else poses.mean(0)
    with torch.no_grad():
        out["training mean of the grasp class"] = error(np.stack([class_mean(r["taxonomy_id"]) for r in test]))
        out["training mean of all grasps"] = error(np.repeat(poses.mean(0)[None], len(test), 0))
    return out


def reference_hand(records: list[dict]) -> BuiltinHand:
    """Return a kinematic hand with the data set's own skeleton, fitted to all its (pose, joints) pairs.

    It stands for the regressor's and the data set's MANO-like hand: it gives the regressor's own 3D
    joints and scores the oracle. The methods under test never see it."""
    fitted = calibrate(records, iters=400)
    return BuiltinHand(fitted["rest_joints"], fitted["tips"]).double()


def _random_rotations(n: int, rng: np.random.Generator) -> torch.Tensor:
    q = rng.normal(size=(n, 4))
    return roma.unitquat_to_rotmat(torch.as_tensor(q / np.linalg.norm(q, axis=1, keepdims=True)))


def edge_occlusion(uv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return (n, 21) bool: the joints an image edge hides, the 6-12 furthest along a random direction."""
    n = len(uv)
    angle = rng.uniform(0, 2 * np.pi, n)
    direction = np.stack([np.cos(angle), np.sin(angle)], 1)
    along = np.einsum("njk,nk->nj", uv, direction)
    count = rng.integers(HIDDEN_RANGE[0], HIDDEN_RANGE[1] + 1, n)
    rank = np.argsort(np.argsort(-along, axis=1), axis=1)
    return rank < count[:, None]


def make_scenes(
    grasps: list[dict],
    views: int,
    profile: str,
    train_mean: np.ndarray,
    ref_hand: BuiltinHand,
    rng: np.random.Generator,
) -> tuple[list[dict], list[dict]]:
    """Return (ground truth, regressor estimates): `views` camera views of each grasp, matched by id, with
    the regressor `profile` (synth: hidden fingers drift to train_mean; hamer: to RELAXED_HAND)."""
    mean_pose = train_mean if profile == "synth" else RELAXED_HAND
    rep = [g for g in grasps for _ in range(views)]
    n = len(rep)
    R = _random_rotations(n, rng)
    orient = roma.rotmat_to_rotvec(
        R @ roma.rotvec_to_rotmat(torch.as_tensor(np.stack([g["global_orient"] for g in rep])))
    ).numpy()
    K = sample_intrinsics(n, rng)
    transl = sample_translations(n, K, rng)
    local = np.stack([g["joints3d"] for g in rep])
    joints = np.einsum("nij,nkj->nki", R.numpy(), local - local[:, :1]) + transl[:, None]
    uv = project_np(joints, K) + rng.normal(0, PIXEL_NOISE, (n, 21, 2))
    visible = ~edge_occlusion(uv, rng)
    pose = np.stack([g["hand_pose"] for g in rep])
    est_pose, est_orient, est_transl, est_scale = simulate_regressor(
        pose, orient, transl, np.ones(n), visible, mean_pose, rng, PROFILES[profile]
    )
    with torch.no_grad():
        est_joints = ref_hand(
            torch.as_tensor(est_orient),
            torch.as_tensor(est_pose),
            transl=torch.as_tensor(est_transl),
            scale=torch.as_tensor(est_scale),
        ).joints.numpy()
    est_uv = project_np(est_joints, K)
    gt, init = [], []
    for i, g in enumerate(rep):
        rid = f"{g['id']}_v{i % views}"
        common = {
            "id": rid,
            "side": "right",
            "K": K[i],
            "visible": visible[i],
            "object": g["object"],
            "taxonomy_id": g["taxonomy_id"],
            "text": g["text"],
        }
        gt.append(
            {**common, "hand_pose": pose[i], "global_orient": orient[i], "joints3d": joints[i], "keypoints2d": uv[i]}
        )
        init.append(
            {
                **common,
                "hand_pose": est_pose[i],
                "global_orient": est_orient[i],
                "transl": est_transl[i],
                "joints3d": est_joints[i],
                "keypoints2d": np.where(visible[i][:, None], uv[i], est_uv[i]),
            }
        )
    return gt, init


def oracle(gt: list[dict], train_grasps: list[dict], ref_hand: BuiltinHand) -> list[dict]:
    """Return predictions: the training mean pose of each hand's grasp class under its true orientation."""
    poses = np.stack([g["hand_pose"] for g in train_grasps])
    classes = np.array([g["taxonomy_id"] for g in train_grasps])
    out = []
    for r in gt:
        same = classes == r["taxonomy_id"]
        mean = poses[same].mean(0) if same.any() else poses.mean(0)
        with torch.no_grad():
            joints = ref_hand(torch.as_tensor(r["global_orient"])[None], torch.as_tensor(mean)[None]).joints[0]
        out.append({"id": r["id"], "joints3d": joints.numpy()})
    return out


def train_fold_prior(train_grasps: list[dict], run_dir: Path, steps: int, seed: int, **settings) -> None:
    """Train a prior as `affordhand train` does by default (but steps and any settings given) on a fold's
    training grasps, with its own uncertainty recipe fitted on objects held out from a calibration prior
    (refinement/heldout_calibration.py); a kept prior without a recipe gets one."""
    data = run_dir / "train.jsonl"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_records(data, train_grasps)
    config = PriorConfig(steps=steps, seed=seed, checkpoint_every=steps, **settings)
    if not (run_dir / "model.safetensors").is_file():
        train(config, str(data), run_dir, quiet=True)
    if not (run_dir / UNCERTAINTY_FILE).is_file():
        calibrate_heldout(config, data, run_dir, quiet=True)


def hand_for(init: list[dict], refiner) -> BuiltinHand:
    """Return the hand model `affordhand refine` uses with this refiner's prior on these inputs: the prior's
    calibrated skeleton (or the built-in one), recalibrated from the input's own joints on a mismatch."""
    return match_hand_to_input(init, refiner.hand)[0]


RUNS = (  # label, prior ("fold" or "default"), refine settings
    ("regressor alone (none)", "fold", {"mode": "none"}),
    ("fit", "fold", {"mode": "fit"}),
    ("uncond, fold prior", "fold", {"mode": "uncond"}),
    ("affordance, fold prior", "fold", {"mode": "affordance"}),
    ("affordance, fold prior, built-in skeleton", "builtin", {"mode": "affordance"}),
    ("uncond, shipped prior", "default", {"mode": "uncond"}),
    ("affordance, shipped prior", "default", {"mode": "affordance"}),
)


ORACLE = "oracle: class mean, true global pose"


def run(args) -> tuple[dict, dict, dict]:
    """Return ({profile: {run label: overall metrics}} over all folds, with the oracle; {profile: uncertainty
    rows}; {condition: mean mm of the fold priors alone}, see prior_alone)."""
    records = load_grasps(grasps_path(Path(args.shared)))
    ref_hand = reference_hand(records)
    folds = fold_splits(records, args.folds, args.seed, args.split)
    shipped = load_refiner(args.prior)
    profiles = args.profiles.split(",")
    guided = GuidedConfig(
        pose_convention=args.pose_convention,
        fallback=args.fallback,
        unseen_objects=args.unseen_objects,
        sample_noise=args.sample_noise,
    )
    fit = FitConfig(orient_prior=args.orient_prior)
    base = RefineConfig(seed=args.seed, guided=guided, fit=fit, refit_global=not args.no_refit_global)
    if args.rot_deg is not None:
        for noise in PROFILES.values():
            noise["rot_deg"] = args.rot_deg
    gt_all = {p: [] for p in profiles}
    fold_of = {p: [] for p in profiles}
    outs = {p: {label: [] for label in [r[0] for r in RUNS] + [ORACLE]} for p in profiles}
    seen_pair = {p: [] for p in profiles}  # the hand's object and grasp class are both in its training grasps
    alone: dict = {}
    tmp = tempfile.TemporaryDirectory()
    runs = Path(args.keep) if args.keep else Path(tmp.name)
    for k, (train_grasps, test_grasps) in enumerate(folds):
        t0 = time.perf_counter()
        run_dir = runs / (f"fold{k}" if args.split == "objects" else f"{args.split}-fold{k}")
        settings = {"conditions": args.conditions.split(",")} if args.conditions else {}
        if not (run_dir / "model.safetensors").is_file() or not (run_dir / UNCERTAINTY_FILE).is_file():
            train_fold_prior(train_grasps, run_dir, args.steps, args.seed, **settings)
        kept = json.loads((run_dir / "config.json").read_text())
        wanted = {"steps": args.steps, "seed": args.seed, **settings}
        if any(kept.get(key) != value for key, value in wanted.items()) or "objects" not in kept:
            raise AffordhandError(
                f"{run_dir} holds a prior trained with other settings than {wanted} (or before priors listed "
                "their objects); give another --keep folder"
            )
        fold = load_refiner(run_dir)  # with its own recipe (train's held-out objects)
        train_mean = np.stack([g["hand_pose"] for g in train_grasps]).mean(0)
        for label, total in prior_alone(fold.prior, test_grasps, train_grasps, ref_hand, 32, args.seed + k).items():
            alone[label] = alone.get(label, 0.0) + total / len(records)
        pairs = {(g["object"], g["taxonomy_id"]) for g in train_grasps}
        for j, profile in enumerate(profiles):
            rng = np.random.default_rng([args.seed, k, j])
            gt, init = make_scenes(test_grasps, args.views, profile, train_mean, ref_hand, rng)
            gt_all[profile] += gt
            outs[profile][ORACLE] += oracle(gt, train_grasps, ref_hand)
            hands = {"fold": hand_for(init, fold), "default": hand_for(init, shipped), "builtin": BuiltinHand()}
            for label, which, settings in RUNS:
                refiner = shipped if which == "default" else fold  # each with its own recipe
                outs[profile][label] += refiner.refine(init, replace(base, **settings), hands[which])
            fold_of[profile] += [k] * len(gt)
            seen_pair[profile] += [(g["object"], g["taxonomy_id"]) in pairs for g in gt]
        print(
            f"fold {k + 1}/{len(folds)}: {len(test_grasps)} grasps of {len({g['object'] for g in test_grasps})} "
            "objects, "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    hand = BuiltinHand()
    tables = {p: {label: evaluate(gt_all[p], out, hand).overall for label, out in outs[p].items()} for p in profiles}
    spreads = {p: uncertainty_rows(gt_all[p], outs[p], np.array(fold_of[p])) for p in profiles}
    if args.split != "objects":  # the fold priors' rows again, on hands whose object and grasp class were seen or not
        for p in profiles:
            for label in ("uncond, fold prior", "affordance, fold prior"):
                for seen, part in ((True, "object and grasp class seen"), (False, "not both seen")):
                    keep = [i for i, s in enumerate(seen_pair[p]) if s == seen]
                    pick = lambda rows: [rows[i] for i in keep]
                    tables[p][f"{label} [{part}, {len(keep)} hands]"] = evaluate(
                        pick(gt_all[p]), pick(outs[p][label]), hand
                    ).overall
    return tables, spreads, alone


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Return Spearman's rank correlation of two samples (ranks by sorting; ties are rare in floats)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


UNCERTAINTY_RUNS = (  # label, run, how the recipe is calibrated
    ("affordance, fold prior", "affordance, fold prior", "own: train's held-out objects"),
    ("uncond, fold prior", "uncond, fold prior", "own: train's held-out objects"),
    ("affordance, fold prior", "affordance, fold prior", "the other folds (objects held out)"),
    ("uncond, fold prior", "uncond, fold prior", "the other folds (objects held out)"),
    ("affordance, shipped prior", "affordance, shipped prior", "shipped: synthetic hands"),
    ("affordance, shipped prior", "affordance, shipped prior", "the other folds (objects held out)"),
)


def uncertainty_rows(gt: list[dict], outs: dict[str, list[dict]], fold_of: np.ndarray) -> list[dict]:
    """Return coverage, mean radius, mean error and Spearman(radius, error) of joint_uncertainty_mm per
    visible / occluded group: with the shipped recipe, or calibrated on the other folds' hands (each fold's
    hands get radii from a recipe fitted on the other folds' objects, with their own fold priors)."""
    rows = []
    for label, run, how in UNCERTAINTY_RUNS:
        preds, errors = matched_errors(gt, outs[run], BuiltinHand())
        features, visible = record_features(preds)
        if how.startswith(("shipped", "own")):  # the radii refinement gave with that recipe
            radius = np.stack([r["joint_uncertainty_mm"] for r in preds])
        else:
            radius = np.zeros_like(errors)
            for k in np.unique(fold_of):
                cal = fold_of != k
                model = fit_uncertainty(features[cal], errors[cal], visible[cal])
                radius[~cal] = model.radius_mm(features[~cal], visible[~cal])
        row = {"run": label, "calibration": how}
        for name, mask in (("visible", visible), ("occluded", ~visible)):
            mask = mask & (PLACE > 0)[None]
            row[name] = (
                *coverage(errors, radius, mask),
                float(errors[mask].mean()),
                spearman(radius[mask], errors[mask]),
            )
        rows.append(row)
    return rows


def print_uncertainty(rows: list[dict]) -> None:
    """Print the joint_uncertainty_mm table (markdown) and the issue's targets."""
    lines = []
    for row in rows:
        for name in ("visible", "occluded"):
            cov, radius, err, rho = row[name]
            lines.append([row["run"], row["calibration"], name, f"{cov:.3f}", f"{radius:.1f}", f"{err:.1f}"])
            lines[-1].append(f"{rho:.2f}")
    header = ("run", "recipe calibrated on", "group", "coverage (90 %)", "mean radius", "mean error", "Spearman")
    print(markdown_table(header, lines))
    fold = rows[0]
    print()
    for name in ("visible", "occluded"):
        cov = fold[name][0]
        print(f"- fold prior, {name} coverage in 0.85-0.95: {cov:.3f} -> {'met' if 0.85 <= cov <= 0.95 else 'NOT met'}")
    rho = fold["occluded"][3]
    print(f"- fold prior, occluded Spearman >= 0.5: {rho:.2f} -> {'met' if rho >= 0.5 else 'NOT met'}")


def print_table(results: dict[str, dict]) -> None:
    """Print one profile's table (markdown), with each run's occluded MPJPE relative to the regressor's."""
    base = results["regressor alone (none)"]
    lines = []
    for label, m in results.items():
        cells = ["-" if m[k] is None or m[k] != m[k] else f"{m[k]:.2f}" for k in KEYS]
        lines.append([label, *cells, f"{m['mpjpe_occluded'] / base['mpjpe_occluded']:.2f}"])
    print(markdown_table(("run", "occluded", "visible", "all", "PA occluded", "PA all", "occ. / regressor"), lines))
    print(f"\n{base['count']} hands; MPJPE and PA-MPJPE in mm, root-relative, against the data set's joints\n")
    occ = lambda label: results[label]["mpjpe_occluded"]
    vis = lambda label: results[label]["mpjpe_visible"]
    aff, unc, shipped = "affordance, fold prior", "uncond, fold prior", "affordance, shipped prior"
    checks = [
        ("affordance occluded <= 0.75 x regressor", occ(aff) / occ("regressor alone (none)"), 0.75),
        ("affordance occluded <= 0.9 x uncond", occ(aff) / occ(unc), 0.9),
        ("affordance visible <= regressor", vis(aff) / vis("regressor alone (none)"), 1.0),
        ("affordance occluded <= 1.2 x oracle (moonshot)", occ(aff) / occ(ORACLE), 1.2),
        ("shipped prior occluded <= regressor", occ(shipped) / occ("regressor alone (none)"), 1.0),
        ("shipped prior visible <= regressor", vis(shipped) / vis("regressor alone (none)"), 1.0),
    ]
    for name, ratio, limit in checks:
        print(f"- {name}: {ratio:.3f} -> {'met' if ratio <= limit else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--views", type=int, default=4, help="camera views per grasp")
    parser.add_argument("--steps", type=int, default=8000, help="training steps of each fold's prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profiles", default="hamer,synth", help="regressor profiles: hamer, synth")
    add_common_args(parser)
    parser.add_argument("--conditions", help="condition fields of the fold priors (default: train's), e.g. text")
    parser.add_argument("--keep", help="keep the fold priors in this folder and reuse those already there")
    parser.add_argument("--prior", default="default", help="the prior of the 'shipped prior' rows (a run folder)")
    parser.add_argument("--pose-convention", default="prior", choices=("prior", "input"), help="as refine's")
    parser.add_argument("--fallback", default="fingers", choices=("fingers", "none"), help="as refine's")
    parser.add_argument("--no-refit-global", action="store_true", help="as refine's")
    parser.add_argument("--orient-prior", type=float, default=FitConfig().orient_prior, help="as refine's")
    parser.add_argument("--rot-deg", type=float, help="both regressors' rotation noise, deg (default: 6 / 4)")
    parser.add_argument("--split", default="objects", choices=("objects", "grasps"), help="what the folds hold out")
    parser.add_argument("--unseen-objects", default="grasp", choices=("grasp", "text"), help="as refine's")
    parser.add_argument(
        "--sample-noise", default="antithetic", choices=("antithetic", "independent"), help="as refine's"
    )
    args = parser.parse_args()
    with markdown_copy(args.markdown):
        report(args, parser)


def report(args, parser: argparse.ArgumentParser) -> None:
    """Measure and print the tables."""
    if any(p not in PROFILES for p in args.profiles.split(",")):
        parser.error(f"--profiles: choose from {', '.join(PROFILES)}")
    print(
        f"command: python benchmarks/real_grasps.py --folds {args.folds} --views {args.views} "
        f"--steps {args.steps} --seed {args.seed} --profiles {args.profiles}"
        + (f" --prior {args.prior}" if args.prior != "default" else "")
        + (f" --pose-convention {args.pose_convention}" if args.pose_convention != "prior" else "")
        + (f" --fallback {args.fallback}" if args.fallback != "fingers" else "")
        + (f" --split {args.split}" if args.split != "objects" else "")
        + (f" --conditions {args.conditions}" if args.conditions else "")
        + (" --no-refit-global" if args.no_refit_global else "")
        + (f" --orient-prior {args.orient_prior}" if args.orient_prior != FitConfig().orient_prior else "")
        + (f" --rot-deg {args.rot_deg}" if args.rot_deg is not None else "")
        + (f" --unseen-objects {args.unseen_objects}" if args.unseen_objects != "grasp" else "")
        + (f" --sample-noise {args.sample_noise}" if args.sample_noise != "antithetic" else "")
    )
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    try:
        results, spreads, alone = run(args)
    except AffordhandError as exc:
        print(f"skipped: {exc}")
        return
    for profile, table in results.items():
        print(f"\n## Regressor profile `{profile}` ({args.split} held out; mm)\n")
        print_table(table)
        print(f"\n### joint_uncertainty_mm, profile `{profile}` (90 % radius; joints 1-20; mm)\n")
        print_uncertainty(spreads[profile])
    print("\n## The fold priors alone (no image): mean of 32 samples under the true global pose\n")
    rows = [[label, f"{value:.2f}"] for label, value in alone.items()]
    print(markdown_table(("condition", "mm from the true grasp (joints 1-20)"), rows))


if __name__ == "__main__":
    main()
