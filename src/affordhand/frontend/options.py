"""Settings of the image front end, in a module without torch, so the command line can show their
defaults without importing it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImageOptions:
    """Settings of the image front end."""

    text: str | None = None
    object_box: tuple | None = None
    focal: float | None = None  # px; default: a 60-degree horizontal field of view
    occluded: tuple[str, ...] = ()  # fingers the user says are hidden
    # Joints MediaPipe places this far apart (fraction of the hand's size) in the image and in its mirror
    # image are taken as not visible; 1 or more turns the mirror pass off.
    max_disagreement: float = 0.06
    samples: int = 4
    seed: int = 0
    mirrored: bool = False
    device: str = "cpu"  # where refinement runs (the prior and hand model must be there too)
    # Each hand's own skeleton, fitted to its visible keypoints (frontend/fit.py: fit_skeleton); built-in hand only
    own_skeleton: bool = True
    views: bool = True  # the 3D figure (PNG) and viewer (HTML + plotly.min.js); the web page draws its own
