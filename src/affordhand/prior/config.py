"""Every setting of a prior and its training (PriorConfig, saved as config.json), and the layout of its
condition vector: in a module without torch, so the command line builds its flags from it at no cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from affordhand.data.fields import setting
from affordhand.data.taxonomy import FEIX_GRASPS
from affordhand.errors import AffordhandError, check_choices, check_range

SHIPPED_STEPS = 4000  # training steps of the shipped prior: its held-out validation loss is lowest near here
WIDTH = {"mlp": 256, "transformer": 128}  # default hidden width per denoiser architecture
CONDITION_FIELDS = ("text", "grasp")
FEIX_IDS = tuple(FEIX_GRASPS)
GRASP_KINDS = ("power", "intermediate", "precision")
OPPOSITIONS = ("palm", "pad", "side")
GRASP_FEATURES = len(FEIX_IDS) + len(GRASP_KINDS) + len(OPPOSITIONS) + 2 + 4


# Text encoders a prior's config may name by itself: the built-in one, none, and Hub models of the method's family
# by their exact names. Any other (another Hub model, a local folder) loads only when the user names it too
# (AFFORDHAND_TEXT_ENCODERS, comma-separated): a prior folder is data, and its config alone never picks code or
# files to load.
KNOWN_TEXT_ENCODERS = (
    "minilm",
    "none",
    "hf:distilbert-base-uncased",
    "hf:distilbert/distilbert-base-uncased",
    "hf:bert-base-uncased",
    "hf:google-bert/bert-base-uncased",
    "hf:sentence-transformers/all-MiniLM-L6-v2",
    "hf:roberta-base",
    "hf:FacebookAI/roberta-base",
)
ALLOWED_ENCODERS_ENV = "AFFORDHAND_TEXT_ENCODERS"


def check_prior_text_encoder(spec: str, where: str) -> None:
    """Raise AffordhandError unless a prior's configured text encoder is known, or the user allowed it."""
    import os

    base = spec.split("#")[0] if spec.startswith("hf:") else spec
    allowed = {s.strip() for s in os.environ.get(ALLOWED_ENCODERS_ENV, "").split(",") if s.strip()}
    if base in KNOWN_TEXT_ENCODERS and spec in (base, base + "#cls", base + "#mean") or spec in allowed:
        return
    raise AffordhandError(
        f"{where}: the prior names text encoder {spec[:200]!r}, which is not one of the known ones "
        f"({', '.join(KNOWN_TEXT_ENCODERS)}); if you trust it, allow it with {ALLOWED_ENCODERS_ENV}={spec[:200]}"
    )


def condition_layout(conditions: list[str] | tuple[str, ...], text_dim: int) -> dict[str, slice]:
    """Return the slice of the condition vector that each field fills (an encoder of 0 dims drops text)."""
    unknown = [c for c in conditions if c not in CONDITION_FIELDS]
    if unknown:
        raise AffordhandError(f"unknown condition fields {unknown}: {', '.join(CONDITION_FIELDS)}")
    if list(conditions) == ["text"]:
        return {"text": slice(0, text_dim)} if text_dim else {}
    layout, at = {}, 0
    for name in conditions:
        width = text_dim if name == "text" else GRASP_FEATURES
        if width:
            layout[name] = slice(at, at + width + 1)
            at += width + 1
    return layout


def condition_dim(conditions, text_dim: int) -> int:
    """Return the length of the condition vector."""
    return max((s.stop for s in condition_layout(conditions, text_dim).values()), default=0)


@dataclass
class PriorConfig:
    """Every setting of a prior and its training; saved as config.json."""

    representation: Literal["axis_angle", "6d"] = setting("axis_angle", "rotation representation the prior learns")
    architecture: Literal["mlp", "transformer"] = setting(
        "mlp", "denoiser: residual MLP with FiLM or a transformer over joint tokens"
    )
    T: int = 1000
    schedule: Literal["cosine", "linear"] = setting("cosine", "noise schedule")
    prediction: Literal["eps", "x0"] = setting("eps", "what the network predicts")
    clip_x0: float = 4.0
    # hidden width; None: the architecture's default (WIDTH)
    width: int | None = setting(None, "hidden width (256 for mlp, 128 for transformer)")
    depth: int = setting(4, "residual blocks or transformer layers")
    emb: int = 256
    dropout: float = setting(0.0, "dropout in the denoiser")
    text_encoder: str = setting("minilm", "minilm, hf:NAME_OR_PATH[#cls] or none")
    conditions: list = field(default_factory=lambda: ["text", "grasp"])  # see prior/conditions.py
    text_dim: int = 384  # the text encoder's width (set by training)
    cond_dim: int = 384 + 1 + GRASP_FEATURES + 1  # the condition vector's length (set by training)
    cond_drop: float = setting(0.15, "share of training poses with the null condition (classifier-free guidance)")
    field_drop: float = setting(0.3, "share of poses that lose each condition field alone")
    steps: int = setting(20000, "training steps")
    batch: int = setting(256, "poses per step")
    lr: float = setting(1e-3, "learning rate")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    ema: float = 0.999
    warmup: int = 500  # steps of linear learning-rate warm-up
    loss_smoothing: float = 0.98  # exponential smoothing of the logged training loss
    range_margin: float = 0.02  # the normalised training range is widened by this share of its span
    seed: int = setting(0, "random seed (initialisation, batches, noise)")
    checkpoint_every: int = setting(1000, "steps between checkpoints (a killed run resumes from the last)")
    data_hash: str = ""
    # the skeleton its poses were made on, where no calibrated skeleton.json is kept with it: "builtin" (the
    # built-in hand's own, as for the shipped prior's synthetic grasps) or "" (unknown: refinement then keeps
    # the hand model's pose convention; hand/convention.py)
    pose_skeleton: str = ""
    # the objects its training records name (prior/conditions.py: object keys), set by training; refinement
    # conditions a hand whose object is not among them on its grasp alone (GuidedConfig.unseen_objects)
    objects: list = field(default_factory=list)
    data_file: str = ""
    mean: list = field(default_factory=list)
    std: list = field(default_factory=list)
    x_min: list = field(default_factory=list)  # per-dimension range of the normalised training poses
    x_max: list = field(default_factory=list)

    def __post_init__(self):
        check_choices(self)
        condition_layout(self.conditions, self.text_dim)  # checks the field names
        if self.width is None:
            self.width = WIDTH[self.architecture]
        # Bounds on what sizes the network and the schedule, so a hostile or mistyped config is refused before
        # anything is allocated; the weights' own shapes are checked against it before loading (prior/model.py).
        for name, low, high in (("T", 2, 100_000), ("width", 1, 8192), ("depth", 1, 64), ("emb", 1, 8192)):
            check_range(name, getattr(self, name), low, high, integer=True)
        for name, high in (("steps", 10**8), ("batch", 10**6), ("checkpoint_every", 10**8), ("warmup", 10**8)):
            check_range(name, getattr(self, name), 0 if name == "warmup" else 1, high, integer=True)
        for name in ("text_dim", "cond_dim", "seed"):
            check_range(name, getattr(self, name), 0, integer=True)
        for name in ("dropout", "cond_drop", "field_drop", "ema", "loss_smoothing"):
            check_range(name, getattr(self, name), 0, 0.999999)
        check_range("lr", self.lr, 1e-12, 10.0)
        check_range("weight_decay", self.weight_decay, 0, 10.0)
        check_range("clip_x0", self.clip_x0, 1e-6)
        check_range("range_margin", self.range_margin, 0, 10.0)
        if not isinstance(self.objects, list) or not all(isinstance(o, str) for o in self.objects):
            raise AffordhandError(f"objects must be a list of object names, got {self.objects!r}")
        for name in ("mean", "std", "x_min", "x_max"):
            values = getattr(self, name)
            if not isinstance(values, list) or len(values) not in (0, self.pose_dim):
                raise AffordhandError(f"{name} must be a list of {self.pose_dim} numbers, got {str(values)[:60]}")
            for v in values:
                check_range(name, v)
        if not isinstance(self.text_encoder, str) or not isinstance(self.pose_skeleton, str):
            raise AffordhandError("text_encoder and pose_skeleton must be strings")

    @property
    def layout(self) -> dict[str, slice]:
        """The slice of the condition vector that each condition field fills."""
        return condition_layout(self.conditions, self.text_dim)

    @property
    def pose_dim(self) -> int:
        return 45 if self.representation == "axis_angle" else 90
