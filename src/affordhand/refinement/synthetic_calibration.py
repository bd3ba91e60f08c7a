"""Calibrate a prior's joint_uncertainty_mm on synthetic hands it was not trained on (the shipped prior's
recipe is made this way, by `affordhand build-prior`, on the validation seed): synthesize grasps with
occlusion and a regressor's estimate, refine them with the prior, and fit the recipe to the errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

from affordhand.data.records import read_records
from affordhand.prior.model import resolve_prior_dir
from affordhand.refinement.loader import load_refiner
from affordhand.refinement.pipeline import RefineConfig
from affordhand.refinement.uncertainty import UNCERTAINTY_FILE, UncertaintyModel, fit_on_refined
from affordhand.synth.dataset import SynthConfig, build

VALIDATION_SEED = 1  # the synthetic seed defaults are chosen on (the shipped prior trains on seed 0)


def calibrate_on_synthetic(
    prior_spec="default", out: str | Path | None = None, seed: int = VALIDATION_SEED, n: int = 4000, batch: int = 256
) -> tuple[UncertaintyModel, Path]:
    """Fit the uncertainty recipe of a prior (affordance mode, default settings) on the test split of a
    synthetic data set; write it to out (default: PRIOR/uncertainty.json); return it and the path."""
    refiner = load_refiner(prior_spec, with_uncertainty=False)
    with tempfile.TemporaryDirectory() as tmp:
        build(SynthConfig(n=n, seed=seed), tmp)
        gt = {r["id"]: r for r in read_records(Path(tmp) / "test.jsonl").records}
        init = read_records(Path(tmp) / "test_init.jsonl").records
    refined = refiner.refine(init, RefineConfig(mode="affordance"), batch=batch)
    model = fit_on_refined(refined, gt, {"synthetic": {"seed": seed, "n": n}})
    path = Path(out) if out else resolve_prior_dir(prior_spec) / UNCERTAINTY_FILE
    return model, model.save(path)
