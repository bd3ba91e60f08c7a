"""`affordhand refine`: refine initial hand estimates with the affordance-guided prior (resumable, sharded
under torchrun; the job itself is refinement/job.py)."""

from __future__ import annotations

import argparse
import os

from affordhand.commands.common import PRIOR_HELP, add_device_arg, add_hand_model_args, load_refiner_from_args, warn
from affordhand.commands.flags import add_config_flags, config_from_args
from affordhand.refinement.settings import (
    PRIOR_MODES,
    REFINE_BATCH,
    FitConfig,
    GuidedConfig,
    RefineConfig,
    SequenceConfig,
)


def register(sub) -> None:
    p = sub.add_parser("refine", help="refine initial hand estimates with the affordance-guided prior")
    p.add_argument("--input", required=True, help="initial estimates (JSONL: hand_pose, global_orient, keypoints2d, K)")
    p.add_argument(
        "--out",
        required=True,
        help="refined records (JSONL); a rerun with the same settings resumes (settings: OUT.config.json)",
    )
    p.add_argument("--restart", action="store_true", help="start over instead of resuming a partial output")
    p.add_argument("--strict", action="store_true", help="refuse implausible inputs instead of warning about them")
    p.add_argument("--prior", default="default", help=PRIOR_HELP)
    p.add_argument("--text-from", help="take each record's text from this JSONL file, by id")
    add_config_flags(p, RefineConfig)
    p.add_argument("--no-refit-global", action="store_true", help="no second global fit once the fingers are refined")
    add_config_flags(p, GuidedConfig)
    p.add_argument(
        "--guidance", type=float, dest="old_guidance", help=argparse.SUPPRESS
    )  # --keypoint-weight's old name
    add_config_flags(p, FitConfig)
    add_config_flags(p, SequenceConfig)
    p.add_argument(
        "--batch",
        type=int,
        default=REFINE_BATCH,
        help="hands refined at once (per process under torchrun); whole sequences go together, a longer one in windows",
    )
    add_device_arg(p)
    p.add_argument("--skip-bad", action="store_true", help="skip records that lack what refinement needs")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument(
        "--no-self-calibration",
        action="store_true",
        help="keep the hand model even when the input's own 3D joints show another skeleton",
    )
    add_hand_model_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from affordhand.data.provenance import settings_path
    from affordhand.refinement.job import RefineJob, run_refine_job

    if args.old_guidance is not None:
        warn("--guidance is now --keypoint-weight (the old name goes in the next release)")
        args.keypoint_weight = args.old_guidance
    guided = config_from_args(GuidedConfig, args)
    fit = config_from_args(FitConfig, args)
    sequence = config_from_args(SequenceConfig, args)
    config = config_from_args(
        RefineConfig, args, guided=guided, fit=fit, sequence=sequence, refit_global=not args.no_refit_global
    )
    job = RefineJob(
        input=args.input,
        out=args.out,
        config=config,
        prior=args.prior,
        text_from=args.text_from,
        batch=args.batch,
        device=args.device,
        skip_bad=args.skip_bad,
        strict=args.strict,
        restart=args.restart,
        self_calibration=not args.no_self_calibration,
        progress=args.progress,
        hand_settings={"hand_model": args.hand_model, "skeleton": args.skeleton},
    )
    result = run_refine_job(job, load_refiner_from_args(args, with_prior=args.mode in PRIOR_MODES))
    if os.environ.get("RANK", "0") == "0":  # under torchrun rank 0 merges and reports
        print(
            f"wrote {result.written} of {result.total} refined records to {args.out} "
            f"(mode {args.mode}; settings: {settings_path(args.out)})"
        )
    return 1 if result.failed else 0  # 0 only for a complete output: a left-out record is a failure
