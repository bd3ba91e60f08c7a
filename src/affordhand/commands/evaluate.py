"""`affordhand evaluate`: MPJPE / PA-MPJPE / AUC of predictions against ground truth."""

from __future__ import annotations

import json

from affordhand.commands.common import add_hand_model_args, hand_model, json_safe, warn
from affordhand.eval.groups import GROUP_KEYS, MATCH_KEYS


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="MPJPE / PA-MPJPE / AUC of predictions against ground truth")
    p.add_argument("--gt", required=True, help="ground-truth records (JSONL)")
    p.add_argument("--pred", required=True, help="predicted records (JSONL), matched to gt by id or image")
    p.add_argument(
        "--match",
        choices=MATCH_KEYS,
        default="id",
        help="join on the record id (default) or on the image file (the same file, however named)",
    )
    p.add_argument("--by", choices=GROUP_KEYS, help="also break the metrics down by this key of the ground truth")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--prior", help="run folder whose calibrated skeleton turns poses into joints (if it has one)")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed lines (counted) instead of stopping")
    add_hand_model_args(p)
    p.set_defaults(func=run)


def _print_json(args, result, gt, pred) -> None:
    out = dict(result.overall)
    if args.by:
        out["by"] = args.by
        out["groups"] = result.groups
    out["missing_in_pred"] = result.missing_in_pred
    out["extra_in_pred"] = result.extra_in_pred
    out["not_finite"] = result.not_finite
    out["skipped_lines"] = {"gt": len(gt.skipped), "pred": len(pred.skipped)}
    print(json.dumps(json_safe(out), indent=2))


def _warn_unmatched(result, gt, pred) -> None:
    """Say on stderr which hands no metric covers: unmatched ids, non-finite joints, skipped lines."""
    counts = (
        (result.missing_in_pred, "ground-truth ids have no prediction"),
        (result.not_finite, "hands have joints that are not finite numbers and are left out of every metric"),
        (result.extra_in_pred, "predicted ids are not in the ground truth"),
    )
    for ids, what in counts:
        if ids:
            warn(f"warning: {len(ids)} {what} (first: {ids[0]!r})")
    for name, rf in (("gt", gt), ("pred", pred)):
        if rf.skipped:
            warn(
                f"warning: skipped {len(rf.skipped)} bad lines in {name} (first: line {rf.skipped[0][0]}: "
                f"{rf.skipped[0][1]})"
            )


def run(args) -> int:
    from affordhand.data.records import read_records
    from affordhand.eval.evaluate import evaluate
    from affordhand.report.tables import evaluation_table, print_table

    gt = read_records(args.gt, skip_bad=args.skip_bad)
    pred = read_records(args.pred, skip_bad=args.skip_bad)
    hand = hand_model(args, args.prior)
    result = evaluate(
        gt.records, pred.records, hand, by=args.by, gt_source=args.gt, pred_source=args.pred, match=args.match
    )
    if args.json:
        _print_json(args, result, gt, pred)
    else:
        rows = {"all": result.overall}
        rows.update({f"{args.by}={k}": v for k, v in result.groups.items()})
        print_table(evaluation_table(rows, title=f"{args.pred} vs {args.gt} (mm)"))
    _warn_unmatched(result, gt, pred)
    return 0
