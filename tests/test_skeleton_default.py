"""The skeleton travels with the prior, and refinement recalibrates from the input's own 3D joints."""

import sys

import numpy as np
import pytest
import torch
from cli_runner import run_cli

from affordhand.data.records import read_records, write_records
from affordhand.hand import BuiltinHand, skeleton
from affordhand.hand.calibrate import skeleton_mismatch_mm
from affordhand.prior.config import PriorConfig
from affordhand.prior.model import prior_skeleton
from affordhand.prior.train import train
from affordhand.refinement.pipeline import match_hand_to_input
from affordhand.synth.dataset import SynthConfig, build


def _other_hand() -> BuiltinHand:
    """A hand with another skeleton: longer fingers, a wider palm, tips moved (as MANO's joints differ)."""
    rest, tips = skeleton.rest_joints()
    rng = np.random.default_rng(3)
    rest = rest * np.array([1.08, 1.0, 1.15]) + np.r_[np.zeros((1, 3)), rng.normal(0, 0.003, (15, 3))]
    tips = tips * 1.12 + rng.normal(0, 0.004, (5, 3))
    return BuiltinHand(rest, tips)


@pytest.fixture(scope="module")
def other_records(tmp_path_factory):
    """Synthetic records whose joints3d come from another skeleton (train and init files)."""
    out = tmp_path_factory.mktemp("other_skeleton")
    build(SynthConfig(n=120, seed=2), out)
    hand = _other_hand()
    files = {}
    for name in ("train", "test_init"):
        records = read_records(out / f"{name}.jsonl").records
        source = read_records(out / "test.jsonl").records if name == "test_init" else records
        truth = {r["id"]: r for r in source}
        for r in records:
            t = truth[r["id"]]
            with torch.no_grad():
                joints = (
                    hand(
                        torch.as_tensor(r["global_orient"], dtype=torch.float32)[None],
                        torch.as_tensor(r["hand_pose"], dtype=torch.float32)[None],
                        is_left=torch.tensor([r["side"] == "left"]),
                    )
                    .joints[0]
                    .numpy()
                )
            r["joints3d"] = joints + np.asarray(t["joints3d"])[0]  # the regressor's own joints, at the wrist
            r.pop("scale", None)  # a HaMeR-style estimate has no built-in hand scale
        write_records(out / f"{name}_other.jsonl", records)
        files[name] = out / f"{name}_other.jsonl"
    return files


@pytest.mark.slow
def test_training_keeps_a_skeleton_calibrated_on_the_datas_joints(other_records, tmp_path):
    records = read_records(other_records["train"]).records
    assert skeleton_mismatch_mm(records, BuiltinHand()) > 5.0
    run = tmp_path / "run"
    train(
        PriorConfig(text_encoder="none", steps=5, batch=16, checkpoint_every=5),
        str(other_records["train"]),
        run,
        quiet=True,
    )
    path = prior_skeleton(run)
    assert path is not None
    from affordhand.hand.calibrate import load_skeleton

    assert skeleton_mismatch_mm(records, load_skeleton(path)) < 0.5


@pytest.mark.slow
def test_synthetic_data_keeps_the_built_in_skeleton(tmp_path, synth_set):
    data = synth_set(n=60, seed=1)
    train(
        PriorConfig(text_encoder="none", steps=5, batch=16, checkpoint_every=5),
        str(data / "train.jsonl"),
        tmp_path / "run",
        quiet=True,
    )
    assert prior_skeleton(tmp_path / "run") is None


@pytest.mark.slow
def test_refine_uses_the_priors_skeleton(other_records, tmp_path):
    run = tmp_path / "run"
    train(
        PriorConfig(text_encoder="none", steps=5, batch=16, checkpoint_every=5),
        str(other_records["train"]),
        run,
        quiet=True,
    )
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "affordhand",
        "refine",
        "--input",
        str(other_records["test_init"]),
        "--prior",
        str(run),
        "--mode",
        "none",
        "--out",
        str(out),
    ]
    proc = run_cli(*cmd[3:])  # cmd: python -m affordhand ...
    assert proc.returncode == 0, proc.stderr
    assert "using the skeleton calibrated with the prior" in proc.stderr
    assert "calibrated the built-in skeleton" not in proc.stderr  # the prior's skeleton already fits
    refined = read_records(out).records
    given = {r["id"]: r for r in read_records(other_records["test_init"]).records}
    err = [
        np.linalg.norm(
            (r["joints3d"] - r["joints3d"][0]) - (given[r["id"]]["joints3d"] - given[r["id"]]["joints3d"][0]), axis=-1
        ).mean()
        for r in refined
    ]
    assert np.mean(err) < 1e-3  # mode none through the prior's skeleton reproduces the regressor's joints


@pytest.mark.slow
def test_refine_self_calibrates_from_the_inputs_joints_and_says_so(other_records, tmp_path):
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "affordhand",
        "refine",
        "--input",
        str(other_records["test_init"]),
        "--mode",
        "none",
        "--out",
        str(out),
    ]
    proc = run_cli(*cmd[3:])  # cmd: python -m affordhand ...
    assert proc.returncode == 0, proc.stderr
    assert "calibrated the built-in skeleton" in proc.stderr and " mm" in proc.stderr
    refined = {r["id"]: r for r in read_records(out).records}
    moved = [
        np.abs(
            (refined[r["id"]]["joints3d"] - refined[r["id"]]["joints3d"][0]) - (r["joints3d"] - r["joints3d"][0])
        ).max()
        for r in read_records(other_records["test_init"]).records
    ]
    assert max(moved) < 2e-3  # within 2 mm of the regressor's own joints everywhere


@pytest.mark.slow
def test_a_mismatch_never_passes_silently(other_records, tmp_path):
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "affordhand",
        "refine",
        "--input",
        str(other_records["test_init"]),
        "--mode",
        "none",
        "--out",
        str(out),
        "--no-self-calibration",
    ]
    proc = run_cli(*cmd[3:])  # cmd: python -m affordhand ...
    assert proc.returncode == 0, proc.stderr
    assert "warning: the input's own 3D joints are" in proc.stderr and "self-calibration is off" in proc.stderr


def test_matching_input_keeps_the_hand_and_says_nothing(other_records):
    records = read_records(other_records["test_init"]).records
    hand = _other_hand()
    same, message = match_hand_to_input(records, hand)
    assert same is hand and message is None
    few, message = match_hand_to_input(records[:5], BuiltinHand())
    assert isinstance(few, BuiltinHand) and "too few to calibrate" in message


@pytest.mark.slow
def test_calibrate_refuses_joints_in_centimetres_and_bad_iterations(other_records, tmp_path):
    records = read_records(other_records["train"]).records[:40]
    for r in records:
        r["joints3d"] = np.asarray(r["joints3d"]) * 100  # centimetres
    write_records(tmp_path / "cm.jsonl", records)
    run = lambda *extra: run_cli(  # noqa: E731
        "calibrate", "--data", str(tmp_path / "cm.jsonl"), "--out", str(tmp_path / "s.json"), *extra
    )
    proc = run("--iters", "50")
    assert proc.returncode == 2 and "are its joints in metres?" in proc.stderr, proc.stderr
    assert not (tmp_path / "s.json").exists()
    for iters in ("0", "-5"):
        proc = run("--iters", iters)
        assert proc.returncode == 2 and "iters must be an integer between 1 and 100000" in proc.stderr
