"""The shipped default prior: rebuilt from scratch, deterministically, by `affordhand build-prior`
(`make prior`). It trains on the embedded synthetic data (HOGraspNet's s3 objects held out, so the demo's
test objects are unseen) and is stored in half precision inside the package."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from safetensors.torch import load_file

from affordhand.prior.config import SHIPPED_STEPS, PriorConfig
from affordhand.prior.model import DEFAULT_PRIOR, atomic_save
from affordhand.prior.train import train
from affordhand.synth.dataset import SynthConfig, build

SHIPPED_DATA = SynthConfig(n=20000, seed=0, occlusion="mixed", split_by="object")


def build_shipped_prior(
    seed: int = 0, out: str | Path = DEFAULT_PRIOR, steps: int = SHIPPED_STEPS, quiet: bool = False
) -> float:
    """Synthesize the training data, train the prior, write it (fp16) to `out`; return seconds taken."""
    t0 = time.perf_counter()
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        data = SynthConfig(**{**SHIPPED_DATA.__dict__, "seed": seed})
        build(data, tmp)
        run = Path(tmp) / "run"
        # Sentence-only: a grasp-conditioned prior built the same way does no better on the real grasps
        # (benchmarks/real_grasps.py --prior DIR).
        config = PriorConfig(
            steps=steps, seed=seed, checkpoint_every=1000, conditions=["text"], pose_skeleton="builtin"
        )
        train(config, str(Path(tmp) / "train.jsonl"), run, val=str(Path(tmp) / "test.jsonl"), quiet=quiet)
        weights = load_file(str(run / "model.safetensors"))
        atomic_save(
            {k: v.half() if v.is_floating_point() else v for k, v in weights.items()},
            out / "model.safetensors",
            {"format": "affordhand-prior-1", "dtype": "float16"},
        )
        text = (run / "config.json").read_text().replace(str(Path(tmp)), "<synth>")
        (out / "config.json").write_text(text)
        (out / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text())
    return time.perf_counter() - t0
