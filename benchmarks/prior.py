"""Benchmark of a prior: does the text condition the samples, are they plausible, what do they cost.

    python benchmarks/prior.py --prior default --data DIR   (DIR from `affordhand synth`, default: made here)

Conditioning: for each held-out sentence (test.jsonl: objects the prior never saw), one sample is drawn
and classified by a nearest-centroid grasp classifier fit on the training poses; accuracy with text at
several guidance scales against unconditional samples (chance = 1/28). Plausibility: the share of
samples with any anatomical angle outside the joint limits, and an RBF-kernel MMD between samples and
held-out poses. Cost: samples per second at batch 1 and 1024 (50 DDIM steps with guidance).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from affordhand.data.records import read_records
from affordhand.hand.skeleton import limit_violations
from affordhand.prior.generate import encode_conditions, sample_poses
from affordhand.prior.model import load_prior
from affordhand.prior.train import training_poses
from affordhand.report.tables import markdown_row, markdown_table
from affordhand.synth.dataset import SynthConfig, build


def mmd(a: torch.Tensor, b: torch.Tensor) -> float:
    """Return the squared MMD between two sets of poses with an RBF kernel at the median distance."""
    x = torch.cat([a, b])
    d = torch.cdist(x, x) ** 2
    bw = d[d > 0].median()
    k = torch.exp(-d / bw)
    n = len(a)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prior", default="default")
    parser.add_argument("--data", help="folder with train.jsonl / test.jsonl (default: synth --n 20000 --seed 0)")
    parser.add_argument("--n", type=int, default=1000, help="held-out sentences to sample for")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    print(
        f"command: python benchmarks/prior.py --prior {args.prior} --data {args.data} --n {args.n} --seed {args.seed}"
    )
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    tmp = None
    if not args.data:
        tmp = tempfile.TemporaryDirectory()
        build(SynthConfig(n=20000, seed=0), tmp.name)
        args.data = tmp.name
    data = Path(args.data)
    prior = load_prior(args.prior)
    # Grasps only: the hands that hold nothing have no grasp class to classify.
    train = [r for r in read_records(data / "train.jsonl").records if "taxonomy_id" in r]
    train_pose, train_cls = training_poses(train)[0], np.array([r["taxonomy_id"] for r in train])
    test = [r for r in read_records(data / "test.jsonl").records if "taxonomy_id" in r][: args.n]
    test_pose = training_poses(test)[0]
    classes = np.unique(train_cls)
    centroids = torch.stack([train_pose[torch.as_tensor(train_cls == c)].mean(0) for c in classes])
    truth = np.array([r["taxonomy_id"] for r in test])
    texts = [r["text"] for r in test]
    cond, has = encode_conditions(prior, texts)
    rows = []
    for label, scale in (
        ("no text", 0.0),
        ("text, guidance 1", 1.0),
        ("text, guidance 2", 2.0),
        ("text, guidance 3", 3.0),
        ("text, guidance 5", 5.0),
    ):
        s = sample_poses(prior, texts, guidance=scale, steps=50, seed=args.seed, cond=cond, has_cond=has)
        pred = classes[torch.cdist(s, centroids).argmin(1).numpy()]
        acc = float((pred == truth).mean())
        out = float((limit_violations(s.double().numpy()) > 0).mean())
        rows.append((label, acc, out, mmd(s, test_pose)))
    print(f"\nheld-out sentences: {len(texts)}; chance accuracy {1 / len(classes):.3f}")
    lines = [[label, f"{acc:.3f}", f"{100 * out:.2f}%", f"{m:.4f}"] for label, acc, out, m in rows]
    held = 100 * float((limit_violations(test_pose.double().numpy()) > 0).mean())
    lines.append(["held-out poses themselves", "-", f"{held:.2f}%", "-"])
    print(markdown_table(("samples", "grasp accuracy", "outside joint limits", "MMD to held-out poses"), lines))
    print("\n" + markdown_table(("cost (50 DDIM steps, guidance 3)", "value"), []))
    for batch in (1, 1024):
        c, h = cond[:1].repeat(batch, 1), has[:1].repeat(batch)
        reps = 5 if batch == 1 else 1
        t0 = time.perf_counter()
        for _ in range(reps):
            sample_poses(prior, texts[:1] * batch, guidance=3.0, steps=50, cond=c, has_cond=h)
        dt = (time.perf_counter() - t0) / reps
        print(markdown_row([f"batch {batch}", f"{dt:.3f} s, {batch / dt:.0f} samples/s"]))
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
