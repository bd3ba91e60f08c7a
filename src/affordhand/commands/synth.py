"""`affordhand synth`: synthetic grasps with affordance text, occlusion and a simulated regressor."""

from __future__ import annotations

from affordhand.errors import AffordhandError


def register(sub) -> None:
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
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.table import Table

    from affordhand.report.tables import print_table
    from affordhand.synth.dataset import SynthConfig, build

    if args.preview:
        from affordhand.report.grasp_preview import grasp_preview

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
