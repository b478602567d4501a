"""The host loop of a run, the same for every agent and loop: epochs, evaluation, outputs, stop
signals and resume.

``train(config)`` is the library entry point (``goalax.train``): it plans the run
(:func:`goalax.run.plan.make_plan`), opens its directory, compiles its programs and drives them
epoch by epoch; between epochs it evaluates, writes metrics, curves and checkpoints, and stops at
a safe point on SIGINT/SIGTERM. It knows the loop only through
:class:`goalax.loops.Trainer` and the agent only through :class:`goalax.agents.base.Agent`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable

import jax

from goalax.config import ConfigError, TrainConfig
from goalax.evaluation import headline
from goalax.outputs import logger
from goalax.outputs.plotting import run_title
from goalax.outputs.videos import VideoRecorder
from goalax.parallel import devices, distributed
from goalax.run import checkpoint, memory, runfiles
from goalax.run.health import NonFiniteError, all_finite, non_finite_message
from goalax.run.plan import RunPlan, make_plan
from goalax.run.programs import Programs
from goalax.run.progress import done_line, epoch_line, format_seconds, of_config, steps_of
from goalax.run.stopping import (
  RunInterrupted,
  StopNow,
  StopRequest,
  run_in_thread,
  stop_on_signals,
  wait_until_ready,
)


@dataclasses.dataclass
class RunResult:
  run_dir: str
  total_env_steps: int
  history: list[dict]  # aggregated rows, one per evaluation
  per_seed: list[list[dict]]  # per_seed[k] = rows of seed k
  final_state: object  # the loop's state, batched over seeds
  compile_seconds: float
  train_seconds: float


class HostLoop:
  """One run's host side: outputs, checkpoints, stopping, and the epochs themselves."""

  def __init__(self, plan: RunPlan, write_outputs: bool, stop: StopRequest, progress_fn):
    self.plan, self.config, self.agent = plan, plan.config, plan.agent
    self.stop, self.progress_fn = stop, progress_fn
    speak = self.config.progress and distributed.is_main()  # one voice for many processes
    self.say = print if speak else (lambda *a, **k: None)
    self.run_dir, self.outputs, self.resume_from, self.lock = "", None, None, None
    self.wanted_dir = None  # the run dir asked for, when it existed and a suffix was added
    if write_outputs:
      self._open_outputs()
    self.saver = checkpoint.BackgroundSaver(self.resume_from)
    meta = self.resume_from.meta if self.resume_from else {}
    self.env_steps = int(meta.get("env_steps", 0))
    self.gradient_steps = int(meta.get("gradient_steps", 0))  # counted offline only
    self.train_seconds = float(meta.get("train_seconds", 0.0))
    self.resumed_at = (self.steps[0], self.train_seconds)  # speed counts this process only
    self.compile_seconds = 0.0
    self.state = None
    self.videos = VideoRecorder(plan)
    self.history, self.per_seed = [], [[] for _ in plan.seeds]
    members = list(zip(plan.member_labels or [None] * len(plan.seeds), plan.seeds))
    for row in self.outputs.metrics.rows if self.outputs else []:  # a resumed run's rows so far
      if row["seed"] == "mean":
        self.history.append(row)
      else:
        self.per_seed[members.index((row.get("config"), row["seed"]))].append(row)

  # ---- outputs ---------------------------------------------------------------------------
  def _open_outputs(self) -> None:
    """The run directory (process 0 makes it, every process learns it), and on process 0 the
    lock and the files written at every evaluation."""
    config = self.config
    if config.resume:
      self.run_dir = config.resume
      self.resume_from = runfiles.latest_checkpoint(self.run_dir)
    else:
      name = config.exp_name or runfiles.default_run_name(config.env, self.plan.algo, config.seed)
      made = runfiles.new_run_dir(config.run_dir, name) if distributed.is_main() else ""
      self.run_dir = distributed.broadcast_text(made)
      wanted = os.path.join(config.run_dir, name)
      self.wanted_dir = wanted if self.run_dir != wanted else None
    if not distributed.is_main():
      return
    self.lock = runfiles.RunLock(self.run_dir)
    try:
      if config.resume:
        last_epoch = self.resume_from.epoch if self.resume_from else -1
        metrics = logger.MetricsWriter.reopen(self.run_dir, last_epoch)
        newest = self.resume_from  # TensorBoard drops its steps after the newest checkpoint's
        purge = int(newest.meta.get(self.step_key, 0)) + 1 if newest else 0
      else:
        saved = dataclasses.replace(config, resume=None)
        runfiles.write_config(self.run_dir, saved, self.plan.derived)
        metrics, purge = logger.MetricsWriter(self.run_dir), None
      title = run_title(self.plan.label, config.env, self.run_dir)
      self.outputs = logger.RunOutputs(self.run_dir, config, metrics, title, purge_step=purge)
    except OSError as e:
      self.lock.release()
      raise runfiles.output_error(e, f"the run's files in {self.run_dir}", self.run_dir) from None
    except BaseException:
      self.lock.release()
      raise

  @property
  def steps(self) -> tuple[int, int, str]:
    """``(done, total, name)``: env steps, or gradient steps offline."""
    return steps_of(self.plan.schedule, self.env_steps, self.gradient_steps)

  @property
  def step_key(self) -> str:
    """The rows' x axis (TensorBoard's and wandb's step): gradient_steps offline."""
    return "gradient_steps" if self.plan.schedule.offline else "env_steps"

  def record(self, epoch: int, metrics: dict) -> list[dict]:
    """Rows of one evaluation, written; returns the mean rows (one, or one per configuration of
    a sweep)."""
    plan = self.plan
    offline = self.gradient_steps if plan.schedule.offline else None
    per_seed, means = logger.metric_rows(
      metrics, plan.seeds, self.env_steps, epoch, plan.member_labels, gradient_steps=offline
    )
    for k, row in enumerate(per_seed):
      self.per_seed[k].append(row)
    self.history.extend(means)
    if self.outputs:
      self.outputs.write(per_seed, means)
    if self.progress_fn:
      for mean in means:
        self.progress_fn(mean)
    return means

  def policy_params(self):
    return jax.vmap(self.agent.policy_params)(self.state.agent)

  def save_checkpoint(self, epoch: int) -> None:
    if not self.run_dir:
      return
    meta = dict(
      env_steps=self.env_steps,
      gradient_steps=self.gradient_steps,
      train_seconds=self.train_seconds,
      seeds=self.plan.seeds,
      algo=self.plan.algo,
    )
    self.saver.submit(
      self.run_dir, epoch, self.state, self.policy_params(), meta, self.config.keep_checkpoints
    )

  def maybe_video(self, epoch: int) -> None:
    """With --video_every N: one evaluation episode of the first seed, every N evaluations."""
    if self.run_dir and self.videos.due(epoch):
      self.videos.record(epoch, self.policy_params(), self.run_dir, self.outputs, self.steps[0])

  # ---- stopping --------------------------------------------------------------------------

  def _stopping(self) -> bool:
    """Whether a stop was requested, in this process or (with several) in any: every process
    then stops after the same epoch."""
    if distributed.agree(self.stop.requested) and not self.stop.requested:
      self.stop.request()
    return self.stop.requested

  def _restore(self):
    """The newest checkpoint's state, placed as the run's programs expect it (with several
    processes every one reads its own part)."""
    plan = self.plan
    if distributed.many():
      return checkpoint.restore_state(self.resume_from, plan.abstract_state, plan.state_shardings)
    restored = checkpoint.restore_state(self.resume_from, plan.abstract_state)
    return devices.put(restored, plan.state_shardings)

  def interrupted(self, where: str, in_flight: bool = False, at_once: bool = False):
    """RunInterrupted with its one line; waits for a checkpoint being written, unless the stop
    is ``at_once`` (a second signal)."""
    stop, run_dir = self.stop, self.run_dir
    saved = self.saver.completed if at_once else self.saver.wait()
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
    at_once = False
    try:
      try:
        with stop_on_signals(self.stop):
          self._run()
      except StopNow:
        at_once = True
        raise self.interrupted("at once (second signal)", in_flight=True, at_once=True) from None
      finally:
        if self.outputs:
          self.outputs.close()
      if self.run_dir:
        self.saver.wait()  # the last checkpoint is complete before the run says it is done
        params = distributed.fetch(self.agent.saved_params(self.state.agent))
        try:
          if distributed.is_main():
            checkpoint.save_params(self.run_dir, params)
        except OSError as e:
          raise runfiles.output_error(e, "params.msgpack", self.run_dir) from None
    finally:
      if not at_once:  # an error on its way out: a save in flight still completes
        self.saver.wait(raise_error=False)
      if self.lock:
        self.lock.release()
    seconds = self.train_seconds
    self.say(done_line(self.steps, seconds, len(self.plan.seeds), self.compile_seconds))
    return RunResult(
      self.run_dir,
      self.env_steps,
      self.history,
      self.per_seed,
      self.state,
      self.compile_seconds,
      seconds,
    )

  def _run(self) -> None:
    plan, config, num_evals = self.plan, self.config, self.config.num_evals
    if self.resume_from and self.resume_from.epoch >= num_evals:
      self.say(f"  {self.run_dir} is complete (epoch {num_evals} of {num_evals}); nothing to do.")
      self.state = self._restore()
      return
    t0 = time.perf_counter()
    programs = run_in_thread(lambda: plan.compile(fresh=self.resume_from is None), self.stop)
    if programs is None:
      raise self.interrupted("while compiling", in_flight=True)
    self.compile_seconds = time.perf_counter() - t0
    estimate = plan.estimate.with_part("XLA temporaries", programs.temp_bytes)
    memory.check_fits(estimate, config, *memory.device_capacity())
    self.say(f"  compiled in {self.compile_seconds:.1f} s | memory {estimate.describe()}")

    if self.resume_from:
      done, _, name = self.steps
      self.say(
        f"  resuming from {self.resume_from.path} (epoch {self.resume_from.epoch}, {done:,} {name})"
      )
      self.state = self._restore()
      start = self.resume_from.epoch + 1
    else:
      if config.resume:
        self.say(f"  {self.run_dir} has no checkpoint yet: starting it again")
      self._start(programs)
      start = 1
    if self._stopping():
      raise self.interrupted("before the first epoch")
    last_epoch_seconds = None
    for epoch in range(start, num_evals + 1):
      last_epoch_seconds = self._epoch(programs, epoch, last_epoch_seconds)
      if self.stop.requested and epoch < num_evals:  # agreed by every process in _epoch
        raise self.interrupted(f"after epoch {epoch} of {num_evals}")

  def _start(self, programs: Programs) -> None:
    """Init, the evaluation before training, the prefill and checkpoint 0."""
    plan, config = self.plan, self.config
    self.state = programs.init(*plan.init_args)
    metrics = programs.evaluate(self.policy_params(), plan.eval_keys(0))
    for row in self.record(0, distributed.fetch(metrics)):
      self.say(f"  [0/{config.num_evals}] before training: {headline(row)}" + of_config(row))
    self.maybe_video(0)
    if programs.prefill is not None:
      t_start = time.perf_counter()
      self.state = jax.block_until_ready(programs.prefill(self.state))
      self.train_seconds += time.perf_counter() - t_start
      self.env_steps = plan.schedule.prefill_env_steps
    if config.checkpoint_every:
      self.save_checkpoint(0)

  def _epoch(self, programs: Programs, epoch: int, last_epoch_seconds: float | None) -> float:
    """Trains one epoch, evaluates, records, checks for NaN, checkpoints; returns its seconds."""
    config, num_evals = self.config, self.config.num_evals
    t_start = time.perf_counter()
    self.state, train_metrics = programs.epoch(self.state, *self.plan.trainer.data_args)

    def may_abandon() -> bool:
      # drop the epoch in flight only if its start is saved and it would take a while longer
      if distributed.many():  # every process would have to agree to drop it: finish it
        return False
      saved = self.saver.newest_epoch == epoch - 1  # a save in flight is waited for
      remaining = (last_epoch_seconds or math.inf) - (time.perf_counter() - t_start)
      return saved and remaining > 5.0

    def waiting() -> None:
      remaining = (last_epoch_seconds or math.inf) - (time.perf_counter() - t_start)
      if remaining < 1.0:  # a moment: no need to say anything
        return
      left = f" (about {format_seconds(remaining)})" if last_epoch_seconds else ""
      print(
        f"goalax: {self.stop.name}: finishing epoch {epoch}{left} to checkpoint it; "
        f"{self.stop.name} again stops at once.",
        file=sys.stderr,
        flush=True,
      )

    if not wait_until_ready(train_metrics, self.stop, may_abandon, waiting):
      where = f"during epoch {epoch} of {num_evals} (its progress is dropped)"
      raise self.interrupted(where, in_flight=True)
    train_metrics = distributed.fetch(train_metrics)
    seconds = time.perf_counter() - t_start
    self.train_seconds += seconds
    self.env_steps += self.plan.schedule.env_steps_per_epoch
    self.gradient_steps += self.plan.schedule.gradient_steps_per_epoch
    eval_metrics = distributed.fetch(
      programs.evaluate(self.policy_params(), self.plan.eval_keys(epoch))
    )
    metrics = {**{f"train/{k}": v for k, v in train_metrics.items()}, **eval_metrics}
    means = self.record(epoch, metrics)
    for row in means:
      self._progress_line(epoch, row)
    bad = sorted(
      {k for row in means for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)}
    )
    if bad or not bool(distributed.fetch(all_finite(self.state.agent))):
      raise NonFiniteError(non_finite_message(epoch, bad, self.run_dir, self.saver.wait()))
    every = config.checkpoint_every
    if epoch == num_evals or self._stopping() or (every and epoch % every == 0):
      self.save_checkpoint(epoch)
    self.maybe_video(epoch)
    return seconds

  def _progress_line(self, epoch: int, row: dict) -> None:
    since = (self.steps[0] - self.resumed_at[0], self.train_seconds - self.resumed_at[1])
    names = tuple(self.agent.headline_metrics)
    self.say(epoch_line(epoch, self.config.num_evals, self.steps, since, row, names))


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
  a checkpoint and :class:`~goalax.run.stopping.RunInterrupted`.
  """
  distributed.initialize(config)  # several processes: before anything touches JAX's devices
  if config.resume and not write_outputs:
    raise ConfigError("--resume continues a run in its directory; it needs write_outputs=True.")
  plan = make_plan(config)
  loop = HostLoop(plan, write_outputs, stop or StopRequest(), progress_fn)
  c = plan.config
  moved = f" ({loop.wanted_dir} exists: a new run beside it)" if loop.wanted_dir else ""
  data = f"dataset {c.dataset}" if plan.schedule.offline else f"{c.num_envs} envs"
  loop.say(
    f"goalax | {plan.label} on {c.env} ({plan.env.backend}) | {len(plan.seeds)} "
    f"seed(s) {plan.seeds} | {data} | episode {plan.derived.episode_length} | "
    f"run dir {loop.run_dir or '-'}{moved}"
  )
  loop.say(f"  {plan.schedule.describe()}")
  if plan.budget_note:
    print(f"goalax: warning: {plan.budget_note}", file=sys.stderr)
  return loop.run()
