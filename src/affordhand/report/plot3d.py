"""An interactive, rotatable 3D view of hands (plotly), written as HTML that works offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.hand.skeleton import BONES


def hands_html(
    layers: list[tuple[np.ndarray, str, str]],
    path: str | Path,
    title: str = "",
    mesh: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write an HTML page with one skeleton per (joints (21, 3) m, colour, name), over an optional surface
    (vertices (V, 3) m, faces (F, 3)); plotly.min.js beside it. Points are camera-frame: the page opens at
    the photo's viewpoint."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if mesh is not None:
        v, f = mesh
        fig.add_trace(
            go.Mesh3d(
                x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                color="#e8c4a8", opacity=0.35, name="surface", showlegend=True, flatshading=False,
            )
        )  # fmt: skip
    for joints, colour, name in layers:
        xs, ys, zs = [], [], []
        for a, b in BONES:
            for p in (joints[a], joints[b]):
                xs.append(p[0]), ys.append(p[1]), zs.append(p[2])
            xs.append(None), ys.append(None), zs.append(None)
        fig.add_trace(
            go.Scatter3d(
                x=xs,
                y=ys,
                z=zs,
                mode="lines+markers",
                name=name,
                line={"color": colour, "width": 6},
                marker={"size": 3, "color": colour},
            )
        )
    fig.update_layout(
        title=title,
        scene={"aspectmode": "data", "camera": {"up": {"x": 0, "y": -1, "z": 0}, "eye": {"x": 0, "y": 0, "z": -2}}},
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs="directory", full_html=True)
    return path
