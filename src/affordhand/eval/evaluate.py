"""Evaluate predicted hand records against ground truth: match by id, joints, metrics, group breakdowns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from affordhand.errors import AffordhandError
from affordhand.eval import metrics
from affordhand.eval.groups import MATCH_KEYS, group_key


def record_joints(records: list[dict], hand_model, source: str) -> torch.Tensor:
    """Return joints (N, 21, 3) in metres: `joints3d` where present, else the hand model's output."""
    out = torch.zeros(len(records), 21, 3, dtype=torch.float64)
    need = [i for i, r in enumerate(records) if r.get("joints3d") is None]
    for i, r in enumerate(records):
        if r.get("joints3d") is not None:
            out[i] = torch.as_tensor(r["joints3d"])
    if need:
        for i in need:
            if records[i].get("hand_pose") is None:
                raise AffordhandError(f"{source}: record {records[i]['id']!r} has neither joints3d nor hand_pose")
        sub = [records[i] for i in need]
        pose = torch.as_tensor(np.stack([r["hand_pose"] for r in sub]), dtype=torch.float32)
        orient = torch.as_tensor(np.stack([r.get("global_orient", np.zeros(3)) for r in sub]), dtype=torch.float32)
        scale = torch.as_tensor([r.get("scale") or 1.0 for r in sub], dtype=torch.float32)
        is_left = torch.as_tensor([r.get("side", "right") == "left" for r in sub])
        betas = None
        if any(r.get("betas") is not None for r in sub):
            betas = torch.as_tensor(np.stack([r.get("betas", np.zeros(10)) for r in sub]), dtype=torch.float32)
        with torch.no_grad():
            joints = hand_model(orient, pose, scale=scale, betas=betas, is_left=is_left).joints
        out[need] = joints.double()
    return out


@dataclass
class Evaluation:
    """Overall metrics, metrics per group, and ids that could not be matched."""

    overall: dict
    groups: dict = field(default_factory=dict)
    missing_in_pred: list = field(default_factory=list)
    extra_in_pred: list = field(default_factory=list)
    not_finite: list = field(default_factory=list)  # ids left out: their joints are not finite numbers


def match_key(record: dict, match: str, source: str) -> str:
    """Return the key a record is joined on: its id, or its image file (the absolute, normalised path)."""
    if match == "id":
        return record["id"]
    if match != "image":
        raise AffordhandError(f"unknown --match {match!r}: {', '.join(MATCH_KEYS)}")
    if not isinstance(record.get("image"), str):
        raise AffordhandError(f"{source}: record {record['id']!r} has no image to match on")
    return os.path.normpath(os.path.abspath(record["image"]))


def _keyed(records: list[dict], match: str, source: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in records:
        key = match_key(r, match, source)
        if key in out:
            raise AffordhandError(
                f"{source}: {key!r} belongs to two records ({out[key]['id']!r}, {r['id']!r}); match on --match id"
            )
        out[key] = r
    return out


def _match(gt: list[dict], pred: list[dict], hand_model, gt_source: str, pred_source: str, match: str = "id"):
    """Return (gt records, their predictions, gt joints, pred joints, missing, extra, not finite) for the keys
    both hold, leaving out by name the hands whose joints are not finite."""
    pred_by_key = _keyed(pred, match, pred_source)
    gt_by_key = _keyed(gt, match, gt_source)
    pred_by_id = {r["id"]: pred_by_key[k] for k, r in gt_by_key.items() if k in pred_by_key}
    matched = [r for r in gt_by_key.values() if r["id"] in pred_by_id]
    missing = [r["id"] for k, r in gt_by_key.items() if k not in pred_by_key]
    extra = [r["id"] for k, r in pred_by_key.items() if k not in gt_by_key]
    if not matched:
        raise AffordhandError(f"no record of {pred_source} matches one in {gt_source} by {match}")
    gt_joints = record_joints(matched, hand_model, gt_source)
    pred_joints = record_joints([pred_by_id[r["id"]] for r in matched], hand_model, pred_source)
    # One prediction with a scale of 1e300 would turn every mean into nan: leave such hands out, by name.
    finite = torch.isfinite(gt_joints).flatten(1).all(1) & torch.isfinite(pred_joints).flatten(1).all(1)
    not_finite = [r["id"] for r, ok in zip(matched, finite.tolist()) if not ok]
    if not finite.any():
        raise AffordhandError(f"no matched record of {pred_source} has finite joints")
    matched = [r for r, ok in zip(matched, finite.tolist()) if ok]
    preds = [pred_by_id[r["id"]] for r in matched]
    return matched, preds, gt_joints[finite], pred_joints[finite], missing, extra, not_finite


def matched_errors(
    gt: list[dict], pred: list[dict], hand_model, gt_source: str = "gt", pred_source: str = "pred", match: str = "id"
) -> tuple[list[dict], np.ndarray]:
    """Return (the predictions matched to ground truth, their root-relative joint errors (N, 21), mm)."""
    _, preds, gt_joints, pred_joints, *_ = _match(gt, pred, hand_model, gt_source, pred_source, match)
    return preds, metrics.joint_errors_mm(pred_joints.double(), gt_joints.double()).numpy()


def _summary(pred_joints, gt_joints, visible, radius) -> dict:
    """Return the metrics of a set of hands; with radii (joint_uncertainty_mm), their coverage too."""
    out = metrics.summarize(pred_joints, gt_joints, visible)
    if radius is not None:
        from affordhand.refinement.uncertainty import coverage

        errors = metrics.joint_errors_mm(pred_joints.double(), gt_joints.double()).numpy()
        for name, mask in (("visible", visible.numpy()), ("occluded", ~visible.numpy())):
            out[f"coverage_{name}"], out[f"radius_{name}_mm"] = coverage(errors, radius, mask)
    return out


def sequence_metrics(records: list[dict], pred_joints: torch.Tensor, gt_joints: torch.Tensor | None = None) -> dict:
    """Return the motion metrics of the hands that belong to sequences (data/sequences.py), over every three
    consecutive frames of a sequence as ordered (t = 1..T-2; where frame numbers skip, still per frame^2:
    metrics.acceleration), on root-relative joints (wrist at the origin, camera axes), mm/frame^2: `accel`,
    the mean |a_pred|, and with ground truth `accel_error`, the mean |a_pred - a_true| over frames and
    joints; `sequence_frames` counts the frames t scored. Empty where no sequence has three frames."""
    from affordhand.data.sequences import sequence_groups

    pred_acc, errors = [], []
    for group in sequence_groups(records):
        if len(group) < 3:
            continue
        idx = torch.as_tensor(group)
        numbers = [records[i].get("frame") for i in group]
        frames = torch.as_tensor(numbers, dtype=torch.float64) if None not in numbers else None
        pred_acc.append(1000.0 * torch.linalg.norm(metrics.acceleration(pred_joints[idx].double(), frames), dim=-1))
        if gt_joints is not None:
            errors.append(metrics.acceleration_errors_mm(pred_joints[idx], gt_joints[idx], frames))
    if not pred_acc:
        return {}
    out = {"accel": float(torch.cat(pred_acc).mean()), "sequence_frames": sum(len(a) for a in pred_acc)}
    if errors:
        out["accel_error"] = float(torch.cat(errors).mean())
    return out


def evaluate(
    gt: list[dict],
    pred: list[dict],
    hand_model,
    by: str | None = None,
    gt_source: str = "gt",
    pred_source: str = "pred",
    match: str = "id",
) -> Evaluation:
    """Return metrics of pred against gt, matched by id (unmatched ids are listed, not dropped silently).
    Where every prediction has joint_uncertainty_mm, the metrics include each group's coverage (the share of
    joints whose error is within the radius) and mean radius; where hands carry `sequence` and `frame`, the
    overall metrics include the acceleration error and the acceleration (sequence_metrics)."""
    matched, preds, gt_joints, pred_joints, missing, extra, not_finite = _match(
        gt, pred, hand_model, gt_source, pred_source, match
    )
    visible = torch.as_tensor(
        np.stack([r["visible"] if r.get("visible") is not None else np.ones(21, bool) for r in matched])
    )
    radius = None
    if all(r.get("joint_uncertainty_mm") is not None for r in preds):
        radius = np.stack([np.asarray(r["joint_uncertainty_mm"], dtype=np.float64) for r in preds])
    # The ground truth's sequence and frame order the hands where it has them, else the predictions'.
    ordered = matched if any(r.get("sequence") is not None for r in matched) else preds
    result = Evaluation(
        {**_summary(pred_joints, gt_joints, visible, radius), **sequence_metrics(ordered, pred_joints, gt_joints)},
        missing_in_pred=missing,
        extra_in_pred=extra,
        not_finite=not_finite,
    )
    if by:
        keys = [group_key(r, by) for r in matched]
        for key in sorted(set(keys), key=lambda k: (isinstance(k, str), k)):
            idx = torch.as_tensor([i for i, k in enumerate(keys) if k == key])
            result.groups[str(key)] = _summary(
                pred_joints[idx], gt_joints[idx], visible[idx], None if radius is None else radius[idx.numpy()]
            )
    return result
