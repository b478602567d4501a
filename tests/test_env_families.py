"""Env-specific behaviour of ant soccer, ant push, the humanoid and the two-puck pusher.

The contract every env shares is in ``test_envs.py``; here the physics and the start/goal
distributions particular to each family. One jitted zero-action rollout per env (batched over a
few hand-set starts) keeps compilation to a handful of programs.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.envs import make_env
from goalax.envs.ant_ball import BALL_RADIUS, BALL_START_DISTANCE, GOAL_DISTANCE_FROM_BALL
from goalax.envs.ant_push import BLOCK_HALF_SIZE, BLOCK_START_XY
from goalax.envs.humanoid import GOAL_DISTANCE, HEALTHY_Z_RANGE
from goalax.envs.pusher import PUCK_REST_XY


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


def test_ant_ball_starts_the_ball_near_the_ant_and_the_goal_a_few_metres_from_the_ball():
  _, q, goal = samples("ant_ball")
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


def test_ant_push_block_moves_when_pushed_blocks_the_path_and_stops_at_walls():
  env = env_named("ant_push")
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


def test_ant_push_goal_is_behind_the_block():
  _, q, goal = samples("ant_push", n=64)
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
def test_humanoid_maze_starts_in_a_start_cell_and_goals_lie_in_goal_cells(name):
  env, q, goal = samples(name)
  layout = env.layout
  assert layout.cell_size == 2.0
  assert cells_of(layout, q[:, :2]) <= cells_of(layout, layout.start_cells_xy)
  assert cells_of(layout, goal) <= cells_of(layout, layout.goal_cells_xy())
  assert len(cells_of(layout, goal)) > 5


# ---- pusher2 ----------------------------------------------------------------------------------


def test_pusher2_success_needs_both_pucks():
  env = env_named("pusher2")
  goal = jnp.array([0.0, -0.2, 0.0, 0.2])

  def outputs(puck1, puck2):
    state = (
      jnp.zeros(env.state_size).at[17:19].set(jnp.array(puck1)).at[20:22].set(jnp.array(puck2))
    )
    dist, success, _ = env._goal_outputs(state, goal)
    return float(dist), float(success)

  assert outputs([0.0, -0.2], [0.0, 0.2]) == (0.0, 1.0)
  assert outputs([0.0, -0.2], [0.0, 0.4])[1] == 0.0  # one puck still 0.2 away
  assert outputs([0.3, -0.2], [0.0, 0.2])[1] == 0.0
  # Each puck 0.08 from its goal: success, though the 4-dim distance (0.113) is over 0.1.
  dist, success = outputs([0.08, -0.2], [0.0, 0.28])
  assert success == 1.0 and dist == pytest.approx(0.08 * np.sqrt(2), rel=1e-5)


def test_pusher2_starts_pucks_apart_and_away_from_their_goals():
  _, q, goal = samples("pusher2")
  # Each puck's slide joints (y, x) carry its offset from the rest position.
  puck1, puck2 = PUCK_REST_XY + q[:, [8, 7]], PUCK_REST_XY + q[:, [10, 9]]
  assert (np.linalg.norm(puck1 - puck2, axis=-1) > 0.1).all()  # no overlapping pucks
  assert (np.linalg.norm(puck1 - goal[:, :2], axis=-1) > 0.17 - 1e-4).all()
  assert (np.linalg.norm(puck2 - goal[:, 2:], axis=-1) > 0.17 - 1e-4).all()
  assert (np.linalg.norm(goal[:, :2] - goal[:, 2:], axis=-1) > 0.1).all()  # both goals reachable
