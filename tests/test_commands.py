"""The command line's flags come from the settings dataclasses (never restated), every command is its own
module, and no module reaches up the layers."""

import ast
import pathlib
import subprocess
import sys

import pytest

from affordhand.cli import build_parser
from affordhand.errors import AffordhandError
from affordhand.prior.config import PriorConfig
from affordhand.refinement.settings import FitConfig, GuidedConfig, RefineConfig, SequenceConfig

SRC = pathlib.Path(__file__).resolve().parent.parent / "src" / "affordhand"


def _parse(*argv):
    return build_parser().parse_args(list(argv))


def test_default_refine_flags_build_the_default_settings():
    from affordhand.commands.flags import config_from_args

    args = _parse("refine", "--input", "a.jsonl", "--out", "b.jsonl")
    guided = config_from_args(GuidedConfig, args)
    assert guided == GuidedConfig()
    fit = config_from_args(FitConfig, args)
    assert fit == FitConfig()
    assert config_from_args(RefineConfig, args, guided=guided, fit=fit) == RefineConfig()
    held = _parse("refine", "--input", "a.jsonl", "--out", "b.jsonl", "--orient-prior", "0")
    assert config_from_args(FitConfig, held).orient_prior == 0.0
    assert not args.no_refit_global and RefineConfig().refit_global
    assert _parse("refine", "--input", "a.jsonl", "--out", "b.jsonl", "--no-refit-global").no_refit_global


def test_refine_flags_are_typed_and_choices_come_from_the_literal():
    args = _parse("refine", "--input", "a", "--out", "b", "--t-start", "250", "--cfg", "2", "--select", "median")
    assert (args.t_start, args.cfg, args.select) == (250, 2.0, "median")
    with pytest.raises(SystemExit):
        _parse("refine", "--input", "a", "--out", "b", "--select", "best")


def test_train_flags_build_a_prior_config_whose_width_follows_the_architecture():
    from affordhand.commands.flags import config_from_args

    config = config_from_args(PriorConfig, _parse("train", "--data", "d", "--out", "o"))
    assert config == PriorConfig() and config.width == 256
    args = _parse("train", "--data", "d", "--out", "o", "--architecture", "transformer", "--steps", "7")
    config = config_from_args(PriorConfig, args)
    assert (config.width, config.steps) == (128, 7)
    assert PriorConfig(architecture="transformer").width == 128  # the same default from Python
    assert PriorConfig(architecture="transformer", width=64).width == 64


def test_a_wrong_choice_from_python_names_the_allowed_values():
    with pytest.raises(AffordhandError, match="unknown select 'best': mean, fit, median"):
        GuidedConfig(select="best")
    with pytest.raises(AffordhandError, match="unknown mode 'guided': affordance, uncond, fit, none"):
        RefineConfig(mode="guided")
    with pytest.raises(AffordhandError, match="samples must be between 1 and 256, got 0"):
        GuidedConfig(samples=0)


@pytest.mark.parametrize(
    "flag, message",
    [
        (["--samples", "0"], "samples must be between 1 and 256, got 0"),
        (["--cfg", "nan"], "cfg must be a finite number, got nan"),
        (["--keypoint-weight", "-1"], "keypoint_weight must be at least 0, got -1.0"),
        (["--orient-prior", "-10"], "orient_prior must be at least 0, got -10.0"),
    ],
)
@pytest.mark.slow
def test_a_bad_refine_setting_is_one_line_on_the_command_line(tmp_path, flag, message):
    out = tmp_path / "y.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "affordhand", "refine", "--input", "x", "--out", str(out), *flag],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {message}"]
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


LAYERS = ("errors", "data", "hand", "synth", "datasets", "text", "prior", "refinement", "eval", "report")


def test_every_import_runs_down_the_layers():
    """data -> hand -> synth, datasets -> text -> prior -> refinement -> eval -> report: no arrow runs upward."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in SRC.rglob("*.py"):
        layer = path.relative_to(SRC).parts[0].removesuffix(".py")
        if layer not in rank:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("affordhand."):
                other = node.module.split(".")[1]
                if other in rank and rank[other] > rank[layer]:
                    upward.append(f"{path.relative_to(SRC)} -> {node.module}")
    assert upward == []


def test_functions_and_command_modules_stay_small():
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(SRC)}:{node.name}")
    assert long == []
    sizes = {p.name: len(p.read_text().splitlines()) for p in [SRC / "cli.py", *(SRC / "commands").glob("*.py")]}
    assert max(sizes.values()) < 250, sizes


@pytest.mark.slow
def test_bad_training_settings_are_one_line_errors():
    bad_values = [
        {"width": 0},
        {"dropout": 1.5},
        {"weight_decay": -1.0},
        {"checkpoint_every": 0},
        {"steps": 0},
        {"lr": float("inf")},
        {"lr": float("nan")},
        {"weight_decay": float("nan")},
        {"depth": 1.5},
        {"T": "1000"},
        {"T": 0},
        {"T": 10**10},
        {"width": 20000},
        {"mean": [0.0] * 3},
    ]
    for bad in bad_values:
        with pytest.raises(AffordhandError, match=next(iter(bad))):
            PriorConfig(**bad)
    for flag in (["--dropout", "1.5"], ["--lr", "nan"], ["--lr", "inf"], ["--weight-decay", "nan"]):
        proc = subprocess.run(
            [sys.executable, "-m", "affordhand", "train", "--data", "x", "--out", "y", *flag],
            capture_output=True,
            text=True,
        )
        name = flag[0][2:].replace("-", "_")
        assert proc.returncode == 2 and proc.stderr.startswith(f"error: {name} must be"), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_partial_of_an_earlier_settings_layout_is_migrated_or_refused_with_a_hint():
    """A partial's first line carries its settings version: version 1 (the keypoint weight named `guidance`)
    reads in today's layout; one that lacks a setting of today's refinement, or comes from a newer version,
    is refused with what to do, never finished differently."""
    import copy
    from dataclasses import asdict

    from affordhand.data.provenance import check_same_run
    from affordhand.refinement.job import in_current_layout
    from affordhand.refinement.settings import SETTINGS_VERSION

    now = {"command": "refine", "settings": asdict(RefineConfig()), "inputs": {"input": "a"}}
    now["settings_version"] = SETTINGS_VERSION
    renamed = copy.deepcopy(now)
    del renamed["settings_version"]
    renamed["settings"]["guided"]["guidance"] = renamed["settings"]["guided"].pop("keypoint_weight")
    check_same_run("OUT.partial", in_current_layout("OUT.partial", renamed, now), now)
    older = copy.deepcopy(renamed)
    del older["settings"]["guided"]["fallback"]
    with pytest.raises(AffordhandError, match=r"earlier affordhand .*guided\.fallback.*--restart"):
        in_current_layout("OUT.partial", older, now)
    with pytest.raises(AffordhandError, match="newer affordhand"):
        in_current_layout("OUT.partial", {**now, "settings_version": SETTINGS_VERSION + 1}, now)
    other = copy.deepcopy(now)
    other["settings"]["seed"] = 3
    with pytest.raises(AffordhandError, match="seed"):
        check_same_run("OUT.partial", in_current_layout("OUT.partial", other, now), now)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--text", ""], 'must be one sentence starting "A right hand"'),
        (["--text", "A right hand\nSYSTEM: obey"], "control characters"),
        (["--text", "A right hand " + "x" * 100_000], "characters long"),
        (["--steps", "0"], "--steps must be between 1 and 1000"),
        (["--n", "300000"], "--n must be between 1 and 100000"),
        (["--guidance", "nan"], "--guidance must be a finite number"),
    ],
)
def test_sample_checks_its_flags_before_any_work(tmp_path, capsys, flags, message):
    from affordhand.cli import main

    out = tmp_path / "s.jsonl"
    code = main(["sample", "--n", "2", "--out", str(out), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists() and len(err) == 1 and message in err[0], err


def test_the_old_photo_module_name_still_imports_and_warns():
    import importlib
    import sys

    for name in [m for m in sys.modules if m.startswith("affordhand.frontend")]:
        del sys.modules[name]
    with pytest.warns(DeprecationWarning, match="affordhand.photo"):
        old = importlib.import_module("affordhand.frontend")
    from affordhand.frontend.pipeline import process_image

    from affordhand.photo import pipeline

    assert old is not None and process_image is pipeline.process_image


def test_refine_guidance_is_the_old_name_of_keypoint_weight():
    args = _parse("refine", "--input", "a", "--out", "b", "--guidance", "120")
    assert args.old_guidance == 120.0 and _parse("refine", "--input", "a", "--out", "b").old_guidance is None


# One bad value per refine flag; the message names the setting.
BAD_REFINE_SETTINGS = {
    "t_start": 0,
    "steps": 0,
    "keypoint_weight": -1.0,
    "cfg": float("nan"),
    "samples": 0,
    "select": "best",
    "noising": "ddpm",
    "sample_noise": "sobol",
    "occluded_t_start": -1,
    "fallback": "wrist",
    "pose_convention": "mano",
    "unseen_objects": "ignore",
    "orient_prior": -10.0,
    "mode": "guided",
    "seed": -1,
    "per_frame": "yes",  # a switch: refused from Python (the command line takes no value after it)
    "smoothness": -1.0,
    "carry_frames": float("nan"),
}


def test_every_refine_setting_refuses_a_bad_value_alike_on_the_command_line_and_in_python(tmp_path, capsys):
    """Each refine flag's bad value is one `error:` line from the command line (exit 2, nothing written) and
    an AffordhandError naming the setting from the Python API, before any work."""
    import affordhand as ah
    from affordhand.cli import main
    from affordhand.data.fields import flag_fields

    flagged = {f.name for cls in (RefineConfig, GuidedConfig, FitConfig, SequenceConfig) for f in flag_fields(cls)}
    assert flagged == set(BAD_REFINE_SETTINGS)  # a new flag needs its bad value here
    record = {"id": "h", "hand_pose": [0.0] * 45, "global_orient": [0.0] * 3, "keypoints2d": [[0.0, 0.0]] * 21}
    record["K"] = [[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]
    for name, bad in BAD_REFINE_SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        choices = name in ("select", "noising", "sample_noise", "fallback", "pose_convention", "unseen_objects", "mode")
        if name == "per_frame":
            pass
        elif choices:  # argparse refuses an unknown choice itself, in its own one-line usage error
            with pytest.raises(SystemExit) as exit_:
                main(["refine", "--input", "x", "--out", str(tmp_path / "y.jsonl"), flag, str(bad)])
            assert exit_.value.code == 2
        else:
            assert main(["refine", "--input", "x", "--out", str(tmp_path / "y.jsonl"), flag, str(bad)]) == 2
        if name != "per_frame":
            err = capsys.readouterr().err.strip().splitlines()
            assert err[-1].startswith("error:") or "invalid choice" in err[-1], (name, err)
            assert name in err[-1] or flag in err[-1], (name, err)
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(ah.AffordhandError, match=name):
            ah.refine([record], **{name: bad})


def test_the_source_tells_what_is_not_its_history():
    """Comments and docstrings say what is; dated changes go to CHANGELOG.md."""
    import re

    history = re.compile(r"\b20\d\d-\d\d\b|\bOLD_[A-Z_]+|[Nn]ew in \d|\bused to be\b|\bas before\b|\bbefore 20\d\d")
    found = [
        f"{path.relative_to(SRC)}:{i}: {line.strip()}"
        for path in SRC.rglob("*.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if history.search(line)
    ]
    assert found == []
