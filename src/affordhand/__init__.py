"""affordhand: 3D hand reconstruction under occlusion with an affordance-guided diffusion prior.

The Python API (`affordhand/api.py`; imported on first use, so `import affordhand` stays light):
load_prior, load_refiner (a Refiner: prior, hand model and uncertainty recipe loaded once), refine, evaluate,
sample, refine_image, refine_video, read_records, write_records.
"""

__version__ = "0.1.0"

__all__ = [
    "load_prior",
    "load_refiner",
    "Refiner",
    "refine",
    "evaluate",
    "sample",
    "refine_image",
    "refine_video",
    "read_records",
    "write_records",
    "AffordhandError",
]


def __getattr__(name):
    if name in __all__:
        if name == "AffordhandError":
            from affordhand.errors import AffordhandError

            return AffordhandError
        if name == "Refiner":
            from affordhand.refinement.loader import Refiner

            return Refiner
        from affordhand import api

        return getattr(api, name)
    raise AttributeError(f"module 'affordhand' has no attribute {name!r}")
