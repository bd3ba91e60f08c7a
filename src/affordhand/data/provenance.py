"""Settings that travel with results: what made an output (command, settings, seed, the input's and the
prior's hashes), kept beside it as OUT.config.json, and the check that refuses to resume a partial output
under other settings.

A settings file looks like:
    {"command": "refine", "version": "0.1.0", "settings": {...}, "inputs": {"input": "<sha256>", ...}}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from affordhand.data.atomic import atomic_write_text
from affordhand.errors import AffordhandError


def file_sha256(path: str | os.PathLike) -> str:
    """Return the sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def settings_path(out: str | os.PathLike) -> Path:
    """Return the settings file kept beside an output: OUT.config.json."""
    out = Path(out)
    return out.with_name(out.name + ".config.json")


def provenance(command: str, settings: dict, inputs: dict[str, str | None]) -> dict:
    """Return the settings record of a run: `inputs` maps a name to a file (hashed) or to a hash already
    made (a prior's digest); None entries are kept as None."""
    from affordhand import __version__

    hashed = {}
    for name, value in inputs.items():
        hashed[name] = file_sha256(value) if value is not None and Path(value).is_file() else value
    return {"command": command, "version": __version__, "settings": settings, "inputs": hashed}


def write_settings(out: str | os.PathLike, record: dict, **extra) -> Path:
    """Write OUT.config.json (atomically); return its path."""
    path = settings_path(out)
    atomic_write_text(path, json.dumps({**record, **extra}, indent=2, sort_keys=True) + "\n")
    return path


def differences(saved: dict, wanted: dict, prefix: str = "") -> list[str]:
    """Return 'key: old -> new' for each setting or input that differs between two settings records."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key), wanted.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {_short(a)} -> {_short(b)}")
    return out


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 20 else text[:17] + "..."


def check_same_run(what: str, saved: dict | None, wanted: dict) -> None:
    """Raise AffordhandError unless `saved` (the settings a partial output was made with) matches `wanted`
    in command, settings and inputs (the version may differ)."""
    if saved is None:
        raise AffordhandError(
            f"{what} records no settings, so it cannot be resumed safely; rerun with --restart to start over"
        )
    keys = ("command", "settings", "inputs")
    diff = differences({k: saved.get(k) for k in keys}, {k: wanted.get(k) for k in keys})
    if diff:
        raise AffordhandError(
            f"{what} was made with other settings or input ({'; '.join(diff[:4])}); rerun "
            "with the same ones to resume, or with --restart to start over"
        )
