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
