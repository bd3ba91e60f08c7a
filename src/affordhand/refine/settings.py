"""Settings of the guided refinement, in a module without torch, so the command line can show their
defaults without importing it."""

from __future__ import annotations

from dataclasses import dataclass

from affordhand.errors import AffordhandError


@dataclass
class GuidedConfig:
    """Settings of the guided refinement."""

    t_start: int = 400
    steps: int = 50  # DDIM steps over the full range [0, T); the refinement runs the ones below t_start
    guidance: float = 300.0  # weight of the keypoint gradient
    cfg: float = 1.0  # classifier-free guidance scale (0 = unconditional)
    sigma_px: float = 15.0
    samples: int = 4
    select: str = "mean"  # "fit" (best 2D fit), "median" (sample nearest the median) or "mean" (mean pose)
    noising: str = "sdedit"  # or "invert"
    occluded_trust: float = 1.0  # scales the normalised initial rotation of joints whose bone end is hidden
    occluded_t_start: int = 600  # hidden joints start from this higher noise level (0: off; RePaint-style)
    bounds: str = "anatomical"  # clip x0-hat to the joint limits' range and the data's ("anatomical") or the data's

    def __post_init__(self):
        for name, allowed in (
            ("select", ("mean", "fit", "median")),
            ("noising", ("sdedit", "invert")),
            ("bounds", ("anatomical", "data")),
        ):
            if getattr(self, name) not in allowed:
                raise AffordhandError(f"unknown {name} {getattr(self, name)!r}: {', '.join(allowed)}")
