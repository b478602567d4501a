"""JaxGCRL's two entry points, spelled the same, for its users' scripts and sweeps.

- ``python training.py --env_name ant --num_envs 16 ...`` (JaxGCRL 0.1, the flags of its
  ``utils.py`` parser): ``--agent crl|sac|td3|ppo|...`` picks the algorithm (goalax's addition;
  default crl), e.g. ``python training.py --agent sac --use_her ...``.
- ``python run.py sac --env ant --total_env_steps 1000000 ...`` (JaxGCRL 0.2, the fields of its
  ``RunConfig`` and of the agent's config as tyro exposes them: ``--use_ln`` and ``--no_use_ln``,
  dashes or underscores).

Both run ``goalax train <agent>``. Every flag of the reference's is taken with its meaning or
refused with one sentence naming what to use instead. A flag in :data:`RULES` is translated
(``--env_name`` -> ``--env``, ``--use_ln`` -> ``--use_layer_norm``), accepted without effect
where it changes nothing in goalax (said on stderr when it asks for something goalax does not
do), or refused; every other flag, the ones goalax spells the same, passes through to goalax's
own parser. docs/reference_flags.md lists them all.
"""

from __future__ import annotations

import dataclasses

from goalax.errors import UsageError
from goalax.jaxgcrl_rules import RULES, Context, Flag, Reference


# ---- the command line -------------------------------------------------------------------------
def _boolean_value(flag: str, text: str) -> bool:
  """``--use_ln=false`` -> False; a value that is no boolean is a UsageError."""
  if text.lower() in ("true", "1", "yes"):
    return True
  if text.lower() in ("false", "0", "no"):
    return False
  raise UsageError(f"{flag}={text}: {flag} takes no value (or true / false).")


def context_for(agent: str, reference: Reference, argv: list[str]) -> Context | None:
  """The context of ``agent``'s flags; None for an algorithm goalax does not have (goalax's own
  parser then names the ones it has)."""
  from goalax import agents
  from goalax.config import TrainConfig

  if agent not in agents.REGISTRY:
    return None
  fields = [f.name for f in dataclasses.fields(TrainConfig)]
  fields += [f.name for f in dataclasses.fields(agents.REGISTRY[agent].config_class)]
  return Context(agent, frozenset(fields), reference, tuple(argv))


@dataclasses.dataclass(frozen=True)
class Translation:
  """A reference command line as goalax's: its flags, the notes for stderr, and the flag as the
  user typed it for each goalax flag a rule wrote (``{"num_timesteps": "--total_env_steps"}``),
  so that goalax's messages name the user's flag."""

  argv: list[str]
  notes: list[str] = dataclasses.field(default_factory=list)
  typed: dict[str, str] = dataclasses.field(default_factory=dict)


def translation(argv: list[str], agent: str = "crl", reference: Reference = "0.1") -> Translation:
  """The reference flags ``argv`` of ``agent`` as goalax's; a flag goalax cannot take is a
  UsageError naming what to use instead."""
  context = context_for(agent, reference, argv)
  if context is None:
    return Translation(list(argv))
  out, notes, typed, i = [], [], {}, 0
  while i < len(argv):
    arg = argv[i]
    flag, eq, inline = arg.partition("=")
    name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
    negated = name.startswith("no_") and name[3:] in RULES and RULES[name[3:]].boolean
    rule = RULES.get(name[3:] if negated else name)
    if rule is None:
      out.append(arg)
      i += 1
      continue
    name = name[3:] if negated else name
    if rule.boolean:
      if eq:
        negated = negated != (not _boolean_value(flag, inline))
      given = Flag(name, None, negated, typed=arg)
    elif eq:
      given = Flag(name, inline, typed=flag)
    elif i + 1 < len(argv):
      given, i = Flag(name, argv[i + 1], typed=flag), i + 1
    else:
      raise UsageError(f"{flag} needs a value.")
    taken = rule.take(given, context)
    out.extend(taken.flags)
    typed.update({f[2:]: flag for f in taken.flags if f.startswith("--")})
    if taken.note:
      notes.append(taken.note)
    i += 1
  return Translation(out, notes, typed)


def translate_with_notes(
  argv: list[str], agent: str = "crl", reference: Reference = "0.1"
) -> tuple[list[str], list[str]]:
  """``(goalax flags, notes)``: :func:`translation`."""
  taken = translation(argv, agent, reference)
  return taken.argv, taken.notes


def translate(argv: list[str], agent: str = "crl", reference: Reference = "0.1") -> list[str]:
  """JaxGCRL flag spellings -> goalax's (``--env_name ant`` -> ``--env ant``); see
  :func:`translation`."""
  return translation(argv, agent, reference).argv


def as_goalax_takes(flag: str, value: str | None, agent: str) -> str | None:
  """For goalax's own parser, which lacks ``flag`` (as typed): the sentence saying how goalax
  takes it when it is one of the reference's flags (``--env_name`` is goalax's ``--env``) or why
  goalax refuses it (ppo keeps no replay buffer); None for any other flag."""
  name = flag[2:].replace("-", "_")
  negated = name.startswith("no_") and name[3:] in RULES and RULES[name[3:]].boolean
  rule = RULES.get(name[3:] if negated else name)
  context = context_for(agent, "0.2", [])
  if rule is None or context is None:
    return None
  given = Flag(name[3:] if negated else name, None if rule.boolean else value or "", negated, flag)
  try:
    taken = rule.take(given, context)
  except UsageError as e:
    return str(e)
  if taken.flags:
    return (
      f"{flag} is the reference's spelling; goalax train {agent} takes {' '.join(taken.flags)}."
    )
  return f"{flag} is the reference's flag and changes nothing in goalax; drop it."


def split_agent(argv: list[str]) -> tuple[str, list[str]]:
  """``(agent name, the other flags)``: ``--agent NAME`` or ``--agent=NAME``, default ``crl``."""
  agent, rest, i = "crl", [], 0
  while i < len(argv):
    flag, eq, value = argv[i].partition("=")
    if flag == "--agent" and eq:
      agent = value
    elif flag == "--agent" and i + 1 < len(argv):
      agent, i = argv[i + 1], i + 1
    else:
      rest.append(argv[i])
    i += 1
  return agent, rest


def training_py_argv(argv: list[str]) -> Translation:
  """goalax's command line of ``python training.py [--agent NAME] [JaxGCRL 0.1 flags]``."""
  agent, flags = split_agent(argv)
  taken = translation(flags, agent, "0.1")
  return dataclasses.replace(taken, argv=["train", agent, *taken.argv])


def run_py_argv(argv: list[str]) -> Translation:
  """goalax's command line of ``python run.py <agent> [JaxGCRL 0.2 flags]``."""
  if not argv or argv[0].startswith("-"):  # no agent: goalax lists them
    return Translation(["train", *argv])
  taken = translation(argv[1:], argv[0], "0.2")
  return dataclasses.replace(taken, argv=["train", argv[0], *taken.argv])
