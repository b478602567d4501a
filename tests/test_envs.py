"""The environment contract, checked for every registered env.

One jitted probe per env runs 8 envs in parallel through ``VectorGoalEnv`` (so ``reset``/``step``
are jitted and vmapped) for 200 random steps with short episodes, and also checks that putting the
achieved goal on the goal gives success. Compiling once per env keeps the suite fast.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import goalax.envs as envs
from goalax.envs import VectorGoalEnv, make_env

NUM_ENVS = 8
NUM_STEPS = 200
PROBE_EPISODE_LENGTH = 40
# XLA's backend optimisations cost more compile time than they save on 200 steps of 8 envs
# (ant: 27 s -> 16 s to compile, 0.3 s -> 1.9 s to run).
fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


@functools.lru_cache(maxsize=None)
def probe(name):
  env = make_env(name)
  venv = VectorGoalEnv(env, NUM_ENVS, episode_length=PROBE_EPISODE_LENGTH)

  @fast_jit
  def run(key):
    k_reset, k_steps, k_action = jax.random.split(key, 3)
    state0 = venv.reset(k_reset)

    def body(state, k):
      action = jax.random.uniform(k, (NUM_ENVS, env.action_size), minval=-1.0, maxval=1.0)
      nxt = venv.step(state, action)
      return nxt, dict(obs=nxt.obs, done=nxt.done, traj_id=nxt.info["traj_id"],
                       steps=nxt.info["steps"], success=nxt.metrics["success"],
                       dist=nxt.metrics["dist"], terminal_obs=nxt.info["terminal_obs"])

    _, rollout = jax.lax.scan(body, state0, jax.random.split(k_steps, NUM_STEPS))

    # Hindsight check on the raw env: step once, then put the achieved goal of the result on the
    # goal of the starting state and take the same step again: it must count as success.
    single = jax.tree.map(lambda x: x[0], state0.replace(info={}))
    action = jax.random.uniform(k_action, (env.action_size,), minval=-1.0, maxval=1.0)
    first = env.step(single, action)
    achieved = env.achieved_goal(first.obs[: env.state_size])
    relabeled = single.replace(obs=single.obs.at[env.state_size:].set(achieved))
    again = env.step(relabeled, action)
    return state0, rollout, dict(success=again.metrics["success"], dist=again.metrics["dist"],
                                 reward=again.reward, goal=again.obs[env.state_size:],
                                 achieved=achieved)

  return env, run(jax.random.PRNGKey(0))


ALL_ENVS = envs.env_names()


@pytest.mark.parametrize("name", ALL_ENVS)
def test_declared_sizes_match_observation(name):
  env, (state0, rollout, _) = probe(name)
  assert env.observation_size == env.state_size + env.goal_size
  assert state0.obs.shape == (NUM_ENVS, env.observation_size)
  assert rollout["obs"].shape == (NUM_STEPS, NUM_ENVS, env.observation_size)
  assert all(0 <= i < env.state_size for i in env.goal_indices)
  assert env.goal_threshold > 0 and env.episode_length > 0
  assert env.backend == env.default_backend


@pytest.mark.parametrize("name", ALL_ENVS)
def test_random_rollout_stays_finite(name):
  _, (_, rollout, _) = probe(name)
  for key in ("obs", "terminal_obs", "dist", "success"):
    assert np.isfinite(np.asarray(rollout[key])).all(), key
  assert set(np.unique(rollout["success"])) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ALL_ENVS)
def test_goal_part_is_the_commanded_goal_and_dist_matches(name):
  env, (_, rollout, _) = probe(name)
  obs = np.asarray(rollout["terminal_obs"])  # the observation the step produced, before resets
  state, goal = obs[..., : env.state_size], obs[..., env.state_size:]
  achieved = state[..., list(env.goal_indices)]
  np.testing.assert_allclose(np.linalg.norm(achieved - goal, axis=-1), rollout["dist"],
                             rtol=1e-4, atol=1e-5)
  # Within an episode the goal part never changes: it is the goal drawn at reset.
  same_episode = ~np.asarray(rollout["done"][1:] > 0)
  goals = np.asarray(rollout["obs"])[..., env.state_size:]
  np.testing.assert_array_equal(goals[1:][same_episode], goals[:-1][same_episode])


@pytest.mark.parametrize("name", ALL_ENVS)
def test_achieved_goal_on_goal_is_success(name):
  _, (_, _, check) = probe(name)
  np.testing.assert_allclose(check["goal"], check["achieved"])
  assert float(check["dist"]) < 1e-4
  assert float(check["success"]) == 1.0
  assert float(check["reward"]) == 1.0  # sparse reward = success


@pytest.mark.parametrize("name", ALL_ENVS)
def test_auto_reset_draws_fresh_goal_and_counts_trajectories(name):
  env, (state0, rollout, _) = probe(name)
  done = np.asarray(rollout["done"]) > 0
  traj = np.asarray(rollout["traj_id"])
  steps = np.asarray(rollout["steps"])
  assert done.sum(axis=0).min() >= NUM_STEPS // PROBE_EPISODE_LENGTH  # time limit ends episodes
  prev_traj = np.concatenate([np.asarray(state0.info["traj_id"])[None], traj[:-1]])
  np.testing.assert_array_equal(traj - prev_traj, done.astype(int))  # +1 exactly at resets
  assert (steps[done] == 0).all()
  assert steps.max() <= PROBE_EPISODE_LENGTH - 1
  # Every slot sees several different goals over its episodes.
  goals = np.asarray(rollout["obs"])[..., env.state_size:]
  for slot in range(NUM_ENVS):
    episode_goals = np.stack([goals[t, slot] for t in np.flatnonzero(done[:, slot])])
    assert len(np.unique(episode_goals.round(6), axis=0)) == len(episode_goals), slot


def test_unknown_env_name_is_a_clear_value_error():
  with pytest.raises(ValueError, match=r"Unknown environment 'antt'\. Did you mean 'ant'\?.*reacher"):
    make_env("antt")


def test_unknown_backend_is_a_clear_value_error():
  with pytest.raises(ValueError, match=r"Unknown backend 'sprung'.*Did you mean 'spring'"):
    make_env("reacher", backend="sprung")


def test_action_repeat_advances_physics_k_times():
  env = make_env("reacher")
  action = jnp.full((2, env.action_size), 0.5)
  one = VectorGoalEnv(env, 2)
  three = VectorGoalEnv(env, 2, action_repeat=3)
  key = jax.random.PRNGKey(3)
  a, b = one.reset(key), three.reset(key)
  for _ in range(3):
    a = one.step(a, action)
  b = three.step(b, action)
  np.testing.assert_allclose(a.obs, b.obs, rtol=1e-5, atol=1e-6)
  assert int(b.info["steps"][0]) == 1


def test_assets_load_from_any_working_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert make_env("pusher_hard").state_size == 20


def test_backend_that_does_not_work_for_the_env_says_which_do():
  with pytest.raises(ValueError, match=r"Backend 'generalized' does not work for env 'ant'.*spring"):
    make_env("ant", backend="generalized")
