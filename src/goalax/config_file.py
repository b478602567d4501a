"""Settings read from YAML (a ``--config`` file, a run folder's config.yaml) checked against the
config's types, and the same types' checks of command-line text.

YAML's older rules read ``3e-4`` as a string: a float setting takes it as the number it means,
as it takes ``1``; an int setting takes whole numbers (``1e6`` too). A boolean takes only true or
false (a quoted ``"no"`` is refused, not read as true), a name only one of its choices. A value
the type cannot take, or a key that is no setting, is one sentence naming the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from goalax.errors import ConfigError


@functools.lru_cache(maxsize=64)
def field_types(cls) -> dict[str, Any]:
  """``{field: type}`` of a config dataclass, its ``Annotated`` markers removed."""
  return typing.get_type_hints(typing.get_origin(cls) or cls)


def _optional(kind) -> Any | None:
  """The type inside ``X | None``; None for any other type."""
  args = typing.get_args(kind)
  if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
    rest = [a for a in args if a is not type(None)]
    return rest[0] if len(rest) == 1 else None
  return None


def describe(kind) -> str:
  """What a value of ``kind`` is, for messages: ``a whole number``, ``one of mp4 or gif``."""
  kind = _optional(kind) or kind
  if typing.get_origin(kind) is Literal:
    names = [str(a) for a in typing.get_args(kind)]
    return "one of " + (", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0])
  if typing.get_origin(kind) is tuple:
    args = typing.get_args(kind)
    if len(args) == 2 and args[1] is Ellipsis:
      return f"a list of {describe(args[0]).removeprefix('a ')}s"
    return f"{len(args)} values, each {describe(args[0])}"
  return {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}.get(
    kind, getattr(kind, "__name__", str(kind))
  )


def _number(value, kind, from_text: bool):
  """``value`` as an int or float; ValueError when it is none."""
  if isinstance(value, bool) or not isinstance(value, (int, float, str)):
    raise ValueError
  if from_text:  # tyro's own reading of the token
    return kind(value)
  if kind is float:
    return float(value)
  if isinstance(value, str):
    try:
      return int(value)
    except ValueError:
      value = float(value)
  if isinstance(value, float) and not value.is_integer():
    raise ValueError
  return int(value)


def read_value(value, kind, from_text: bool = False):
  """``value`` (a YAML value, or with ``from_text`` a command-line token) as ``kind``;
  ValueError when ``kind`` cannot take it."""
  inner = _optional(kind)
  if inner is not None:
    if value is None or (from_text and value == "None"):
      return None
    return read_value(value, inner, from_text)
  origin, args = typing.get_origin(kind), typing.get_args(kind)
  if origin is Literal:
    if value not in args:
      raise ValueError
    return value
  if origin is tuple:
    items = [value] if isinstance(value, str) and args[-1] is Ellipsis else value
    if not isinstance(items, (list, tuple)):
      raise ValueError
    kinds = [args[0]] * len(items) if args[-1] is Ellipsis else list(args)
    if len(kinds) != len(items):
      raise ValueError
    return tuple(read_value(v, k, from_text) for v, k in zip(items, kinds))
  if kind is bool:
    if not isinstance(value, bool):
      raise ValueError
    return value
  if kind in (int, float):
    return _number(value, kind, from_text)
  if kind is str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
      raise ValueError
    return str(value)
  return value


def nearest(name: str, names: Iterable[str]) -> str | None:
  """The name closest to ``name`` (difflib), or None when none is close."""
  close = difflib.get_close_matches(name, list(names), n=1)
  return close[0] if close else None


def value_error(what: str, value, kind) -> str:
  """``what must be KIND, got VALUE``, with the nearest choice of a name."""
  text = f"{what} must be {describe(kind)}, got {value!r}"
  choices = typing.get_args(_optional(kind) or kind)
  if typing.get_origin(_optional(kind) or kind) is Literal and isinstance(value, str):
    close = nearest(value, [str(c) for c in choices])
    text += f" (did you mean {close}?)" if close else ""
  if kind is bool and isinstance(value, str):
    text += " (a quoted text; write true or false without quotes)"
  return text


def from_mapping(cls, values: dict, where: str, skip: Iterable[str] = (), suggest=(), **given):
  """``cls(**values, **given)`` with every value read as its field's type (:func:`read_value`); a key
  that is no field of ``cls`` is a ConfigError naming the nearest field (of ``cls`` or among
  ``suggest``). Keys in ``skip`` are left out; a field whose type is a TypeVar (a nested config)
  is passed on as it is."""
  if not isinstance(values, dict):
    raise ConfigError(f"{where} must hold a mapping of setting names to values, got {values!r}.")
  fields = {f.name for f in dataclasses.fields(cls)}
  for key in values:
    if key not in fields:
      close = nearest(str(key), [*fields, *suggest])
      hint = f"; did you mean {close}?" if close else "."
      raise ConfigError(f"{where}: unknown setting {key}{hint}")
  kinds, kwargs = field_types(cls), {}
  for name, value in values.items():
    if name in skip:
      continue
    kind = kinds[name]
    try:
      kwargs[name] = value if isinstance(kind, typing.TypeVar) else read_value(value, kind)
    except ValueError:
      raise ConfigError(f"{where}: {value_error(name, value, kind)}.") from None
  return cls(**kwargs, **given)


def run_record(path: str, data: dict, record_class) -> tuple[dict, dict]:
  """``(config, derived)``: the two mappings of a run folder's config.yaml, or ConfigError when
  the file lacks them or ``derived`` lacks a key of ``record_class`` that has no default."""
  for key in ("config", "derived"):
    if not isinstance(data.get(key), dict):
      raise ConfigError(
        f"{path} is not a goalax run's config.yaml: it has no '{key}' mapping (a run writes "
        "'config' and 'derived')."
      )
  needed = [
    f.name
    for f in dataclasses.fields(record_class)
    if f.default is dataclasses.MISSING
    and f.name not in {getattr(record_class, "OLD_NAMES", {}).get(k, k) for k in data["derived"]}
  ]
  if needed:
    more = f" and {len(needed) - 1} more" if len(needed) > 1 else ""
    raise ConfigError(
      f"{path} is not a complete goalax run record: its 'derived' mapping lacks {needed[0]}{more}."
    )
  return data["config"], data["derived"]
