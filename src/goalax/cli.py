"""The ``goalax`` command: ``goalax envs | rollout | train``.

Each subcommand's flags come from a typed, documented config (tyro turns docstrings into --help).
Bad input ends with one sentence on stderr naming the flag and what would work, and exit code 2.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from typing import Literal

import tyro

USAGE = """usage: goalax <command> [flags]

commands:
  envs      list the environments with their sizes, episode lengths and backends
  rollout   run a random policy in an environment and print a summary (a quick smoke test)
  train     train an agent:  goalax train crl --env reacher

Run 'goalax <command> --help' for the flags of a command.
"""


from goalax.errors import UsageError  # noqa: E402  (re-exported: goalax.cli.UsageError)


def _quiet_warnings() -> None:
  warnings.filterwarnings("ignore", message=".*Brax System, piplines and environments.*")
  warnings.filterwarnings("ignore", category=DeprecationWarning)


# ---- goalax envs --------------------------------------------------------------------------------
@dataclasses.dataclass
class EnvsArgs:
  """List the registered goal-conditioned environments."""

  names: tuple[str, ...] = ()
  """Only list these envs (default: all)."""


def cmd_envs(args: EnvsArgs) -> None:
  from rich.console import Console
  from rich.table import Table

  import goalax.envs as envs

  names = list(args.names) or envs.env_names()
  for name in names:
    if name not in envs.env_names():
      raise UsageError(envs.unknown_env_message(name) + " (argument --names)")
  table = Table(title="goalax environments (obs = concat(state, goal))")
  for col in (
    "name",
    "backend",
    "obs",
    "state",
    "goal",
    "action",
    "episode",
    "threshold",
    "description",
  ):
    table.add_column(col, justify="left" if col in ("name", "backend", "description") else "right")
  for name in names:
    try:
      env = envs.make_env(name)
    except (ImportError, AttributeError) as e:  # a family whose module is not available
      table.add_row(name, "-", "-", "-", "-", "-", "-", "-", f"unavailable: {e}")
      continue
    table.add_row(
      name,
      env.backend,
      str(env.observation_size),
      str(env.state_size),
      str(env.goal_size),
      str(env.action_size),
      str(env.episode_length),
      f"{env.goal_threshold:g}",
      envs.describe(name),
    )
  Console(width=160).print(table)


# ---- goalax rollout -----------------------------------------------------------------------------
@dataclasses.dataclass
class RolloutArgs:
  """Run a uniformly random policy and print success, distance and speed."""

  env: str = "reacher"
  """Environment name (see 'goalax envs')."""
  backend: Literal["spring", "positional", "generalized", "mjx"] | None = None
  """Physics pipeline; default: the env's own default."""
  num_envs: int = 128
  """Parallel environments."""
  num_steps: int = 500
  """Steps per environment (random actions uniform in [-1, 1])."""
  episode_length: int | None = None
  """Time limit per episode; default: the env's recommended length."""
  seed: int = 0
  """Random seed."""


def cmd_rollout(args: RolloutArgs) -> None:
  import jax
  import numpy as np

  import goalax.envs as envs

  for flag, value in (("--num-envs", args.num_envs), ("--num-steps", args.num_steps)):
    if value < 1:
      raise UsageError(f"{flag} must be a positive integer, got {value}.")
  if args.episode_length is not None and args.episode_length < 1:
    raise UsageError(f"--episode-length must be a positive integer, got {args.episode_length}.")
  try:
    env = envs.make_env(args.env, backend=args.backend)
  except ValueError as e:
    raise UsageError(str(e)) from None
  venv = envs.VectorGoalEnv(env, args.num_envs, episode_length=args.episode_length)

  @jax.jit
  def rollout(key):
    k_reset, k_act = jax.random.split(key)
    state = venv.reset(k_reset)

    def body(state, k):
      action = jax.random.uniform(k, (args.num_envs, env.action_size), minval=-1, maxval=1)
      state = venv.step(state, action)
      return state, (state.metrics["success"], state.metrics["dist"], state.done)

    state, traj = jax.lax.scan(body, state, jax.random.split(k_act, args.num_steps))
    return state, traj

  print(
    f"env {args.env} | backend {env.backend} | obs {env.observation_size} "
    f"(state {env.state_size} + goal {env.goal_size}) | action {env.action_size} | "
    f"{args.num_envs} envs x {args.num_steps} steps, random policy"
  )
  t0 = time.perf_counter()
  compiled = rollout.lower(jax.random.PRNGKey(args.seed)).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  _, (success, dist, done) = jax.block_until_ready(compiled(jax.random.PRNGKey(args.seed)))
  run_s = time.perf_counter() - t0
  success, dist, done = map(np.asarray, (success, dist, done))
  steps = args.num_envs * args.num_steps
  print(f"compile {compile_s:.1f} s | run {run_s:.2f} s | {steps / run_s:,.0f} env steps/s")
  print(
    f"episodes ended {int(done.sum())} | steps near goal {success.mean():.3f} | "
    f"mean dist {dist.mean():.3f} | min dist {dist.min():.3f}"
  )


# ---- dispatch -----------------------------------------------------------------------------------
def _run(argv: list[str]) -> None:
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(USAGE)
    return
  command, rest = argv[0], argv[1:]
  if command == "envs":
    cmd_envs(tyro.cli(EnvsArgs, args=rest, prog="goalax envs"))
  elif command == "rollout":
    cmd_rollout(tyro.cli(RolloutArgs, args=rest, prog="goalax rollout"))
  elif command == "train":
    from goalax import training

    training.main_cli(rest)
  else:
    raise UsageError(f"unknown command '{command}'. Commands: envs, rollout, train.")


def main(argv: list[str] | None = None) -> None:
  _quiet_warnings()
  argv = sys.argv[1:] if argv is None else argv
  try:
    _run(argv)
  except UsageError as e:
    print(f"goalax: error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print("goalax: interrupted; everything already written is kept.", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
  main()
