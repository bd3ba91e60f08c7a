"""Hands in a clip (`affordhand video`): frames decoded with PyAV, MediaPipe in its video mode, the hands
linked into tracks, every detection fitted (batched over the clip), each track refined as one sequence
(refinement/sequence.py), then per-frame records, an overlay video and one HTML report.

MediaPipe gives no track ids and its handedness label flips from frame to frame, so tracks are made here:
a hand joins the track whose last hand lies nearest (its keypoints' mean, measured in hand sizes) if that is
within MAX_JUMP hand sizes and the track was seen in the last `max_gap` frames read; each track's side is the
vote of its frames' 3D fits (a right and a left hand fitted to MediaPipe's 3D landmarks, as for a photo), and
every frame of the track is then fitted as that side. One skeleton per track: fitted to up to SKELETON_FRAMES
of its frames, spread over the track.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from affordhand.data.records import write_records
from affordhand.data.video import clip_info, read_frames
from affordhand.errors import AffordhandError, check_range
from affordhand.hand.camera import project
from affordhand.hand.model import BuiltinHand
from affordhand.photo.detect import DetectedHand, VideoHands
from affordhand.photo.fit import PHOTO_FIT, fit_both_sides, fit_skeleton, initial_records
from affordhand.photo.options import ImageOptions, check_intrinsics
from affordhand.photo.pipeline import camera_for, for_side, joint_visibility, keypoint_confidence
from affordhand.refinement.loader import Refiner
from affordhand.refinement.pipeline import refine_batch, refine_records
from affordhand.refinement.settings import GuidedConfig, RefineConfig

MAX_JUMP = 1.5  # hand sizes a hand may move between the frames of one track
SKELETON_FRAMES = 12  # frames of a track its skeleton is fitted to


@dataclass
class VideoOptions:
    """What frames of a clip are read and how its tracks are refined."""

    every: int = 1  # read every N-th frame
    max_frames: int | None = None  # at most this many frames read
    max_gap: int = 10  # frames read that a track may miss before a hand there starts another
    per_frame: bool = False  # refine every frame alone (for comparison)
    # per-frame intrinsics (fx, fy, cx, cy) px by frame index (a cropped or zooming clip); others take the
    # image options' camera
    frame_cameras: dict | None = None

    def __post_init__(self):
        check_range("every", self.every, 1, integer=True)
        if self.max_frames is not None:
            check_range("max_frames", self.max_frames, 1, integer=True)
        check_range("max_gap", self.max_gap, 1, integer=True)
        for frame, camera in (self.frame_cameras or {}).items():
            check_intrinsics(camera, f"cameras: frame {frame}: intrinsics", f"cameras: frame {frame}: ")


@dataclass
class VideoResult:
    """What one clip gave: refined records (frame order, then track), the frames read, how many had a hand,
    the tracks, seconds per stage and the files written."""

    records: list[dict]
    frames: int
    with_hand: int
    tracks: int
    seconds: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)


DUPLICATE_IOU = 0.5  # two hands of one frame whose boxes overlap this much are one hand found twice


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Return the intersection over union of the keypoints' boxes of two hands (21, 2)."""
    lo, hi = np.maximum(a.min(0), b.min(0)), np.minimum(a.max(0), b.max(0))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    area = lambda k: float(np.prod(np.ptp(k, 0)))
    return inter / max(area(a) + area(b) - inter, 1e-9)


def distinct_hands(hands: list[DetectedHand]) -> list[DetectedHand]:
    """Return the hands of one frame without those MediaPipe found twice (boxes overlapping by more than
    DUPLICATE_IOU: the one with the higher handedness score is kept)."""
    kept: list[DetectedHand] = []
    for h in sorted(hands, key=lambda h: -h.score):
        if all(_box_iou(h.keypoints2d, k.keypoints2d) <= DUPLICATE_IOU for k in kept):
            kept.append(h)
    return kept


def link_tracks(detections: list[list[DetectedHand]], max_gap: int) -> list[list[tuple[int, int]]]:
    """Return tracks, each a list of (position of the frame among those read, index of the hand there), from
    the hands found in each frame read: greedy nearest first, one hand per track and frame (module
    docstring)."""
    tracks: list[list[tuple[int, int]]] = []
    centre = lambda h: h.keypoints2d.mean(0)
    size = lambda h: max(float(np.ptp(h.keypoints2d, 0).max()), 1.0)
    for t, hands in enumerate(detections):
        live = [k for k, tr in enumerate(tracks) if t - tr[-1][0] <= max_gap]
        pairs = []
        for k in live:
            last = detections[tracks[k][-1][0]][tracks[k][-1][1]]
            for i, h in enumerate(hands):
                pairs.append((float(np.linalg.norm(centre(h) - centre(last))) / size(last), k, i))
        taken_tracks, taken_hands = set(), set()
        for cost, k, i in sorted(pairs):
            if cost <= MAX_JUMP and k not in taken_tracks and i not in taken_hands:
                tracks[k].append((t, i))
                taken_tracks.add(k)
                taken_hands.add(i)
        tracks += [[(t, i)] for i in range(len(hands)) if i not in taken_hands]
    return tracks


def _detect(path: Path, options: ImageOptions, video: VideoOptions, info) -> tuple[list, list]:
    """Return (the frames read: (index, time, width, height), the hands found in each), with a progress bar."""
    from rich.progress import Progress

    from affordhand.progress import show_progress

    graph = VideoHands(mirrored=options.mirrored, flip_check=options.max_disagreement < 1)
    total = info.frames // video.every if info.frames else None
    if total is not None and video.max_frames is not None:
        total = min(total, video.max_frames)
    frames, found = [], []
    with Progress(disable=not show_progress()) as bar:
        task = bar.add_task("video: find hands", total=total)
        for frame in read_frames(path, video.every, video.max_frames):
            frames.append((frame.index, frame.time, frame.rgb.shape[1], frame.rgb.shape[0]))
            found.append(distinct_hands(graph.detect(frame.rgb, int(round(1000 * frame.time)))))
            bar.advance(task)
    return frames, found


def _camera(path: Path, frame: tuple, options: ImageOptions, video: VideoOptions) -> tuple[np.ndarray, str]:
    """Return a frame's intrinsics and where they come from: "cameras" (its line in --cameras), else as a
    photo's (intrinsics, focal, default)."""
    index, _, w, h = frame
    listed = (video.frame_cameras or {}).get(index)
    K, source = camera_for(path, w, h, replace(options, cameras=None, intrinsics=listed or options.intrinsics))
    return K, "cameras" if listed is not None else source


def _initial(path, frames, found, tracks, options, video, front) -> list[list[dict]]:
    """Return each track's initial records (frame order): every detection of the clip fitted at once, each
    track's frames as the side its frames' 3D fits vote for."""
    flat = [(k, t, i) for k, track in enumerate(tracks) for t, i in track]
    hands = [found[t][i] for _, t, i in flat]
    orient, pose, error = fit_both_sides(front, np.stack([h.world for h in hands]))
    is_left = np.zeros(len(flat), bool)
    for k in range(len(tracks)):
        rows = np.array([n for n, (kk, _, _) in enumerate(flat) if kk == k])
        votes = (error[rows, 1] < error[rows, 0]).mean()
        labels = np.mean([hands[n].side == "left" for n in rows])
        is_left[rows] = votes > 0.5 or (votes == 0.5 and labels > 0.5)
    cameras = {t: _camera(path, frames[t], options, video) for t in sorted({t for _, t, _ in flat})}
    Ks = np.stack([cameras[t][0] for _, t, _ in flat])
    ids = [f"{path.stem}/track{k}/{frames[t][0]:06d}" for k, t, _ in flat]
    records, _ = initial_records(front, hands, Ks, ids, fitted_sides=(is_left, (orient, pose, error)))
    out: list[list[dict]] = [[] for _ in tracks]
    for rec, (k, t, i), hand in zip(records, flat, hands):
        index, seconds = frames[t][:2]
        rec.update({"sequence": f"{path.stem}/track{k}", "frame": index, "time": seconds, "image": str(path)})
        rec["visible"] = joint_visibility(rec, hand, options)
        if options.weigh_doubt:
            rec["keypoint_confidence"] = keypoint_confidence(hand)
        rec["focal_px"], rec["focal_source"] = float(rec["K"][0, 0]), cameras[t][1]
        out[k].append(rec)
    return out


def _refine_track(records: list[dict], options: ImageOptions, video: VideoOptions, refiner: Refiner) -> list[dict]:
    """Return one track's refined records: its own skeleton, a fit again with it, then refinement of the track
    as one sequence (or frame by frame with video.per_frame)."""
    front, hand = refiner.hand, refiner.device_hand
    text = for_side(options.text, records[0]["side"]) if options.text else None
    if options.own_skeleton and type(hand) is BuiltinHand:
        pick = np.unique(np.linspace(0, len(records) - 1, SKELETON_FRAMES).round().astype(int))
        own = fit_skeleton(front, [records[i] for i in pick])
        fitted = refine_batch(records, RefineConfig(mode="fit", fit=PHOTO_FIT, per_frame=True), own, groups=[])
        for rec in fitted:
            rec.pop("refine_mode", None)
        records, hand = fitted, own.to(options.device)
    mode = "affordance" if text else "uncond"
    for rec in records:
        if text:
            rec["text"] = text
    guided = GuidedConfig(samples=options.samples)
    config = RefineConfig(mode=mode, seed=options.seed, per_frame=video.per_frame, guided=guided, fit=PHOTO_FIT)
    return refine_records(records, config, hand, refiner.prior, options.device, refiner.uncertainty)


def run_video(
    path: str | Path, out: str | Path | None, options: ImageOptions, video: VideoOptions, refiner: Refiner
) -> VideoResult:
    """Refine the hands of a clip; with out, write records.jsonl, overlay.mp4 and report.html there."""
    path = Path(path)
    options = replace(options, device=refiner.device)
    info = clip_info(path)
    start = time.perf_counter()
    frames, found = _detect(path, options, video, info)
    if not frames:
        raise AffordhandError(f"{path}: the video holds no frame")
    seconds = {"find hands": time.perf_counter() - start}
    tracks = link_tracks(found, video.max_gap)
    start = time.perf_counter()
    records = []
    if tracks:
        initial = _initial(path, frames, found, tracks, options, video, refiner.hand)
        for track in initial:
            records += _refine_track(track, options, video, refiner)
    records.sort(key=lambda r: (r["frame"], int(r["sequence"].rsplit("track", 1)[1])))
    seconds["fit and refine"] = time.perf_counter() - start
    with_hand = sum(bool(hands) for hands in found)
    result = VideoResult(records, len(frames), with_hand, len(tracks), seconds)
    if out is not None:
        result.files = write_outputs(path, Path(out), result, video, info.fps)
    return result


def write_outputs(path: Path, out: Path, result: VideoResult, video: VideoOptions, fps: float) -> dict:
    """Write the clip's records, its overlay video (the frames read, each hand's refined joints drawn) and
    report; return their paths."""
    from affordhand.data.video import VideoWriter
    from affordhand.report.html import video_report
    from affordhand.report.overlay import draw_hands

    out.mkdir(parents=True, exist_ok=True)
    files = {"records": out / "records.jsonl", "overlay": out / "overlay.mp4", "report": out / "report.html"}
    write_records(files["records"], result.records)
    by_frame: dict[int, list[dict]] = {}
    for rec in result.records:
        by_frame.setdefault(rec["frame"], []).append(rec)
    with VideoWriter(files["overlay"], fps / video.every) as writer:
        for frame in read_frames(path, video.every, video.max_frames):
            hands = []
            for rec in by_frame.get(frame.index, []):
                joints, K = torch.tensor(rec["joints3d"])[None], torch.tensor(rec["K"])[None]
                label = f"{rec['sequence'].rsplit('/', 1)[-1]} {rec['side']}"
                hands.append((project(joints, K)[0].numpy(), rec["visible"], label))
            writer.write(draw_hands(frame.rgb, hands))
    video_report(files["report"], path.name, result, files["overlay"].name)
    print(f"{path}: {result.with_hand} of {result.frames} frames read have a hand", file=sys.stderr)
    return files
