"""Images in, refined 3D hands out: hand detection, initial fit, occlusion, refinement and outputs."""
