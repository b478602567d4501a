"""On-device trajectory ring buffer with hindsight (future-state) goal sampling.

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

Time order
----------
The valid rows are the ``size`` most recently written ones.  Their *age offset*
``t`` runs from ``0`` (oldest valid row, stored at
``(insert_index - size) % capacity``) to ``size - 1`` (newest row, stored at
``(insert_index - 1) % capacity``).

All functions are pure, jit-able and vmap-able (e.g. over independent seeds,
each with its own buffer).  For in-place updates jit ``insert`` with the buffer
donated (``jax.jit(insert, donate_argnums=0)``).

Sampling from a buffer that holds too few rows is the caller's responsibility:
guard with :func:`can_sample` (``min_size=1`` for :func:`sample_with_future`,
``min_size=2`` for :func:`sample_transitions`).
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
    capacity: static, number of time rows.
    num_envs: static, number of env slots (columns).
  """

  data: PyTree
  insert_index: jax.Array
  size: jax.Array
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


def init_buffer(example_transition: PyTree, capacity: int, num_envs: int) -> ReplayBuffer:
  """Creates an empty buffer.

  Args:
    example_transition: pytree for one time step, every leaf shaped
      ``[num_envs, ...]``; must contain an integer ``traj_id`` leaf of shape
      ``[num_envs]``.  Only shapes and dtypes are used.
    capacity: number of time rows kept per env slot.
    num_envs: number of parallel env slots.

  Returns:
    A buffer with zero-filled ``data`` (leaves ``[capacity, num_envs, ...]``),
    ``insert_index == 0`` and ``size == 0``.
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


def insert(buffer: ReplayBuffer, block: PyTree) -> ReplayBuffer:
  """Writes a time-major block at ``insert_index``, overwriting the oldest rows when full.

  Cost is O(T): only rows ``(insert_index + arange(T)) % capacity`` are written
  (one scatter per leaf); the rest of the buffer is not moved.

  Args:
    buffer: the buffer.
    block: pytree with the same structure as the stored transitions, every
      leaf shaped ``[T, num_envs, ...]`` with ``T <= capacity`` (static).

  Returns:
    The updated buffer; ``insert_index`` advances by ``T`` (mod capacity) and
    ``size`` becomes ``min(size + T, capacity)``.

  Raises:
    ValueError: at trace time, if ``T > capacity`` or shapes do not match.
  """
  length = _block_length(buffer, block)
  rows = (buffer.insert_index + jnp.arange(length, dtype=jnp.int32)) % buffer.capacity

  def write(stored, new):
    # rows are distinct (T <= capacity) and in [0, capacity) by construction.
    return stored.at[rows].set(
      new.astype(stored.dtype), unique_indices=True, mode="promise_in_bounds"
    )

  return buffer.replace(
    data=jax.tree.map(write, buffer.data, block),
    insert_index=(buffer.insert_index + length) % buffer.capacity,
    size=jnp.minimum(buffer.size + length, buffer.capacity),
  )


def can_sample(buffer: ReplayBuffer, min_size: int = 1) -> jax.Array:
  """Boolean scalar: whether the buffer holds at least ``min_size`` valid rows."""
  return buffer.size >= min_size


# ---------------------------------------------------------------------------
# Indexing helpers
# ---------------------------------------------------------------------------


def _offset_to_row(buffer: ReplayBuffer, age_offset: jax.Array) -> jax.Array:
  """Storage row of the valid row with the given age offset (0 = oldest valid row)."""
  oldest_row = buffer.insert_index - buffer.size
  return (oldest_row + age_offset) % buffer.capacity


def _gather(data: PyTree, rows: jax.Array, envs: jax.Array) -> PyTree:
  """Transitions at ``(rows[i], envs[i])``; leaves shaped ``[batch, ...]``."""
  return jax.tree.map(lambda leaf: leaf[rows, envs], data)


def _sample_slots(buffer: ReplayBuffer, key: jax.Array, batch_size: int, num_rows: jax.Array):
  """Uniform ``(age_offset, env)`` pairs with ``age_offset in [0, num_rows)``; each ``[batch]`` int32."""
  offset_key, env_key = jax.random.split(key)
  age_offsets = jax.random.randint(offset_key, (batch_size,), 0, num_rows, dtype=jnp.int32)
  envs = jax.random.randint(env_key, (batch_size,), 0, buffer.num_envs, dtype=jnp.int32)
  return age_offsets, envs


def count_future_steps(
  buffer: ReplayBuffer, age_offsets: jax.Array, envs: jax.Array, max_horizon: int
) -> jax.Array:
  """Number ``L`` of stored future steps of the same trajectory, capped at ``max_horizon``.

  ``L`` counts the consecutive rows after the given one (same env column, never
  past the newest row) whose ``traj_id`` equals its own.  Cost is
  O(batch * min(max_horizon, capacity - 1)) time and memory.

  Args:
    buffer: the buffer.
    age_offsets: ``[batch]`` int, age offsets of valid rows (0 = oldest).
    envs: ``[batch]`` int, env columns.
    max_horizon: static cap on ``L``.

  Returns:
    ``[batch]`` int32 in ``[0, max_horizon]``.
  """
  horizon = min(max_horizon, buffer.capacity - 1)  # never more than capacity - 1 newer rows
  traj_ids = _traj_ids(buffer.data)
  rows = _offset_to_row(buffer, age_offsets)
  steps_ahead = jnp.arange(1, horizon + 1, dtype=jnp.int32)  # [H]
  future_rows = (rows[:, None] + steps_ahead) % buffer.capacity  # [B, H]
  future_ids = traj_ids[future_rows, envs[:, None]]  # [B, H]
  newer_rows_stored = buffer.size - 1 - age_offsets  # [B]
  same_trajectory = (future_ids == traj_ids[rows, envs][:, None]) & (
    steps_ahead <= newer_rows_stored[:, None]
  )
  # L = index of the first False; a sentinel False column makes L = H when all match.
  sentinel = jnp.zeros((rows.shape[0], 1), bool)
  return jnp.argmax(~jnp.concatenate([same_trajectory, sentinel], axis=1), axis=1).astype(jnp.int32)


def sample_truncated_geometric(
  key: jax.Array, num_steps: jax.Array, discount: float | jax.Array
) -> jax.Array:
  """Draws ``k in {1..L}`` with ``P(k) ∝ discount**(k-1)`` by inverse CDF; ``k = 0`` where ``L == 0``.

  ``k = 1 + floor(log(1 - u (1 - discount**L)) / log(discount))`` with
  ``u ~ U[0, 1)``, clipped to ``[1, L]``.  ``discount == 1`` gives the uniform
  law on ``{1..L}`` (handled separately, no division by ``log(1) = 0``);
  ``discount == 0`` always gives ``k = 1``.

  Args:
    key: PRNG key.
    num_steps: ``[batch]`` int, the ``L`` of each sample.
    discount: float in ``[0, 1]`` (Python float or traced scalar).

  Returns:
    ``[batch]`` int32.
  """
  if isinstance(discount, (int, float)) and not 0.0 <= discount <= 1.0:
    raise ValueError(f"discount must be in [0, 1], got {discount}")
  u = jax.random.uniform(key, jnp.shape(num_steps))
  num_steps_f = num_steps.astype(u.dtype)
  log_discount = jnp.log(jnp.asarray(discount, u.dtype))
  is_uniform = log_discount == 0.0
  safe_log_discount = jnp.where(is_uniform, -1.0, log_discount)
  # 1 - discount**L, accurate for discount close to 1.
  truncated_mass = -jnp.expm1(num_steps_f * safe_log_discount)
  geometric = jnp.floor(jnp.log1p(-u * truncated_mass) / safe_log_discount)
  uniform = jnp.floor(u * num_steps_f)
  k = 1 + jnp.where(is_uniform, uniform, geometric).astype(jnp.int32)
  k = jnp.clip(k, 1, jnp.maximum(num_steps, 1))
  return jnp.where(num_steps > 0, k, 0).astype(jnp.int32)


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------


def sample_with_future(
  buffer: ReplayBuffer,
  key: jax.Array,
  batch_size: int,
  discount: float | jax.Array,
  max_horizon: int,
) -> tuple[PyTree, PyTree, jax.Array]:
  """Samples transitions and a future transition of the same trajectory (hindsight goals).

  ``(row, env)`` pairs are uniform among valid rows and env slots.  For each,
  ``L`` = number of stored future steps of its trajectory (capped at
  ``max_horizon``, see :func:`count_future_steps`) and ``k`` is drawn from the
  truncated geometric law ``P(k) ∝ discount**(k-1)`` on ``{1..L}``.  When
  ``L == 0`` (last stored step of its trajectory) ``k = 0`` and the future is
  the transition itself, so a goal never crosses a trajectory boundary; use
  ``k > 0`` as the mask of genuine future goals.

  Requires ``buffer.size >= 1`` (see :func:`can_sample`); on an empty buffer the
  result is meaningless.  Cost is O(batch_size * max_horizon).

  Args:
    buffer: the buffer.
    key: PRNG key.
    batch_size: static number of samples ``B``.
    discount: geometric discount in ``[0, 1]``.
    max_horizon: static maximum ``k``.

  Returns:
    ``(now, future, k)``: ``now`` and ``future`` are pytrees with leaves
    ``[B, ...]``, ``future`` taken at row ``(row + k) % capacity`` of the same
    env column; ``k`` is ``[B]`` int32 in ``[0, max_horizon]``.
  """
  if max_horizon < 0:
    raise ValueError(f"max_horizon must be >= 0, got {max_horizon}")
  slot_key, k_key = jax.random.split(key)
  age_offsets, envs = _sample_slots(buffer, slot_key, batch_size, buffer.size)
  num_future = count_future_steps(buffer, age_offsets, envs, max_horizon)
  k = sample_truncated_geometric(k_key, num_future, discount)
  rows = _offset_to_row(buffer, age_offsets)
  now = _gather(buffer.data, rows, envs)
  future = _gather(buffer.data, (rows + k) % buffer.capacity, envs)
  return now, future, k


def sample_transitions(
  buffer: ReplayBuffer, key: jax.Array, batch_size: int
) -> tuple[PyTree, PyTree, jax.Array]:
  """Samples ``(transition, next transition)`` pairs for TD learning.

  ``(row, env)`` pairs are uniform among valid rows other than the newest one.
  Requires ``buffer.size >= 2`` (see :func:`can_sample`).

  Args:
    buffer: the buffer.
    key: PRNG key.
    batch_size: static number of samples ``B``.

  Returns:
    ``(now, next, has_next)``: pytrees with leaves ``[B, ...]`` at ``(row, env)``
    and ``(row + 1, env)``, and ``has_next`` (``[B]`` bool), true where both
    belong to the same trajectory (false where ``now`` ended its episode).
  """
  age_offsets, envs = _sample_slots(buffer, key, batch_size, buffer.size - 1)
  rows = _offset_to_row(buffer, age_offsets)
  now = _gather(buffer.data, rows, envs)
  next_ = _gather(buffer.data, (rows + 1) % buffer.capacity, envs)
  has_next = _traj_ids(next_) == _traj_ids(now)
  return now, next_, has_next
