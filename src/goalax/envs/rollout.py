"""``goalax rollout``: a uniformly random policy in an environment, as a quick smoke test and
benchmark of its physics (env steps per second, compile time, how often it nears its goals)."""

from __future__ import annotations

import dataclasses
import time
from typing import Literal

from goalax.errors import UsageError


@dataclasses.dataclass
class RolloutArgs:
  """Run a uniformly random policy and print success, distance and speed."""

  env: str = "reacher"
  """Environment name (see 'goalax envs')."""
  backend: Literal["spring", "positional", "generalized", "mjx", "reference"] | None = None
  """Physics pipeline; default: the env's own default; 'reference': the one the reference
  (JaxGCRL) runs this env on (see 'goalax envs')."""
  num_envs: int = 128
  """Parallel environments."""
  num_steps: int = 500
  """Steps per environment (random actions uniform in [-1, 1])."""
  episode_length: int | None = None
  """Time limit per episode; default: the env's recommended length."""
  seed: int = 0
  """Random seed."""


def cmd_rollout(args: RolloutArgs) -> None:
  """Runs the random policy of ``args`` and prints what it measured."""
  import jax
  import numpy as np

  import goalax.envs as envs

  for flag, value in (("--num_envs", args.num_envs), ("--num_steps", args.num_steps)):
    if value < 1:
      raise UsageError(f"{flag} must be a positive integer, got {value}.")
  if args.episode_length is not None and args.episode_length < 1:
    raise UsageError(f"--episode_length must be a positive integer, got {args.episode_length}.")
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
