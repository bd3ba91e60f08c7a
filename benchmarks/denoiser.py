"""Benchmark of the two denoiser architectures at the same training time on 2 CPU cores.

    python benchmarks/denoiser.py [--seconds 90] [--seed 0]

Both train on `synth --n 20000 --seed 0` (train split) with the shipped prior's settings; the validation
loss is measured on the held-out objects (test split) with the EMA weights. Also prints the cost of one
training step (batch 256) and of one denoiser call at batch 2048 (a refinement batch of 512 hands x 4).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from affordhand.prior.conditions import condition_vectors
from affordhand.prior.config import PriorConfig
from affordhand.prior.model import Prior
from affordhand.prior.train import _loss, load_training_poses, validation_loss
from affordhand.report.tables import markdown_row, markdown_table
from affordhand.synth.dataset import SynthConfig, build
from affordhand.text.encoders import load_text_encoder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=90.0, help="training time per architecture")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"command: python benchmarks/denoiser.py --seconds {args.seconds} --seed {args.seed}")
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    tmp = tempfile.TemporaryDirectory()
    build(SynthConfig(n=20000, seed=0), tmp.name)
    enc = load_text_encoder("minilm")
    poses, texts, _ = load_training_poses(Path(tmp.name) / "train.jsonl")
    cond, has = condition_vectors(["text"], enc, texts, [None] * len(texts))
    vposes, vtexts, _ = load_training_poses(Path(tmp.name) / "test.jsonl")
    vcond, vhas = condition_vectors(["text"], enc, vtexts, [None] * len(vtexts))
    header = ("denoiser", "parameters", "ms / training step", "steps in budget", "val loss (EMA)")
    print(markdown_table((*header, "ms / call at batch 2048"), []))
    for arch, width in (("mlp", 256), ("transformer", 128)):
        torch.manual_seed(args.seed)
        config = PriorConfig(architecture=arch, width=width, conditions=["text"], text_dim=enc.dim, cond_dim=enc.dim)
        stats = Prior(config).encode_pose(poses)
        config.mean, config.std = stats.mean(0).tolist(), stats.std(0).tolist()
        prior = Prior(config)
        ema = Prior(config)
        ema.load_state_dict(prior.state_dict())
        x = prior.encode_pose(poses)
        opt = torch.optim.AdamW(prior.parameters(), lr=config.lr)
        g = torch.Generator().manual_seed(args.seed)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            idx = torch.randint(0, len(x), (config.batch,), generator=g)
            for group in opt.param_groups:
                group["lr"] = config.lr * min(1.0, (steps + 1) / 500)
            loss = _loss(prior, x[idx], cond[idx], has[idx], g, config.cond_drop)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                decay = min(config.ema, (1 + steps) / (10 + steps))  # warm-up, so short runs are comparable
                for pe, pm in zip(ema.parameters(), prior.parameters()):
                    pe.lerp_(pm, 1 - decay)
            steps += 1
        ms_step = 1000 * (time.perf_counter() - t0) / steps
        val = validation_loss(ema, ema.encode_pose(vposes), vcond, vhas)
        with torch.no_grad():
            xb, cb = torch.randn(2048, config.pose_dim), vcond[:1].expand(2048, -1)
            t1 = time.perf_counter()
            for _ in range(3):
                ema.output(xb, torch.full((2048,), 300), cb, torch.ones(2048, dtype=torch.bool))
            ms_call = 1000 * (time.perf_counter() - t1) / 3
        n_params = sum(p.numel() for p in prior.parameters())
        cells = [f"{n_params / 1e6:.2f} M", f"{ms_step:.1f}", steps, f"{val:.4f}", f"{ms_call:.1f}"]
        print(markdown_row([f"{arch} (width {width})", *cells]))
    tmp.cleanup()


if __name__ == "__main__":
    main()
