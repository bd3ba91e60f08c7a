"""Refine hand records in batches, in one of four modes that all write the same record format:

- `affordance`: global fit, then guided diffusion with the text-conditioned prior (the method);
- `uncond`: the same with the null condition (the method's main baseline);
- `fit`: global fit, then 2D keypoint fitting of the fingers with a pull toward the initial pose;
- `none`: the initial estimate unchanged.
"""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import torch

from affordhand.data.sequences import sequence_groups, windows
from affordhand.data.taxonomy import record_grasp
from affordhand.errors import AffordhandError
from affordhand.hand.calibrate import MIN_RECORDS, TOLERANCE_MM, calibrate, paired_records, skeleton_mismatch_mm
from affordhand.hand.convention import prior_convention
from affordhand.hand.model import BuiltinHand, HandModel
from affordhand.hand.rotations import mirror_where
from affordhand.prior.conditions import object_is_known
from affordhand.prior.generate import encode_conditions
from affordhand.refinement.batch import HandBatch, batch_from_records, joints_camera
from affordhand.refinement.fallback import keep_better_fingers
from affordhand.refinement.fit import fit_global, fit_pose
from affordhand.refinement.guided import refine_guided
from affordhand.refinement.io import with_text
from affordhand.refinement.sequence import smooth_sequences
from affordhand.refinement.settings import (  # noqa: F401
    MODES,
    PRIOR_MODES,
    REFINE_BATCH,
    FitConfig,
    GuidedConfig,
    RefineConfig,
)
from affordhand.refinement.uncertainty import UncertaintyModel, record_features

MIN_SEQUENCE = 3  # frames: a shorter sequence has no acceleration to hold, and its hands are refined alone


def record_seed(record_id: str, seed: int) -> int:
    """Return a per-record seed, so a hand's noise is the same whatever batch it is in."""
    return (zlib.crc32(record_id.encode()) + 1_000_003 * seed) % (2**31)


def _output_records(records, batch: HandBatch, pose_r, hand: HandModel, mode, extra, convention=None):
    """Return copies of records with the refined pose of the batch's fitted hands and the extra fields; a
    pose of the prior's convention (convention given, hand its matched skeleton) is written in the input's."""
    joints = batch.joints(hand, pose_r).detach()
    if convention is not None:
        pose_r = convention.from_prior(pose_r)
    pose = mirror_where(pose_r.reshape(-1, 15, 3), batch.is_left).reshape(-1, 45)
    orient = mirror_where(batch.orient_r, batch.is_left)
    out = []
    for i, rec in enumerate(records):
        new = dict(rec)
        new.update(
            {
                "hand_pose": pose[i].cpu().numpy(),
                "global_orient": orient[i].cpu().numpy(),
                "transl": batch.transl[i].cpu().numpy(),
                "scale": float(batch.scale[i]),
                "joints3d": joints[i].cpu().numpy(),
                "refine_mode": mode,
            }
        )
        for key, values in extra.items():
            if values is not None:
                new[key] = values[i].cpu().numpy() if torch.is_tensor(values) else values[i]
        out.append(new)
    return out


def conditioned_texts(records, texts: list, grasps: list, prior, unseen_objects: str) -> list:
    """Return the sentences that condition the prior: None (the grasp alone) for a hand whose object the
    prior was not trained on, where unseen_objects is "grasp", the prior has a grasp field beside the text
    and the hand's grasp is known; the sentence otherwise (also when the prior lists no objects)."""
    layout, known = prior.config.layout, frozenset(prior.config.objects)
    if unseen_objects != "grasp" or not {"text", "grasp"} <= layout.keys() or not known:
        return texts
    return [
        None if t and g is not None and object_is_known(r, known) is False else t
        for r, t, g in zip(records, texts, grasps)
    ]


def noise_seeds(records, seed: int, sequences: bool) -> torch.Tensor:
    """Return (B,) the seeds of the hands' diffusion noise: each record's own (record_seed of its id), or,
    with sequences, its sequence's, so that the frames of a sequence share their samples' starting noise."""
    key = lambda r: r.get("sequence") if sequences and r.get("sequence") is not None else r["id"]
    return torch.as_tensor([record_seed(key(r), seed) for r in records])


def _joint_move_mm(hand, initial: HandBatch, fitted: HandBatch, pose) -> torch.Tensor:
    """Return (B, 21) how far refinement moved each root-relative joint from the input estimate, mm."""
    with torch.no_grad():
        before = joints_camera(hand, initial.pose_r, initial.orient_r, None, initial.scale, initial.is_left)
        after = joints_camera(hand, pose, fitted.orient_r, None, fitted.scale, fitted.is_left)
    return 1000 * ((after - after[:, :1]) - (before - before[:, :1])).norm(dim=-1)


def _prior_poses(
    records, initial: HandBatch, fitted: HandBatch, config: RefineConfig, hand: HandModel, prior, device, seeds
):
    """Return (finger poses (B, 45), extra fields) of guided refinement with the prior: the text condition in
    affordance mode, none in uncond mode; joint_move_mm is how far each root-relative joint moved."""
    if prior is None:
        raise AffordhandError(f"mode {config.mode} needs a prior")
    affordance = config.mode == "affordance"
    texts = [r.get("text") if affordance else None for r in records]
    grasps = [record_grasp(r) if affordance else None for r in records]
    texts = conditioned_texts(records, texts, grasps, prior, config.guided.unseen_objects)
    cond, has = encode_conditions(prior, texts, grasps)
    cond = cond.to(device) if cond is not None else None
    result = refine_guided(prior, hand, fitted, cond, has.to(device), config.guided, seeds)
    pose, extra = result.pose_r, {"joint_std_mm": result.joint_std_mm}
    used = lambda i: [f for f, given in (("text", texts[i]), ("grasp", grasps[i] is not None)) if given]
    extra["conditioned_on"] = [[f for f in used(i) if f in prior.config.layout] for i in range(len(records))]
    if config.guided.fallback == "fingers":
        pose, extra["fingers_kept"] = keep_better_fingers(hand, fitted, pose)
    extra["joint_move_mm"] = _joint_move_mm(hand, initial, fitted, pose)
    return pose, extra


def refine_batch(
    records: list[dict],
    config: RefineConfig,
    hand: HandModel,
    prior=None,
    device: str = "cpu",
    uncertainty: UncertaintyModel | None = None,
    groups: list[list[int]] | None = None,
) -> list[dict]:
    """Return refined copies of records (which hold hand_pose, global_orient, keypoints2d, K). With the
    prior (affordance, uncond), each also gets joint_move_mm, fingers_kept (5 bools, thumb to pinky: the
    fingers whose seen rotations were set back to the initial pose, refinement/fallback.py) and, given an
    uncertainty recipe, joint_uncertainty_mm (see refinement/uncertainty.py).

    Hands in sequences (groups: lists of record indices in frame order; by default the records' own
    `sequence` and `frame`, unless config.per_frame) are refined jointly (refinement/sequence.py); the others
    each alone."""
    if config.mode not in MODES:
        raise AffordhandError(f"unknown mode {config.mode!r}: {', '.join(MODES)}")
    if groups is None and not config.per_frame:
        groups = sequence_groups(records)
    long = [g for g in groups or [] if len(g) >= MIN_SEQUENCE]
    if long and config.mode != "none":
        return _sequences_and_the_rest(records, long, config, hand, prior, device, uncertainty)
    batch = batch_from_records(records).to(device)
    if config.mode == "none":
        unchanged = batch.with_global(batch.orient_r, torch.nan_to_num(batch.transl), batch.scale)
        return _output_records(records, unchanged, batch.pose_r, hand, "none", {})
    batch, hand, convention = _in_prior_convention(batch, hand, config, prior)
    fitted = fit_global(hand, batch, config.fit)
    pose, extra = _finger_poses(records, batch, fitted, config, hand, prior, device, sequences=False)
    if config.refit_global and config.mode != "fit":  # validated for the prior's modes (refinement/settings.py)
        short = replace(config.fit, iters=max(1, config.fit.iters // 2))
        fitted = fit_global(hand, replace(fitted, pose_r=pose), short, anchor=batch.orient_r)  # the input's
    return _finished(records, fitted, pose, hand, config.mode, extra, convention, uncertainty)


def _in_prior_convention(batch: HandBatch, hand: HandModel, config: RefineConfig, prior):
    """Return (batch, hand model, convention or None): in the prior's modes, the prior's noise levels checked
    and, with pose_convention "prior", the batch's poses and the hand moved into the prior's convention."""
    if config.mode not in PRIOR_MODES or prior is None:
        return batch, hand, None
    config.guided.check_levels(prior.config.T)
    if config.guided.pose_convention != "prior":
        return batch, hand, None
    # The prior's poses mean what they mean on its own skeleton: refine in its convention, on a skeleton with
    # the input's joints and the prior's bone directions (hand/convention.py).
    convention = prior_convention(hand, prior)
    if convention is None:
        return batch, hand, None
    return replace(batch, pose_r=convention.to_prior(batch.pose_r)), convention.hand, convention


def _finger_poses(records, batch, fitted, config: RefineConfig, hand, prior, device, sequences: bool):
    """Return (finger poses (B, 45), extra fields): the `fit` mode's keypoint fit, or guided refinement with
    the prior, whose noise is each hand's own or, with sequences, its sequence's (noise_seeds)."""
    if config.mode == "fit":
        return fit_pose(hand, fitted, config.fit), {}
    seeds = noise_seeds(records, config.seed, sequences=sequences)
    return _prior_poses(records, batch, fitted, config, hand, prior, device, seeds)


def _finished(records, fitted: HandBatch, pose, hand, mode, extra, convention, uncertainty) -> list[dict]:
    """Return the output records, with their uncertainty radii where a recipe is given and the prior ran."""
    out = _output_records(records, fitted, pose, hand, mode, extra, convention)
    if uncertainty is not None and "joint_move_mm" in extra:
        features, visible = record_features(out)
        for rec, radius in zip(out, uncertainty.radius_mm(features, visible)):
            rec["joint_uncertainty_mm"] = radius
    return out


def _sequences_and_the_rest(records, long, config, hand, prior, device, uncertainty) -> list[dict]:
    """Return refined copies of records, in their order: the groups in `long` (record indices in frame order)
    refined as sequences, the other hands each alone, as they would be in a batch of no sequence."""
    out: list = [None] * len(records)
    starts = np.cumsum([0] + [len(g) for g in long])
    spans = [list(range(a, b)) for a, b in zip(starts[:-1], starts[1:])]
    order = [i for g in long for i in g]
    joint = _refine_sequences([records[i] for i in order], spans, config, hand, prior, device, uncertainty)
    for i, rec in zip(order, joint):
        out[i] = rec
    alone = sorted(set(range(len(records))) - set(order))
    if alone:
        single = refine_batch([records[i] for i in alone], config, hand, prior, device, uncertainty, groups=[])
        for i, rec in zip(alone, single):
            out[i] = rec
    return out


def _refine_sequences(ordered, spans, config: RefineConfig, hand, prior, device, uncertainty) -> list[dict]:
    """Return refined copies of records that are sequences one after the other, each in frame order (spans:
    their index ranges), each refined jointly (refinement/sequence.py)."""
    group_of = torch.as_tensor([k for k, g in enumerate(spans) for _ in g], device=device)
    batch, hand, convention = _in_prior_convention(batch_from_records(ordered).to(device), hand, config, prior)
    fitted = fit_global(hand, batch, config.fit, groups=group_of)
    pose, extra = _finger_poses(ordered, batch, fitted, config, hand, prior, device, sequences=True)
    frames = frame_numbers(ordered, spans).to(device)
    pose, orient, transl = smooth_sequences(
        hand, fitted, pose, spans, config.sequence, config.fit, batch.orient_r, frames
    )
    fitted = fitted.with_global(orient, transl, fitted.scale)
    if "joint_move_mm" in extra:
        extra["joint_move_mm"] = _joint_move_mm(hand, batch, fitted, pose)
    return _finished(ordered, fitted, pose, hand, config.mode, extra, convention, uncertainty)


def frame_numbers(records: list[dict], spans: list[list[int]]) -> torch.Tensor:
    """Return (B,) each record's frame number within its span (a sequence in frame order): its `frame` where
    every record of the span has one, else its place in the span."""
    out = torch.zeros(len(records))
    for span in spans:
        given = [records[i].get("frame") for i in span]
        numbers = given if all(f is not None for f in given) else list(range(len(span)))
        out[span] = torch.as_tensor(numbers, dtype=torch.float32)
    return out


def refine_records(
    records: list[dict],
    config: RefineConfig,
    hand: HandModel,
    prior=None,
    device: str = "cpu",
    uncertainty: UncertaintyModel | None = None,
    batch: int = REFINE_BATCH,
) -> list[dict]:
    """Return refined copies of records, refined `batch` at a time as `affordhand refine` does. A hand refined
    alone does not depend on its batch (the batch size only bounds memory). The frames of a sequence are
    refined together (unless config.per_frame): whole sequences are packed into batches, and one longer than
    the batch is refined in windows of `batch` frames that share config.sequence.overlap frames, each frame
    taking its result from the window in which it lies furthest from an edge."""
    groups = [[i] for i in range(len(records))] if config.per_frame else sequence_groups(records)
    if all(len(g) == 1 for g in groups):
        out: list[dict] = []
        for i in range(0, len(records), batch):
            out += refine_batch(records[i : i + batch], config, hand, prior, device, uncertainty, groups=[])
        return out
    pieces = [
        g[a:b] for g in groups for a, b in windows(len(g), batch, config.sequence.overlap)
    ]  # each a list of record indices in frame order
    best: dict[int, tuple[int, dict]] = {}  # record index -> (distance from its window's edge, result)
    for chunk in pack(pieces, batch):
        members = [i for piece in chunk for i in piece]
        local, start = [], 0
        for piece in chunk:
            local.append(list(range(start, start + len(piece))))
            start += len(piece)
        refined = refine_batch([records[i] for i in members], config, hand, prior, device, uncertainty, local)
        for piece, span in zip(chunk, local):
            for place, (i, j) in enumerate(zip(piece, span)):
                depth = min(place, len(piece) - 1 - place)
                if i not in best or depth > best[i][0]:
                    best[i] = (depth, refined[j])
    return [best[i][1] for i in range(len(records))]


def pack(pieces: list[list[int]], batch: int) -> list[list[list[int]]]:
    """Return the pieces (lists of record indices) packed in order into batches of at most `batch` records
    (a piece larger than the batch is a batch of its own)."""
    out: list[list[list[int]]] = []
    size = 0
    for piece in pieces:
        if not out or size + len(piece) > batch:
            out.append([])
            size = 0
        out[-1].append(piece)
        size += len(piece)
    return out


def match_hand_to_input(records: list[dict], hand: HandModel, calibrate_from_input: bool = True):
    """Return (hand model, message or None): the given model, or, where the records carry a pose with the
    regressor's own 3D joints (HaMeR and WiLoR give both) that the model misses by more than
    TOLERANCE_MM, the built-in hand calibrated on those pairs. A mismatch never passes silently:
    the message says what was measured and done."""
    mismatch = skeleton_mismatch_mm(records, hand)
    if mismatch is None or mismatch <= TOLERANCE_MM:
        return hand, None
    found = f"the input's own 3D joints are {mismatch:.1f} mm from the {hand.name} hand's for the same poses"
    pairs = paired_records(records)
    if not isinstance(hand, BuiltinHand) or not calibrate_from_input or len(pairs) < MIN_RECORDS:
        why = (
            "--hand-model mano is kept"
            if not isinstance(hand, BuiltinHand)
            else "self-calibration is off"
            if not calibrate_from_input
            else f"fewer than {MIN_RECORDS} records hold both, too few to calibrate from"
        )
        return hand, f"warning: {found}; {why}: joint errors include this skeleton difference"
    result = calibrate(pairs)
    calibrated = BuiltinHand(result["rest_joints"], result["tips"]).to(hand.rest.device)
    after = skeleton_mismatch_mm(records, calibrated)
    return calibrated, (
        f"note: {found}; calibrated the built-in skeleton on {result['records']} of them: "
        f"{mismatch:.1f} -> {after:.1f} mm"
    )


def attach_texts(records: list[dict], described: list[dict]) -> int:
    """Set each record's text, and its structured `fields` (which carry the grasp) where given, from
    described records (e.g. `affordhand describe` output), matched by id, in place; return how many got one."""
    by_id = {r["id"]: r for r in described if r.get("text")}
    for r in records:
        with_text(r, by_id)
    return sum(r["id"] in by_id for r in records)
