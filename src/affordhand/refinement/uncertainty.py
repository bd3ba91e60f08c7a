"""Calibrated per-joint uncertainty: for each refined joint, the radius (mm, root-relative as MPJPE
measures) within which the true joint lies with 90 % probability.

What the method knows about each joint (its features):
- `joint_std_mm`: the spread of the prior's samples;
- `joint_move_mm`: how far refinement moved the joint from the input estimate (the prior's disagreement
  with the regressor);
- the 2D residual of a visible joint, in mm at its depth;
- its place along the finger (1: MCP / thumb CMC ... 4: tip); the wrist, the root, has radius 0.

Recipe (`fit_uncertainty`), per group (visible joints, occluded joints), on refined records with ground truth:
1. A log-linear scale: log(error) ~ beta . [1, log(1+std), log(1+move), log(1+residual), place one-hot],
   least squares (ridge 1e-3); scale = exp(beta . features).
2. Split conformal calibration: q = the ceil((n+1) 0.9)-th smallest error / scale; radius = q * scale.
   Calibrated on one set of hands, the radius covers 90 % of new hands' joints drawn from the same kind of
   data (exchangeability); on other data it says what the calibration data would.
The recipe is saved as JSON beside the prior (uncertainty.json) and used by refinement with that prior.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from affordhand.errors import AffordhandError

UNCERTAINTY_FILE = "uncertainty.json"
FORMAT = "affordhand-uncertainty-1"
FEATURES = ("bias", "log1p_std_mm", "log1p_move_mm", "log1p_residual_mm", "place_1", "place_2", "place_3", "place_4")
PLACE = np.array([0] + [1, 2, 3, 4] * 5)  # each joint's place along its finger (OpenPose order); wrist 0
GROUPS = ("visible", "occluded")
RIDGE = 1e-3


@dataclass
class UncertaintyModel:
    """Per group: beta (len(FEATURES)) and the conformal scale q; level is the coverage aimed at."""

    groups: dict
    level: float = 0.9
    mode: str = "affordance"
    records: int = 0
    source: dict = field(default_factory=dict)

    def radius_mm(self, features: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """Return radii (N, 21), mm, from features (N, 21, F) and visible (N, 21); the wrist gets 0."""
        out = np.zeros(visible.shape)
        for name, mask in (("visible", visible), ("occluded", ~visible)):
            g = self.groups[name]
            scale = np.exp(np.clip(features @ np.asarray(g["beta"]), -20, 20))
            out = np.where(mask, g["q"] * scale, out)
        out[:, PLACE == 0] = 0.0
        return out

    def save(self, path: str | os.PathLike) -> Path:
        from affordhand.data.atomic import atomic_write_text

        path = Path(path)
        atomic_write_text(
            path, json.dumps({"format": FORMAT, "features": list(FEATURES), **asdict(self)}, indent=2) + "\n"
        )
        return path


def load_uncertainty(path: str | os.PathLike) -> UncertaintyModel:
    """Return the uncertainty recipe in a JSON file, or raise AffordhandError saying what is wrong."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != FORMAT or tuple(raw.get("features", ())) != FEATURES:
            raise ValueError("not an affordhand uncertainty recipe of this version")
        model = UncertaintyModel(
            groups=raw["groups"],
            level=float(raw["level"]),
            mode=raw.get("mode", "affordance"),
            records=int(raw.get("records", 0)),
            source=raw.get("source", {}),
        )
        if not 0 < model.level < 1:
            raise ValueError(f"level {model.level} is not between 0 and 1")
        for name in GROUPS:
            beta, q = model.groups[name]["beta"], model.groups[name]["q"]
            numbers = [q, *beta] if isinstance(beta, list) else [None]
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in numbers):
                raise ValueError(f"group {name}: beta and q must be finite numbers")
            if len(beta) != len(FEATURES) or q <= 0:
                raise ValueError(f"group {name}: beta must hold {len(FEATURES)} numbers and q be positive, got q {q}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise AffordhandError(f"{path}: not a readable uncertainty recipe ({exc})") from None
    return model


def joint_features(std_mm: np.ndarray, move_mm: np.ndarray, residual_mm: np.ndarray) -> np.ndarray:
    """Return features (N, 21, F) from per-joint spread, move and 2D residual (N, 21), mm."""
    n = std_mm.shape[0]
    place = np.zeros((n, 21, 4))
    for k in range(1, 5):
        place[:, PLACE == k, k - 1] = 1.0
    logs = [np.log1p(np.clip(np.nan_to_num(v, nan=0.0), 0, 1e6)) for v in (std_mm, move_mm, residual_mm)]
    return np.concatenate([np.ones((n, 21, 1)), np.stack(logs, -1), place], -1)


def residual_mm(joints3d: np.ndarray, keypoints2d: np.ndarray, K: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Return each visible joint's 2D residual (N, 21) in mm at the joint's depth (0 where hidden)."""
    z = np.clip(joints3d[..., 2], 1e-3, None)
    uv = np.stack(
        [
            K[:, None, 0, 0] * joints3d[..., 0] / z + K[:, None, 0, 2],
            K[:, None, 1, 1] * joints3d[..., 1] / z + K[:, None, 1, 2],
        ],
        -1,
    )
    px = np.linalg.norm(uv - keypoints2d, axis=-1)
    return np.where(visible, 1000.0 * px * z / K[:, None, 0, 0], 0.0)


def record_features(records: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Return (features (N, 21, F), visible (N, 21)) of refined records (they hold joint_move_mm)."""
    missing = [r["id"] for r in records if r.get("joint_move_mm") is None]
    if missing:
        raise AffordhandError(
            f"{len(missing)} records have no joint_move_mm (first: {missing[0]!r}): calibrate on "
            "the output of `affordhand refine` in affordance or uncond mode"
        )
    stack = lambda key, default: np.stack([np.asarray(r[key]) if r.get(key) is not None else default for r in records])
    visible = stack("visible", np.ones(21, bool)).astype(bool)
    res = residual_mm(stack("joints3d", None), stack("keypoints2d", None), stack("K", None), visible)
    return joint_features(stack("joint_std_mm", np.zeros(21)), stack("joint_move_mm", None), res), visible


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """Return the split-conformal quantile: the ceil((n+1) level)-th smallest score (inf when n is too small)."""
    n = len(scores)
    k = math.ceil((n + 1) * level)
    return float(np.sort(scores)[k - 1]) if k <= n else float("inf")


def fit_uncertainty(
    features: np.ndarray,
    errors_mm: np.ndarray,
    visible: np.ndarray,
    level: float = 0.9,
    mode: str = "affordance",
    source: dict | None = None,
) -> UncertaintyModel:
    """Return the recipe fitted on refined joints with known errors (N, 21), mm (see the module's docstring)."""
    if not 0 < level < 1:
        raise AffordhandError(f"the coverage level must be between 0 and 1, got {level}")
    groups = {}
    for name, mask in (("visible", visible), ("occluded", ~visible)):
        mask = mask & (PLACE > 0)[None]
        if mask.sum() < 20:
            raise AffordhandError(f"too few {name} joints to calibrate on ({int(mask.sum())}; at least 20)")
        X, y = features[mask], np.log(np.clip(errors_mm[mask], 0.1, None))
        beta = np.linalg.solve(X.T @ X + RIDGE * len(X) * np.eye(X.shape[1]), X.T @ y)
        scale = np.exp(np.clip(X @ beta, -20, 20))
        q = conformal_quantile(errors_mm[mask] / scale, level)
        if not (math.isfinite(q) and np.isfinite(beta).all()):
            least = math.ceil(level / (1 - level))
            raise AffordhandError(
                f"{int(mask.sum())} {name} joints are too few for a {level} coverage level (a radius that covers "
                f"it needs at least {least}): refine more hands or lower --level"
            )
        groups[name] = {"beta": beta.tolist(), "q": q, "joints": int(mask.sum())}
    return UncertaintyModel(groups, level, mode, int(len(features)), source or {})


def fit_on_refined(refined: list[dict], truth_by_id: dict[str, dict], source: dict) -> UncertaintyModel:
    """Return the recipe fitted to refined records' root-relative joint errors (mm) against the records of
    truth_by_id (by id, with `joints3d`); `source` says what they were (kept in the recipe)."""
    rel = lambda j: j - j[:, :1]
    truth = rel(np.stack([truth_by_id[r["id"]]["joints3d"] for r in refined]))
    errors = 1000 * np.linalg.norm(rel(np.stack([r["joints3d"] for r in refined])) - truth, axis=-1)
    features, visible = record_features(refined)
    return fit_uncertainty(features, errors, visible, source={**source, "hands": len(refined)})


def coverage(errors_mm: np.ndarray, radius_mm: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Return (share of joints under mask whose error is within their radius, mean radius), mm."""
    mask = mask & (PLACE > 0)[None]
    if not mask.any():
        return float("nan"), float("nan")
    return float((errors_mm[mask] <= radius_mm[mask]).mean()), float(radius_mm[mask].mean())


def uncertainty_file(prior_spec) -> Path:
    """Return the uncertainty recipe file a prior uses: its own, else the shipped prior's."""
    from affordhand.prior.model import resolve_prior_dir

    own = resolve_prior_dir(prior_spec) / UNCERTAINTY_FILE
    return own if own.is_file() else resolve_prior_dir("default") / UNCERTAINTY_FILE


def uncertainty_for(prior_spec) -> tuple[UncertaintyModel, str | None]:
    """Return the uncertainty recipe kept with a prior and a note when it is not the prior's own: a prior
    without one (trained before, or never calibrated) borrows the shipped prior's."""
    from affordhand.prior.model import resolve_prior_dir

    path = uncertainty_file(prior_spec)
    if path.parent == resolve_prior_dir(prior_spec):
        return load_uncertainty(path), None
    note = (
        f"note: {resolve_prior_dir(prior_spec)} has no {UNCERTAINTY_FILE}; joint_uncertainty_mm uses the "
        "shipped prior's calibration (synthetic hands); calibrate this prior's with "
        "`affordhand calibrate-uncertainty`"
    )
    return load_uncertainty(path), note
