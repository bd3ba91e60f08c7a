"""Settings of refinement (the global and finger fits, the guided diffusion, the run), in a module without
torch, so the command line builds its flags and shows their defaults without importing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from affordhand.errors import AffordhandError, check_choices, check_range

# At most this many samples per hand: memory grows with samples x batch, and past a few dozen the mean no longer
# changes (the spread of a mean of K samples falls as 1 / sqrt(K)).
MAX_SAMPLES = 256


@dataclass
class GuidedConfig:
    """Settings of the guided refinement."""

    t_start: int = 400
    steps: int = 50  # DDIM steps over the full range [0, T); the refinement runs the ones below t_start
    keypoint_weight: float = 300.0  # weight of the keypoint gradient (ScoreHMR's guidance scale)
    cfg: float = 1.0  # classifier-free guidance scale (0 = unconditional)
    sigma_px: float = 15.0
    samples: int = 4
    select: Literal["mean", "fit", "median"] = "mean"  # mean pose, best 2D fit, or sample nearest the median
    noising: Literal["sdedit", "invert"] = "sdedit"  # stochastic noising or deterministic DDIM inversion
    # "antithetic": a hand's samples come in pairs started from opposite noise, so their mean varies less than
    # that of independent samples (variance reduction; both samples of a pair are still drawn from the model)
    sample_noise: Literal["antithetic", "independent"] = "antithetic"
    occluded_trust: float = 1.0  # scales the normalised initial rotation of joints whose bone end is hidden
    occluded_t_start: int = 600  # hidden joints start from this higher noise level (0: off; RePaint-style)
    # x0-hat is clipped to the joint limits' range and the data's ("anatomical"), or to the data's alone
    bounds: Literal["anatomical", "data"] = "anatomical"
    # "fingers": a finger's seen rotations go back to the initial pose where that meets its seen keypoints
    # better than the refined one (refinement/fallback.py); "none": the refined pose as it is
    fallback: Literal["fingers", "none"] = "fingers"
    # "prior": refine in the prior's pose convention, on a skeleton with the hand model's joints and the prior's
    # bone directions (hand/convention.py); "input": in the hand model's own convention
    pose_convention: Literal["prior", "input"] = "prior"
    # a hand whose object the prior was not trained on (PriorConfig.objects) is conditioned on its grasp alone
    # where the prior has a grasp field and the grasp is known ("grasp"): a new object's sentence narrows the
    # prior onto the grasps of the trained objects nearest in words; "text": the sentence as well, as for
    # known objects
    unseen_objects: Literal["grasp", "text"] = "grasp"

    def __post_init__(self):
        check_choices(self)
        check_range("t_start", self.t_start, 1, integer=True)
        check_range("steps", self.steps, 1, integer=True)
        check_range("keypoint_weight", self.keypoint_weight, 0)
        check_range("cfg", self.cfg, 0)
        check_range("sigma_px", self.sigma_px, 1e-6)
        check_range("samples", self.samples, 1, MAX_SAMPLES, integer=True)
        check_range("occluded_trust", self.occluded_trust, 0)
        check_range("occluded_t_start", self.occluded_t_start, 0, integer=True)

    def check_levels(self, T: int) -> None:
        """Raise AffordhandError unless the noise levels lie within a prior of T steps."""
        if not self.t_start < T:
            raise AffordhandError(f"t_start must be between 1 and {T - 1} (the prior has T = {T}), got {self.t_start}")
        if not self.steps <= T:
            raise AffordhandError(f"steps must be between 1 and {T} (the prior has T = {T}), got {self.steps}")
        if not self.occluded_t_start < T:
            top = f"between 0 (off) and {T - 1} (the prior has T = {T})"
            raise AffordhandError(f"occluded_t_start must be {top}, got {self.occluded_t_start}")


@dataclass
class FitConfig:
    """Settings of keypoint fitting (pixels, radians, metres)."""

    iters: int = 100
    sigma_px: float = 40.0
    finger_weight: float = 0.05
    lr_orient: float = 0.02
    lr_transl: float = 0.004
    lr_scale: float = 0.01
    scale_prior: float = 1.0  # weight of (log scale - log initial scale)^2
    # weight of 2 sin^2(angle / 2) between the fitted orientation and the input's (refinement/fit.py) against the
    # robust 2D cost summed over the seen joints and divided by the six palm joints': with those six seen, a
    # 10 deg turn costs as much as a 0.85 px residual on each. Chosen on the synthetic validation set over the
    # regressor's rotation noise (benchmarks/orient_hold.py). 0 lets the keypoints alone set the orientation.
    orient_prior: float = 0.03
    pose_iters: int = 150
    lr_pose: float = 0.01
    pose_sigma_px: float = 20.0  # robust scale of the finger fit: tighter than the global fit's
    pose_prior: float = 0.02  # weight of the squared deviation from the initial finger pose (rad^2)

    def __post_init__(self):
        for name in ("iters", "pose_iters"):
            check_range(name, getattr(self, name), 0, 100_000, integer=True)
        for name in ("sigma_px", "lr_orient", "lr_transl", "lr_scale", "lr_pose", "pose_sigma_px"):
            check_range(name, getattr(self, name), 1e-9)
        for name in ("finger_weight", "scale_prior", "orient_prior", "pose_prior"):
            check_range(name, getattr(self, name), 0)


REFINE_BATCH = 512  # hands refined at once by default (memory grows with it; results do not change)
Mode = Literal["affordance", "uncond", "fit", "none"]
MODES = get_args(Mode)


@dataclass
class RefineConfig:
    """Settings of one refinement run; written into each output record's `refine` field."""

    mode: Mode = "affordance"
    seed: int = 0
    guided: GuidedConfig = field(default_factory=GuidedConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    # in the prior's modes, a short global fit again once the fingers are refined (half the iterations). On the
    # synthetic validation set it lowers occluded MPJPE at every occlusion level (by 0.02-0.23 mm; visible
    # within 0.1 mm). `fit` mode keeps its single global fit (the image front end's initial fit is that mode)
    refit_global: bool = True

    def __post_init__(self):
        check_choices(self)
