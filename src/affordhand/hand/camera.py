"""Pinhole camera: projection of camera-frame points with intrinsics K."""

from __future__ import annotations

import torch

MIN_DEPTH = 1e-3  # metres; keeps projection finite for points at or behind the camera


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Return pixel coordinates (B, N, 2) of camera-frame points (B, N, 3) in metres, K: (B, 3, 3)."""
    z = points[..., 2:3].clamp_min(MIN_DEPTH)
    uv1 = torch.einsum("bij,bnj->bni", K.to(points.dtype), points / z)
    return uv1[..., :2]


def default_intrinsics(width: int, height: int, fov_deg: float = 60.0) -> torch.Tensor:
    """Return (3, 3) K for an image of width x height pixels with the given horizontal field of view."""
    import math

    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2)
    return torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
