"""Which device computes: `auto` takes CUDA, then Apple's MPS, then the CPU; a device that is not there is a
one-line error, not a traceback from deep inside torch."""

from __future__ import annotations

from affordhand.errors import AffordhandError


def resolve_device(spec: str = "auto") -> str:
    """Return a torch device string for `auto`, `cpu`, `cuda`, `cuda:N` or `mps`, checked to exist here."""
    import torch

    spec = (spec or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if spec == "cpu":
        return spec
    if spec == "mps":
        if not has_mps:
            raise AffordhandError("--device mps: Apple's Metal backend is not available here; use --device cpu")
        return spec
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA device is visible"
            raise AffordhandError(f"--device {spec}: {build} (torch {torch.__version__}); use --device cpu or auto")
        index = spec.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise AffordhandError(f"--device {spec}: there are {torch.cuda.device_count()} CUDA devices")
        return spec
    raise AffordhandError(f"unknown --device {spec!r}: auto, cpu, cuda, cuda:N or mps")
