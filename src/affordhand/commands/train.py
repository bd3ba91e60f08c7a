"""`affordhand train`: train the affordance-conditioned diffusion prior; `build-prior` and `export-prior`."""

from __future__ import annotations

import os

from affordhand.commands.common import add_device_arg
from affordhand.commands.flags import add_config_flags, config_from_args
from affordhand.errors import AffordhandError
from affordhand.prior.config import SHIPPED_STEPS, PriorConfig


def register(sub) -> None:
    p = sub.add_parser("train", help="train the affordance-conditioned diffusion prior")
    p.add_argument(
        "--data",
        required=True,
        help="training records (JSONL with hand_pose and text), or hograspnet:ROOT (converted once)",
    )
    p.add_argument("--val", help="validation records (JSONL), or hograspnet:ROOT (the split's test part)")
    p.add_argument(
        "--split", choices=("s0", "s1", "s2", "s3", "s4"), default="s0", help="HOGraspNet split for hograspnet:ROOT"
    )
    p.add_argument("--text-from", help="take each record's text from this JSONL (e.g. describe output), by id")
    p.add_argument("--out", required=True, help="run folder; rerunning the same command resumes")
    p.add_argument("--restart", action="store_true", help="start over in --out instead of resuming its run")
    add_config_flags(p, PriorConfig)
    add_device_arg(p)
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument(
        "--uncertainty",
        choices=("heldout", "none"),
        default="heldout",
        help="fit the run's own joint-uncertainty recipe on records held out from a calibration prior "
        "trained like it (doubles the training time), or none (refinement then borrows the shipped recipe)",
    )
    p.add_argument("--holdout", type=float, default=0.2, help="share of objects (or records) held out for it")
    p.set_defaults(func=run)

    p = sub.add_parser("build-prior", help="rebuild the shipped default prior from scratch (make prior)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=SHIPPED_STEPS)
    p.add_argument("--out", help="folder to write (default: the package's own prior)")
    p.set_defaults(func=run_build_prior)

    p = sub.add_parser("export-prior", help="copy a prior's files with a model card, ready to share on the Hub")
    p.add_argument("prior", help="run folder, 'default' or hf:ORG/NAME")
    p.add_argument("out", help="folder to write")
    p.add_argument("--force", action="store_true", help="replace out whole even when it holds something else")
    p.set_defaults(func=run_export_prior)


def _dataset_file(spec: str, split: str, part: str, run_dir: str) -> str:
    """Return a record file for --data/--val: the path itself, or HOGraspNet converted once into run_dir."""
    if not spec.startswith("hograspnet:"):
        return spec
    from pathlib import Path

    from affordhand.datasets.hograspnet import convert_split
    from affordhand.hand import load_hand_model

    out = Path(run_dir) / f"hograspnet_{split}_{part}.jsonl"
    if not out.is_file():
        convert_split(Path(spec[len("hograspnet:") :]), out, load_hand_model("builtin"), split=split, part=part)
    return str(out)


def _with_texts(data: str, text_from: str, run_dir: str) -> str:
    """Return a copy of the records in run_dir with each text taken from text_from (by id)."""
    from pathlib import Path

    from affordhand.data.records import read_records, write_records
    from affordhand.refinement.pipeline import attach_texts

    records = read_records(data).records
    got = attach_texts(records, read_records(text_from, skip_bad=True).records)
    out = Path(run_dir) / "train_with_texts.jsonl"
    write_records(out, records)
    print(f"{got} of {len(records)} records got a text from {text_from}")
    return str(out)


def run(args) -> int:
    import contextlib

    from affordhand.data.atomic import folder_lock

    config = config_from_args(PriorConfig, args)
    if args.uncertainty == "heldout" and not 0.0 < args.holdout < 1.0:  # checked before hours of training
        raise AffordhandError(f"--holdout must be between 0 and 1, not {args.holdout}")
    # one process owns the run folder (under torchrun, the first: the others write nothing there)
    first = os.environ.get("RANK", "0") == "0"
    with folder_lock(args.out, "train") if first else contextlib.nullcontext():
        return _train(args, config)


def _train(args, config: PriorConfig) -> int:
    from affordhand.prior.train import train

    data = _dataset_file(args.data, args.split, "train", args.out)
    if args.text_from:
        data = _with_texts(data, args.text_from, args.out)
    val = _dataset_file(args.val, args.split, "test", args.out) if args.val else None
    if args.restart:  # a recipe or calibration prior of the run being replaced must not outlive it
        import shutil
        from pathlib import Path

        from affordhand.refinement.heldout_calibration import CALIBRATION_DIR
        from affordhand.refinement.uncertainty import UNCERTAINTY_FILE

        (Path(args.out) / UNCERTAINTY_FILE).unlink(missing_ok=True)
        shutil.rmtree(Path(args.out) / CALIBRATION_DIR, ignore_errors=True)
    train(config, data, args.out, val=val, device=args.device, skip_bad=args.skip_bad, restart=args.restart)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only the first process reports
        return 0
    print(f"wrote {args.out}/config.json and model.safetensors (log: {args.out}/metrics.jsonl)")
    if args.uncertainty == "heldout":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            print(
                "the uncertainty recipe is not fitted under torchrun: rerun the same command without torchrun "
                "(training resumes as finished) to fit it"
            )
            return 0
        from affordhand.refinement.heldout_calibration import calibrate_heldout

        model, path = calibrate_heldout(
            config, data, args.out, args.holdout, device=args.device, skip_bad=args.skip_bad
        )
        held = model.source["heldout"]
        print(
            f"wrote {path}: joint uncertainty calibrated on {model.source['hands']} views of {held['records']} "
            f"records whose {held['held_out']} a calibration prior ({args.out}/calibration) did not train on"
        )
    return 0


def run_build_prior(args) -> int:
    from affordhand.prior.model import DEFAULT_PRIOR
    from affordhand.prior.shipped import build_shipped_prior
    from affordhand.refinement.synthetic_calibration import calibrate_on_synthetic

    out = args.out or DEFAULT_PRIOR
    seconds = build_shipped_prior(seed=args.seed, out=out, steps=args.steps)
    _, path = calibrate_on_synthetic(out)
    print(f"built the prior in {seconds:.0f} s: {out} (joint uncertainty calibrated on synthetic hands: {path})")
    return 0


def run_export_prior(args) -> int:
    from affordhand.prior.export import export_prior
    from affordhand.prior.model import resolve_prior_dir
    from affordhand.refinement.uncertainty import UNCERTAINTY_FILE, load_uncertainty

    recipe = resolve_prior_dir(args.prior) / UNCERTAINTY_FILE
    if recipe.is_file():
        load_uncertainty(recipe)  # a broken recipe is refused before anything is written
    out = export_prior(args.prior, args.out, force=args.force)
    print(
        f"wrote {out} (model card: {out}/README.md); upload it as a Hugging Face model repository and use it "
        "with --prior hf:ORG/NAME"
    )
    return 0
