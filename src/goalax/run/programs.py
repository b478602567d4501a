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
  """Tracing is Python and runs one program after the other; XLA compiles the epoch (the
  largest) in this thread while a second thread compiles the others (XLA releases the GIL
  while it compiles)."""
  trainer, state, where = plan.trainer, plan.abstract_state, plan.placement
  seed_axis = lambda tree: devices.seed_axis_shardings(tree, where)  # keys, params, metrics
  state_sh = plan.state_shardings

  def lower(fn, args: tuple, in_shardings, out_shardings, donate: bool = False, shared: int = 0):
    """``fn`` over the seed axis (but its last ``shared`` arguments), placed, lowered for
    ``args``; the compiled program puts its inputs where it expects them when it is called."""
    kwargs = dict(donate_argnums=0) if donate else {}
    if where.mode != "one":
      kwargs.update(in_shardings=in_shardings, out_shardings=out_shardings)
    placed = devices.over_devices(fn, len(plan.seeds), where, shared)
    return jit_for(plan.config)(placed, **kwargs).lower(*args), in_shardings

  policy, keys = plan.abstract_policy, plan.eval_keys(0)
  data = trainer.data_args  # offline: the dataset, shared by every seed (not donated)
  train_out = eval_out = None
  if where.mode != "one":  # the metrics' shapes, for their shardings
    run_epoch = devices.over_devices(trainer.run_epoch, len(plan.seeds), where, len(data))
    train_out = seed_axis(jax.eval_shape(run_epoch, state, *data)[1])
    evaluate = devices.over_devices(plan.evaluate, len(plan.seeds), where)
    eval_out = seed_axis(jax.eval_shape(evaluate, policy, keys))
  data_sh = tuple(devices.shared_shardings(d, where) for d in data)
  epoch_in = (state_sh, *data_sh)
  epoch = lower(trainer.run_epoch, (state, *data), epoch_in, (state_sh, train_out), True, len(data))
  others = {
    "evaluate": lower(plan.evaluate, (policy, keys), (seed_axis(policy), seed_axis(keys)), eval_out)
  }
  if fresh:
    if trainer.prefill is not None:
      others["prefill"] = lower(trainer.prefill, (state,), (state_sh,), state_sh, True)
    init = trainer.init
    if len(plan.init_args) > 1:  # a sweep: every member starts with its own values
      init = lambda key, values: sweep.with_member_values(trainer.init(key), values)
    others["init"] = lower(init, plan.init_args, seed_axis(plan.init_args), state_sh)
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
