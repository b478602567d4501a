"""Placing a run on devices: one device, seeds split over devices, or one seed's data split over
devices, on ``jax.sharding`` (a ``Mesh`` with a named axis; ``shard_map`` or ``jit`` with
shardings; no ``pmap``).

``--devices N`` (0: every device JAX sees) picks the placement from the run's seeds:

- **seeds** (``--num_seeds K`` > 1): the state's seed axis is split over a mesh axis ``seeds``,
  K/N seeds per device, each device running the one-device program on its own seeds
  (``shard_map``). Nothing crosses devices, so seed k ends exactly as the run of seed k alone.
- **data** (one seed): the seed's envs and its replay buffer's env columns are split over a mesh
  axis ``data``, and so is every gradient batch; the parameters are replicated. The program is
  the one-device program with these shardings (``jit`` partitions it): each device steps its
  envs, computes the gradient of its part of every batch, and XLA's all-reduce sums the
  gradients across devices (docs/scale_out.md says what crosses devices), so the results are
  those of one device up to the order of float sums.

Shapes that do not divide get one sentence naming the values that work.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Literal

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from goalax.errors import ConfigError
from goalax.parallel.seed_axis import over_seeds

SEEDS, DATA = "seeds", "data"


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where a run's programs run: ``mode`` one of ``one``, ``seeds``, ``data``."""

  mode: Literal["one", "seeds", "data"]
  mesh: Mesh | None = None

  @property
  def num_devices(self) -> int:
    return 1 if self.mesh is None else self.mesh.size

  def describe(self) -> str:
    if self.mode == "one":
      return str(jax.devices()[0].platform)
    what = "seeds split" if self.mode == "seeds" else "one seed's envs and batches split"
    return f"{what} over {self.num_devices} {self.mesh.devices.flat[0].platform} devices"


def _multiples_near(value: int, divisor: int) -> str:
  low = max(divisor, value // divisor * divisor)
  return f"{low} or {low + divisor}" if low != value else str(value)


def _require_multiple(flag: str, value: int, count: int, what: str) -> None:
  if value % count:
    raise ConfigError(
      f"{flag} {value} does not split over {count} devices ({what}); use a multiple of "
      f"{count}, e.g. {flag} {_multiples_near(value, count)}, or --devices that divides it."
    )


def placement(config, members: int) -> Placement:
  """The placement of a run of ``config`` (``config.devices``) with ``members`` members (seeds,
  times swept values), or ConfigError naming the values that divide."""
  available = jax.devices()
  count = config.devices or len(available)
  if jax.process_count() > 1:  # one mesh over every device of every process
    if config.devices not in (0, 1, len(available)):
      raise ConfigError(
        f"--devices {config.devices}: with {jax.process_count()} processes a run uses every "
        f"device of every process ({len(available)}); leave --devices out or give 0."
      )
    count = len(available)
  if count < 0 or count > len(available):
    raise ConfigError(
      f"--devices {config.devices}: JAX sees {len(available)} device(s) "
      f"({available[0].platform}); use 1 to {len(available)}, or 0 for all of them."
    )
  if count == 1:
    return Placement("one")
  devices = np.array(available[:count])
  if members > 1:
    if members == config.num_seeds:
      _require_multiple("--num_seeds", config.num_seeds, count, "seeds split over devices")
    elif members % count:
      raise ConfigError(
        f"the sweep's {members} members (--num_seeds {config.num_seeds} × the swept values) do "
        f"not split over {count} devices; use --devices that divides {members}."
      )
    return Placement("seeds", Mesh(devices, (SEEDS,)))
  _require_multiple("--num_envs", config.num_envs, count, "each device steps its own envs")
  _require_multiple("--num_eval_envs", config.num_eval_envs, count, "evaluation envs")
  batch = getattr(config.agent, "batch_size", None)
  if batch is not None:
    _require_multiple("--batch_size", batch, count, "each device samples part of a batch")
  return Placement("data", Mesh(devices, (DATA,)))


def over_devices(fn: Callable, num_seeds: int, where: Placement, shared: int = 0) -> Callable:
  """``fn`` (a function of one seed) over the seed axis of every argument and result, placed:
  :func:`goalax.parallel.seed_axis.over_seeds` on one device or for data parallelism, and per device on
  its own seeds (``shard_map``) when seeds are split. The last ``shared`` arguments have no seed
  axis (an offline run's dataset): every seed reads them, and every device holds them whole."""
  if where.mode != "seeds":
    return over_seeds(fn, num_seeds, shared)
  local = over_seeds(fn, num_seeds // where.num_devices, shared)
  # check_vma=False: every value is per device (nothing is replicated across seeds), and the
  # programs' conds mix per-seed and constant branches that the check would have to be told of
  if not shared:
    return jax.shard_map(
      local, mesh=where.mesh, in_specs=P(SEEDS), out_specs=P(SEEDS), check_vma=False
    )

  def placed(*args):
    specs = (P(SEEDS),) * (len(args) - shared) + (P(),) * shared
    mapped = jax.shard_map(
      local, mesh=where.mesh, in_specs=specs, out_specs=P(SEEDS), check_vma=False
    )
    return mapped(*args)

  return placed


def _data_spec(path, leaf) -> P:
  """The data-parallel spec of a leaf of a state batched over one seed: env states are split on
  their env axis, a replay buffer's data on its env column axis, everything else replicated."""
  names = [getattr(k, "name", getattr(k, "key", None)) for k in path]
  if "env_state" in names:
    return P(None, DATA)  # [seed, num_envs, ...]
  if "buffer" in names and "data" in names:
    return P(None, None, DATA)  # [seed, capacity, num_envs, ...]
  return P()


def state_shardings(abstract_state: Any, where: Placement) -> Any:
  """Shardings of every leaf of a state batched over seeds, or None on one device."""
  if where.mode == "one":
    return None
  if where.mode == "seeds":
    return jax.tree.map(lambda _: NamedSharding(where.mesh, P(SEEDS)), abstract_state)
  return jax.tree_util.tree_map_with_path(
    lambda path, leaf: NamedSharding(where.mesh, _data_spec(path, leaf)), abstract_state
  )


def shared_shardings(tree: Any, where: Placement) -> Any:
  """Shardings of arguments without a seed axis that every seed reads (an offline run's
  dataset): whole on every device, or None on one device."""
  if where.mode == "one":
    return None
  return jax.tree.map(lambda _: NamedSharding(where.mesh, P()), tree)


def seed_axis_shardings(tree: Any, where: Placement) -> Any:
  """Shardings of arguments batched over seeds that hold no env data (keys, policy parameters):
  split over seeds, replicated for data parallelism, None on one device."""
  if where.mode == "one":
    return None
  spec = P(SEEDS) if where.mode == "seeds" else P()
  return jax.tree.map(lambda _: NamedSharding(where.mesh, spec), tree)


def split_batch(where: Placement) -> Callable[[Any], Any]:
  """``batch -> batch`` with the leading (batch) axis of every leaf split over the data axis
  when data parallel: each device samples and learns from its part. Identity otherwise."""
  if where.mode != "data":
    return lambda batch: batch
  sharding = NamedSharding(where.mesh, P(DATA))
  return functools.partial(jax.lax.with_sharding_constraint, shardings=sharding)


def put(tree: Any, shardings: Any) -> Any:
  """``tree`` on the devices its shardings name (the default device when None). With several
  processes, arrays of this process alone go through the host: every process holds the same
  values, and each places its own part."""
  if shardings is None:
    return jax.device_put(tree)
  if jax.process_count() > 1:
    local = lambda x: isinstance(x, jax.Array) and x.is_fully_addressable
    host = lambda x, s: np.asarray(x) if local(x) and x.sharding != s else x
    tree = jax.tree.map(host, tree, shardings)
  return jax.device_put(tree, shardings)
