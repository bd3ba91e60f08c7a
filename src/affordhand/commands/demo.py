"""`affordhand demo`: the whole pipeline on the embedded synthetic data."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the embedded synthetic data")
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from affordhand.demo import run_demo

    return run_demo(out_dir=args.out, seed=args.seed)
