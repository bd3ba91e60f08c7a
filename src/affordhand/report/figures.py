"""Matplotlib figures of hands: 3D skeletons in a grid, and 2D keypoints on a virtual image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.hand.skeleton import BONES

FINGER_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")  # thumb, index, middle, ring, pinky


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path, dpi: int) -> Path:
    """Lay out, save as PNG (creating the folder) and close a figure; return its path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def draw_skeleton_3d(ax, joints: np.ndarray, colour: str | None = None, alpha: float = 1.0, label=None) -> None:
    """Draw one hand's joints (21, 3) on a 3D axis, one colour per finger unless colour is given."""
    for b, (i, j) in enumerate(BONES):
        c = colour or FINGER_COLOURS[b // 4]
        ax.plot(
            *zip(joints[i], joints[j]), color=c, alpha=alpha, linewidth=2, label=label if (b == 0 and label) else None
        )
    ax.scatter(*joints.T, s=6, color=colour or "k", alpha=alpha)


def _equal_box(ax, points: np.ndarray) -> None:
    centre = points.reshape(-1, 3).mean(0)
    radius = np.abs(points.reshape(-1, 3) - centre).max()
    for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
        setter(c - radius, c + radius)
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])


def skeleton_grid(
    joint_sets: list[np.ndarray],
    titles: list[str],
    path: str | Path,
    columns: int = 7,
    view=(-60, -90),
    panel_inches: float = 2.6,
    dpi: int = 90,
) -> Path:
    """Save a grid of 3D skeletons (each (21, 3) metres, or a list of (joints, colour, label)) as PNG."""
    plt = _pyplot()
    rows = int(np.ceil(len(joint_sets) / columns))
    fig = plt.figure(figsize=(panel_inches * columns, panel_inches * rows))
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
    return _save(plt, fig, path, dpi=dpi)


def draw_keypoints_2d(ax, uv: np.ndarray, visible: np.ndarray | None, colour: str, label: str, marker="o") -> None:
    """Draw 2D keypoints (21, 2) px with bones; hidden joints (visible false) as hollow markers."""
    for i, j in BONES:
        ax.plot(*zip(uv[i], uv[j]), color=colour, linewidth=1, alpha=0.8)
    vis = np.ones(21, bool) if visible is None else visible
    ax.scatter(*uv[vis].T, s=12, color=colour, marker=marker, label=label)
    if (~vis).any():
        ax.scatter(*uv[~vis].T, s=30, facecolors="none", edgecolors=colour, marker=marker)


def refinement_figure(cases: list[dict], path: str | Path, image_size=(640, 480)) -> Path:
    """Save one row per hand: 2D keypoints on the virtual image, then 3D init / refined / ground truth.

    Each case: title, keypoints (21, 2), visible (21,), uv_init, uv_refined (21, 2) px, and
    joints_gt, joints_init, joints_refined (21, 3) m, root-relative."""
    plt = _pyplot()
    fig = plt.figure(figsize=(10, 3.3 * len(cases)))
    for row, case in enumerate(cases):
        ax = fig.add_subplot(len(cases), 2, 2 * row + 1)
        ax.set_xlim(0, image_size[0]), ax.set_ylim(image_size[1], 0)
        ax.set_aspect("equal"), ax.set_facecolor("#f4f4f4")
        draw_keypoints_2d(ax, case["keypoints"], case["visible"], "k", "true 2D joints (hollow: occluded, unseen)")
        draw_keypoints_2d(ax, case["uv_init"], None, "#d62728", "initial estimate", "x")
        draw_keypoints_2d(ax, case["uv_refined"], None, "#1f77b4", "refined", "+")
        pts = np.concatenate([case["keypoints"], case["uv_init"], case["uv_refined"]])
        lo, hi = pts.min(0) - 30, pts.max(0) + 30
        ax.set_xlim(lo[0], hi[0]), ax.set_ylim(hi[1], lo[1])
        ax.set_title(case["title"], fontsize=8, loc="left", wrap=True)
        ax.legend(fontsize=6, loc="lower right")
        ax3 = fig.add_subplot(len(cases), 2, 2 * row + 2, projection="3d")
        draw_skeleton_3d(ax3, case["joints_gt"], "k", label="ground truth")
        draw_skeleton_3d(ax3, case["joints_init"], "#d62728", alpha=0.7, label="initial")
        draw_skeleton_3d(ax3, case["joints_refined"], "#1f77b4", alpha=0.9, label="refined")
        _equal_box(ax3, np.stack([case["joints_gt"], case["joints_init"], case["joints_refined"]]))
        ax3.view_init(elev=-70, azim=-90)  # camera view: x right, y down
        ax3.legend(fontsize=6, loc="upper left")
    return _save(plt, fig, path, dpi=80)


# Views of `hand_views`, as (title, elevation, azimuth) of the display frame (x right, depth, up): the
# photo's own viewpoint first, then the hand turned a quarter about the vertical, then seen from above.
HAND_VIEWS = (("as in the photo", 0, -90), ("from the side", 0, 0), ("from above", 89, -90))


def _display(points: np.ndarray) -> np.ndarray:
    """Return camera-frame points (..., 3) (x right, y down, z away) as (x, z, -y): plotted at elevation 0,
    azimuth -90, they appear as the camera sees them."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], -1)


def _draw_mesh(ax, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Draw a triangle mesh (display frame) in skin tone, lit from the viewer's upper left."""
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    tri = vertices[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    light = np.array([-0.4, -0.7, 0.6]) / np.linalg.norm([-0.4, -0.7, 0.6])
    shade = 0.45 + 0.55 * np.clip(np.abs(normal @ light), 0, 1)
    colours = np.stack([0.93 * shade, 0.76 * shade, 0.66 * shade, np.full_like(shade, 0.35)], 1)
    ax.add_collection3d(Poly3DCollection(tri, facecolors=colours, edgecolor="none"))


def hand_views(
    layers: list[tuple[np.ndarray, str, str]],
    path: str | Path,
    title: str = "",
    mesh: tuple[np.ndarray, np.ndarray] | None = None,
    panel_inches: float = 3.6,
    dpi: int = 110,
) -> Path:
    """Save one hand in HAND_VIEWS as PNG, orthographic: skeleton layers (joints (21, 3) m, camera frame,
    colour, label) over an optional surface (vertices (V, 3) m, same frame, faces (F, 3))."""
    plt = _pyplot()
    fig = plt.figure(figsize=(panel_inches * len(HAND_VIEWS), panel_inches + 0.4))
    points = np.concatenate([_display(layer[0]) for layer in layers])
    for k, (name, elev, azim) in enumerate(HAND_VIEWS):
        ax = fig.add_subplot(1, len(HAND_VIEWS), k + 1, projection="3d")
        ax.set_proj_type("ortho")
        ax.set_box_aspect(None, zoom=1.35)  # the axes are off: use the room their labels would take
        if mesh is not None:
            _draw_mesh(ax, _display(mesh[0]), mesh[1])
        for joints, colour, label in layers:
            draw_skeleton_3d(ax, _display(joints), colour, label=label)
        _equal_box(ax, points)
        ax.view_init(elev=elev, azim=azim)
        ax.set_axis_off()
        ax.set_title(name, fontsize=9)
        if k == 0:
            ax.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(plt, fig, path, dpi=dpi)
