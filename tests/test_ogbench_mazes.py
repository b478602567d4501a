"""The ports of OGBench's mazes (goalax.envs.ogbench_maze) against the ``ogbench`` package's envs.

For every ported maze: OGBench's five tasks start and end at the same cells, and the port draws
its starts and goals with OGBench's noise. For one maze per robot (medium; the others differ only
in their walls' table): from the same state under the same random actions, for ``NUM_STEPS``
control steps, the port's observations stay within ``TOLERANCE`` of OGBench's C MuJoCo. One
compiled program per robot runs the five tasks' rollouts (``docs/ogbench.md`` gives the errors
measured, which these tolerances bound).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.envs import make_env
from goalax.envs.ogbench_maze import MAZE_TYPES, POSITION_NOISE, ogbench_env_id

ogbench = pytest.importorskip("ogbench", reason="the ogbench extra (pip install goalax[ogbench])")
gymnasium = pytest.importorskip("gymnasium")

ROBOTS = ("point", "ant")
NUM_STEPS = 50  # control steps (5 s) from each task's start
# Largest |port − OGBench| allowed (measured, default fast solver: docs/ogbench.md): after the
# first control step from the same state, on the positions (qpos) and on the velocities (qvel,
# the ant's only), and on x, y over the NUM_STEPS steps (the ant's contacts make small
# differences grow, as between any two solvers). Measured: point 7e-7, -, 0.0093; ant 0.015,
# 0.2, 0.13.
POSITION_SIZE = {"point": 2, "ant": 15}
FIRST_STEP_TOLERANCE = {"point": (0.02, 0.0), "ant": (0.03, 0.4)}
XY_TOLERANCE = {"point": 0.02, "ant": 0.25}


def ogbench_env(robot: str, maze: str):
  return gymnasium.make(ogbench_env_id(robot, maze)).unwrapped


def port_name(robot: str, maze: str) -> str:
  return f"ogbench_{robot}maze_{maze}"


@pytest.mark.parametrize("robot", ROBOTS)
@pytest.mark.parametrize("maze", MAZE_TYPES)
def test_tasks_have_ogbench_start_and_goal_cells(robot, maze):
  reference = ogbench_env(robot, maze)
  env = make_env(port_name(robot, maze))
  starts, goals = env.layout.task_cells_xy()
  assert env.eval_tasks == tuple(info["task_name"] for info in reference.task_infos)
  for k, info in enumerate(reference.task_infos):
    np.testing.assert_allclose(starts[k], info["init_xy"])
    np.testing.assert_allclose(goals[k], info["goal_xy"])
  assert env.goal_threshold == reference._goal_tol
  assert env.episode_length == gymnasium.spec(ogbench_env_id(robot, maze)).max_episode_steps
  assert env.state_size == reference.observation_space.shape[0]


@pytest.fixture(scope="module", params=ROBOTS)
def rollouts(request):
  """``(robot, env, first states [5], actions [5, T, A], port observations [5, T, S])``: the five
  medium tasks' starts, under random actions pushed towards a random direction (so that the
  point meets the walls)."""
  robot = request.param
  env = make_env(port_name(robot, "medium"))
  tasks = jnp.arange(len(env.eval_tasks))
  first = jax.vmap(env.reset_to_task)(tasks, jax.random.split(jax.random.PRNGKey(0), len(tasks)))
  k_dir, k_noise = jax.random.split(jax.random.PRNGKey(1))
  direction = jax.random.uniform(k_dir, (len(tasks), 1, env.action_size), minval=-1, maxval=1)
  noise = jax.random.uniform(k_noise, (len(tasks), NUM_STEPS, env.action_size), minval=-1, maxval=1)
  actions = jnp.clip(direction + 0.5 * noise, -1.0, 1.0)

  def step(state, action):
    state = env.step(state, action)
    return state, state.obs

  rollout = lambda state, acts: jax.lax.scan(step, state, acts)[1]

  obs = fast_jit(jax.vmap(rollout))(first, actions)
  return robot, env, first, np.asarray(actions, np.float64), np.asarray(obs)


def test_starts_and_goals_have_ogbench_noise(rollouts):
  _, env, first, _, _ = rollouts
  starts, goals = env.layout.task_cells_xy()
  state, goal = env.split_obs(np.asarray(first.obs))
  assert np.abs(state[:, :2] - starts).max() <= POSITION_NOISE
  assert np.abs(goal - goals).max() <= POSITION_NOISE
  assert np.abs(goal - goals).min() > 0  # the noise is drawn


def test_observations_follow_ogbench_physics(rollouts):
  robot, env, first, actions, obs = rollouts
  reference = ogbench_env(robot, "medium")
  reference.reset(seed=0)
  q, qd = np.asarray(first.pipeline_state.q, np.float64), np.asarray(first.pipeline_state.qd)
  positions, velocities, xy = [], [], []
  for k in range(len(actions)):
    reference.set_state(q[k], np.asarray(qd[k], np.float64))
    expected = np.stack([reference.step(a)[0] for a in actions[k]])
    error = np.abs(obs[k, :, : env.state_size] - expected)
    positions.append(error[0, : POSITION_SIZE[robot]].max())
    velocities.append(error[0, POSITION_SIZE[robot] :].max(initial=0.0))
    xy.append(error[:, :2].max())
  print(
    f"{robot} |port - ogbench|: first step qpos {max(positions):.2g}, qvel "
    f"{max(velocities):.2g}; x, y over {NUM_STEPS} steps {max(xy):.2g}"
  )
  assert max(positions) <= FIRST_STEP_TOLERANCE[robot][0]
  assert max(velocities) <= FIRST_STEP_TOLERANCE[robot][1]
  assert max(xy) <= XY_TOLERANCE[robot]
  if robot == "point":  # the point met a wall: some step moved it less than its action asks
    moved = np.abs(np.diff(obs[:, :, :2], axis=1))
    assert (moved < 0.2 * np.abs(actions[:, 1:]) - 1e-3).any()


def test_ogbench_dataset_loads_for_the_port(tmp_path, monkeypatch):
  """``--dataset ogbench:NAME`` with a port: a tiny file in OGBench's format (written here from
  OGBench's own env, with its qpos/qvel keys) loads for the matching port, its states are the
  port's states and their achieved goals the point's x, y."""
  from goalax import datasets
  from goalax.loops.offline_data import dataset_buffer

  reference = gymnasium.make("pointmaze-medium-v0")
  observations, actions, terminals = [], [], []
  for seed in range(2):
    ob, _ = reference.reset(seed=seed)
    for t in range(4):
      action = reference.action_space.sample()
      observations.append(ob), actions.append(action), terminals.append(float(t == 3))
      ob = reference.step(action)[0]
  observations = np.asarray(observations, np.float32)
  np.savez(
    tmp_path / "pointmaze-medium-navigate-v0.npz",
    observations=observations,
    actions=np.asarray(actions, np.float32),
    terminals=np.asarray(terminals, np.float32),
    qpos=observations,
    qvel=np.zeros_like(observations),
  )
  monkeypatch.setenv("OGBENCH_DATA_DIR", str(tmp_path))
  env = make_env("ogbench_pointmaze_medium")
  trajectories = datasets.load(
    "ogbench:pointmaze-medium-navigate-v0", env.state_size, env.action_size
  )
  buffer = dataset_buffer(trajectories, env, td=True)
  state, goal = env.split_obs(buffer.data["obs"][:, 0])
  np.testing.assert_array_equal(state, observations[trajectories.transition_rows()])
  np.testing.assert_array_equal(goal, state[:, :2])


@pytest.mark.parametrize("maze", MAZE_TYPES)
def test_wall_window_holds_ogbench_walls_near_the_robot(maze):
  """At points all over the maze, the window's boxes are OGBench's own wall boxes (same centre and
  size), and every OGBench wall box within 2 of the point (the window's reach) is among them."""
  model = ogbench_env("point", maze).model
  blocks = [
    (model.geom_pos[g], model.geom_size[g])
    for g in range(model.ngeom)
    if (model.geom(g).name or "").startswith("block_")
  ]
  env = make_env(port_name("point", maze))
  window = env._window
  rng = np.random.default_rng(0)
  cells = np.asarray(env.layout.free_cells_xy)
  points = cells[rng.integers(len(cells), size=200)] + rng.uniform(-2, 2, size=(200, 2))
  for xy in points:
    pos, size = map(np.asarray, window.boxes_at(jnp.asarray(xy)))
    placed = [(p, s) for p, s in zip(pos, size) if p[2] > window.PARK_Z]
    for p, s in placed:
      assert any(np.allclose(p, bp) and np.allclose(s, bs) for bp, bs in blocks), (xy, p)
    near = [bp for bp, bs in blocks if (np.abs(bp[:2] - xy) - bs[:2]).max() < window.reach]
    assert len(near) == len(placed), xy
