"""Video files: frames read with PyAV (FFmpeg's libraries; `pip install 'affordhand[image]'`) and an MP4 written
frame by frame (H.264 where the FFmpeg build has it, else MPEG-4 Part 2)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from affordhand.errors import AffordhandError


def _av():
    try:
        import av
    except ImportError:
        raise AffordhandError("video needs PyAV: pip install 'affordhand[image]'") from None
    return av


@dataclass
class Frame:
    """One decoded frame: its index in the clip (0-based, every frame counted), time (s) and RGB pixels."""

    index: int
    time: float
    rgb: np.ndarray


@dataclass
class ClipInfo:
    """What the clip's container says: frames per second, frame count (0 where unknown), width, height."""

    fps: float
    frames: int
    width: int
    height: int


def clip_info(path: str | Path) -> ClipInfo:
    """Return the clip's frame rate, frame count and size, or raise AffordhandError when it cannot be read."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise AffordhandError(f"{path}: no video stream in this file")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 30.0)
            return ClipInfo(fps, int(stream.frames or 0), stream.codec_context.width, stream.codec_context.height)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AffordhandError(f"{path}: cannot read this video ({exc.__class__.__name__}: {exc})") from None


def read_frames(path: str | Path, every: int = 1, max_frames: int | None = None) -> Iterator[Frame]:
    """Yield every `every`-th frame of a clip (indices 0, every, 2 every, ...), at most max_frames of them, as
    RGB arrays with their index and time in seconds; raise AffordhandError naming the file where the clip
    cannot be read (a decoding error partway says at which frame)."""
    av = _av()
    if every < 1:
        raise AffordhandError(f"--every must be a positive number of frames, got {every}")
    fps = clip_info(path).fps
    index, kept = 0, 0
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if max_frames is not None and kept >= max_frames:
                    break
                if index % every == 0:
                    # a container's edit list can start before 0; the clip's time starts at its first frame
                    time = max(float(frame.time), 0.0) if frame.time is not None else index / fps
                    yield Frame(index, time, frame.to_ndarray(format="rgb24"))
                    kept += 1
                index += 1
    except (av.error.FFmpegError, OSError) as exc:
        raise AffordhandError(f"{path}: cannot read this video past frame {index} ({exc})") from None


class VideoWriter:
    """An MP4 file written frame by frame (RGB arrays of one size; odd sizes are cropped by a pixel)."""

    def __init__(self, path: str | Path, fps: float):
        av = _av()
        self.path, self.fps = Path(path), fps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.path), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        from fractions import Fraction

        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        self.stream.pix_fmt = "yuv420p"
        self.size = None

    def write(self, rgb: np.ndarray) -> None:
        av = _av()
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2  # yuv420p needs even sides
        if self.size is None:
            self.size = (w, h)
            self.stream.width, self.stream.height = w, h
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> Path:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        return self.path

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
