"""`affordhand calibrate` (the built-in hand's skeleton) and `calibrate-uncertainty` (per-joint radii)."""

from __future__ import annotations

import sys

from affordhand.commands.common import add_hand_model_args, hand_model
from affordhand.errors import AffordhandError

# A refined hand's joints are typically 5-30 mm from the truth; a median error beyond this means the two files
# do not hold the same hands under the same ids (or not in metres).
MATCH_WARNING_MM = 80.0


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="fit the built-in hand's skeleton to records with MANO pose and 3D joints")
    p.add_argument("--data", required=True, help="records with hand_pose, global_orient and joints3d (JSONL)")
    p.add_argument("--out", required=True, help="skeleton file to write (JSON)")
    p.add_argument("--iters", type=int, default=400)
    p.add_argument("--skip-bad", action="store_true")
    p.set_defaults(func=run)

    p = sub.add_parser(
        "calibrate-uncertainty",
        help="fit the 90 %% joint_uncertainty_mm radii of a prior on refined records with ground truth",
    )
    p.add_argument("--gt", help="ground truth records (JSONL)")
    p.add_argument("--pred", help="`affordhand refine` output on them (affordance or uncond mode)")
    p.add_argument(
        "--synthetic",
        action="store_true",
        help="instead: refine synthetic hands the prior never saw and calibrate on them",
    )
    p.add_argument("--prior", default="default", help="the prior that refined them; the recipe is kept beside it")
    p.add_argument("--out", help="write the recipe here instead of PRIOR/uncertainty.json")
    p.add_argument("--level", type=float, default=0.9, help="coverage the radius aims at (default 0.9)")
    p.add_argument("--skip-bad", action="store_true")
    add_hand_model_args(p)
    p.set_defaults(func=run_uncertainty)


def run(args) -> int:
    from affordhand.data.records import read_records
    from affordhand.hand.calibrate import calibrate, save_skeleton
    from affordhand.hand.skeleton import OPENPOSE_JOINT_NAMES

    records = read_records(args.data, skip_bad=args.skip_bad).records
    try:
        result = calibrate(records, iters=args.iters)
    except AffordhandError as exc:
        raise AffordhandError(f"{args.data}: {exc}") from None
    save_skeleton(args.out, result, source=str(args.data))
    print(f"calibrated on {result['records']} records; mean joint residual (mm), before -> after:")
    for name, b, a in zip(OPENPOSE_JOINT_NAMES, result["before_mm"], result["after_mm"]):
        print(f"  {name:<11} {b:7.2f} -> {a:6.2f}")
    print(f"  {'all':<11} {result['before_mm'].mean():7.2f} -> {result['after_mm'].mean():6.2f}")
    print(f"wrote {args.out}; use it with --skeleton {args.out}")
    return 0


def _on_synthetic(args) -> int:
    from affordhand.refinement.synthetic_calibration import calibrate_on_synthetic

    model, out = calibrate_on_synthetic(args.prior, args.out)
    synthetic = model.source["synthetic"]
    print(f"calibrated on {model.source['hands']} synthetic hands (seed {synthetic['seed']}); wrote {out}")
    return 0


def run_uncertainty(args) -> int:
    from pathlib import Path

    import numpy as np

    from affordhand.data.atomic import folder_lock
    from affordhand.data.records import read_records
    from affordhand.eval.evaluate import matched_errors
    from affordhand.prior.model import DEFAULT_PRIOR, resolve_prior_dir
    from affordhand.refinement.uncertainty import UNCERTAINTY_FILE, coverage, fit_uncertainty, record_features

    if args.out is None and resolve_prior_dir(args.prior) == DEFAULT_PRIOR:
        raise AffordhandError(
            "the shipped prior is read-only: give --prior DIR (a copy: `affordhand export-prior default DIR`) "
            "or --out FILE for the recipe"
        )
    if args.synthetic:
        return _on_synthetic(args)
    if not (args.gt and args.pred):
        raise AffordhandError("give --gt GT.jsonl and --pred REFINED.jsonl, or --synthetic")
    gt = read_records(args.gt, skip_bad=args.skip_bad).records
    pred = read_records(args.pred, skip_bad=args.skip_bad).records
    matched, errors = matched_errors(gt, pred, hand_model(args, args.prior), args.gt, args.pred)
    features, visible = record_features(matched)
    typical = float(np.median(errors))
    if typical > MATCH_WARNING_MM:
        print(
            f"warning: the median joint error is {typical:.0f} mm: do --gt and --pred hold the same hands under "
            "the same ids, in the same units (metres)?",
            file=sys.stderr,
        )
    modes = sorted({str(r.get("refine_mode")) for r in matched})
    sources = {"gt": str(args.gt), "pred": str(args.pred)}
    model = fit_uncertainty(features, errors, visible, args.level, ",".join(modes), sources)
    out = Path(args.out) if args.out else resolve_prior_dir(args.prior) / UNCERTAINTY_FILE
    with folder_lock(out.parent, "calibrate-uncertainty"):
        model.save(out)
    radius = model.radius_mm(features, visible)
    print(f"calibrated on {len(matched)} hands ({', '.join(modes)}); wrote {out}")
    for name, mask in (("visible", visible), ("occluded", ~visible)):
        cov, mean = coverage(errors, radius, mask)
        q = model.groups[name]["q"]
        print(f"  {name:<8} q {q:.2f}, coverage on these hands {cov:.3f}, mean radius {mean:.1f} mm")
    return 0
