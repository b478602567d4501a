"""Reading a flag's value from a command line as typed, before any parser sees it."""

from __future__ import annotations

from collections.abc import Sequence


def flag_value(argv: Sequence[str], name: str) -> str | None:
  """The last value given to ``--name`` (also spelled with dashes, ``--name=VALUE`` or
  ``--name VALUE``) in ``argv``, else None."""
  value = None
  for i, arg in enumerate(argv):
    flag, eq, inline = arg.partition("=")
    if flag.startswith("--") and flag[2:].replace("-", "_") == name:
      value = inline if eq else (argv[i + 1] if i + 1 < len(argv) else None)
  return value
