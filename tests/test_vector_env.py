"""VectorGoalEnv's auto-reset under ``vmap`` (training vmaps every step over seeds)."""

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
from fast_compile import fast_jit

from goalax.envs import VectorGoalEnv, make_env

NUM_ENVS = 3


def _two_seeds_one_at_its_time_limit():
  """A venv with episode length 2 and a state batched over 2 seeds: every slot of seed 0 ends
  its episode at the next step, no slot of seed 1 does."""
  env = make_env("reacher")
  venv = VectorGoalEnv(env, NUM_ENVS, episode_length=2)
  states = fast_jit(jax.vmap(venv.reset))(jax.random.split(jax.random.PRNGKey(0), 2))
  steps = jnp.array([[1] * NUM_ENVS, [0] * NUM_ENVS], jnp.int32)
  states.info["steps"] = steps
  actions = jnp.zeros((2, NUM_ENVS, env.action_size))
  return env, venv, states, actions


def _count_conds(jaxpr) -> int:
  """Number of ``cond`` equations in a jaxpr, sub-jaxprs included."""
  count = 0
  for eqn in jaxpr.eqns:
    count += eqn.primitive.name == "cond"
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      count += _count_conds(sub)
  return count


def test_auto_reset_under_vmap_stays_a_conditional():
  # A batched predicate would turn the reset's lax.cond into a select (a full reset of every
  # slot at every step); the predicate is reduced across the vmapped seeds instead, so vmap
  # keeps every cond of the step.
  _, venv, states, actions = _two_seeds_one_at_its_time_limit()
  one_seed = jax.tree.map(lambda x: x[0], (states, actions))
  alone = _count_conds(jax.make_jaxpr(venv.step)(*one_seed).jaxpr)
  batched = _count_conds(jax.make_jaxpr(jax.vmap(venv.step))(states, actions).jaxpr)
  assert alone >= 1
  assert batched == alone


def test_auto_reset_under_vmap_gives_fresh_goals_and_matches_each_seed_alone():
  env, venv, states, actions = _two_seeds_one_at_its_time_limit()
  # XLA's full compile: with the env's step jitted inside (GoalEnv.jit_step) the cheapest compile
  # rounds the batched and the single program a few ulps apart in position, which brax's
  # velocities (position changes over a small dt) magnify to 1e-5; the full compile agrees.
  batched = jax.jit(jax.vmap(venv.step))(states, actions)
  step_alone = jax.jit(venv.step)
  for seed in range(2):
    alone = step_alone(jax.tree.map(lambda x: x[seed], states), actions[seed])
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a[seed], b, rtol=1e-6, atol=1e-6), batched, alone
    )
  goal_before = np.asarray(env.split_obs(states.obs)[1])
  goal_after = np.asarray(env.split_obs(batched.obs)[1])
  # Seed 0: every slot reset with a new goal, a new trajectory id, time 0, and the old goal kept
  # in the terminal observation.
  assert np.all(np.abs(goal_after[0] - goal_before[0]).max(axis=-1) > 1e-4)
  np.testing.assert_array_equal(batched.info["traj_id"][0], 1)
  np.testing.assert_array_equal(batched.info["steps"][0], 0)
  np.testing.assert_array_equal(batched.done[0], 1.0)
  np.testing.assert_array_equal(env.split_obs(batched.info["terminal_obs"])[1][0], goal_before[0])
  # Seed 1: mid-episode, nothing reset although seed 0 reset in the same call.
  np.testing.assert_array_equal(goal_after[1], goal_before[1])
  np.testing.assert_array_equal(batched.info["traj_id"][1], 0)
  np.testing.assert_array_equal(batched.info["steps"][1], 1)
  np.testing.assert_array_equal(batched.done[1], 0.0)
