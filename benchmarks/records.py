"""What every benchmark record carries, and how records are kept: one JSON object per line."""

from __future__ import annotations

import json
import os
import platform


def machine_info() -> dict:
  """The machine and the versions a figure was measured with."""
  import brax
  import jax
  import mujoco

  return dict(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
              device=str(jax.devices()[0]), jax=jax.__version__, brax=brax.__version__,
              mujoco=mujoco.__version__, python=platform.python_version())


def append_record(path: str | None, record: dict) -> None:
  """Appends ``record`` as one JSON line to ``path`` (nothing when ``path`` is None).

  Records carry :func:`machine_info`, added where the measurement ran (train_throughput's parent
  process never imports JAX, so that on a GPU the cells it spawns get the whole device).
  """
  if path:
    with open(path, "a") as f:
      f.write(json.dumps(record) + "\n")
