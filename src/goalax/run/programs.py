"""What a run computes: its envs, loop and evaluator built from the config, its shapes and memory
known before anything is allocated, and the compiled programs with their compile options.

:func:`build` validates a :class:`~goalax.config.TrainConfig` and returns a :class:`RunSetup`;
``RunSetup.compile`` lowers and compiles the programs the host loop calls (``init``,
``prefill`` where the loop has one, ``epoch``, ``evaluate``), each over the seed axis.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import threading
from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax import agents, loops
from goalax.config import ConfigError, Derived, TrainConfig, validate
from goalax.errors import require_module
from goalax.evaluation import make_run_evaluator, num_eval_episodes
from goalax.parallel import devices, sweep
from goalax.run import memory


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
  placement: devices.Placement
  members: list[sweep.Member]  # the member axis: seeds, times swept values (goalax.parallel.sweep)

  @property
  def init_args(self) -> tuple:
    """The arguments of the ``init`` program: every member's key (and swept values)."""
    values = sweep.member_values(self.config)
    return (self.seed_keys, values) if values else (self.seed_keys,)

  @property
  def member_labels(self) -> list[str] | None:
    """Each member's swept values (``critic_lr=0.0001``), or None without a sweep."""
    return [m.label for m in self.members] if self.members[0].values else None

  @property
  def state_shardings(self):
    """Shardings of the training state (None on one device)."""
    return devices.state_shardings(self.abstract_state, self.placement)

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
    init and the prefill, from shapes alone; or returns those compiled earlier in this process
    for a config that differs from this one only in its seed, names and outputs
    (:func:`program_key`). A second caller with the same key waits for the first's compile."""
    key = program_key(self.config)
    with _compiling_lock(key):
      with _STORE_LOCK:
        cached = _COMPILED.get(key)
      if cached is None or (fresh and cached.init is None):
        cached = self._compile(fresh)
      with _STORE_LOCK:  # other keys' compiles may be storing theirs meanwhile
        _COMPILED[key] = cached
        _COMPILED.move_to_end(key)
        while len(_COMPILED) > KEEP_COMPILED:
          _COMPILED.popitem(last=False)
    return cached if fresh else dataclasses.replace(cached, init=None, prefill=None)

  def _compile(self, fresh: bool) -> Programs:
    """Tracing is Python and runs one program after the other; XLA compiles the epoch (the
    largest) in this thread while a second thread compiles the others (XLA releases the GIL
    while it compiles)."""
    trainer, state, where = self.trainer, self.abstract_state, self.placement
    seed_axis = lambda tree: devices.seed_axis_shardings(tree, where)  # keys, params, metrics
    state_sh = self.state_shardings

    def lower(fn, args: tuple, in_shardings, out_shardings, donate: bool = False):
      """``fn`` over the seed axis, placed, lowered for ``args``; the compiled program puts its
      inputs where it expects them when it is called."""
      kwargs = dict(donate_argnums=0) if donate else {}
      if where.mode != "one":
        kwargs.update(in_shardings=in_shardings, out_shardings=out_shardings)
      placed = devices.over_devices(fn, len(self.seeds), where)
      return jit_for(self.config)(placed, **kwargs).lower(*args), in_shardings

    policy, keys = self.abstract_policy, self.eval_keys(0)
    train_out = eval_out = None
    if where.mode != "one":  # the metrics' shapes, for their shardings
      run_epoch = devices.over_devices(trainer.run_epoch, len(self.seeds), where)
      train_out = seed_axis(jax.eval_shape(run_epoch, state)[1])
      evaluate = devices.over_devices(self.evaluate, len(self.seeds), where)
      eval_out = seed_axis(jax.eval_shape(evaluate, policy, keys))
    epoch = lower(trainer.run_epoch, (state,), (state_sh,), (state_sh, train_out), True)
    others = {
      "evaluate": lower(
        self.evaluate, (policy, keys), (seed_axis(policy), seed_axis(keys)), eval_out
      )
    }
    if fresh:
      if trainer.prefill is not None:
        others["prefill"] = lower(trainer.prefill, (state,), (state_sh,), state_sh, True)
      init = trainer.init
      if len(self.init_args) > 1:  # a sweep: every member starts with its own values
        init = lambda key, values: sweep.with_member_values(trainer.init(key), values)
      others["init"] = lower(init, self.init_args, seed_axis(self.init_args), state_sh)
    compiled, errors = {}, []

    def compile_others():
      try:
        for name, (program, inputs) in others.items():
          compiled[name] = _placed(program.compile(), inputs)
      except BaseException as e:  # re-raised below, in the caller's thread
        errors.append(e)

    # A daemon thread, like the caller's: a stop signal during compilation must not wait for it.
    worker = threading.Thread(target=compile_others, daemon=True)
    worker.start()
    compiled["epoch"] = _placed(epoch[0].compile(), epoch[1])
    worker.join()
    if errors:
      raise errors[0]
    temp = max(_temp_bytes(p) for p in compiled.values())
    return Programs(
      compiled.get("init"), compiled.get("prefill"), compiled["epoch"], compiled["evaluate"], temp
    )


#: Config fields that change no compiled program: the seed (keys are arguments), names, outputs.
OUTPUT_FIELDS = (
  "seed", "run_dir", "exp_name", "project_name", "group_name", "log_wandb", "wandb_mode",
  "progress", "config_file", "resume", "checkpoint_every", "keep_checkpoints", "video_every",
  "video_format", "video_size", "log_tensorboard", "plot_curves",
)  # fmt: skip
#: How many runs' programs this process keeps (executables only, a few MB each).
KEEP_COMPILED = 8
_COMPILED: collections.OrderedDict[str, Programs] = collections.OrderedDict()
_LOCKS: dict[str, threading.Lock] = {}
_STORE_LOCK = threading.Lock()  # guards _LOCKS and _COMPILED


def program_key(config: TrainConfig) -> str:
  """What a run's compiled programs depend on: its config without :data:`OUTPUT_FIELDS`."""
  fields = dataclasses.asdict(config)
  kept = {name: value for name, value in fields.items() if name not in OUTPUT_FIELDS}
  return repr((type(config.agent).__name__, sorted(kept.items())))


def _compiling_lock(key: str) -> threading.Lock:
  with _STORE_LOCK:
    return _LOCKS.setdefault(key, threading.Lock())


class _placed:
  """A compiled program that first puts its inputs where it expects them (a no-op for arrays
  already there, and on one device)."""

  def __init__(self, compiled, shardings):
    self.compiled, self.shardings = compiled, shardings

  def __call__(self, *args):
    return self.compiled(*devices.put(args, self.shardings))

  def memory_analysis(self):
    return self.compiled.memory_analysis()


def _make_env(name: str, config: TrainConfig, flag: str):
  try:
    return _shared_env(name, config.backend)
  except ValueError as e:
    raise ConfigError(f"{e} (flag --{flag})") from None


@functools.lru_cache(maxsize=8)
def _shared_env(name: str, backend: str | None):
  """One env object per name and backend in a process (envs are not changed after they are
  built): runs of other agents or sizes on the same env reuse its traced physics
  (``GoalEnv.jit_reset``, ``jit_step``) instead of tracing it again."""
  from goalax.envs import make_env

  return make_env(name, backend=backend)


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
  sweep.validate(config)
  if sweep.parse(config)[1]:
    raise ConfigError(
      "--sweep over discrete flags runs one program per combination: run it with 'goalax "
      "train', or train each of goalax.parallel.sweep.runs(config)."
    )
  where = devices.placement(config)
  _require_output_packages(config)
  if config.video_every:  # fail now, not at the first video, when there is no OpenGL
    from goalax.outputs.render import FrameRenderer

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
  members = sweep.members(config)
  seeds = [m.seed for m in members]
  seed_keys = jax.ShapeDtypeStruct((len(seeds), 2), jnp.uint32)
  abstract_state = jax.eval_shape(jax.vmap(trainer.init), seed_keys)
  abstract_policy = jax.eval_shape(jax.vmap(lambda s: agent.policy_params(s.agent)), abstract_state)
  num_episodes = num_eval_episodes(eval_env, config.eval_goals, config.num_eval_envs)
  abstract_eval_states = jax.eval_shape(
    jax.vmap(jax.vmap(eval_env.jit_reset)),
    jax.ShapeDtypeStruct((len(seeds), num_episodes, 2), jnp.uint32),
  )
  estimate = memory.estimate_training_memory(
    abstract_state, abstract_eval_states, len(seeds), where
  )
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
    configs=[m.label for m in members] if members[0].values else None,
  )
  return RunSetup(
    config, algo, env, eval_env, trainer, evaluate, seeds, abstract_state, abstract_policy,
    estimate, derived, where, members,
  )  # fmt: skip
