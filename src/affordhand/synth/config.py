"""Settings of a synthetic data set, in a module without numpy or torch, so the command line builds its
flags from them at no cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from affordhand.data.fields import setting
from affordhand.errors import AffordhandError, check_choices


@dataclass
class SynthConfig:
    """Settings of one synthetic data set; saved beside it as config.json."""

    n: int = setting(2000, "number of grasps")
    seed: int = setting(0, "random seed: the same seed writes the same bytes")
    occlusion: Literal["light", "medium", "heavy", "mixed"] = setting("mixed", "occlusion level of the scenes")
    split_by: Literal["object", "taxonomy", "random"] = setting(
        "object", "hold out HOGraspNet's s3 objects, its s4 grasps, or a random fraction"
    )
    test_fraction: float = setting(0.2, "test share for --split-by random")
    free_hands: float = setting(
        0.1, "fraction of hands that hold nothing (synth/freehand.py: open, pointing, fist, OK, ...)"
    )

    def __post_init__(self):
        check_choices(self)
        if self.n < 1:
            raise AffordhandError("--n must be at least 1")
        if not 0.0 <= self.free_hands < 1.0:
            raise AffordhandError("--free-hands must be a fraction in [0, 1)")
