"""A run's compiled programs: :func:`compile_programs` lowers and compiles the programs the host
loop calls (``init``, ``prefill`` where the loop has one, ``epoch``, ``evaluate``) from a
:class:`~goalax.run.plan.RunPlan`'s shapes, each over the member axis and placed on its devices,
with the compile options (``--fast_compile``), and keeps them per process by
:func:`program_key`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax

from goalax.config import TrainConfig, program_fields
from goalax.parallel import devices, sweep

if TYPE_CHECKING:
  from goalax.run.plan import RunPlan


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


#: A prefill of at most this many env steps (all seeds) compiles with ``FAST_COMPILE_OPTIONS``
#: on CPU: its compile then saves more than its slower run costs (measured on this repo's 2-core
#: CPU: the cheapest compile is 3-5x quicker, 5 s saved for reacher's prefill, 7-11 s for ant's,
#: and it runs about 11 µs per env step slower for reacher, 145-290 µs for ant;
#: benchmarks/results/compile_by_part.md).
FAST_PREFILL_ENV_STEPS = 20_000


def run_once_options(config: TrainConfig, env_steps: int) -> dict | None:
  """XLA options for a program that runs once and takes ``env_steps`` env steps:
  ``FAST_COMPILE_OPTIONS`` on CPU for ``init`` (0: a reset and the networks' init, a moment's
  work) and for a prefill of at most :data:`FAST_PREFILL_ENV_STEPS`; the run's own otherwise."""
  return compiler_options(config.fast_compile or env_steps <= FAST_PREFILL_ENV_STEPS)


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


def compile_programs(plan: RunPlan, fresh: bool = True) -> Programs:
  """Compiles the plan's training epoch, evaluation and, for a ``fresh`` run (not a resumed
  one), init and the prefill, from shapes alone; or returns those compiled earlier in this process
  for a config that differs from this one only in its seed, names and outputs
  (:func:`program_key`). A second caller with the same key waits for the first's compile."""
  key = program_key(plan.config)
  if plan.trainer.data is not None:  # a dataset file rewritten in place has new shapes
    key += repr(jax.tree.map(lambda x: (x.shape, x.dtype.name), plan.trainer.data))
  with _compiling_lock(key):
    with _STORE_LOCK:
      cached = _COMPILED.get(key)
    if cached is None or (fresh and cached.init is None):
      cached = _compile(plan, fresh)
    with _STORE_LOCK:  # other keys' compiles may be storing theirs meanwhile
      _COMPILED[key] = cached
      _COMPILED.move_to_end(key)
      while len(_COMPILED) > KEEP_COMPILED:
        _COMPILED.popitem(last=False)
  return cached if fresh else dataclasses.replace(cached, init=None, prefill=None)


def _compile(plan: RunPlan, fresh: bool) -> Programs:
  """Tracing is Python and runs one program after the other, the epoch (the largest) first;
  each program's XLA compile starts in its own thread as soon as it is lowered (XLA releases the
  GIL while it compiles), so compiles overlap each other and the tracing of the next programs."""
  trainer, state, where = plan.trainer, plan.abstract_state, plan.placement
  seed_axis = lambda tree: devices.seed_axis_shardings(tree, where)  # keys, params, metrics
  state_sh = plan.state_shardings

  run_options = compiler_options(plan.config.fast_compile)

  def lower(fn, args, in_shardings, out_shardings, donate=False, shared=0, options=run_options):
    """``fn`` over the seed axis (but its last ``shared`` arguments), placed, lowered for
    ``args`` with XLA ``options`` (the run's own by default); the compiled program puts its
    inputs where it expects them when it is called."""
    kwargs = dict(donate_argnums=0) if donate else {}
    if where.mode != "one":
      kwargs.update(in_shardings=in_shardings, out_shardings=out_shardings)
    placed = devices.over_devices(fn, len(plan.seeds), where, shared)
    return jax.jit(placed, compiler_options=options, **kwargs).lower(*args), in_shardings

  policy, keys = plan.abstract_policy, plan.eval_keys(0)
  data = trainer.data_args  # offline: the dataset, shared by every seed (not donated)
  train_out = eval_out = None
  if where.mode != "one":  # the metrics' shapes, for their shardings
    run_epoch = devices.over_devices(trainer.run_epoch, len(plan.seeds), where, len(data))
    train_out = seed_axis(jax.eval_shape(run_epoch, state, *data)[1])
    evaluate = devices.over_devices(plan.evaluate, len(plan.seeds), where)
    eval_out = seed_axis(jax.eval_shape(evaluate, policy, keys))
  data_sh = tuple(devices.shared_shardings(d, where) for d in data)
  compiles = _Compiles()
  epoch_in = (state_sh, *data_sh)
  compiles.start(
    "epoch",
    lower(trainer.run_epoch, (state, *data), epoch_in, (state_sh, train_out), True, len(data)),
  )
  compiles.start(
    "evaluate",
    lower(plan.evaluate, (policy, keys), (seed_axis(policy), seed_axis(keys)), eval_out),
  )
  if fresh:
    if trainer.prefill is not None:
      prefill_steps = plan.schedule.prefill_env_steps * len(plan.seeds)
      prefill_options = run_once_options(plan.config, prefill_steps)
      prefill = lower(trainer.prefill, (state,), (state_sh,), state_sh, True, 0, prefill_options)
      compiles.start("prefill", prefill)
    init = trainer.init
    if len(plan.init_args) > 1:  # a sweep: every member starts with its own values
      init = lambda key, values: sweep.with_member_values(trainer.init(key), values)
    init_options = run_once_options(plan.config, 0)
    compiles.start(
      "init", lower(init, plan.init_args, seed_axis(plan.init_args), state_sh, options=init_options)
    )
  compiled = compiles.wait()
  temp = max(_temp_bytes(p) for p in compiled.values())
  return Programs(
    compiled.get("init"), compiled.get("prefill"), compiled["epoch"], compiled["evaluate"], temp
  )


class _Compiles:
  """XLA compiles of lowered programs, each in its own thread; ``wait`` returns them placed
  (:class:`_placed`) by name, or raises the first error in the caller's thread."""

  def __init__(self):
    self.compiled: dict[str, _placed] = {}
    self.errors: list[BaseException] = []
    self.threads: list[threading.Thread] = []

  def start(self, name: str, lowered: tuple) -> None:
    program, inputs = lowered

    def compile_one():
      try:
        self.compiled[name] = _placed(program.compile(), inputs)
      except BaseException as e:  # re-raised by wait, in the caller's thread
        self.errors.append(e)

    # daemon threads, like the caller's: a stop signal during compilation must not wait for them
    thread = threading.Thread(target=compile_one, name=f"goalax-compile-{name}", daemon=True)
    thread.start()
    self.threads.append(thread)

  def wait(self) -> dict[str, _placed]:
    for thread in self.threads:
      thread.join()
    if self.errors:
      raise self.errors[0]
    return self.compiled


#: How many runs' programs this process keeps (executables only, a few MB each).
KEEP_COMPILED = 8
_COMPILED: collections.OrderedDict[str, Programs] = collections.OrderedDict()
_LOCKS: dict[str, threading.Lock] = {}
_STORE_LOCK = threading.Lock()  # guards _LOCKS and _COMPILED


def program_key(config: TrainConfig) -> str:
  """What a run's compiled programs depend on: the fields of its config whose role says so
  (:func:`goalax.config.program_fields`; not the seed, names, outputs), its agent's whole
  config among them."""
  kept = {name: getattr(config, name) for name in program_fields(type(config))}
  kept["agent"] = dataclasses.asdict(config.agent)
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
