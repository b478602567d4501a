"""Tests for the on-device trajectory ring buffer: insertion, uniform slots, trajectory lookups."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from buffer_streams import episode_ends, fill, jit_insert, make_stream, random_traj_ids
from jax.extend.core import jaxprs_in_params
from scipy import stats

from goalax.replay import buffer as rb


def assert_trees_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


# ---------------------------------------------------------------------------
# Insertion
# ---------------------------------------------------------------------------


def test_ring_wraparound_keeps_newest_rows_in_time_order():
  capacity, num_envs = 10, 3
  stream = make_stream(random_traj_ids(np.random.default_rng(0), 40, num_envs, 4))
  buffer = rb.init_buffer(jax.tree.map(lambda x: x[0], stream), capacity, num_envs)
  assert int(buffer.size) == 0 and int(buffer.insert_index) == 0
  # 4 + 3 fills 7 rows; the 5-block straddles the ring end (rows 7, 8, 9, 0, 1); then a full-capacity block.
  written = 0
  for length in [4, 3, 5, 1, 6, 10, 2]:
    buffer = jit_insert(buffer, jax.tree.map(lambda x: x[written : written + length], stream))
    written += length
    size = int(buffer.size)
    assert size == min(written, capacity)
    assert int(buffer.insert_index) == written % capacity
    rows = (int(buffer.insert_index) - size + np.arange(size)) % capacity
    stored_in_time_order = jax.tree.map(lambda x: np.asarray(x)[rows], buffer.data)
    newest = jax.tree.map(lambda x: x[written - size : written], stream)
    assert_trees_equal(stored_in_time_order, newest)
  assert int(buffer.size) == capacity


def test_insert_rejects_block_longer_than_capacity():
  stream = make_stream(np.zeros((11, 2), np.int32))
  buffer = rb.init_buffer(jax.tree.map(lambda x: x[0], stream), capacity=10, num_envs=2)
  with pytest.raises(ValueError, match=r"T=11.*capacity 10"):
    rb.insert(buffer, stream)
  with pytest.raises(ValueError, match="num_envs"):
    rb.insert(buffer, jax.tree.map(lambda x: x[:3, :1], stream))


def test_init_requires_traj_id():
  with pytest.raises(ValueError, match="traj_id"):
    rb.init_buffer({"obs": jnp.zeros((2, 3))}, capacity=4, num_envs=2)


@pytest.mark.parametrize("keep_ends", [False, True], ids=["rows", "rows_and_episode_ends"])
def test_insert_only_scatters_into_the_buffer(keep_ends):
  """O(T) insert: the only operation that reads a full buffer leaf (or the episode-end table) is
  a scatter of the block's T rows."""
  capacity, num_envs = 50, 4
  stream = make_stream(np.zeros((7, num_envs), np.int32))
  example = jax.tree.map(lambda x: x[0], stream)
  buffer = rb.init_buffer(example, capacity, num_envs, episode_ends=keep_ends)
  ended = np.zeros((7, num_envs), bool) if keep_ends else None
  jaxpr = jax.make_jaxpr(rb.insert)(buffer, stream, ended).jaxpr
  full_shapes = {tuple(leaf.shape) for leaf in jax.tree.leaves(buffer.data)}

  def check(jaxpr):
    for eqn in jaxpr.eqns:
      for sub in jaxprs_in_params(eqn.params):
        check(sub)
      reads_full_leaf = any(
        hasattr(var, "aval") and tuple(getattr(var.aval, "shape", ())) in full_shapes
        for var in eqn.invars
      )
      if reads_full_leaf:
        assert eqn.primitive.name == "scatter", f"{eqn.primitive.name} touches a full buffer leaf"

  check(jaxpr)
  scatters = [eqn for eqn in jaxpr.eqns if eqn.primitive.name == "scatter"]
  assert len(scatters) == len(jax.tree.leaves(buffer.data)) + keep_ends
  for eqn in scatters:  # each scatter writes exactly T=7 rows
    indices, updates = eqn.invars[1], eqn.invars[2]
    assert indices.aval.shape[0] == 7 and updates.aval.shape[0] == 7


# ---------------------------------------------------------------------------
# Slots and same-trajectory lookups
# ---------------------------------------------------------------------------


def test_sampled_slots_are_uniform_over_valid_rows_and_envs():
  capacity, num_envs = 8, 3
  stream = make_stream(random_traj_ids(np.random.default_rng(2), 13, num_envs, 3))
  buffer = fill(stream, capacity, [4, 4, 5])
  ages, envs = jax.jit(rb.sample_slots, static_argnums=2)(buffer, jax.random.key(1), (12_000,))
  now = rb.gather(buffer.data, rb.storage_rows(buffer, ages), envs)
  assert np.all(np.asarray(now["step"]) >= 13 - capacity)  # only valid rows
  slot = (np.asarray(now["step"]) - 5) * num_envs + np.asarray(now["env"])
  counts = np.bincount(slot, minlength=capacity * num_envs)
  assert len(counts) == capacity * num_envs
  assert stats.chisquare(counts).pvalue > 1e-3


def test_is_stored_in_trajectory_matches_brute_force():
  capacity, num_envs, num_steps = 16, 4, 37
  traj_ids = random_traj_ids(np.random.default_rng(1), num_steps, num_envs, max_len=6)
  buffer = fill(make_stream(traj_ids), capacity, [5, 5, 3, 7, 5, 9, 3])  # wraps twice
  ages, envs = np.meshgrid(np.arange(capacity), np.arange(num_envs), indexing="ij")
  oldest = num_steps - capacity
  for ahead in range(capacity + 1):
    got = np.asarray(
      jax.jit(rb.is_stored_in_trajectory)(buffer, ages, envs, jnp.full(ages.shape, ahead))
    )
    step = oldest + ages
    later = np.minimum(step + ahead, num_steps - 1)
    expected = (step + ahead < num_steps) & (traj_ids[later, envs] == traj_ids[step, envs])
    np.testing.assert_array_equal(got, expected, err_msg=f"{ahead} rows ahead")


def test_rows_to_episode_end_matches_brute_force():
  """Completed episodes (also short ones) know their last row; the newest, running ones say -1;
  ids that share a table entry (traj_id % capacity) never mix, also after the ring wraps."""
  capacity, num_envs, num_steps = 16, 4, 53
  traj_ids = random_traj_ids(np.random.default_rng(3), num_steps, num_envs, max_len=6)
  traj_ids[:, 1] = np.arange(num_steps)  # env 1: one-step episodes, 53 ids in a table of 16
  traj_ids[:, 2] = np.arange(num_steps) // 20  # env 2: long episodes, the last one running
  buffer = fill(make_stream(traj_ids), capacity, [5, 5, 3, 7, 16, 5, 9, 3])  # wraps three times
  ages, envs = np.meshgrid(np.arange(capacity), np.arange(num_envs), indexing="ij")
  got = np.asarray(jax.jit(rb.rows_to_episode_end)(buffer, ages, envs))
  step = num_steps - capacity + ages
  ended = episode_ends(traj_ids)
  expected = np.full(ages.shape, -1)
  for (age, env), t in np.ndenumerate(step):
    last = t + np.argmax(traj_ids[t:, env] != traj_ids[t, env]) - 1  # row before the next id
    if traj_ids[-1, env] == traj_ids[t, env]:
      last = num_steps - 1  # its id lasts to the newest row: ended only if that row ended it
    if ended[last, env]:
      expected[age, env] = last - t
  np.testing.assert_array_equal(got, expected)
  assert (got[:-1, 1] == 0).all() and (got[:, 2] == -1).any() and (got[:, 2] > 0).any()


def test_insert_asks_for_episode_ends_exactly_when_kept():
  stream = make_stream(np.zeros((3, 2), np.int32))
  example = jax.tree.map(lambda x: x[0], stream)
  with pytest.raises(ValueError, match="needs `ended`.*keeps them"):
    rb.insert(rb.init_buffer(example, 4, 2, episode_ends=True), stream)
  with pytest.raises(ValueError, match="does not keep them"):
    rb.insert(rb.init_buffer(example, 4, 2), stream, np.zeros((3, 2), bool))


def test_can_sample():
  buffer = rb.init_buffer({"traj_id": jnp.zeros(2, jnp.int32)}, capacity=4, num_envs=2)
  assert not bool(rb.can_sample(buffer))
  buffer = rb.insert(buffer, {"traj_id": jnp.zeros((1, 2), jnp.int32)})
  assert bool(rb.can_sample(buffer)) and not bool(rb.can_sample(buffer, 2))


# ---------------------------------------------------------------------------
# Transformations
# ---------------------------------------------------------------------------


def test_vmap_over_independent_buffers_matches_unbatched():
  capacity, num_envs, block, num_blocks = 8, 2, 3, 4
  streams = [
    make_stream(random_traj_ids(np.random.default_rng(seed), block * num_blocks, num_envs, 3))
    for seed in (20, 21)
  ]
  stacked = jax.tree.map(lambda *xs: np.stack(xs), *streams)

  init = jax.vmap(lambda example: rb.init_buffer(example, capacity, num_envs))
  buffers = init(jax.tree.map(lambda x: x[:, 0], stacked))
  vmapped_insert = jax.jit(jax.vmap(rb.insert))
  for i in range(num_blocks):
    buffers = vmapped_insert(
      buffers, jax.tree.map(lambda x: x[:, i * block : (i + 1) * block], stacked)
    )
  assert buffers.size.shape == (2,) and np.all(np.asarray(buffers.size) == capacity)

  def sample(buffer, key):
    ages, envs = rb.sample_slots(buffer, key, (256,))
    return rb.gather(buffer.data, rb.storage_rows(buffer, ages), envs)

  keys = jax.random.split(jax.random.key(13), 2)
  batched = jax.jit(jax.vmap(sample))(buffers, keys)
  for i, stream in enumerate(streams):
    single = fill(stream, capacity, [block] * num_blocks)
    expected = jax.jit(sample)(single, keys[i])
    assert_trees_equal(jax.tree.map(lambda x: x[i], batched), expected)
    # each buffer holds its own stream
    np.testing.assert_array_equal(
      np.asarray(expected["traj_id"]), stream["traj_id"][expected["step"], expected["env"]]
    )
  assert not np.array_equal(np.asarray(batched["obs"][0]), np.asarray(batched["obs"][1]))
