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
import threading
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax import agents, checkpoint, logger, memory
from goalax.batching import over_seeds
from goalax.checkpoint import latest_checkpoint
from goalax.config import (
  LAUNCH_FIELDS,
  ConfigError,
  TrainConfig,
  check_budget,
  load_config_file,
  load_run_config,
  validate,
)
from goalax.errors import require_module
from goalax.evaluation import make_evaluator
from goalax.stopping import (
  RunInterrupted,
  StopNow,
  StopRequest,
  run_in_thread,
  stop_on_signals,
  wait_until_ready,
)
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


class NonFiniteError(FloatingPointError):
  """NaN or inf in a run's metrics or agent state; the last good checkpoint is named."""


def _make_env(name: str, config: TrainConfig, flag: str):
  from goalax.envs import make_env

  try:
    return make_env(name, backend=config.backend)
  except ValueError as e:
    raise ConfigError(f"{e} (flag --{flag})") from None


# Flags that may differ when a run is resumed: outputs and logging, not what is computed.
OUTPUT_FLAGS = (
  "progress",
  "log_wandb",
  "log_tensorboard",
  "project_name",
  "group_name",
  "checkpoint_every",
  "keep_checkpoints",
  "video_every",
  "video_format",
  "plot_curves",
)
RESUMABLE_FLAGS = (*OUTPUT_FLAGS, "run_dir", *LAUNCH_FIELDS)  # the last: where, not what


def resume_config(given: TrainConfig) -> TrainConfig:
  """The config of the run in ``given.resume``, with ``given``'s output and logging flags.

  Any other flag that differs from the run's own is a ConfigError: a resumed run must compute
  exactly what the uninterrupted run would have."""
  run_dir = given.resume
  saved, derived = load_run_config(run_dir, "--resume")
  algo = agents.name_of(given.agent)
  if derived["algo"] != algo:
    raise ConfigError(
      f"--resume {run_dir} is a {derived['algo']} run, not {algo}; use 'goalax resume {run_dir}'."
    )
  changed = [
    (f.name, getattr(saved, f.name), getattr(given, f.name))
    for f in dataclasses.fields(TrainConfig)
    if f.name not in RESUMABLE_FLAGS + ("agent",)
    and getattr(saved, f.name) != getattr(given, f.name)
  ] + [
    (f.name, getattr(saved.agent, f.name), getattr(given.agent, f.name))
    for f in dataclasses.fields(saved.agent)
    if getattr(saved.agent, f.name) != getattr(given.agent, f.name)
  ]
  if changed:
    flag, old, new = changed[0]
    raise ConfigError(
      f"--{flag} cannot change when resuming {run_dir} (the run has {old}, not {new}): a resumed "
      f"run continues exactly; start a new run with --config {run_dir}/config.yaml instead. "
      f"Flags that may change: {', '.join('--' + f for f in OUTPUT_FLAGS)}."
    )
  keep = {name: getattr(given, name) for name in OUTPUT_FLAGS}
  return dataclasses.replace(saved, **keep, resume=run_dir)


@dataclasses.dataclass
class _Programs:
  """The compiled programs of a run, each vmapped over seeds."""

  init: Callable | None  # None when resuming
  prefill: Callable | None
  epoch: Callable
  evaluate: Callable
  temp_bytes: int  # XLA's largest temporary buffers among them


def _temp_bytes(compiled) -> int:
  try:
    return int(compiled.memory_analysis().temp_size_in_bytes)
  except Exception:  # not every backend reports it
    return 0


@jax.jit
def _all_finite(tree) -> jax.Array:
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else True


@dataclasses.dataclass
class _Setup:
  """A run built from its config, before anything of its size is allocated."""

  config: TrainConfig
  algo: str
  env: object
  eval_env: object
  trainer: object
  evaluate: Callable  # evaluate(policy_params, key) -> metrics, for one seed
  seeds: list[int]
  abstract_state: object  # TrainState of jax.ShapeDtypeStruct, batched over seeds
  abstract_policy: object
  estimate: memory.MemoryEstimate
  derived: dict

  @property
  def agent(self):
    return self.trainer.agent

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

  def compile(self, fresh: bool = True) -> _Programs:
    """Compiles a training epoch, an evaluation and, for a ``fresh`` run (not a resumed one),
    init and the prefill, from shapes alone. Tracing is Python and runs one program after the
    other; XLA compiles the epoch (the largest) in this thread while a second thread compiles
    the others (XLA releases the GIL while it compiles)."""
    jit = functools.partial(jax.jit, compiler_options=compiler_options(self.config.fast_compile))
    trainer, state = self.trainer, self.abstract_state
    seeds = functools.partial(over_seeds, num_seeds=len(self.seeds))
    epoch = jit(seeds(trainer.run_epoch), donate_argnums=0).lower(state)
    others = {"evaluate": jit(seeds(self.evaluate)).lower(self.abstract_policy, self.eval_keys(0))}
    if fresh:
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
    return _Programs(
      compiled.get("init"), compiled.get("prefill"), compiled["epoch"], compiled["evaluate"], temp
    )


def _require_output_packages(config: TrainConfig) -> None:
  """Optional outputs need optional packages: say which extra to install before training."""
  if config.video_every:
    require_module("imageio", "render", "--video_every")
    if config.video_format == "mp4":
      require_module("imageio_ffmpeg", "render", "--video_every with --video_format mp4")
  if config.log_tensorboard:
    require_module("tensorboardX", "tensorboard", "--log_tensorboard")


def _setup(config: TrainConfig) -> _Setup:
  """Validates a config and builds its envs, trainer and evaluator; estimates the memory from
  shapes alone (``jax.eval_shape``) and refuses what cannot fit or a budget below the prefill."""
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
  seed_keys = jax.ShapeDtypeStruct((len(seeds), 2), jnp.uint32)
  abstract_state = jax.eval_shape(jax.vmap(trainer.init), seed_keys)
  abstract_policy = jax.eval_shape(jax.vmap(lambda s: agent.policy_params(s.agent)), abstract_state)
  abstract_eval_states = jax.eval_shape(
    jax.vmap(jax.vmap(eval_env.reset)),
    jax.ShapeDtypeStruct((len(seeds), config.num_eval_envs, 2), jnp.uint32),
  )
  estimate = memory.estimate_training_memory(abstract_state, abstract_eval_states, len(seeds))
  memory.check_fits(estimate, config, *memory.device_capacity())
  derived = dict(
    episode_length=config.episode_length or env.episode_length,
    algo=algo,
    env_backend=env.backend,
    state_size=env.state_size,
    goal_size=env.goal_size,
    action_size=env.action_size,
    updates_per_train_step=config.updates_per_train_step,
    env_steps_per_train_step=config.env_steps_per_train_step,
    train_steps_per_epoch=config.train_steps_per_epoch,
    epochs=config.num_evals,
    prefill_env_steps=config.prefill_env_steps,
    total_env_steps=config.total_env_steps,
    gradient_steps_per_env_step=config.updates_per_train_step / config.env_steps_per_train_step,
    seeds=seeds,
    state_bytes=memory.tree_bytes(abstract_state),
    jax_backend=jax.default_backend(),
    jax_version=jax.__version__,
  )
  return _Setup(
    config, algo, env, eval_env, trainer, evaluate, seeds, abstract_state, abstract_policy,
    estimate, derived,
  )  # fmt: skip


class _HostLoop:
  """One run's host side: outputs, checkpoints, stopping, and the epochs themselves."""

  def __init__(self, setup: _Setup, write_outputs: bool, stop: StopRequest, progress_fn):
    self.setup, self.config, self.agent = setup, setup.config, setup.agent
    self.stop, self.progress_fn = stop, progress_fn
    self.say = print if self.config.progress else (lambda *a, **k: None)
    self.run_dir, self.outputs, self.resume_from, self.lock = "", None, None, None
    if write_outputs:
      self._open_outputs()
    self.last_saved = self.resume_from
    meta = self.resume_from.meta if self.resume_from else {}
    self.env_steps = int(meta.get("env_steps", 0))
    self.train_seconds = float(meta.get("train_seconds", 0.0))
    self.resumed_at = (self.env_steps, self.train_seconds)  # speed counts this process only
    self.compile_seconds = 0.0
    self.state = None
    self.video_fn = None
    self.history, self.per_seed = [], [[] for _ in setup.seeds]
    for row in self.outputs.metrics.rows if self.outputs else []:  # a resumed run's rows so far
      seed = row["seed"]
      (self.history if seed == "mean" else self.per_seed[setup.seeds.index(seed)]).append(row)

  # ---- outputs ---------------------------------------------------------------------------
  def _open_outputs(self) -> None:
    config = self.config
    if config.resume:
      self.run_dir = config.resume
      self.resume_from = latest_checkpoint(self.run_dir)
    else:
      name = config.exp_name or logger.default_run_name(config.env, self.setup.algo, config.seed)
      self.run_dir = logger.new_run_dir(config.run_dir, name, config.exp_name is not None)
    self.lock = logger.RunLock(self.run_dir)
    try:
      if config.resume:
        last_epoch = self.resume_from.epoch if self.resume_from else -1
        metrics = logger.MetricsWriter.reopen(self.run_dir, last_epoch)
        purge = self.resume_from.env_steps + 1 if self.resume_from else 0
      else:
        saved = dataclasses.replace(config, resume=None)
        logger.write_config(self.run_dir, saved, self.setup.derived)
        metrics, purge = logger.MetricsWriter(self.run_dir), None
      self.outputs = logger.RunOutputs(self.run_dir, config, metrics, purge_step=purge)
    except OSError as e:
      self.lock.release()
      raise checkpoint.output_error(e, f"the run's files in {self.run_dir}", self.run_dir) from None
    except BaseException:
      self.lock.release()
      raise

  def record(self, epoch: int, metrics: dict) -> dict:
    per_seed, mean = logger.metric_rows(metrics, self.setup.seeds, self.env_steps, epoch)
    for k, row in enumerate(per_seed):
      self.per_seed[k].append(row)
    self.history.append(mean)
    if self.outputs:
      self.outputs.write(per_seed, mean)
    if self.progress_fn:
      self.progress_fn(mean)
    return mean

  def policy_params(self):
    return jax.vmap(self.agent.policy_params)(self.state.agent)

  def save_checkpoint(self, epoch: int) -> None:
    if not self.run_dir:
      return
    meta = dict(
      env_steps=self.env_steps,
      train_seconds=self.train_seconds,
      seeds=self.setup.seeds,
      algo=self.setup.algo,
    )
    self.last_saved = checkpoint.save(
      self.run_dir, epoch, self.state, self.policy_params(), meta, self.config.keep_checkpoints
    )

  def maybe_video(self, epoch: int) -> None:
    """With --video_every N: one evaluation episode of the first seed, every N evaluations."""
    every, config = self.config.video_every, self.config
    if not (self.run_dir and every and (epoch % every == 0 or epoch == config.num_evals)):
      return
    from goalax import render
    from goalax.evaluation import make_episode_recorder

    env = self.setup.eval_env
    if self.video_fn is None:
      record = make_episode_recorder(
        env, self.agent.act, 1, self.setup.eval_episode_length, config.action_repeat
      )
      self.video_fn = jax.jit(record)
    policy = jax.tree.map(lambda x: x[0], self.policy_params())
    key = jax.random.fold_in(jax.random.PRNGKey(self.setup.seeds[0]), 2_000_003 + epoch)
    first, states = self.video_fn(policy, key)
    path = os.path.join(self.run_dir, "videos", f"epoch_{epoch:04d}.{config.video_format}")
    try:
      render.write_rollouts(env, first, states, path, config.action_repeat)
    except OSError as e:
      raise checkpoint.output_error(e, path, self.run_dir) from None
    self.outputs.log_video(path, self.env_steps)

  # ---- stopping --------------------------------------------------------------------------

  def interrupted(self, where: str, in_flight: bool = False) -> RunInterrupted:
    stop, run_dir, saved = self.stop, self.run_dir, self.last_saved
    if not run_dir:
      message = f"stopped by {stop.name} {where}; nothing was saved (no run directory)."
    elif saved is None:
      message = (
        f"stopped by {stop.name} {where}, before the first checkpoint; 'goalax resume {run_dir}' "
        "starts the run again."
      )
    else:
      message = (
        f"stopped by {stop.name} {where}; checkpoint of epoch {saved.epoch} in {saved.path}; "
        f"continue with: goalax resume {run_dir}"
      )
    return RunInterrupted(message, stop.exit_code, in_flight)

  # ---- the run ---------------------------------------------------------------------------
  def run(self) -> RunResult:
    try:
      try:
        with stop_on_signals(self.stop):
          self._run()
      except StopNow:
        raise self.interrupted("at once (second signal)", in_flight=True) from None
      finally:
        if self.outputs:
          self.outputs.close()
      if self.run_dir:
        try:
          save_params(self.run_dir, self.agent.saved_params(self.state.agent))
        except OSError as e:
          raise checkpoint.output_error(e, "params.msgpack", self.run_dir) from None
    finally:
      if self.lock:
        self.lock.release()
    steps, seconds = self.env_steps, self.train_seconds
    self.say(
      f"  done: {steps:,} env steps per seed in {_format_seconds(seconds)} of training "
      f"({steps * len(self.setup.seeds) / max(seconds, 1e-9):,.0f} env steps/s over all seeds) "
      f"+ {self.compile_seconds:.1f} s compile"
    )
    return RunResult(
      self.run_dir,
      steps,
      self.history,
      self.per_seed,
      self.state,
      self.compile_seconds,
      seconds,
    )

  def _run(self) -> None:
    setup, config, num_evals = self.setup, self.config, self.config.num_evals
    if self.resume_from and self.resume_from.epoch >= num_evals:
      self.say(f"  {self.run_dir} is complete (epoch {num_evals} of {num_evals}); nothing to do.")
      self.state = checkpoint.restore_state(self.resume_from, setup.abstract_state)
      return
    t0 = time.perf_counter()
    programs = run_in_thread(lambda: setup.compile(fresh=self.resume_from is None), self.stop)
    if programs is None:
      raise self.interrupted("while compiling", in_flight=True)
    self.compile_seconds = time.perf_counter() - t0
    estimate = setup.estimate.with_part("XLA temporaries", programs.temp_bytes)
    memory.check_fits(estimate, config, *memory.device_capacity())
    self.say(f"  compiled in {self.compile_seconds:.1f} s | memory {estimate.describe()}")

    if self.resume_from:
      self.say(
        f"  resuming from {self.resume_from.path} (epoch {self.resume_from.epoch}, "
        f"{self.env_steps:,} env steps)"
      )
      self.state = jax.device_put(checkpoint.restore_state(self.resume_from, setup.abstract_state))
      start = self.resume_from.epoch + 1
    else:
      if config.resume:
        self.say(f"  {self.run_dir} has no checkpoint yet: starting it again")
      self._start(programs)
      start = 1
    if self.stop.requested:
      raise self.interrupted("before the first epoch")
    last_epoch_seconds = None
    for epoch in range(start, num_evals + 1):
      last_epoch_seconds = self._epoch(programs, epoch, last_epoch_seconds)
      if self.stop.requested and epoch < num_evals:
        raise self.interrupted(f"after epoch {epoch} of {num_evals}")

  def _start(self, programs: _Programs) -> None:
    """Init, the evaluation before training, the prefill and checkpoint 0."""
    setup, config = self.setup, self.config
    self.state = programs.init(setup.seed_keys)
    row = self.record(0, programs.evaluate(self.policy_params(), setup.eval_keys(0)))
    self.say(
      f"  [0/{config.num_evals}] before training: success {row['eval/success']:.3f} | "
      f"final dist {row['eval/final_dist']:.3f}"
    )
    self.maybe_video(0)
    t_start = time.perf_counter()
    self.state = jax.block_until_ready(programs.prefill(self.state))
    self.train_seconds += time.perf_counter() - t_start
    self.env_steps = config.prefill_env_steps
    if config.checkpoint_every:
      self.save_checkpoint(0)

  def _epoch(self, programs: _Programs, epoch: int, last_epoch_seconds: float | None) -> float:
    """Trains one epoch, evaluates, records, checks for NaN, checkpoints; returns its seconds."""
    config, num_evals = self.config, self.config.num_evals
    t_start = time.perf_counter()
    self.state, train_metrics = programs.epoch(self.state)

    def may_abandon() -> bool:
      # drop the epoch in flight only if its start is saved and it would take a while longer
      saved = self.last_saved is not None and self.last_saved.epoch == epoch - 1
      remaining = (last_epoch_seconds or math.inf) - (time.perf_counter() - t_start)
      return saved and remaining > 5.0

    def waiting() -> None:
      remaining = (last_epoch_seconds or math.inf) - (time.perf_counter() - t_start)
      if remaining < 1.0:  # a moment: no need to say anything
        return
      left = f" (about {_format_seconds(remaining)})" if last_epoch_seconds else ""
      print(
        f"goalax: {self.stop.name}: finishing epoch {epoch}{left} to checkpoint it; "
        f"{self.stop.name} again stops at once.",
        file=sys.stderr,
        flush=True,
      )

    if not wait_until_ready(train_metrics, self.stop, may_abandon, waiting):
      where = f"during epoch {epoch} of {num_evals} (its progress is dropped)"
      raise self.interrupted(where, in_flight=True)
    train_metrics = jax.device_get(train_metrics)
    seconds = time.perf_counter() - t_start
    self.train_seconds += seconds
    self.env_steps += config.train_steps_per_epoch * config.env_steps_per_train_step
    eval_metrics = programs.evaluate(self.policy_params(), self.setup.eval_keys(epoch))
    metrics = {**{f"train/{k}": v for k, v in train_metrics.items()}, **eval_metrics}
    row = self.record(epoch, metrics)
    self._progress_line(epoch, row)
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad or not bool(_all_finite(self.state.agent)):
      raise NonFiniteError(_non_finite_message(epoch, bad, self.run_dir, self.last_saved))
    every = config.checkpoint_every
    if epoch == num_evals or self.stop.requested or (every and epoch % every == 0):
      self.save_checkpoint(epoch)
    self.maybe_video(epoch)
    return seconds

  def _progress_line(self, epoch: int, row: dict) -> None:
    config = self.config
    steps0, seconds0 = self.resumed_at
    sps = (self.env_steps - steps0) / max(self.train_seconds - seconds0, 1e-9)
    eta = (config.total_env_steps - self.env_steps) / max(sps, 1e-9)
    self.say(
      f"  [{epoch}/{config.num_evals}] {self.env_steps:,}/{config.total_env_steps:,} steps | "
      f"{sps:,.0f} steps/s | ETA {_format_seconds(eta)} | success {row['eval/success']:.3f} | "
      f"near goal {row['eval/time_near_goal']:.3f} | final dist {row['eval/final_dist']:.3f}"
      + "".join(
        f" | {name.replace('_', ' ')} {row[f'train/{name}']:.3f}"
        for name in self.agent.headline_metrics
      )
    )


def train(
  config: TrainConfig,
  progress_fn: Callable[[dict], None] | None = None,
  write_outputs: bool = True,
  stop: StopRequest | None = None,
) -> RunResult:
  """Trains ``config.num_seeds`` agents at once and returns their history and final state.

  With ``config.resume`` (a run directory) the run continues from its newest checkpoint and
  ends with the same parameters and metrics as if it had never stopped. A stop request (SIGINT
  or SIGTERM in the main thread, or ``stop.request()``) ends the run at the next safe point with
  a checkpoint and :class:`~goalax.stopping.RunInterrupted`.
  """
  if config.resume:
    if not write_outputs:
      raise ConfigError("--resume continues a run in its directory; it needs write_outputs=True.")
    config = resume_config(config)
  setup = _setup(config)
  budget_note = check_budget(config)
  loop = _HostLoop(setup, write_outputs, stop or StopRequest(), progress_fn)
  c = config
  loop.say(
    f"goalax | {setup.algo.upper()} on {c.env} ({setup.env.backend}) | {len(setup.seeds)} "
    f"seed(s) {setup.seeds} | {c.num_envs} envs | episode {setup.derived['episode_length']} | "
    f"run dir {loop.run_dir or '-'}"
  )
  loop.say(
    f"  {c.updates_per_train_step} gradient steps per {c.env_steps_per_train_step} env steps "
    f"(1:{c.env_steps_per_train_step / c.updates_per_train_step:.1f}); {c.num_evals} epochs × "
    f"{c.train_steps_per_epoch} training steps + {c.prefill_env_steps:,} prefill steps = "
    f"{c.total_env_steps:,} env steps per seed"
  )
  if budget_note:
    print(f"goalax: warning: {budget_note}", file=sys.stderr)
  return loop.run()


def _non_finite_message(epoch: int, bad: list[str], run_dir: str, last_saved) -> str:
  where = f"in {', '.join(sorted(bad))}" if bad else "in the agent's parameters"
  if last_saved is not None:
    kept = (
      f"the last good checkpoint, {last_saved.path} (epoch {last_saved.epoch}), is kept and "
      "nothing later was saved"
    )
  else:
    kept = "no checkpoint was saved before"
  return (
    f"non-finite values at epoch {epoch} {where}; stopping: {kept}; the metrics up to here are "
    f"in {run_dir or '(no run dir)'}. Try lower learning rates or --use_layer_norm."
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


def _flag_value(argv: list[str], flag: str) -> str | None:
  """The value of ``flag`` in ``argv`` (``--flag VALUE`` or ``--flag=VALUE``), else None."""
  for i, arg in enumerate(argv):
    name, eq, value = arg.partition("=")
    if name == flag:
      return value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
  return None


def _defaults(algo: str, argv: list[str]) -> TrainConfig:
  """The values of the flags not given: a run's own (``--resume``), a file's (``--config``),
  or the defaults."""
  config_class = agents.REGISTRY[algo].config_class
  resume, config_file = _flag_value(argv, "--resume"), _flag_value(argv, "--config")
  if resume and config_file:
    raise ConfigError(
      "--resume and --config cannot be combined: a resumed run keeps its own config."
    )
  if resume:
    saved, derived = load_run_config(resume, "--resume")
    if derived["algo"] != algo:
      raise ConfigError(
        f"--resume {resume} is a {derived['algo']} run, not {algo}; use 'goalax resume {resume}'."
      )
    return saved
  if config_file:
    return load_config_file(config_file, algo)
  return TrainConfig(agent=config_class())


def parse_train_args(algo: str, argv: list[str]) -> TrainConfig:
  """``TrainConfig`` of ``goalax train <algo> [flags]``: the run's flags and that agent's only.

  tyro accepts JaxGCRL's underscore spellings (``--num_envs``) as well as ``--num-envs``. With
  ``--config FILE`` or ``--resume RUN_DIR`` the flags not given take that file's or run's
  values.
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
    default=_defaults(algo, argv),
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


RESUME_USAGE = """usage: goalax resume RUN_DIR [flags]

Continues a run from its newest checkpoint with its own config.yaml; it ends with the same
parameters and metrics as if it had never stopped. Only output and logging flags may be given:
{flags}."""


def resume_cli(argv: list[str]) -> None:
  """``goalax resume RUN_DIR [flags]``: ``goalax train <the run's algo> --resume RUN_DIR``."""
  if not argv or argv[0] in ("-h", "--help"):
    print(RESUME_USAGE.format(flags=", ".join("--" + f for f in OUTPUT_FLAGS)))
    return
  run_dir, rest = argv[0], argv[1:]
  _, derived = load_run_config(run_dir, "goalax resume")
  run_config(parse_train_args(derived["algo"], ["--resume", run_dir, *rest]))


def run_config(config: TrainConfig) -> RunResult:
  """Runs ``train(config)`` for the command line: a NaN ends with exit code 1, a stop signal
  with one line on how to resume and exit code 128 + signal."""
  enable_compilation_cache()
  try:
    return train(config)
  except FloatingPointError as e:
    print(f"goalax: error: {e}", file=sys.stderr)
    sys.exit(1)
  except RunInterrupted as e:
    print(f"goalax: {e}", file=sys.stderr, flush=True)
    if e.in_flight:  # compiled work still running: exit without waiting for it
      sys.stdout.flush()
      os._exit(e.exit_code)
    sys.exit(e.exit_code)
