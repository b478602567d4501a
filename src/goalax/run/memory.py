"""The memory a training run needs, known before anything is allocated.

The training state's shapes come from ``jax.eval_shape`` of the trainer's ``init`` (vmapped over
seeds), so its bytes are exact: replay buffer, env states, agent (parameters, optimiser states,
targets). The evaluation envs' states come the same way from ``env.reset``; XLA's temporaries,
once the programs are compiled, from their memory analysis. An offline run's dataset is a part of
its own, counted once (every seed reads the same copy; each device holds it whole), and a
dataset that alone cannot fit is refused before it is read (:func:`check_dataset_fits`). A run
that cannot fit on its device stops with the estimate, the device's capacity and the flags to
lower.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np

from goalax.errors import ConfigError

# Which flags shrink each part, in the order to suggest them.
FLAGS_OF_PART = {
  "replay buffer": ("max_replay_size", "num_envs"),
  "env states": ("num_envs",),
  "evaluation envs": ("num_eval_envs",),
  "agent": ("h_dim", "n_hidden"),
  "XLA temporaries": ("batch_size", "num_envs", "unroll_length"),
  "dataset": ("dataset",),
}  # a flag the run's agent does not have (PPO has no --batch_size) is not suggested


def tree_bytes(tree) -> int:
  """Bytes of every array leaf of ``tree`` (arrays or ``jax.ShapeDtypeStruct``)."""
  return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def format_bytes(n: float) -> str:
  for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
    if abs(n) < 1024 or unit == "PiB":
      return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
    n /= 1024
  raise AssertionError("unreachable")


def device_capacity(device=None) -> tuple[int | None, str]:
  """``(bytes, description)`` of the memory the device can use: the accelerator's allocator
  limit, or the machine's physical memory for the CPU; ``(None, ...)`` when unknown."""
  device = device or jax.local_devices()[0]
  try:
    stats = device.memory_stats()
  except Exception:  # some backends do not implement it
    stats = None
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"]), f"the {device.platform.upper()} ({device.device_kind})"
  if device.platform == "cpu":
    try:
      return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory (CPU)"
    except (ValueError, OSError, AttributeError):
      pass
  return None, f"the {device.platform.upper()}"


@dataclasses.dataclass(frozen=True)
class MemoryEstimate:
  """Bytes of each part of a run's memory, summed over seeds."""

  parts: dict[str, int]
  num_seeds: int
  num_devices: int = 1  # the parts are per device when more than one

  @property
  def total(self) -> int:
    return sum(self.parts.values())

  def with_part(self, name: str, nbytes: int) -> MemoryEstimate:
    return MemoryEstimate({**self.parts, name: int(nbytes)}, self.num_seeds, self.num_devices)

  def breakdown(self) -> str:
    """``"replay buffer 1.2 GiB, env states 3.4 MiB, ...; 2 seeds"``, largest first (parts under
    1 KiB, such as keys and counters, are counted in the total but not named)."""
    named = sorted(((k, n) for k, n in self.parts.items() if n >= 1024), key=lambda p: -p[1])
    parts = ", ".join(f"{name} {format_bytes(n)}" for name, n in named)
    seeds = f"{self.num_seeds} seed{'s' if self.num_seeds > 1 else ''}"
    where = f", per device of {self.num_devices}" if self.num_devices > 1 else ""
    return f"{parts}; {seeds}{where}"

  def describe(self) -> str:
    return f"{format_bytes(self.total)} ({self.breakdown()})"


# Names of the training state's fields in the estimate; other fields go into "other state".
PART_OF_FIELD = {"buffer": "replay buffer", "env_state": "env states", "agent": "agent"}


def estimate_training_memory(
  abstract_state, abstract_eval_states, num_seeds: int, where=None, dataset_bytes: int = 0
):
  """The parts of a run's memory from abstract shapes: every field of the loop's state (a
  dataclass of ``ShapeDtypeStruct``: the replay buffer, env states and agent, whatever the loop
  holds), the evaluation envs' states and an offline run's dataset (``dataset_bytes``, once,
  whole on every device); per device when ``where`` (a
  :class:`goalax.parallel.devices.Placement`) splits the run over several."""
  split = 1 if where is None else where.num_devices
  per_env = ("replay buffer", "env states")  # split over devices in both placements
  parts: dict[str, int] = {}
  for field in dataclasses.fields(abstract_state):
    name = PART_OF_FIELD.get(field.name, "other state")
    parts[name] = parts.get(name, 0) + tree_bytes(getattr(abstract_state, field.name))
  parts["evaluation envs"] = tree_bytes(abstract_eval_states)
  if split > 1:
    seeds_split = where.mode == "seeds"
    parts = {k: n // split if (seeds_split or k in per_env) else n for k, n in parts.items()}
  if dataset_bytes:
    parts["dataset"] = int(dataset_bytes)
  return MemoryEstimate(parts, num_seeds, split)


def check_dataset_fits(
  nbytes: int, what: str, capacity: int | None, where: str, flag: str = "dataset"
) -> None:
  """Raises ConfigError when a dataset of ``nbytes`` on the device (``what``: its file and
  size, e.g. ``"x.npz (1,000,000 states)"``) alone exceeds the capacity: before it is read."""
  if capacity is None or nbytes <= capacity:
    return
  raise ConfigError(
    f"--{flag} {what} needs about {format_bytes(nbytes)} on the device, but {where} has "
    f"{format_bytes(capacity)}; train on a smaller dataset (fewer trajectories) or on a "
    "device with more memory."
  )


def check_fits(estimate: MemoryEstimate, config, capacity: int | None, where: str) -> None:
  """Raises ConfigError naming the estimate, the capacity and the flags to lower, when the
  estimate exceeds the capacity."""
  if capacity is None or estimate.total <= capacity:
    return
  flags = []
  for name, nbytes in sorted(estimate.parts.items(), key=lambda p: -p[1]):
    if nbytes >= 0.1 * estimate.total:
      flags += [f for f in FLAGS_OF_PART.get(name, ()) if f not in flags and _has(config, f)]
  if config.num_seeds > 1:
    flags.append("num_seeds")
  named = [f"--{f} ({_value(config, f):,})" for f in flags if f != "dataset"]
  named += [f"--{f} (a smaller one)" for f in flags if f == "dataset"]
  raise ConfigError(
    f"this run needs about {format_bytes(estimate.total)} of memory ({estimate.breakdown()}), "
    f"but {where} has "
    f"{format_bytes(capacity)}; lower {', '.join(named[:-1]) + ' or ' if len(named) > 1 else ''}"
    f"{named[-1]}."
  )


def _has(config, flag: str) -> bool:
  return hasattr(config, flag) or hasattr(config.agent, flag)


def _value(config, flag: str):
  return getattr(config, flag) if hasattr(config, flag) else getattr(config.agent, flag)
