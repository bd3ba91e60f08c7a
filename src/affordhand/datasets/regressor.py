"""Import the outputs of HaMeR-style regressors as initial estimates (hand records).

Expected layout, one entry per detected hand (N hands), as HaMeR's `model(batch)` output and its demo's
bookkeeping name them (examples/save_hamer_outputs.py saves exactly this from a HaMeR run):

    pred_mano_params.global_orient  (N, 1, 3, 3) or (N, 3, 3)  rotation matrix
    pred_mano_params.hand_pose      (N, 15, 3, 3)              rotation matrices, MANO joint order
    pred_mano_params.betas          (N, 10)                    optional
    pred_keypoints_2d               (N, 21, 2)  crop coordinates in [-0.5, 0.5], OpenPose order
    box_center (N, 2), box_size (N,)   the crop in image pixels
    is_right (N,)                      1 right, 0 left: HaMeR sees left hands mirrored, as right hands
    pred_cam_t_full (N, 3)             translation in the full image's camera, metres (optional)
    pred_keypoints_3d (N, 21, 3)       model joints before translation, metres (optional; kept, with the
                                       translation, as the record's joints3d: the regressor's own joints)
    focal_length (N,) or scalar        pixels, in the full image (HaMeR's scaled_focal_length)
    img_size (N, 2)                    image width, height in pixels
    ids (N,) or image (N,)             optional names; ids default to "<file stem>/<index>"
    sequence (N,), frame (N,), time (N,)  optional: the clip (or track) each hand belongs to, its frame
                                       number and time in seconds, passed through to the records

Saved as .npz (`--format hamer` or `wilor`, the same layout; read with allow_pickle=False) or as a JSON
object with the same keys (`--format json`). Rotations are turned into axis-angle with roma; left hands are
mirrored back to MANO's left-hand convention (axis-angle (x, -y, -z), x of points negated).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import roma
import torch

from affordhand.errors import AffordhandError

REQUIRED = (
    "pred_mano_params.global_orient",
    "pred_mano_params.hand_pose",
    "pred_keypoints_2d",
    "box_center",
    "box_size",
    "is_right",
    "focal_length",
    "img_size",
)
_MIRROR = np.array([1.0, -1.0, -1.0])


def load_arrays(path: Path, fmt: str) -> dict[str, np.ndarray]:
    """Return the file's arrays by key (npz without pickles, or a JSON object of lists)."""
    if not path.is_file():
        raise AffordhandError(f"{path}: no such file")
    try:
        if fmt in ("hamer", "wilor"):  # WiLoR's outputs have HaMeR's keys, shapes and conventions
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        elif fmt == "json":
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("expected a JSON object of arrays")
            arrays = {k: np.asarray(v) for k, v in raw.items()}
        else:
            raise AffordhandError(f"unknown format {fmt!r}: hamer or wilor (.npz), or json")
    except (ValueError, OSError, json.JSONDecodeError) as exc:
        raise AffordhandError(f"{path}: cannot read as {fmt} ({exc})") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise AffordhandError(
            f"{path}: missing {', '.join(missing)} (see `affordhand import-regressor --help` "
            "and examples/save_hamer_outputs.py)"
        )
    return arrays


def _rotvec(mats: np.ndarray, n: int, joints: int, name: str) -> np.ndarray:
    mats = np.asarray(mats, dtype=np.float64)
    if mats.size != n * joints * 9:
        raise AffordhandError(f"{name} has shape {list(mats.shape)}, expected ({n}, {joints}, 3, 3)")
    R = torch.as_tensor(mats.reshape(n * joints, 3, 3))
    return roma.rotmat_to_rotvec(roma.special_procrustes(R)).numpy().reshape(n, joints, 3)


def _whole(value, name: str) -> int:
    """Return an array entry as a whole number, or raise AffordhandError naming the key."""
    if not float(value).is_integer():
        raise AffordhandError(f"{name} must hold whole numbers, got {value!r}")
    return int(value)


def convert(arrays: dict[str, np.ndarray], stem: str) -> list[dict]:
    """Return initial-estimate records (hand_pose, global_orient, keypoints2d, K, side, ...) for each hand."""
    n = len(np.asarray(arrays["is_right"]).reshape(-1))
    right = np.asarray(arrays["is_right"]).reshape(n) > 0.5
    sign = np.where(right, 1.0, -1.0)
    orient = _rotvec(arrays["pred_mano_params.global_orient"], n, 1, "global_orient")[:, 0]
    pose = _rotvec(arrays["pred_mano_params.hand_pose"], n, 15, "hand_pose")
    orient = np.where(right[:, None], orient, orient * _MIRROR)
    pose = np.where(right[:, None, None], pose, pose * _MIRROR)
    kp = np.asarray(arrays["pred_keypoints_2d"], dtype=np.float64).reshape(n, 21, 2).copy()
    kp[..., 0] *= sign[:, None]  # HaMeR's crops of left hands are mirrored
    center = np.asarray(arrays["box_center"], dtype=np.float64).reshape(n, 2)
    size = np.asarray(arrays["box_size"], dtype=np.float64).reshape(n)
    kp_full = kp * size[:, None, None] + center[:, None]
    focal = np.asarray(arrays["focal_length"], dtype=np.float64)
    if focal.ndim == 2:  # (N, 2): fx, fy; HaMeR uses one focal length
        focal = focal[:, 0]
    if focal.size not in (1, n):
        raise AffordhandError(f"focal_length has {focal.size} values for {n} hands")
    focal = np.broadcast_to(focal.reshape(-1), (n,))
    img = np.asarray(arrays["img_size"], dtype=np.float64).reshape(n, 2)
    records = []
    for i in range(n):
        K = np.array([[focal[i], 0, img[i, 0] / 2], [0, focal[i], img[i, 1] / 2], [0, 0, 1.0]])
        rec = {
            "id": str(arrays["ids"][i]) if "ids" in arrays else f"{stem}/{i}",
            "side": "right" if right[i] else "left",
            "hand_pose": pose[i].reshape(45),
            "global_orient": orient[i],
            "keypoints2d": kp_full[i],
            "K": K,
        }
        if "pred_mano_params.betas" in arrays:
            rec["betas"] = np.asarray(arrays["pred_mano_params.betas"], dtype=np.float64).reshape(n, 10)[i]
        if "pred_cam_t_full" in arrays:
            t = np.asarray(arrays["pred_cam_t_full"], dtype=np.float64).reshape(n, 3)[i]
            if "pred_keypoints_3d" in arrays:
                own = np.asarray(arrays["pred_keypoints_3d"], dtype=np.float64).reshape(n, 21, 3)[i].copy()
                own[:, 0] *= sign[i]  # HaMeR's left hands are mirrored right hands
                # The regressor's own 3D joints, kept: refine checks its hand model against them.
                rec["joints3d"] = own + t
                t = t + own[0]
            rec["transl"] = t
        if "image" in arrays:
            rec["image"] = str(arrays["image"][i])
        if "sequence" in arrays:
            rec["sequence"] = str(np.asarray(arrays["sequence"]).reshape(n)[i])
        if "frame" in arrays:
            rec["frame"] = _whole(np.asarray(arrays["frame"]).reshape(n)[i], "frame")
        if "time" in arrays:
            rec["time"] = float(np.asarray(arrays["time"], dtype=np.float64).reshape(n)[i])
        if "box_center" in arrays:
            c, s = center[i], size[i]
            rec["box"] = [c[0] - s / 2, c[1] - s / 2, c[0] + s / 2, c[1] + s / 2]
        records.append(rec)
    return records
