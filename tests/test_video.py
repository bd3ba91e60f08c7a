"""`affordhand video` and its parts: decoding and writing clips, tracks, the command's outputs and errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from affordhand.data.records import read_records
from affordhand.photo.detect import DetectedHand

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "photos" / "fingerpose_halfcurl.jpg"


def _hand(x: float, y: float, size: float = 100.0, score: float = 0.9) -> DetectedHand:
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 7), np.linspace(0, 1, 3)), -1).reshape(21, 2)
    return DetectedHand(grid * size + (x, y), np.zeros((21, 3)), "right", score)


def test_tracks_follow_the_nearest_hand_drop_duplicates_and_end_after_a_gap():
    from affordhand.photo.video import distinct_hands, link_tracks

    frames = [
        [_hand(0, 0), _hand(400, 0)],
        [_hand(420, 0), _hand(30, 0)],  # listed in the other order: still the same two tracks
        [_hand(40, 0), _hand(45, 2, score=0.5)],  # one hand found twice, the other not found
        [],
        [_hand(440, 0)],  # the right-hand track is back, three frames after it was last seen
        [_hand(1000, 0)],  # too far from any track: a new one
    ]
    frames = [distinct_hands(f) for f in frames]
    assert len(frames[2]) == 1 and frames[2][0].score == 0.9
    tracks = link_tracks(frames, max_gap=3)
    assert tracks == [[(0, 0), (1, 1), (2, 0)], [(0, 1), (1, 0), (4, 0)], [(5, 0)]]
    assert link_tracks(frames, max_gap=2)[1] == [(0, 1), (1, 0)]  # a longer gap ends the track


def _clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    from affordhand.data.video import VideoWriter

    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def _panning(n: int, blank: tuple = ()) -> list[np.ndarray]:
    """n frames of the shipped photo panned by 4 px a frame (blank ones grey)."""
    from affordhand.data.images import read_image

    photo = read_image(EXAMPLE)
    h, w = photo.shape[:2]
    frames = []
    for k in range(n):
        frame = photo[:, 4 * k : w - 4 * (n - k)]
        frames.append(np.full_like(frame, 128) if k in blank else frame)
    return frames


def test_a_clip_written_reads_back_frame_by_frame(tmp_path):
    from affordhand.data.video import clip_info, read_frames

    frames = [np.full((48, 64, 3), 20 * k, np.uint8) for k in range(6)]
    clip = _clip(tmp_path / "grey.mp4", frames, fps=12.5)
    info = clip_info(clip)
    assert (info.width, info.height, info.fps) == (64, 48, 12.5)
    read = list(read_frames(clip, every=2))
    assert [f.index for f in read] == [0, 2, 4] and [round(f.time, 3) for f in read] == [0.0, 0.16, 0.32]
    assert all(abs(float(f.rgb.mean()) - 20 * f.index) < 3 for f in read)  # lossy, but the frames are these
    assert [f.index for f in read_frames(clip, max_frames=2)] == [0, 1]


@pytest.mark.slow
def test_video_command_tracks_a_hand_and_writes_records_overlay_and_report(tmp_path):
    from affordhand.data.video import read_frames

    clip = _clip(tmp_path / "pan.mp4", _panning(8, blank=(5,)))
    out = tmp_path / "out"
    text = "A right hand holds a pen, using a tripod grasp."
    done = run_cli("video", str(clip), "--out", str(out), "--text", text, "--focal", "600", "--samples", "2")
    assert done.returncode == 0, done.stderr
    assert "7 of 8 frames read have a hand" in done.stderr and "1 tracks over 7 of 8 frames" in done.stdout
    records = read_records(out / "records.jsonl").records
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4, 6, 7]
    assert {r["sequence"] for r in records} == {"pan/track0"} and records[1]["time"] == pytest.approx(0.1)
    assert all(r["text"].startswith(f"A {r['side']} hand") and r["focal_source"] == "focal" for r in records)
    assert len({r["scale"] for r in records}) == 1  # one hand, one size
    # the refined hand sits on the photo: within 10 px of MediaPipe's keypoints for the seen joints
    for r in records:
        import torch

        from affordhand.hand.camera import project

        uv = project(torch.as_tensor(r["joints3d"])[None], torch.as_tensor(r["K"])[None])[0].numpy()
        assert np.linalg.norm(uv - r["keypoints2d"], axis=-1)[r["visible"]].mean() < 10.0
    assert len(list(read_frames(out / "overlay.mp4"))) == 8
    report = (out / "report.html").read_text()
    assert '<video src="overlay.mp4"' in report and "pan/track0" in report and "1 without" in report


def test_video_errors_are_one_line_and_a_clip_without_hands_is_not_a_success(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 but no video at all" * 10)
    done = run_cli("video", str(broken), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error:"), done.stderr
    assert "broken.mp4: cannot read this video" in done.stderr
    grey = _clip(tmp_path / "grey.mp4", [np.full((64, 64, 3), 128, np.uint8)] * 3)
    done = run_cli("video", str(grey), "--out", str(tmp_path / "g"))
    assert done.returncode == 1 and "no hand found in any of the 3 frames read" in done.stderr
    for flag, value, message in (("--every", "0", "every must be"), ("--max-frames", "-1", "max_frames must be")):
        done = run_cli("video", str(grey), "--out", str(tmp_path / "g"), flag, value)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    cameras = tmp_path / "cameras.jsonl"
    cameras.write_text(json.dumps({"frame": -1, "K": np.eye(3).tolist()}) + "\n")
    done = run_cli("video", str(grey), "--out", str(tmp_path / "g"), "--cameras", str(cameras))
    assert done.returncode == 2 and "cameras.jsonl:1: expected" in done.stderr
    assert (
        not (tmp_path / "g" / "records.jsonl").exists() or read_records(tmp_path / "g" / "records.jsonl").records == []
    )


@pytest.mark.slow
def test_refine_video_from_python_writes_nothing_without_out_and_can_go_per_frame(tmp_path):
    import affordhand as ah

    clip = _clip(tmp_path / "pan.mp4", _panning(5))
    frame_K = {k: [[600.0, 0, 300], [0, 600.0, 320], [0, 0, 1]] for k in range(5)}
    joint = ah.refine_video(clip, samples=2, frame_K=frame_K, every=2)
    assert [r["frame"] for r in joint] == [0, 2, 4] and all(r["focal_source"] == "cameras" for r in joint)
    assert all(r["K"][0, 2] == 300 for r in joint) and list(tmp_path.iterdir()) == [clip]
    alone = ah.refine_video(clip, samples=2, frame_K=frame_K, every=2, per_frame=True)
    assert [r["id"] for r in alone] == [r["id"] for r in joint]
    assert any(not np.allclose(a["hand_pose"], b["hand_pose"], atol=1e-4) for a, b in zip(alone, joint))


def test_per_frame_cameras_are_checked_before_any_frame_is_read():
    from affordhand.errors import AffordhandError
    from affordhand.photo.video import VideoOptions

    with pytest.raises(AffordhandError, match="cameras: frame 3: fx"):
        VideoOptions(frame_cameras={3: (0.0, 500.0, 320.0, 240.0)})
