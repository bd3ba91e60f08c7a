"""Benchmark of refinement: accuracy by occlusion level and mode, by grasp class, ablations and speed.

    python benchmarks/refine.py [--prior default] [--n 3000] [--seed 7] [--device cpu]

Test data: `affordhand synth --n N --seed SEED --occlusion LEVEL` for light, medium and heavy, held-out
objects (HOGraspNet s3) only. The defaults of refinement were chosen on a separate validation set (seed 1);
this script never feeds its numbers back into them.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace

import torch
from common import refined_metrics

from affordhand.data.records import read_records
from affordhand.refinement.loader import load_refiner
from affordhand.refinement.pipeline import RefineConfig, refine_batch
from affordhand.report.tables import markdown_row, markdown_table
from affordhand.synth.dataset import SynthConfig, build

KEYS = ("mpjpe", "mpjpe_visible", "mpjpe_occluded", "pa_mpjpe", "pa_mpjpe_occluded")


def _row(label, m):
    return markdown_row([label, *(f"{m[k]:.2f}" for k in KEYS), m["count"]])


def _header(first):
    print(markdown_table((first, "MPJPE", "MPJPE vis", "MPJPE occ", "PA-MPJPE", "PA occ", "n"), []))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prior", default="default")
    parser.add_argument("--n", type=int, default=3000, help="grasps synthesized per occlusion level")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--ablation-n", type=int, default=400, help="hands used for the ablations")
    args = parser.parse_args()
    print(
        f"command: python benchmarks/refine.py --prior {args.prior} --n {args.n} --seed {args.seed} "
        f"--device {args.device}"
    )
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads"
    print(f"machine: {platform.machine()}, {dev}, torch {torch.__version__}")
    refiner = load_refiner(args.prior, device=args.device)
    hand, prior = refiner.device_hand, refiner.prior
    base = RefineConfig()
    tmp = tempfile.TemporaryDirectory()
    sets = {}
    for level in ("light", "medium", "heavy"):
        build(SynthConfig(n=args.n, seed=args.seed, occlusion=level), f"{tmp.name}/{level}")
        sets[level] = (
            read_records(f"{tmp.name}/{level}/test.jsonl").records,
            read_records(f"{tmp.name}/{level}/test_init.jsonl").records,
        )

    print("\n## Accuracy by occlusion level and mode (held-out objects, mm)\n")
    _header("level / mode")
    ratios = []
    for level, (gt, init) in sets.items():
        res = {}
        for mode in ("none", "fit", "uncond", "affordance"):
            res[mode] = refined_metrics(refiner, init, gt, replace(base, mode=mode), by="taxonomy")
            print(_row(f"{level} / {mode}", res[mode].overall))
        a, u, i = (res[m].overall for m in ("affordance", "uncond", "none"))
        ratios.append(
            (
                level,
                a["mpjpe_occluded"] / u["mpjpe_occluded"],
                a["mpjpe_occluded"] / i["mpjpe_occluded"],
                a["mpjpe_visible"] - i["mpjpe_visible"],
            )
        )
        if level == "heavy":
            by_class = res
    header = ("level", "occ. MPJPE affordance / uncond (target <= 0.85)", "affordance / init (target <= 0.6)")
    header += ("visible MPJPE change vs init, mm (target <= +1)",)
    print("\n" + markdown_table(header, [[lv, f"{r1:.3f}", f"{r2:.3f}", f"{dv:+.2f}"] for lv, r1, r2, dv in ratios]))

    print("\n## Occluded-joint PA-MPJPE by grasp class, heavy occlusion (mm)\n")
    lines = []
    for key in by_class["affordance"].groups:
        g = {m: by_class[m].groups[key] for m in ("none", "uncond", "affordance")}
        cells = [f"{g[m]['pa_mpjpe_occluded']:.2f}" for m in ("none", "uncond", "affordance")]
        lines.append([key, *cells, g["affordance"]["count"]])
    print(markdown_table(("grasp", "init", "uncond", "affordance", "n"), lines))

    print(f"\n## Ablations (affordance mode, medium occlusion, first {args.ablation_n} hands, mm)\n")
    gt, init = (x[: args.ablation_n] for x in sets["medium"])
    _header("setting")
    variants = [("defaults", {})]
    variants += [(f"keypoint weight {g}", {"keypoint_weight": g}) for g in (0.0, 30.0, 100.0, 1000.0)]
    variants += [(f"t* {t}", {"t_start": t}) for t in (100, 250, 600, 800)]
    variants += [(f"steps {s}", {"steps": s}) for s in (20, 100)]
    variants += [(f"samples {k}", {"samples": k}) for k in (1, 8)]
    variants += [("cfg 0 (= uncond)", {"cfg": 0.0}), ("cfg 2", {"cfg": 2.0}), ("cfg 4", {"cfg": 4.0})]
    variants += [("DDIM inversion (null condition)", {"noising": "invert"}), ("select best 2D fit", {"select": "fit"})]
    variants += [
        ("no regeneration of hidden joints (the paper's refinement)", {"occluded_t_start": 0}),
        ("hidden joints regenerated from 800", {"occluded_t_start": 800}),
        ("independent samples (no antithetic pairs)", {"sample_noise": "independent"}),
        ("no safety net", {"fallback": "none"}),
        ("no global refit after the fingers", {"refit_global": False}),
        ("no hold on the input's orientation (orient_prior 0)", {"orient_prior": 0.0}),
    ]
    for label, change in variants:
        run = {k: change.pop(k) for k in ("refit_global",) if k in change}  # a RefineConfig setting
        if "orient_prior" in change:  # a FitConfig setting
            run["fit"] = replace(base.fit, orient_prior=change.pop("orient_prior"))
        config = replace(base, guided=replace(base.guided, **change), **run)
        print(_row(label, refined_metrics(refiner, init, gt, config).overall))

    print(
        f"\n## Speed (affordance mode, 50 DDIM steps over [0, T), t* = {base.guided.t_start}, "
        f"{base.guided.samples} samples, classifier-free guidance)\n"
    )
    print(markdown_table(("batch", "seconds", "hands/s"), []))
    pool = sets["medium"][1]
    for batch in (1, 64, 512):
        recs = (pool * (batch // len(pool) + 1))[:batch]
        reps = 5 if batch == 1 else 3
        refine_batch(recs, base, hand, prior, args.device)  # warm-up at this batch size (text, kernels, memory)
        t0 = time.perf_counter()
        for _ in range(reps):
            refine_batch(recs, base, hand, prior, args.device)
        dt = (time.perf_counter() - t0) / reps
        print(markdown_row([batch, f"{dt:.3f}", f"{batch / dt:.0f}"]))
    cli_speed(sets["medium"][1], args.prior, args.device)
    cli_memory(sets["medium"][1], args.prior, args.device)
    tmp.cleanup()


def cli_memory(pool: list[dict], prior: str, device: str, sizes=(2000, 20000)) -> None:
    """Print the peak resident memory of `affordhand refine` on 2000 and 20000 hands: the input is streamed,
    so it must not grow with the input (target: within 1.3x)."""
    import os
    import subprocess
    import sys

    from affordhand.data.records import write_records

    # The peak is the process's own VmHWM: getrusage's ru_maxrss survives fork and exec on Linux, so a child
    # of this (large) process would report this process's size.
    probe = (
        "import re, resource, sys; from affordhand.cli import main; rc = main(sys.argv[1:]); "
        "status = open('/proc/self/status').read() if sys.platform == 'linux' else ''; "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', status); "
        "kb = int(hwm.group(1)) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "print('maxrss_kb', kb, file=sys.stderr); sys.exit(rc)"
    )
    print("\n## Memory as a user runs it: peak RSS of `affordhand refine` (MB)\n")
    print(markdown_table(("mode", *(f"{n} hands" for n in sizes), "ratio"), []))
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            recs = [{**r, "id": f"{r['id']}#{i}"} for i, r in enumerate((pool * (n // len(pool) + 1))[:n])]
            write_records(f"{tmp}/in{n}.jsonl", recs)
        for mode in ("none", "affordance"):
            peak = []
            for n in sizes:
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        probe,
                        "refine",
                        "--input",
                        f"{tmp}/in{n}.jsonl",
                        "--out",
                        f"{tmp}/out_{mode}{n}.jsonl",
                        "--mode",
                        mode,
                        "--prior",
                        prior,
                        "--device",
                        device,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "AFFORDHAND_CACHE_DIR": f"{tmp}/c"},
                )
                peak.append(int(proc.stderr.rsplit("maxrss_kb", 1)[1].split()[0]) / 1024)
            cells = [f"{p:.0f}" for p in peak]
            print(markdown_row([mode, *cells, f"{peak[-1] / peak[0]:.2f}"]))


def _cli_seconds(n: int, tmp: str, out: str, prior: str, device: str, env: dict) -> float:
    """Return the wall time of `affordhand refine` on the first n hands (a subprocess, start-up included)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "affordhand", "refine", "--input", f"{tmp}/in{n}.jsonl", "--out", out]
    t0 = time.perf_counter()
    subprocess.run(command + ["--prior", prior, "--device", device], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def cli_speed(pool: list[dict], prior: str, device: str, small: int = 64, large: int = 1024, reps: int = 3) -> None:
    """Print the rate a user sees: `affordhand refine` at default settings on `small` and `large` hands, the
    marginal rate (large - small) / (time difference) so start-up cancels out; with an empty text-embedding
    cache (every sentence encoded; a new cache for each repetition) and with it filled. Each time is the
    median of `reps` runs: one run varies by about 10 % on a shared machine."""
    import os
    import statistics

    from affordhand.data.records import write_records

    recs = (pool * (large // len(pool) + 1))[:large]
    recs = [{**r, "id": f"{r['id']}#{i}"} for i, r in enumerate(recs)]
    print("\n## Speed as a user runs it: `affordhand refine` at default settings (marginal rate)\n")
    header = ("text-embedding cache", f"seconds, {small} hands", f"seconds, {large} hands", "marginal hands/s")
    print(markdown_table(header, []))
    with tempfile.TemporaryDirectory() as tmp:
        for n in (small, large):
            write_records(f"{tmp}/in{n}.jsonl", recs[:n])
        times: dict = {}
        for state in ("empty", "filled"):
            for rep in range(reps):
                cache = f"{tmp}/cache{rep}" if state == "empty" else f"{tmp}/cache0"  # filled by the first run
                env = {**os.environ, "AFFORDHAND_CACHE_DIR": cache}
                for n in (small, large):
                    out = f"{tmp}/out_{state}{n}_{rep}.jsonl"
                    times.setdefault((state, n), []).append(_cli_seconds(n, tmp, out, prior, device, env))
            t_small, t_large = (statistics.median(times[state, n]) for n in (small, large))
            rate = (large - small) / (t_large - t_small)
            print(markdown_row([state, f"{t_small:.1f}", f"{t_large:.1f}", f"{rate:.0f}"]))


if __name__ == "__main__":
    main()
