"""`affordhand synth`: synthetic grasps with affordance text, occlusion and a simulated regressor."""

from __future__ import annotations

from affordhand.commands.flags import add_config_flags, config_from_args
from affordhand.errors import AffordhandError
from affordhand.synth.config import SynthConfig


def register(sub) -> None:
    p = sub.add_parser("synth", help="synthesize grasps with affordance text, occlusion and an initial estimate")
    add_config_flags(p, SynthConfig)
    p.add_argument("--out", help="output folder for train.jsonl, test.jsonl, test_init.jsonl")
    p.add_argument("--preview", metavar="FILE.png", help="save one 3D skeleton per grasp class")
    p.set_defaults(func=run)


def run(args) -> int:
    from rich.table import Table

    from affordhand.report.tables import print_table
    from affordhand.synth.dataset import build

    if args.preview:
        from affordhand.report.grasp_preview import grasp_preview

        print(f"wrote {grasp_preview(args.preview, seed=args.seed)}")
        if not args.out:
            return 0
    if not args.out:
        raise AffordhandError("give --out DIR (or --preview FILE.png)")
    summary = build(config_from_args(SynthConfig, args), args.out)
    for key in ("taxonomy", "object", "occluded_count"):
        table = Table(title=f"grasps per {key}")
        table.add_column(key)
        table.add_column("count", justify="right")
        for name, count in sorted(summary[key].items(), key=lambda kv: (isinstance(kv[0], str), kv[0])):
            table.add_row(str(name), str(count))
        print_table(table)
    print(f"train {summary['train']}, test {summary['test']}; mean occluded joints {summary['occluded_mean']:.2f}")
    print(f"wrote {args.out}/train.jsonl, test.jsonl, test_init.jsonl, config.json")
    return 0
