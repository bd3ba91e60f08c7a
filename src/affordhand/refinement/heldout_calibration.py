"""Calibrate a trained prior's joint_uncertainty_mm on records it did not train on (what `affordhand train`
does after training, so that a prior you train has its own recipe instead of borrowing the shipped one).

1. Part of the training records is held out: whole objects where the records name them (record_objects),
   else records at random, HOLDOUT of them (at least one object, at least MIN_HELD records).
2. A calibration prior is trained with the same settings on the rest (`RUN/calibration/`, resumable like
   any run). The prior you use is trained on all records; the calibration prior stands in for it on
   hands of objects it has not seen, as yours will meet at refinement.
3. The held-out poses are put in synthetic scenes as the shipped recipe's are (synth/dataset.py:
   `scenes_for`: views, occlusion by the object and the hand, the simulated regressor, whose hidden fingers
   drift to the training poses' mean), each in VIEWS_FOR(n) views, posed by the prior's own hand (its
   calibrated skeleton where training kept one), refined in affordance mode with default settings, and the
   recipe is fitted to their errors (refinement/uncertainty.py: fit_uncertainty).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from affordhand.data.records import read_records, write_records
from affordhand.errors import AffordhandError
from affordhand.prior.conditions import record_objects
from affordhand.prior.config import PriorConfig
from affordhand.prior.train import train, training_poses
from affordhand.refinement.loader import load_refiner
from affordhand.refinement.pipeline import RefineConfig
from affordhand.refinement.uncertainty import UNCERTAINTY_FILE, UncertaintyModel, fit_on_refined
from affordhand.synth.dataset import scenes_for

HOLDOUT = 0.2  # share of objects (or records) held out
MIN_HELD = 8  # records
TARGET_HANDS = 800  # held-out hands to calibrate on, reached with several views of each record
MAX_VIEWS = 16
CALIBRATION_DIR = "calibration"


def split_heldout(records: list[dict], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (indices to train on, indices held out, what was held out: "objects" or "records")."""
    rng = np.random.default_rng(seed)
    keys = [(record_objects(r) or [None])[0] for r in records]
    objects = sorted({k for k in keys if k is not None})
    n = len(records)
    if len(objects) >= 2:
        order = rng.permutation(len(objects))
        held_objects, count = set(), 0
        for i in order:  # whole objects until the share of records is reached
            if count >= max(fraction * n, MIN_HELD) or len(held_objects) == len(objects) - 1:
                break
            held_objects.add(objects[i])
            count += sum(k == objects[i] for k in keys)
        held = np.array([k in held_objects for k in keys])
        kind = "objects"
    else:
        held = np.zeros(n, bool)
        held[rng.permutation(n)[: max(MIN_HELD, math.ceil(fraction * n))]] = True
        kind = "records"
    if held.all() or not held.any():
        raise AffordhandError(f"too few records ({n}) to hold some out for the uncertainty calibration")
    return np.flatnonzero(~held), np.flatnonzero(held), kind


def calibrate_heldout(
    config: PriorConfig,
    data: str | Path,
    run_dir: str | Path,
    fraction: float = HOLDOUT,
    device: str = "cpu",
    quiet: bool = False,
    skip_bad: bool = False,
) -> tuple[UncertaintyModel, Path]:
    """Fit the recipe of the prior in run_dir on records of `data` held out from a calibration prior trained
    like it on the rest; write it to RUN/uncertainty.json (replacing any); return it and the path."""
    if not 0.0 < fraction < 1.0:
        raise AffordhandError(f"--holdout must be between 0 and 1, not {fraction}")
    run_dir = Path(run_dir)
    records = read_records(data, skip_bad=skip_bad, required=("hand_pose",)).records
    train_idx, held_idx, kind = split_heldout(records, fraction, config.seed)
    cal_dir = run_dir / CALIBRATION_DIR
    cal_dir.mkdir(parents=True, exist_ok=True)
    cal_data = cal_dir / "train.jsonl"
    write_records(cal_data, [records[i] for i in train_idx])
    train(config, str(cal_data), cal_dir, device=device, quiet=quiet)
    refiner = load_refiner(cal_dir, device=device, with_uncertainty=False)
    hand = refiner.hand
    held = [records[i] for i in held_idx]
    views = int(np.clip(math.ceil(TARGET_HANDS / len(held)), 1, MAX_VIEWS))
    truth, init = scenes_for(
        held * views, training_poses([records[i] for i in train_idx])[0].mean(0).numpy(), config.seed, hand=hand
    )
    refined = refiner.refine(init, RefineConfig(mode="affordance"))
    held_out = {"held_out": kind, "records": len(held), "views": views, "trained_on": len(train_idx)}
    model = fit_on_refined(refined, {r["id"]: r for r in truth}, {"heldout": held_out})
    path = model.save(run_dir / UNCERTAINTY_FILE)
    (cal_dir / "heldout.json").write_text(json.dumps({"held_out_ids": [r.get("id") for r in held]}) + "\n")
    return model, path
