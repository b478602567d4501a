"""``goalax envs``: the registered environments in a table, with their sizes, episode lengths,
goal thresholds and backends (goalax's and the reference's)."""

from __future__ import annotations

import dataclasses

from goalax.errors import UsageError


@dataclasses.dataclass
class EnvsArgs:
  """List the registered goal-conditioned environments."""

  names: tuple[str, ...] = ()
  """Only list these envs (default: all)."""


def cmd_envs(args: EnvsArgs) -> None:
  from rich.console import Console
  from rich.table import Table

  from goalax import envs

  names = list(args.names) or envs.env_names()
  for name in names:
    if name not in envs.env_names():
      raise UsageError(envs.unknown_env_message(name) + " (argument --names)")
  table = Table(title="goalax environments (obs = concat(state, goal))")
  for col in (
    "name",
    "backend",
    "reference",
    "obs",
    "state",
    "goal",
    "action",
    "episode",
    "threshold",
    "description",
  ):
    left = ("name", "backend", "reference", "description")
    table.add_column(col, justify="left" if col in left else "right")
  for name in names:
    try:
      env = envs.make_env(name)
    except (ImportError, AttributeError) as e:  # a family whose module is not available
      table.add_row(name, "-", "-", "-", "-", "-", "-", "-", "-", f"unavailable: {e}")
      continue
    table.add_row(
      name,
      env.backend,
      _reference_column(name, env),
      str(env.observation_size),
      str(env.state_size),
      str(env.goal_size),
      str(env.action_size),
      str(env.episode_length),
      f"{env.goal_threshold:g}",
      envs.describe(name),
    )
  Console(width=170).print(table)
  print(
    "backend: goalax's default; reference: the backend the reference (JaxGCRL) runs the env of "
    "that name on ('--backend reference' picks it; '-': goalax's own task)."
  )


def _reference_column(name: str, env) -> str:
  """The reference's backend for a reference env name, in parentheses for goalax's own variants
  of one (same physics, other goals), '-' for goalax's own tasks."""
  from goalax import envs

  backend = type(env).reference_backend
  if backend is None:
    return "-"
  return backend if name in envs.REFERENCE_ENV_NAMES else f"({backend})"
