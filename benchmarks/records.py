"""What every benchmark record carries, and how records are kept: one JSON object per line."""

from __future__ import annotations

import datetime
import json
import os
import platform
import time

#: The README's training command after ``goalax train``: what the benchmarks of a first run time.
README_COMMAND = (
  "crl --env reacher --num_envs 64 --num_timesteps 200000 --num_evals 5 --min_replay_size 100 "
  "--max_replay_size 2000 --unroll_length 50 --h_dim 128 --repr_dim 32 --num_eval_envs 64"
)


def cpu_model() -> str:
  """The CPU's model name (``/proc/cpuinfo`` on Linux), e.g. ``AMD EPYC``; else ``platform``'s."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine_info() -> dict:
  """The machine and the versions a figure was measured with."""
  from importlib.metadata import PackageNotFoundError, version

  import jax

  def installed(package):
    try:
      return version(package)
    except PackageNotFoundError:
      return None

  return dict(
    date=datetime.date.today().isoformat(),
    machine=platform.machine(),
    cpu=cpu_model(),
    cpus=os.cpu_count(),
    device=str(jax.devices()[0]),
    jax=jax.__version__,
    jaxlib=installed("jaxlib"),
    brax=installed("brax"),
    mujoco=installed("mujoco"),
    mujoco_mjx=installed("mujoco-mjx"),
    python=platform.python_version(),
  )


def append_record(path: str | None, record: dict) -> None:
  """Appends ``record`` as one JSON line to ``path`` (nothing when ``path`` is None).

  Records carry :func:`machine_info`, added where the measurement ran (train_throughput's parent
  process never imports JAX, so that on a GPU the cells it spawns get the whole device).
  """
  if path:
    with open(path, "a") as f:
      f.write(json.dumps(record) + "\n")


def report(path: str | None, record: dict, **extra) -> dict:
  """``record`` with ``extra``, :func:`machine_info` and the time of day: printed as one JSON line
  and appended to ``path`` (when given). Returns it."""
  row = {**record, **extra, **machine_info(), "time": time.strftime("%H:%M:%S")}
  print(json.dumps(row), flush=True)
  append_record(path, row)
  return row
