"""Command-line flags made from the settings dataclasses, so a flag's type, choices, default and help are the
dataclass field's (data/fields.py: setting) and are never restated."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Literal, get_args, get_origin

from affordhand.data.fields import flag_fields


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    """Add one flag (--field-name) per field of cls made with `setting`, typed, defaulted and described as the
    field is; a Literal field becomes a choice, a bool a switch."""
    hints = typing.get_type_hints(cls)
    for f in flag_fields(cls):
        name, help_text = f.name, f.metadata["help"]
        kind, default = hints[name], _default(f)
        flag = "--" + name.replace("_", "-")
        literal = get_args(kind) if get_origin(kind) is Literal else ()
        if (kind is bool and default) or any(not isinstance(v, str) for v in literal):
            raise TypeError(f"{cls.__name__}.{name}: only switches that default to off and string choices make flags")
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=default, help=help_text)
            continue
        options: dict = {"default": default}
        if literal:
            options["choices"] = literal
        else:
            if get_origin(kind) in (typing.Union, types.UnionType):  # int | None: the flag takes an int
                kind = next(k for k in get_args(kind) if k is not type(None))
            options["type"] = kind
        shown = f"default: {default}" if default is not None else "default: see above"
        parser.add_argument(flag, help=f"{help_text} ({shown})" if help_text else f"({shown})", **options)


def config_from_args(cls, args: argparse.Namespace, **extra):
    """Return cls built from the flags add_config_flags made for it, plus extra fields."""
    return cls(**{f.name: getattr(args, f.name) for f in flag_fields(cls)}, **extra)
