"""``goalax train <algo> [flags]`` read into a :class:`~goalax.config.TrainConfig`: the run's
flags and that algorithm's only, the values of the flags not given from ``--config FILE`` or
``--resume RUN_DIR``, and every mistake one sentence before anything is built
(:mod:`goalax.cli_flags`)."""

from __future__ import annotations

import dataclasses

import tyro

from goalax import helptext
from goalax.errors import UsageError
from goalax.flags import flag_value


def _defaults(algo: str, argv: list[str]):
  """The values of the flags not given: a run's own (``--resume``), a file's (``--config``),
  or the defaults."""
  from goalax import agents
  from goalax.config import ConfigError, TrainConfig, load_config_file
  from goalax.run.resume import saved_run_config

  config_class = agents.REGISTRY[algo].config_class
  resume, config_file = flag_value(argv, "resume"), flag_value(argv, "config")
  if resume and config_file:
    raise ConfigError(
      "--resume and --config cannot be combined: a resumed run keeps its own config."
    )
  if resume:
    return saved_run_config(resume, algo)
  if config_file:
    return load_config_file(config_file, algo)
  return TrainConfig(agent=config_class())


def _unknown_train_flag(algo: str):
  """``say(flag, value)``: the sentence for a flag ``goalax train <algo>`` lacks when it is one of
  the reference's (:func:`goalax.jaxgcrl_compat.as_goalax_takes`) or a replay flag given to an
  on-policy agent; None for any other."""
  from goalax import agents
  from goalax.jaxgcrl_compat import as_goalax_takes
  from goalax.jaxgcrl_rules import NO_REPLAY
  from goalax.loops.settings import OffPolicyConfig

  replay = {f.name for f in dataclasses.fields(OffPolicyConfig)}

  def say(flag: str, value: str | None) -> str | None:
    said = as_goalax_takes(flag, value, algo)
    on_policy = agents.REGISTRY[algo].loop == "on_policy"
    if said is None and on_policy and flag[2:].replace("-", "_") in replay:
      said = f"{flag}: {NO_REPLAY.format(agent=algo)}."
    return said

  return say


def parse_train_args(algo: str, argv: list[str], command: str | None = None):
  """``TrainConfig`` of ``goalax train <algo> [flags]``: the run's flags and that agent's only.
  ``command`` is the command messages name (``goalax resume`` reads its flags here too).

  tyro accepts JaxGCRL's underscore spellings (``--num_envs``) as well as ``--num-envs``, and
  the agent's old flag names (``--random_actor_goals``) as its current ones. With ``--config
  FILE`` or ``--resume RUN_DIR`` the flags not given take that file's or run's values. A flag
  that is none, or a value its type cannot take, is a UsageError (:mod:`goalax.cli_flags`).
  """
  from goalax import agents, cli_flags
  from goalax.config import TrainConfig, current_flags

  if algo not in agents.REGISTRY:
    close = cli_flags.nearest(algo, agents.agent_names())
    hint = f" Did you mean '{close}'?" if close else ""
    raise UsageError(
      f"unknown algorithm '{algo}'.{hint} Available: {', '.join(agents.agent_names())}."
    )
  config_class = agents.REGISTRY[algo].config_class
  prog = f"goalax train {algo}"
  argv = current_flags(config_class, argv)
  cli_flags.check(argv, TrainConfig, command or prog, config_class, _unknown_train_flag(algo))
  helptext.install()
  return tyro.cli(TrainConfig[config_class], args=argv, prog=prog, default=_defaults(algo, argv))
