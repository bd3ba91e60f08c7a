"""The prior: denoiser + schedule + pose normalisation + text encoder name, saved as config.json +
model.safetensors (EMA weights used for sampling). Loading never unpickles."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from affordhand.data.atomic import atomic_path, atomic_write_text
from affordhand.errors import AffordhandError
from affordhand.hand.rotations import rotvec_to_6d, sixd_to_rotvec
from affordhand.prior.config import PriorConfig, check_prior_text_encoder
from affordhand.prior.denoiser import Denoiser, JointTransformer
from affordhand.prior.schedule import Schedule

STD_FLOOR = 0.15  # rad; dimensions that barely vary in training would otherwise blow up when normalised
DEFAULT_PRIOR = Path(__file__).resolve().parent.parent / "assets" / "prior"
SKELETON_FILE = "skeleton.json"  # the built-in hand's skeleton calibrated on the training data, when it had joints


def atomic_save(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """Write a safetensors file atomically."""
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)


class Prior(torch.nn.Module):
    """A trained (or new) prior: turns hand poses to and from the normalised space the network sees."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.config = config
        net_class = Denoiser if config.architecture == "mlp" else JointTransformer
        self.net = net_class(config.pose_dim, config.cond_dim, config.width, config.depth, config.emb, config.dropout)
        bounds = None
        if config.x_min and config.x_max:
            bounds = (torch.tensor(config.x_min, dtype=torch.float32), torch.tensor(config.x_max, dtype=torch.float32))
        self.schedule = Schedule(config.T, config.schedule, config.prediction, config.clip_x0, bounds)
        mean = torch.tensor(config.mean or [0.0] * config.pose_dim, dtype=torch.float32)
        std = torch.tensor(config.std or [1.0] * config.pose_dim, dtype=torch.float32)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std.clamp_min(STD_FLOOR))
        # The skeleton its poses were made on (hand/convention.py): (rest joints (16, 3), tips (5, 3)), or None
        # when that is unknown (set by load_prior: the calibrated skeleton kept with it, or the built-in one).
        self.pose_skeleton: tuple | None = None

    def encode_pose(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """Return normalised x (B, D) from right-hand hand_pose (B, 45) axis-angle."""
        if self.config.representation == "6d":
            hand_pose = rotvec_to_6d(hand_pose.reshape(-1, 15, 3)).reshape(-1, 90)
        return (hand_pose - self.mean) / self.std

    def decode_pose(self, x: torch.Tensor) -> torch.Tensor:
        """Return right-hand hand_pose (B, 45) axis-angle from normalised x (B, D)."""
        raw = x * self.std + self.mean
        if self.config.representation == "6d":
            return sixd_to_rotvec(raw.reshape(-1, 15, 6)).reshape(-1, 45)
        return raw

    def output(self, x, t, cond=None, has_cond=None, repeats: int = 1, embedded=None):
        """Return the network's raw output for x_t (B, D); cond (B / repeats, C) serves `repeats` consecutive
        rows of x each; embedded: `self.net.embed_condition(cond, has_cond)`, computed once for many calls."""
        return self.net(x, t, cond, has_cond, repeats, embedded)

    def save(self, run_dir: str | Path) -> None:
        """Write config.json and model.safetensors (weights of this module) into run_dir."""
        run_dir = Path(run_dir)
        atomic_write_text(run_dir / "config.json", json.dumps(asdict(self.config), indent=2) + "\n")
        atomic_save(self.state_dict(), run_dir / "model.safetensors", {"format": "affordhand-prior-1"})


PRIOR_FILES = ("config.json", "model.safetensors", SKELETON_FILE, "uncertainty.json", "README.md")


def resolve_prior_dir(spec: str | os.PathLike) -> Path:
    """Return the folder of a prior: 'default' (shipped inside the package), a run folder, or
    'hf:ORG/NAME[@REVISION]' from the Hugging Face Hub (the files of PRIOR_FILES only: configuration and
    safetensors weights, never code; cached, so it works offline once fetched)."""
    if str(spec) == "default":
        return DEFAULT_PRIOR
    if str(spec).startswith("hf:"):
        return _hub_prior(str(spec)[3:])
    return Path(spec)


@functools.lru_cache(maxsize=8)
def _hub_prior(name: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise AffordhandError("hf: priors need huggingface_hub: pip install 'affordhand[text]'") from None
    repo, _, revision = name.partition("@")
    if repo.count("/") != 1:
        raise AffordhandError(f"hf:{name}: expected hf:ORG/NAME or hf:ORG/NAME@REVISION")
    try:
        return Path(snapshot_download(repo, revision=revision or None, allow_patterns=list(PRIOR_FILES)))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        raise AffordhandError(f"hf:{name}: cannot fetch the prior ({type(exc).__name__}: {exc})") from None


def prior_skeleton(spec: str | os.PathLike) -> Path | None:
    """Return the calibrated skeleton kept with a prior (skeleton.json, written by training on records that
    hold 3D joints), or None."""
    path = resolve_prior_dir(spec) / SKELETON_FILE
    return path if path.is_file() else None


def prior_hand_model(prior_spec=None, kind: str = "builtin", mano_dir=None, skeleton=None):
    """Return (hand model, skeleton file used): `skeleton` when given, else, for the built-in hand, the
    skeleton calibrated with the prior (if it has one), else the built-in default or the user's MANO."""
    from affordhand.hand import load_hand_model

    if skeleton is None and kind == "builtin" and prior_spec is not None:
        skeleton = prior_skeleton(prior_spec)
    return load_hand_model(kind, mano_dir, skeleton), skeleton


def prior_digest(spec: str | os.PathLike) -> str:
    """Return a sha256 over the prior's files (config, weights, skeleton): it names the prior a result
    was made with."""
    from affordhand.data.provenance import file_sha256

    run_dir = resolve_prior_dir(spec)
    parts = [
        f"{name}:{file_sha256(run_dir / name)}"
        for name in ("config.json", "model.safetensors", SKELETON_FILE)
        if (run_dir / name).is_file()
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def check_weight_shapes(config: PriorConfig, weights: Path) -> None:
    """Raise AffordhandError unless the weights file holds exactly the tensors, of the shapes, that the config's
    network has: read from the file's header and a network built on the meta device, so nothing is allocated."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise AffordhandError(f"{weights}: not a readable safetensors file ({exc})") from None
    with torch.device("meta"):
        wanted = {k: tuple(v.shape) for k, v in Prior(config).state_dict().items()}
    if found != wanted:
        odd = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))[:3]
        detail = ", ".join(f"{k}: {found.get(k, 'missing')} (config: {wanted.get(k, 'none')})" for k in odd)
        raise AffordhandError(f"{weights} does not match its config.json ({detail})")


def load_prior(spec: str | os.PathLike = "default", device: str = "cpu") -> Prior:
    """Return the prior in a run folder (or the shipped default), in eval mode on device."""
    run_dir = resolve_prior_dir(spec)
    cfg_path, weights = run_dir / "config.json", run_dir / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        hint = " (rebuild it with `make prior`)" if str(spec) == "default" else ""
        raise AffordhandError(f"no prior in {run_dir}: expected config.json and model.safetensors{hint}")
    try:
        raw = json.loads(cfg_path.read_text())
        if "conditions" not in raw:  # a sentence-only prior: the embedding alone
            raw.update(conditions=["text"], text_dim=raw.get("cond_dim", 0))
        known = {f.name for f in fields(PriorConfig)}
        config = PriorConfig(**{k: v for k, v in raw.items() if k in known})
    except (json.JSONDecodeError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise AffordhandError(f"{cfg_path}: not a prior config ({exc})") from None
    except AffordhandError as exc:
        raise AffordhandError(f"{cfg_path}: {exc}") from None
    check_prior_text_encoder(config.text_encoder, str(cfg_path))
    check_weight_shapes(config, weights)
    prior = Prior(config)
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise AffordhandError(f"{weights}: not a readable safetensors file ({exc})") from None
    prior.load_state_dict({k: v.float() for k, v in state.items()})
    if not all(torch.isfinite(v).all() for v in prior.state_dict().values() if v.is_floating_point()):
        raise AffordhandError(f"{weights}: holds weights that are not finite (a diverged training run?)")
    skeleton = prior_skeleton(spec)
    if skeleton is not None or config.pose_skeleton == "builtin":
        from affordhand.hand.calibrate import load_skeleton
        from affordhand.hand.model import BuiltinHand

        kept = load_skeleton(skeleton) if skeleton is not None else BuiltinHand()
        prior.pose_skeleton = (kept.rest, kept.tips)
    return prior.to(device).eval()
