"""Shareable priors: export with a model card, and load as hf:ORG/NAME from a Hub cache, offline."""

import json
import shutil
import subprocess
import sys

import pytest
from cli_runner import run_cli

from affordhand.errors import AffordhandError
from affordhand.prior.model import load_prior, resolve_prior_dir


def _hub_cache(root, exported, repo="someone/affordhand-prior", revision="0123456789abcdef0123456789abcdef01234567"):
    """Lay out a Hugging Face cache as huggingface_hub writes it, holding the exported files."""
    folder = root / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for path in exported.iterdir():
        shutil.copyfile(path, snapshot / path.name)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(revision)
    return snapshot


@pytest.mark.slow
def test_export_writes_the_files_and_a_model_card_and_hf_loads_them_offline(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    out = tmp_path / "export"
    proc = subprocess.run(
        [sys.executable, "-m", "affordhand", "export-prior", "default", str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "uncertainty.json", "README.md"}
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: affordhand") and "sha256" in card and "validation loss" in card
    assert not list(out.glob("*.py"))  # weights and settings only, never code
    hub = tmp_path / "hub"
    snapshot = _hub_cache(hub, out)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert resolve_prior_dir("hf:someone/affordhand-prior") == snapshot
    prior = load_prior("hf:someone/affordhand-prior")
    assert prior.config.steps == json.loads((out / "config.json").read_text())["steps"]
    env = {**__import__("os").environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "affordhand",
            "sample",
            "--prior",
            "hf:someone/affordhand-prior",
            "--n",
            "2",
            "--out",
            str(tmp_path / "s.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AffordhandError, match="cannot fetch the prior"):
        resolve_prior_dir("hf:someone/not-there")
    with pytest.raises(AffordhandError, match="expected hf:ORG/NAME"):
        resolve_prior_dir("hf:just-a-name")


def _export(*args):
    return run_cli("export-prior", *args)


def test_export_replaces_its_own_export_whole_and_refuses_anything_else(tmp_path):
    from affordhand.prior.model import DEFAULT_PRIOR

    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    shutil.copytree(DEFAULT_PRIOR, a)
    shutil.copytree(DEFAULT_PRIOR, b)
    (b / "uncertainty.json").unlink()  # B has no recipe: A's must not be left behind
    assert _export(str(a), str(out)).returncode == 0
    assert (out / "uncertainty.json").is_file()
    proc = _export(str(b), str(out))  # the same weights and config: the same export, replaced whole
    assert proc.returncode == 0, proc.stderr
    assert not (out / "uncertainty.json").exists() and not (out / ".affordhand.lock").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    proc = _export(str(a), str(other))
    assert proc.returncode == 2 and "--force" in proc.stderr and (other / "notes.txt").is_file()
    assert _export(str(a), str(other), "--force").returncode == 0 and not (other / "notes.txt").exists()
    (tmp_path / "file").write_text("x")
    proc = _export(str(a), str(tmp_path / "file"))
    assert proc.returncode == 2 and "is a file" in proc.stderr and "Traceback" not in proc.stderr
    (a / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "lo')  # torn: the log ends before it
    fresh = tmp_path / "fresh"
    assert _export(str(a), str(fresh)).returncode == 0 and "training loss 0.5000" in (fresh / "README.md").read_text()
