"""Settings of the image front end, in a module without torch, so the command line can show their
defaults without importing it."""

from __future__ import annotations

from dataclasses import dataclass

from affordhand.errors import AffordhandError, check_range
from affordhand.refinement.settings import MAX_SAMPLES


@dataclass
class ImageOptions:
    """Settings of the image front end."""

    text: str | None = None
    object_box: tuple | None = None
    focal: float | None = None  # px; default: a 60-degree horizontal field of view
    # (fx, fy, cx, cy) px of a calibrated camera; overrides focal and the default principal point (the centre)
    intrinsics: tuple | None = None
    occluded: tuple[str, ...] = ()  # fingers the user says are hidden
    # Joints MediaPipe places this far apart (fraction of the hand's size) in the image and in its mirror
    # image are taken as not visible; 1 or more turns the mirror pass off. Below it, doubt is weighed
    # (weigh_doubt): each keypoint's confidence falls with its disagreement (photo/pipeline.py). Past 0.15 alone,
    # dark photos drop joints that MediaPipe places well (benchmarks/photos.py, harder photos).
    max_disagreement: float = 0.3
    weigh_doubt: bool = True
    samples: int = 4
    seed: int = 0
    mirrored: bool = False
    device: str = "cpu"  # where refinement runs (the prior and hand model must be there too)
    # Each hand's own skeleton, fitted to its visible keypoints (photo/fit.py: fit_skeleton); built-in hand only
    own_skeleton: bool = True
    views: bool = True  # the 3D figure (PNG) and viewer (HTML + plotly.min.js); the web page draws its own
    mesh: bool = True  # the hand's surface, as a GLB file and in the report entry (the web page draws it)
    # per-image intrinsics (fx, fy, cx, cy) px by image file name (`affordhand image --cameras`); an image
    # listed here takes them over intrinsics, focal and its EXIF focal length
    cameras: dict | None = None

    def __post_init__(self):
        if self.focal is not None:
            check_range("focal", self.focal, 1e-3)  # px; 0 or a negative one puts the hand behind the camera
        if self.intrinsics is not None:
            check_intrinsics(self.intrinsics, "intrinsics", "intrinsics ")
        for name, camera in (self.cameras or {}).items():
            check_intrinsics(camera, f"cameras: {name}: intrinsics", f"cameras: {name}: ")
        check_range("samples", self.samples, 1, MAX_SAMPLES, integer=True)
        check_range("max_disagreement", self.max_disagreement, 1e-9)
        check_range("seed", self.seed, 0, integer=True)


def check_intrinsics(values: tuple, what: str, prefix: str) -> None:
    """Raise AffordhandError unless values are (fx, fy, cx, cy) px: four finite numbers, the focal lengths
    positive; `what` names them in the error, `prefix` each number."""
    if len(values) != 4:
        raise AffordhandError(f"{what} must be (fx, fy, cx, cy) px, got {values!r}")
    for key, value in zip(("fx", "fy", "cx", "cy"), values):
        check_range(f"{prefix}{key}", value, 1e-3 if key in ("fx", "fy") else None)
