"""Hand detection and landmarks with MediaPipe Hands, through either of its two APIs:

- `solutions.hands` (mediapipe 0.10.14, pinned for Python < 3.13): its wheel ships the palm-detection and
  hand-landmark models, so it runs offline with nothing to download;
- the Tasks API's `HandLandmarker` (newer wheels, Python 3.13 on), whose wheels ship no model: it reads
  `hand_landmarker.task` from $AFFORDHAND_HAND_LANDMARKER, else from the cache folder
  (~/.cache/affordhand/hand_landmarker.task, or $AFFORDHAND_CACHE_DIR); download it once from LANDMARKER_URL.

The first API that the installed mediapipe has is used; AFFORDHAND_MEDIAPIPE_API=tasks chooses the second.

MediaPipe's 21 landmarks follow the same order as ours (wrist; thumb CMC, MCP, IP, tip; index ...; pinky).
Its handedness label assumes a mirrored (selfie) image; for ordinary photos we swap it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affordhand.data.images import read_image  # noqa: F401  (the front end's reader)
from affordhand.errors import AffordhandError

_LOCK = threading.Lock()
_GRAPHS: dict[tuple, object] = {}
LANDMARKER_URL = (
    "https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/latest/"
    "hand_landmarker.task"
)


@dataclass
class _Landmarks:
    """One hand as either API gives it: normalised image points (21, 2), world points (21, 3) m, MediaPipe's
    handedness label (for a mirrored image) and its score."""

    image: np.ndarray
    world: np.ndarray
    label: str
    score: float


class _SolutionsGraph:
    """mediapipe.solutions.hands (the API of 0.10.14, whose wheel carries the models); in video mode it tracks
    the hands from frame to frame (time_ms is then unused: frames come in order)."""

    def __init__(self, mp, max_hands: int, min_confidence: float, video: bool = False):
        self.graph = mp.solutions.hands.Hands(
            static_image_mode=not video,
            max_num_hands=max_hands,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def process(self, rgb: np.ndarray, time_ms: int | None = None) -> list[_Landmarks]:
        result = self.graph.process(rgb)
        pairs = zip(result.multi_hand_landmarks or [], result.multi_hand_world_landmarks or [])
        return [
            _Landmarks(
                np.array([[p.x, p.y] for p in lm.landmark]),
                np.array([[p.x, p.y, p.z] for p in world.landmark]),
                handed.classification[0].label,
                float(handed.classification[0].score),
            )
            for (lm, world), handed in zip(pairs, result.multi_handedness or [])
        ]


class _TasksGraph:
    """mediapipe.tasks' HandLandmarker (newer wheels), on a hand_landmarker.task model file."""

    def __init__(self, mp, max_hands: int, min_confidence: float, video: bool = False):
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(landmarker_model())),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_hands=max_hands,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self.mp, self.graph, self.video = mp, vision.HandLandmarker.create_from_options(options), video

    def process(self, rgb: np.ndarray, time_ms: int | None = None) -> list[_Landmarks]:
        image = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=rgb)
        result = self.graph.detect_for_video(image, int(time_ms or 0)) if self.video else self.graph.detect(image)
        pairs = zip(result.hand_landmarks or [], result.hand_world_landmarks or [])
        return [
            _Landmarks(
                np.array([[p.x, p.y] for p in lm]),
                np.array([[p.x, p.y, p.z] for p in world]),
                handed[0].category_name,
                float(handed[0].score),
            )
            for (lm, world), handed in zip(pairs, result.handedness or [])
        ]


def landmarker_model() -> Path:
    """Return the hand_landmarker.task file the Tasks API reads, or raise AffordhandError saying where to
    put it."""
    given = os.environ.get("AFFORDHAND_HAND_LANDMARKER")
    folder = os.environ.get("AFFORDHAND_CACHE_DIR", "")
    if not folder or folder.lower() == "off":
        folder = str(Path.home() / ".cache" / "affordhand")
    path = Path(given) if given else Path(folder) / "hand_landmarker.task"
    if not path.is_file():
        raise AffordhandError(
            f"this mediapipe has only the Tasks API, which needs its hand model: download {LANDMARKER_URL} "
            f"to {path} (or set AFFORDHAND_HAND_LANDMARKER to the file)"
        )
    return path


@dataclass
class DetectedHand:
    """keypoints2d: (21, 2) px; world: (21, 3) m, MediaPipe's metric hand-centred landmarks (y down);
    side: right or left (for an ordinary, unmirrored photo); score: handedness confidence;
    disagreement: (21,) per-joint distance between the keypoints found in the image and in its mirror
    image (mapped back), as a fraction of the hand's size; nan where the mirror pass missed the hand."""

    keypoints2d: np.ndarray
    world: np.ndarray
    side: str
    score: float
    disagreement: np.ndarray | None = None


def detect_hands(
    image: np.ndarray, max_hands: int = 4, min_confidence: float = 0.3, mirrored: bool = False, flip_check: bool = True
) -> list[DetectedHand]:
    """Return the hands MediaPipe finds in an RGB image (possibly none).

    MediaPipe Hands gives no per-landmark confidence (its visibility fields are unset), so with flip_check
    the image is also run mirrored and each joint's disagreement between the two passes is kept: a joint
    MediaPipe is unsure of moves between them (`python benchmarks/photos.py` prints how the disagreement
    follows the error on annotated photos)."""
    with _LOCK, warnings.catch_warnings():  # one graph per setting, kept for the process; not thread-safe
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        hands = _landmarker(max_hands, min_confidence)
        found = _hands(hands.process(np.ascontiguousarray(image)), image.shape, mirrored)
        if flip_check and found:
            flipped = _hands(hands.process(np.ascontiguousarray(image[:, ::-1])), image.shape, mirrored)
            _add_disagreement(found, flipped, image.shape[1])
    return found


def warm_up(max_hands: int = 4, min_confidence: float = 0.3) -> None:
    """Start MediaPipe's graph now (from the main thread, where its start-up lines can be silenced), so
    that a server's request threads never print them."""
    with _LOCK:
        _landmarker(max_hands, min_confidence)


def _landmarker(max_hands: int, min_confidence: float):
    """Return the MediaPipe Hands graph for these settings, made and started once (call under _LOCK)."""
    api = os.environ.get("AFFORDHAND_MEDIAPIPE_API", "auto"), os.environ.get("AFFORDHAND_HAND_LANDMARKER")
    key = (max_hands, min_confidence, *api)
    if key not in _GRAPHS:
        _GRAPHS[key] = _new_graph(max_hands, min_confidence, video=False)
    return _GRAPHS[key]


def _new_graph(max_hands: int, min_confidence: float, video: bool):
    """Return a new MediaPipe Hands graph of the installed API, started (its native start-up lines silenced)."""
    try:
        import mediapipe as mp
    except ImportError:
        raise AffordhandError("the image front end needs MediaPipe: pip install 'affordhand[image]'") from None
    legacy = hasattr(getattr(mp, "solutions", None), "hands")
    use_tasks = os.environ.get("AFFORDHAND_MEDIAPIPE_API", "auto") == "tasks" or not legacy
    with _quiet_native_logs(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
        graph = (_TasksGraph if use_tasks else _SolutionsGraph)(mp, max_hands, min_confidence, video)
        graph.process(np.zeros((64, 64, 3), np.uint8), 0)  # MediaPipe's native start-up lines come here
    return graph


class VideoHands:
    """MediaPipe Hands in its video mode, for one clip: a graph of its own that tracks the hands from frame to
    frame (the photos' cached graphs are stateless), and, with flip_check, a second one on the mirrored
    frames for each joint's disagreement (as detect_hands)."""

    def __init__(self, max_hands: int = 4, min_confidence: float = 0.3, mirrored: bool = False, flip_check=True):
        self.mirrored, self.clock = mirrored, 0
        self.graph = _new_graph(max_hands, min_confidence, video=True)  # started on a blank frame at 0 ms
        self.flipped = _new_graph(max_hands, min_confidence, video=True) if flip_check else None

    def detect(self, image: np.ndarray, time_ms: int) -> list[DetectedHand]:
        """Return the hands in the clip's next frame (RGB), shown at time_ms (increasing)."""
        self.clock = clock = max(self.clock + 1, time_ms + 1)  # after the start-up frame, strictly increasing
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
            found = _hands(self.graph.process(np.ascontiguousarray(image), clock), image.shape, self.mirrored)
            if self.flipped is not None:
                mirror = self.flipped.process(np.ascontiguousarray(image[:, ::-1]), clock)
                if found:
                    _add_disagreement(found, _hands(mirror, image.shape, self.mirrored), image.shape[1])
        return found


def _add_disagreement(found: list[DetectedHand], flipped: list[DetectedHand], width: int) -> None:
    """Set each hand's per-joint disagreement with the nearest hand of the mirror pass (mapped back)."""
    # Keypoints are continuous image coordinates (MediaPipe's normalised x times the width), so the mirror maps
    # x to width - x, not width - 1 - x
    back = [np.c_[width - g.keypoints2d[:, 0], g.keypoints2d[:, 1]] for g in flipped]
    for hand in found:
        size = max(float(np.ptp(hand.keypoints2d, 0).max()), 1.0)
        dist = [np.linalg.norm(k - hand.keypoints2d, axis=1) / size for k in back]
        best = min(dist, key=np.mean, default=None)
        # A mirror-pass hand more than a third of the hand's size away on average is another hand.
        hand.disagreement = best if best is not None and best.mean() < 0.33 else np.full(21, np.nan)


def _hands(found: list[_Landmarks], shape, mirrored: bool) -> list[DetectedHand]:
    h, w = shape[:2]
    hands = []
    for lm in found:
        label = lm.label.lower()
        if not mirrored:
            label = "right" if label == "left" else "left"
        hands.append(DetectedHand(lm.image * (w, h), lm.world, label, lm.score))
    return hands


@contextlib.contextmanager
def _quiet_native_logs():
    """Silence what MediaPipe's C++ side writes to file descriptor 2 (TFLite and absl start-up lines that
    say nothing to a user); Python's own errors still reach sys.stderr. AFFORDHAND_DEBUG=1 keeps them.
    Only the main thread swaps the descriptor; elsewhere the lines are let through."""
    if os.environ.get("AFFORDHAND_DEBUG"):
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        yield  # fd 2 belongs to the whole process: a thread must never swap it (a server's log would go)
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
