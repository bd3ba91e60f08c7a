"""Every setting of a prior and its training (PriorConfig, saved as config.json), and the layout of its
condition vector: in a module without torch, so the command line builds its flags from it at no cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from affordhand.data.taxonomy import FEIX_GRASPS
from affordhand.errors import AffordhandError, check_choices

SHIPPED_STEPS = 4000  # training steps of the shipped prior: its held-out validation loss is lowest near here
WIDTH = {"mlp": 256, "transformer": 128}  # default hidden width per denoiser architecture
CONDITION_FIELDS = ("text", "grasp")
FEIX_IDS = tuple(FEIX_GRASPS)
GRASP_KINDS = ("power", "intermediate", "precision")
OPPOSITIONS = ("palm", "pad", "side")
GRASP_FEATURES = len(FEIX_IDS) + len(GRASP_KINDS) + len(OPPOSITIONS) + 2 + 4


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

    representation: Literal["axis_angle", "6d"] = "axis_angle"
    architecture: Literal["mlp", "transformer"] = "mlp"
    T: int = 1000
    schedule: Literal["cosine", "linear"] = "cosine"
    prediction: Literal["eps", "x0"] = "eps"
    clip_x0: float = 4.0
    width: int | None = None  # hidden width; None: the architecture's default (WIDTH)
    depth: int = 4
    emb: int = 256
    dropout: float = 0.0
    text_encoder: str = "minilm"
    conditions: list = field(default_factory=lambda: ["text", "grasp"])  # see prior/conditions.py
    text_dim: int = 384  # the text encoder's width (set by training)
    cond_dim: int = 384 + 1 + GRASP_FEATURES + 1  # the condition vector's length (set by training)
    cond_drop: float = 0.15
    field_drop: float = 0.3  # each condition field is also dropped alone, so any subset conditions the prior
    steps: int = 20000
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    ema: float = 0.999
    warmup: int = 500  # steps of linear learning-rate warm-up
    loss_smoothing: float = 0.98  # exponential smoothing of the logged training loss
    range_margin: float = 0.02  # the normalised training range is widened by this share of its span
    seed: int = 0
    checkpoint_every: int = 1000
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
        positive = {"width": self.width, "depth": self.depth, "steps": self.steps, "batch": self.batch}
        positive["checkpoint_every"] = self.checkpoint_every
        for name, value in positive.items():
            if value < 1:
                raise AffordhandError(f"{name} must be positive, got {value}")
        for name in ("dropout", "cond_drop", "field_drop"):
            if not 0 <= getattr(self, name) < 1:
                raise AffordhandError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not isinstance(self.objects, list) or not all(isinstance(o, str) for o in self.objects):
            raise AffordhandError(f"objects must be a list of object names, got {self.objects!r}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise AffordhandError(
                f"lr must be positive and weight_decay not negative, got {self.lr}, {self.weight_decay}"
            )

    @property
    def layout(self) -> dict[str, slice]:
        """The slice of the condition vector that each condition field fills."""
        return condition_layout(self.conditions, self.text_dim)

    @property
    def pose_dim(self) -> int:
        return 45 if self.representation == "axis_angle" else 90
