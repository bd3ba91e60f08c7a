"""The grasp-realism benchmark's measures (benchmarks/grasp_realism.py), on grasps the test makes."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from affordhand.hand import BuiltinHand
from affordhand.synth.config import SynthConfig
from affordhand.synth.dataset import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import grasp_realism  # noqa: E402


def _as_real(data: dict, rows: np.ndarray) -> list[dict]:
    """Synthetic grasps laid out as the real file lays them out (built-in hand's joints, objects by name)."""
    hand = BuiltinHand()
    out = []
    for i in rows:
        pose = torch.as_tensor(data["pose_r"][i], dtype=torch.float32)[None]
        with torch.no_grad():
            joints = hand(torch.zeros(1, 3), pose).joints[0].numpy()
        grasp, name = int(data["grasp_ids"][i]), data["objects"][i].name
        out.append({"id": f"g{i}", "side": "right", "object": name, "taxonomy_id": grasp, "hand_pose": pose[0].numpy()})
        out[-1] |= {"global_orient": np.zeros(3), "joints3d": joints}
    return out


@pytest.mark.slow
def test_grasps_from_the_generator_itself_cannot_be_told_apart_and_others_can():
    data = generate(SynthConfig(n=2000, seed=0))
    rng = np.random.default_rng(0)
    grasps = np.flatnonzero(data["grasp_ids"] > 0)  # not the hands that hold nothing
    same = _as_real(data, rng.choice(grasps, 300, replace=False))
    same = grasp_realism.in_builtin_convention(same)  # the built-in skeleton: a conversion that changes nothing
    rows = grasp_realism.realism(same, data, rng)
    accuracy = np.array([r[5] for r in rows if np.isfinite(r[5])])
    assert accuracy.mean() < 0.75  # near chance: drawn from the very same distribution
    bent = [{**r, "hand_pose": np.asarray(r["hand_pose"]) + 0.4} for r in same]
    assert np.nanmean([r[5] for r in grasp_realism.realism(bent, data, rng)]) > 0.95
    mean_rows = grasp_realism.angle_rows(same, data)
    # class means of 5 to 30 grasps drawn from the same distribution: within a few standard errors
    assert mean_rows and all(np.abs(r - y).max() < 0.25 for _, r, y in mean_rows)
    # The overall measures: a grasp drawn from the data itself is at distance 0 from its own copy, up to what
    # the skeleton calibration (a fit) and float32 storage move it (about 0.002 mm).
    overall = grasp_realism.overall_table(same, same, data, rng)
    assert overall["any NN"] < 1e-2 and overall["same NN"] < 1e-2
    assert overall["synth -> real"] > overall["any NN"] and overall["2-sample"] < 0.75
