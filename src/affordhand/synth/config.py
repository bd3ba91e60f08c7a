"""Settings of a synthetic data set, in a module without numpy or torch, so the command line builds its
flags from them at no cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from affordhand.errors import AffordhandError, check_choices


@dataclass
class SynthConfig:
    """Settings of one synthetic data set; saved beside it as config.json."""

    n: int = 2000
    seed: int = 0
    occlusion: Literal["light", "medium", "heavy", "mixed"] = "mixed"
    split_by: Literal["object", "taxonomy", "random"] = "object"  # HOGraspNet's s3 objects, s4 grasps, random
    test_fraction: float = 0.2
    free_hands: float = 0.1  # fraction of hands that hold nothing (synth/freehand.py)

    def __post_init__(self):
        check_choices(self)
        if self.n < 1:
            raise AffordhandError("--n must be at least 1")
        if not 0.0 <= self.free_hands < 1.0:
            raise AffordhandError("--free-hands must be a fraction in [0, 1)")
