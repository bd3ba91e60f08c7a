"""Hand meshes for download: the MANO mesh when the user's MANO files are configured, else a skeleton of
capsules (bones) and spheres (joints) built with trimesh."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.errors import AffordhandError
from affordhand.hand.skeleton import BONES


def skeleton_mesh(joints: np.ndarray, radius: float = 0.006):
    """Return a trimesh of capsules along the bones and spheres at the joints (joints (21, 3), metres)."""
    try:
        import trimesh
    except ImportError:
        raise AffordhandError("mesh export needs trimesh: pip install 'affordhand[image]'") from None
    parts = []
    for a, b in BONES:
        p, q = joints[a], joints[b]
        length = float(np.linalg.norm(q - p))
        if length < 1e-6:
            continue
        capsule = trimesh.creation.capsule(height=length, radius=radius, count=[8, 8])
        # trimesh's capsule runs along z from 0 to height: turn z onto the bone and move it to p.
        capsule.apply_transform(trimesh.geometry.align_vectors([0, 0, 1], (q - p) / length))
        capsule.apply_translation(p)
        parts.append(capsule)
    for p in joints:
        sphere = trimesh.creation.icosphere(subdivisions=1, radius=radius * 1.3)
        sphere.apply_translation(p)
        parts.append(sphere)
    return trimesh.util.concatenate(parts)


def export_mesh(path: str | Path, joints: np.ndarray, vertices: np.ndarray | None = None, faces=None) -> Path:
    """Write a GLB or OBJ (by suffix): MANO vertices/faces when given, else the capsule skeleton."""
    import trimesh

    mesh = trimesh.Trimesh(vertices, faces, process=False) if vertices is not None else skeleton_mesh(joints)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(path)
    return path
