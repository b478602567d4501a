"""The environment contract, checked for every registered env.

One jitted probe per env runs a batch of envs through ``VectorGoalEnv`` (so the env's ``reset``
and ``step`` are jitted and vmapped; every start is drawn by the auto-reset) for 200 random steps
with short episodes. The same compiled step also checks hindsight relabelling: one extra slot
re-takes, one step later, the first step of its neighbour with the goal set to the goal that step
achieved, and must count as success. Every check shares the one compiled step (compiling the
physics is most of the suite's time).

The probes are built two at a time in background threads, in test order. ``conftest.py`` runs
this module last and submits them once the learning runs are over, so they compile while the
tests in between run (XLA compiles on one core and releases the GIL; most tests leave a core idle).
"""

from concurrent.futures import Future, ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

import goalax.envs as envs
from goalax.envs import VectorGoalEnv, make_env

NUM_ENVS = 8  # rollout slots; two more slots run the hindsight check
SOURCE, RELABELED = NUM_ENVS, NUM_ENVS + 1
NUM_STEPS = 200
PROBE_EPISODE_LENGTH = 40


def build_probe(name):
  """Returns ``(env, (start, rollout, check))`` for env ``name``.

  ``start``: ``obs`` and ``traj_id`` of the first observed batch; ``rollout``: per-step arrays
  ``[NUM_STEPS, NUM_ENVS, ...]`` of the rollout slots; ``check``: the relabelled step's
  ``success``, ``dist``, ``reward``, ``goal`` and the ``achieved`` goal it was given.

  The scan starts one step early, from a blank batch (zeros) whose episodes are all at their time
  limit: that step's auto-reset draws every start, so ``reset`` is compiled once, inside ``step``
  (a separate first reset costs ~15% of the probe's compile: arm_grasp 32 -> 28 s).
  """
  env = make_env(name)
  venv = VectorGoalEnv(env, NUM_ENVS + 2, episode_length=PROBE_EPISODE_LENGTH)
  at = lambda slot: lambda x: x[slot]

  def blank_batch_at_its_time_limit(key):
    blank = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(venv.reset, key))
    n = venv.num_envs
    blank.info.update(
      rng=jax.random.split(key, n),
      traj_id=jnp.full((n,), -1, jnp.int32),
      steps=jnp.full((n,), venv.episode_length - 1, jnp.int32),
    )
    return blank

  @fast_jit
  def run(key):
    blank = blank_batch_at_its_time_limit(jax.random.fold_in(key, 0))
    # The source slot's state and action at t = 0, and the goal its step achieved.
    saved0 = (jax.tree.map(at(SOURCE), blank), jnp.zeros(env.action_size), jnp.zeros(env.goal_size))

    def body(carry, t_and_key):
      state, (src_state, src_action, src_achieved) = carry
      t, k = t_and_key  # t = -1: the blank step
      action = jax.random.uniform(k, (venv.num_envs, env.action_size), minval=-1.0, maxval=1.0)
      # At t = 1 the relabeled slot restarts from the source slot's t = 0 state and action, with
      # the goal part of its observation set to the goal that step achieved.
      relabeled = src_state.replace(obs=src_state.obs.at[env.state_size :].set(src_achieved))
      is_check = t == 1
      state = jax.tree.map(
        lambda x, r: x.at[RELABELED].set(jnp.where(is_check, r, x[RELABELED])), state, relabeled
      )
      action = action.at[RELABELED].set(jnp.where(is_check, src_action, action[RELABELED]))
      nxt = venv.step(state, action)
      achieved = env.achieved_goal(nxt.info["terminal_obs"][SOURCE, : env.state_size])
      first = t == 0
      saved = jax.tree.map(
        lambda new, old: jnp.where(first, new, old),
        (jax.tree.map(at(SOURCE), state), action[SOURCE], achieved),
        (src_state, src_action, src_achieved),
      )
      out = dict(
        obs=nxt.obs,
        done=nxt.done,
        traj_id=nxt.info["traj_id"],
        steps=nxt.info["steps"],
        success=nxt.metrics["success"],
        dist=nxt.metrics["dist"],
        reward=nxt.reward,
        terminal_obs=nxt.info["terminal_obs"],
      )
      return (nxt, saved), out

    steps = (jnp.arange(-1, NUM_STEPS), jax.random.split(jax.random.fold_in(key, 1), NUM_STEPS + 1))
    (_, (_, _, achieved)), outs = jax.lax.scan(body, (blank, saved0), steps)
    start = {k: outs[k][0, :NUM_ENVS] for k in ("obs", "traj_id")}
    rollout = jax.tree.map(lambda x: x[1:], outs)
    check = dict(
      success=rollout["success"][1, RELABELED],
      dist=rollout["dist"][1, RELABELED],
      reward=rollout["reward"][1, RELABELED],
      goal=rollout["terminal_obs"][1, RELABELED, env.state_size :],
      achieved=achieved,
    )
    rollout = {k: v[:, :NUM_ENVS] for k, v in rollout.items() if k != "reward"}
    return start, rollout, check

  return env, run(jax.random.PRNGKey(0))


# The OGBench maze ports differ between mazes only in their maps' tables (their five tasks in each
# maze: tests/test_ogbench_mazes.py); the contract is held on the medium maze of each robot, as
# each port costs minutes to compile (RK4, 20 model evaluations per control step).
ALL_ENVS = [
  name for name in envs.env_names() if not name.startswith("ogbench_") or name.endswith("_medium")
]


_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="probe")
_probes: dict[str, Future] = {}


def submit_probes(names):
  """Starts building the probes of ``names`` (in this order) in the background, once each."""
  for name in names:
    if name not in _probes:
      _probes[name] = _pool.submit(build_probe, name)


def cancel_pending_probes():
  _pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture(scope="session")
def probe():
  """``probe(name)`` returns ``build_probe(name)``, built once per env."""

  def get(name):
    submit_probes([name])
    return _probes[name].result()

  return get


@pytest.mark.parametrize("name", ALL_ENVS)
def test_declared_sizes_match_observation(probe, name):
  env, (start, rollout, _) = probe(name)
  assert env.observation_size == env.state_size + env.goal_size
  assert start["obs"].shape == (NUM_ENVS, env.observation_size)
  assert rollout["obs"].shape == (NUM_STEPS, NUM_ENVS, env.observation_size)
  assert all(0 <= i < env.state_size for i in env.goal_indices)
  assert env.goal_threshold > 0 and env.episode_length > 0
  assert env.backend == env.default_backend


@pytest.mark.parametrize("name", ALL_ENVS)
def test_random_rollout_stays_finite(probe, name):
  _, (_, rollout, _) = probe(name)
  for key in ("obs", "terminal_obs", "dist", "success"):
    assert np.isfinite(np.asarray(rollout[key])).all(), key
  assert set(np.unique(rollout["success"])) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ALL_ENVS)
def test_goal_part_is_the_commanded_goal_and_dist_matches(probe, name):
  env, (_, rollout, _) = probe(name)
  obs = np.asarray(rollout["terminal_obs"])  # the observation the step produced, before resets
  state, goal = obs[..., : env.state_size], obs[..., env.state_size :]
  achieved = state[..., list(env.goal_indices)]
  np.testing.assert_allclose(
    np.linalg.norm(achieved - goal, axis=-1), rollout["dist"], rtol=1e-4, atol=1e-5
  )
  # Within an episode the goal part never changes: it is the goal drawn at reset.
  same_episode = ~np.asarray(rollout["done"][1:] > 0)
  goals = np.asarray(rollout["obs"])[..., env.state_size :]
  np.testing.assert_array_equal(goals[1:][same_episode], goals[:-1][same_episode])


@pytest.mark.parametrize("name", ALL_ENVS)
def test_achieved_goal_on_goal_is_success(probe, name):
  _, (_, _, check) = probe(name)
  np.testing.assert_allclose(check["goal"], check["achieved"])
  assert float(check["dist"]) < 1e-4
  assert float(check["success"]) == 1.0
  assert float(check["reward"]) == 1.0  # sparse reward = success


@pytest.mark.parametrize("name", ALL_ENVS)
def test_auto_reset_draws_a_fresh_start_and_counts_trajectories(probe, name):
  env, (start, rollout, _) = probe(name)
  done = np.asarray(rollout["done"]) > 0
  traj = np.asarray(rollout["traj_id"])
  steps = np.asarray(rollout["steps"])
  assert done.sum(axis=0).min() >= NUM_STEPS // PROBE_EPISODE_LENGTH  # time limit ends episodes
  assert (np.asarray(start["traj_id"]) == 0).all()
  prev_traj = np.concatenate([np.asarray(start["traj_id"])[None], traj[:-1]])
  np.testing.assert_array_equal(traj - prev_traj, done.astype(int))  # +1 exactly at resets
  assert (steps[done] == 0).all()
  assert steps.max() <= PROBE_EPISODE_LENGTH - 1
  # Each reset draws a fresh start and goal (Brax's stock auto-reset would restore the slot's
  # first state every time). A fresh draw may repeat one: the reference's humanoid mazes start
  # without noise and draw goals among a few cell centres, its cheetah's goal is fixed; so at
  # most half of the later episodes may start exactly as their slot's first did.
  obs = np.asarray(rollout["obs"]).round(6)
  first = np.asarray(start["obs"]).round(6)
  repeats = [(obs[t, slot] == first[slot]).all() for slot, t in zip(*np.nonzero(done.T))]
  assert np.mean(repeats) <= 0.5, f"{np.mean(repeats):.2f} of the episodes restart as the first"


def test_unknown_env_name_is_a_clear_value_error():
  with pytest.raises(
    ValueError, match=r"Unknown environment 'antt'\. Did you mean 'ant'\?.*reacher"
  ):
    make_env("antt")
  with pytest.raises(ValueError, match=r"OGBench's antmaze-large-navigate-v0 is goalax's "):
    make_env("antmaze-large-navigate-v0")  # the port: --env ogbench_antmaze_large


def test_unknown_backend_is_a_clear_value_error():
  with pytest.raises(ValueError, match=r"Unknown backend 'sprung'.*Did you mean 'spring'"):
    make_env("reacher", backend="sprung")


def test_action_repeat_advances_physics_k_times():
  env = make_env("reacher")
  action = jnp.full((2, env.action_size), 0.5)
  one = VectorGoalEnv(env, 2)
  three = VectorGoalEnv(env, 2, action_repeat=3)
  key = jax.random.PRNGKey(3)
  a, b = fast_jit(one.reset)(key), fast_jit(three.reset)(key)
  step_one = fast_jit(one.step)
  for _ in range(3):
    a = step_one(a, action)
  b = fast_jit(three.step)(b, action)
  np.testing.assert_allclose(a.obs, b.obs, rtol=1e-5, atol=1e-6)
  assert int(b.info["steps"][0]) == 1


def test_assets_load_from_any_working_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert make_env("pusher_hard").state_size == 20


def test_cheetah_total_mass_is_set_without_the_deprecated_compiler_attribute():
  """MuJoCo 4 deprecates ``settotalmass`` (half_cheetah.xml has 14): goalax scales the density
  instead, which must give the masses and inertias of ``mj_setTotalmass`` on the unscaled model."""
  import mujoco

  from goalax.envs import assets

  root = assets.brax_model_xml("half_cheetah.xml")
  assert root.find("compiler").get("settotalmass") == "14"
  edited = assets._with_total_mass_from_density(root)
  assert "settotalmass" not in edited.find("compiler").attrib
  ours = assets.mujoco_model(edited)
  root.find("compiler").attrib.pop("settotalmass")
  reference = assets.mujoco_model(root)
  mujoco.mj_setTotalmass(reference, 14.0)
  np.testing.assert_allclose(ours.body_mass, reference.body_mass, rtol=1e-12)
  np.testing.assert_allclose(ours.body_inertia, reference.body_inertia, rtol=1e-12)
  assert abs(ours.body_mass.sum() - 14.0) < 1e-9
  np.testing.assert_allclose(
    np.sum(make_env("cheetah_random_target").sys.link.inertia.mass), 14.0, rtol=1e-6
  )


def test_cheetah_weighs_what_the_reference_s_cheetah_weighs():
  """The reference's settotalmass (14) also counted its 1 kg target sphere: its cheetah's links
  are all lighter by one factor, s = 14 / (M + 1) with M brax's density-given mass."""
  from goalax.envs import assets

  natural = assets.total_mass_without_settotalmass(assets.brax_model_xml("half_cheetah.xml"))
  brax_cheetah = make_env("cheetah_random_target").sys.link.inertia
  reference_cheetah = make_env("cheetah").sys.link.inertia
  scale = (14.0 / (natural + 1.0)) * natural / 14.0
  np.testing.assert_allclose(reference_cheetah.mass, brax_cheetah.mass * scale, rtol=1e-5)
  np.testing.assert_allclose(reference_cheetah.i, brax_cheetah.i * scale, rtol=1e-5, atol=1e-9)
  np.testing.assert_allclose(
    np.sum(reference_cheetah.mass), 14.0 - 14.0 / (natural + 1.0), rtol=1e-6
  )


def test_reference_backend_value_picks_the_reference_s_backend_or_says_there_is_none():
  assert make_env("cheetah", backend="reference").backend == "mjx"
  assert make_env("reacher", backend="reference").backend == "generalized"
  with pytest.raises(ValueError, match=r"goalax's own task.*--backend.*spring"):
    make_env("cheetah_random_target", backend="reference")


def test_cheetah_keeps_the_reference_s_target_and_the_random_target_variant_its_own():
  env, other = make_env("cheetah"), make_env("cheetah_random_target")
  keys = jax.random.split(jax.random.PRNGKey(0), 64)
  goals = jax.vmap(lambda k: env._sample_start_and_goal(k)[2])(keys)
  np.testing.assert_array_equal(goals, 5.0)
  q, _, goal = jax.vmap(other._sample_start_and_goal)(keys)
  offset = np.asarray(goal[:, 0] - q[:, 0])
  assert np.all((np.abs(offset) >= 2.0) & (np.abs(offset) <= 6.0))
  assert (offset > 0).any() and (offset < 0).any()


def test_backend_that_does_not_work_for_the_env_says_which_do():
  with pytest.raises(
    ValueError, match=r"Backend 'generalized' does not work for env 'ant'.*spring"
  ):
    make_env("ant", backend="generalized")
