"""How flags read in ``--help``: plain sentences, defaults that say what happens, and the valid
values of a flag that takes a name.

tyro turns every config field's docstring into that flag's help. The docstrings are written for
the source (reST roles, double-backtick literals, lines wrapped at 100 columns, which tyro keeps
as line breaks); :func:`install` makes tyro show goalax's as plain text (:func:`plain`).
:func:`default_is` and :func:`choices` are field markers for what tyro cannot know from a type:
what a ``None`` default means, and the names a ``str`` flag accepts.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterable

import tyro

_ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def _role_text(match: re.Match) -> str:
  """``:class:`goalax.x.Y``` -> ``goalax.x.Y``; ``:func:`~goalax.x.f``` -> ``f``."""
  short, target = match.groups()
  return target.rsplit(".", 1)[-1] if short else target


def plain(doc: str) -> str:
  """A docstring as plain text: each paragraph on one line (its line breaks and indentation
  joined into single spaces), reST roles as their target, ````literals```` without backticks."""
  paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(doc))
  text = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
  return _LITERAL.sub(r"\1", _ROLE.sub(_role_text, text))


def install() -> None:
  """Makes tyro read the field docstrings of goalax's classes as :func:`plain` text; other
  packages' docstrings are left as they are. Idempotent; call it before ``tyro.cli``."""
  from tyro import _docstrings

  parse = getattr(_docstrings, "parse_docstring_from_object", None)
  if parse is None or getattr(parse, "goalax_plain", False):
    return

  @functools.lru_cache(maxsize=1024)
  def plain_docstrings(obj: object) -> dict[str, str]:
    docs = parse(obj)
    if not str(getattr(obj, "__module__", "")).startswith("goalax"):
      return docs
    return {name: plain(text) for name, text in docs.items()}

  plain_docstrings.goalax_plain = True
  _docstrings.parse_docstring_from_object = plain_docstrings


def default_is(text: str) -> object:
  """A field marker: ``--help`` shows ``(default: text)`` instead of the raw default (``None``,
  an empty tuple), which does not say what a run does without the flag."""
  return tyro.conf.arg(help_behavior_hint=f"(default: {text})")


def choices(names: Iterable[str]) -> object:
  """A field marker: ``--help`` shows a name-valued flag's valid values, ``{a,b,c}``, as it does
  for a ``Literal``; the value stays a ``str``, checked by the config with a sentence naming the
  closest valid one."""
  return tyro.conf.arg(metavar="{" + ",".join(names) + "}")
