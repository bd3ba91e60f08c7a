"""The `affordhand` command: parses arguments and calls the library. No logic lives here."""

from __future__ import annotations

import argparse
import json
import os
import sys

from affordhand import __version__
from affordhand.errors import AffordhandError


def _add_hand_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hand-model",
        choices=("builtin", "mano"),
        default="builtin",
        help="hand model that turns poses into joints (default: builtin, license-free)",
    )
    p.add_argument("--mano-dir", help="folder with your MANO_RIGHT.pkl / MANO_LEFT.pkl (or $AFFORDHAND_MANO_DIR)")
    p.add_argument("--skeleton", help="calibrated skeleton of the built-in hand (from `affordhand calibrate`)")


def _hand_model(args, prior_spec=None):
    """Return the hand model the flags name; the built-in hand takes --skeleton, else the skeleton calibrated
    with the prior (skeleton.json in its run folder), else its anatomical default."""
    from affordhand.prior.model import prior_hand_model

    hand, skeleton = prior_hand_model(prior_spec, args.hand_model, args.mano_dir, args.skeleton)
    if skeleton is not None and args.skeleton is None:
        print(f"using the skeleton calibrated with the prior: {skeleton}", file=sys.stderr)
    return hand


def _cmd_evaluate(args) -> int:
    from affordhand.data.records import read_records
    from affordhand.eval.evaluate import evaluate
    from affordhand.report.tables import evaluation_table, print_table

    gt = read_records(args.gt, skip_bad=args.skip_bad)
    pred = read_records(args.pred, skip_bad=args.skip_bad)
    result = evaluate(
        gt.records,
        pred.records,
        _hand_model(args, args.prior),
        by=args.by,
        gt_source=args.gt,
        pred_source=args.pred,
        match=args.match,
    )
    if args.json:
        out = dict(result.overall)
        if args.by:
            out["by"] = args.by
            out["groups"] = result.groups
        out["missing_in_pred"] = result.missing_in_pred
        out["extra_in_pred"] = result.extra_in_pred
        out["not_finite"] = result.not_finite
        out["skipped_lines"] = {"gt": len(gt.skipped), "pred": len(pred.skipped)}
        print(json.dumps(_json_safe(out), indent=2))
    else:
        rows = {"all": result.overall}
        rows.update({f"{args.by}={k}": v for k, v in result.groups.items()})
        print_table(evaluation_table(rows, title=f"{args.pred} vs {args.gt} (mm)"))
    if result.missing_in_pred:
        print(
            f"warning: {len(result.missing_in_pred)} ground-truth ids have no prediction "
            f"(first: {result.missing_in_pred[0]!r})",
            file=sys.stderr,
        )
    if result.not_finite:
        print(
            f"warning: {len(result.not_finite)} hands have joints that are not finite numbers and are left out "
            f"of every metric (first: {result.not_finite[0]!r})",
            file=sys.stderr,
        )
    if result.extra_in_pred:
        print(
            f"warning: {len(result.extra_in_pred)} predicted ids are not in the ground truth "
            f"(first: {result.extra_in_pred[0]!r})",
            file=sys.stderr,
        )
    for name, rf in (("gt", gt), ("pred", pred)):
        if rf.skipped:
            print(
                f"warning: skipped {len(rf.skipped)} bad lines in {name} (first: line {rf.skipped[0][0]}: "
                f"{rf.skipped[0][1]})",
                file=sys.stderr,
            )
    return 0


def _add_vlm_args(p: argparse.ArgumentParser, base_url: str) -> None:
    p.add_argument("--base-url", default=base_url, help="OpenAI-compatible server (vLLM, Ollama, LM Studio, ...)")
    p.add_argument("--model", help="vision-language model name (e.g. Qwen/Qwen2.5-VL-7B-Instruct)")
    p.add_argument("--summary-model", help="language model for the summary (default: --model)")
    p.add_argument("--api-key-env", help="name of the environment variable that holds the API key")


def _json_safe(value):
    """Return value with NaN (a metric over no joints) as null, so the output is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _cmd_synth(args) -> int:
    from rich.table import Table

    from affordhand.report.tables import print_table
    from affordhand.synth.dataset import SynthConfig, build

    if args.preview:
        from affordhand.synth.preview import grasp_preview

        print(f"wrote {grasp_preview(args.preview, seed=args.seed)}")
        if not args.out:
            return 0
    if not args.out:
        raise AffordhandError("give --out DIR (or --preview FILE.png)")
    config = SynthConfig(
        n=args.n, seed=args.seed, occlusion=args.occlusion, split_by=args.split_by, test_fraction=args.test_fraction
    )
    summary = build(config, args.out)
    for key in ("taxonomy", "object", "occluded_count"):
        table = Table(title=f"grasps per {key}")
        table.add_column(key)
        table.add_column("count", justify="right")
        for name, count in sorted(summary[key].items()):
            table.add_row(str(name), str(count))
        print_table(table)
    print(f"train {summary['train']}, test {summary['test']}; mean occluded joints {summary['occluded_mean']:.2f}")
    print(f"wrote {args.out}/train.jsonl, test.jsonl, test_init.jsonl, config.json")
    return 0


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
    from affordhand.refine.run import attach_texts

    records = read_records(data).records
    got = attach_texts(records, read_records(text_from, skip_bad=True).records)
    out = Path(run_dir) / "train_with_texts.jsonl"
    write_records(out, records)
    print(f"{got} of {len(records)} records got a text from {text_from}")
    return str(out)


def _cmd_train(args) -> int:
    from affordhand.prior.model import PriorConfig
    from affordhand.prior.train import train

    config = PriorConfig(
        text_encoder=args.text_encoder,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        representation=args.representation,
        schedule=args.schedule,
        prediction=args.prediction,
        checkpoint_every=args.checkpoint_every,
        architecture=args.architecture,
        width=args.width or (256 if args.architecture == "mlp" else 128),
    )
    if args.steps < 1 or args.batch < 1:
        raise AffordhandError("--steps and --batch must be positive")
    data = _dataset_file(args.data, args.split, "train", args.out)
    if args.text_from:
        data = _with_texts(data, args.text_from, args.out)
    val = _dataset_file(args.val, args.split, "test", args.out) if args.val else None
    train(config, data, args.out, val=val, device=args.device, skip_bad=args.skip_bad, restart=args.restart)
    if os.environ.get("RANK", "0") == "0":  # under torchrun only the first process reports
        print(f"wrote {args.out}/config.json and model.safetensors (log: {args.out}/metrics.jsonl)")
    return 0


def _cmd_sample(args) -> int:
    from affordhand.data.provenance import provenance, write_settings
    from affordhand.data.records import write_records
    from affordhand.prior.generate import sample_poses
    from affordhand.prior.model import load_prior, prior_digest

    if args.n < 1:
        raise AffordhandError("--n must be positive")
    prior = load_prior(args.prior, args.device)
    texts = [args.text] * args.n
    poses = sample_poses(prior, texts, args.guidance, args.steps, args.sampler, args.seed)
    records = [
        {
            "id": f"sample{i:04d}",
            "side": "right",
            "hand_pose": p.numpy(),
            "global_orient": [0.0, 0.0, 0.0],
            "text": args.text,
        }
        for i, p in enumerate(poses)
    ]
    write_records(args.out, records)
    settings = {k: getattr(args, k) for k in ("text", "n", "guidance", "steps", "sampler", "seed")}
    write_settings(args.out, provenance("sample", settings, {"prior": prior_digest(args.prior)}))
    print(f"wrote {len(records)} samples to {args.out}")
    if args.figure:
        import torch

        from affordhand.report.figures import skeleton_grid

        with torch.no_grad():
            joints = _hand_model(args, args.prior)(torch.zeros(len(poses), 3), poses).joints.double().numpy()
        skeleton_grid(list(joints), [f"sample {i}" for i in range(len(joints))], args.figure, columns=8, view=(25, 60))
        print(f"wrote {args.figure}")
    return 0


def _cmd_refine(args) -> int:
    from pathlib import Path

    from rich.progress import Progress

    from affordhand.data.provenance import check_same_run, settings_path
    from affordhand.data.records import read_records
    from affordhand.parallel import barrier, join
    from affordhand.progress import quiet, show_progress
    from affordhand.refine.batch import NEEDED
    from affordhand.refine.fit import FitConfig
    from affordhand.refine.guided import GuidedConfig
    from affordhand.refine.io import PartialWriter, finish, input_batches, partial_path, read_partial, scan_input
    from affordhand.refine.plausible import implausible, not_finite
    from affordhand.refine.run import RefineConfig, match_hand_to_input, refine_batch

    described = None
    if args.text_from:
        described = {r["id"]: r for r in read_records(args.text_from, skip_bad=True).records if r.get("text")}
    # The input is streamed: one pass for what the run needs up front, one to refine batch by batch.
    ids, light, without_text, skipped = scan_input(args.input, args.skip_bad, NEEDED, described)
    if skipped:
        print(f"skipped {len(skipped)} bad records (first: line {skipped[0][0]}: {skipped[0][1]})", file=sys.stderr)
    if args.batch < 1 or args.samples < 1 or args.steps < 1:
        raise AffordhandError("--batch, --samples and --steps must be positive")
    prior = uncertainty = None
    if args.mode in ("affordance", "uncond"):
        from affordhand.prior.model import load_prior
        from affordhand.refine.uncertainty import uncertainty_for

        prior = load_prior(args.prior, device=args.device)
        uncertainty, note = uncertainty_for(args.prior)
        if note:
            print(note, file=sys.stderr)
        if not 0 < args.t_start < prior.config.T:
            raise AffordhandError(f"--t-start must be between 1 and {prior.config.T - 1}")
    if args.mode == "affordance" and without_text:
        print(f"warning: {without_text} records have no text and are refined unconditionally", file=sys.stderr)
    config = RefineConfig(
        mode=args.mode,
        seed=args.seed,
        fit=FitConfig(),
        guided=GuidedConfig(
            t_start=args.t_start,
            steps=args.steps,
            guidance=args.guidance,
            cfg=args.cfg,
            samples=args.samples,
            select=args.select,
            noising=args.noising,
            occluded_t_start=args.occluded_t_start,
        ),
    )
    hand, message = match_hand_to_input(light, _hand_model(args, args.prior), not args.no_self_calibration)
    if message:
        print(message, file=sys.stderr)
    del light
    rank, world, _ = join(args.device)
    # Under torchrun each process refines every world-th batch: the batches are the ones a single process
    # makes, so the merged file is byte for byte the single process's.
    batches = lambda skip=frozenset(): input_batches(
        args.input, args.skip_bad, NEEDED, described, args.batch, rank, world, skip
    )
    flagged = [(r["id"], why) for chunk in batches() for r, why in zip(chunk, implausible(chunk, hand)) if why]
    _check_plausible(args.input, flagged, args.strict)
    hand = hand.to(args.device)
    out = Path(args.out)
    settings = _refine_settings(args, config, prior)
    saved, done = read_partial(out, rank, world)
    if partial_path(out, rank, world).is_file() and args.restart:
        saved, done = settings, {}
    elif partial_path(out, rank, world).is_file():
        check_same_run(str(partial_path(out, rank, world)), saved, settings)
    if done:
        print(f"resuming: {len(done)} records already refined", file=sys.stderr)
    writer = PartialWriter(out, done, settings, rank, world)
    done_ids, shard_size = frozenset(done), sum(1 for p in range(len(ids)) if (p // args.batch) % world == rank)
    del done
    failed: list[tuple[str, list[str]]] = []
    with Progress(disable=(not show_progress() and not args.progress) or rank > 0 or quiet()) as bar:
        task = bar.add_task(f"refine ({args.mode})", total=shard_size, completed=len(done_ids))
        for chunk in batches(done_ids):
            refined = []
            for rec in refine_batch(chunk, config, hand, prior, args.device, uncertainty):
                bad = not_finite(rec)
                if bad:
                    failed.append((rec["id"], bad))
                else:
                    refined.append(rec)
            writer.add(refined)
            bar.update(task, advance=len(chunk))
    writer.close()
    if failed:
        print(
            f"warning: {len(failed)} records gave no finite result and were left out (first: "
            f"{failed[0][0]!r}: {', '.join(failed[0][1])}); check them for implausible values",
            file=sys.stderr,
        )
    barrier()  # every rank's partial is complete
    if rank == 0:
        written, _ = finish(out, settings, ids, world)
        print(
            f"wrote {written} of {len(ids)} refined records to {out} (mode {args.mode}; settings: {settings_path(out)})"
        )
    return 0


def _refine_settings(args, config, prior) -> dict:
    """Return what makes a refine output: its settings, the hand model and the input's and prior's hashes."""
    from dataclasses import asdict

    from affordhand.data.provenance import provenance
    from affordhand.prior.model import prior_digest

    hand = {"hand_model": args.hand_model, "skeleton": args.skeleton, "self_calibration": not args.no_self_calibration}
    return provenance(
        "refine",
        {**asdict(config), **hand},
        {
            "input": args.input,
            "text_from": args.text_from,
            "skeleton": args.skeleton,
            "prior": prior_digest(args.prior) if prior is not None else None,
        },
    )


def _check_plausible(source, flagged: list[tuple[str, list[str]]], strict: bool) -> None:
    """Warn about (or, strict, refuse) records whose values no camera or hand produces: (id, reasons)."""
    if not flagged:
        return
    first = "; ".join(f"{rid!r}: {', '.join(why)}" for rid, why in flagged[:3])
    if strict:
        raise AffordhandError(f"{source}: {len(flagged)} records hold implausible values ({first})")
    print(f"warning: {len(flagged)} records hold implausible values and may refine badly ({first})", file=sys.stderr)


def _cmd_build_prior(args) -> int:
    from affordhand.prior.model import DEFAULT_PRIOR
    from affordhand.prior.shipped import build_shipped_prior
    from affordhand.refine.synthetic_calibration import calibrate_on_synthetic

    out = args.out or DEFAULT_PRIOR
    seconds = build_shipped_prior(seed=args.seed, out=out, steps=args.steps)
    _, path = calibrate_on_synthetic(out)
    print(f"built the prior in {seconds:.0f} s: {out} (joint uncertainty calibrated on synthetic hands: {path})")
    return 0


def _cmd_convert(args) -> int:
    from pathlib import Path

    from affordhand.datasets.convert import convert_stream
    from affordhand.hand import load_hand_model

    root = Path(args.root)
    hand = load_hand_model("builtin", skeleton=args.skeleton)
    if args.dataset == "hograspnet":
        from affordhand.datasets import hograspnet as hog

        rule = hog.SplitRule(split=args.split)
        if args.test_objects:
            rule.test_objects = tuple(int(x) for x in args.test_objects.split(","))
        if args.test_grasps:
            rule.test_grasps = tuple(int(x) for x in args.test_grasps.split(","))
        counts = hog.convert_split(
            root,
            Path(args.out),
            hand,
            part=args.part,
            rule=rule,
            cams=tuple(args.cams.split(",")) if args.cams else hog.CAMERAS,
            limit=args.limit,
            labels=Path(args.occlusion_labels) if args.occlusion_labels else None,
            units=args.units,
        )
    else:
        from affordhand.datasets import ho3d

        metas = ho3d.iter_meta(root, args.part)
        if args.limit:
            metas = metas[: args.limit]
        gt = ho3d.load_evaluation_joints(Path(args.gt), ho3d.evaluation_list(root)) if args.gt else None
        if args.part == "evaluation" and gt is None:
            print(
                "note: HO3D's evaluation pickles hold only the root joint and a box; give --gt "
                "evaluation_xyz.json (released separately) for the evaluation joints",
                file=sys.stderr,
            )
        counts = convert_stream(
            metas,
            lambda path: ho3d.convert_meta(path, gt),
            Path(args.out),
            hand,
            total=len(metas),
            label=f"ho3d {args.part}",
        )
    print(f"wrote {counts['written']} records to {args.out}; skipped {counts['broken']} broken files")
    if counts["registered"]:
        print(
            f"warning: {counts['registered']} records state no global orientation (HOGraspNet: Mesh[0].mano_trans "
            "with the camera's extrinsic); it was registered to their joints",
            file=sys.stderr,
        )
    if counts["no_visibility"]:
        print(
            f"warning: {counts['no_visibility']} records have no occlusion labels or masks: all joints count as "
            "visible",
            file=sys.stderr,
        )
    return 0


def _cmd_calibrate(args) -> int:
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


def _cmd_calibrate_uncertainty(args) -> int:
    from pathlib import Path

    from affordhand.data.records import read_records
    from affordhand.eval.evaluate import matched_errors
    from affordhand.prior.model import resolve_prior_dir
    from affordhand.refine.uncertainty import UNCERTAINTY_FILE, coverage, fit_uncertainty, record_features

    if args.synthetic:
        from affordhand.refine.synthetic_calibration import calibrate_on_synthetic

        model, out = calibrate_on_synthetic(args.prior, args.out)
        print(
            f"calibrated on {model.source['hands']} synthetic hands (seed {model.source['synthetic']['seed']}); "
            f"wrote {out}"
        )
        return 0
    if not (args.gt and args.pred):
        raise AffordhandError("give --gt GT.jsonl and --pred REFINED.jsonl, or --synthetic")
    gt = read_records(args.gt, skip_bad=args.skip_bad).records
    pred = read_records(args.pred, skip_bad=args.skip_bad).records
    matched, errors = matched_errors(gt, pred, _hand_model(args, args.prior), args.gt, args.pred)
    features, visible = record_features(matched)
    modes = sorted({str(r.get("refine_mode")) for r in matched})
    model = fit_uncertainty(
        features, errors, visible, args.level, ",".join(modes), {"gt": str(args.gt), "pred": str(args.pred)}
    )
    out = Path(args.out) if args.out else resolve_prior_dir(args.prior) / UNCERTAINTY_FILE
    model.save(out)
    radius = model.radius_mm(features, visible)
    print(f"calibrated on {len(matched)} hands ({', '.join(modes)}); wrote {out}")
    for name, mask in (("visible", visible), ("occluded", ~visible)):
        cov, mean = coverage(errors, radius, mask)
        print(
            f"  {name:<8} q {model.groups[name]['q']:.2f}, coverage on these hands {cov:.3f}, mean radius {mean:.1f} mm"
        )
    return 0


def _cmd_export_prior(args) -> int:
    from affordhand.prior.export import export_prior

    out = export_prior(args.prior, args.out)
    print(
        f"wrote {out} (model card: {out}/README.md); upload it as a Hugging Face model repository and use it "
        "with --prior hf:ORG/NAME"
    )
    return 0


def _cmd_import_regressor(args) -> int:
    from pathlib import Path

    from affordhand.data.records import validate_record, write_records
    from affordhand.datasets.regressor import convert, load_arrays

    path = Path(args.file)
    records = [validate_record(r) for r in convert(load_arrays(path, args.format), path.stem)]
    write_records(args.out, records)
    sides = sum(r["side"] == "left" for r in records)
    print(f"wrote {len(records)} initial estimates ({sides} left hands) to {args.out}")
    return 0


def _cmd_describe(args) -> int:
    from affordhand.data.provenance import provenance, write_settings
    from affordhand.data.records import read_records
    from affordhand.text.describe import Describer, items_from_images, items_from_records, run_describe
    from affordhand.text.prompt import PROMPT_VERSION

    if bool(args.input) == bool(args.images):
        raise AffordhandError("give either --input RECORDS.jsonl or --images DIR --boxes BOXES.jsonl")
    if args.images and not args.boxes:
        raise AffordhandError("--images needs --boxes BOXES.jsonl")
    items = items_from_records(args.input) if args.input else items_from_images(args.images, args.boxes)
    backend = None
    if args.backend == "openai":
        from affordhand.text.backends import OpenAIBackend

        backend = OpenAIBackend(
            args.base_url, args.model, args.summary_model, args.api_key_env, args.timeout, args.retries, args.backoff
        )
    elif args.backend == "transformers":
        from affordhand.text.backends import TransformersBackend

        if not args.model:
            raise AffordhandError("--model is required with --backend transformers")
        backend = TransformersBackend(args.model, args.summary_model, args.device)
    taxonomy = None
    if args.taxonomy_from:
        taxonomy = {
            r["id"]: r["taxonomy_id"]
            for r in read_records(args.taxonomy_from, skip_bad=True).records
            if r.get("taxonomy_id") is not None
        }
    describer = Describer(backend, taxonomy)
    counts = run_describe(items, describer, args.out, args.concurrency)
    settings = {
        **describer.models,
        "prompt_version": PROMPT_VERSION,
        "base_url": args.base_url if args.backend == "openai" else None,
    }
    write_settings(
        args.out,
        provenance(
            "describe",
            settings,
            {"input": args.input, "images": args.images, "boxes": args.boxes, "taxonomy_from": args.taxonomy_from},
        ),
        **counts,
    )
    print(
        f"described {len(items)} hands: {counts['done']} done, {counts['cached']} cached, {counts['failed']} failed; "
        f"wrote {args.out}"
    )
    return 0 if not counts["failed"] else 1


def _openai_describer(args):
    """Return a Describer over the OpenAI-compatible server named by the --base-url/--model flags."""
    from affordhand.text.backends import OpenAIBackend
    from affordhand.text.describe import Describer

    return Describer(OpenAIBackend(args.base_url, args.model, args.summary_model, args.api_key_env))


def _cmd_image(args) -> int:
    from affordhand.frontend.pipeline import ImageOptions, parse_box, parse_fingers, run_images
    from affordhand.prior.model import load_prior
    from affordhand.refine.uncertainty import uncertainty_for

    if not args.max_disagreement > 0:
        raise AffordhandError(f"--max-disagreement must be a positive fraction, got {args.max_disagreement}")
    options = ImageOptions(
        text=args.text,
        object_box=parse_box(args.object_box),
        focal=args.focal,
        occluded=parse_fingers(args.occluded),
        samples=args.samples,
        seed=args.seed,
        mirrored=args.mirrored,
        max_disagreement=args.max_disagreement,
        device=args.device,
    )
    if args.text and not args.text.startswith(("A right hand", "A left hand")):
        raise AffordhandError('--text must be one sentence starting "A right hand" or "A left hand"')
    if args.describe_backend == "template" and not args.text:
        if not (args.object and args.grasp):
            raise AffordhandError("--describe-backend template needs --object and --grasp")
        from affordhand.data.descriptions import template_sentence

        options.text = template_sentence("right", args.object, args.grasp, args.intention)  # side set per hand
    describer = _openai_describer(args) if args.describe_backend == "openai" and not args.text else None
    hand = _hand_model(args, args.prior).to(args.device)
    uncertainty, note = uncertainty_for(args.prior)
    if note:
        print(note, file=sys.stderr)
    entries = run_images(
        args.images, args.out, options, hand, load_prior(args.prior, args.device), describer, uncertainty
    )
    print(f"refined {len(entries)} hands in {len(args.images)} images; see {args.out}/report.html")
    return 0 if entries else 1


def _cmd_serve(args) -> int:
    from affordhand.web.app import serve

    describer = _openai_describer(args) if args.describe_backend else None
    serve(
        args.host,
        args.port,
        prior=args.prior,
        hand_model=args.hand_model,
        mano_dir=args.mano_dir,
        skeleton=args.skeleton,
        describer=describer,
        max_upload_mb=args.max_upload_mb,
        max_jobs=args.max_jobs,
        max_age_s=args.max_age_s,
        device=args.device,
    )
    return 0


def _cmd_demo(args) -> int:
    from affordhand.demo import run_demo

    return run_demo(out_dir=args.out, seed=args.seed)


DEVICE_HELP = "auto (CUDA, then MPS, then CPU; default), cpu, cuda, cuda:N or mps"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    from affordhand.frontend.options import ImageOptions
    from affordhand.refine.settings import GuidedConfig

    G = GuidedConfig()
    parser = argparse.ArgumentParser(
        prog="affordhand",
        description="3D hand reconstruction under occlusion, refined with an affordance-guided diffusion prior.",
    )
    parser.add_argument("--version", action="version", version=f"affordhand {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (as AFFORDHAND_QUIET=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("evaluate", help="MPJPE / PA-MPJPE / AUC of predictions against ground truth")
    p.add_argument("--gt", required=True, help="ground-truth records (JSONL)")
    p.add_argument("--pred", required=True, help="predicted records (JSONL), matched to gt by id or image")
    p.add_argument(
        "--match",
        choices=("id", "image"),
        default="id",
        help="join on the record id (default) or on the image file (the same file, however named)",
    )
    p.add_argument(
        "--by",
        choices=("taxonomy", "object", "occluded_count", "camera", "subject"),
        help="also break the metrics down by this key of the ground truth",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--prior", help="run folder whose calibrated skeleton turns poses into joints (if it has one)")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed lines (counted) instead of stopping")
    _add_hand_model_args(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("synth", help="synthesize grasps with affordance text, occlusion and an initial estimate")
    p.add_argument("--n", type=int, default=2000, help="number of grasps (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder for train.jsonl, test.jsonl, test_init.jsonl")
    p.add_argument("--occlusion", choices=("light", "medium", "heavy", "mixed"), default="mixed")
    p.add_argument(
        "--split-by",
        choices=("object", "taxonomy", "random"),
        default="object",
        help="hold out HOGraspNet's s3 objects, its s4 grasps, or a random fraction",
    )
    p.add_argument("--test-fraction", type=float, default=0.2, help="test share for --split-by random")
    p.add_argument("--preview", metavar="FILE.png", help="save one 3D skeleton per grasp class")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("train", help="train the affordance-conditioned diffusion prior")
    p.add_argument(
        "--data",
        required=True,
        help="training records (JSONL with hand_pose and text), or hograspnet:ROOT (converted once)",
    )
    p.add_argument("--val", help="validation records (JSONL), or hograspnet:ROOT (the split's test part)")
    p.add_argument(
        "--split",
        choices=("s0", "s1", "s2", "s3", "s4"),
        default="s0",
        help="HOGraspNet split for hograspnet:ROOT data",
    )
    p.add_argument("--text-from", help="take each record's text from this JSONL (e.g. describe output), by id")
    p.add_argument("--out", required=True, help="run folder; rerunning the same command resumes")
    p.add_argument("--restart", action="store_true", help="start over in --out instead of resuming its run")
    p.add_argument("--text-encoder", default="minilm", help="minilm (default), hf:NAME_OR_PATH[#cls] or none")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--representation", choices=("axis_angle", "6d"), default="axis_angle")
    p.add_argument(
        "--architecture",
        choices=("mlp", "transformer"),
        default="mlp",
        help="denoiser: residual MLP with FiLM (default) or a transformer over joint tokens",
    )
    p.add_argument("--width", type=int, help="hidden width (default: 256 for mlp, 128 for transformer)")
    p.add_argument("--schedule", choices=("cosine", "linear"), default="cosine")
    p.add_argument("--prediction", choices=("eps", "x0"), default="eps")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--skip-bad", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sample", help="draw hand poses from a prior for a sentence")
    p.add_argument(
        "--prior", default="default", help="run folder, 'default' (shipped) or hf:ORG/NAME[@REV] (Hugging Face Hub)"
    )
    p.add_argument("--text", default=None, help='affordance sentence, "A right hand ..." (omit: unconditional)')
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--guidance", type=float, default=3.0, help="classifier-free guidance scale")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output records (JSONL)")
    p.add_argument("--figure", help="also save the samples as 3D hands (PNG)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    _add_hand_model_args(p)
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("refine", help="refine initial hand estimates with the affordance-guided prior")
    p.add_argument("--input", required=True, help="initial estimates (JSONL: hand_pose, global_orient, keypoints2d, K)")
    p.add_argument(
        "--out",
        required=True,
        help="refined records (JSONL); a rerun with the same settings resumes (settings: OUT.config.json)",
    )
    p.add_argument("--restart", action="store_true", help="start over instead of resuming a partial output")
    p.add_argument("--strict", action="store_true", help="refuse implausible inputs instead of warning about them")
    p.add_argument(
        "--prior", default="default", help="run folder, 'default' (shipped) or hf:ORG/NAME[@REV] (Hugging Face Hub)"
    )
    p.add_argument("--mode", choices=("affordance", "uncond", "fit", "none"), default="affordance")
    p.add_argument("--text-from", help="take each record's text from this JSONL file, by id")
    p.add_argument("--steps", type=int, default=G.steps, help="DDIM steps over the full noise range")
    p.add_argument("--t-start", type=int, default=G.t_start, help="noise level the refinement starts from (of T)")
    p.add_argument("--guidance", type=float, default=G.guidance, help="weight of the 2D keypoint guidance")
    p.add_argument("--cfg", type=float, default=G.cfg, help="classifier-free guidance scale on the text")
    p.add_argument("--samples", type=int, default=G.samples, help="samples per hand (spread: joint_std_mm)")
    p.add_argument(
        "--select",
        choices=("mean", "fit", "median"),
        default=G.select,
        help="final pose: mean of the samples, best 2D fit, or the sample nearest the median",
    )
    p.add_argument("--noising", choices=("sdedit", "invert"), default=G.noising)
    p.add_argument(
        "--occluded-t-start",
        type=int,
        default=G.occluded_t_start,
        help="noise level from which hidden joints are regenerated by the prior (0: off)",
    )
    p.add_argument("--batch", type=int, default=512, help="hands refined at once (per process under torchrun)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--skip-bad", action="store_true", help="skip records that lack what refinement needs")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument(
        "--no-self-calibration",
        action="store_true",
        help="keep the hand model even when the input's own 3D joints show another skeleton",
    )
    _add_hand_model_args(p)
    p.set_defaults(func=_cmd_refine)

    p = sub.add_parser("build-prior", help="rebuild the shipped default prior from scratch (make prior)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--out", help="folder to write (default: the package's own prior)")
    p.set_defaults(func=_cmd_build_prior)

    p = sub.add_parser("convert", help="convert HOGraspNet or HO3D v3 to hand records")
    p.add_argument("dataset", choices=("hograspnet", "ho3d"))
    p.add_argument("root", help="the data set's root folder")
    p.add_argument("--out", required=True, help="output records (JSONL)")
    p.add_argument("--split", choices=("s0", "s1", "s2", "s3", "s4"), default="s0", help="HOGraspNet split")
    p.add_argument("--part", default="train", help="train or test (HOGraspNet); train or evaluation (HO3D)")
    p.add_argument("--cams", help="HOGraspNet cameras to read, e.g. mas,sub1 (default: all four)")
    p.add_argument("--limit", type=int, help="convert at most this many files (quick subsets)")
    p.add_argument("--occlusion-labels", help="folder of per-image visibility files (21 values, .json or .txt)")
    p.add_argument(
        "--units",
        choices=("auto", "cm", "mm", "m"),
        default="auto",
        help="units of HOGraspNet 3D joints (published: cm; auto checks the hand's size)",
    )
    p.add_argument("--test-objects", help="override s3's test objects, e.g. 10,2,12")
    p.add_argument("--test-grasps", help="override s4's test grasps, e.g. 23,25")
    p.add_argument("--skeleton", help="calibrated skeleton used to recover global orientation and scale")
    p.add_argument("--gt", help="HO3D evaluation: the released evaluation_xyz.json (joints of evaluation.txt's frames)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("calibrate", help="fit the built-in hand's skeleton to records with MANO pose and 3D joints")
    p.add_argument("--data", required=True, help="records with hand_pose, global_orient and joints3d (JSONL)")
    p.add_argument("--out", required=True, help="skeleton file to write (JSON)")
    p.add_argument("--iters", type=int, default=400)
    p.add_argument("--skip-bad", action="store_true")
    p.set_defaults(func=_cmd_calibrate)

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
    _add_hand_model_args(p)
    p.set_defaults(func=_cmd_calibrate_uncertainty)

    p = sub.add_parser("export-prior", help="copy a prior's files with a model card, ready to share on the Hub")
    p.add_argument("prior", help="run folder, 'default' or hf:ORG/NAME")
    p.add_argument("out", help="folder to write")
    p.set_defaults(func=_cmd_export_prior)

    p = sub.add_parser("import-regressor", help="turn HaMeR-style regressor outputs into initial estimates")
    p.add_argument("file", help="the regressor's outputs (.npz for --format hamer, .json for --format json)")
    p.add_argument(
        "--format",
        choices=("hamer", "wilor", "json"),
        default="hamer",
        help="hamer or wilor: the .npz examples/save_{hamer,wilor}_outputs.py write (one layout); json",
    )
    p.add_argument("--out", required=True, help="initial estimates (JSONL) for `affordhand refine`")
    p.set_defaults(func=_cmd_import_regressor)

    p = sub.add_parser("describe", help="affordance fields and one sentence per hand, from a VLM + LLM or templates")
    p.add_argument("--input", help="hand records with image, box (hand) and object_box")
    p.add_argument("--images", help="a folder of images (with --boxes)")
    p.add_argument("--boxes", help="JSONL: image, side, hand_box, object_box, id (with --images)")
    p.add_argument("--out", required=True, help="descriptions (JSONL); a rerun resumes from OUT.cache.jsonl")
    p.add_argument("--backend", choices=("openai", "transformers", "template"), default="template")
    _add_vlm_args(p, "http://127.0.0.1:8000/v1")
    p.add_argument("--taxonomy-from", help="records whose taxonomy_id replaces the model's grasp answer, by id")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p.add_argument("--retries", type=int, default=3, help="retries on 429, 5xx and connection errors")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry delay in seconds (doubles each time)")
    p.add_argument("--device", default="auto", help="device of the transformers backend: " + DEVICE_HELP)
    p.set_defaults(func=_cmd_describe)

    p = sub.add_parser("image", help="photos in, refined 3D hands out (MediaPipe, fit, refine, figures, mesh)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--text", help='affordance sentence, "A right hand ..." (else --describe-backend, else none)')
    p.add_argument(
        "--describe-backend",
        choices=("openai", "template"),
        help="describe each hand with a VLM server (openai), or from --object and --grasp (template)",
    )
    _add_vlm_args(p, "http://127.0.0.1:8000/v1")
    p.add_argument("--object", help="template: what the hand holds (a HOGraspNet object name adds its size and shape)")
    p.add_argument("--grasp", help="template: the Feix grasp, by name (e.g. 'medium wrap') or number")
    p.add_argument("--intention", help="template: what the hand does with the object (e.g. drink)")
    p.add_argument("--object-box", help="x0,y0,x1,y1 in pixels: joints inside it and behind the palm are occluded")
    p.add_argument("--occluded", help="fingers you see are hidden, e.g. ring,pinky")
    p.add_argument("--prior", default="default")
    p.add_argument("--focal", type=float, help="focal length in pixels (default: 60-degree field of view)")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--mirrored", action="store_true", help="the photos are mirrored (selfie camera)")
    p.add_argument(
        "--max-disagreement",
        type=float,
        default=ImageOptions.max_disagreement,
        help="joints MediaPipe places this far apart (fraction of the hand's size) in the photo and "
        "its mirror image are taken as occluded; 1 turns the mirror pass off",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    _add_hand_model_args(p)
    p.set_defaults(func=_cmd_image)

    p = sub.add_parser("serve", help="the web page: upload a photo, mark the object, refine, download")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--prior", default="default")
    p.add_argument("--max-upload-mb", type=float, default=8.0)
    p.add_argument("--max-jobs", type=int, default=32, help="results kept for download (the oldest go first)")
    p.add_argument("--max-age-s", type=float, default=3600.0, help="seconds a result is kept for download")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--describe-backend", choices=("openai",), help="enable 'Generate description' with a VLM server")
    _add_vlm_args(p, "http://127.0.0.1:8001/v1")
    _add_hand_model_args(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("demo", help="run the whole pipeline on the embedded synthetic data")
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for user errors, with a one-line message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.quiet:
        os.environ["AFFORDHAND_QUIET"] = "1"
    try:
        if getattr(args, "device", None) is not None:
            from affordhand.devices import resolve_device

            args.device = resolve_device(args.device)
        return int(args.func(args) or 0)
    except AffordhandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
