"""Training of the prior: denoising loss with condition dropout (classifier-free guidance), EMA weights,
atomic resumable checkpoints, validation loss and a metrics.jsonl log.

Launched by torchrun (`torchrun --standalone --nproc_per_node N -m affordhand train ...`) the same command
trains data-parallel (DistributedDataParallel; gloo on CPU, nccl on GPU): every process draws the same
global batch and takes its share, so N processes follow the single-process run up to float rounding.

A run folder holds config.json, model.safetensors (EMA weights, what sampling loads),
checkpoint.safetensors (network, EMA, optimiser and random state, for resuming) and metrics.jsonl.
Each file is replaced atomically, so a run killed at any point resumes from its last checkpoint.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from safetensors.torch import load_file

from affordhand.data.atomic import atomic_write_text, read_journal
from affordhand.data.provenance import file_sha256
from affordhand.data.records import read_records
from affordhand.data.taxonomy import record_grasp
from affordhand.errors import AffordhandError
from affordhand.hand import BuiltinHand
from affordhand.hand.calibrate import (
    MIN_RECORDS,
    TOLERANCE_MM,
    calibrate,
    paired_records,
    save_skeleton,
    skeleton_mismatch_mm,
)
from affordhand.hand.rotations import mirror_where
from affordhand.parallel import join
from affordhand.prior.conditions import condition_vectors, drop_fields, known_objects
from affordhand.prior.config import PriorConfig, condition_dim
from affordhand.prior.model import SKELETON_FILE, Prior, atomic_save
from affordhand.progress import show_progress
from affordhand.text.encoders import load_text_encoder

CHECKPOINT = "checkpoint.safetensors"
MIN_TRAINING_RECORDS = 2  # the per-dimension std of fewer poses is not defined


def load_training_poses(path: str | Path, skip_bad: bool = False) -> tuple[torch.Tensor, list[str | None], list]:
    """Return right-hand poses (N, 45) (left hands mirrored), the text of each record (or None) and its Feix
    grasp (or None)."""
    return training_poses(_training_records(path, skip_bad))


def _training_records(path: str | Path, skip_bad: bool) -> list[dict]:
    records = read_records(path, skip_bad=skip_bad, required=("hand_pose",)).records
    if not records:
        raise AffordhandError(f"{path}: no records to train on")
    return records


def training_poses(records: list[dict]) -> tuple[torch.Tensor, list[str | None], list]:
    """Return what load_training_poses returns, for records already read."""
    pose = torch.as_tensor(np.stack([r["hand_pose"] for r in records]), dtype=torch.float32).reshape(-1, 15, 3)
    left = torch.as_tensor([r["side"] == "left" for r in records])
    pose = mirror_where(pose, left).reshape(-1, 45)
    return pose, [r.get("text") or None for r in records], [record_grasp(r) for r in records]


def calibrate_run_skeleton(data: str | Path, run_dir: Path, skip_bad: bool = False) -> dict | None:
    """Fit the built-in hand's skeleton to the training records' own (pose, 3D joints) pairs and keep it in
    the run folder as skeleton.json, so that refinement with this prior bends the same hand the data's joints
    came from; return the calibration, or None when fewer than MIN_RECORDS records hold both or the built-in
    skeleton already fits them within TOLERANCE_MM."""
    records = paired_records(read_records(data, skip_bad=skip_bad).records)
    if len(records) < MIN_RECORDS or skeleton_mismatch_mm(records, BuiltinHand()) <= TOLERANCE_MM:
        return None
    result = calibrate(records)
    save_skeleton(run_dir / SKELETON_FILE, result, source=Path(data).name)
    return result


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict:
    out = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"opt.{i}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return out


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict) -> None:
    sd = opt.state_dict()
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, i, key = name.split(".", 2)
            state.setdefault(int(i), {})[key] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def _loss(prior, x0, cond, has_cond, generator, cond_drop, net=None, rows=slice(None), field_drop=0.0):
    """Return the denoising loss of a batch; random draws cover the whole batch and `rows` picks this
    process's share, so that data-parallel training sees exactly what one process would."""
    B = x0.shape[0]
    t = torch.randint(0, prior.schedule.T, (B,), generator=generator).to(x0.device)[rows]
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)[rows]
    keep = has_cond & (torch.rand(B, generator=generator).to(x0.device) >= cond_drop)
    cond, keep = drop_fields(cond, keep, prior.config.layout, field_drop, generator)
    x0, cond, keep = x0[rows], cond[rows], keep[rows]
    x_t = prior.schedule.q_sample(x0, t, noise)
    out = (net or prior.net)(x_t, t, cond if cond.shape[1] else None, keep)
    return torch.mean((out - prior.schedule.target(x0, noise)) ** 2)


@torch.no_grad()
def validation_loss(prior, x0, cond, has_cond, seed: int = 1234, batch: int = 1024) -> float:
    """Return the mean denoising loss on a fixed draw of timesteps and noise (comparable across steps)."""
    g = torch.Generator().manual_seed(seed)
    losses = []
    for i in range(0, len(x0), batch):
        losses.append(float(_loss(prior, x0[i : i + batch], cond[i : i + batch], has_cond[i : i + batch], g, 0.0)))
    return float(np.mean(losses))


# Settings a resumed run may change: how long it runs and how often it saves; the rest are set by training.
RESUMABLE = (
    "steps",
    "checkpoint_every",
    "data_file",
    "text_dim",
    "cond_dim",
    "mean",
    "std",
    "x_min",
    "x_max",
    "objects",
)


def check_resume(saved: dict, config: PriorConfig, run_dir: Path) -> None:
    """Raise AffordhandError unless the run in run_dir was made by the same settings and data as config."""
    if saved.get("data_hash") != config.data_hash:
        raise AffordhandError(
            f"{run_dir} was trained on other data ({saved.get('data_file')}); use a new --out "
            "folder, or --restart to start over"
        )
    for key, value in asdict(config).items():
        if key not in RESUMABLE and key in saved and saved[key] != value:
            raise AffordhandError(
                f"{run_dir} holds a run with {key}={saved[key]!r}, not {value!r}; rerun with the "
                "same settings, a new --out, or --restart to start over"
            )


def fit_normalisation(config: PriorConfig, poses: torch.Tensor) -> PriorConfig:
    """Return config with the training poses' per-dimension mean and std and the range of the normalised
    poses (+2 % each side: clean estimates are clipped to it, so samples stay where the data is)."""
    x = Prior(config).encode_pose(poses)  # the prior's own encoding (6D too), with identity statistics
    config = replace(config, mean=x.mean(0).tolist(), std=x.std(0).tolist())
    x = Prior(config).encode_pose(poses)
    low, high = x.min(0).values, x.max(0).values
    margin = config.range_margin * (high - low)
    return replace(config, x_min=(low - margin).tolist(), x_max=(high + margin).tolist())


@dataclass
class TrainData:
    """Right-hand training poses (N, 45) with their condition vectors (N, C) and flags (N,); the validation
    set as the same triple, or None."""

    poses: torch.Tensor
    cond: torch.Tensor
    has_cond: torch.Tensor
    val: tuple | None

    def encoded(self, prior: Prior, device: str) -> "TrainData":
        """Return the data on device with the poses normalised by the prior."""
        on = lambda p, c, h: (prior.encode_pose(p.to(device)), c.to(device), h.to(device))
        return TrainData(*on(self.poses, self.cond, self.has_cond), on(*self.val) if self.val else None)


def prepare_data(config: PriorConfig, data, val, skip_bad: bool) -> tuple[PriorConfig, TrainData]:
    """Return (config with the text encoder's width, the data's normalisation and objects, the training data)."""
    encoder = load_text_encoder(config.text_encoder, device="cpu")
    config = replace(config, text_dim=encoder.dim, cond_dim=condition_dim(config.conditions, encoder.dim))
    records = _training_records(data, skip_bad)
    config = replace(config, objects=known_objects(records))
    poses, texts, grasps = training_poses(records)
    if len(poses) < MIN_TRAINING_RECORDS:
        raise AffordhandError(
            f"{data}: {len(poses)} records; a prior needs at least {MIN_TRAINING_RECORDS} to train on"
        )
    del records
    cond, has_cond = condition_vectors(config.conditions, encoder, texts, grasps)
    val_data = None
    if val:
        vp, vt, vg = load_training_poses(val, skip_bad)
        val_data = (vp, *condition_vectors(config.conditions, encoder, vt, vg))
    return fit_normalisation(config, poses), TrainData(poses, cond, has_cond, val_data)


@dataclass
class TrainState:
    """What a checkpoint holds: the network, its EMA copy, the optimiser, the data-drawing generator and the
    step, with the smoothed loss for the log."""

    prior: Prior
    ema: Prior
    opt: torch.optim.Optimizer
    gen: torch.Generator
    step: int = 0
    running: float | None = None


def new_state(prior: Prior, config: PriorConfig, resume: dict | None) -> TrainState:
    """Return a fresh training state around a new prior, or the one a checkpoint's tensors hold."""
    ema = copy.deepcopy(prior).eval()
    opt = torch.optim.AdamW(prior.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = TrainState(prior, ema, opt, torch.Generator().manual_seed(config.seed))
    if resume is not None:
        prior.load_state_dict({k[4:]: v for k, v in resume.items() if k.startswith("net.")})
        ema.load_state_dict({k[4:]: v for k, v in resume.items() if k.startswith("ema.")})
        _load_optimizer(opt, resume)
        state.gen.set_state(resume["rng"])
        state.step = int(resume["step"])
    return state


def train_step(state: TrainState, data: TrainData, config: PriorConfig, net, rows: slice) -> float:
    """Run one optimiser step (warm-up, denoising loss, EMA update) and return the smoothed loss."""
    idx = torch.randint(0, len(data.poses), (config.batch,), generator=state.gen)
    for group in state.opt.param_groups:
        group["lr"] = config.lr * min(1.0, (state.step + 1) / config.warmup)
    state.prior.train()
    loss = _loss(
        state.prior,
        data.poses[idx],
        data.cond[idx],
        data.has_cond[idx],
        state.gen,
        config.cond_drop,
        net,
        rows,
        config.field_drop,
    )
    state.opt.zero_grad(set_to_none=True)
    loss.backward()
    state.opt.step()
    with torch.no_grad():
        for pe, pm in zip(state.ema.parameters(), state.prior.parameters()):
            pe.lerp_(pm, 1 - config.ema)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise AffordhandError(
            f"training diverged: the loss is {value} at step {state.step + 1} (lr {config.lr}); lower --lr, or give "
            "more records; the last checkpoint is kept"
        )
    state.step += 1
    smooth = config.loss_smoothing
    state.running = value if state.running is None else smooth * state.running + (1 - smooth) * value
    return state.running


def check_finite(state: TrainState) -> None:
    """Raise AffordhandError where a weight of the network or its EMA copy is not finite (nothing is saved)."""
    for module in (state.prior, state.ema):
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise AffordhandError(
                f"training diverged: weights are not finite at step {state.step}; lower --lr; the last checkpoint "
                "is kept"
            )


def save_checkpoint(state: TrainState, run_dir: Path, entry: dict) -> None:
    """Write checkpoint.safetensors (network, EMA, optimiser, generator, step) and model.safetensors (EMA)
    atomically, then append the log entry to metrics.jsonl."""
    tensors = {f"net.{k}": v for k, v in state.prior.state_dict().items()}
    tensors.update({f"ema.{k}": v for k, v in state.ema.state_dict().items()})
    tensors.update(_optimizer_tensors(state.opt))
    tensors["rng"], tensors["step"] = state.gen.get_state(), torch.tensor(state.step)
    atomic_save(tensors, run_dir / CHECKPOINT)
    state.ema.save(run_dir)
    with (run_dir / "metrics.jsonl").open("a") as f:
        f.write(json.dumps(entry) + "\n")


def _start_run(config: PriorConfig, data, run_dir: Path, restart: bool) -> tuple[PriorConfig, dict | None]:
    """Return (config with the data's name and hash, the checkpoint to resume from or None); restart removes
    an earlier run's files, and a checkpoint made with other settings or data is refused."""
    config = replace(config, data_file=str(data), data_hash=file_sha256(data))
    if restart:
        for name in (CHECKPOINT, "metrics.jsonl", "model.safetensors", "config.json", SKELETON_FILE):
            (run_dir / name).unlink(missing_ok=True)
    if not (run_dir / CHECKPOINT).is_file():
        return config, None
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise AffordhandError(
            f"{run_dir}: holds a checkpoint but no readable config.json ({exc}); --restart to start over"
        ) from None
    check_resume(saved, config, run_dir)
    try:
        return config, load_file(str(run_dir / CHECKPOINT))
    except Exception as exc:  # safetensors raises its own error types for torn files
        raise AffordhandError(
            f"{run_dir / CHECKPOINT}: not a readable checkpoint ({exc}); --restart to start over"
        ) from None


def _trim_log(run_dir: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from."""
    path = run_dir / "metrics.jsonl"
    if path.exists():  # a line a crash tore, and all after it, are dropped (read_journal)
        kept = [e for e in read_journal(path) if isinstance(e.get("step"), int) and e["step"] <= step]
        atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))


def train(
    config: PriorConfig,
    data: str,
    run_dir: str | Path,
    val: str | None = None,
    device: str = "cpu",
    quiet: bool = False,
    skip_bad: bool = False,
    restart: bool = False,
) -> Prior:
    """Train (or resume) a prior on the poses and texts of a record file; return the EMA prior.
    A run folder holding a checkpoint resumes only under the same settings and data; restart starts over."""
    run_dir = Path(run_dir)
    for path in (data, val):
        if path is not None and not Path(path).is_file():
            raise AffordhandError(f"{path}: no such file")
    rank, world, device = join(device)
    if config.batch % world:
        raise AffordhandError(f"--batch {config.batch} must be divisible by the {world} processes")
    config, resume = _start_run(config, data, run_dir, restart)
    torch.manual_seed(config.seed)
    config, raw = prepare_data(config, data, val, skip_bad)
    prior = Prior(config).to(device)  # its initial weights are drawn here, after the seed
    tensors = raw.encoded(prior, device)
    state = new_state(prior, config, resume)
    net = state.prior.net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(state.prior.net)
    rows = slice(rank * config.batch // world, (rank + 1) * config.batch // world)
    if rank == 0:
        atomic_write_text(run_dir / "config.json", json.dumps(asdict(config), indent=2) + "\n")
        if not (run_dir / SKELETON_FILE).is_file():
            calibrate_run_skeleton(data, run_dir, skip_bad)
        _trim_log(run_dir, state.step)
    t0 = time.perf_counter()
    columns = (TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total} loss {task.fields[loss]}"))
    with Progress(*columns, TimeRemainingColumn(), disable=quiet or rank > 0 or not show_progress()) as bar:
        task = bar.add_task("train", total=config.steps, completed=state.step, loss="-")
        while state.step < config.steps:
            running = train_step(state, tensors, config, net, rows)
            bar.update(task, completed=state.step, loss=f"{running:.4f}")
            if rank == 0 and (state.step % config.checkpoint_every == 0 or state.step == config.steps):
                entry = {"step": state.step, "loss": running, "seconds": round(time.perf_counter() - t0, 2)}
                if tensors.val is not None:
                    entry["val_loss"] = validation_loss(state.ema, *tensors.val)
                check_finite(state)
                save_checkpoint(state, run_dir, entry)
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return state.ema.cpu()
