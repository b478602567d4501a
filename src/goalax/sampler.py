"""The goal sampler: what the replay buffer stores per env step, and the batches agents learn from.

One sampler serves every off-policy agent; an agent's :class:`goalax.agents.base.GoalSampling`
says where its goals come from.

What is stored (per env step and slot, :func:`transition`)
-----------------------------------------------------------
``obs`` (``concat(state, commanded goal)`` before the step), ``action``, ``traj_id`` and ``steps``
(time in the episode of ``obs``); for TD agents also ``next_state`` (the state the step reached,
the true last state when the step ended the episode, before the auto-reset) and ``terminated``
(1 where the env ended the episode itself; a time-limit end is not a termination, so TD targets
bootstrap through it).

Hindsight goals
---------------
A hindsight goal of the transition at time ``t`` is the achieved goal of the state ``k >= 1``
steps later in the same trajectory: ``obs`` of row ``t + k`` (without ``next_state``) or
``next_state`` of row ``t + k - 1`` (with it, so the last step of an episode has a goal too: the
state it ended in). ``k`` follows the agent's law on ``1..R`` (geometric: ``P(k) ∝ γ^(k−1)``, or
uniform), where ``R`` is the number of later states of the episode: up to its real end when it
is over (also when it ended early, by termination: the buffer's episode-end table gives that end
with one gather, :func:`goalax.buffer.rows_to_episode_end`), up to the time limit while it is
still running. A pair ``(t, k)`` whose future is not stored — the last row of an episode without
``next_state``, or a row of the still-running episode whose ``t + k`` is not collected yet — is
redrawn as a whole (a new row and a new ``k``) instead of renormalising the law over the short
stored part, which would favour near goals. The pair is drawn from :data:`NUM_CANDIDATES`
independent candidates, the first one whose future is stored; when none is (``found`` is false:
rare once the buffer holds more than the running episodes), the goal is the next state.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax import buffer as replay
from goalax.agents.base import GoalSampling

Array = jax.Array

#: Candidate (row, k) pairs drawn per batch element; the first whose future is stored is used.
NUM_CANDIDATES = 8


def transition(env_state, action: Array, next_env_state, state_size: int, td: bool) -> dict:
  """What the buffer stores for one step of every env slot; leaves ``[num_envs, ...]``."""
  stored = {
    "obs": env_state.obs,
    "action": action,
    "traj_id": env_state.info["traj_id"],
    "steps": env_state.info["steps"],
  }
  if td:
    stored["next_state"] = next_env_state.info["terminal_obs"][:, :state_size]
    stored["terminated"] = next_env_state.done * (1.0 - next_env_state.info["truncation"])
  return stored


def sample_truncated_geometric(key: Array, num_steps: Array, discount: float | Array) -> Array:
  """Draws ``k in {1..L}`` with ``P(k) ∝ discount**(k-1)`` by inverse CDF; ``k = 0`` where ``L == 0``.

  ``k = 1 + floor(log(1 - u (1 - discount**L)) / log(discount))`` with ``u ~ U[0, 1)``, clipped to
  ``[1, L]``. ``discount == 1`` gives the uniform law on ``{1..L}`` (handled separately, no
  division by ``log(1) = 0``); ``discount == 0`` always gives ``k = 1``.

  Args:
    key: PRNG key.
    num_steps: ``[...]`` int, the ``L`` of each sample.
    discount: float in ``[0, 1]`` (Python float or traced scalar).

  Returns:
    ``[...]`` int32.
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


def later_states(
  buffer: replay.ReplayBuffer, ages: Array, envs: Array, episode_length: int, last_offset: int
) -> Array:
  """``R``: how many later states of its episode each row can take its hindsight goal from.

  Up to the real end of a completed episode, up to the time limit in the still-running one (its
  later rows may not be stored yet: the caller redraws those); capped by what the ring holds.
  ``last_offset`` is 1 when the episode's last state is stored as ``next_state`` (so the last
  row has one later state), else 0. ``ages``, ``envs``: ``[...]`` int; returns ``[...]`` int32.
  """
  steps = buffer.data["steps"][replay.storage_rows(buffer, ages), envs]
  to_end = replay.rows_to_episode_end(buffer, ages, envs)  # -1: still running
  to_last_row = jnp.where(to_end >= 0, to_end, episode_length - 1 - steps)
  return jnp.clip(to_last_row + last_offset, 0, buffer.capacity - 1 + last_offset)


def sample_future(
  buffer: replay.ReplayBuffer,
  key: Array,
  batch_size: int,
  sampling: GoalSampling,
  episode_length: int,
) -> dict[str, Array]:
  """Rows and hindsight offsets: ``{age, env, k, source_age, found}``, each ``[batch_size]``.

  ``age``/``env`` is the transition, ``k`` its offset, ``source_age`` the age offset of the row
  that holds the goal state (``obs`` of row ``age + k``, or ``next_state`` of row
  ``age + k - 1`` with ``sampling.td``), ``found`` whether one of the candidates had its future
  stored (see the module docstring). Requires ``buffer.data["steps"]`` and a buffer that keeps
  episode ends.
  """
  shape = (NUM_CANDIDATES, batch_size)
  slot_key, k_key = jax.random.split(key)
  ages, envs = replay.sample_slots(buffer, slot_key, shape)
  last_offset = 1 if sampling.td else 0  # k = R reaches next_state of the episode's last row
  rest = later_states(buffer, ages, envs, episode_length, last_offset)
  discount = sampling.discount if sampling.future == "geometric" else 1.0
  k = sample_truncated_geometric(k_key, rest, discount)
  rows_ahead = k - last_offset
  stored = (k >= 1) & replay.is_stored_in_trajectory(buffer, ages, envs, rows_ahead)
  found = jnp.any(stored, axis=0)
  pick = jnp.where(found, jnp.argmax(stored, axis=0), NUM_CANDIDATES - 1)
  take = lambda x: jnp.take_along_axis(x, pick[None], axis=0)[0]
  age, env, k = take(ages), take(envs), take(k)
  # Fallback (no candidate stored): the next state when it is stored, else the state itself.
  next_stored = sampling.td | replay.is_stored_in_trajectory(buffer, age, env, jnp.ones_like(k))
  k = jnp.where(found, k, next_stored.astype(jnp.int32))
  source_age = age + jnp.maximum(k - last_offset, 0)
  return {"age": age, "env": env, "k": k, "source_age": source_age, "found": found}


def make_sampler(
  env, sampling: GoalSampling, batch_size: int, episode_length: int
) -> Callable[[replay.ReplayBuffer, Array], tuple[dict[str, Array], dict[str, Array]]]:
  """``sample(buffer, key) -> (batch, info)``.

  ``batch``: ``state [B, S]``, ``action [B, A]``, ``goal [B, G]``; with
  ``sampling.actor_p_random > 0`` also ``actor_goal [B, G]``; with ``sampling.td`` also
  ``next_state [B, S]``, ``reward [B]`` (the env's reward rule at the batch's goal) and
  ``terminated [B]``. ``info``: ``source [B]`` (0 commanded, 1 hindsight, 2 random), ``k [B]``
  (hindsight offset, 0 for other sources) and ``found [B]``, for tests and diagnostics.
  """
  state_size = env.state_size
  p_commanded, p_future, p_random = sampling.p_commanded, sampling.p_future, sampling.p_random

  def states_at(buffer, ages, columns, from_next_state):
    rows = replay.storage_rows(buffer, ages)
    if from_next_state:
      return buffer.data["next_state"][rows, columns]
    return buffer.data["obs"][rows, columns, :state_size]

  def sample(buffer: replay.ReplayBuffer, key: Array):
    k_source, k_future, k_slot, k_random, k_actor = jax.random.split(key, 5)
    source = jnp.ones((batch_size,), jnp.int32)  # 0 commanded, 1 hindsight, 2 random
    if p_future < 1:  # other sources than hindsight: a uniform row
      u = jax.random.uniform(k_source, (batch_size,))
      source = jnp.where(u < p_commanded, 0, jnp.where(u < p_commanded + p_future, 1, 2))
      age, column = replay.sample_slots(buffer, k_slot, (batch_size,))
    if p_future > 0:  # hindsight: the row comes with its future (see sample_future)
      future = sample_future(buffer, k_future, batch_size, sampling, episode_length)
      age = jnp.where(source == 1, future["age"], age) if p_future < 1 else future["age"]
      column = jnp.where(source == 1, future["env"], column) if p_future < 1 else future["env"]
    now = replay.gather(buffer.data, replay.storage_rows(buffer, age), column)
    state, commanded = now["obs"][:, :state_size], now["obs"][:, state_size:]

    goal = commanded
    k = jnp.zeros((batch_size,), jnp.int32)
    found = jnp.ones((batch_size,), bool)
    if p_future > 0:
      # k = 0 (no stored future, obs layout only): source_age == age, the state itself.
      goal_state = states_at(buffer, future["source_age"], future["env"], sampling.td)
      goal = jnp.where((source == 1)[:, None], env.achieved_goal(goal_state), goal)
      k = jnp.where(source == 1, future["k"], 0)
      found = jnp.where(source == 1, future["found"], True)
    if p_random > 0:
      random_age, random_column = replay.sample_slots(buffer, k_random, (batch_size,))
      random_goal = env.achieved_goal(states_at(buffer, random_age, random_column, False))
      goal = jnp.where((source == 2)[:, None], random_goal, goal)

    batch = {"state": state, "action": now["action"], "goal": goal}
    if sampling.actor_p_random > 0:
      replace = jax.random.uniform(k_actor, (batch_size,)) < sampling.actor_p_random
      batch["actor_goal"] = jnp.where(replace[:, None], jnp.roll(goal, 1, axis=0), goal)
    if sampling.td:
      batch["next_state"] = now["next_state"]
      batch["reward"] = env.goal_reward(now["next_state"], goal)
      batch["terminated"] = now["terminated"]
    return batch, {"source": source, "k": k, "found": found}

  return sample
