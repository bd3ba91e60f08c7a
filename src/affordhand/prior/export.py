"""Export a prior for sharing: its files (configuration, safetensors weights, calibrated skeleton,
uncertainty recipe; no code, no checkpoint) and a model card (README.md) that says what it was trained on,
how, and what was measured, ready to upload as a Hugging Face model repository and load with
`--prior hf:ORG/NAME`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from affordhand.data.atomic import atomic_path, read_journal
from affordhand.errors import AffordhandError
from affordhand.prior.model import PRIOR_FILES, SKELETON_FILE, load_prior, resolve_prior_dir


def export_prior(spec: str, out: str | Path, force: bool = False) -> Path:
    """Copy the prior's files into out and write its model card; return out. Everything is read and checked
    first (the prior and its skeleton here; the command checks its recipe); out is then written under a lock,
    replaced whole: a non-empty out that is not an export of this same prior is refused unless force."""
    from affordhand.data.atomic import LOCK_FILE, atomic_write_text, folder_lock
    from affordhand.data.provenance import file_sha256

    src = resolve_prior_dir(spec)
    load_prior(spec)  # refuses a folder that is not a whole prior (its config, weights and skeleton checked)
    out = Path(out)
    if out.exists() and out.resolve() == src.resolve():
        raise AffordhandError(f"{out} is the prior's own folder: export to another one")
    names = [name for name in PRIOR_FILES if name != "README.md" and (src / name).is_file()]
    card = model_card(src, names)
    with folder_lock(out, "export-prior"):
        present = [p for p in out.iterdir() if p.name != LOCK_FILE]
        same = (out / "config.json").is_file() and all(
            (out / n).is_file() and file_sha256(out / n) == file_sha256(src / n)
            for n in ("config.json", "model.safetensors")
        )
        if present and not (same or force):
            raise AffordhandError(
                f"{out} is not empty and holds no export of this prior: choose another folder, or --force to replace it"
            )
        for path in present:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for name in names:
            with atomic_path(out / name) as tmp:
                shutil.copyfile(src / name, tmp)
        atomic_write_text(out / "README.md", card)
    return out


def _finite(value) -> bool:
    """Whether a logged value is a finite number (a hostile log holds anything)."""
    import math

    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value) if abs(value) < 1e308 else math.inf)
    )


def model_card(src: Path, files: list[str]) -> str:
    """Return the model card of the prior in src: front matter for the Hub, data, settings and figures."""
    config = json.loads((src / "config.json").read_text())
    metrics = read_journal(src / "metrics.jsonl")  # a torn or broken line ends the log
    last = next((m for m in reversed(metrics) if _finite(m.get("loss"))), {})
    lines = [
        "---",
        "library_name: affordhand",
        "tags: [hand-pose, diffusion, mano, affordance]",
        "---",
        "# affordhand prior",
        "",
        "A diffusion prior over MANO finger poses (15 x 3 axis-angle), conditioned on an affordance sentence"
        f"{' and the Feix grasp' if 'grasp' in config.get('conditions', []) else ''}, for",
        "[affordhand](https://github.com/) refinement: `affordhand refine --prior hf:ORG/NAME`.",
        "",
        "## Training",
        "",
        f"- data: `{config.get('data_file', '?')}` (sha256 `{config.get('data_hash', '?')}`)",
        f"- conditions: {', '.join(config.get('conditions', ['text']))}; text encoder `{config.get('text_encoder')}`",
        f"- network: {config.get('architecture')} width {config.get('width')} depth {config.get('depth')}, "
        f"{config.get('representation')}, {config.get('schedule')} schedule, T = {config.get('T')}",
        f"- {config.get('steps')} steps, batch {config.get('batch')}, lr {config.get('lr')}, seed {config.get('seed')}",
    ]
    if last:
        val = f", validation loss {float(last['val_loss']):.4f}" if _finite(last.get("val_loss")) else ""
        step = last.get("step") if isinstance(last.get("step"), int) else "?"
        lines.append(f"- last logged step {step}: training loss {float(last['loss']):.4f}{val}")
    lines += ["", "## Files", ""] + [f"- `{name}`" for name in files]
    if SKELETON_FILE in files:
        lines.append(
            "\nThe built-in hand's skeleton was calibrated on the training records' own joints "
            f"(`{SKELETON_FILE}`); refinement with this prior uses it."
        )
    if "uncertainty.json" in files:
        recipe = json.loads((src / "uncertainty.json").read_text())
        groups = ", ".join(
            f"{g} q = {v['q']:.2f} on {v.get('joints', '?')} joints" for g, v in recipe["groups"].items()
        )
        lines.append(
            f"\n`joint_uncertainty_mm` recipe ({recipe['level']:.0%} radii), calibrated on "
            f"{json.dumps(recipe.get('source', {}))}: {groups}."
        )
    lines += [
        "",
        "Weights only: configuration and safetensors, no code. The data's own licence applies to what",
        "was learnt from it.",
    ]
    return "\n".join(lines) + "\n"
