"""`affordhand demo`: the whole pipeline on the embedded synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.data.records import write_records
from affordhand.eval.evaluate import evaluate
from affordhand.hand import BuiltinHand
from affordhand.report.tables import evaluation_table, print_table


def run_demo(out_dir: str = "out/demo", seed: int = 0) -> int:
    """Run the demo and return 0; prints what it did and where the files are."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    hand = BuiltinHand()
    # Foundation stage: a handful of random poses, perturbed, evaluated with the real metrics.
    gt, pred = [], []
    for i in range(8):
        pose = rng.normal(0, 0.2, 45)
        gt.append({"id": f"demo{i}", "hand_pose": pose, "global_orient": rng.normal(0, 0.5, 3)})
        pred.append({"id": f"demo{i}", "hand_pose": pose + rng.normal(0, 0.05, 45),
                     "global_orient": gt[-1]["global_orient"]})
    write_records(out / "gt.jsonl", gt)
    write_records(out / "pred.jsonl", pred)
    result = evaluate(gt, pred, hand)
    print_table(evaluation_table({"perturbed": result.overall}, title="demo (mm)"))
    print(f"wrote {out / 'gt.jsonl'} and {out / 'pred.jsonl'}")
    return 0
