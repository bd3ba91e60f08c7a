"""Sequences: the record fields, their grouping, the motion metrics and the joint refinement of a clip."""

import json

import numpy as np
import pytest
import torch
from cli_runner import run_cli

from affordhand.data.records import read_records, validate_record, write_records
from affordhand.data.sequences import sequence_groups, windows
from affordhand.errors import AffordhandError
from affordhand.eval import metrics
from affordhand.eval.evaluate import evaluate
from affordhand.hand import BuiltinHand
from affordhand.prior.model import load_prior
from affordhand.refinement.pipeline import RefineConfig, pack, refine_records
from affordhand.refinement.settings import GuidedConfig, SequenceConfig
from affordhand.synth.clips import FRAMES, make_clips
from affordhand.synth.scene import REGRESSOR

FAST = GuidedConfig(steps=20, samples=2)  # a cheaper refinement: these tests compare two ways of using it


@pytest.fixture(scope="module")
def clips(synth_data):
    """(ground truth, regressor estimates) of 6 clips of synthetic right-hand grasps, built-in hand."""
    grasps = [r for r in read_records(synth_data / "test.jsonl").records if r["side"] == "right" and "object" in r]
    mean = np.stack([g["hand_pose"] for g in grasps]).mean(0)
    return make_clips(grasps, 6, BuiltinHand(), mean, REGRESSOR, seed=3)


@pytest.fixture(scope="module")
def prior():
    return load_prior("default")


def test_a_records_place_in_a_sequence_is_checked_and_numpy_integers_are_whole_numbers():
    base = {"id": "a", "sequence": "clip", "frame": np.int64(3), "time": 0.1}
    rec = validate_record(base)
    assert rec["frame"] == 3 and type(rec["frame"]) is int and rec["time"] == 0.1
    for field, bad in (("frame", -1), ("frame", 1.5), ("frame", True), ("time", float("nan")), ("time", -2)):
        with pytest.raises(ValueError, match=f"field '{field}'"):
            validate_record({**base, field: bad})
    for bad in ("", 7):
        with pytest.raises(ValueError, match="field 'sequence'"):
            validate_record({**base, "sequence": bad})


def test_sequences_group_in_frame_order_and_a_repeated_frame_is_refused():
    records = [
        {"id": "b2", "sequence": "b", "frame": 2},
        {"id": "x"},
        {"id": "b0", "sequence": "b", "frame": 0},
        {"id": "a0", "sequence": "a", "time": 0.5},
        {"id": "a1", "sequence": "a", "time": 0.0},
        {"id": "b1", "sequence": "b", "frame": 1},
    ]
    groups = sequence_groups(records)
    assert [[records[i]["id"] for i in g] for g in groups] == [["b0", "b1", "b2"], ["x"], ["a1", "a0"]]
    with pytest.raises(AffordhandError, match="sequence 'b' has two records of frame 2"):
        sequence_groups(records + [{"id": "b2bis", "sequence": "b", "frame": 2}])


@pytest.mark.parametrize("length,size,overlap", [(5, 8, 2), (20, 8, 3), (100, 16, 16), (17, 16, 4)])
def test_windows_cover_a_sequence_and_neighbours_share_frames(length, size, overlap):
    spans = windows(length, size, overlap)
    covered = sorted({i for a, b in spans for i in range(a, b)})
    assert covered == list(range(length)) and all(b - a <= size for a, b in spans)
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        assert a0 < a1 and b0 - a1 >= min(overlap, size // 2)


def test_packing_keeps_each_sequence_whole():
    pieces = [[0, 1, 2], [3], [4, 5, 6, 7, 8], [9, 10]]
    assert pack(pieces, 4) == [[[0, 1, 2], [3]], [[4, 5, 6, 7, 8]], [[9, 10]]]


def test_acceleration_error_by_hand():
    """A hand moving at constant velocity has no acceleration; one whose index tip moves 0, 1, 4, 9 mm along x
    (root-relative) accelerates by 2 mm/frame^2 at every inner frame."""
    base = torch.zeros(4, 21, 3, dtype=torch.float64)
    moving = base + torch.arange(4.0, dtype=torch.float64)[:, None, None] * 0.01  # the whole hand: no relative motion
    assert metrics.acceleration(moving).abs().max() == 0
    pred = base.clone()
    pred[:, 8, 0] = torch.tensor([0.0, 1.0, 4.0, 9.0]) / 1000
    errors = metrics.acceleration_errors_mm(pred, base)
    assert errors.shape == (2, 21) and torch.allclose(errors[:, 8], torch.full((2,), 2.0, dtype=torch.float64))
    assert errors.sum() == pytest.approx(4.0)
    hand = BuiltinHand()
    gt = [{"id": f"f{t}", "sequence": "s", "frame": t, "joints3d": base[t].numpy()} for t in range(4)]
    pred_records = [{**r, "joints3d": pred[t].numpy()} for t, r in enumerate(gt)]
    overall = evaluate(gt, pred_records, hand).overall
    assert overall["accel_error"] == pytest.approx(4.0 / 42) and overall["accel"] == pytest.approx(4.0 / 42)
    assert overall["sequence_frames"] == 2
    alone = [{k: v for k, v in r.items() if k not in ("sequence", "frame")} for r in gt]
    assert "accel_error" not in evaluate(alone, alone, hand).overall  # no sequence, no motion metrics


@pytest.mark.slow
def test_a_clip_refined_as_a_sequence_holds_still_where_per_frame_jitters(clips, prior):
    """On simulated clips (synth/clips.py), joint refinement removes most of the per-frame acceleration error
    and loses no accuracy; every frame of a sequence shares one scale."""
    gt, init = clips
    hand = BuiltinHand()
    per_frame = refine_records(init, RefineConfig(per_frame=True, guided=FAST), hand, prior)
    joint = refine_records(init, RefineConfig(guided=FAST), hand, prior)
    a, b = evaluate(gt, per_frame, hand).overall, evaluate(gt, joint, hand).overall
    assert b["accel_error"] < 0.35 * a["accel_error"], (a, b)
    assert b["mpjpe_occluded"] < a["mpjpe_occluded"] and b["mpjpe_visible"] < a["mpjpe_visible"] + 0.3, (a, b)
    for name in {r["sequence"] for r in joint}:
        scales = {r["scale"] for r in joint if r["sequence"] == name}
        assert len(scales) == 1
    assert [r["id"] for r in joint] == [r["id"] for r in init]


@pytest.mark.slow
def test_a_sequence_longer_than_the_batch_is_refined_in_windows_that_agree(clips, prior):
    gt, init = clips
    one = [r for r in init if r["sequence"] == init[0]["sequence"]]
    config = RefineConfig(guided=FAST)
    whole = refine_records(one, config, BuiltinHand(), prior, batch=64)
    windowed = refine_records(one, config, BuiltinHand(), prior, batch=10)
    assert [r["id"] for r in windowed] == [r["id"] for r in one]
    rel = lambda r: r["joints3d"] - r["joints3d"][:1]
    gap = np.mean([np.linalg.norm(rel(a) - rel(b), axis=-1).mean() for a, b in zip(whole, windowed)])
    assert gap < 0.004  # m: windows of 10 of 24 frames, sharing 5, end within a few mm of the whole solve
    assert len({r["scale"] for r in whole}) == 1


def test_the_carried_target_of_a_hidden_rotation_leans_on_the_frames_where_it_was_seen():
    from affordhand.refinement.sequence import carried_targets

    pose = torch.zeros(5, 45)
    pose[:, 0] = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0])  # frame 2's value is the prior's fill-in
    seen = torch.ones(5, 45, dtype=torch.bool)
    seen[2, 0] = False
    target = carried_targets(pose, seen, [[0, 1, 2, 3, 4]], carry_frames=2.0)
    assert 0.7 < float(target[2, 0]) < 1.0 and torch.equal(target[:, 1:], pose[:, 1:])
    assert torch.equal(target[[0, 1, 3, 4]], pose[[0, 1, 3, 4]])  # seen values are their own
    far = carried_targets(pose, seen, [[0, 1, 2, 3, 4]], carry_frames=0.1)
    assert float(far[2, 0]) < 0.01  # nothing seen near enough: the prior's own
    assert torch.equal(carried_targets(pose, seen, [[0, 1, 2, 3, 4]], 0.0), pose)


@pytest.mark.slow
def test_refine_command_keeps_sequences_whole_resumes_and_can_go_per_frame(clips, tmp_path):
    """`affordhand refine` on clips: whole sequences per batch (none cut by --batch), a resumed run gives the
    same bytes, and --per-frame gives each hand its per-frame result."""
    gt, init = clips
    src = tmp_path / "init.jsonl"
    write_records(src, init[: 3 * FRAMES])
    fast = ("--steps", "20", "--samples", "2")
    out = tmp_path / "seq.jsonl"
    done = run_cli("refine", "--input", str(src), "--out", str(out), "--batch", "30", *fast)
    assert done.returncode == 0, done.stderr
    first = out.read_bytes()
    settings = json.loads(out.with_name(out.name + ".config.json").read_text())
    assert settings["settings"]["per_frame"] is False
    # A crash after the first batch: its records are in the partial; the rerun finishes the rest.
    lines = first.decode().splitlines()
    partial = out.with_name(out.name + ".partial")
    header = json.dumps({"affordhand_settings": {k: v for k, v in settings.items() if k not in ("records", "failed")}})
    partial.write_text(header + "\n" + "\n".join(lines[: FRAMES + 5]) + "\n")  # a sequence and a bit of the next
    out.unlink()
    again = run_cli("refine", "--input", str(src), "--out", str(out), "--batch", "30", *fast)
    assert again.returncode == 0 and f"resuming: {FRAMES + 5} records" in again.stderr, again.stderr
    assert out.read_bytes() == first
    single = tmp_path / "frame.jsonl"
    assert run_cli("refine", "--input", str(src), "--out", str(single), "--per-frame", *fast).returncode == 0
    per = {r["id"]: r for r in read_records(single).records}
    expected = refine_records(
        read_records(src).records,
        RefineConfig(per_frame=True, guided=GuidedConfig(steps=20, samples=2)),
        BuiltinHand(),
        load_prior("default"),
    )
    assert all(np.allclose(per[r["id"]]["hand_pose"], r["hand_pose"], atol=1e-5) for r in expected)
    seq = {r["id"]: r for r in read_records(out).records}
    assert any(not np.allclose(seq[k]["hand_pose"], per[k]["hand_pose"], atol=1e-3) for k in seq)


def test_sequence_settings_are_refused_out_of_range():
    for name, bad in (("smoothness", -1.0), ("carry_frames", float("nan")), ("iters", -1), ("accel_mm", 0.0)):
        with pytest.raises(AffordhandError, match=name):
            SequenceConfig(**{name: bad})


def test_a_partial_output_of_the_settings_before_sequences_resumes(synth_data, tmp_path):
    """A partial written when every hand was refined alone (settings version 2: no per_frame, no sequence
    settings) is finished by today's refine on input without sequences."""
    src, out = tmp_path / "init.jsonl", tmp_path / "out.jsonl"
    write_records(src, read_records(synth_data / "test_init.jsonl").records[:6])
    argv = ("refine", "--input", str(src), "--out", str(out), "--mode", "fit")
    assert run_cli(*argv).returncode == 0
    first = out.read_bytes()
    settings = json.loads(out.with_name(out.name + ".config.json").read_text())
    assert settings["settings"]["per_frame"] is True  # no sequence in the input: every hand alone
    settings = {k: v for k, v in settings.items() if k not in ("records", "failed")}
    del settings["settings"]["per_frame"], settings["settings"]["sequence"]
    settings["settings_version"] = 2
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps({"affordhand_settings": settings}) + "\n" + first.decode().splitlines()[0] + "\n")
    out.unlink()
    again = run_cli(*argv)
    assert again.returncode == 0 and "resuming: 1 records" in again.stderr, again.stderr
    assert out.read_bytes() == first


def test_ranks_under_torchrun_get_whole_sequences(tmp_path):
    from affordhand.refinement.io import planned_batches
    from affordhand.refinement.job import sequence_plan

    frame = {"hand_pose": [0.0] * 45, "global_orient": [0.0] * 3}
    records = [{"id": f"{s}{t}", "sequence": s, "frame": t, **frame} for t in range(4) for s in "abc"]  # interleaved
    records.append({"id": "alone", **frame})
    src = tmp_path / "in.jsonl"
    write_records(src, records)
    plan = sequence_plan(records, batch=5)
    assert plan == [["a0", "a1", "a2", "a3"], ["b0", "b1", "b2", "b3"], ["c0", "c1", "c2", "c3", "alone"]]
    shards = [list(planned_batches(src, False, (), None, plan, rank, 2)) for rank in (0, 1)]
    got = [[r["id"] for r in batch] for shard in shards for batch in shard]
    assert sorted(map(tuple, got)) == sorted(map(tuple, plan))
    assert [[r["id"] for r in b] for b in shards[1]] == [plan[1]]
    assert sequence_plan([{"id": "x"}, {"id": "y", "sequence": "s"}], 4) is None  # no sequence of two frames


@pytest.mark.slow
def test_hands_in_no_sequence_or_a_short_one_refine_as_they_would_alone(clips, prior):
    """A batch mixing a sequence with single hands and a two-frame sequence: the single hands and the pair
    get exactly their per-frame results."""
    gt, init = clips
    one = [r for r in init if r["sequence"] == init[0]["sequence"]]
    other = [r for r in init if r["sequence"] != init[0]["sequence"]]
    single = [{k: v for k, v in r.items() if k not in ("sequence", "frame")} for r in other[:3]]
    pair = [{**r, "sequence": "pair"} for r in other[FRAMES : FRAMES + 2]]
    config = RefineConfig(guided=FAST)
    mixed = refine_records(one + single + pair, config, BuiltinHand(), prior)
    alone = refine_records(single + pair, RefineConfig(per_frame=True, guided=FAST), BuiltinHand(), prior)
    for a, b in zip(mixed[len(one) :], alone):
        assert a["id"] == b["id"] and np.array_equal(a["hand_pose"], b["hand_pose"])


def test_acceleration_divides_out_skipped_frames():
    """x = t^2 mm sampled at frames 0, 2, 4 accelerates by 2 mm/frame^2, as at every frame."""
    joints = torch.zeros(3, 21, 3, dtype=torch.float64)
    joints[:, 8, 0] = torch.tensor([0.0, 4.0, 16.0]) / 1000
    acc = metrics.acceleration(joints, torch.tensor([0.0, 2.0, 4.0]))
    assert float(acc[0, 8, 0]) * 1000 == pytest.approx(2.0)
    from affordhand.refinement.sequence import second_difference

    x = joints[:, 8, 0]
    idx = torch.tensor([0]), torch.tensor([1]), torch.tensor([2])
    assert float(second_difference(x, *idx, torch.tensor([0.0, 2.0, 4.0]))) * 1000 == pytest.approx(2.0)


def test_a_keypoint_of_no_confidence_pulls_nothing():
    from affordhand.refinement.batch import batch_from_records, keypoint_loss

    rec = {
        "id": "h",
        "hand_pose": np.zeros(45),
        "global_orient": np.zeros(3),
        "transl": np.array([0.0, 0.0, 0.5]),
        "keypoints2d": np.full((21, 2), 300.0),
        "K": np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]]),
        "keypoint_confidence": np.r_[np.ones(20), 0.0],
    }
    moved = {**rec, "keypoints2d": rec["keypoints2d"] + np.r_[np.zeros((20, 2)), [[500.0, 500.0]]]}
    cost = lambda r: float(keypoint_loss(BuiltinHand(), batch_from_records([validate_record(r)]), None, 15.0)[0])
    assert cost(rec) == cost(moved)
    with pytest.raises(ValueError, match="keypoint_confidence"):
        validate_record({**rec, "keypoint_confidence": np.full(21, 1.5)})
