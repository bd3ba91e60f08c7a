"""The preview figure: one 3D skeleton per grasp class, titled with the class name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affordhand.data.objects import OBJECTS
from affordhand.data.taxonomy import GRASPS, HOGRASPNET_ORDER
from affordhand.report.figures import skeleton_grid
from affordhand.synth import scene
from affordhand.synth.grasps import sample_poses


def grasp_preview(path: str | Path, seed: int = 0) -> Path:
    """Save a grid with one grasp of each class (on the first catalogue object the class is listed for),
    viewed from the thumb side."""
    rng = np.random.default_rng(seed)
    first = {g: next(o for o in OBJECTS.values() if g in o.grasps) for g in HOGRASPNET_ORDER}
    poses = np.concatenate([sample_poses(g, [first[g]], rng) for g in HOGRASPNET_ORDER])
    joints = scene.forward(poses, np.zeros((len(poses), 3)), np.zeros(len(poses), bool))
    titles = [f"{g} {GRASPS[g].name}" for g in HOGRASPNET_ORDER]
    return skeleton_grid(list(joints), titles, path, columns=7, view=(25, 60))
