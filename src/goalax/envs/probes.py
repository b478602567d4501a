"""Probe environments: tiny goal envs whose right answers are known, for testing algorithms.

In the spirit of Rejax's probe-env tests (and Andy Jones' "debugging RL" probes): no physics,
one or two steps per episode, so a learner's Q-values can be checked against values worked out
by hand. They follow the :class:`goalax.envs.core.GoalEnv` contract (``obs = concat(state,
goal)``, ``success`` / ``dist`` metrics, sparse reward), run under ``VectorGoalEnv`` and the
trainer like any env (their evaluation tasks: the seeded set of :mod:`goalax.envs.core`, every
episode of a task the same), and are not in the registry (``goalax envs`` lists physics envs
only).

- :class:`ReachProbe`: one step. The state is a position that starts at 0; the action sets it;
  the goal is drawn from U[-0.8, 0.8]; the episode terminates after the step. Reward 1 iff
  ``|a - g| < 0.2``, so ``Q*(s, g, a) = 1{|a - g| < 0.2}`` and the optimal policy is ``a = g``.
- :class:`BootstrapProbe`: reward 1 at every step (the goal is always reached), time limit 2,
  action irrelevant. Half the episodes (state ``[0, 0]`` throughout) end by the time limit only:
  a TD learner must bootstrap through that truncation, ``Q = 1 / (1 - γ)``. The other half
  (state ``[1, t]``) terminate after their second step: ``Q([1, 0]) = 1 + γ``, ``Q([1, 1]) = 1``,
  and the true last state ``[1, 2]`` is never bootstrapped from. Treating the truncation as a
  termination gives ``Q([0, 0]) = 4/3`` at γ = 0.5 instead of 2; bootstrapping through the
  termination moves ``Q([1, 1])`` away from 1.
- :class:`EarlyEndProbe`: episodes that end early, like an ant or humanoid that falls. The state
  is ``[t, n]``: the time since the reset and the step ``n``, drawn from ``1..max_length`` at the
  reset, at which the episode terminates, long before the time limit. The achieved goal is
  ``t``, so a hindsight goal tells its offset: ``k = goal - t``, at most ``n - t``.
- :class:`ChainProbe`: a chain of N cells where actions move one cell left or right, so the
  optimal number of steps from cell ``i`` to cell ``j`` is ``|j - i|`` (QRL's learned distance).
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from brax.envs.base import State

from goalax.envs.core import GoalEnv, seeded_task_key


class ProbeEnv(GoalEnv):
  """A GoalEnv without physics: subclasses define ``_reset_state`` and ``_transition``."""

  action_dim: ClassVar[int] = 1

  def __init__(self, goal_threshold: float, episode_length: int):
    self._backend = "probe"
    self.goal_threshold = float(goal_threshold)
    self.episode_length = int(episode_length)
    self.dense_reward = False
    self._goal_index_array = jnp.asarray(self.goal_indices, dtype=jnp.int32)
    self.name = type(self).__name__

  @property
  def action_size(self) -> int:
    return self.action_dim

  def _reset_state(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(state [state_size], goal [goal_size])`` of a new episode."""
    raise NotImplementedError

  def _transition(self, state_vec: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(next state [state_size], terminated (float scalar))``."""
    raise NotImplementedError

  def _observe(self, state_vec, goal, done) -> State:
    dist, success, reward = self._goal_outputs(state_vec, goal)
    obs = jnp.concatenate([state_vec, goal])
    return State(None, obs, reward, done, {"success": success, "dist": dist})

  def reset(self, rng: jax.Array) -> State:
    state_vec, goal = self._reset_state(rng)
    state = self._observe(state_vec, goal, jnp.zeros(()))
    return state.replace(reward=jnp.zeros(()))

  def reset_to_task(self, task: jax.Array, rng: jax.Array) -> State:
    """The seeded evaluation tasks: the episode ``reset(seeded_task_key(task))`` starts."""
    return self.reset(seeded_task_key(task))

  def step(self, state: State, action: jax.Array) -> State:
    state_vec, goal = self.split_obs(state.obs)
    next_state, terminated = self._transition(state_vec, action)
    return self._observe(next_state, goal, terminated)


class ReachProbe(ProbeEnv):
  """One step: the action is the next position; success iff ``|a - g| < 0.2``."""

  state_size = 1
  goal_indices = (0,)

  def __init__(self):
    super().__init__(goal_threshold=0.2, episode_length=1)

  def _reset_state(self, rng):
    return jnp.zeros((1,)), jax.random.uniform(rng, (1,), minval=-0.8, maxval=0.8)

  def _transition(self, state_vec, action):
    return jnp.clip(action, -1.0, 1.0), jnp.ones(())


class BootstrapProbe(ProbeEnv):
  """Reward 1 every step; half the episodes are truncated at 2 steps, half terminate at 2."""

  state_size = 2
  goal_indices = (0,)

  def __init__(self):
    # Every state is within 10 of the goal 0: success (reward 1) at every step.
    super().__init__(goal_threshold=10.0, episode_length=2)

  def _reset_state(self, rng):
    kind = jax.random.bernoulli(rng).astype(jnp.float32)  # 1: terminating episode
    return jnp.stack([kind, 0.0]), jnp.zeros((1,))

  def _transition(self, state_vec, action):
    kind, t = state_vec[0], state_vec[1] + state_vec[0]  # time is visible in kind-1 only
    return jnp.stack([kind, t]), (kind * (t >= 2.0)).astype(jnp.float32)


class EarlyEndProbe(ProbeEnv):
  """The episode terminates after ``n ~ U{1..max_length}`` steps, far before the time limit."""

  state_size = 2
  goal_indices = (0,)

  def __init__(self, max_length: int = 6, episode_length: int = 40):
    # Goals are times (integers): success iff the time equals the goal.
    super().__init__(goal_threshold=0.5, episode_length=episode_length)
    self.max_length = int(max_length)

  def _reset_state(self, rng):
    end = jax.random.randint(rng, (), 1, self.max_length + 1).astype(jnp.float32)
    return jnp.stack([0.0, end]), end[None]  # commanded goal: the time it ends

  def _transition(self, state_vec, action):
    t, end = state_vec[0] + 1.0, state_vec[1]
    return jnp.stack([t, end]), (t >= end).astype(jnp.float32)


class ChainProbe(ProbeEnv):
  """A chain of ``num_states`` cells ``0 .. N-1``: an action above 1/3 moves one cell right, below
  -1/3 one cell left (staying put at the ends), else stays. State and goal: the cell, one-hot
  (``[N]``; a scalar index would look alike to networks whose first layer is normalised).

  Start and goal cells are uniform; success iff the agent is on the goal cell; the episode never
  terminates (time limit ``episode_length``). The true distance from cell ``i`` to cell ``j`` is
  ``|j - i|`` steps, so a learned distance can be checked against it.
  """

  def __init__(self, num_states: int = 10, episode_length: int = 20):
    self.num_states = int(num_states)
    self.state_size = self.num_states
    self.goal_indices = tuple(range(self.num_states))
    super().__init__(goal_threshold=0.5, episode_length=episode_length)

  def one_hot(self, cell: jax.Array) -> jax.Array:
    """``cell [...] int -> [..., N]``: the state (and goal) of that cell."""
    return jax.nn.one_hot(cell, self.num_states)

  def _reset_state(self, rng):
    cells = jax.random.randint(rng, (2,), 0, self.num_states)
    return self.one_hot(cells[0]), self.one_hot(cells[1])

  def _transition(self, state_vec, action):
    move = (action[0] > 1 / 3).astype(jnp.int32) - (action[0] < -1 / 3).astype(jnp.int32)
    cell = jnp.clip(jnp.argmax(state_vec) + move, 0, self.num_states - 1)
    return self.one_hot(cell), jnp.zeros(())
