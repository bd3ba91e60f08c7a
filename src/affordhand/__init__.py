"""affordhand: 3D hand reconstruction under occlusion with an affordance-guided diffusion prior.

The Python API (`affordhand/api.py`; imported on first use, so `import affordhand` stays light):
load_prior, refine, evaluate, sample, refine_image, read_records, write_records.
"""

__version__ = "0.1.0"

__all__ = [
    "load_prior",
    "refine",
    "evaluate",
    "sample",
    "refine_image",
    "read_records",
    "write_records",
    "AffordhandError",
]


def __getattr__(name):
    if name in __all__:
        if name == "AffordhandError":
            from affordhand.errors import AffordhandError

            return AffordhandError
        from affordhand import api

        return getattr(api, name)
    raise AttributeError(f"module 'affordhand' has no attribute {name!r}")
