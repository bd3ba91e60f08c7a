"""Settings fields that carry their own description, so one sentence serves the dataclass, its command-line
flag (commands/flags.py) and the documentation's command pages, which are generated from the flags."""

from __future__ import annotations

import dataclasses
from typing import Any


def setting(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING):
    """Return a dataclass field that `affordhand` exposes as a flag, described by help ("" for a flag whose
    name says it all)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"flag": True, "help": help})


def flag_fields(cls) -> list[dataclasses.Field]:
    """Return the fields of a settings dataclass that are flags, in their order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]
