"""Env-specific behaviour of ant soccer, ant push and the humanoid (the pushers: test_pusher.py).

The contract every env shares is in ``test_envs.py``; here the physics and the start/goal
distributions particular to each family. One jitted zero-action rollout per env (batched over a
few hand-set starts) keeps compilation to a handful of programs.
"""

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import reference_physics
from fast_compile import fast_jit
from test_mazes import wall_contacts

from goalax.envs import assets, make_env
from goalax.envs.ant_ball import BALL_RADIUS, BALL_START_DISTANCE, GOAL_DISTANCE_FROM_BALL
from goalax.envs.ant_push import BLOCK_HALF_SIZE, BLOCK_START_XY
from goalax.envs.humanoid import (
  FAR_GEOMS,
  GOAL_DISTANCE,
  HEALTHY_Z_RANGE,
  SPRING_GEAR,
  reference_controls,
)


@functools.cache
def env_named(name):
  return make_env(name)


def zero_action_rollout(env, q, qd, num_steps):
  """Runs envs started at ``q [n, q_size]``, ``qd [n, qd_size]`` with zero actions.

  Returns numpy ``(obs [num_steps, n, obs_size], done [num_steps, n])``.
  """

  @fast_jit
  def run(q, qd):
    def one(q, qd):
      # A reset state (for its goal and metrics) moved to the given start.
      state = env.reset(jax.random.PRNGKey(0)).replace(pipeline_state=env.pipeline_init(q, qd))

      def body(s, _):
        s = env.step(s, jnp.zeros(env.action_size))
        return s, (s.obs, s.done)

      return jax.lax.scan(body, state, None, length=num_steps)[1]

    return jax.vmap(one, out_axes=1)(q, qd)

  return jax.tree.map(np.asarray, run(q, qd))


def samples(name, n=256):
  """``n`` starts and goals drawn by the env's sampler: ``(env, q [n, q], goal [n, goal])``.

  Calls the sampler without building physics states, which keeps compilation short
  (``GoalEnv.reset`` starts every episode from exactly these ``q``).
  """
  env = env_named(name)
  q, _, goal = fast_jit(jax.vmap(env._sample_start_and_goal))(
    jax.random.split(jax.random.PRNGKey(1), n)
  )
  return env, np.asarray(q), np.asarray(goal)


def cells_of(layout, xy):
  return {tuple(rc) for rc in np.asarray(layout.cell_of(xy))}


# ---- ant soccer -------------------------------------------------------------------------------

FEET = ("left", "right", "third", "fourth")
ANT_JOINTS = ["root"] + [f"{part}_{k}" for k in range(1, 5) for part in ("hip", "ankle")]


def names_of(model, kind, count):
  return [mujoco.mj_id2name(model, kind, i) for i in range(count)]


def test_ant_ball_is_the_reference_s_model_without_its_target():
  env = env_named("ant_ball")
  m = env.sys.mj_model
  assert "target" not in names_of(m, mujoco.mjtObj.mjOBJ_BODY, m.nbody)
  assert names_of(m, mujoco.mjtObj.mjOBJ_JOINT, m.njnt) == ANT_JOINTS + ["obj_slidex", "obj_slidey"]
  geoms = {name: i for i, name in enumerate(names_of(m, mujoco.mjtObj.mjOBJ_GEOM, m.ngeom))}
  # The ball: two spheres of radius 0.5, densities 1 and 0.1; only the second one collides, with
  # whatever has conaffinity 1: the floor, the torso and the feet (which so also touch each other).
  ball = m.body("object").id
  assert m.body_mass[ball] == pytest.approx(4 / 3 * np.pi * 0.5**3 * 1.1, rel=1e-5)
  assert [int(m.geom_contype[i]) for i in np.flatnonzero(m.geom_bodyid == ball)] == [0, 1]
  touching = {name for name, i in geoms.items() if m.geom_conaffinity[i] == 1}
  assert touching == {"floor", "torso_geom"} | {f"{leg}_foot_geom" for leg in FEET}
  assert (env._n_frames, float(env.dt)) == (10, pytest.approx(0.05))  # spring: 10 × 5 ms


def test_ant_ball_draws_the_reference_s_start_and_goal_from_the_same_key():
  # The reference's reset(PRNGKey(0)) is the first state of its recording (its target last), to
  # float32 rounding (one program draws it jitted, the other eagerly).
  data = reference_physics.load("ant_ball__spring")
  env = env_named("ant_ball")
  q, qd, goal = env._sample_start_and_goal(jax.random.PRNGKey(0))
  np.testing.assert_allclose(q, data["q"][0, :17], atol=1e-6)
  np.testing.assert_allclose(qd, data["qd"][0, :16], atol=1e-6)
  np.testing.assert_allclose(goal, data["q"][0, 17:19], atol=1e-6)
  assert not env.eval_task_noise  # the ball is placed with the goal


def test_ant_ball_goal_lies_on_a_circle_of_five_and_the_ball_a_fifth_of_the_way_off_by_one():
  env = env_named("ant_ball")
  q, qd, goal = map(
    np.asarray,
    fast_jit(jax.vmap(env._sample_start_and_goal))(jax.random.split(jax.random.PRNGKey(1), 256)),
  )
  ant, ball = q[:, :3], q[:, 15:17]
  np.testing.assert_allclose(np.linalg.norm(goal, axis=-1), 5.0, rtol=1e-5)
  # The reference takes the ball's y offset from the GOAL's angle: y = goal y / 5 + sin(angle).
  np.testing.assert_allclose(ball[:, 1], 0.4 * goal[:, 1], atol=1e-5)
  offset_x = ball[:, 0] - 0.2 * goal[:, 0]
  assert np.abs(offset_x).max() <= 1 + 1e-5 and offset_x.min() < -0.9 and offset_x.max() > 0.9
  assert np.abs(ant[:, :2]).max() <= 0.1 and np.abs(ant[:, 2] - 0.55).max() <= 0.1
  assert (qd[:, 14:16] == 0).all() and np.abs(qd[:, :14]).max() > 0.1  # the ball at rest


def test_ant_ball_slides_on_the_floor_and_is_stopped_by_the_torso():
  env = env_named("ant_ball")
  q0, qd0 = env.sys.init_q, jnp.zeros(env.sys.qd_size())  # the ant standing at the origin
  cases = {"kick": (3.0, 2.0), "at_ant": (2.5, -6.0)}  # ball x and x velocity, y = 0
  q = jnp.stack([q0.at[15].set(x) for x, _ in cases.values()])
  qd = jnp.stack([qd0.at[14].set(v) for _, v in cases.values()])
  obs, done = zero_action_rollout(env, q, qd, 30)
  ball_x = obs[..., 29]
  assert env.goal_indices == (29, 30) and env.state_size == 31  # ant 29, then the ball's x, y
  np.testing.assert_allclose(obs[..., 30], 0.0, atol=1e-4)
  # Floor friction stops a ball kicked at 2 m/s within about v² / 2g = 0.2 m (goalax's
  # ant_soccer ball, which doesn't touch the floor, rolls on for 2 m).
  kick = ball_x[:, 0]
  assert 3.1 < kick[-1] < 3.4 and np.abs(kick[-10:] - kick[-1]).max() < 1e-2
  # Thrown at the ant, the ball stops against the torso (radius 0.25; the ball's is 0.5).
  assert ball_x[:, 1].min() > 0.7 and not done.any()


def test_ant_soccer_starts_the_ball_near_the_ant_and_the_goal_a_few_metres_from_the_ball():
  _, q, goal = samples("ant_soccer")
  ant, ball = q[:, :2], q[:, 15:17]
  ant_to_ball = np.linalg.norm(ball - ant, axis=-1)
  assert (ant_to_ball > BALL_START_DISTANCE[0] - 0.2).all()
  assert (ant_to_ball < BALL_START_DISTANCE[1] + 0.2).all()
  ball_to_goal = np.linalg.norm(goal - ball, axis=-1)
  assert (ball_to_goal >= GOAL_DISTANCE_FROM_BALL[0] - 1e-4).all()
  assert (ball_to_goal <= GOAL_DISTANCE_FROM_BALL[1] + 1e-4).all()


def test_ball_rolls_slows_down_and_is_stopped_by_walls_and_the_ant():
  # u-maze: the ant starts at the origin in the top-left cell; the top corridor runs along +x
  # (cells at x = 0, 4, 8), walls above it from y = 2 and below cells x = 0, 4 from y = -2.
  env = env_named("ant_ball_u_maze")
  q0, qd0 = env.sys.init_q, jnp.zeros(env.sys.qd_size())  # the ant standing at the origin
  cases = {  # ball x, y and velocity
    "kick": ([4.0, 0.0], [2.0, 0.0]),
    "into_wall": ([4.0, 0.0], [0.0, 8.0]),
    "at_ant": ([2.5, 0.0], [-6.0, 0.0]),
  }
  q = jnp.stack([q0.at[15:17].set(jnp.array(p)) for p, _ in cases.values()])
  qd = jnp.stack([qd0.at[14:16].set(jnp.array(v)) for _, v in cases.values()])
  obs, _ = zero_action_rollout(env, q, qd, 40)
  ball, ball_vel, ant = obs[..., 29:31], obs[..., 31:33], obs[..., :2]
  assert env.goal_indices == (29, 30)
  # The ball's x, y are state entries 29, 30 (the ant's 29 entries come first).
  np.testing.assert_allclose(ball[0], q[:, 15:17] + 0.05 * qd[:, 14:16], atol=0.05)

  kick = list(cases).index("kick")
  assert ball[-1, kick, 0] > 4.0 + 1.0  # rolled on along the corridor
  speed = np.linalg.norm(ball_vel[:, kick], axis=-1)
  assert speed[-1] < 0.5 * speed[0]  # and slows down
  assert np.all(np.diff(speed) <= 1e-3)

  into_wall = list(cases).index("into_wall")
  # Free, the ball would roll 8 m; the wall's face is at y = 2.
  assert ball[:, into_wall, 1].max() < 2.0 - BALL_RADIUS + 0.15

  at_ant = list(cases).index("at_ant")
  # Free, the ball would roll through the ant to x < -3; it stops against the torso/legs
  # (torso radius 0.25 + ball radius 0.5) and bounces back off the ant.
  assert ball[:, at_ant, 0].min() > 0.6
  assert ball[-1, at_ant, 0] > ball[:, at_ant, 0].min() + 0.1
  assert ant[:, at_ant, 0].min() < ant[:, kick, 0].min() - 0.01  # the blow moved the ant back


@pytest.mark.parametrize("name", ["ant_ball_u_maze", "ant_ball_big_maze"])
def test_ant_ball_maze_starts_in_a_start_cell_with_the_ball_next_door(name):
  env, q, goal = samples(name)
  layout = env.layout
  ant, ball = q[:, :2], q[:, 15:17]
  assert cells_of(layout, ant) <= cells_of(layout, layout.start_cells_xy)
  ant_cells, ball_cells = np.asarray(layout.cell_of(ant)), np.asarray(layout.cell_of(ball))
  assert (np.abs(ant_cells - ball_cells).sum(axis=-1) == 1).all()  # 4-neighbouring cells
  for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # the whole ball lies in free space
    assert np.asarray(layout.is_free_xy(ball + BALL_RADIUS * np.array([dx, dy]))).all()
  assert cells_of(layout, goal) <= cells_of(layout, layout.goal_cells_xy())
  assert len(cells_of(layout, goal)) > 3  # goals spread over several cells


# ---- ant push ---------------------------------------------------------------------------------


def test_ant_push_is_the_reference_s_model_on_mjx():
  env = env_named("ant_push")
  assert env.backend == env.reference_backend == "mjx" and env.backends == ("mjx",)
  m = env.sys.mj_model
  assert "target" not in names_of(m, mujoco.mjtObj.mjOBJ_BODY, m.nbody)
  block_joints = [f"movable_{axis}_2_2" for axis in "xyz"]
  assert names_of(m, mujoco.mjtObj.mjOBJ_JOINT, m.njnt) == ANT_JOINTS + block_joints
  np.testing.assert_allclose(env.sys.init_q[2], 0.75)  # the reference's ant stands higher
  # Its own ant: geoms of density 40 (brax's: 5), the torso touching floor, walls and block.
  ant = m.body_rootid == m.body("torso").id
  brax_ant = assets.mujoco_model(assets.brax_model_xml("ant.xml")).body_mass.sum()
  assert m.body_mass[ant].sum() == pytest.approx(8 * brax_ant, rel=1e-5)
  torso = m.geom("torso_geom").id
  assert (m.geom_contype[torso], m.geom_conaffinity[torso]) == (1, 0)
  block = m.geom("block_M").id
  np.testing.assert_allclose(m.geom_size[block], [3.6, 3.6, 1.8])
  assert m.body_mass[m.geom_bodyid[block]] == pytest.approx(2e-4)
  walls = [m.geom(f"block_{c}").id for c in "ABCDEFG"]
  assert (m.geom_contype[walls] == 0).all() and (m.geom_conaffinity[walls] == 1).all()
  # 5 steps of 10 ms; the Newton solver with 4 iterations and 8 line-search steps.
  assert (env._n_frames, float(env.dt)) == (5, pytest.approx(0.05))
  assert (env.sys.opt.iterations, env.sys.opt.ls_iterations) == (4, 8)
  assert env.sys.opt.solver == mujoco.mjtSolver.mjSOL_NEWTON


def test_ant_push_draws_the_reference_s_start_and_goal_from_the_same_key():
  # The reference's reset(PRNGKey(0)) is the first state of its recording (its target last), to
  # float32 rounding.
  data = reference_physics.load("ant_push__mjx")
  env = env_named("ant_push")
  q, qd, goal = env._sample_start_and_goal(jax.random.PRNGKey(0))
  q = q.at[3:7].set(q[3:7] / jnp.linalg.norm(q[3:7]))  # as MJX's first state normalises it
  np.testing.assert_allclose(q, data["q"][0, :18], atol=1e-6)
  np.testing.assert_allclose(qd, data["qd"][0, :17], atol=1e-6)
  np.testing.assert_allclose(goal, data["q"][0, 18:20], atol=1e-6)
  assert env.eval_task_noise  # the goal is drawn apart from the start


def test_ant_push_goal_lies_beyond_the_block_east_or_north():
  env = env_named("ant_push")
  q, qd, goal = map(
    np.asarray,
    fast_jit(jax.vmap(env._sample_start_and_goal))(jax.random.split(jax.random.PRNGKey(1), 256)),
  )
  east = (goal[:, 0] >= 16) & (goal[:, 0] < 18) & (goal[:, 1] >= 8) & (goal[:, 1] < 10)
  north = (goal[:, 0] >= 8) & (goal[:, 0] < 10) & (goal[:, 1] >= 16) & (goal[:, 1] < 18)
  assert (east | north).all() and 0.3 < east.mean() < 0.7
  assert np.abs(q[:, :2]).max() <= 0.1 and np.abs(q[:, 2] - 0.75).max() <= 0.1  # the ant
  assert np.abs(q[:, 15:18]).max() <= 0.1  # the block at its place, (8, 8, 2), ±0.1
  # The reference zeroes its last four velocities: its target's and the block's y, z.
  assert (qd[:, 15:17] == 0).all() and np.abs(qd[:, 14]).max() > 0.1


def test_ant_push_dead_end_block_moves_when_pushed_blocks_the_path_and_stops_at_walls():
  env = env_named("ant_push_dead_end")
  q0, qd0 = env.sys.init_q, jnp.zeros(env.sys.qd_size())  # the ant standing at the origin
  cases = {  # ant velocity, block x, y, block velocity
    "ant_charges_south": ([0.0, -8.0], BLOCK_START_XY, [0.0, 0.0]),
    "block_to_west_wall": ([0.0, 0.0], [-3.0, -4.0], [-10.0, 0.0]),
  }
  q = jnp.stack([q0.at[15:17].set(jnp.array(b)) for _, b, _ in cases.values()])
  qd = jnp.stack(
    [qd0.at[:2].set(jnp.array(a)).at[14:16].set(jnp.array(v)) for a, _, v in cases.values()]
  )
  obs, _ = zero_action_rollout(env, q, qd, 40)
  ant, block = obs[..., :2], obs[..., 29:31]

  charge = list(cases).index("ant_charges_south")
  assert block[-1, charge, 1] < BLOCK_START_XY[1] - 0.2  # the ant pushed the block south
  # ... but never got past it: the torso stays north of the block's north face.
  assert (ant[:, charge, 1] > block[:, charge, 1] + BLOCK_HALF_SIZE).all()

  wall = list(cases).index("block_to_west_wall")
  # Free, the block would slide 2.5 m to x = -5.5; the west wall's face is at x = -6.
  assert block[-1, wall, 0] < -3.0 - 0.8
  assert block[:, wall, 0].min() > -6.0 + BLOCK_HALF_SIZE - 0.15


def test_ant_push_dead_end_goal_is_behind_the_block():
  _, q, goal = samples("ant_push_dead_end", n=64)
  np.testing.assert_allclose(q[:, 15:17], np.broadcast_to(BLOCK_START_XY, (64, 2)))
  assert np.linalg.norm(q[:, :2], axis=-1).max() < 0.2  # the ant starts at the origin
  # The goal cell is the dead end south of the block: x within the corridor, y beyond the block.
  assert (np.abs(goal[:, 0]) <= 1.0 + 1e-5).all()
  assert (goal[:, 1] < BLOCK_START_XY[1] - BLOCK_HALF_SIZE).all()


# ---- humanoid ---------------------------------------------------------------------------------


def test_humanoid_falls_without_control_and_the_episode_terminates():
  env = env_named("humanoid")
  q0, qd0 = env.sys.init_q, jnp.zeros(env.sys.qd_size())  # standing still at the origin
  obs, done = zero_action_rollout(env, q0[None], qd0[None], 150)
  torso_z = obs[:, 0, 2]
  assert done[:, 0].any(), "a limp humanoid must fall within 150 steps"
  first = int(np.argmax(done[:, 0] > 0))
  assert torso_z[first] < HEALTHY_Z_RANGE[0]
  assert (torso_z[:first] >= HEALTHY_Z_RANGE[0]).all() and (done[:first, 0] == 0).all()


def test_humanoid_goal_distance_and_state_without_goal():
  env, q, goal = samples("humanoid")
  assert env.state_size == env.sys.q_size() + env.sys.qd_size()  # q and qd only
  dist = np.linalg.norm(goal - q[:, :2], axis=-1)
  assert (dist >= GOAL_DISTANCE[0] - 1e-4).all() and (dist <= GOAL_DISTANCE[1] + 1e-4).all()


@pytest.mark.parametrize("name", ["humanoid_u_maze", "humanoid_hardest_maze"])
def test_humanoid_maze_starts_at_the_start_cell_centre_with_goals_at_goal_cell_centres(name):
  env, q, goal = samples(name)
  layout = env.layout
  assert layout.cell_size == 2.0 and layout.frame == "jaxgcrl"
  # JaxGCRL's start cell (1, 1) at (2, 2), exactly; the model's pose, no reset noise.
  np.testing.assert_array_equal(q[:, :2], 2.0)
  np.testing.assert_array_equal(q[:, 2:], np.broadcast_to(env.sys.init_q[2:], q[:, 2:].shape))
  centres = {tuple(2.0 * np.array(cell)) for cell in cells_of(layout, layout.goal_cells_xy())}
  assert {tuple(g) for g in goal} <= centres and len({tuple(g) for g in goal}) > 5
  assert not env.eval_task_noise  # the episodes of a task are identical
  assert make_env(name, reset_noise_scale=0.01, goals="uniform").eval_task_noise


def test_humanoid_is_the_reference_model_with_its_action_scaling():
  env = env_named("humanoid")
  m = env.sys.mj_model
  names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i) for i in range(m.ngeom)]
  bodies = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(m.nbody)]
  assert "target" not in bodies and (m.nq, m.nv) == (24, 23)
  # JaxGCRL's humanoid.xml: every body geom collides with the floor (and the maze walls), none
  # with another (brax's model lets only the feet touch the floor).
  body = [i for i, name in enumerate(names) if name != "floor"]
  assert len(body) == 17 and (m.geom_contype[body] == 1).all()
  assert (m.geom_conaffinity[body] == 0).all() and m.geom_conaffinity[names.index("floor")] == 1
  # Spring: 10 steps of 1.5 ms with brax's gears; actions [-1, 1] -> controls [-0.4, 0.4].
  assert env._n_frames == 10 and float(env.dt) == pytest.approx(0.015)
  np.testing.assert_array_equal(env.sys.actuator.gear, SPRING_GEAR)
  np.testing.assert_allclose(env.sys.actuator.ctrl_range, [[-0.4, 0.4]] * 17, rtol=1e-6)
  controls = reference_controls(env.sys, jnp.array([[-1.0] * 17, [0.0] * 17, [1.0] * 17]))
  np.testing.assert_allclose(controls, np.array([[-0.4], [0.0], [0.4]]) * np.ones(17), atol=1e-7)


@pytest.mark.parametrize("wall_contacts", ["static", "window"])
def test_humanoid_maze_walls_are_the_reference_s(wall_contacts):
  env = make_env("humanoid_u_maze", wall_contacts=wall_contacts)
  m = env.sys.mj_model
  geoms = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i): i for i in range(m.ngeom)}
  walls = [(r, c) for r, row in enumerate(env.layout.grid) for c, ch in enumerate(row) if ch == "1"]
  static = wall_contacts == "static"
  for r, c in walls:  # one 2 × 2 × 1 box per wall cell at (2 row, 2 col, 0.5)
    i = geoms[f"block_{r}_{c}"]
    np.testing.assert_allclose(m.geom_pos[i], [2 * r, 2 * c, 0.5])
    np.testing.assert_allclose(m.geom_size[i], [1.0, 1.0, 0.5])
    assert (m.geom_contype[i], m.geom_conaffinity[i]) == ((1, 1) if static else (0, 0))
  # Window: the legs with the 3×3 cells' walls (7 boxes at most), the rest of the body with the
  # 2×2 cells' (3): every body geom meets every wall within its reach, and the floor.
  far = [i for name, i in geoms.items() if name.startswith("maze_window_far_")]
  near = [i for name, i in geoms.items() if name.startswith("maze_window_near_")]
  assert (len(far), len(near)) == ((0, 0) if static else (7, 3))
  body = [i for name, i in geoms.items() if name in FAR_GEOMS or m.geom_bodyid[i] > 0]
  assert len(body) == 17
  for i in body:
    legs = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i) in FAR_GEOMS
    assert m.geom_contype[i] == (1 if static else 3 if legs else 5)
  assert {int(m.geom_conaffinity[i]) for i in far} <= {2} and {
    int(m.geom_conaffinity[i]) for i in near
  } <= {4}
  if not static:
    assert [w.reach for _, w in env._windows] == [2.0, 1.0]


def test_humanoid_maze_window_gives_the_contacts_of_all_walls():
  # Lying at the start cell's corner, the head towards the walls: head, arms and hands touch
  # the two wall faces and the corner cell.
  found = []
  for wall_contacts_ in ("window", "static"):
    env = make_env("humanoid_u_maze", wall_contacts=wall_contacts_)
    q = env.sys.init_q.at[:3].set(jnp.array([1.2, 1.2, 0.3]))
    q = q.at[3:7].set(jnp.array([0.6532815, 0.2705981, -0.6532815, 0.2705981]))
    found.append(wall_contacts(env, q))
  assert found[0] == found[1]
  assert {"head", "left_hand", "left_uarm1"} <= {c[0] for c in found[0]}


# Goals JaxGCRL 0.2.8's Humanoid / HumanoidMaze reset draws from PRNGKey(k), k = 0..5.
REFERENCE_HUMANOID_GOALS = {
  "humanoid": [
    [0.190993, 1.404232],
    [1.345164, 4.098380],
    [2.380264, 3.770358],
    [-1.977279, 1.571121],
    [1.855761, 0.677612],
    [1.089957, 0.761641],
  ],
  "humanoid_u_maze": [[2, 6], [6, 2], [2, 6], [6, 4], [6, 4], [6, 4]],
  "humanoid_big_maze": [[10, 2], [8, 4], [2, 12], [2, 12], [12, 2], [6, 4]],
  "humanoid_hardest_maze": [[2, 6], [4, 20], [14, 2], [8, 2], [14, 10], [14, 18]],
}


def test_humanoid_draws_the_reference_s_start_and_goal_from_the_same_key():
  # The reference's reset(PRNGKey(0)) is the first state of its recording (its target last).
  data = reference_physics.load("humanoid__spring")
  env = env_named("humanoid")
  q, qd, goal = env._sample_start_and_goal(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(q, data["q"][0, :24])
  np.testing.assert_array_equal(qd, data["qd"][0, :23])
  np.testing.assert_allclose(goal, data["q"][0, 24:26], atol=1e-6)
  assert not env.eval_task_noise
  for name, goals in REFERENCE_HUMANOID_GOALS.items():
    env = env_named(name)
    draw = fast_jit(jax.vmap(lambda k: env._sample_start_and_goal(jax.random.PRNGKey(k))[2]))
    np.testing.assert_allclose(draw(jnp.arange(len(goals))), goals, atol=1e-6, err_msg=name)
