"""Calibrated per-joint uncertainty (joint_uncertainty_mm): the recipe, its coverage on synthetic hands it
was not fitted on, and the commands that make and report it."""

import json
import shutil

import numpy as np
import pytest
from cli_runner import run_cli

from affordhand.data.records import read_records, write_records
from affordhand.errors import AffordhandError
from affordhand.eval.evaluate import evaluate, matched_errors
from affordhand.hand import BuiltinHand
from affordhand.prior.model import DEFAULT_PRIOR, load_prior
from affordhand.refinement.pipeline import RefineConfig, refine_batch
from affordhand.refinement.uncertainty import (
    PLACE,
    UNCERTAINTY_FILE,
    conformal_quantile,
    coverage,
    fit_uncertainty,
    load_uncertainty,
    record_features,
    uncertainty_for,
)
from affordhand.synth.dataset import SynthConfig, build


@pytest.fixture(scope="module")
def refined(tmp_path_factory):
    """Synthetic hands (a seed neither the shipped prior nor its recipe saw), refined with the shipped prior
    and its recipe; returns (gt, refined)."""
    out = tmp_path_factory.mktemp("uncertainty")
    build(SynthConfig(n=900, seed=7), out)
    gt = read_records(out / "test.jsonl").records
    init = read_records(out / "test_init.jsonl").records
    recipe, note = uncertainty_for("default")
    assert note is None  # the shipped prior carries its own recipe
    return gt, refine_batch(
        init, RefineConfig(mode="affordance"), BuiltinHand(), load_prior("default"), uncertainty=recipe
    )


@pytest.mark.slow
def test_the_shipped_recipe_covers_about_90_percent_of_new_synthetic_hands(refined):
    gt, out = refined
    assert all(r["joint_uncertainty_mm"].shape == (21,) and r["joint_uncertainty_mm"][0] == 0 for r in out)
    m = evaluate(gt, out, BuiltinHand()).overall
    assert 0.8 <= m["coverage_visible"] <= 0.97 and 0.8 <= m["coverage_occluded"] <= 0.97, m
    assert m["radius_occluded_mm"] > m["radius_visible_mm"] > 0  # hidden joints are less certain


@pytest.mark.slow
def test_a_recipe_fitted_on_some_objects_covers_the_others(refined):
    """Two-fold cross-validation over objects: each half's radii come from a recipe fitted on the other half
    (one split alone of these 220 hands moves coverage by about 0.15)."""
    gt, out = refined
    preds, errors = matched_errors(gt, out, BuiltinHand())
    features, visible = record_features(preds)
    objects = np.array([r["object"] for r in preds])
    radius = np.zeros_like(errors)
    for parity in (0, 1):
        half = np.isin(objects, sorted(set(objects))[parity::2])
        model = fit_uncertainty(features[half], errors[half], visible[half])
        radius[~half] = model.radius_mm(features[~half], visible[~half])
    for mask in (visible, ~visible):
        cov, mean = coverage(errors, radius, mask)
        assert 0.8 <= cov <= 0.97 and mean > 0
    # The radius ranks errors: the larger half of the radii holds the larger errors.
    occ = ~visible & (PLACE > 0)[None]
    big = radius[occ] > np.median(radius[occ])
    assert errors[occ][big].mean() > 1.3 * errors[occ][~big].mean()


def test_conformal_quantile_and_recipe_round_trip(tmp_path):
    scores = np.arange(1, 101, dtype=float)
    assert conformal_quantile(scores, 0.9) == 91.0  # ceil(101 * 0.9) = 91st smallest
    assert conformal_quantile(scores[:5], 0.9) == float("inf")  # too few to promise 90 %
    rng = np.random.default_rng(0)
    features = np.concatenate([np.ones((50, 21, 1)), rng.random((50, 21, 7))], -1)
    visible = rng.random((50, 21)) > 0.3
    model = fit_uncertainty(features, rng.gamma(2.0, 5.0, (50, 21)), visible)
    again = load_uncertainty(model.save(tmp_path / UNCERTAINTY_FILE))
    assert np.allclose(again.radius_mm(features, visible), model.radius_mm(features, visible))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(AffordhandError, match="not a readable uncertainty recipe"):
        load_uncertainty(tmp_path / "bad.json")


def _cli(*args):
    return run_cli(*args)


@pytest.mark.slow
def test_calibrate_uncertainty_keeps_the_recipe_with_the_prior_and_refine_uses_it(refined, tmp_path):
    gt, out = refined
    write_records(tmp_path / "gt.jsonl", gt)
    write_records(tmp_path / "refined.jsonl", out)
    run = tmp_path / "run"
    shutil.copytree(DEFAULT_PRIOR, run)
    (run / UNCERTAINTY_FILE).unlink()
    _, note = uncertainty_for(run)
    assert "has no uncertainty.json" in note  # a prior without its own recipe borrows the shipped one, and says so
    proc = _cli(
        "calibrate-uncertainty",
        "--gt",
        str(tmp_path / "gt.jsonl"),
        "--pred",
        str(tmp_path / "refined.jsonl"),
        "--prior",
        str(run),
    )
    assert proc.returncode == 0, proc.stderr
    assert "occluded" in proc.stdout and (run / UNCERTAINTY_FILE).is_file()
    assert uncertainty_for(run)[1] is None
    init = [{k: v for k, v in r.items() if not k.startswith("joint_")} for r in out[:6]]
    write_records(tmp_path / "in.jsonl", init)
    proc = _cli(
        "refine",
        "--input",
        str(tmp_path / "in.jsonl"),
        "--out",
        str(tmp_path / "again.jsonl"),
        "--prior",
        str(run),
        "--samples",
        "2",
    )
    assert proc.returncode == 0, proc.stderr
    again = read_records(tmp_path / "again.jsonl").records
    assert all(len(r["joint_uncertainty_mm"]) == 21 for r in again)
    proc = _cli("evaluate", "--gt", str(tmp_path / "gt.jsonl"), "--pred", str(tmp_path / "again.jsonl"), "--json")
    report = json.loads(proc.stdout)
    assert 0 <= report["coverage_occluded"] <= 1 and report["radius_occluded_mm"] > 0
    proc = _cli(
        "calibrate-uncertainty",
        "--gt",
        str(tmp_path / "gt.jsonl"),
        "--pred",
        str(tmp_path / "in.jsonl"),
        "--prior",
        str(run),
    )
    assert proc.returncode == 2 and "joint_move_mm" in proc.stderr  # not refinement output: a clear error


@pytest.mark.slow
def test_train_fits_its_own_recipe_on_held_out_objects(tmp_path, synth_data):
    """`affordhand train` writes RUN/uncertainty.json fitted on records of objects that its calibration prior
    did not train on; refinement with the run then uses it instead of the shipped recipe; --restart drops it."""
    from affordhand.cli import main
    from affordhand.refinement.heldout_calibration import split_heldout

    data = synth_data / "train.jsonl"
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(run), "--text-encoder", "none", "--steps", "40"]
    assert main([*args, "--batch", "32"]) == 0
    recipe = load_uncertainty(run / UNCERTAINTY_FILE)
    held = recipe.source["heldout"]
    assert held["held_out"] == "objects" and held["records"] >= 8 and recipe.source["hands"] >= 400
    assert uncertainty_for(str(run))[1] is None  # the run's own recipe, not the shipped one borrowed
    records = read_records(data).records
    train_idx, held_idx, kind = split_heldout(records, 0.2, 0)
    objects = lambda idx: {records[i].get("object") for i in idx}
    assert kind == "objects" and not objects(train_idx) & objects(held_idx)
    assert main([*args, "--batch", "32", "--restart", "--uncertainty", "none"]) == 0
    assert not (run / UNCERTAINTY_FILE).exists() and not (run / "calibration").exists()


@pytest.mark.slow
def test_calibrate_uncertainty_refuses_what_would_break_the_prior(refined, tmp_path):
    """A level its hands cannot reach is refused (it once wrote q = inf, and every later refine failed); the
    shipped prior's folder is never written; ids that do not match are warned about."""
    gt, out = refined
    write_records(tmp_path / "gt.jsonl", gt[:6])
    write_records(tmp_path / "refined.jsonl", out[:6])
    run = tmp_path / "run"
    shutil.copytree(DEFAULT_PRIOR, run)
    before = (run / UNCERTAINTY_FILE).read_text()
    common = ["calibrate-uncertainty", "--gt", str(tmp_path / "gt.jsonl"), "--pred", str(tmp_path / "refined.jsonl")]
    proc = _cli(*common, "--prior", str(run), "--level", "0.99")
    assert proc.returncode == 2 and "too few" in proc.stderr and "lower --level" in proc.stderr, proc.stderr
    assert (run / UNCERTAINTY_FILE).read_text() == before
    shipped = (DEFAULT_PRIOR / UNCERTAINTY_FILE).read_bytes()
    proc = _cli(*common)  # the default prior: the package's own folder
    assert proc.returncode == 2 and "read-only" in proc.stderr, proc.stderr
    assert (DEFAULT_PRIOR / UNCERTAINTY_FILE).read_bytes() == shipped
    shuffled = [{**r, "id": gt[(i + 1) % 6]["id"]} for i, r in enumerate(out[:6])]
    write_records(tmp_path / "shuffled.jsonl", shuffled)
    proc = _cli(*common[:3], "--pred", str(tmp_path / "shuffled.jsonl"), "--out", str(tmp_path / "r.json"))
    assert proc.returncode == 0 and "warning: the median joint error" in proc.stderr, proc.stderr


def test_a_recipe_with_a_bad_number_is_refused(tmp_path):
    raw = json.loads((DEFAULT_PRIOR / UNCERTAINTY_FILE).read_text())
    for group, key, value in (("occluded", "q", -5), ("visible", "beta", [float("nan")] * 8), ("visible", "beta", "x")):
        bad = json.loads(json.dumps(raw))
        bad["groups"][group][key] = value
        (tmp_path / "u.json").write_text(json.dumps(bad))
        with pytest.raises(AffordhandError, match="not a readable uncertainty recipe"):
            load_uncertainty(tmp_path / "u.json")
