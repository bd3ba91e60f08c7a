"""HOGraspNet (Cho et al., ECCV 2024) as published, converted to hand records.

Layout and conventions, read against the authors' own code (UVR-WJCHO/HOGraspNet scripts/HOG_dataloader.py,
scripts/util/utils.py, visualization.py; the annotation tool UVR-WJCHO/HOnnotate_OXR, which wrote the files):
    ROOT/data/labeling_data/<date>_S<subject>_obj_<object>_grasp_<grasp>/trial_<k>/annotation/<cam>/<cam>_<frame>.json
    ROOT/data/source_data/<seq>/trial_<k>/rgb/<cam>/<cam>_<frame>.jpg          (1920 x 1080, full download)
    ROOT/data/source_augmented/<seq>/trial_<k>/rgb_crop/<cam>/<cam>_<frame>.jpg (640 x 480 crops)
    ROOT/data/extra_data/<seq>/trial_<k>/{hand_mask,obj_mask}/<cam>/<cam>_<frame>.png (640 x 480, crop-aligned)
- Cameras mas, sub1, sub2, sub3; the world frame is the mas camera's.
- Units are centimetres: `hand.3D_pose_per_cam` (21 x 3, OpenPose order, in this camera's frame) is in cm (the
  tool's `key_bone_len = 10.0  # cm`, `z_root = 65.0`). `--units auto` (default) takes the unit in which
  the wrist-to-middle-knuckle distance is a hand's (0.04-0.2 m); an explicit unit is checked the same way.
- `Mesh[0].mano_trans` is the global rotation (axis-angle, world frame), not a translation: the tool writes
  `mano_trans = pred['rot']` and visualization.py feeds it to MANO as the root rotation. In camera c the
  orientation is R_ext(c)[:3, :3] @ Rodrigues(mano_trans), with `calibration.extrinsic` (3 x 4, world to
  camera). Where a file lacks it, the orientation is registered to the joints (hand.align) and counted.
  The hand's position is its wrist, 3D_pose_per_cam[0]; `mano_pose` is the finger pose about the flat hand.
- Crops and masks: `extractBbox` centres a 640 x 480 box on the 2D pose's bounding-box centre, clamped to
  the 1920 x 1080 frame; the crop's pixel (u', v') is (u - int(x0), v - int(y0)). Masks are looked up
  there (full-frame masks are also accepted). Without the full-size image, a record points at the crop,
  with K and keypoints shifted by the crop's origin.
- Ids: `<seq>/<trial>/<cam>/<frame>`, unique over the data set (file names such as mas_0.jpg repeat in
  every trial). Each record's `sequence` is `<seq>/<trial>/<cam>` (one camera's view of one trial) and its
  `frame` the file's frame number.
- Splits follow the official loader: s0 tests trial index 0 of each sequence (trials sorted by name); s1
  trains on the first 73 subjects, which the official code takes in directory-listing order: we sort by
  subject number instead, so the split does not depend on the file system (an open difference); s2 tests
  camera sub3; s3 tests objects 10, 02, 12, 20, 04, 06, 11; s4 tests grasps 23, 25, 29, 16.
Open, handled by not depending on them: the extrinsic translation's unit (mm or cm differs between versions
of the tool; only its rotation is used) and whether subjects 101/102 (renumbered 48/49 in `actor.id`)
were also renamed in the folder names.
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
UNITS = {"cm": 0.01, "mm": 0.001, "m": 1.0}  # metres per unit; auto tries them in this order
HAND_SPAN_M = (0.04, 0.2)  # wrist to middle knuckle (MCP) of a hand, metres
CROP = (640, 480)  # extractBbox's crop, pixels
FRAME = (1920, 1080)  # the full frame, pixels
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
                    yield Frame(
                        path,
                        seq_dir.name,
                        trial.name,
                        index,
                        cam,
                        path.stem.split("_", 1)[1],
                        int(m["subject"]),
                        int(m["object"]),
                        int(m["grasp"]),
                    )


def _array(value, shape, name):
    arr = np.asarray(value, dtype=np.float64).squeeze()
    if arr.size == int(np.prod(shape)):
        arr = arr.reshape(shape)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} has shape {list(np.shape(value))}, expected {list(shape)}")
    return arr


def crop_origin(keypoints: np.ndarray, size=FRAME) -> tuple[int, int]:
    """Return the pixel origin of the 640 x 480 crop that extractBbox cuts around a 2D pose."""
    origin = []
    for axis, (crop, full) in enumerate(zip(CROP, size)):
        centre = (keypoints[:, axis].min() + keypoints[:, axis].max()) / 2
        low = max(0.0, centre - crop / 2)
        if low + crop > full:
            low = full - crop
        origin.append(int(low))
    return origin[0], origin[1]


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
    hand = np.asarray(Image.open(hand_mask).convert("L")) > 127
    obj = np.asarray(Image.open(obj_mask).convert("L")) > 127
    if obj.shape != hand.shape:
        raise ValueError(f"{obj_mask.name}: hand and object masks differ in size")
    if obj.shape == (CROP[1], CROP[0]):  # as published: the crop's pixels
        uv = keypoints - np.asarray(crop_origin(keypoints, size))
    elif obj.shape == (size[1], size[0]):
        uv = keypoints
    else:
        raise ValueError(
            f"{obj_mask.name}: a {obj.shape[1]}x{obj.shape[0]} mask is neither the 640x480 crop nor "
            f"the {size[0]}x{size[1]} frame"
        )
    h, w = obj.shape
    u, v = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    u, v = np.clip(u, 0, w - 1), np.clip(v, 0, h - 1)
    # A joint on the object's pixels and not on the hand's is hidden behind the object.
    return ~(inside & obj[v, u] & ~hand[v, u])


def metres_per_unit(joints: np.ndarray, units: str) -> float:
    """Return the factor to metres of the joints' unit: the given one, checked, or (auto) the one in which
    the wrist-to-middle-knuckle distance is a hand's."""
    span = float(np.linalg.norm(joints[9] - joints[0]))
    if units == "auto":
        for name, factor in UNITS.items():
            if HAND_SPAN_M[0] <= span * factor <= HAND_SPAN_M[1]:
                return factor
        raise ValueError(
            f"hand.3D_pose_per_cam: wrist to middle knuckle is {span:.4g}, a hand's in no unit ({', '.join(UNITS)})"
        )
    if units not in UNITS:
        raise AffordhandError(f"unknown --units {units!r}: auto, {', '.join(UNITS)}")
    if not HAND_SPAN_M[0] <= span * UNITS[units] <= HAND_SPAN_M[1]:
        raise ValueError(
            f"hand.3D_pose_per_cam: in {units} the wrist is {span * UNITS[units]:.3g} m from the "
            "middle knuckle, not a hand's 0.04-0.2 m: wrong --units?"
        )
    return UNITS[units]


def camera_orientation(mesh: dict, calibration: dict, camera: str) -> np.ndarray | None:
    """Return the hand's global orientation (axis-angle) in this camera: R_ext @ R(mano_trans), where
    mano_trans is the world-frame root rotation; None where the file does not say."""
    import roma
    import torch

    if mesh.get("mano_trans") is None:
        return None
    rot = torch.as_tensor(_array(mesh["mano_trans"], (3,), "Mesh[0].mano_trans"))
    ext = calibration.get("extrinsic")
    if ext is None:
        if camera != "mas":  # the world frame is the mas camera's; any other needs its extrinsic
            return None
        R_ext = torch.eye(3, dtype=torch.float64)
    else:
        R_ext = roma.special_procrustes(torch.as_tensor(_array(ext, (3, 4), "calibration.extrinsic")[:, :3]))
    return roma.rotmat_to_rotvec(R_ext @ roma.rotvec_to_rotmat(rot)).numpy()


def convert_frame(frame: Frame, root: Path, labels: Path | None = None, units: str = "auto") -> dict:
    """Return a hand record for one annotation file (without `scale`, which needs the hand model; without
    `global_orient` where the file has no mano_trans, to be registered)."""
    data = json.loads(frame.path.read_text(encoding="utf-8-sig"))
    mesh = data["Mesh"][0]
    hand = data["hand"]
    joints = _array(hand["3D_pose_per_cam"], (21, 3), "hand.3D_pose_per_cam")
    joints = joints * metres_per_unit(joints, units)
    kp = np.asarray(hand["projected_2D_pose_per_cam"], dtype=np.float64).squeeze()
    if kp.ndim != 2 or kp.shape[0] != 21 or kp.shape[1] < 2:
        raise ValueError(f"hand.projected_2D_pose_per_cam has shape {list(kp.shape)}, expected 21 x 2")
    kp = kp[:, :2]
    K = _array(data["calibration"]["intrinsic"], (3, 3), "calibration.intrinsic")
    object_id = int(data.get("object", {}).get("id", frame.object_id))
    obj = OBJECTS_BY_ID.get(object_id)
    taxonomy = int(data.get("annotations", [{}])[0].get("class_id", mesh.get("class_id", frame.grasp)))
    images = data.get("images", {})
    size = (int(images["width"]), int(images["height"])) if "width" in images and "height" in images else FRAME
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
        "sequence": f"{frame.sequence}/{frame.trial}/{frame.camera}",  # one camera's view of one trial
        "mano_scale": float(hand.get("mano_scale", 1.0)),
    }
    if frame.frame.isdigit():
        record["frame"] = int(frame.frame)
    orient = camera_orientation(mesh, data.get("calibration", {}), frame.camera)
    record["orientation_source"] = "mano_trans" if orient is not None else "registration"
    if orient is not None:
        record["global_orient"] = orient
    visible = _visibility(frame, root, kp, labels, size)
    if visible is not None:
        record["visible"] = visible
    tail = Path(frame.sequence) / frame.trial
    full = root / "data" / "source_data" / tail / "rgb" / frame.camera / f"{frame.path.stem}.jpg"
    crop = root / "data" / "source_augmented" / tail / "rgb_crop" / frame.camera / f"{frame.path.stem}.jpg"
    if full.is_file():
        record["image"] = str(full)
    elif crop.is_file():  # the default download has only crops: K and keypoints move with the crop
        ox, oy = crop_origin(kp, size)
        record.update(image=str(crop), crop_origin=[ox, oy], keypoints2d=kp - [ox, oy])
        record["K"] = K.copy()
        record["K"][0, 2] -= ox
        record["K"][1, 2] -= oy
    return record


def convert_split(
    root: Path,
    out: Path,
    hand,
    split: str = "s0",
    part: str = "train",
    cams=CAMERAS,
    limit: int | None = None,
    labels: Path | None = None,
    units: str = "auto",
    rule: SplitRule | None = None,
) -> dict:
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
    frames = [
        f for f in frames if rule.is_test(f.subject, f.object_id, f.grasp, f.trial_index, f.camera) == (part == "test")
    ]
    if limit:
        frames = frames[:limit]
    return convert_stream(
        frames,
        lambda f: convert_frame(f, root, labels, units),
        out,
        hand,
        total=len(frames),
        label=f"hograspnet {rule.split} {part}",
    )
