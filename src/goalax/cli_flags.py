"""A command line checked against its config's flags before tyro parses it, so that every mistake
is one sentence naming the flag as the user typed it: a flag that is none (with the nearest one),
a value its type cannot take (with the valid values), a missing value or RUN_DIR.

tyro would refuse the same command lines, in a box of several lines; a command line that passes
here is parsed by tyro. :func:`respelled` writes the flags a message names as the user typed them
(``--num-envs``, or the reference's ``--total_env_steps`` for goalax's ``--num_timesteps``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

import tyro

from goalax.config_file import describe, field_types, nearest, read_value, value_error
from goalax.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Flag:
  """One flag of a config: its type (a boolean takes no value; ``--no_NAME`` negates it)."""

  kind: Any

  @property
  def arity(self) -> int | None:
    """Values it takes: 0 (a boolean), n (a tuple of n), None (any number)."""
    if self.kind is bool:
      return 0
    args = typing.get_args(self.kind)
    if typing.get_origin(self.kind) is tuple:
      return None if args[-1] is Ellipsis else len(args)
    return 1

  def item(self, k: int):
    """The type of its ``k``-th value."""
    if typing.get_origin(self.kind) is not tuple:
      return self.kind
    args = typing.get_args(self.kind)
    return args[0] if args[-1] is Ellipsis else args[k]


def _markers(cls) -> dict[str, tuple]:
  """``{field: its Annotated markers}``."""
  hints = typing.get_type_hints(typing.get_origin(cls) or cls, include_extras=True)
  return {name: typing.get_args(hint)[1:] for name, hint in hints.items()}


def flags_of(cls, agent_class=None) -> tuple[dict[str, Flag], list[str]]:
  """``({flag name with underscores: Flag}, metavars of the positional fields)``; the fields of
  ``agent_class`` stand for a field typed by a TypeVar (a TrainConfig's agent, no prefix)."""
  flags, positional = {}, []
  kinds = field_types(cls)
  for name, markers in _markers(cls).items():
    kind = kinds[name]
    if isinstance(kind, typing.TypeVar):
      flags.update(flags_of(agent_class)[0])
      continue
    if any(m is tyro.conf.Positional for m in markers):
      metavar = [getattr(m, "metavar", None) for m in markers if getattr(m, "metavar", None)]
      positional.append((metavar or [name.upper()])[0])
      continue
    names = [getattr(m, "name", None) for m in markers if getattr(m, "name", None)]
    flags[(names or [name])[0].replace("-", "_")] = Flag(kind)
    if kind is bool:
      flags[f"no_{name}"] = Flag(bool)
  return flags, positional


def check(
  argv: list[str],
  cls,
  prog: str,
  agent_class=None,
  unknown: Callable[[str, str | None], str | None] | None = None,
) -> None:
  """Raises UsageError with one sentence for the first mistake in ``argv`` (flags of ``cls``);
  ``unknown(flag, value)`` may give the sentence for a flag ``cls`` lacks. ``-h`` / ``--help``:
  nothing is checked (tyro prints the help)."""
  if "-h" in argv or "--help" in argv:
    return
  flags, positional = flags_of(cls, agent_class)
  bare, i = [], 0
  while i < len(argv):
    token = argv[i]
    flag, eq, inline = token.partition("=")
    if not flag.startswith("--"):
      bare.append((token, argv[i - 1] if i else ""))
      i += 1
      continue
    spec = flags.get(flag[2:].replace("-", "_"))
    following = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else None
    if spec is None:
      said = unknown(flag, inline if eq else following) if unknown else None
      raise UsageError(said or _unknown(flag, flags, prog))
    if spec.arity == 0 and eq:
      raise UsageError(f"{flag} takes no value ({_negation(flag)} turns it off), got {token}.")
    values = [inline] if eq else []
    i += 1
    while not eq and (spec.arity is None or len(values) < spec.arity) and i < len(argv):
      if argv[i].startswith("--"):
        break
      values.append(argv[i])
      i += 1
    if spec.arity and len(values) < spec.arity:
      what = "a value" if spec.arity == 1 else describe(spec.kind)
      raise UsageError(f"{flag} needs {what}, got {' '.join(values) or 'nothing'}.")
    for k, value in enumerate(values):
      try:
        read_value(value, spec.item(k), from_text=True)
      except ValueError:
        raise UsageError(value_error(flag, value, spec.item(k)) + ".") from None
  _check_positional(bare, positional, flags, prog)


def _check_positional(bare: list[tuple[str, str]], positional, flags, prog: str) -> None:
  """Tokens that follow no flag must be the command's positional arguments."""
  if not positional and bare:
    token, after = bare[0]
    if after.startswith("--") and flags.get(after.partition("=")[0][2:].replace("-", "_")):
      raise UsageError(f"{after} takes no value ({_negation(after)} turns it off), got {token!r}.")
    raise UsageError(f"{prog} takes flags only, got {token!r}.")
  if positional and not positional[0].endswith("...") and len(bare) != 1:
    if not bare:
      raise UsageError(f"{prog} needs a {positional[0]}: {prog} {positional[0]} [flags].")
    raise UsageError(f"{prog} takes one {positional[0]}, got {len(bare)}: {bare[1][0]!r} too.")


def _negation(flag: str) -> str:
  """``--use_ln`` -> ``--no_use_ln``; ``--no-progress`` -> ``--progress`` (as typed)."""
  sep = "-" if "-" in flag[2:] else "_"
  name = flag[2:]
  return f"--{name[3:]}" if name.startswith(("no_", "no-")) else f"--no{sep}{name}"


def _unknown(flag: str, flags: dict[str, Flag], prog: str) -> str:
  """``--num_envz is not a flag of goalax train crl (did you mean --num_envs?); ...``."""
  close = nearest(flag[2:].replace("-", "_"), flags)
  if close and "-" in flag[2:]:
    close = close.replace("_", "-")
  hint = f" (did you mean --{close}?)" if close else ""
  return f"{flag} is not a flag of {prog}{hint}; '{prog} --help' lists its flags."


# ---- messages name the flags as typed ----------------------------------------------------------
_FLAG = re.compile(r"--[A-Za-z][\w-]*")


def typed_flags(argv: list[str]) -> dict[str, str]:
  """``{flag name with underscores: the flag as typed}`` of ``argv`` (``num_envs: --num-envs``)."""
  return {
    token.partition("=")[0][2:].replace("-", "_"): token.partition("=")[0]
    for token in argv
    if token.startswith("--")
  }


def respelled(message: str, typed: dict[str, str]) -> str:
  """``message`` with each flag it names written as in ``typed`` (:func:`typed_flags`)."""
  return _FLAG.sub(lambda m: typed.get(m.group()[2:].replace("-", "_"), m.group()), message)


@contextlib.contextmanager
def as_typed(typed: dict[str, str]) -> Iterator[None]:
  """A UsageError raised inside names the flags as the user typed them (:func:`respelled`)."""
  try:
    yield
  except UsageError as e:
    raise type(e)(respelled(str(e), typed)) from None
