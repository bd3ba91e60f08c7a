"""MANO through smplx, from the user's own MANO_RIGHT.pkl / MANO_LEFT.pkl (never shipped).

The files are read with a restricted unpickler that admits only numpy arrays, scipy sparse matrices and
chumpy arrays (turned into numpy without importing chumpy), then handed to `smplx.MANO` as its data
structure, so no arbitrary code in a pickle ever runs.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import nn

from affordhand.data.safe_pickle import safe_loads
from affordhand.errors import AffordhandError
from affordhand.hand import skeleton
from affordhand.hand.model import HandOutput

MANO_ENV = "AFFORDHAND_MANO_DIR"
_GET_MANO = (
    "Register at https://mano.is.tue.mpg.de, download 'Models & Code', and put MANO_RIGHT.pkl and "
    f"MANO_LEFT.pkl from its models/ folder into one folder; pass that folder with --mano-dir or {MANO_ENV}."
)
# Fingertip vertices of the MANO mesh (the indices smplx uses for MANO tips), in MANO finger order
# index, middle, pinky, ring, thumb.
_TIP_VERTICES = (320, 443, 671, 554, 744)
_REQUIRED_KEYS = (
    "v_template",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "kintree_table",
    "f",
    "hands_components",
    "hands_mean",
)
MAX_DENSE = 10_000_000  # elements a sparse array of the file may expand to (MANO's largest: 778 x 16)


class _ChumpyArray:
    """Stands in for a pickled chumpy object; keeps only its value."""

    def __setstate__(self, state):
        self.state = state

    def value(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        for key in ("x", "_x", "a"):
            if key in state:
                inner = state[key]
                return inner.value() if isinstance(inner, _ChumpyArray) else np.asarray(inner)
        raise pickle.UnpicklingError("a chumpy object in the MANO file has no plain array value")


def _mano_classes(module, name):
    """Admit scipy sparse matrices and stand in for chumpy objects (MANO files hold both)."""
    if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
        import importlib

        return getattr(importlib.import_module(module), name)
    if module.startswith("chumpy"):
        return _ChumpyArray
    return None


def _plain(value):
    if isinstance(value, _ChumpyArray):
        return value.value()
    if hasattr(value, "toarray"):
        shape = getattr(value, "shape", None)
        if not isinstance(shape, tuple) or len(shape) != 2 or math.prod(shape) > MAX_DENSE:
            # A real MANO J_regressor is 16 x 778; a file declaring a huge sparse matrix would make
            # toarray() allocate terabytes.
            raise ValueError(f"a sparse matrix of shape {shape} is not a MANO array")
        return np.asarray(value.toarray())
    return value


def load_mano_data(path: Path) -> dict:
    """Return the MANO file's arrays as a dict of numpy arrays (restricted unpickling)."""
    if not path.is_file():
        raise AffordhandError(f"MANO file not found: {path}. {_GET_MANO}")
    try:
        with path.open("rb") as f:
            data = safe_loads(f.read(), extra=_mano_classes)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise AffordhandError(f"{path} is not a readable MANO model file ({exc}). {_GET_MANO}") from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED_KEYS):
        missing = [k for k in _REQUIRED_KEYS if not isinstance(data, dict) or k not in data]
        raise AffordhandError(f"{path} is not a MANO model file (missing {', '.join(missing)}). {_GET_MANO}")
    try:
        return {k: _plain(v) for k, v in data.items()}
    except (ValueError, TypeError, MemoryError) as exc:
        raise AffordhandError(f"{path} is not a readable MANO model file ({exc}). {_GET_MANO}") from None


def resolve_mano_dir(mano_dir: str | os.PathLike | None) -> Path:
    """Return the MANO folder from the argument or $AFFORDHAND_MANO_DIR, or raise with instructions."""
    value = mano_dir or os.environ.get(MANO_ENV)
    if not value:
        raise AffordhandError(f"no MANO folder given. {_GET_MANO}")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise AffordhandError(f"MANO folder not found: {path}. {_GET_MANO}")
    return path


class ManoHand(nn.Module):
    """MANO (smplx) behind the built-in hand's interface, with vertices and faces."""

    name = "mano"

    def __init__(self, mano_dir: str | os.PathLike | None = None):
        super().__init__()
        try:
            import smplx
            from smplx.utils import Struct
        except ImportError:
            raise AffordhandError("MANO support needs smplx: pip install 'affordhand[mano]'") from None
        folder = resolve_mano_dir(mano_dir)
        models = {}
        for side in ("right", "left"):
            data = load_mano_data(folder / f"MANO_{side.upper()}.pkl")
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning about 10 betas
                models[side] = smplx.MANO(
                    str(folder),
                    is_rhand=side == "right",
                    data_struct=Struct(**data),
                    use_pca=False,
                    flat_hand_mean=True,
                    create_global_orient=False,
                    create_hand_pose=False,
                    create_betas=False,
                    create_transl=False,
                )
            models[side].requires_grad_(False)
        # Known defect of the public MANO_LEFT.pkl: its shape blend shapes have the wrong x sign.
        right_sd, left_sd = models["right"].shapedirs, models["left"].shapedirs
        if torch.sum(torch.abs(left_sd[:, 0, :] - right_sd[:, 0, :])) < 1:
            left_sd[:, 0, :] *= -1
        self.right, self.left = models["right"], models["left"]
        self.faces = {
            "right": np.asarray(self.right.faces, dtype=np.int64),
            "left": np.asarray(self.left.faces, dtype=np.int64),
        }
        self.register_buffer("order", torch.as_tensor(skeleton.OPENPOSE_FROM_MANO, dtype=torch.long))

    def _run(self, model, global_orient, hand_pose, betas):
        B = hand_pose.shape[0]
        betas = betas if betas is not None else hand_pose.new_zeros(B, model.num_betas)
        out = model(global_orient=global_orient, hand_pose=hand_pose.reshape(B, 45), betas=betas)
        tips = out.vertices[:, list(_TIP_VERTICES)]
        joints = torch.cat([out.joints[:, :16], tips], dim=1)[:, self.order]
        return joints, out.vertices

    def forward(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None):
        """Return HandOutput: joints (B, 21, 3) and vertices (B, 778, 3), metres, relative to the wrist
        scaled by `scale`, plus transl (so transl is the wrist position, as for the built-in hand)."""
        joints, verts = self._run(self.right, global_orient, hand_pose, betas)
        faces = self.faces["right"]
        if is_left is not None and bool(is_left.any()):
            lj, lv = self._run(self.left, global_orient, hand_pose, betas)
            sel = is_left.reshape(-1, 1, 1)
            joints, verts = torch.where(sel, lj, joints), torch.where(sel, lv, verts)
            if bool(is_left.all()):
                faces = self.faces["left"]
        wrist = joints[:, :1]
        joints, verts = joints - wrist, verts - wrist
        if scale is not None:
            s = scale.reshape(-1, 1, 1).to(joints.dtype)
            joints, verts = joints * s, verts * s
        if transl is not None:
            joints, verts = joints + transl.unsqueeze(1), verts + transl.unsqueeze(1)
        return HandOutput(joints=joints, vertices=verts, faces=faces)
