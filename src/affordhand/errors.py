"""The one error type that reaches users: it carries a message that says what, where and what to do."""

from __future__ import annotations

from typing import Literal, get_args, get_origin, get_type_hints


class AffordhandError(Exception):
    """A user-facing error (bad file, bad flag, missing model). The CLI prints its message, no traceback."""


def check_choices(config) -> None:
    """Raise AffordhandError, naming the allowed values, where a Literal-typed field of a config dataclass
    holds another value."""
    for name, kind in get_type_hints(type(config)).items():
        allowed = get_args(kind) if get_origin(kind) is Literal else None
        if allowed and getattr(config, name) not in allowed:
            raise AffordhandError(f"unknown {name} {getattr(config, name)!r}: {', '.join(map(str, allowed))}")


def check_range(name: str, value, low: float | None = None, high: float | None = None, integer: bool = False):
    """Return value where it is a finite number (an int where `integer`) within [low, high]; else raise
    AffordhandError naming the field, its value and the range allowed."""
    import math

    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        want = "an integer" if integer else "a finite number"
        raise AffordhandError(f"{name} must be {want}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"at least {low}" if high is None else f"at most {high}" if low is None else f"between {low} and {high}"
        raise AffordhandError(f"{name} must be {span}, got {value!r}")
    return value
