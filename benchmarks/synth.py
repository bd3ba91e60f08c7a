"""Benchmark of the synthetic grasps: class separability in pose space and generation speed.

    python benchmarks/synth.py [--n 20000] [--seed 0]

Separability: a nearest-centroid classifier fit on the hand poses (right-hand axis-angle, 45-D) of one
half of the samples, scored on the other half (chance = 1/28). Speed: `affordhand synth` wall time.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import numpy as np

from affordhand.report.tables import markdown_table
from affordhand.synth.dataset import SynthConfig, build, generate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--speed-n", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"command: python benchmarks/synth.py --n {args.n} --speed-n {args.speed_n} --seed {args.seed}")
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    data = generate(SynthConfig(n=args.n, seed=args.seed))
    x, y = data["pose_r"], data["grasp_ids"]
    half = len(x) // 2
    classes = np.unique(y[:half])
    centroids = np.stack([x[:half][y[:half] == c].mean(0) for c in classes])
    pred = classes[np.argmin(((x[half:, None] - centroids[None]) ** 2).sum(-1), axis=1)]
    acc = float((pred == y[half:]).mean())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build(SynthConfig(n=args.speed_n, seed=args.seed), tmp)
        seconds = time.perf_counter() - t0
    rows = [[f"nearest-centroid accuracy, held-out half of {args.n}", f"{acc:.3f} (chance {1 / len(classes):.3f})"]]
    rows.append([f"synth {args.speed_n} grasps, written to disk", f"{seconds:.1f} s"])
    print(markdown_table(("metric", "value"), rows))


if __name__ == "__main__":
    main()
