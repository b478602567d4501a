"""The manipulation envs: the arm is a Panda (kinematics from its DH table), the gripper and the
cube behave, and a scripted controller reaches, grasps (the grasp goal counts as success) and lifts.

Kinematic and model checks use CPU MuJoCo on the env's model (no compilation). The dynamic checks
share one compiled ``arm_grasp`` env (MJX ``reset`` and ``step``, ~1 min of compilation on a
laptop CPU, cached across runs by the persistent compilation cache).
"""

import functools
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.envs import arm, assets, make_env

# Franka Emika Panda, modified (Craig) DH parameters: (a, d, alpha) per joint, then the flange.
PANDA_DH = [
  (0.0, 0.333, 0.0),
  (0.0, 0.0, -np.pi / 2),
  (0.0, 0.316, np.pi / 2),
  (0.0825, 0.0, np.pi / 2),
  (-0.0825, 0.384, -np.pi / 2),
  (0.0, 0.0, np.pi / 2),
  (0.088, 0.0, np.pi / 2),
  (0.0, 0.107, 0.0),
]
PANDA_LIMITS = [
  (-2.8973, 2.8973),
  (-1.7628, 1.7628),
  (-2.8973, 2.8973),
  (-3.0718, -0.0698),
  (-2.8973, 2.8973),
  (-0.0175, 3.7525),
  (-2.8973, 2.8973),
]
TCP_OFFSET = 0.1034  # Panda's tool centre point beyond the flange, along the flange's z axis


def dh_frames(q):
  """World transforms of links 1..7 and of the flange: T_i = T_{i-1} Rx(α) Tx(a) Rz(θ) Tz(d)."""
  frames, t = [], np.eye(4)
  for i, (a, d, alpha) in enumerate(PANDA_DH):
    theta = q[i] if i < 7 else 0.0
    ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
    step = np.array(
      [
        [ct, -st, 0, a],
        [ca * st, ca * ct, -sa, -sa * d],
        [sa * st, sa * ct, ca, ca * d],
        [0, 0, 0, 1],
      ]
    )
    t = t @ step
    frames.append(t)
  return frames


def arm_model():
  return mujoco.MjModel.from_xml_string(
    ET.tostring(assets.goalax_model_xml(arm.MODEL_FILE), encoding="unicode")
  )


def test_kinematics_match_the_panda_dh_table():
  model = arm_model()
  data = mujoco.MjData(model)
  np.testing.assert_allclose(model.jnt_range[:7], PANDA_LIMITS)
  rng = np.random.default_rng(0)
  random_q = rng.uniform(*np.array(PANDA_LIMITS).T)
  for q in (np.zeros(7), arm.HOME_Q, random_q):
    data.qpos[:7] = q
    mujoco.mj_kinematics(model, data)
    frames = dh_frames(q)
    for i in range(7):
      np.testing.assert_allclose(data.body(f"link{i + 1}").xpos, frames[i][:3, 3], atol=1e-9)
      np.testing.assert_allclose(
        data.body(f"link{i + 1}").xmat.reshape(3, 3), frames[i][:3, :3], atol=1e-9
      )
    flange = frames[-1]
    np.testing.assert_allclose(
      data.site("tcp").xpos, flange[:3, 3] + TCP_OFFSET * flange[:3, 2], atol=1e-9
    )
  # At q = 0 the arm stands straight up and the flange points down, 0.088 m in front of the base.
  data.qpos[:7] = 0.0
  mujoco.mj_kinematics(model, data)
  np.testing.assert_allclose(
    data.site("tcp").xpos, [0.088, 0.0, 0.333 + 0.316 + 0.384 - 0.107 - TCP_OFFSET], atol=1e-9
  )
  # At home the hand points straight down with the tool centre 0.45 m in front of the base.
  data.qpos[:7] = arm.HOME_Q
  mujoco.mj_kinematics(model, data)
  np.testing.assert_allclose(data.site("tcp").xmat.reshape(3, 3)[:, 2], [0, 0, -1], atol=1e-3)
  np.testing.assert_allclose(data.site("tcp").xpos, [0.45, 0.0, 0.247], atol=5e-3)


def test_models_hold_no_goal_and_collide_only_where_needed():
  reach, push, binpick = arm.ArmReach(), arm.ArmPush(difficulty="hard"), arm.ArmBinpick()
  assert reach.sys.q_size() == 9  # 7 arm joints + 2 fingers: no target bodies
  assert push.sys.q_size() == binpick.sys.q_size() == 16  # + the cube's free joint
  model = binpick.sys.mj_model
  colliding = {
    mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g)
    for g in range(model.ngeom)
    if model.geom_contype[g] | model.geom_conaffinity[g]
  }
  assert colliding == {
    "table",
    "hand",
    "left_pad",
    "right_pad",
    "cube",
    "bin_x_low",
    "bin_x_high",
    "bin_y_low",
    "bin_y_high",
  }


def test_actions_map_to_joint_targets():
  env, full = arm.ArmGrasp(), arm.ArmGrasp(full_arm=True)
  assert (arm.ArmReach().action_size, env.action_size, full.action_size) == (4, 5, 8)
  q = jnp.asarray(np.concatenate([arm.HOME_Q + 0.05, [0.01, 0.01]]), jnp.float32)
  targets = np.asarray(env.actuator_targets(q, jnp.array([1.0, -1.0, 0.5, 2.0, -1.0])))
  expected = np.asarray(q[:7]) + arm.JOINT_DELTA * np.array([1, -1, 0, 0.5, 0, 1, 0])
  expected[[2, 4, 6]] = arm.HELD_VALUES  # joints 3, 5, 7 are held
  np.testing.assert_allclose(targets[:7], expected, atol=1e-6)
  np.testing.assert_allclose(targets[7:], [0.0, 0.0])  # gripper -1: closed
  targets = np.asarray(full.actuator_targets(q, jnp.full((8,), 1.0)))
  np.testing.assert_allclose(
    targets[:7],
    np.minimum(np.asarray(q[:7]) + arm.JOINT_DELTA, np.array(PANDA_LIMITS)[:, 1] - 1e-3),
    atol=1e-6,
  )
  np.testing.assert_allclose(targets[7:], [arm.FINGER_OPEN] * 2)


def test_bin_walls_keep_a_sliding_cube_in():
  model = arm.ArmBinpick().sys.mj_model
  data = mujoco.MjData(model)
  data.qpos[:7], data.qpos[7:9] = arm.HOME_Q, arm.FINGER_OPEN
  data.qpos[9:16] = [*arm.BIN_CENTER, arm.CUBE_HALF, 1, 0, 0, 0]
  data.qvel[9] = 2.0  # slide toward the far wall at 2 m/s
  data.ctrl[:] = data.qpos[:9]
  mujoco.mj_step(model, data, 200)
  inner = arm.BIN_INNER_HALF - arm.CUBE_HALF + 2e-3
  assert abs(data.qpos[9] - arm.BIN_CENTER[0]) < inner
  assert abs(data.qpos[11] - arm.CUBE_HALF) < 5e-3


# ---- dynamics in MJX, one compiled env -----------------------------------------------------------
@functools.cache
def grasp_env():
  env = make_env("arm_grasp")
  return env, fast_jit(env.reset), fast_jit(env.step)


def rollout(state, actions):
  _, _, step = grasp_env()
  states = []
  for action in actions:
    state = step(state, jnp.asarray(action, jnp.float32))
    states.append(state)
  return states


def test_cube_rests_on_the_table_and_the_gripper_opens_and_closes():
  env, reset, _ = grasp_env()
  state = reset(jax.random.PRNGKey(0))
  cube0 = np.asarray(state.obs[25:32])
  assert float(state.obs[14]) == pytest.approx(2 * arm.FINGER_OPEN)
  # Close, open, then hold (the hand is 0.2 m above the cube and stays there).
  states = rollout(state, [[0, 0, 0, 0, -1]] * 10 + [[0, 0, 0, 0, 1]] * 10 + [[0] * 5] * 80)
  obs = np.stack([np.asarray(s.obs) for s in states])
  assert np.isfinite(obs).all()
  assert obs[9, 14] < 0.003  # closed
  assert obs[19, 14] > 2 * arm.FINGER_OPEN - 0.003  # open again
  assert np.abs(obs[:, 16:19] - obs[:1, 16:19]).max() < 0.01  # the hand held still
  # The cube neither sinks, jumps, slides nor turns.
  np.testing.assert_allclose(obs[:, 27], arm.CUBE_HALF, atol=3e-3)
  np.testing.assert_allclose(obs[:, 25:27], np.broadcast_to(cube0[:2], (100, 2)), atol=2e-3)
  np.testing.assert_allclose(np.abs(obs[:, 28:32] @ cube0[3:]), 1.0, atol=1e-3)


def scripted_action(model, data, state, target, grip):
  """Moves the tool centre toward ``target`` with the hand pointing down (Jacobian pseudo-inverse
  on joints 1, 2, 4, 6, computed by CPU MuJoCo from the env's state)."""
  q = np.asarray(state.pipeline_state.q)
  data.qpos[:] = q
  mujoco.mj_kinematics(model, data)
  mujoco.mj_comPos(model, data)
  jac = np.zeros((3, model.nv))
  mujoco.mj_jacSite(model, data, jac, None, model.site("tcp").id)
  error = np.asarray(target) - np.asarray(state.obs[16:19])
  dq = np.linalg.lstsq(jac[:, list(arm.CONTROLLED_JOINTS)], 0.5 * error, rcond=None)[0]
  dq[3] += 0.5 * ((q[1] - q[3]) - q[5])  # pointing down: q6 = q2 - q4
  return np.append(np.clip(dq / arm.JOINT_DELTA, -1.0, 1.0), grip)


def test_scripted_controller_reaches_grasps_and_lifts():
  env, reset, step = grasp_env()
  model = env.sys.mj_model
  data = mujoco.MjData(model)
  state = reset(jax.random.PRNGKey(3))
  cube = np.asarray(state.obs[25:28])

  def drive(state, target, grip, n):
    for _ in range(n):
      state = step(
        state, jnp.asarray(scripted_action(model, data, state, target, grip), jnp.float32)
      )
    return state

  # Reach: the tool centre goes to a point 10 cm above the cube.
  above = cube + np.array([0.0, 0.0, 0.1])
  start_dist = np.linalg.norm(np.asarray(state.obs[16:19]) - above)
  state = drive(state, above, 1.0, 30)
  assert np.linalg.norm(np.asarray(state.obs[16:19]) - above) < min(0.01, 0.1 * start_dist)
  # Grasp: down around the cube, open fingers are not yet on the goal; closing them is.
  state = drive(state, cube, 1.0, 25)
  assert float(state.metrics["success"]) == 0.0
  state = drive(state, cube, -1.0, 10)
  assert float(state.metrics["success"]) == 1.0
  assert float(state.metrics["dist"]) < 0.5 * env.goal_threshold
  # Lift: the cube comes up with the hand.
  state = drive(state, cube + np.array([0.0, 0.0, 0.15]), -1.0, 30)
  assert float(state.obs[27]) > arm.CUBE_HALF + 0.12
  assert np.isfinite(np.asarray(state.obs)).all()
