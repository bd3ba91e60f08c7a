"""affordhand: 3D hand reconstruction under occlusion with an affordance-guided diffusion prior."""

__version__ = "0.1.0"
