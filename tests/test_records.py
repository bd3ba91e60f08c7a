import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affordhand.data.records import RecordError, read_records, write_records

finite = st.floats(-3.0, 3.0, allow_nan=False)


def _rec(i=0, **extra):
    rec = {"id": f"h{i}", "hand_pose": [0.1] * 45, "global_orient": [0.0, 0.2, 0.0]}
    rec.update(extra)
    return rec


def _write_lines(path, lines):
    path.write_text("\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n")


@settings(max_examples=40, deadline=None)
@given(
    pose=st.lists(finite, min_size=45, max_size=45),
    kp=st.lists(finite, min_size=42, max_size=42),
    vis=st.lists(st.booleans(), min_size=21, max_size=21),
    side=st.sampled_from(["left", "right"]),
    text=st.text(max_size=30),
)
def test_record_survives_write_then_read(tmp_path_factory, pose, kp, vis, side, text):
    path = tmp_path_factory.mktemp("r") / "a.jsonl"
    rec = {
        "id": "x",
        "side": side,
        "hand_pose": np.array(pose),
        "keypoints2d": np.array(kp).reshape(21, 2),
        "visible": np.array(vis),
        "text": text,
        "custom": {"kept": [1, 2]},
    }
    write_records(path, [rec])
    back = read_records(path).records[0]
    assert np.allclose(back["hand_pose"], rec["hand_pose"], atol=1e-6)
    assert np.allclose(back["keypoints2d"], rec["keypoints2d"], atol=1e-6)
    assert back["visible"].tolist() == vis and back["side"] == side and back["text"] == text
    assert back["custom"] == {"kept": [1, 2]}  # unknown keys pass through


def test_hand_pose_as_15x3_is_accepted(tmp_path):
    _write_lines(tmp_path / "a.jsonl", [_rec(hand_pose=[[0.1, 0, 0]] * 15)])
    assert read_records(tmp_path / "a.jsonl").records[0]["hand_pose"].shape == (45,)


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"id": "a", "hand_pose": [1, 2]', "bad JSON"),
        (_rec(hand_pose=[0.1] * 44), "field 'hand_pose' has shape [44]"),
        (_rec(global_orient=[0.0, float("nan"), 0.0]), "field 'global_orient' contains NaN"),
        (_rec(hand_pose=[90.0] * 45), "angles must be radians"),
        (_rec(K=[[500, 0, 320], [0, 500, 240], [1, 0, 1]]), "field 'K'"),
        (_rec(visible=[True] * 20), "field 'visible'"),
        (_rec(side="both"), "field 'side'"),
        ({"hand_pose": [0.0] * 45}, "field 'id' is required"),
        (_rec(taxonomy_id="3"), "taxonomy_id"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path, bad, message):
    path = tmp_path / "a.jsonl"
    _write_lines(path, [_rec(0), bad if isinstance(bad, str) else bad])
    with pytest.raises(RecordError) as info:
        read_records(path)
    assert f"{path}:2:" in str(info.value) and message in str(info.value)


def test_skip_bad_skips_and_counts(tmp_path):
    path = tmp_path / "a.jsonl"
    _write_lines(path, [_rec(0), "not json", _rec(1, hand_pose=[0.0]), "", _rec(2)])
    rf = read_records(path, skip_bad=True)
    assert [r["id"] for r in rf.records] == ["h0", "h2"]
    assert [line for line, _ in rf.skipped] == [2, 3]


def test_required_fields_and_duplicate_ids(tmp_path):
    path = tmp_path / "a.jsonl"
    _write_lines(path, [_rec(0)])
    with pytest.raises(RecordError, match="field 'K' is required"):
        read_records(path, required=("K",))
    _write_lines(path, [_rec(0), _rec(0)])
    with pytest.raises(RecordError, match="more than once"):
        read_records(path)


def test_write_is_atomic_when_the_writer_crashes(tmp_path):
    path = tmp_path / "out.jsonl"
    write_records(path, [_rec(0)])
    before = path.read_bytes()

    def crashing():
        yield _rec(1)
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_records(path, crashing())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind


_GOOD = json.dumps(_rec(0)).encode()
_BAD_BYTES = {
    "not UTF-8 text": b'{"id": "h1", "text": "caf\xe9"}',
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "must be numbers": b'{"id": "h1", "global_orient": [1' + b"0" * 400 + b", 0, 0]}",
    "lone surrogate": b'{"id": "h1", "text": "A right hand \\ud800 holds it."}',
    "positive, finite number": b'{"id": "h1", "scale": 1' + b"0" * 400 + b"}",
}


@pytest.mark.parametrize("message", list(_BAD_BYTES))
def test_hostile_lines_are_one_line_errors_or_skipped(tmp_path, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(_GOOD + b"\n" + _BAD_BYTES[message] + b"\n" + json.dumps(_rec(2)).encode() + b"\n")
    with pytest.raises(RecordError, match=f"r.jsonl:2: .*{message}"):
        read_records(path)
    rf = read_records(path, skip_bad=True)
    assert [r["id"] for r in rf.records] == ["h0", "h2"] and rf.skipped[0][0] == 2


def test_a_corrupted_journal_line_ends_the_journal_instead_of_raising(tmp_path):
    from affordhand.data.atomic import read_journal

    path = tmp_path / "out.jsonl.partial"
    path.write_bytes(b'{"id": "a"}\n{"id": "caf\xe9"}\n{"id": "c"}\n')
    assert read_journal(path) == [{"id": "a"}]
    path.write_bytes(b'{"id": "a"}\n' + b"[" * 100_000 + b"\n")
    assert read_journal(path) == [{"id": "a"}]
