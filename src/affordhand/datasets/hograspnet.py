"""HOGraspNet (Cho et al., ECCV 2024) as published, converted to hand records.

Layout (from the data set's docs/data_structure.md; checked here only against that documentation and
small fake trees, not against the real download):
    ROOT/data/labeling_data/<date>_S<subject>_obj_<object>_grasp_<grasp>/trial_<k>/annotation/<cam>/<cam>_<frame>.json
    ROOT/data/source_data/<seq>/trial_<k>/rgb/<cam>/<cam>_<frame>.jpg          (1920 x 1080)
    ROOT/data/source_augmented/<seq>/trial_<k>/rgb_crop/<cam>/<cam>_<frame>.jpg (640 x 480 crops)
    ROOT/data/extra_data/<seq>/trial_<k>/{hand_mask,obj_mask}/<cam>/<cam>_<frame>.png
Cameras mas, sub1, sub2, sub3; the world origin is the mas camera. Joints are in OpenPose order.

Fields used: Mesh[0] (mano_side, mano_pose 45, mano_betas 10, mano_trans 3, class_id, class_name,
object_name), annotations[0].class_id, calibration.intrinsic, hand.mano_scale, hand.3D_pose_per_cam
(21 x 3, this camera's frame), hand.projected_2D_pose_per_cam (21 x 2 or 3, pixels), object.id / name,
actor.id, images.width / height.

Choices the documentation leaves open (each overridable):
- units of 3D_pose_per_cam: taken as millimetres when the wrist-to-middle-MCP distance exceeds 0.5 (it is
  about 0.09 m), else metres (`units`);
- global orientation: not among the documented fields, so it is recovered by registering the hand model
  (with mano_pose as finger pose) to the camera-frame joints (hand.align);
- splits follow the official loader (scripts/HOG_dataloader.py): s0 tests trial index 0 of each sequence
  (trials sorted by name); s1 trains on the first 73 subjects, which the official code takes in directory
  listing order: we sort by subject number instead, so the split does not depend on the file system;
  s2 tests camera sub3 (the last of mas, sub1, sub2, sub3); s3 tests objects 10, 02, 12, 20, 04, 06, 11;
  s4 tests grasps 23, 25, 29, 16.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from affordhand.data.objects import OBJECTS_BY_ID
from affordhand.errors import AffordhandError

CAMERAS = ("mas", "sub1", "sub2", "sub3")
SEQUENCE = re.compile(r"^(?P<date>\d+)_S(?P<subject>\d+)_obj_(?P<object>\d+)_grasp_(?P<grasp>\d+)$")


@dataclass
class SplitRule:
    """Which frames are test: by trial index (s0), subject (s1), camera (s2), object (s3) or grasp (s4)."""

    split: str = "s0"
    train_subjects: int = 73
    test_cameras: tuple[str, ...] = ("sub3",)
    test_objects: tuple[int, ...] = (10, 2, 12, 20, 4, 6, 11)
    test_grasps: tuple[int, ...] = (23, 25, 29, 16)
    subjects: list[int] = field(default_factory=list)  # all subjects, sorted; filled by the reader

    def is_test(self, subject: int, object_id: int, grasp: int, trial_index: int, camera: str) -> bool:
        """Return whether a frame belongs to the test part of the split."""
        if self.split == "s0":
            return trial_index == 0
        if self.split == "s1":
            return subject not in self.subjects[: self.train_subjects]
        if self.split == "s2":
            return camera in self.test_cameras
        if self.split == "s3":
            return object_id in self.test_objects
        if self.split == "s4":
            return grasp in self.test_grasps
        raise AffordhandError(f"unknown split {self.split!r}: s0, s1, s2, s3 or s4")


@dataclass
class Frame:
    """One annotation file and where it sits in the tree."""

    path: Path
    sequence: str
    trial: str
    trial_index: int
    camera: str
    frame: str
    subject: int
    object_id: int
    grasp: int


def iter_frames(root: Path, cams=CAMERAS) -> Iterator[Frame]:
    """Yield every annotation file under ROOT/data/labeling_data, sequences and trials in sorted order."""
    base = root / "data" / "labeling_data"
    if not base.is_dir():
        raise AffordhandError(f"{root}: no data/labeling_data folder (is this a HOGraspNet root?)")
    for seq_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        m = SEQUENCE.match(seq_dir.name)
        if not m:
            warnings.warn(f"skipping {seq_dir}: not a <date>_S<subject>_obj_<object>_grasp_<grasp> folder")
            continue
        trials = sorted(p for p in seq_dir.iterdir() if p.is_dir() and p.name.startswith("trial_"))
        for index, trial in enumerate(trials):
            for cam in cams:
                cam_dir = trial / "annotation" / cam
                if not cam_dir.is_dir():
                    continue
                for path in sorted(cam_dir.glob(f"{cam}_*.json")):
                    yield Frame(path, seq_dir.name, trial.name, index, cam, path.stem.split("_", 1)[1],
                                int(m["subject"]), int(m["object"]), int(m["grasp"]))


def _array(value, shape, name):
    arr = np.asarray(value, dtype=np.float64).squeeze()
    if arr.size == int(np.prod(shape)):
        arr = arr.reshape(shape)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has shape {list(np.shape(value))}, expected {list(shape)}")
    return arr


def _visibility(frame: Frame, root: Path, keypoints: np.ndarray, labels: Path | None, size) -> np.ndarray | None:
    """Return 21 visibility flags from a label file, else from the masks, else None."""
    if labels is not None:
        stem = labels / frame.sequence / frame.trial / frame.camera / frame.path.stem
        for candidate in (stem.with_suffix(".json"), stem.with_suffix(".txt")):
            if candidate.is_file():
                raw = candidate.read_text()
                values = json.loads(raw) if candidate.suffix == ".json" else raw.split()
                flags = np.asarray([float(v) for v in np.ravel(values)]) > 0.5
                if flags.shape != (21,):
                    raise ValueError(f"{candidate}: expected 21 visibility values")
                return flags
        return None
    extra = root / "data" / "extra_data" / frame.sequence / frame.trial
    hand_mask = extra / "hand_mask" / frame.camera / f"{frame.path.stem}.png"
    obj_mask = extra / "obj_mask" / frame.camera / f"{frame.path.stem}.png"
    if not (hand_mask.is_file() and obj_mask.is_file()):
        return None
    try:
        from PIL import Image
    except ImportError:
        raise AffordhandError("reading HOGraspNet masks needs Pillow: pip install 'affordhand[data]'") from None
    hand = np.asarray(Image.open(hand_mask).convert("L")) > 0
    obj = np.asarray(Image.open(obj_mask).convert("L")) > 0
    h, w = obj.shape
    sx, sy = (w / size[0], h / size[1]) if size else (1.0, 1.0)
    u = np.clip(np.round(keypoints[:, 0] * sx).astype(int), 0, w - 1)
    v = np.clip(np.round(keypoints[:, 1] * sy).astype(int), 0, h - 1)
    inside = (keypoints[:, 0] * sx >= 0) & (keypoints[:, 0] * sx < w) & (keypoints[:, 1] * sy >= 0) & (
        keypoints[:, 1] * sy < h)
    # A joint on the object's pixels and not on the hand's is hidden behind the object.
    return ~(inside & obj[v, u] & ~hand[v, u])


def convert_frame(frame: Frame, root: Path, labels: Path | None = None, units: str = "auto") -> dict:
    """Return a hand record (without global_orient and scale, which need the hand model) for one file."""
    data = json.loads(frame.path.read_text(encoding="utf-8-sig"))
    mesh = data["Mesh"][0]
    hand = data["hand"]
    joints = _array(hand["3D_pose_per_cam"], (21, 3), "hand.3D_pose_per_cam")
    span = np.linalg.norm(joints[9] - joints[0])
    if units == "mm" or (units == "auto" and span > 0.5):
        joints = joints / 1000.0
    kp = np.asarray(hand["projected_2D_pose_per_cam"], dtype=np.float64).squeeze()
    if kp.ndim != 2 or kp.shape[0] != 21 or kp.shape[1] < 2:
        raise ValueError(f"hand.projected_2D_pose_per_cam has shape {list(kp.shape)}, expected 21 x 2")
    kp = kp[:, :2]
    K = _array(data["calibration"]["intrinsic"], (3, 3), "calibration.intrinsic")
    object_id = int(data.get("object", {}).get("id", frame.object_id))
    obj = OBJECTS_BY_ID.get(object_id)
    taxonomy = int(data.get("annotations", [{}])[0].get("class_id", mesh.get("class_id", frame.grasp)))
    images = data.get("images", {})
    size = (images["width"], images["height"]) if "width" in images and "height" in images else None
    side = str(mesh.get("mano_side", "right")).lower()
    record = {
        "id": f"{frame.sequence}/{frame.trial}/{frame.camera}/{frame.frame}",
        "side": "left" if side.startswith("l") else "right",
        "hand_pose": _array(mesh["mano_pose"], (45,), "Mesh[0].mano_pose"),
        "betas": _array(mesh["mano_betas"], (10,), "Mesh[0].mano_betas"),
        "transl": joints[0],
        "joints3d": joints,
        "keypoints2d": kp,
        "K": K,
        "taxonomy_id": taxonomy,
        "object": obj.name if obj else str(mesh.get("object_name", object_id)),
        "subject": str(data.get("actor", {}).get("id", frame.subject)),
        "camera": frame.camera,
        "mano_trans": _array(mesh["mano_trans"], (3,), "Mesh[0].mano_trans"),
        "mano_scale": float(hand.get("mano_scale", 1.0)),
    }
    rgb = root / "data" / "source_data" / frame.sequence / frame.trial / "rgb" / frame.camera / f"{frame.path.stem}.jpg"
    if rgb.is_file():
        record["image"] = str(rgb)
    visible = _visibility(frame, root, kp, labels, size)
    if visible is not None:
        record["visible"] = visible
    return record


def convert_split(root: Path, out: Path, hand, split: str = "s0", part: str = "train", cams=CAMERAS,
                  limit: int | None = None, labels: Path | None = None, units: str = "auto",
                  rule: SplitRule | None = None) -> dict:
    """Convert one part (train or test) of a split to a record file; return the counts."""
    from affordhand.datasets.convert import convert_stream

    if part not in ("train", "test"):
        raise AffordhandError(f"HOGraspNet part must be train or test, not {part!r}")
    unknown = set(cams) - set(CAMERAS)
    if unknown:
        raise AffordhandError(f"unknown camera(s) {sorted(unknown)}: choose from {', '.join(CAMERAS)}")
    rule = rule or SplitRule(split=split)
    frames = list(iter_frames(root, cams))
    rule.subjects = sorted({f.subject for f in frames})
    frames = [f for f in frames if rule.is_test(f.subject, f.object_id, f.grasp, f.trial_index, f.camera) == (part == "test")]
    if limit:
        frames = frames[:limit]
    return convert_stream(frames, lambda f: convert_frame(f, root, labels, units), out, hand, total=len(frames),
                          label=f"hograspnet {rule.split} {part}")
