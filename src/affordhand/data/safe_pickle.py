"""Restricted unpickling: only the classes a data file legitimately needs (numpy arrays, builtins), so a
malicious pickle cannot run code. Used for HO3D's meta files and MANO model files."""

from __future__ import annotations

import _compat_pickle
import io
import pickle

NUMPY_ONLY = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("copyreg", "_reconstructor"),
        ("builtins", "object"),
        ("_codecs", "encode"),  # how protocol-2 pickles store array bytes
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that admits `allowed` (module, name) pairs and, optionally, a hook for others."""

    def __init__(self, file, allowed=NUMPY_ONLY, extra=None, **kwargs):
        super().__init__(file, **kwargs)
        self.allowed, self.extra = allowed, extra

    def find_class(self, module, name):
        # Python 2 names (copy_reg, __builtin__) as Python 3 spells them, before the check; no Python 3 name
        # is among the mapping's keys, so this never changes one.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        if self.extra is not None:
            found = self.extra(module, name)
            if found is not None:
                return found
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def safe_loads(data: bytes, allowed=NUMPY_ONLY, extra=None):
    """Return the object in pickle bytes, admitting only `allowed` classes (latin1 for Python 2 pickles).

    Raises pickle.UnpicklingError for anything it cannot or will not load: a refused class, and also an
    empty, truncated or malformed file (which the unpickler reports as EOFError, ValueError, ...)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), allowed, extra, encoding="latin1").load()
    except pickle.UnpicklingError:
        raise
    except (EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError, ImportError) as exc:
        raise pickle.UnpicklingError(f"broken pickle ({type(exc).__name__}: {exc})") from None
