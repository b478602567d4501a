"""Tests for the on-device trajectory ring buffer and hindsight goal sampling."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import jaxprs_in_params
from scipy import stats

from goalax import buffer as rb

OBS_DIM = 3

jit_insert = jax.jit(rb.insert)
jit_sample_with_future = jax.jit(
  rb.sample_with_future, static_argnames=("batch_size", "max_horizon")
)
jit_sample_transitions = jax.jit(rb.sample_transitions, static_argnames=("batch_size",))
jit_count_future_steps = jax.jit(rb.count_future_steps, static_argnames=("max_horizon",))
jit_truncated_geometric = jax.jit(rb.sample_truncated_geometric)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def make_stream(traj_ids: np.ndarray) -> dict:
  """Transitions for a [steps, envs] traj_id table; each records its own step and env."""
  num_steps, num_envs = traj_ids.shape
  step = np.broadcast_to(np.arange(num_steps)[:, None], traj_ids.shape)
  env = np.broadcast_to(np.arange(num_envs)[None, :], traj_ids.shape)
  obs = (100.0 * step + env)[..., None] + np.arange(OBS_DIM) / 10.0
  return {
    "traj_id": traj_ids.astype(np.int32),
    "step": step.astype(np.int32),
    "env": env.astype(np.int32),
    "obs": obs.astype(np.float32),
  }


def random_traj_ids(
  rng: np.random.Generator, num_steps: int, num_envs: int, max_len: int
) -> np.ndarray:
  """Per-env traj ids with random episode lengths in [1, max_len]; every env starts at id 0."""
  columns = []
  for _ in range(num_envs):
    lengths = rng.integers(1, max_len + 1, size=num_steps)
    columns.append(np.repeat(np.arange(num_steps), lengths)[:num_steps])
  return np.stack(columns, axis=1)


def fill(stream: dict, capacity: int, block_lengths) -> rb.ReplayBuffer:
  """Buffer after inserting consecutive blocks of the stream."""
  num_envs = stream["traj_id"].shape[1]
  buffer = rb.init_buffer(jax.tree.map(lambda x: x[0], stream), capacity, num_envs)
  start = 0
  for length in block_lengths:
    buffer = jit_insert(buffer, jax.tree.map(lambda x: x[start : start + length], stream))
    start += length
  return buffer


def reference_future_steps(
  traj_ids: np.ndarray, steps, envs, num_written: int, max_horizon: int
) -> np.ndarray:
  """Brute-force L: consecutive later steps (written so far) of the same trajectory, capped."""
  out = []
  for step, env in zip(np.asarray(steps), np.asarray(envs)):
    count = 0
    while (
      count < max_horizon
      and step + count + 1 < num_written
      and (traj_ids[step + count + 1, env] == traj_ids[step, env])
    ):
      count += 1
    out.append(count)
  return np.array(out)


def truncated_geometric_pmf(discount: float, num_steps: int) -> np.ndarray:
  """P(k) for k = 1..L, proportional to discount**(k-1)."""
  weights = discount ** np.arange(num_steps, dtype=np.float64)
  return weights / weights.sum()


def pooled_chisquare_pvalue(samples: np.ndarray, pmf: np.ndarray) -> float:
  """Chi-square goodness of fit of samples in 1..len(pmf), pooling tail bins with expected < 5."""
  observed = np.bincount(samples - 1, minlength=len(pmf)).astype(np.float64)
  assert len(observed) == len(pmf), "sample outside the support"
  expected = len(samples) * pmf
  observed, expected = list(observed), list(expected)
  while len(expected) > 1 and expected[-1] < 5:
    expected[-2] += expected.pop()
    observed[-2] += observed.pop()
  return stats.chisquare(observed, expected).pvalue


def mean_z_score(samples: np.ndarray, pmf: np.ndarray) -> float:
  """(empirical mean - exact mean) in standard errors of the exact law."""
  support = np.arange(1, len(pmf) + 1)
  mean = np.sum(support * pmf)
  std = np.sqrt(np.sum((support - mean) ** 2 * pmf))
  return (samples.mean() - mean) / (std / np.sqrt(len(samples)))


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


def test_insert_only_scatters_into_the_buffer():
  """O(T) insert: the only operation that reads a full buffer leaf is the row scatter."""
  capacity, num_envs = 50, 4
  stream = make_stream(np.zeros((7, num_envs), np.int32))
  buffer = rb.init_buffer(jax.tree.map(lambda x: x[0], stream), capacity, num_envs)
  jaxpr = jax.make_jaxpr(rb.insert)(buffer, stream).jaxpr
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
  assert len(scatters) == len(jax.tree.leaves(buffer.data))
  for eqn in scatters:  # each scatter writes exactly T=7 rows
    indices, updates = eqn.invars[1], eqn.invars[2]
    assert indices.aval.shape[0] == 7 and updates.aval.shape[0] == 7


# ---------------------------------------------------------------------------
# Hindsight sampling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_horizon", [3, 50])
def test_future_goals_never_cross_trajectory_boundaries(max_horizon):
  capacity, num_envs, num_steps = 16, 4, 37
  traj_ids = random_traj_ids(np.random.default_rng(1), num_steps, num_envs, max_len=6)
  assert (np.diff(traj_ids, axis=0) != 0).sum() > 10  # many episode ends
  stream = make_stream(traj_ids)
  buffer = fill(stream, capacity, [5, 5, 3, 7, 5, 9, 3])  # wraps twice, ends mid-ring
  assert int(buffer.size) == capacity

  now, future, k = jit_sample_with_future(buffer, jax.random.key(0), 20_000, 0.8, max_horizon)
  now, future, k = jax.tree.map(np.asarray, (now, future, k))
  num_future = reference_future_steps(traj_ids, now["step"], now["env"], num_steps, max_horizon)

  assert np.all(now["step"] >= num_steps - capacity)  # only valid rows
  np.testing.assert_array_equal(future["traj_id"], now["traj_id"])
  np.testing.assert_array_equal(future["env"], now["env"])
  np.testing.assert_array_equal(future["step"] - now["step"], k)
  assert np.all(k >= 0) and np.all(k <= num_future)
  np.testing.assert_array_equal(k == 0, num_future == 0)
  # every feasible offset is actually drawn
  for length in range(1, num_future.max() + 1):
    assert set(np.unique(k[num_future == length])) == set(range(1, length + 1))
  # the library's own L agrees with the brute-force reference
  age_offsets = now["step"] - (num_steps - capacity)
  library_l = jit_count_future_steps(
    buffer, jnp.asarray(age_offsets), jnp.asarray(now["env"]), max_horizon
  )
  np.testing.assert_array_equal(np.asarray(library_l), num_future)


def test_sampled_slots_are_uniform_over_valid_rows_and_envs():
  capacity, num_envs = 8, 3
  stream = make_stream(random_traj_ids(np.random.default_rng(2), 13, num_envs, 3))
  buffer = fill(stream, capacity, [4, 4, 5])
  now, _, _ = jit_sample_with_future(buffer, jax.random.key(1), 12_000, 0.9, 4)
  slot = (np.asarray(now["step"]) - 5) * num_envs + np.asarray(now["env"])
  counts = np.bincount(slot, minlength=capacity * num_envs)
  assert len(counts) == capacity * num_envs
  assert stats.chisquare(counts).pvalue > 1e-3


def long_trajectory_samples(
  discount: float, num_samples: int, max_horizon: int, seed: int
) -> np.ndarray:
  """k for samples whose L == max_horizon, in a buffer holding one 64-step trajectory per env."""
  capacity = 64
  buffer = fill(make_stream(np.zeros((capacity, 2), np.int32)), capacity, [capacity])
  now, _, k = jit_sample_with_future(
    buffer, jax.random.key(seed), num_samples, discount, max_horizon
  )
  has_full_horizon = np.asarray(now["step"]) <= capacity - 1 - max_horizon
  return np.asarray(k)[has_full_horizon]


def test_future_offset_follows_truncated_geometric_law():
  discount, max_horizon = 0.9, 20
  k = long_trajectory_samples(discount, 20_000, max_horizon, seed=3)
  assert len(k) > 10_000
  pmf = truncated_geometric_pmf(discount, max_horizon)
  assert pooled_chisquare_pvalue(k, pmf) > 1e-3
  assert abs(mean_z_score(k, pmf)) < 5

  # power: samples from a different discount are rejected by the same test
  wrong_k = long_trajectory_samples(0.8, 20_000, max_horizon, seed=3)
  assert pooled_chisquare_pvalue(wrong_k, pmf) < 1e-3
  assert abs(mean_z_score(wrong_k, pmf)) > 5


@pytest.mark.parametrize("discount, num_steps", [(0.9, 1), (0.5, 7), (0.97, 60), (0.999, 1000)])
def test_truncated_geometric_sampler_matches_law(discount, num_steps):
  n = 20_000
  k = np.asarray(jit_truncated_geometric(jax.random.key(4), jnp.full((n,), num_steps), discount))
  assert k.min() >= 1 and k.max() <= num_steps
  if num_steps == 1:
    assert np.all(k == 1)
    return
  pmf = truncated_geometric_pmf(discount, num_steps)
  assert pooled_chisquare_pvalue(k, pmf) > 1e-3
  assert abs(mean_z_score(k, pmf)) < 5


def test_unit_discount_gives_uniform_offsets():
  max_horizon = 20
  k = long_trajectory_samples(1.0, 20_000, max_horizon, seed=5)
  uniform = np.full(max_horizon, 1.0 / max_horizon)
  assert pooled_chisquare_pvalue(k, uniform) > 1e-3
  assert abs(mean_z_score(k, uniform)) < 5
  # mixed L values, discount passed as a traced scalar under jit
  num_steps = jnp.array([1, 2, 5, 9] * 2500)
  k = np.asarray(jit_truncated_geometric(jax.random.key(6), num_steps, jnp.float32(1.0)))
  for length in [1, 2, 5, 9]:
    assert set(np.unique(k[np.asarray(num_steps) == length])) == set(range(1, length + 1))


def test_zero_discount_always_picks_next_step():
  k = np.asarray(jit_truncated_geometric(jax.random.key(7), jnp.array([0, 1, 3, 50] * 100), 0.0))
  np.testing.assert_array_equal(k, np.array([0, 1, 1, 1] * 100))


def test_no_stored_future_gives_k_zero_and_future_equals_now():
  capacity, num_written = 8, 5
  # env 0: every episode lasts one step; env 1: a single ongoing episode
  traj_ids = np.stack([np.arange(num_written), np.zeros(num_written)], axis=1)
  buffer = fill(make_stream(traj_ids), capacity, [3, 2])
  now, future, k = jax.tree.map(
    np.asarray, jit_sample_with_future(buffer, jax.random.key(8), 2_000, 0.9, 10)
  )
  no_future = (now["env"] == 0) | (
    now["step"] == num_written - 1
  )  # length-1 episodes, or the newest row
  assert no_future.any() and (~no_future).any()
  np.testing.assert_array_equal(k == 0, no_future)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[no_future], b[no_future]), now, future)

  # a buffer holding a single row, and max_horizon == 0: never any future step
  single_row = fill(make_stream(np.zeros((1, 2), np.int32)), capacity, [1])
  now, future, k = jit_sample_with_future(single_row, jax.random.key(9), 100, 0.9, 10)
  assert np.all(np.asarray(k) == 0)
  assert_trees_equal(now, future)
  _, _, k = jit_sample_with_future(buffer, jax.random.key(10), 100, 0.9, 0)
  assert np.all(np.asarray(k) == 0)


def test_can_sample():
  buffer = rb.init_buffer({"traj_id": jnp.zeros(2, jnp.int32)}, capacity=4, num_envs=2)
  assert not bool(rb.can_sample(buffer))
  buffer = rb.insert(buffer, {"traj_id": jnp.zeros((1, 2), jnp.int32)})
  assert bool(rb.can_sample(buffer)) and not bool(rb.can_sample(buffer, 2))


# ---------------------------------------------------------------------------
# TD transitions
# ---------------------------------------------------------------------------


def test_sample_transitions_pairs_consecutive_steps():
  capacity, num_envs, num_steps = 12, 3, 29
  traj_ids = random_traj_ids(np.random.default_rng(11), num_steps, num_envs, max_len=4)
  buffer = fill(make_stream(traj_ids), capacity, [6, 6, 6, 6, 5])
  now, next_, has_next = jax.tree.map(
    np.asarray, jit_sample_transitions(buffer, jax.random.key(12), 5_000)
  )
  assert np.all(now["step"] >= num_steps - capacity)
  assert np.all(now["step"] < num_steps - 1)  # never the newest row
  assert set(np.unique(now["step"])) == set(range(num_steps - capacity, num_steps - 1))
  np.testing.assert_array_equal(next_["step"], now["step"] + 1)
  np.testing.assert_array_equal(next_["env"], now["env"])
  expected_has_next = traj_ids[now["step"] + 1, now["env"]] == traj_ids[now["step"], now["env"]]
  np.testing.assert_array_equal(has_next, expected_has_next)
  assert has_next.any() and (~has_next).any()


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

  keys = jax.random.split(jax.random.key(13), 2)
  sample = jax.jit(
    jax.vmap(partial(rb.sample_with_future, batch_size=256, discount=0.9, max_horizon=5))
  )
  batched = sample(buffers, keys)
  for i, stream in enumerate(streams):
    single = fill(stream, capacity, [block] * num_blocks)
    expected = jit_sample_with_future(single, keys[i], 256, 0.9, 5)
    assert_trees_equal(jax.tree.map(lambda x: x[i], batched), expected)
    now, future, _ = expected
    # each buffer holds its own stream
    traj_ids = stream["traj_id"]
    np.testing.assert_array_equal(np.asarray(now["traj_id"]), traj_ids[now["step"], now["env"]])
    np.testing.assert_array_equal(np.asarray(future["traj_id"]), np.asarray(now["traj_id"]))
  assert not np.array_equal(np.asarray(batched[0]["obs"][0]), np.asarray(batched[0]["obs"][1]))
