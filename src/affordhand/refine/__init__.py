"""Refinement of initial hand estimates: global fit, guided diffusion, uncertainty, resumable output.

The package is also the API function `affordhand.refine(records, ...)` (affordhand/api.py): importing a
subpackage binds its name on the parent package, so the package itself forwards calls to the function."""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from affordhand.api import refine

        return refine(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
