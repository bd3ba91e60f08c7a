"""The Python API, used as a notebook would: plain dicts in, the CLI's results out."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import affordhand as ah
from affordhand.data.records import dumps_record

PHOTO = Path(__file__).resolve().parents[1] / "examples" / "photos" / "fingerpose_halfcurl.jpg"


@pytest.fixture(scope="module")
def data(synth_data):
    return synth_data


def _plain(path, n):
    """Records as a notebook holds them: plain lists and numbers, optional fields left out."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()[:n]]
    for row in rows[::2]:
        row.pop("side", None)  # default: right
    return rows


@pytest.mark.slow
def test_refine_on_plain_dicts_gives_what_the_cli_writes(data, tmp_path):
    rows = _plain(data / "test_init.jsonl", 6)
    rows[0]["visible"] = None  # default: every joint visible
    refined = ah.refine(rows, samples=2, seed=3)
    assert [r["id"] for r in refined] == [r["id"] for r in rows]
    assert all(len(r["joint_uncertainty_mm"]) == 21 and r["joints3d"].shape == (21, 3) for r in refined)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "affordhand",
            "refine",
            "--input",
            str(tmp_path / "in.jsonl"),
            "--out",
            str(tmp_path / "out.jsonl"),
            "--samples",
            "2",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert [dumps_record(r) for r in refined] == (tmp_path / "out.jsonl").read_text().splitlines()


@pytest.mark.slow
def test_the_orientation_hold_is_the_same_setting_in_python_and_on_the_command_line(data, tmp_path):
    rows = _plain(data / "test_init.jsonl", 6)
    free = ah.refine(rows, mode="fit", orient_prior=0.0)
    held = ah.refine(rows, mode="fit")
    assert any(not np.allclose(a["global_orient"], b["global_orient"]) for a, b in zip(free, held))
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    args = ["refine", "--input", str(tmp_path / "in.jsonl"), "--out", str(out), "--mode", "fit", "--orient-prior", "0"]
    cli = subprocess.run([sys.executable, "-m", "affordhand", *args], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert [dumps_record(r) for r in free] == out.read_text().splitlines()


def test_evaluate_sample_and_records_round_trip(data, tmp_path):
    gt = _plain(data / "test.jsonl", 8)
    refined = ah.refine(_plain(data / "test_init.jsonl", 8), mode="fit")
    report = ah.evaluate(gt, refined, by="object")
    assert report["overall"]["count"] == 8 and 0 < report["overall"]["mpjpe"] < 50 and report["groups"]
    ah.write_records(tmp_path / "r.jsonl", refined)
    assert [r["id"] for r in ah.read_records(tmp_path / "r.jsonl")] == [r["id"] for r in refined]
    poses = ah.sample("A right hand holds a mug by its handle.", n=4, seed=2)
    assert poses.shape == (4, 45) and np.isfinite(poses).all()
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "affordhand",
            "sample",
            "--text",
            "A right hand holds a mug by its handle.",
            "--n",
            "4",
            "--seed",
            "2",
            "--out",
            str(tmp_path / "s.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert np.allclose(poses, [r["hand_pose"] for r in ah.read_records(tmp_path / "s.jsonl")], atol=2e-6)


def test_user_mistakes_are_clear_errors():
    with pytest.raises(ah.AffordhandError, match="record 0: field 'K' is required"):
        ah.refine([{"id": "a", "hand_pose": [0.0] * 45, "global_orient": [0, 0, 0], "keypoints2d": [[0, 0]] * 21}])
    with pytest.raises(ah.AffordhandError, match="unknown option"):
        ah.refine([], guidnce=3)
    with pytest.raises(ah.AffordhandError, match="unknown mode"):
        ah.refine([], mode="best")


@pytest.mark.parametrize(
    "option, match",
    [
        ({"t_start": 1000}, "t_start must be between 1 and 999"),
        ({"t_start": -5}, "t_start must be at least 1"),
        ({"occluded_t_start": 1000}, "occluded_t_start must be between 0 .off. and 999"),
        ({"keypoint_weight": -1.0}, "keypoint_weight must be at least 0"),
        ({"cfg": float("nan")}, "cfg must be a finite number"),
        ({"samples": 10**6}, "samples must be between 1 and 256"),
        ({"steps": 2000}, "steps must be between 1 and 1000"),
        ({"orient_prior": -10.0}, "orient_prior must be at least 0"),
    ],
)
def test_a_setting_out_of_range_is_refused_before_any_work(data, option, match):
    rows = _plain(data / "test_init.jsonl", 2)
    with pytest.raises(ah.AffordhandError, match=match):
        ah.refine(rows, **option)


@pytest.mark.slow
def test_refine_image_takes_a_path_or_an_array():
    pytest.importorskip("mediapipe")
    from PIL import Image

    by_path = ah.refine_image(PHOTO, "A right hand curls its index finger over the thumb.", samples=1)
    by_array = ah.refine_image(
        np.asarray(Image.open(PHOTO).convert("RGB")),
        "A right hand curls its index finger over the thumb.",
        samples=1,
        name="fingerpose_halfcurl",
    )  # the ids, and so the seeds, of the file's hands
    assert len(by_path) == len(by_array) == 1
    assert np.allclose(by_path[0]["joints3d"], by_array[0]["joints3d"], atol=1e-6)
    assert "skeleton" in by_path[0]  # the hand's own proportions, kept with its record
    fixed = ah.refine_image(
        PHOTO, "A right hand curls its index finger over the thumb.", samples=1, own_proportions=False
    )
    assert "skeleton" not in fixed[0]
    K = [[520.0, 0.0, 110.0], [0.0, 530.0, 95.0], [0.0, 0.0, 1.0]]
    calibrated = ah.refine_image(PHOTO, None, samples=1, K=K)  # a calibrated camera, from Python
    assert np.allclose(calibrated[0]["K"], K)
    with pytest.raises(ah.AffordhandError, match="focal must be at least"):
        ah.refine_image(PHOTO, None, focal=-500)


def test_devices_resolve_or_say_what_is_missing(monkeypatch):
    import torch

    from affordhand.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") in ("cpu", "mps") and resolve_device("cpu") == "cpu"
    with pytest.raises(ah.AffordhandError, match="--device cuda: .*use --device cpu or auto"):
        resolve_device("cuda")
    with pytest.raises(ah.AffordhandError, match="unknown --device 'tpu'"):
        resolve_device("tpu")
    proc = subprocess.run(
        [sys.executable, "-m", "affordhand", "sample", "--n", "2", "--out", "/dev/null", "--device", "cuda:7"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: --device cuda:7") and "Traceback" not in proc.stderr


def test_the_old_name_of_the_keypoint_weight_still_works_and_warns(data):
    rows = _plain(data / "test_init.jsonl", 2)
    with pytest.warns(DeprecationWarning, match="keypoint_weight"):
        old = ah.refine(rows, guidance=100.0, samples=1, steps=10)
    new = ah.refine(rows, keypoint_weight=100.0, samples=1, steps=10)
    assert np.allclose([r["hand_pose"] for r in old], [r["hand_pose"] for r in new])


@pytest.mark.slow
def test_a_partial_written_under_the_old_name_of_the_keypoint_weight_resumes(data, tmp_path):
    from affordhand.data.provenance import settings_path
    from affordhand.refinement.io import SETTINGS_KEY

    src, out = data / "test_init.jsonl", tmp_path / "out.jsonl"
    argv = [sys.executable, "-m", "affordhand", "refine", "--input", str(src), "--out", str(out), "--mode", "fit"]
    assert subprocess.run(argv, capture_output=True).returncode == 0
    settings = json.loads(settings_path(out).read_text())
    settings = {k: settings[k] for k in ("command", "settings", "inputs", "version") if k in settings}
    settings["settings"]["guided"]["guidance"] = settings["settings"]["guided"].pop("keypoint_weight")
    done = out.read_text().splitlines()[:3]
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps({SETTINGS_KEY: settings}) + "\n" + "\n".join(done) + "\n")
    out.unlink()
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0 and "resuming: 3 records already refined" in proc.stderr, proc.stderr


def test_refine_exits_1_when_a_record_is_left_out(data, tmp_path, monkeypatch, capsys):
    """An output missing records whose result was not finite is not a success."""
    import affordhand.refinement.job as job
    from affordhand.cli import main

    real = job.refine_records

    def one_broken(records, *args, **kwargs):
        out = real(records, *args, **kwargs)
        out[0]["joints3d"] = np.full((21, 3), np.nan)
        return out

    monkeypatch.setattr(job, "refine_records", one_broken)
    argv = ["refine", "--input", str(data / "test_init.jsonl"), "--out", str(tmp_path / "o.jsonl"), "--mode", "fit"]
    assert main(argv) == 1
    assert "gave no finite result and were left out" in capsys.readouterr().err
