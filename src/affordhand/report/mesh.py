"""Hand meshes for download (GLB or OBJ, by suffix), written with trimesh: MANO's mesh with the user's MANO
files, else the built-in hand's license-free surface (hand/surface.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.errors import AffordhandError


def export_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a mesh (vertices (V, 3) m, faces (F, 3)) as GLB or OBJ (by the path's suffix); return the path."""
    try:
        import trimesh
    except ImportError:
        raise AffordhandError("mesh export needs trimesh: pip install 'affordhand[image]'") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.Trimesh(vertices, faces, process=False).export(path)
    return path
