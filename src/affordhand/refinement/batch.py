"""Records to tensors and back for refinement: a batch of hands with their 2D evidence and camera."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import roma
import torch

from affordhand.hand.camera import project
from affordhand.hand.model import HandModel
from affordhand.hand.rotations import mirror_where

# Joints that only global orientation, translation and scale move (wrist and the base of each finger).
PALM_JOINTS = (0, 1, 5, 9, 13, 17)
NEEDED = ("hand_pose", "global_orient", "keypoints2d", "K")
WEIGHT_FLOOR = 1e-6  # a hand with no weighted joint gets a zero cost, not a division by zero
MIDDLE_BASE_LENGTH = 0.093  # m, wrist to middle MCP of the built-in hand at scale 1
# The 2D costs' pixel scales (sigma_px) hold for a hand whose palm (wrist to middle MCP, at its depth, seen
# square on) spans this many pixels, the synthetic data's typical hand; residuals of a hand k times that
# size are divided by k, as a crop-based method's are by resizing the crop (ScoreHMR fits in a fixed-size
# crop). Fixed pixel scales would make the keypoints of a large hand in a photo look like outliers to the
# robust cost, and the prior would pull its visible fingers off the hand.
REFERENCE_PALM_PX = 100.0


@dataclass
class HandBatch:
    """B hands. Poses are right-hand parameters (left hands mirrored); the model mirrors them back.

    pose_r: (B, 45) rad   orient_r: (B, 3) rad   transl: (B, 3) m or None rows (nan)   scale: (B,)
    keypoints: (B, 21, 2) px   visible: (B, 21) bool   K: (B, 3, 3)   is_left: (B,) bool
    px_scale: (B,) the hand's palm length in pixels over REFERENCE_PALM_PX (fixed from the input)
    confidence: (B, 21) in [0, 1], how much each keypoint is trusted (a record's keypoint_confidence; 1)
    """

    pose_r: torch.Tensor
    orient_r: torch.Tensor
    transl: torch.Tensor
    scale: torch.Tensor
    keypoints: torch.Tensor
    visible: torch.Tensor
    K: torch.Tensor
    is_left: torch.Tensor
    px_scale: torch.Tensor
    confidence: torch.Tensor

    @property
    def keypoint_weights(self) -> torch.Tensor:
        """Return (B, 21) each joint's weight in the 2D costs: its confidence where it is seen, else 0."""
        return self.visible.to(self.confidence.dtype) * self.confidence

    def to(self, device) -> "HandBatch":
        return HandBatch(*[getattr(self, f).to(device) for f in self.__dataclass_fields__])

    def repeat(self, k: int) -> "HandBatch":
        """Return the batch with each hand repeated k times in a row (B * k hands)."""
        return HandBatch(*[getattr(self, f).repeat_interleave(k, 0) for f in self.__dataclass_fields__])

    def with_global(self, orient_r: torch.Tensor, transl: torch.Tensor, scale: torch.Tensor) -> "HandBatch":
        """Return a copy with another global pose (orientation, translation, scale)."""
        return replace(self, orient_r=orient_r, transl=transl, scale=scale)

    def joints(self, hand: HandModel, pose_r: torch.Tensor | None = None) -> torch.Tensor:
        """Return camera-frame joints (B, 21, 3), metres, for finger poses pose_r (default: the batch's)."""
        pose_r = self.pose_r if pose_r is None else pose_r
        return joints_camera(hand, pose_r, self.orient_r, self.transl, self.scale, self.is_left)


def batch_from_records(records: list[dict]) -> HandBatch:
    """Return a HandBatch (float32) from validated records that hold the NEEDED fields."""
    f32 = lambda key: torch.as_tensor(np.stack([r[key] for r in records]), dtype=torch.float32)
    is_left = torch.as_tensor([r["side"] == "left" for r in records])
    pose = f32("hand_pose").reshape(-1, 15, 3)
    pose = mirror_where(pose, is_left).reshape(-1, 45)
    orient = mirror_where(f32("global_orient"), is_left)
    transl = torch.as_tensor(
        np.stack([r["transl"] if r.get("transl") is not None else np.full(3, np.nan) for r in records]),
        dtype=torch.float32,
    )
    scale = torch.as_tensor([r.get("scale") or 1.0 for r in records], dtype=torch.float32)
    visible = torch.as_tensor(
        np.stack([r["visible"] if r.get("visible") is not None else np.ones(21, bool) for r in records])
    )
    keypoints, K = f32("keypoints2d"), f32("K")
    confidence = torch.as_tensor(
        np.stack(
            [r["keypoint_confidence"] if r.get("keypoint_confidence") is not None else np.ones(21) for r in records]
        ),
        dtype=torch.float32,
    )
    px = palm_px(keypoints, K, transl, scale, visible)
    return HandBatch(pose, orient, transl, scale, keypoints, visible, K, is_left, px, confidence)


def palm_px(keypoints, K, transl, scale, visible) -> torch.Tensor:
    """Return (B,) each hand's size in the image over REFERENCE_PALM_PX: its palm length (scale times
    MIDDLE_BASE_LENGTH) projected at the wrist's depth where the translation is given (pose and view do not
    change it); else the wrist to middle-MCP keypoint span where both are seen, else half the longer side of
    the keypoints' box (about a palm for most poses); at least 5 px."""
    span = torch.linalg.norm(keypoints[:, 9] - keypoints[:, 0], dim=-1)
    box = 0.5 * (keypoints.amax(1) - keypoints.amin(1)).amax(-1)
    span = torch.where(visible[:, 0] & visible[:, 9], span, box)
    z = transl[:, 2]
    given = torch.isfinite(z) & (z > 1e-3)
    projected = K[:, 0, 0] * MIDDLE_BASE_LENGTH * scale / torch.where(given, z, torch.ones_like(z))
    return torch.where(given, projected, span).clamp_min(5.0) / REFERENCE_PALM_PX


def joints_camera(hand: HandModel, pose_r, orient_r, transl, scale, is_left) -> torch.Tensor:
    """Return camera-frame joints (B, 21, 3), metres, from right-hand parameters."""
    pose = mirror_where(pose_r.reshape(-1, 15, 3), is_left)
    orient = mirror_where(orient_r, is_left)
    return hand(orient, pose, transl=transl, scale=scale, is_left=is_left).joints


def wrist_frame_joints(hand: HandModel, pose_r: torch.Tensor, is_left: torch.Tensor) -> torch.Tensor:
    """Return joints (B, 21, 3), metres, of finger poses pose_r (B, 45) under no global orientation, at unit
    scale, wrist at the origin, in each hand's own side. Every hand model rotates about the wrist and scales
    and translates after (transl is the wrist position), so the camera-frame joints of any global pose are
    `rigid_joints` of these: a fit that holds the fingers fixed runs the kinematics once, not per step."""
    pose = mirror_where(pose_r.reshape(-1, 15, 3), is_left)
    zeros = pose_r.new_zeros(pose_r.shape[0], 3)
    joints = hand(zeros, pose, is_left=is_left).joints
    return joints - joints[:, :1]


def side_rotation(orient_r: torch.Tensor, is_left: torch.Tensor) -> torch.Tensor:
    """Return (B, 3, 3) the rotation matrices of right-hand orientations orient_r (B, 3) in each hand's own
    side convention."""
    return roma.rotvec_to_rotmat(mirror_where(orient_r, is_left))


def rigid_joints(local: torch.Tensor, orient_r, transl, scale, is_left, rotation=None) -> torch.Tensor:
    """Return camera-frame joints (B, 21, 3) of wrist-frame joints (from wrist_frame_joints) under right-hand
    global orientation orient_r (B, 3) (or its side_rotation, when given), translation (B, 3) and scale
    (B,)."""
    rotation = side_rotation(orient_r, is_left) if rotation is None else rotation
    return torch.einsum("bij,bkj->bki", rotation, local) * scale.reshape(-1, 1, 1) + transl.unsqueeze(1)


def reprojection(
    hand, batch: HandBatch, pose_r: torch.Tensor | None = None, joints: torch.Tensor | None = None
) -> torch.Tensor:
    """Return squared pixel residuals (B, 21) against the batch's 2D keypoints of the batch's hands (finger
    poses pose_r, default the batch's), or of the camera-frame joints given."""
    uv = project(batch.joints(hand, pose_r) if joints is None else joints, batch.K)
    return ((uv - batch.keypoints) ** 2).sum(-1)


def reference_reprojection(
    hand, batch: HandBatch, pose_r: torch.Tensor | None = None, joints: torch.Tensor | None = None
) -> torch.Tensor:
    """Return squared residuals (B, 21) as `reprojection`, measured at the reference hand size
    (REFERENCE_PALM_PX): every 2D cost of refinement and of the image front end uses these."""
    return reprojection(hand, batch, pose_r, joints) / batch.px_scale[:, None] ** 2


def geman_mcclure(sq_residual: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Return the robust Geman-McClure cost in [0, 1) of squared residuals (px^2), scale sigma_px."""
    return sq_residual / (sq_residual + sigma_px**2)


def keypoint_loss(
    hand: HandModel,
    batch: HandBatch,
    pose_r: torch.Tensor | None,
    sigma_px: float,
    weights: torch.Tensor | None = None,
    joints: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return (B,) the weighted mean robust 2D cost of the hands' joints (of finger poses pose_r, or the
    camera-frame joints given); weights (B, 21) default to the visible joints, each by its confidence (a
    hidden joint's keypoint is a guess, so it has no data term). Residuals are measured at the reference hand
    size (REFERENCE_PALM_PX)."""
    weights = batch.keypoint_weights if weights is None else weights
    cost = geman_mcclure(reference_reprojection(hand, batch, pose_r, joints), sigma_px)
    return (weights * cost).sum(-1) / weights.sum(-1).clamp_min(WEIGHT_FLOOR)
