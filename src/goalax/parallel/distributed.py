"""Many hosts: JAX's multi-controller runtime started from flags or the usual environment, and
the few things processes must agree on (the run directory, a stop, values to write).

Every process runs the same program on its own devices; the devices of all processes form one
mesh (:mod:`goalax.parallel.devices`), so ``--devices 0`` with ``--num_seeds`` = the number of devices
trains one seed per device across hosts. Only process 0 writes metrics, curves, videos and
``params.msgpack``; every process writes its own part of a checkpoint (orbax's multi-host save).

Started when ``--coordinator_address`` / ``--num_processes`` / ``--process_id`` are given, or
their environment variables ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` /
``JAX_PROCESS_ID``, or inside a SLURM job with more than one task (JAX reads SLURM's variables
itself). On CPU, processes talk through gloo collectives.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from goalax.errors import ConfigError

ENV = {
  "coordinator_address": "JAX_COORDINATOR_ADDRESS",
  "num_processes": "JAX_NUM_PROCESSES",
  "process_id": "JAX_PROCESS_ID",
}
_started = False


def _setting(config, name: str):
  value = getattr(config, name)
  if value is None and os.environ.get(ENV[name]):
    raw = os.environ[ENV[name]]
    try:
      value = raw if name == "coordinator_address" else int(raw)
    except ValueError:
      raise ConfigError(f"{ENV[name]}={raw!r} must be an integer (or unset).") from None
  return value


def initialize(config) -> bool:
  """Starts JAX's distributed runtime when the flags, the environment or SLURM ask for several
  processes (before anything else touches JAX's devices); returns whether it did."""
  global _started
  if _started:
    return True
  address, count, index = (_setting(config, name) for name in ENV)
  slurm = int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in os.environ
  if address is None and count is None and index is None and not slurm:
    return False
  if count is not None and count < 1:
    raise ConfigError(f"--num_processes must be positive, got {count}.")
  if count is not None and index is not None and not 0 <= index < count:
    raise ConfigError(f"--process_id must be in [0, {count}) for --num_processes {count}.")
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU: cross-process sums
  jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index)
  _started = True
  return True


def is_main() -> bool:
  """Whether this is the process that writes the run's files (process 0)."""
  return jax.process_index() == 0


def many() -> bool:
  return jax.process_count() > 1


def fetch(tree: Any) -> Any:
  """Host (numpy) values of arrays that may be spread over processes; every process must call
  it (it is a collective when there are several)."""
  if not many():
    return jax.device_get(tree)
  from jax.experimental import multihost_utils

  gather = lambda x: multihost_utils.process_allgather(x, tiled=True)
  return jax.tree.map(lambda x: np.asarray(gather(x)) if isinstance(x, jax.Array) else x, tree)


def agree(flag: bool) -> bool:
  """True on every process when ``flag`` is true on any (e.g. a stop signal that reached only
  some of them)."""
  if not many():
    return flag
  from jax.experimental import multihost_utils

  return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))


def broadcast_text(text: str) -> str:
  """Process 0's ``text`` on every process."""
  if not many():
    return text
  from jax.experimental import multihost_utils

  data = np.zeros(4096, np.uint8)
  raw = text.encode()[:4096] if is_main() else b""
  data[: len(raw)] = np.frombuffer(raw, np.uint8)
  out = np.asarray(multihost_utils.broadcast_one_to_all(data))
  return bytes(out[out > 0].astype(np.uint8)).decode()


def barrier(name: str) -> None:
  """Waits until every process reaches the barrier called ``name``."""
  if many():
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)
