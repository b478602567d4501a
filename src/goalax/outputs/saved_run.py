"""Evaluating and rendering a saved run: ``goalax eval`` (its policy on fresh goals, the env's
fixed evaluation tasks, or both) and
``goalax render`` (videos or brax's HTML viewer of its policy, or of a random policy before its
first checkpoint).

Everything is rebuilt from ``RUN_DIR/config.yaml`` and a checkpoint; see
:func:`goalax.policy.load_policy`.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from goalax.config import load_run_config
from goalax.errors import ConfigError, UsageError
from goalax.outputs import logger
from goalax.parallel.seed_axis import over_seeds
from goalax.policy import load_policy_params
from goalax.run import runfiles
from goalax.run.programs import jit_for


def _eval_env(config, env_name: str | None, derived: dict):
  """The env to watch: ``env_name``, else the run's --eval_env or --env; sizes must match."""
  from goalax.envs import make_env

  name = env_name or config.eval_env or config.env
  try:
    env = make_env(name, backend=config.backend)
  except ValueError as e:
    raise ConfigError(f"{e} (flag --env)") from None
  if (env.state_size, env.goal_size, env.action_size) != (
    derived.state_size,
    derived.goal_size,
    derived.action_size,
  ):
    raise ConfigError(
      f"--env {name} has state/goal/action sizes {env.state_size}/{env.goal_size}/"
      f"{env.action_size}, but the run's policy takes {derived.state_size}/"
      f"{derived.goal_size}/{derived.action_size}; pick an env of the same family."
    )
  return env


def evaluate_run(
  run_dir: str,
  env_name: str | None = None,
  num_episodes: int | None = None,
  seed: int = 0,
  epoch: int | None = None,
  goals: str | None = None,
):
  """Evaluates every seed's policy of a checkpoint as training does (deterministic actions) on
  ``goals``: ``random`` (fresh goals), ``tasks`` (the env's fixed evaluation tasks, per task and
  averaged) or ``both``; default: the run's own ``--eval_goals``. Returns ``(per_seed rows, mean
  rows, checkpoint, env name)``, rows named as in metrics.csv; evaluation key of training seed k:
  ``fold_in(PRNGKey(seed), k)``."""
  from goalax.evaluation import EVAL_GOALS, make_run_evaluator

  agent, params, ckpt, derived, config = load_policy_params(run_dir, epoch)
  env = _eval_env(config, env_name, derived)
  episodes = num_episodes or config.num_eval_envs
  if episodes < 1:
    raise ConfigError(f"--num_episodes must be positive, got {episodes}.")
  goals = goals or config.eval_goals
  if goals not in EVAL_GOALS:
    raise ConfigError(f"--goals must be one of {', '.join(EVAL_GOALS)}, got {goals}.")
  length = config.episode_length or env.episode_length
  evaluate = make_run_evaluator(env, agent.act, goals, episodes, length, config.action_repeat)
  seeds = derived.seeds
  keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(seed), k) for k in range(len(seeds))])
  metrics = jit_for(config)(over_seeds(evaluate, len(seeds)))(params, keys)
  offline = ckpt.meta.get("gradient_steps", 0) if derived.loop == "offline" else None
  per_seed, means = logger.metric_rows(
    metrics, seeds, ckpt.env_steps, ckpt.epoch, derived.configs, gradient_steps=offline
  )
  return per_seed, means, ckpt, env.name


def write_eval(rows: list[dict], path: str) -> str:
  """Writes evaluation rows as CSV (``.csv``) or JSON lines (anything else)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if path.endswith(".csv"):
    runfiles.replace_file(path, logger.MetricsWriter("", rows).write_csv)
  else:
    import json

    runfiles.replace_file(path, lambda f: f.writelines(json.dumps(r) + "\n" for r in rows))
  return path


def random_act(action_size: int):
  """An ``act`` of the Agent interface drawing actions uniformly in [-1, 1]."""
  return lambda params, obs, key, deterministic: jax.random.uniform(
    key, obs.shape[:-1] + (action_size,), minval=-1.0, maxval=1.0
  )


def render_run(
  run_dir: str,
  path: str | None = None,
  fmt: str = "mp4",
  episodes: int = 1,
  env_name: str | None = None,
  seed: int = 0,
  seed_index: int = 0,
  epoch: int | None = None,
  size: tuple[int, int] = (640, 480),
) -> tuple[str, runfiles.Checkpoint | None]:
  """Renders ``episodes`` episodes of a run's policy (seed ``seed_index`` of the run, newest
  checkpoint or ``epoch``), or of a random policy when the run has no checkpoint yet, to ``path``
  (frames of ``size`` = width, height pixels)
  (default ``RUN_DIR/videos/render_<epoch|random>.<fmt>``). Returns the path and checkpoint."""
  from goalax.evaluation import make_episode_recorder
  from goalax.outputs import render

  if fmt not in render.VIDEO_FORMATS:
    raise ConfigError(f"--format must be one of {', '.join(render.VIDEO_FORMATS)}, got {fmt}.")
  if episodes < 1:
    raise ConfigError(f"--episodes must be positive, got {episodes}.")
  config, derived = load_run_config(run_dir)
  ckpt = runfiles.find_checkpoint(run_dir, epoch)
  env = _eval_env(config, env_name, derived)
  if ckpt is None:
    act, params = random_act(env.action_size), ()
  else:
    agent, all_params, ckpt, _, _ = load_policy_params(run_dir, ckpt.epoch)
    if not 0 <= seed_index < len(derived.seeds):
      raise ConfigError(
        f"--seed_index must be in [0, {len(derived.seeds)}) for {run_dir}, got {seed_index}."
      )
    act, params = agent.act, jax.tree.map(lambda x: x[seed_index], all_params)
  length = config.episode_length or env.episode_length
  record = make_episode_recorder(env, act, episodes, length, config.action_repeat)
  first, states = jit_for(config)(record)(params, jax.random.PRNGKey(seed))
  tag = f"epoch_{ckpt.epoch:04d}_seed{derived.seeds[seed_index]}" if ckpt else "random"
  path = path or os.path.join(run_dir, "videos", f"render_{tag}.{fmt}")
  if not path.endswith(f".{fmt}"):
    raise UsageError(f"--out {path} must end in .{fmt} (--format {fmt}).")
  try:
    render.write_rollouts(env, first, states, path, config.action_repeat, size)
  except OSError as e:
    raise runfiles.output_error(e, path, run_dir) from None
  return path, ckpt
