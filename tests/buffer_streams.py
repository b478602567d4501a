"""Synthetic transition streams and statistics shared by the buffer and sampler tests."""

import jax
import numpy as np
from scipy import stats

from goalax.replay import buffer as rb

jit_insert = jax.jit(rb.insert)


def make_stream(traj_ids: np.ndarray) -> dict:
  """Transitions for a ``[steps, envs]`` traj_id table, as the trainer stores them.

  The state of step ``t`` in env ``e`` is the single number ``100 t + e`` (so a goal tells where
  it came from), the commanded goal is that number + 0.25, ``steps`` is the time in the episode
  and ``next_state`` the next step's state, or ``100 (t + 1) + e + 0.5`` where the episode ends
  (the true last state, never stored as an ``obs``). ``step`` and ``env`` are kept for checks.
  """
  num_steps, num_envs = traj_ids.shape
  step = np.broadcast_to(np.arange(num_steps)[:, None], traj_ids.shape)
  env = np.broadcast_to(np.arange(num_envs)[None, :], traj_ids.shape)
  state = 100.0 * step + env
  starts = np.ones_like(traj_ids, dtype=bool)
  starts[1:] = traj_ids[1:] != traj_ids[:-1]
  start_step = np.maximum.accumulate(np.where(starts, step, 0), axis=0)
  ends = np.ones_like(starts)
  ends[:-1] = starts[1:]
  ends[-1] = False  # the newest step's episode is still running
  next_state = 100.0 * (step + 1) + env + np.where(ends, 0.5, 0.0)
  return {
    "obs": np.stack([state, state + 0.25], axis=-1).astype(np.float32),
    "action": np.zeros(traj_ids.shape + (1,), np.float32),
    "traj_id": traj_ids.astype(np.int32),
    "steps": (step - start_step).astype(np.int32),
    "next_state": next_state[..., None].astype(np.float32),
    "terminated": np.zeros(traj_ids.shape, np.float32),
    "step": step.astype(np.int32),
    "env": env.astype(np.int32),
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


def episode_ends(traj_ids: np.ndarray) -> np.ndarray:
  """``[steps, envs]`` bool: the rows that end their episode (the newest one is still running)."""
  ended = np.zeros(traj_ids.shape, bool)
  ended[:-1] = traj_ids[1:] != traj_ids[:-1]
  return ended


def fill(stream: dict, capacity: int, block_lengths) -> rb.ReplayBuffer:
  """Buffer (keeping episode ends) after inserting consecutive blocks of the stream."""
  num_envs = stream["traj_id"].shape[1]
  example = jax.tree.map(lambda x: x[0], stream)
  buffer = rb.init_buffer(example, capacity, num_envs, episode_ends=True)
  ended = episode_ends(stream["traj_id"])
  start = 0
  for length in block_lengths:
    block = jax.tree.map(lambda x: x[start : start + length], stream)
    buffer = jit_insert(buffer, block, ended[start : start + length])
    start += length
  return buffer


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
    # pop first: in `x[-2] += x.pop()` the target x[-2] is chosen before the pop shortens x
    tail_expected, tail_observed = expected.pop(), observed.pop()
    expected[-1] += tail_expected
    observed[-1] += tail_observed
  return stats.chisquare(observed, expected).pvalue


def mean_z_score(samples: np.ndarray, pmf: np.ndarray) -> float:
  """(empirical mean - exact mean) in standard errors of the exact law."""
  support = np.arange(1, len(pmf) + 1)
  mean = np.sum(support * pmf)
  std = np.sqrt(np.sum((support - mean) ** 2 * pmf))
  return (samples.mean() - mean) / (std / np.sqrt(len(samples)))


def assert_trees_equal(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)
