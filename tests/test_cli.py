import json
import subprocess
import sys

import numpy as np
import pytest

from affordhand.cli import main
from affordhand.data.records import write_records


def _pair(tmp_path):
    rng = np.random.default_rng(0)
    gt, pred = [], []
    for i in range(6):
        pose = rng.normal(0, 0.2, 45)
        vis = [True] * 21
        if i % 2:
            vis[17:21] = [False] * 4
        gt.append(
            {
                "id": f"h{i}",
                "hand_pose": pose.tolist(),
                "global_orient": [0, 0, 0],
                "visible": vis,
                "object": "mug" if i < 3 else "banana",
                "taxonomy_id": 3,
            }
        )
        pred.append({"id": f"h{i}", "hand_pose": (pose + rng.normal(0, 0.05, 45)).tolist(), "global_orient": [0, 0, 0]})
    gt_path, pred_path = tmp_path / "gt.jsonl", tmp_path / "pred.jsonl"
    write_records(gt_path, gt)
    write_records(pred_path, pred[:5] + [{"id": "extra", "hand_pose": [0.0] * 45}])
    return gt_path, pred_path


def test_evaluate_json_has_the_documented_keys(tmp_path, capsys):
    gt, pred = _pair(tmp_path)
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json", "--by", "object"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    for key in (
        "mpjpe",
        "pa_mpjpe",
        "mpjpe_visible",
        "mpjpe_occluded",
        "pa_mpjpe_visible",
        "pa_mpjpe_occluded",
        "auc",
        "count",
    ):
        assert key in out
    assert out["count"] == 5 and out["missing_in_pred"] == ["h5"] and out["extra_in_pred"] == ["extra"]
    assert set(out["groups"]) == {"mug", "banana"}
    assert out["groups"]["mug"]["count"] == 3
    assert 0 < out["mpjpe"] < 30 and out["mpjpe_occluded"] > 0
    assert "1 ground-truth ids have no prediction" in captured.err


def test_one_prediction_that_overflows_is_left_out_by_name_not_spoiling_every_metric(tmp_path, capsys):
    gt, pred = _pair(tmp_path)
    rows = [json.loads(line) for line in pred.read_text().splitlines()]
    rows[1]["scale"] = 1e300  # finite in the file, infinite joints in float32
    pred.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["count"] == 4 and out["not_finite"] == ["h1"] and 0 < out["mpjpe"] < 30
    assert "1 hands have joints that are not finite numbers" in captured.err


def test_evaluate_table_and_grouping_by_occluded_count(tmp_path, capsys):
    gt, pred = _pair(tmp_path)
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred), "--by", "occluded_count"]) == 0
    out = capsys.readouterr().out
    assert "PA-MPJPE" in out and "occluded_count=4" in out and "occluded_count=0" in out


@pytest.mark.slow
def test_user_mistakes_give_one_line_errors_not_tracebacks(tmp_path):
    gt, _ = _pair(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "h0", "hand_pose": [1, 2, 3]}\n')
    for args in (
        ["evaluate", "--gt", str(gt), "--pred", str(bad)],
        ["evaluate", "--gt", str(gt), "--pred", str(tmp_path / "missing.jsonl")],
    ):
        proc = subprocess.run([sys.executable, "-m", "affordhand", *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
        assert len(proc.stderr.strip().splitlines()) == 1


def test_help_lists_subcommands_and_version():
    proc = subprocess.run([sys.executable, "-m", "affordhand", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "evaluate" in proc.stdout and "demo" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "affordhand", "--version"], capture_output=True, text=True)
    assert proc.stdout.strip().startswith("affordhand 0.")


def test_quiet_turns_progress_bars_off(tmp_path, monkeypatch, capsys):
    from affordhand.progress import quiet, show_progress

    monkeypatch.delenv("AFFORDHAND_QUIET", raising=False)
    assert not quiet()
    gt, pred = _pair(tmp_path)
    monkeypatch.setenv("AFFORDHAND_QUIET", "0")  # restored by monkeypatch after the test
    assert main(["--quiet", "evaluate", "--gt", str(gt), "--pred", str(pred)]) == 0
    assert quiet() and not show_progress()
