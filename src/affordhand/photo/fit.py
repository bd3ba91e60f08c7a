"""The initial 3D hand of the image front end: the hand model fitted first to MediaPipe's metric 3D
landmarks (orientation, finger pose, size), then to its 2D landmarks through the camera (translation,
orientation, scale, then fingers), in torch, batched over hands, a few hundred iterations in all.

Which hand it is comes from the 3D fit as well as from MediaPipe's handedness label: both a right and a
left hand are fitted inside the joint limits, and the label stands unless the other side fits clearly
better. A mirrored hand can only match the landmarks by bending its fingers backwards, so the wrong side
usually fits much worse (13-26 mm mean error against 4-8 mm on the test photos), while MediaPipe's label is
unreliable on some views (a fist seen from the back: 0.7 confidence, wrong side)."""

from __future__ import annotations

import sys

import numpy as np
import torch

from affordhand.hand import skeleton
from affordhand.hand.align import align_global
from affordhand.hand.model import BuiltinHand, HandModel, HandOutput, skeleton_joints
from affordhand.hand.rotations import mirror_where
from affordhand.refinement.batch import batch_from_records, reference_reprojection
from affordhand.refinement.fit import initial_translation
from affordhand.refinement.pipeline import RefineConfig, refine_batch
from affordhand.refinement.settings import FitConfig

# A photo's starting orientation comes from MediaPipe's 3D landmarks of the same detection as its 2D points,
# not from a separate estimate of the kind a regressor gives, so the global fit does not hold it (FitConfig
# orient_prior 0): held, the fitted and refined hands sat farther from the annotated joints
# (`python benchmarks/photos.py`).
PHOTO_FIT = FitConfig(orient_prior=0.0)

LIMIT_WEIGHT = 10.0  # per squared radian outside the joint limits


def limit_excess(pose: torch.Tensor, is_left: torch.Tensor) -> torch.Tensor:
    """Return (N,) the summed squared excess (rad^2) of the anatomical angles of poses (N, 45), each in
    its own side's convention, beyond the built-in hand's joint limits."""
    right = mirror_where(pose.reshape(-1, 15, 3), is_left)
    axes = torch.as_tensor(skeleton.joint_axes(), dtype=pose.dtype, device=pose.device)
    limits = torch.as_tensor(skeleton.joint_limits(), dtype=pose.dtype, device=pose.device)
    angles = torch.einsum("njd,jkd->njk", right, axes)
    excess = torch.relu(limits[..., 0] - angles) + torch.relu(angles - limits[..., 1])
    return (excess**2).sum((-1, -2))


def fit_to_world(hand: HandModel, world: np.ndarray, is_left: np.ndarray, iters: int = 200):
    """Return (global_orient (N, 3), hand_pose (N, 45), error_mm (N,)) fitting the hand to root-relative
    3D landmarks, with the finger angles held inside the joint limits (MediaPipe's depth is uncertain, and
    an unconstrained fit twists fingers into poses no hand makes and no prior knows)."""
    target = torch.as_tensor(world, dtype=torch.float32)
    target = target - target[:, :1]
    left = torch.as_tensor(is_left)
    n = len(world)
    orient0, scale0 = align_global(hand, torch.zeros(n, 45), target, left)
    orient = orient0.float().clone().requires_grad_(True)
    pose = torch.zeros(n, 45, requires_grad=True)
    log_s = scale0.float().log().clone().requires_grad_(True)
    opt = torch.optim.Adam([orient, pose, log_s], lr=0.03)
    for _ in range(iters):
        joints = hand(orient, pose, scale=log_s.exp(), is_left=left).joints
        loss = ((joints - target) ** 2).sum(-1).mean(-1) * 1e4 + 1e-3 * (pose**2).sum(-1)
        loss = loss + LIMIT_WEIGHT * limit_excess(pose, left)
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    with torch.no_grad():
        joints = hand(orient, pose, scale=log_s.exp(), is_left=left).joints
        error_mm = 1000 * (joints - target).norm(dim=-1).mean(-1)
    return orient.detach().numpy(), pose.detach().numpy(), error_mm.numpy()


def fit_both_sides(hand: HandModel, world: np.ndarray, iters: int = 200):
    """Return (global_orient (2N, 3), hand_pose (2N, 45), error_mm (N, 2) as [right, left]): each hand's 3D
    landmarks fitted by a right hand (rows 0..N-1) and by a left one (rows N..2N-1)."""
    n = len(world)
    orient, pose, error = fit_to_world(hand, np.concatenate([world, world]), np.repeat([False, True], n), iters)
    return orient, pose, np.stack([error[:n], error[n:]], 1)


SIDE_MARGIN = 1.5  # the other side must fit this many times better to overrule MediaPipe's label


def fit_either_side(hand: HandModel, world: np.ndarray, labelled_left: np.ndarray | None = None, iters: int = 200):
    """Return (is_left (N,), global_orient (N, 3), hand_pose (N, 45), error_mm (N, 2) as [right, left]):
    a right and a left hand fitted to each hand's 3D landmarks. The closer one is kept; where labels are
    given, a label stands unless the other side fits SIDE_MARGIN times better: MediaPipe's label is wrong on
    some views, and a hand of the wrong side meets the landmarks only by bending its fingers backwards."""
    n = len(world)
    orient, pose, error = fit_both_sides(hand, world, iters)
    is_left = error[:, 1] < error[:, 0]
    if labelled_left is not None:
        labelled_left = np.asarray(labelled_left, bool)
        clear = np.where(
            labelled_left, error[:, 1] > SIDE_MARGIN * error[:, 0], error[:, 0] > SIDE_MARGIN * error[:, 1]
        )
        is_left = np.where(clear, ~labelled_left, labelled_left)
    pick = np.arange(n) + n * is_left
    return is_left, orient[pick], pose[pick], error


def initial_records(
    hand: HandModel, hands: list, K: np.ndarray, ids: list[str], fitted_sides: tuple | None = None
) -> tuple[list[dict], dict[str, str]]:
    """Return (initial-estimate records, {id: note}) for detected hands: 3D landmark fit, then 2D keypoint
    fit (batched over the hands); K is one camera (3, 3) or one per hand (N, 3, 3). A note says where the side
    differs from MediaPipe's handedness label. fitted_sides: (is_left (N,), fit_both_sides's output) where the
    caller has chosen the sides (a video's tracks vote)."""
    if not hands:
        return [], {}
    if fitted_sides is None:
        is_left, orient, pose, error = fit_either_side(
            hand, np.stack([h.world for h in hands]), np.array([h.side == "left" for h in hands])
        )
    else:
        is_left, (both_orient, both_pose, error) = fitted_sides
        pick = np.arange(len(hands)) + len(hands) * np.asarray(is_left, int)
        orient, pose = both_orient[pick], both_pose[pick]
    Ks = np.array(np.broadcast_to(K, (len(hands), 3, 3)))  # a copy: each record owns its K
    records, notes = [], {}
    for i, h, left, o, p, e, k in zip(ids, hands, is_left, orient, pose, error, Ks):
        side = "left" if left else "right"
        if side != h.side and fitted_sides is None:
            notes[i] = (
                f"MediaPipe says {h.side} hand ({h.score:.2f}), but its 3D landmarks fit a {side} hand "
                f"({e[int(left)]:.1f} mm against {e[1 - int(left)]:.1f} mm): taken as {side}"
            )
            print(f"{i}: {notes[i]}", file=sys.stderr)
        records.append(
            {
                "id": i,
                "side": side,
                "hand_pose": p,
                "global_orient": o,
                "keypoints2d": h.keypoints2d,
                "K": k,
                "visible": np.ones(21, bool),
            }
        )
    # Camera placement and a fingers' fit to the 2D landmarks (the `fit` mode of refinement).
    fitted = refine_batch(records, RefineConfig(mode="fit", fit=PHOTO_FIT), hand)
    for rec in fitted:
        rec.pop("refine_mode", None)
    return fitted, notes


# The photo's own skeleton: real hands differ from the built-in one by a few millimetres per joint (bone
# lengths vary by about 5 % between adults of one hand size) and MediaPipe places some landmarks elsewhere
# than the built-in joints (the thumb's base, the wrist). A hand that keeps the built-in proportions cannot
# sit on the photo's keypoints; each hand gets its own joint offsets, fitted to the keypoints under a
# Gaussian prior. The values below are set from those facts, not fitted to any photo.
SKELETON_SD_MM = 5.0  # prior spread of each joint's offset from the built-in skeleton
KEYPOINT_SD_PX = 3.0  # MediaPipe's keypoint noise, at the reference hand size (refinement/batch.py)
KEYPOINT_ROBUST_PX = 8.0  # beyond this a keypoint's pull fades (Cauchy), at the reference size
POSE_SD = 0.3  # rad, prior spread of the finger rotations around the landmark fit


def fit_skeleton(hand: BuiltinHand, record: dict | list[dict], iters: int = 400) -> BuiltinHand:
    """Return the built-in hand with its rest joints and tips moved (each by millimetres) so that, with its
    global pose and finger pose refitted, it meets the record's visible keypoints: the maximum a posteriori
    offsets under SKELETON_SD_MM, a robust keypoint likelihood and the pose prior around the record's pose.
    Given several records (the frames of one hand's track), one skeleton meets them all."""
    records = [record] if isinstance(record, dict) else record
    return _fit_offsets(hand, records, torch.zeros(len(records), dtype=torch.long), iters)[0]


def fit_skeletons(hand: BuiltinHand, records: list[dict], iters: int = 400) -> list[BuiltinHand]:
    """Return one skeleton per record (different hands: fit_skeleton's of each alone), fitted at once."""
    return _fit_offsets(hand, records, torch.arange(len(records)), iters)


def _fit_offsets(hand: BuiltinHand, records: list[dict], owner: torch.Tensor, iters: int) -> list[BuiltinHand]:
    """Return the skeletons of fit_skeleton, one per owner index, each fitted to the records it owns."""
    batch = batch_from_records(records)
    # mm, the wrist, joints 1-15, then the 5 tips; the wrist moves like any other joint (the others move by
    # their offsets less its: the skeleton's origin stays at its wrist). Held at the origin instead, the wrist
    # could only move against the rest of the hand by all 20 other points moving together, as if its own
    # prior were sqrt(20) times tighter than theirs
    offsets = torch.zeros(int(owner.max()) + 1, 21, 3, requires_grad=True)
    pose, orient = batch.pose_r.clone().requires_grad_(True), batch.orient_r.clone().requires_grad_(True)
    transl = initial_translation(batch).clone().requires_grad_(True)  # the record's own where it has one
    opt = torch.optim.Adam(
        [{"params": [offsets], "lr": 0.2}, {"params": [pose, orient], "lr": 0.01}, {"params": [transl], "lr": 0.001}]
    )
    seen, c2 = batch.keypoint_weights, KEYPOINT_ROBUST_PX**2
    single = len(offsets) == 1  # one skeleton (one hand, or a track's frames): the shared kinematics
    for _ in range(iters):
        moved = _moved(hand, offsets[0] if single else offsets[owner])
        sq = reference_reprojection(moved, batch.with_global(orient, transl, batch.scale), pose)
        loss = (seen * c2 * torch.log1p(sq / c2)).sum() / (2 * KEYPOINT_SD_PX**2)
        loss = (
            loss + (offsets**2).sum() / (2 * SKELETON_SD_MM**2) + ((pose - batch.pose_r) ** 2).sum() / (2 * POSE_SD**2)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        hands = []
        for k in range(len(offsets)):
            fitted = _moved(hand, offsets[k])
            hands.append(BuiltinHand(fitted.rest.numpy(), fitted.tips.numpy()))
    return hands


class _MovedHand:
    """The built-in hand with differentiable rest joints and tips (for fit_skeleton)."""

    name = "builtin"

    def __init__(self, rest: torch.Tensor, tips: torch.Tensor):
        self.rest, self.tips = rest, tips

    def __call__(self, global_orient, hand_pose, transl=None, scale=None, betas=None, is_left=None):
        return HandOutput(skeleton_joints(self.rest, self.tips, global_orient, hand_pose, transl, scale, is_left))


def _moved(hand: BuiltinHand, offsets_mm: torch.Tensor) -> _MovedHand:
    """Return the hand with its wrist, rest joints 1-15 and tips moved by offsets_mm (21, 3), or one skeleton
    per hand by (B, 21, 3), the skeleton's origin kept at its wrist."""
    relative = (offsets_mm[..., 1:, :] - offsets_mm[..., :1, :]) / 1000
    wrist = hand.rest[:1].expand(*relative.shape[:-2], 1, 3)
    rest = torch.cat([wrist, hand.rest[1:] + relative[..., :15, :]], -2)
    return _MovedHand(rest, hand.tips + relative[..., 15:, :])


def occlusion_from_box(joints: np.ndarray, keypoints: np.ndarray, box, margin: float = 0.01) -> np.ndarray:
    """Return visible (21,) bools: a joint inside the object box (2D) and deeper than the palm centre by
    more than `margin` metres is taken to be behind the object (the object is assumed to sit at the palm)."""
    if box is None:
        return np.ones(21, bool)
    x0, y0, x1, y1 = box
    inside = (keypoints[:, 0] >= x0) & (keypoints[:, 0] <= x1) & (keypoints[:, 1] >= y0) & (keypoints[:, 1] <= y1)
    palm_depth = joints[[0, 5, 9, 13, 17], 2].mean()
    return ~(inside & (joints[:, 2] > palm_depth + margin))
