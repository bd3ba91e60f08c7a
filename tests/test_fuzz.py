"""Fuzz every command that reads records with hostile lines: each must exit 0 or 2 (a one-line message
naming the file), never raise, and whatever it writes must be strict JSON."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affordhand.cli import main
from affordhand.data.records import dumps_record


def _good(i: int) -> dict:
    rng = np.random.default_rng(i)
    K = [[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]]
    return {
        "id": f"h{i}",
        "side": "right",
        "hand_pose": rng.normal(0, 0.2, 45).tolist(),
        "global_orient": [0.1, 0.2, 0.3],
        "transl": [0.0, 0.0, 0.5],
        "K": K,
        "keypoints2d": (320 + rng.normal(0, 40, (21, 2))).tolist(),
        "joints3d": rng.normal(0, 0.05, (21, 3)).tolist(),
        "text": "A right hand holds a mug.",
        "object": "mug",
        "taxonomy_id": 3,
    }


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 1e-300, 0.0, -0.0]),
    st.text(max_size=20),
    st.sampled_from(["\ud800", "NaN", "Infinity", "left", "right", "\x00"]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=20,
)
_FIELDS = [
    "id",
    "side",
    "hand_pose",
    "global_orient",
    "transl",
    "K",
    "keypoints2d",
    "joints3d",
    "visible",
    "scale",
    "betas",
    "text",
    "fields",
    "taxonomy_id",
    "object",
    "image",
]


def _encode(value) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()


@st.composite
def hostile_line(draw) -> bytes:
    """A line of bytes: a record with one field replaced or deleted, arbitrary JSON, or arbitrary bytes."""
    kind = draw(st.sampled_from(["field", "field", "json", "bytes", "deep"]))
    if kind == "field":
        rec = _good(draw(st.integers(100, 200)))
        name = draw(st.sampled_from(_FIELDS))
        if draw(st.booleans()):
            rec.pop(name, None)
        else:
            rec[name] = draw(_JSON)
        return _encode(rec)
    if kind == "json":
        return _encode(draw(_JSON))
    if kind == "deep":
        return b"[" * draw(st.integers(1000, 200_000))
    return draw(st.binary(max_size=60)).replace(b"\n", b" ")


def _strict(path) -> None:
    def refuse(name):
        raise AssertionError(f"{path} holds {name}: not strict JSON")

    for line in path.read_text(encoding="utf-8").splitlines():
        json.loads(line, parse_constant=refuse)


def _run(argv, capsys, source, allowed=(0, 2)) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code in allowed, err
    if code == 1 and argv[0] == "refine":
        assert "gave no finite result and were left out" in err, err
    if code == 2:
        lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, err
        if re.search(r":\d+: ", lines[0]):  # an error about one line names the file with it
            assert re.search(rf"{re.escape(source.name)}:\d+: ", lines[0]), err


def _write(path, line: bytes) -> None:
    good = [dumps_record(_good(i)).encode() for i in range(11)]  # calibrate needs 10
    path.write_bytes(b"\n".join(good[:2] + [line] + good[2:]) + b"\n")


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.slow
@FUZZ
@given(line=hostile_line(), skip_bad=st.booleans(), mode=st.sampled_from(["none", "fit"]))
def test_refine_never_raises_on_a_hostile_line(tmp_path_factory, capsys, line, skip_bad, mode):
    tmp = tmp_path_factory.mktemp("fuzz")
    src, out = tmp / "in.jsonl", tmp / "out.jsonl"
    _write(src, line)
    # 1: written, but records whose result was not finite were left out (the message says which)
    argv = ["refine", "--input", str(src), "--out", str(out), "--mode", mode] + ["--skip-bad"] * skip_bad
    _run(argv, capsys, src, allowed=(0, 1, 2))
    if out.exists():
        _strict(out)


@FUZZ
@given(line=hostile_line(), as_pred=st.booleans())
def test_evaluate_never_raises_on_a_hostile_line(tmp_path_factory, capsys, line, as_pred):
    tmp = tmp_path_factory.mktemp("fuzz")
    bad, good = tmp / "bad.jsonl", tmp / "good.jsonl"
    _write(bad, line)
    good.write_text("".join(dumps_record(_good(i)) + "\n" for i in range(3)))
    gt, pred = (good, bad) if as_pred else (bad, good)
    _run(["evaluate", "--gt", str(gt), "--pred", str(pred), "--json"], capsys, bad)


@FUZZ
@given(line=hostile_line())
def test_calibrate_and_describe_never_raise_on_a_hostile_line(tmp_path_factory, capsys, line):
    tmp = tmp_path_factory.mktemp("fuzz")
    src = tmp / "in.jsonl"
    _write(src, line)
    _run(["calibrate", "--data", str(src), "--out", str(tmp / "skeleton.json"), "--iters", "2"], capsys, src)
    # describe exits 1 when a hand could not be described (the template knows no such object): by design
    _run(["describe", "--input", str(src), "--out", str(tmp / "described.jsonl")], capsys, src, (0, 1, 2))
    if (tmp / "described.jsonl").exists():
        _strict(tmp / "described.jsonl")


# Hostile prior folders: a copy of the shipped prior with one file, or one field of its config, spoiled. Every
# command that reads a prior must refuse it in one line (or, where the value is still a working prior, run).
_PRIOR_FIELDS = ["T", "depth", "width", "emb", "mean", "std", "x_min", "x_max", "text_encoder", "conditions"]
_PRIOR_FIELDS += ["text_dim", "cond_dim", "clip_x0", "representation", "architecture", "schedule", "objects"]
_PRIOR_VALUES = st.one_of(
    _SCALARS,
    st.sampled_from([float("nan"), float("inf"), -5, 0, 1.5, "1000", 10**10, 20000, [0.0] * 3, {}, [], "hf:/tmp"]),
    _JSON,
)


def _hostile_prior(tmp, change) -> Path:
    import shutil

    from affordhand.prior.model import DEFAULT_PRIOR

    prior = tmp / "prior"
    shutil.copytree(DEFAULT_PRIOR, prior)
    change(prior)
    return prior


def _sample(prior, tmp, capsys) -> None:
    argv = ["sample", "--prior", str(prior), "--n", "2", "--steps", "3", "--out", str(tmp / "s.jsonl")]
    _run(argv + ["--text", "A right hand holds a mug."], capsys, prior / "config.json")


@FUZZ
@given(name=st.sampled_from(_PRIOR_FIELDS), value=_PRIOR_VALUES)
def test_a_prior_config_with_a_hostile_field_is_refused_in_one_line(tmp_path_factory, capsys, name, value):
    tmp = tmp_path_factory.mktemp("prior")

    def spoil(prior):
        config = json.loads((prior / "config.json").read_text())
        config[name] = value
        (prior / "config.json").write_text(json.dumps(config))

    _sample(_hostile_prior(tmp, spoil), tmp, capsys)


def _spoil_json(name, key, value):
    def spoil(prior):
        data = json.loads((prior / name).read_text()) if (prior / name).is_file() else {}
        target = data
        for k in key[:-1]:
            target = target[k]
        target[key[-1]] = value
        (prior / name).write_text(json.dumps(data))

    return spoil


def _skeleton(scale=1.0, tip=None):
    from affordhand.hand import skeleton

    rest, tips = skeleton.rest_joints()
    tips = tips.copy()
    if tip is not None:
        tips[1] = tip
    return {"format": "affordhand-skeleton-1", "rest_joints": (rest * scale).tolist(), "tips": (tips * scale).tolist()}


def _write_skeleton(data):
    def spoil(prior):
        (prior / "skeleton.json").write_text(json.dumps(data))

    return spoil


def _truncate(name, keep):
    def spoil(prior):
        raw = (prior / name).read_bytes()
        (prior / name).write_bytes(raw[:keep])

    return spoil


def _other_width(prior):
    from affordhand.prior.model import Prior, load_prior

    config = load_prior(prior).config
    config.width = 64
    Prior(config).save(prior)
    config_path = prior / "config.json"
    data = json.loads(config_path.read_text())
    data["width"] = 256  # weights of width 64 under a config that says 256
    config_path.write_text(json.dumps(data))


HOSTILE_FOLDERS = {
    "skeleton with a NaN fingertip": (_write_skeleton(_skeleton(tip=[float("nan")] * 3)), "not finite"),
    "skeleton scaled 1e6": (_write_skeleton(_skeleton(scale=1e6)), "1e\\+06x the built-in hand's"),
    "recipe with q = -5": (_spoil_json("uncertainty.json", ("groups", "occluded", "q"), -5), "q be positive"),
    "recipe with a NaN beta": (
        _spoil_json("uncertainty.json", ("groups", "visible", "beta"), [float("nan")] * 8),
        "finite",
    ),
    "recipe with a string beta": (_spoil_json("uncertainty.json", ("groups", "visible", "beta"), "x"), "finite"),
    "local text encoder": (_spoil_json("config.json", ("text_encoder",), "hf:/tmp"), "not one of the known ones"),
    "truncated weights": (_truncate("model.safetensors", 1000), "not a readable safetensors file"),
    "weights of another width": (_other_width, "does not match its config.json"),
    "T as a string": (_spoil_json("config.json", ("T",), "1000"), "T must be an integer"),
    "a short mean": (_spoil_json("config.json", ("mean",), [0.0]), "mean must be a list of 45 numbers"),
}


def test_refine_refuses_each_hostile_prior_folder_in_one_line(tmp_path, capsys):
    for i, (what, (spoil, message)) in enumerate(HOSTILE_FOLDERS.items()):
        tmp = tmp_path / str(i)
        tmp.mkdir()
        prior = _hostile_prior(tmp, spoil)
        argv = ["refine", "--input", str(_inputs(tmp)), "--out", str(tmp / "o.jsonl"), "--prior", str(prior)]
        code = main(argv + ["--samples", "1", "--steps", "5"])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and "Traceback" not in err, (what, err)
        assert re.search(message, lines[-1]) and lines[-1].startswith("error: "), (what, err)
        assert not (tmp / "o.jsonl").exists(), what  # refused before anything was written


def _inputs(tmp):
    src = tmp / "in.jsonl"
    src.write_text("".join(dumps_record(_good(i)) + "\n" for i in range(2)))
    return src


@FUZZ
@given(lines=st.lists(hostile_line(), min_size=1, max_size=3))
def test_export_reads_a_hostile_metrics_log_up_to_its_first_bad_line(tmp_path_factory, capsys, lines):
    tmp = tmp_path_factory.mktemp("metrics")

    def spoil(prior):
        good = b'{"step": 10, "loss": 0.25}\n'
        (prior / "metrics.jsonl").write_bytes(good + b"\n".join(lines))

    prior = _hostile_prior(tmp, spoil)
    _run(["export-prior", str(prior), str(tmp / "out")], capsys, prior / "metrics.jsonl", allowed=(0,))
    assert "- last logged step" in (tmp / "out" / "README.md").read_text()  # the good entry, or a later one
