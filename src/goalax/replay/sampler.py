"""The goal sampler: what the replay buffer stores per env step, and the batches agents learn from.

One sampler serves every off-policy agent; an agent's :class:`goalax.replay.goals.GoalSampling`
says where its goals come from: a mix of commanded, hindsight and random goals for the critic
(``goal``) and, optionally, another mix for the actor (``actor_goal``), drawn independently for
the same transitions (OGBench's ``value_p_*`` / ``actor_p_*``).

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
with one gather, :func:`goalax.replay.buffer.rows_to_episode_end`), up to the time limit while it is
still running. A pair ``(t, k)`` whose future is not stored — the last row of an episode without
``next_state``, or a row of the still-running episode whose ``t + k`` is not collected yet — is
redrawn as a whole (a new row and a new ``k``) instead of renormalising the law over the short
stored part, which would favour near goals. The pair is drawn from :data:`NUM_CANDIDATES`
independent candidates, the first one whose future is stored; when none is (``found`` is false:
rare once the buffer holds more than the running episodes), the goal is the next state. When the
critic and the actor both take a hindsight goal for a transition, each draws its own ``k`` and
the candidate must have both futures stored: the joint law of ``(t, k_critic, k_actor)`` is
again the complete-episode law restricted to what is stored.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from goalax.replay import buffer as replay
from goalax.replay.goals import GoalMix, GoalSampling

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
  offsets: Sequence[tuple[Array, GoalMix, Array | None]],
  td: bool,
  episode_length: int,
) -> dict[str, Any]:
  """Rows and hindsight offsets: ``{age, env, found}`` each ``[batch_size]``, and per entry of
  ``offsets`` a ``k`` and a ``source_age``, in the lists ``k`` and ``source_age``.

  ``offsets``: one ``(key, mix, needed)`` per learner that draws hindsight goals (critic, actor):
  the key of its offsets, its law (``mix.future``, ``mix.discount``), and ``needed [batch_size]``
  bool, which elements use its hindsight goal (None: all). ``age``/``env`` is the transition,
  ``k`` an offset, ``source_age`` the age offset of the row that holds the goal state (``obs``
  of row ``age + k``, or ``next_state`` of row ``age + k - 1`` with ``td``), ``found`` whether
  one of the candidates had every needed future stored (see the module docstring); otherwise
  (a fallback) each ``k`` is 1, the next state, where it is stored, else 0. Requires
  ``buffer.data["steps"]`` and a buffer that keeps episode ends.
  """
  shape = (NUM_CANDIDATES, batch_size)
  ages, envs = replay.sample_slots(buffer, key, shape)
  last_offset = 1 if td else 0  # k = R reaches next_state of the episode's last row
  rest = later_states(buffer, ages, envs, episode_length, last_offset)
  usable = jnp.ones(shape, bool)
  candidate_ks = []
  for k_key, mix, needed in offsets:
    k = sample_truncated_geometric(k_key, rest, mix.offset_discount)
    stored = (k >= 1) & replay.is_stored_in_trajectory(buffer, ages, envs, k - last_offset)
    usable &= stored if needed is None else stored | ~needed[None]
    candidate_ks.append(k)
  found = jnp.any(usable, axis=0)
  pick = jnp.where(found, jnp.argmax(usable, axis=0), NUM_CANDIDATES - 1)
  take = lambda x: jnp.take_along_axis(x, pick[None], axis=0)[0]
  age, env = take(ages), take(envs)
  # Fallback (no candidate stored): the next state when it is stored, else the state itself.
  next_stored = td | replay.is_stored_in_trajectory(buffer, age, env, jnp.ones_like(age))
  ks = [jnp.where(found, take(k), next_stored.astype(jnp.int32)) for k in candidate_ks]
  source_ages = [age + jnp.maximum(k - last_offset, 0) for k in ks]
  return {"age": age, "env": env, "k": ks, "source_age": source_ages, "found": found}


def subgoal_offsets(
  buffer: replay.ReplayBuffer, ages: Array, envs: Array, steps: int, last_offset: int
) -> Array:
  """``m = min(steps, M)`` ``[...]`` int32: how far ahead each row's subgoal state is, ``M``
  being the offset of the last state stored of its episode: the real last state of a finished
  episode (``next_state`` of its last row with ``last_offset`` 1, else the last row's ``obs``),
  the newest stored state of a running one. Needs a buffer that keeps episode ends."""
  to_end = replay.rows_to_episode_end(buffer, ages, envs)  # -1: still running
  rows_ahead = jnp.where(to_end >= 0, to_end, buffer.size - 1 - ages)
  return jnp.minimum(steps, rows_ahead + last_offset).astype(jnp.int32)


def draw_sources(key: Array, mix: GoalMix, batch_size: int) -> Array:
  """``[batch_size]`` int32 source of each goal: 0 commanded, 1 hindsight, 2 random."""
  if mix.p_future == 1:
    return jnp.ones((batch_size,), jnp.int32)
  u = jax.random.uniform(key, (batch_size,))
  p_commanded, p_future = mix.p_commanded, mix.p_future
  return jnp.where(u < p_commanded, 0, jnp.where(u < p_commanded + p_future, 1, 2))


def can_fall_back(mix: GoalMix, td: bool) -> bool:
  """Whether a hindsight goal of this mix may lack its stored future: all but the next state's
  goal with ``next_state`` stored (``td`` and discount 0: ``k = 1``, in the transition's own row)."""
  next_state_only = isinstance(mix.offset_discount, (int, float)) and mix.offset_discount == 0
  return mix.p_future > 0 and not (td and next_state_only)


def hindsight_fallback(info: dict[str, Array]) -> Array:
  """The share of a batch's hindsight draws that fell back (to the next state): of the elements
  whose critic or actor drew a hindsight goal that may lack its stored future
  (``info["hindsight"]``, :func:`can_fall_back`), those for which no candidate had it
  (``~info["found"]``); 0 for a batch without such draws. Not a share of the whole batch: with
  QRL's half random actor goals that would read half the rate."""
  drew = info["hindsight"]
  return jnp.sum(drew & ~info["found"]) / jnp.maximum(jnp.sum(drew), 1)


def make_sampler(
  env, sampling: GoalSampling, batch_size: int, episode_length: int
) -> Callable[[replay.ReplayBuffer, Array], tuple[dict[str, Array], dict[str, Array]]]:
  """``sample(buffer, key) -> (batch, info)``.

  ``batch``: ``state [B, S]``, ``action [B, A]``, ``goal [B, G]`` (the critic's goals, from
  ``sampling.value``); with ``sampling.actor`` also ``actor_goal [B, G]`` (from that mix, drawn
  independently for the same transitions); with ``sampling.offsets`` also ``goal_offset [B]``
  (and ``actor_goal_offset [B]``), each goal's hindsight offset, 0 for commanded and random
  goals; with ``sampling.subgoal_steps`` also ``subgoal [B, G]`` and ``actor_subgoal [B, G]``
  (:class:`goalax.replay.goals.GoalSampling`) and their states, ``subgoal_state [B, S]`` and
  ``actor_subgoal_state [B, S]``; with ``sampling.td`` also ``next_state [B, S]``, ``reward [B]`` (the env's reward rule at
  the batch's goal) and ``terminated [B]``, with ``sampling.actor_reward`` the rewards of the
  actor's goals and subgoals (``actor_reward``, ``subgoal_reward``, ``actor_subgoal_reward``). ``info``: ``source [B]`` (0 commanded, 1 hindsight,
  2 random), ``k [B]`` (= ``goal_offset``), with an actor mix also ``actor_source [B]`` and
  ``actor_k [B]``, with subgoals ``subgoal_k [B]`` and ``actor_subgoal_k [B]`` (their offsets),
  ``found [B]`` (false where a hindsight goal fell back) and ``hindsight [B]``
  (where a hindsight goal may fall back, :func:`can_fall_back`), for tests, diagnostics and the
  ``hindsight_fallback`` metric (:func:`hindsight_fallback`).
  """
  state_size = env.state_size
  td = sampling.td
  mixes = sampling.mixes
  # Whether every transition needs a hindsight goal (then no uniform rows are drawn).
  all_hindsight = any(mix.p_future == 1 for mix in mixes)

  def states_at(buffer, ages, columns, from_next_state):
    rows = replay.storage_rows(buffer, ages)
    if from_next_state:
      return buffer.data["next_state"][rows, columns]
    return buffer.data["obs"][rows, columns, :state_size]

  def random_goals(buffer, key):
    age, column = replay.sample_slots(buffer, key, (batch_size,))
    return env.achieved_goal(states_at(buffer, age, column, False))

  def sample(buffer: replay.ReplayBuffer, key: Array):
    k_source, k_future, k_slot, k_random, k_actor = jax.random.split(key, 5)
    k_rows, k_offsets = jax.random.split(k_future)
    # Per learner: (key of its sources, of its offsets, of its random goals).
    keys = [(k_source, k_offsets, k_random)]
    if sampling.actor is not None:
      keys.append(tuple(jax.random.split(k_actor, 3)))
    sources = [draw_sources(k[0], mix, batch_size) for k, mix in zip(keys, mixes)]

    # The transitions: rows that come with their futures where a goal needs them, else uniform.
    offsets = [
      (k[1], mix, None if mix.p_future == 1 else source == 1)
      for k, mix, source in zip(keys, mixes, sources)
      if mix.p_future > 0
    ]
    needs_future = functools.reduce(jnp.logical_or, [source == 1 for source in sources])
    if not all_hindsight:
      age, column = replay.sample_slots(buffer, k_slot, (batch_size,))
    found = jnp.ones((batch_size,), bool)
    if offsets:
      future = sample_future(buffer, k_rows, batch_size, offsets, td, episode_length)
      if all_hindsight:
        age, column, found = future["age"], future["env"], future["found"]
      else:
        age = jnp.where(needs_future, future["age"], age)
        column = jnp.where(needs_future, future["env"], column)
        found = jnp.where(needs_future, future["found"], True)
      future_ks, source_ages = iter(future["k"]), iter(future["source_age"])
    now = replay.gather(buffer.data, replay.storage_rows(buffer, age), column)
    state, commanded = now["obs"][:, :state_size], now["obs"][:, state_size:]

    goals, ks = [], []
    for k, mix, source in zip(keys, mixes, sources):
      goal, offset = commanded, jnp.zeros((batch_size,), jnp.int32)
      if mix.p_future > 0:
        # k = 0 (no stored future, obs layout only): source_age == age, the state itself.
        goal_state = states_at(buffer, next(source_ages), column, td)
        goal = jnp.where((source == 1)[:, None], env.achieved_goal(goal_state), goal)
        offset = jnp.where(source == 1, next(future_ks), 0)
      if mix.p_random > 0:
        goal = jnp.where((source == 2)[:, None], random_goals(buffer, k[2]), goal)
      goals.append(goal)
      ks.append(offset)

    batch = {"state": state, "action": now["action"], "goal": goals[0]}
    drew = [source == 1 for mix, source in zip(mixes, sources) if can_fall_back(mix, td)]
    hindsight = functools.reduce(jnp.logical_or, drew, jnp.zeros((batch_size,), bool))
    info = {"source": sources[0], "k": ks[0], "found": found, "hindsight": hindsight}
    if sampling.actor is not None:
      batch["actor_goal"] = goals[1]
      info.update(actor_source=sources[1], actor_k=ks[1])
    if sampling.offsets:
      batch["goal_offset"] = ks[0]
      if sampling.actor is not None:
        batch["actor_goal_offset"] = ks[1]
    if sampling.subgoal_steps > 0:
      # HIQL's subgoals: K steps ahead, clipped at the episode's last state stored, and for the
      # high-level target at a hindsight goal nearer than that (OGBench's HGCDataset).
      last_offset = 1 if td else 0
      low = subgoal_offsets(buffer, age, column, sampling.subgoal_steps, last_offset)
      high = jnp.where(sources[-1] == 1, jnp.minimum(low, ks[-1]), low)
      for name, m in (("subgoal", low), ("actor_subgoal", high)):
        subgoal_state = states_at(buffer, age + jnp.maximum(m - last_offset, 0), column, td)
        batch[name], batch[f"{name}_state"] = env.achieved_goal(subgoal_state), subgoal_state
        info[f"{name}_k"] = m
    if td:
      batch["next_state"] = now["next_state"]
      batch["reward"] = env.goal_reward(now["next_state"], goals[0])
      batch["terminated"] = now["terminated"]
      if sampling.actor_reward:
        batch["actor_reward"] = env.goal_reward(now["next_state"], goals[-1])
        if sampling.subgoal_steps > 0:
          batch["subgoal_reward"] = env.goal_reward(now["next_state"], batch["subgoal"])
          reached = batch["actor_subgoal_state"]
          batch["actor_subgoal_reward"] = env.goal_reward(reached, goals[-1])
    return batch, info

  return sample
