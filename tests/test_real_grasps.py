"""The real-grasps benchmark's reader and scene simulation (benchmarks/real_grasps.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from affordhand.errors import AffordhandError
from affordhand.hand import BuiltinHand
from affordhand.hand.camera import project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_grasps  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
needs_shared = pytest.mark.skipif(
    not (SHARED / "realgrasps" / "grasps.jsonl").is_file(),
    reason="the real grasps (../shared/realgrasps) are not beside this checkout",
)


def test_missing_shared_folder_is_a_reason_not_a_traceback(tmp_path):
    with pytest.raises(AffordhandError, match="realgrasps"):
        real_grasps.grasps_path(tmp_path)


def _fake_grasps(n=30):
    """Grasps as the real file lays them out, made by the built-in hand (wrist at the origin)."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        pose, orient = rng.normal(0, 0.3, 45), rng.normal(0, 0.5, 3)
        with torch.no_grad():
            joints = BuiltinHand().double()(torch.as_tensor(orient)[None], torch.as_tensor(pose)[None]).joints[0]
        out.append(
            {
                "id": f"g{i}",
                "side": "right",
                "object": f"obj{i % 6}",
                "taxonomy_id": 1 + i % 3,
                "grasp": "large diameter",
                "hand_pose": pose,
                "global_orient": orient,
                "joints3d": joints.numpy(),
                "text": "A right hand holds a thing, using a large diameter grasp.",
            }
        )
    return out


def test_object_folds_hold_every_object_once():
    grasps = _fake_grasps()
    folds = real_grasps.object_folds(grasps, 4, seed=0)
    objects = [o for fold in folds for o in fold]
    assert sorted(objects) == sorted({g["object"] for g in grasps}) and len(objects) == len(set(objects))
    assert folds == real_grasps.object_folds(grasps, 4, seed=0)


def test_fold_splits_test_every_grasp_once_and_hold_out_what_they_say():
    grasps = _fake_grasps()
    for split in ("objects", "grasps"):
        folds = real_grasps.fold_splits(grasps, 4, 0, split)
        tested = [g["id"] for _, test in folds for g in test]
        assert sorted(tested) == sorted(g["id"] for g in grasps)
        for train, test in folds:
            assert len(train) + len(test) == len(grasps) and not {g["id"] for g in train} & {g["id"] for g in test}
            if split == "objects":
                assert not {g["object"] for g in train} & {g["object"] for g in test}


def test_scenes_project_the_true_joints_and_hide_6_to_12(tmp_path):
    grasps = _fake_grasps()
    hand = BuiltinHand().double()
    gt, init = real_grasps.make_scenes(grasps, 2, "hamer", np.zeros(45), hand, np.random.default_rng(1))
    assert len(gt) == len(init) == 60 and [r["id"] for r in gt] == [r["id"] for r in init]
    hidden = np.array([21 - r["visible"].sum() for r in gt])
    assert hidden.min() >= 6 and hidden.max() <= 12
    joints = torch.as_tensor(np.stack([r["joints3d"] for r in gt]))
    uv = project(joints, torch.as_tensor(np.stack([r["K"] for r in gt]))).numpy()
    err = np.linalg.norm(uv - np.stack([r["keypoints2d"] for r in gt]), axis=-1)
    assert 0.5 < err.mean() < 4  # the 1.5 px detector noise
    # The camera view is a rigid motion of the grasp: bone lengths are kept.
    local = np.stack([grasps[i // 2]["joints3d"] for i in range(60)])
    assert np.allclose(
        np.linalg.norm(joints[:, 8] - joints[:, 0], axis=-1),
        np.linalg.norm(local[:, 8] - local[:, 0], axis=-1),
        atol=1e-9,
    )
    # The regressor's own joints are its pose through the data's skeleton, in the camera frame.
    est = init[0]
    with torch.no_grad():
        own = (
            hand(
                torch.as_tensor(est["global_orient"])[None],
                torch.as_tensor(est["hand_pose"])[None],
                transl=torch.as_tensor(est["transl"])[None],
            )
            .joints[0]
            .numpy()
        )
    assert np.allclose(own - own[0], est["joints3d"] - est["joints3d"][0], atol=2e-3)  # up to its scale error


@needs_shared
def test_real_grasps_load_with_their_sentences_and_grasps():
    from affordhand.data.taxonomy import record_grasp

    grasps = real_grasps.load_grasps(real_grasps.grasps_path(SHARED))
    assert len(grasps) >= 200
    assert all(r["text"].startswith("A right hand") for r in grasps)
    assert all(record_grasp(r) is not None for r in grasps)  # every annotated grasp is a Feix class
    assert len(real_grasps.object_folds(grasps, 5, 0)) == 5


def test_a_benchmark_writes_its_command_and_tables_as_markdown(tmp_path, monkeypatch, capsys):
    """--markdown FILE keeps what the documentation includes: the command a reader reruns (without the copy's
    own flag or a local cache folder) and the tables, made by report/tables.py."""
    import common

    from affordhand.report.tables import markdown_table

    table = markdown_table(("run", "mm"), [["a", "1.00"], ["b", 2]])
    assert table == "| run | mm |\n|---|---|\n| a | 1.00 |\n| b | 2 |"
    out = tmp_path / "r.md"
    argv = ["benchmarks/x.py", "--seed", "1", "--keep", "/tmp/folds", "--markdown", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with common.markdown_copy(out):
        print("command: python benchmarks/x.py --seed 1\nfold 1/5: 12 s")
        print("\n## Profile\n\n" + table + "\n\nnote under the table")
    assert "fold 1/5" in capsys.readouterr().out  # printed as usual too
    assert out.read_text() == "```sh\npython benchmarks/x.py --seed 1\n```\n\n## Profile\n\n" + table + "\n"
