"""Hand detection and landmarks with MediaPipe Hands (pinned mediapipe==0.10.14, whose wheel ships the
palm-detection and hand-landmark models, so it runs offline through its `solutions.hands` API).

MediaPipe's 21 landmarks follow the same order as ours (wrist; thumb CMC, MCP, IP, tip; index ...; pinky).
Its handedness label assumes a mirrored (selfie) image; for ordinary photos we swap it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affordhand.errors import AffordhandError


@dataclass
class DetectedHand:
    """keypoints2d: (21, 2) px; world: (21, 3) m, MediaPipe's metric hand-centred landmarks (y down);
    side: right or left (for an ordinary, unmirrored photo); score: handedness confidence."""

    keypoints2d: np.ndarray
    world: np.ndarray
    side: str
    score: float


def read_image(path: str | Path) -> np.ndarray:
    """Return an RGB image (H, W, 3) uint8, or raise a clear error when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise AffordhandError(f"{path}: no such image")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise AffordhandError(f"{path}: cannot read this image ({exc})") from None


def detect_hands(image: np.ndarray, max_hands: int = 4, min_confidence: float = 0.3,
                 mirrored: bool = False) -> list[DetectedHand]:
    """Return the hands MediaPipe finds in an RGB image (possibly none)."""
    try:
        import mediapipe as mp
    except ImportError:
        raise AffordhandError("the image front end needs MediaPipe: pip install 'affordhand[image]'") from None
    h, w = image.shape[:2]
    with _quiet_native_logs(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=max_hands,
                                      min_detection_confidence=min_confidence) as hands:
            result = hands.process(np.ascontiguousarray(image))
    found = []
    for lm, world, handed in zip(result.multi_hand_landmarks or [], result.multi_hand_world_landmarks or [],
                                 result.multi_handedness or []):
        kp = np.array([[p.x * w, p.y * h] for p in lm.landmark])
        xyz = np.array([[p.x, p.y, p.z] for p in world.landmark])
        label = handed.classification[0].label.lower()
        if not mirrored:
            label = "right" if label == "left" else "left"
        found.append(DetectedHand(kp, xyz, label, float(handed.classification[0].score)))
    return found


@contextlib.contextmanager
def _quiet_native_logs():
    """Silence what MediaPipe's C++ side writes to file descriptor 2 (TFLite and absl start-up lines that
    say nothing to a user); Python's own errors still reach sys.stderr. AFFORDHAND_DEBUG=1 keeps them."""
    if os.environ.get("AFFORDHAND_DEBUG"):
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
