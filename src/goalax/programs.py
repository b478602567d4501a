"""What a run computes: its envs, loop and evaluator built from the config, its shapes and memory
known before anything is allocated, and the compiled programs with their compile options.

:func:`build` validates a :class:`~goalax.config.TrainConfig` and returns a :class:`RunSetup`;
``RunSetup.compile`` lowers and compiles the programs the host loop calls (``init``,
``prefill`` where the loop has one, ``epoch``, ``evaluate``), each over the seed axis.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax import agents, loops, memory
from goalax.config import ConfigError, Derived, TrainConfig, validate
from goalax.errors import require_module
from goalax.evaluation import make_run_evaluator, num_eval_episodes
from goalax.seed_axis import over_seeds


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


def jit_for(config: TrainConfig) -> Callable:
  """``jax.jit`` with the run's compile options."""
  return functools.partial(jax.jit, compiler_options=compiler_options(config.fast_compile))


@dataclasses.dataclass
class Programs:
  """The compiled programs of a run, each over the seed axis."""

  init: Callable | None  # None when resuming
  prefill: Callable | None  # None when resuming, or when the loop has no prefill
  epoch: Callable
  evaluate: Callable
  temp_bytes: int  # XLA's largest temporary buffers among them


def _temp_bytes(compiled) -> int:
  try:
    return int(compiled.memory_analysis().temp_size_in_bytes)
  except Exception:  # not every backend reports it
    return 0


@dataclasses.dataclass
class RunSetup:
  """A run built from its config, before anything of its size is allocated."""

  config: TrainConfig
  algo: str
  env: object
  eval_env: object
  trainer: loops.Trainer
  evaluate: Callable  # evaluate(policy_params, key) -> metrics, for one seed
  seeds: list[int]
  abstract_state: object  # the loop's state of jax.ShapeDtypeStruct, batched over seeds
  abstract_policy: object
  estimate: memory.MemoryEstimate
  derived: Derived

  @property
  def agent(self):
    return self.trainer.agent

  @property
  def algo_label(self) -> str:
    """The algorithm as a person names it (``CRL``, ``SAC+HER``)."""
    return agents.label_of(self.config.agent)

  @property
  def schedule(self) -> loops.Schedule:
    return self.trainer.schedule

  @property
  def seed_keys(self) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(s) for s in self.seeds])

  def eval_keys(self, epoch: int) -> jax.Array:
    return jnp.stack(
      [jax.random.fold_in(jax.random.PRNGKey(s), 1_000_003 + epoch) for s in self.seeds]
    )

  @property
  def eval_episode_length(self) -> int:
    return self.config.episode_length or self.eval_env.episode_length

  def compile(self, fresh: bool = True) -> Programs:
    """Compiles a training epoch, an evaluation and, for a ``fresh`` run (not a resumed one),
    init and the prefill, from shapes alone. Tracing is Python and runs one program after the
    other; XLA compiles the epoch (the largest) in this thread while a second thread compiles
    the others (XLA releases the GIL while it compiles)."""
    jit = jit_for(self.config)
    trainer, state = self.trainer, self.abstract_state
    seeds = functools.partial(over_seeds, num_seeds=len(self.seeds))
    epoch = jit(seeds(trainer.run_epoch), donate_argnums=0).lower(state)
    others = {"evaluate": jit(seeds(self.evaluate)).lower(self.abstract_policy, self.eval_keys(0))}
    if fresh:
      if trainer.prefill is not None:
        others["prefill"] = jit(seeds(trainer.prefill), donate_argnums=0).lower(state)
      others["init"] = jit(seeds(trainer.init)).lower(self.seed_keys)
    compiled, errors = {}, []

    def compile_others():
      try:
        for name, program in others.items():
          compiled[name] = program.compile()
      except BaseException as e:  # re-raised below, in the caller's thread
        errors.append(e)

    # A daemon thread, like the caller's: a stop signal during compilation must not wait for it.
    worker = threading.Thread(target=compile_others, daemon=True)
    worker.start()
    compiled["epoch"] = epoch.compile()
    worker.join()
    if errors:
      raise errors[0]
    temp = max(_temp_bytes(p) for p in compiled.values())
    return Programs(
      compiled.get("init"), compiled.get("prefill"), compiled["epoch"], compiled["evaluate"], temp
    )


def _make_env(name: str, config: TrainConfig, flag: str):
  from goalax.envs import make_env

  try:
    return make_env(name, backend=config.backend)
  except ValueError as e:
    raise ConfigError(f"{e} (flag --{flag})") from None


def _require_output_packages(config: TrainConfig) -> None:
  """Optional outputs need optional packages: say which extra to install before training."""
  if config.video_every:
    require_module("imageio", "render", "--video_every")
    if config.video_format == "mp4":
      require_module("imageio_ffmpeg", "render", "--video_every with --video_format mp4")
  if config.log_tensorboard:
    require_module("tensorboardX", "tensorboard", "--log_tensorboard")


def build(config: TrainConfig) -> RunSetup:
  """Validates a config and builds its envs, trainer and evaluator; estimates the memory from
  shapes alone (``jax.eval_shape``) and refuses what cannot fit."""
  env = _make_env(config.env, config, "env")
  eval_env = _make_env(config.eval_env, config, "eval_env") if config.eval_env else env
  if eval_env.observation_size != env.observation_size or eval_env.action_size != env.action_size:
    raise ConfigError(
      f"--eval_env {config.eval_env} has observation/action sizes "
      f"{eval_env.observation_size}/{eval_env.action_size}, but --env {config.env} "
      f"has {env.observation_size}/{env.action_size}; they must match."
    )
  validate(config)
  _require_output_packages(config)
  if config.video_every:  # fail now, not at the first video, when there is no OpenGL
    from goalax.render import FrameRenderer

    FrameRenderer(eval_env, 16, 16).renderer.close()
  algo = agents.name_of(config.agent)
  try:
    trainer = loops.make_trainer(config, env)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  agent = trainer.agent
  evaluate = make_run_evaluator(
    eval_env,
    agent.act,
    config.eval_goals,
    config.num_eval_envs,
    config.episode_length or eval_env.episode_length,
    config.action_repeat,
  )
  seeds = [config.seed + k for k in range(config.num_seeds)]
  seed_keys = jax.ShapeDtypeStruct((len(seeds), 2), jnp.uint32)
  abstract_state = jax.eval_shape(jax.vmap(trainer.init), seed_keys)
  abstract_policy = jax.eval_shape(jax.vmap(lambda s: agent.policy_params(s.agent)), abstract_state)
  num_episodes = num_eval_episodes(eval_env, config.eval_goals, config.num_eval_envs)
  abstract_eval_states = jax.eval_shape(
    jax.vmap(jax.vmap(eval_env.reset)),
    jax.ShapeDtypeStruct((len(seeds), num_episodes, 2), jnp.uint32),
  )
  estimate = memory.estimate_training_memory(abstract_state, abstract_eval_states, len(seeds))
  memory.check_fits(estimate, config, *memory.device_capacity())
  plan = trainer.schedule
  derived = Derived(
    episode_length=config.episode_length or env.episode_length,
    algo=algo,
    env_backend=env.backend,
    state_size=env.state_size,
    goal_size=env.goal_size,
    action_size=env.action_size,
    updates_per_train_step=plan.gradient_steps_per_train_step,
    env_steps_per_train_step=plan.env_steps_per_train_step,
    train_steps_per_epoch=plan.train_steps_per_epoch,
    epochs=plan.epochs,
    prefill_env_steps=plan.prefill_env_steps,
    total_env_steps=plan.total_env_steps,
    gradient_steps_per_env_step=plan.gradient_steps_per_env_step,
    seeds=seeds,
    state_bytes=memory.tree_bytes(abstract_state),
    jax_backend=jax.default_backend(),
    jax_version=jax.__version__,
    loop=agents.spec_of(config.agent).loop,
  )
  return RunSetup(
    config, algo, env, eval_env, trainer, evaluate, seeds, abstract_state, abstract_policy,
    estimate, derived,
  )  # fmt: skip
