"""Matplotlib figures of hands: 3D skeletons in a grid, and 2D keypoints on a virtual image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Bones as (parent, child) in OpenPose order, coloured by finger.
BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
         (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]
FINGER_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")  # thumb, index, middle, ring, pinky


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_skeleton_3d(ax, joints: np.ndarray, colour: str | None = None, alpha: float = 1.0, label=None) -> None:
    """Draw one hand's joints (21, 3) on a 3D axis, one colour per finger unless colour is given."""
    for b, (i, j) in enumerate(BONES):
        c = colour or FINGER_COLOURS[b // 4]
        ax.plot(*zip(joints[i], joints[j]), color=c, alpha=alpha, linewidth=2,
                label=label if (b == 0 and label) else None)
    ax.scatter(*joints.T, s=6, color=colour or "k", alpha=alpha)


def _equal_box(ax, points: np.ndarray) -> None:
    centre = points.reshape(-1, 3).mean(0)
    radius = np.abs(points.reshape(-1, 3) - centre).max()
    for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
        setter(c - radius, c + radius)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])


def skeleton_grid(joint_sets: list[np.ndarray], titles: list[str], path: str | Path, columns: int = 7,
                  view=(-60, -90)) -> Path:
    """Save a grid of 3D skeletons (each (21, 3) metres, or a list of (joints, colour, label)) as PNG."""
    plt = _pyplot()
    rows = int(np.ceil(len(joint_sets) / columns))
    fig = plt.figure(figsize=(2.6 * columns, 2.6 * rows))
    for k, (item, title) in enumerate(zip(joint_sets, titles)):
        ax = fig.add_subplot(rows, columns, k + 1, projection="3d")
        layers = item if isinstance(item, list) else [(item, None, None)]
        for joints, colour, label in layers:
            draw_skeleton_3d(ax, joints, colour, label=label)
        _equal_box(ax, np.stack([layer[0] for layer in layers]))
        ax.view_init(elev=view[0], azim=view[1])
        ax.set_title(title, fontsize=8)
        if any(layer[2] for layer in layers) and k == 0:
            ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
