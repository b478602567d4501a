"""Deterministic evaluation on fresh goals.

``num_eval_envs`` episodes run in parallel with the deterministic policy (tanh of the mean). An
episode that terminates early (e.g. the ant fell) is frozen at its last state for the rest of the
time limit. Metrics (each a scalar, averaged over episodes):

- ``eval/success``         fraction of episodes that reach the goal at least once;
- ``eval/time_near_goal``  fraction of the episode's steps spent within the goal threshold;
- ``eval/final_dist``      distance to the goal at the end of the episode;
- ``eval/min_dist``        closest distance to the goal during the episode;
- ``eval/episode_success_any`` and ``eval/episode_success``: the same as ``eval/success`` and
  ``eval/time_near_goal`` × episode length, under JaxGCRL's keys so existing dashboards work.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax.envs import GoalEnv
from goalax.envs.core import repeat_action_step


def _step_until_done(env: GoalEnv, state, alive, action, action_repeat: int):
  """One step of every episode; an episode that has terminated stays frozen at its last state.

  ``state``: env State batched over episodes; ``alive [E]``: 1 while an episode runs. Returns
  ``(next state, next alive)``."""
  nxt = jax.vmap(lambda s, a: repeat_action_step(env, s, a, action_repeat))(state, action)
  keep = lambda new, old: jnp.where(alive.reshape((-1,) + (1,) * (old.ndim - 1)) > 0, new, old)
  nxt = jax.tree.map(keep, nxt, state)
  return nxt, alive * (1.0 - nxt.done)


def make_evaluator(
  env: GoalEnv, act: Callable, num_eval_envs: int, episode_length: int, action_repeat: int = 1
) -> Callable[[object, jax.Array], dict]:
  """Returns ``evaluate(actor_params, key) -> metrics`` (pure, jit- and vmap-able)."""

  def evaluate(actor_params, key):
    states = jax.vmap(env.reset)(jax.random.split(key, num_eval_envs))
    alive = jnp.ones((num_eval_envs,))

    def step(carry, _):
      state, alive = carry
      action = act(actor_params, state.obs, key, True)
      nxt, next_alive = _step_until_done(env, state, alive, action, action_repeat)
      success = nxt.metrics["success"] * alive
      return (nxt, next_alive), (success, nxt.metrics["dist"])

    _, (success_te, dist_te) = jax.lax.scan(step, (states, alive), None, length=episode_length)
    reached = success_te.max(axis=0)
    near = success_te.mean(axis=0)
    return {
      "eval/success": reached.mean(),
      "eval/time_near_goal": near.mean(),
      "eval/final_dist": dist_te[-1].mean(),
      "eval/min_dist": dist_te.min(axis=0).mean(),
      "eval/episode_success_any": reached.mean(),
      "eval/episode_success": success_te.sum(axis=0).mean(),
    }

  return evaluate


def make_episode_recorder(
  env: GoalEnv,
  act: Callable,
  num_episodes: int,
  episode_length: int,
  action_repeat: int = 1,
  deterministic: bool = True,
) -> Callable[[object, jax.Array], tuple]:
  """Returns ``record(actor_params, key) -> (first, states)`` for watching a policy.

  ``first`` is the env State of the episodes' starts (batched over ``num_episodes``), ``states``
  the States after each step, ``[episode_length, num_episodes, ...]``; episodes run as in
  evaluation (fresh goals, frozen once terminated). Each step's action gets its own key, so a
  stochastic or random ``act`` explores.
  """

  def record(actor_params, key):
    k_reset, k_act = jax.random.split(key)
    first = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))

    def step(carry, k):
      state, alive = carry
      action = act(actor_params, state.obs, k, deterministic)
      nxt, next_alive = _step_until_done(env, state, alive, action, action_repeat)
      return (nxt, next_alive), nxt

    carry = (first, jnp.ones((num_episodes,)))
    _, states = jax.lax.scan(step, carry, jax.random.split(k_act, episode_length))
    return first, states

  return record
