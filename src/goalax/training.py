"""The host side of a run, for any agent: build, compile, loop over epochs, evaluate, log, save.

``train(config)`` is the library entry point; ``main_cli(argv)`` is ``goalax train <algo>``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from goalax import agents, logger
from goalax.config import ConfigError, TrainConfig, validate
from goalax.evaluation import make_evaluator
from goalax.trainer import make_trainer


def enable_compilation_cache() -> None:
  """Turns on JAX's persistent compilation cache (outside the repo) so re-runs start fast."""
  cache = os.environ.get("GOALAX_JAX_CACHE", os.path.expanduser("~/.cache/goalax/jax"))
  jax.config.update("jax_compilation_cache_dir", cache)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


# XLA's cheapest compile on CPU: LLVM at -O0 and the classic fusion code generators.
FAST_COMPILE_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def compiler_options(fast_compile: bool) -> dict | None:
  """XLA options for ``jax.jit``: ``FAST_COMPILE_OPTIONS`` with ``--fast_compile`` on CPU."""
  return FAST_COMPILE_OPTIONS if fast_compile and jax.default_backend() == "cpu" else None


def _format_seconds(s: float) -> str:
  s = int(round(s))
  return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@dataclasses.dataclass
class RunResult:
  run_dir: str
  total_env_steps: int
  history: list[dict]  # aggregated rows, one per evaluation
  per_seed: list[list[dict]]  # per_seed[k] = rows of seed k
  final_state: object  # TrainState batched over seeds
  compile_seconds: float
  train_seconds: float


def _make_env(name: str, config: TrainConfig, flag: str):
  from goalax.envs import make_env

  try:
    return make_env(name, backend=config.backend)
  except ValueError as e:
    raise ConfigError(f"{e} (flag --{flag})") from None


def _rows(step_metrics: dict, seeds: list[int], env_steps: int, epoch: int):
  arrays = {k: np.asarray(v) for k, v in step_metrics.items()}
  per_seed = [
    dict(epoch=epoch, env_steps=env_steps, seed=s, **{k: float(v[i]) for k, v in arrays.items()})
    for i, s in enumerate(seeds)
  ]
  mean = dict(
    epoch=epoch,
    env_steps=env_steps,
    seed="mean",
    **{k: float(np.mean(v)) for k, v in arrays.items()},
  )
  if len(seeds) > 1:
    mean.update({f"{k}_std": float(np.std(v)) for k, v in arrays.items() if k.startswith("eval/")})
  return per_seed, mean


def train(
  config: TrainConfig, progress_fn: Callable[[dict], None] | None = None, write_outputs: bool = True
) -> RunResult:
  """Trains ``config.num_seeds`` agents at once and returns their history and final state."""
  env = _make_env(config.env, config, "env")
  eval_env = _make_env(config.eval_env, config, "eval_env") if config.eval_env else env
  if eval_env.observation_size != env.observation_size or eval_env.action_size != env.action_size:
    raise ConfigError(
      f"--eval_env {config.eval_env} has observation/action sizes "
      f"{eval_env.observation_size}/{eval_env.action_size}, but --env {config.env} "
      f"has {env.observation_size}/{env.action_size}; they must match."
    )
  episode_length = config.episode_length or env.episode_length
  validate(config)
  algo = agents.name_of(config.agent)
  try:
    trainer = make_trainer(config, env)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  agent = trainer.agent
  evaluate = make_evaluator(
    eval_env,
    agent.act,
    config.num_eval_envs,
    config.episode_length or eval_env.episode_length,
    config.action_repeat,
  )

  seeds = [config.seed + k for k in range(config.num_seeds)]
  seed_keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
  eval_keys = lambda epoch: jnp.stack(
    [jax.random.fold_in(jax.random.PRNGKey(s), 1_000_003 + epoch) for s in seeds]
  )

  derived = dict(
    episode_length=episode_length,
    algo=algo,
    env_backend=env.backend,
    updates_per_train_step=config.updates_per_train_step,
    env_steps_per_train_step=config.env_steps_per_train_step,
    train_steps_per_epoch=config.train_steps_per_epoch,
    epochs=config.num_evals,
    prefill_env_steps=config.prefill_env_steps,
    total_env_steps=config.total_env_steps,
    gradient_steps_per_env_step=config.updates_per_train_step / config.env_steps_per_train_step,
    seeds=seeds,
    jax_backend=jax.default_backend(),
    jax_version=jax.__version__,
  )
  run_dir, writer, wandb_logger = "", None, None
  if write_outputs:
    run_name = config.exp_name or logger.default_run_name(config.env, algo, config.seed)
    run_dir = logger.new_run_dir(config.run_dir, run_name)
    logger.write_config(run_dir, config, derived)
    writer = logger.MetricsWriter(run_dir)
    if config.log_wandb:
      wandb_logger = logger.WandbLogger(config, os.path.basename(run_dir), run_dir)

  say = print if config.progress else (lambda *a, **k: None)
  say(
    f"goalax | {algo.upper()} on {config.env} ({env.backend}) | {len(seeds)} seed(s) {seeds} | "
    f"{config.num_envs} envs | episode {episode_length} | run dir {run_dir or '-'}"
  )
  say(
    f"  {config.updates_per_train_step} gradient steps per {config.env_steps_per_train_step} "
    f"env steps (1:{config.env_steps_per_train_step / config.updates_per_train_step:.1f}); "
    f"{config.num_evals} epochs × {config.train_steps_per_epoch} training steps + "
    f"{config.prefill_env_steps:,} prefill steps = {config.total_env_steps:,} env steps per seed"
  )

  t0 = time.perf_counter()
  jit = functools.partial(jax.jit, compiler_options=compiler_options(config.fast_compile))
  init_fn = jit(jax.vmap(trainer.init))
  prefill_fn = jit(jax.vmap(trainer.prefill), donate_argnums=0)
  epoch_fn = jit(jax.vmap(trainer.run_epoch), donate_argnums=0)
  eval_fn = jit(jax.vmap(evaluate))
  state = init_fn(seed_keys)
  prefill_fn = prefill_fn.lower(state).compile()
  epoch_fn = epoch_fn.lower(state).compile()
  eval_fn = eval_fn.lower(agent.policy_params(state.agent), eval_keys(0)).compile()
  compile_seconds = time.perf_counter() - t0
  say(f"  compiled in {compile_seconds:.1f} s")

  history, per_seed_rows = [], [[] for _ in seeds]
  train_seconds = 0.0

  def record(epoch, env_steps, metrics):
    per_seed, mean = _rows(metrics, seeds, env_steps, epoch)
    for k, row in enumerate(per_seed):
      per_seed_rows[k].append(row)
    history.append(mean)
    if writer:
      writer.write(per_seed + [mean])
    if wandb_logger:
      wandb_logger.log(mean, env_steps)
    if progress_fn:
      progress_fn(mean)
    return mean

  row = record(0, 0, eval_fn(agent.policy_params(state.agent), eval_keys(0)))
  say(
    f"  [0/{config.num_evals}] before training: success {row['eval/success']:.3f} | "
    f"final dist {row['eval/final_dist']:.3f}"
  )
  t_start = time.perf_counter()
  state = jax.block_until_ready(prefill_fn(state))
  train_seconds += time.perf_counter() - t_start
  env_steps = config.prefill_env_steps
  try:
    for epoch in range(1, config.num_evals + 1):
      t_start = time.perf_counter()
      state, train_metrics = epoch_fn(state)
      train_metrics = jax.device_get(train_metrics)
      train_seconds += time.perf_counter() - t_start
      env_steps += config.train_steps_per_epoch * config.env_steps_per_train_step
      eval_metrics = eval_fn(agent.policy_params(state.agent), eval_keys(epoch))
      metrics = {**{f"train/{k}": v for k, v in train_metrics.items()}, **eval_metrics}
      row = record(epoch, env_steps, metrics)
      sps = env_steps / max(train_seconds, 1e-9)
      eta = (config.total_env_steps - env_steps) / max(sps, 1e-9)
      say(
        f"  [{epoch}/{config.num_evals}] {env_steps:,}/{config.total_env_steps:,} steps | "
        f"{sps:,.0f} steps/s | ETA {_format_seconds(eta)} | success {row['eval/success']:.3f} | "
        f"near goal {row['eval/time_near_goal']:.3f} | final dist {row['eval/final_dist']:.3f}"
        + "".join(
          f" | {name.replace('_', ' ')} {row[f'train/{name}']:.3f}"
          for name in agent.headline_metrics
        )
      )
      bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
      if bad:
        raise FloatingPointError(
          f"non-finite values at epoch {epoch} in {', '.join(sorted(bad))}; stopping. Metrics "
          f"up to here are saved in {run_dir or '(no run dir)'}. Try lower learning rates "
          f"or --use_layer_norm."
        )
  finally:
    if write_outputs:
      save_params(run_dir, agent.saved_params(state.agent))
      if wandb_logger:
        wandb_logger.finish()
  say(
    f"  done: {env_steps:,} env steps per seed in {_format_seconds(train_seconds)} of training "
    f"({env_steps * len(seeds) / max(train_seconds, 1e-9):,.0f} env steps/s over all seeds) "
    f"+ {compile_seconds:.1f} s compile"
  )
  return RunResult(
    run_dir, env_steps, history, per_seed_rows, state, compile_seconds, train_seconds
  )


def save_params(run_dir: str, params: dict) -> str:
  """Writes the agent's final parameters of every seed (``agent.saved_params``, leaves stacked
  over seeds) to ``params.msgpack``."""
  from flax import serialization

  payload = jax.device_get(params)
  path = os.path.join(run_dir, "params.msgpack")
  with open(path, "wb") as f:
    f.write(serialization.to_bytes(payload))
  return path


def parse_train_args(algo: str, argv: list[str]) -> TrainConfig:
  """``TrainConfig`` of ``goalax train <algo> [flags]``: the run's flags and that agent's only.

  tyro accepts JaxGCRL's underscore spellings (``--num_envs``) as well as ``--num-envs``.
  """
  import tyro

  from goalax.errors import UsageError

  if algo not in agents.REGISTRY:
    close = difflib.get_close_matches(algo, agents.agent_names(), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UsageError(
      f"unknown algorithm '{algo}'.{hint} Available: {', '.join(agents.agent_names())}."
    )
  config_class = agents.REGISTRY[algo].config_class
  return tyro.cli(
    TrainConfig[config_class],
    args=argv,
    prog=f"goalax train {algo}",
    default=TrainConfig(agent=config_class()),
  )


def main_cli(argv: list[str]) -> None:
  """``goalax train <algo> [flags]``."""
  if not argv or argv[0] in ("-h", "--help"):
    lines = [f"  {name:<6} {spec.description}" for name, spec in agents.REGISTRY.items()]
    print(
      "usage: goalax train <algo> [flags]\n\nalgorithms:\n"
      + "\n".join(lines)
      + "\n\nRun 'goalax train <algo> --help' for the flags of an algorithm."
    )
    return
  run_config(parse_train_args(argv[0], argv[1:]))


def run_config(config: TrainConfig) -> RunResult:
  enable_compilation_cache()
  try:
    return train(config)
  except FloatingPointError as e:
    print(f"goalax: error: {e}", file=sys.stderr)
    sys.exit(1)
