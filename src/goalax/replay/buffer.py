"""On-device trajectory ring buffer: insertion, uniform slots, and same-trajectory lookups.

Layout
------
``num_envs`` parallel environment slots each produce one transition per step.
The buffer stores ``capacity`` time rows for every slot, so every leaf of
``ReplayBuffer.data`` has shape ``[capacity, num_envs, ...]``.  A training step
inserts a time-major block with leaves shaped ``[T, num_envs, ...]`` into rows
``(insert_index + arange(T)) % capacity``; when the ring is full the oldest rows
are overwritten.

Every transition must carry an int32 ``traj_id`` (per slot, incremented at each
episode reset).  A trajectory is identified by ``(env slot, traj_id)``; ids of
different slots may coincide and are never compared with each other.

Episode ends
------------
A buffer made with ``episode_ends=True`` also knows where each completed
trajectory ended, without scanning it: ``insert`` is then given which rows of the
block are the last of their episode (``ended``) and writes, for each, the
*absolute* row number (rows inserted per slot before it, a running count) into a
``[capacity, num_envs]`` table at ``(traj_id % capacity, env)``.  At most
``capacity`` trajectories of a slot have rows stored at once and their ids are
consecutive, so stored trajectories never share a table entry; an entry left by
an older trajectory ended before the looked-up row was written, so a lookup
knows it from a real end without a tag (:func:`rows_to_episode_end`).  Cost:
4 bytes per row and slot, one small scatter per insert, one gather per lookup.

Time order
----------
The valid rows are the ``size`` most recently written ones.  Their *age offset*
``t`` runs from ``0`` (oldest valid row, stored at
``(insert_index - size) % capacity``) to ``size - 1`` (newest row, stored at
``(insert_index - 1) % capacity``).

All functions are pure, jit-able and vmap-able (e.g. over independent seeds,
each with its own buffer).  For in-place updates jit ``insert`` with the buffer
donated (``jax.jit(insert, donate_argnums=0)``).

Goals and batches are built on these pieces by :mod:`goalax.replay.sampler`. Sampling
from an empty buffer is the caller's responsibility (guard with :func:`can_sample`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp

PyTree = Any

TRAJ_ID_KEY = "traj_id"


@flax.struct.dataclass
class ReplayBuffer:
  """Ring buffer of transitions for ``num_envs`` parallel env slots.

  Attributes:
    data: pytree of transitions; every leaf has shape ``[capacity, num_envs, ...]``.
      Contains an int32 ``traj_id`` leaf of shape ``[capacity, num_envs]``.
    insert_index: int32 scalar, row where the next inserted block starts.
    size: int32 scalar, number of valid rows (``<= capacity``).
    rows_written: int32 scalar, rows inserted per slot since the buffer was made (wraps
      around after 2**31; only differences of row numbers are used).
    episode_ends: ``[capacity, num_envs]`` int32 or None: at ``(traj_id % capacity, env)`` the
      absolute row (a value of ``rows_written`` before it was inserted) of the last row of the
      latest ended trajectory with that residue; ``-1`` before any. None when not kept.
    capacity: static, number of time rows.
    num_envs: static, number of env slots (columns).
  """

  data: PyTree
  insert_index: jax.Array
  size: jax.Array
  rows_written: jax.Array
  episode_ends: jax.Array | None
  capacity: int = flax.struct.field(pytree_node=False)
  num_envs: int = flax.struct.field(pytree_node=False)


# ---------------------------------------------------------------------------
# Construction and insertion
# ---------------------------------------------------------------------------


def _traj_ids(tree: PyTree) -> jax.Array:
  """The ``traj_id`` leaf of a transition pytree (mapping key or attribute)."""
  if isinstance(tree, Mapping):
    if TRAJ_ID_KEY not in tree:
      raise ValueError(f"transitions must contain a {TRAJ_ID_KEY!r} key; got keys {list(tree)}")
    return tree[TRAJ_ID_KEY]
  if not hasattr(tree, TRAJ_ID_KEY):
    raise ValueError(f"transitions must contain a {TRAJ_ID_KEY!r} field; got {type(tree).__name__}")
  return getattr(tree, TRAJ_ID_KEY)


def init_buffer(
  example_transition: PyTree, capacity: int, num_envs: int, episode_ends: bool = False
) -> ReplayBuffer:
  """Creates an empty buffer.

  Args:
    example_transition: pytree for one time step, every leaf shaped
      ``[num_envs, ...]``; must contain an integer ``traj_id`` leaf of shape
      ``[num_envs]``.  Only shapes and dtypes are used.
    capacity: number of time rows kept per env slot.
    num_envs: number of parallel env slots.
    episode_ends: whether to keep the table of episode ends (see the module
      docstring); ``insert`` then needs ``ended``.

  Returns:
    A buffer with zero-filled ``data`` (leaves ``[capacity, num_envs, ...]``),
    ``insert_index == 0``, ``size == 0`` and ``rows_written == 0``.
  """
  if capacity < 1:
    raise ValueError(f"capacity must be >= 1, got {capacity}")
  traj_ids = _traj_ids(example_transition)
  if jnp.shape(traj_ids) != (num_envs,):
    raise ValueError(f"traj_id must have shape [num_envs]=({num_envs},), got {jnp.shape(traj_ids)}")
  if not jnp.issubdtype(jnp.result_type(traj_ids), jnp.integer):
    raise ValueError(f"traj_id must be an integer array, got dtype {jnp.result_type(traj_ids)}")

  def empty_leaf(leaf):
    shape = jnp.shape(leaf)
    if shape[:1] != (num_envs,):
      raise ValueError(
        f"every leaf of example_transition must be shaped [num_envs={num_envs}, ...], got {shape}"
      )
    return jnp.zeros((capacity, *shape), jnp.result_type(leaf))

  return ReplayBuffer(
    data=jax.tree.map(empty_leaf, example_transition),
    insert_index=jnp.zeros((), jnp.int32),
    size=jnp.zeros((), jnp.int32),
    rows_written=jnp.zeros((), jnp.int32),
    episode_ends=jnp.full((capacity, num_envs), -1, jnp.int32) if episode_ends else None,
    capacity=capacity,
    num_envs=num_envs,
  )


def _block_length(buffer: ReplayBuffer, block: PyTree) -> int:
  """Static number of time steps ``T`` of a ``[T, num_envs, ...]`` block, validated."""
  shapes = [jnp.shape(leaf) for leaf in jax.tree.leaves(block)]
  if not shapes:
    raise ValueError("block has no leaves")
  lengths = {shape[0] if shape else None for shape in shapes}
  if len(lengths) != 1 or None in lengths:
    raise ValueError(f"all block leaves must share a leading time axis T; got shapes {shapes}")
  if any(shape[1:2] != (buffer.num_envs,) for shape in shapes):
    raise ValueError(
      f"block leaves must be shaped [T, num_envs={buffer.num_envs}, ...]; got shapes {shapes}"
    )
  (length,) = lengths
  if length > buffer.capacity:
    raise ValueError(
      f"cannot insert a block of T={length} time steps into a buffer of capacity {buffer.capacity}: "
      "T must be <= capacity (increase capacity or insert smaller blocks)"
    )
  return length


def insert(buffer: ReplayBuffer, block: PyTree, ended: jax.Array | None = None) -> ReplayBuffer:
  """Writes a time-major block at ``insert_index``, overwriting the oldest rows when full.

  Cost is O(T): only rows ``(insert_index + arange(T)) % capacity`` are written
  (one scatter per leaf, and one into the episode-end table); the rest of the
  buffer is not moved.

  Args:
    buffer: the buffer.
    block: pytree with the same structure as the stored transitions, every
      leaf shaped ``[T, num_envs, ...]`` with ``T <= capacity`` (static).
    ended: ``[T, num_envs]`` bool, whether each row is the last of its episode
      (the step ended it, by termination or time limit); required exactly when
      the buffer keeps episode ends.

  Returns:
    The updated buffer; ``insert_index`` advances by ``T`` (mod capacity),
    ``size`` becomes ``min(size + T, capacity)`` and ``rows_written`` grows by ``T``.

  Raises:
    ValueError: at trace time, if ``T > capacity``, shapes do not match, or
      ``ended`` is missing (or given) when the buffer keeps (or does not keep)
      episode ends.
  """
  length = _block_length(buffer, block)
  keeps_ends = buffer.episode_ends is not None
  if (ended is not None) != keeps_ends:
    raise ValueError(
      "insert needs `ended` exactly when the buffer keeps episode ends (init_buffer(..., "
      f"episode_ends=True)); this buffer {'keeps' if keeps_ends else 'does not keep'} them"
    )
  rows = (buffer.insert_index + jnp.arange(length, dtype=jnp.int32)) % buffer.capacity

  def write(stored, new):
    # rows are distinct (T <= capacity) and in [0, capacity) by construction.
    return stored.at[rows].set(
      new.astype(stored.dtype), unique_indices=True, mode="promise_in_bounds"
    )

  episode_ends = buffer.episode_ends
  if episode_ends is not None:
    episode_ends = _record_episode_ends(buffer, _traj_ids(block), ended)
  return buffer.replace(
    data=jax.tree.map(write, buffer.data, block),
    insert_index=(buffer.insert_index + length) % buffer.capacity,
    size=jnp.minimum(buffer.size + length, buffer.capacity),
    rows_written=buffer.rows_written + length,
    episode_ends=episode_ends,
  )


def _record_episode_ends(buffer: ReplayBuffer, traj_ids: jax.Array, ended: jax.Array) -> jax.Array:
  """The episode-end table after a block whose rows ``ended`` [T, num_envs] close episodes.

  The ended trajectories of one slot in one block are at most ``T <= capacity`` consecutive
  ids, so their entries are distinct; rows that end nothing are dropped (out-of-range index).
  """
  length, num_envs = jnp.shape(ended)
  if jnp.shape(traj_ids) != (length, num_envs):
    raise ValueError(f"ended must be shaped like the block's traj_id {jnp.shape(traj_ids)}")
  absolute_rows = buffer.rows_written + jnp.arange(length, dtype=jnp.int32)[:, None]
  entries = jnp.where(ended, traj_ids % buffer.capacity, buffer.capacity)
  envs = jnp.broadcast_to(jnp.arange(num_envs, dtype=jnp.int32), (length, num_envs))
  return buffer.episode_ends.at[entries, envs].set(
    jnp.broadcast_to(absolute_rows, (length, num_envs)), mode="drop"
  )


def can_sample(buffer: ReplayBuffer, min_size: int = 1) -> jax.Array:
  """Boolean scalar: whether the buffer holds at least ``min_size`` valid rows."""
  return buffer.size >= min_size


# ---------------------------------------------------------------------------
# Indexing helpers
# ---------------------------------------------------------------------------


def storage_rows(buffer: ReplayBuffer, age_offsets: jax.Array) -> jax.Array:
  """Storage row of the valid rows with the given age offsets (0 = oldest valid row)."""
  oldest_row = buffer.insert_index - buffer.size
  return (oldest_row + age_offsets) % buffer.capacity


def gather(data: PyTree, rows: jax.Array, envs: jax.Array) -> PyTree:
  """Transitions at ``(rows[i], envs[i])``; leaves shaped ``[*rows.shape, ...]``."""
  return jax.tree.map(lambda leaf: leaf[rows, envs], data)


def sample_slots(
  buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]
) -> tuple[jax.Array, jax.Array]:
  """Uniform ``(age_offset, env)`` pairs over the valid rows and env slots; each ``shape`` int32."""
  offset_key, env_key = jax.random.split(key)
  age_offsets = jax.random.randint(offset_key, shape, 0, buffer.size, dtype=jnp.int32)
  envs = jax.random.randint(env_key, shape, 0, buffer.num_envs, dtype=jnp.int32)
  return age_offsets, envs


def is_stored_in_trajectory(
  buffer: ReplayBuffer, age_offsets: jax.Array, envs: jax.Array, steps_ahead: jax.Array
) -> jax.Array:
  """Whether the row ``steps_ahead >= 0`` rows after each given one is stored (not past the
  newest row) and belongs to the same trajectory. One gather of ``traj_id`` per element.

  Args:
    buffer: the buffer.
    age_offsets: ``[...]`` int, age offsets of valid rows (0 = oldest).
    envs: ``[...]`` int, env columns.
    steps_ahead: ``[...]`` int, how many rows later.

  Returns:
    ``[...]`` bool.
  """
  traj_ids = _traj_ids(buffer.data)
  rows = storage_rows(buffer, age_offsets)
  ahead_rows = (rows + steps_ahead) % buffer.capacity
  stored = (steps_ahead >= 0) & (steps_ahead <= buffer.size - 1 - age_offsets)
  return stored & (traj_ids[ahead_rows, envs] == traj_ids[rows, envs])


def rows_to_episode_end(buffer: ReplayBuffer, age_offsets: jax.Array, envs: jax.Array) -> jax.Array:
  """Rows from each given row to the last row of its episode (0 for the last row itself), or
  ``-1`` where the episode is still running. Needs a buffer that keeps episode ends; one
  gather of ``traj_id`` and one of the table per element.

  The table entry of the row's trajectory holds either that trajectory's end (at or after the
  row) or an older trajectory's (before the row: it ended before this one began), so the sign
  of the difference tells them apart; the difference is taken in wrapping int32, so it stays
  right past 2**31 rows written as long as no entry is 2**31 rows old.

  Args:
    buffer: a buffer made with ``episode_ends=True``.
    age_offsets: ``[...]`` int, age offsets of valid rows (0 = oldest).
    envs: ``[...]`` int, env columns.

  Returns:
    ``[...]`` int32 in ``[-1, capacity)``.
  """
  if buffer.episode_ends is None:
    raise ValueError(
      "rows_to_episode_end needs a buffer made with init_buffer(..., episode_ends=True)"
    )
  traj_ids = _traj_ids(buffer.data)[storage_rows(buffer, age_offsets), envs]
  absolute_rows = buffer.rows_written - buffer.size + age_offsets
  to_end = buffer.episode_ends[traj_ids % buffer.capacity, envs] - absolute_rows
  return jnp.where((to_end >= 0) & (to_end < buffer.capacity), to_end, -1).astype(jnp.int32)
