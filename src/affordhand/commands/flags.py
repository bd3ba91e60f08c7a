"""Command-line flags made from the settings dataclasses, so a flag's type, choices and default are the
dataclass field's and are never restated."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Literal, get_args, get_origin


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


def add_config_flags(parser: argparse.ArgumentParser, cls, helps: dict[str, str]) -> None:
    """Add one flag per field named in helps (--field-name), typed and defaulted as cls's field; a Literal
    field becomes a choice, a bool a switch."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, help_text in helps.items():
        kind, default = hints[name], _default(fields[name])
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


def config_from_args(cls, args: argparse.Namespace, helps: dict[str, str], **extra):
    """Return cls built from the flags add_config_flags made for the same helps, plus extra fields."""
    return cls(**{name: getattr(args, name) for name in helps}, **extra)
