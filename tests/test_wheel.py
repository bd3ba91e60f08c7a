"""The wheel, installed without extras in a fresh virtual environment, outside the repository: `refine` in
every mode with the shipped prior, `sample`, the Python API, and a clear message where an extra is needed.

The fresh environment sees only the core dependencies (torch, numpy, roma, safetensors, rich and what they
import), linked from the test's own environment, so nothing is downloaded."""

import json
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Top-level names of the core dependencies and of what they import, as installed.
CORE = (
    "torch",
    "torchgen",
    "functorch",
    "numpy",
    "numpy.libs",
    "roma",
    "safetensors",
    "rich",
    "markdown_it",
    "mdurl",
    "pygments",
    "typing_extensions.py",
    "sympy",
    "mpmath",
    "networkx",
    "jinja2",
    "markupsafe",
    "filelock",
    "fsspec",
)


def _run(args, cwd, **kwargs):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(REPO),
        ],
        cwd=tmp,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp / "dist").glob("affordhand-*.whl"))
    venv = tmp / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp).returncode == 0
    python = venv / "bin" / "python"
    target = Path(_run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], cwd=tmp).stdout.strip())
    ours = Path(site.getsitepackages()[0])
    deps = tmp / "deps"
    deps.mkdir()
    for path in ours.iterdir():
        name = path.name.split("-")[0].lower() if path.name.endswith(".dist-info") else path.name
        if name in CORE or (
            path.name.endswith(".dist-info") and name.replace("_", "-") in {c.replace("_", "-") for c in CORE}
        ):
            (deps / path.name).symlink_to(path)
    (target / "core_deps.pth").write_text(str(deps) + "\n")
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        cwd=tmp,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    return venv, tmp


@pytest.mark.wheel
def test_a_base_install_refines_in_every_mode_and_samples_outside_the_repo(fresh):
    venv, tmp = fresh
    cli = venv / "bin" / "affordhand"
    assert _run([str(venv / "bin" / "python"), "-c", "import transformers"], cwd=tmp).returncode != 0  # no extras
    from affordhand.synth.dataset import SynthConfig, build

    build(SynthConfig(n=120, seed=3), tmp / "data")
    rows = [json.loads(line) for line in (tmp / "data" / "test_init.jsonl").read_text().splitlines()[:4]]
    (tmp / "notext.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "text"}) + "\n" for r in rows)
    )
    for mode in ("affordance", "uncond", "fit", "none"):
        proc = _run(
            [str(cli), "refine", "--input", "notext.jsonl", "--out", f"{mode}.jsonl", "--mode", mode, "--samples", "2"],
            cwd=tmp,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len((tmp / f"{mode}.jsonl").read_text().splitlines()) == 4
    proc = _run([str(cli), "refine", "--input", str(tmp / "data" / "test_init.jsonl"), "--out", "text.jsonl"], cwd=tmp)
    assert proc.returncode == 2 and "pip install 'affordhand[text]'" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run([str(cli), "sample", "--n", "3", "--out", "samples.jsonl"], cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code = "import affordhand as ah; print(ah.sample(None, n=2).shape, ah.__file__)"
    proc = _run([str(venv / "bin" / "python"), "-c", code], cwd=tmp)
    assert proc.returncode == 0 and "(2, 45)" in proc.stdout and str(REPO) not in proc.stdout, proc.stderr[-2000:]
