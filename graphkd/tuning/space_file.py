"""Space files: a search space as TOML (``graphkd tune --space space.toml``), read and written.

The file names options as :mod:`graphkd.tuning.space` does, in tables (``[student.training]`` then
``lr = {low = 0.001, high = 0.01, log = true}``) or dotted (``"student.training.lr" = [0.001, 0.01]``), on top of
the default space; ``defaults = false`` at its top starts from an empty one.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

import tomli_w

from graphkd.errors import GraphkdError
from graphkd.io import os_error_message
from graphkd.tuning.space import SearchSpace

__all__ = ["read_space", "space_text"]


def read_space(path: str | os.PathLike) -> SearchSpace:
    """The space a TOML space file describes (see the module's docstring); one :class:`GraphkdError` naming the
    file for anything unknown or out of range."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GraphkdError(f"no search space file at {path}") from exc
    except OSError as exc:
        raise GraphkdError(f"no readable search space file at {path}: {os_error_message(exc)}") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GraphkdError(f"{path} is not a readable TOML search space file ({exc})") from exc
    defaults = document.pop("defaults", True)
    try:
        if not isinstance(defaults, bool):
            raise GraphkdError(f"defaults must be true or false, got {defaults!r}")
        return SearchSpace.of(document, defaults=defaults)
    except GraphkdError as exc:
        raise GraphkdError(f"{path}: {exc}") from None


def space_text(space: SearchSpace) -> str:
    """``space`` as a space file (TOML) that :func:`read_space` reads back: edit it to narrow or widen a search."""
    groups: dict[str, list[str]] = {}
    for name, plain in space.to_plain().items():
        table, _, key = name.rpartition(".")
        value = ("{" + ", ".join(f"{k} = {_toml(v)}" for k, v in plain.items()) + "}") if isinstance(plain, dict) \
            else _toml(plain)
        groups.setdefault(table, []).append(f"{key} = {value}")
    return "defaults = false\n" + "".join(f"\n[{table}]\n" + "\n".join(lines) + "\n" if table else
                                          "\n".join(lines) + "\n" for table, lines in groups.items())


def _toml(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()
