"""HO3D v3 (Hampali et al., CVPR 2020; v3 release) meta files converted to hand records.

Layout (from the data set's documentation and its code, shreyashampali/ho3d; tested on pickles the tests build):
    ROOT/{train,evaluation}/<sequence>/meta/<frame>.pkl   and   .../rgb/<frame>.jpg
Each pickle holds a dict with handPose (48: global rotation + 15 joints, axis-angle), handTrans (3),
handBeta (10), handJoints3D (21 x 3, MANO joint order with the five tips last; only the wrist in the
evaluation part), camMat (3 x 3) and objName. The pickles are read with a restricted unpickler that admits
numpy arrays and builtins only.

HO3D's camera frame is OpenGL's (y up, z toward the viewer); ours has y down and z forward, so points and
the global rotation are turned by diag(1, -1, -1). Its joints are reordered to OpenPose order. We take
handPose[3:] as the finger pose about the flat hand (MANO with flat_hand_mean), as HO3D's own tools do.

The evaluation part (read against shreyashampali/ho3d, eval.py and pred.py): its pickles hold only the root
joint, a hand box and camMat. The official set is the list in ROOT/evaluation.txt (`<seq>/<frame>` per
line), in the order of the separately released ground truth `evaluation_xyz.json` (21 x 3 per frame, MANO
joint order with the tips last, OpenGL frame, metres; `--gt`). Without it the records carry no joints, and
the converter says so. HO3D's fingertips are its own vertices, a few mm from HOGraspNet's (manopth) and
HaMeR's: joint errors against HO3D include that difference.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import roma
import torch

from affordhand.data.safe_pickle import safe_loads
from affordhand.errors import AffordhandError

# HO3D joint i -> OpenPose joint order (wrist; thumb; index; middle; ring; pinky, each base to tip).
HO3D_TO_OPENPOSE = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
OPENGL_TO_CV = np.diag([1.0, -1.0, -1.0])


def iter_meta(root: Path, part: str) -> list[Path]:
    """Return the meta files of a part ('train' or 'evaluation'): for evaluation, those of the official list
    ROOT/evaluation.txt in its order (when it is there); otherwise every pickle, sorted."""
    if part not in ("train", "evaluation"):
        raise AffordhandError(f"HO3D part must be train or evaluation, not {part!r}")
    base = root / part
    if not base.is_dir():
        raise AffordhandError(f"{root}: no {part}/ folder (is this an HO3D v3 root?)")
    listed = evaluation_list(root) if part == "evaluation" else None
    if listed is not None:
        return [base / seq / "meta" / f"{frame}.pkl" for seq, frame in listed]
    return sorted(base.glob("*/meta/*.pkl"))


def evaluation_list(root: Path) -> list[tuple[str, str]] | None:
    """Return the official evaluation frames (ROOT/evaluation.txt, `<seq>/<frame>` per line), or None."""
    path = root / "evaluation.txt"
    if not path.is_file():
        return None
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            parts = line.strip().split("/")
            if len(parts) != 2:
                raise AffordhandError(f"{path}:{lineno}: expected <sequence>/<frame>, got {line.strip()!r}")
            out.append((parts[0], parts[1]))
    return out


def load_evaluation_joints(path: Path, frames: list[tuple[str, str]] | None) -> dict[str, np.ndarray]:
    """Return {"<seq>/<frame>": joints (21, 3) in our camera frame and OpenPose order} from the released
    evaluation_xyz.json, whose entries follow evaluation.txt's order."""
    if frames is None:
        raise AffordhandError("--gt needs ROOT/evaluation.txt, the list its entries follow")
    try:
        xyz = np.asarray(json.loads(Path(path).read_text()), dtype=np.float64)
    except (OSError, ValueError, RecursionError) as exc:
        raise AffordhandError(f"{path}: not a readable evaluation_xyz.json ({exc})") from None
    if xyz.ndim != 3 or xyz.shape[1:] != (21, 3) or len(xyz) != len(frames):
        raise AffordhandError(
            f"{path}: {list(xyz.shape)} joints for {len(frames)} listed frames; expected [{len(frames)}, 21, 3]"
        )
    joints = xyz[:, list(HO3D_TO_OPENPOSE)] @ OPENGL_TO_CV.T
    return {f"{seq}/{frame}": j for (seq, frame), j in zip(frames, joints)}


def load_meta(path: Path) -> dict:
    """Return the dict in an HO3D meta pickle (restricted unpickling)."""
    try:
        data = safe_loads(path.read_bytes())
    except pickle.UnpicklingError as exc:
        raise ValueError(f"unsafe or broken pickle: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not an HO3D meta dict")
    return data


def convert_meta(path: Path, gt: dict[str, np.ndarray] | None = None) -> dict:
    """Return a hand record from one HO3D meta file (camera frame converted to ours); evaluation frames
    take their joints from gt (load_evaluation_joints) when given."""
    meta = load_meta(path)
    seq, frame = path.parent.parent.name, path.stem
    K = np.asarray(meta["camMat"], dtype=np.float64).reshape(3, 3)
    record = {"id": f"{seq}/{frame}", "side": "right", "K": K, "object": str(meta.get("objName", "")), "sequence": seq}
    if frame.isdigit():  # HO3D names frames 0000.pkl, 0001.pkl, ...
        record["frame"] = int(frame)
    rgb = path.parent.parent / "rgb" / f"{frame}.jpg"
    if rgb.is_file():
        record["image"] = str(rgb)
    joints = meta.get("handJoints3D")
    if gt is not None and f"{seq}/{frame}" in gt:
        joints = gt[f"{seq}/{frame}"] @ OPENGL_TO_CV.T  # back to HO3D's frame and order for the common path
        joints = joints[np.argsort(HO3D_TO_OPENPOSE)]
    if joints is not None and np.asarray(joints).size == 63:
        j = np.asarray(joints, dtype=np.float64).reshape(21, 3)[list(HO3D_TO_OPENPOSE)] @ OPENGL_TO_CV.T
        record["joints3d"] = j
        record["transl"] = j[0]
        uv = (j / j[:, 2:3]) @ K.T
        record["keypoints2d"] = uv[:, :2]
    elif joints is not None:
        record["root_joint"] = (np.asarray(joints, dtype=np.float64).reshape(3) @ OPENGL_TO_CV.T).tolist()
    pose = meta.get("handPose")
    if pose is not None:
        pose = np.asarray(pose, dtype=np.float64).reshape(48)
        R = OPENGL_TO_CV @ roma.rotvec_to_rotmat(torch.as_tensor(pose[:3])).numpy()
        record["global_orient"] = roma.rotmat_to_rotvec(torch.as_tensor(R)).numpy()
        record["hand_pose"] = pose[3:]
    if meta.get("handBeta") is not None:
        record["betas"] = np.asarray(meta["handBeta"], dtype=np.float64).reshape(10)
    if meta.get("handBoundingBox") is not None:
        record["box"] = np.asarray(meta["handBoundingBox"], dtype=np.float64).reshape(4).tolist()
    return record
