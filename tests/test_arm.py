"""The manipulation envs, both families.

The reference's tasks under its names (``arm_reach``, ..., classes ``ArmReach``, ``ArmGrasp``,
``ArmPush``, ``ArmBinpick``): the model is the reference's minus its goal body (the robot's bodies,
joints, actuators and contacts unchanged), the solver settings and control step are its, actions
map to its absolute joint targets, a reset key gives its start and goal (checked against its
recorded resets in ``tests/data/reference_physics`` and its goals for four keys), grasp succeeds by
its rule (with goalax's fixed goal: the targets where the cube settles) and the state is its
observation. Their physics against the reference's recordings is ``test_reference_physics``.

goalax's own arm (``arm_lite_*``, classes ``LiteArm*``): the arm is a Panda (kinematics from its DH
table), the gripper and the cube behave, and a scripted controller reaches, grasps (the grasp goal
counts as success) and lifts.

Kinematic and model checks use CPU MuJoCo on the env's model (no compilation). The dynamic checks
share one compiled ``arm_lite_grasp`` env (MJX ``reset`` and ``step``, ~1 min of compilation on a
laptop CPU, cached across runs by the persistent compilation cache) and one compiled ``arm_grasp``
rollout (~1 min).
"""

import functools
import os
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.envs import arm, arm_lite, assets

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
    ET.tostring(assets.goalax_model_xml(arm_lite.MODEL_FILE), encoding="unicode")
  )


def test_kinematics_match_the_panda_dh_table():
  model = arm_model()
  data = mujoco.MjData(model)
  np.testing.assert_allclose(model.jnt_range[:7], PANDA_LIMITS)
  rng = np.random.default_rng(0)
  random_q = rng.uniform(*np.array(PANDA_LIMITS).T)
  for q in (np.zeros(7), arm_lite.HOME_Q, random_q):
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
  data.qpos[:7] = arm_lite.HOME_Q
  mujoco.mj_kinematics(model, data)
  np.testing.assert_allclose(data.site("tcp").xmat.reshape(3, 3)[:, 2], [0, 0, -1], atol=1e-3)
  np.testing.assert_allclose(data.site("tcp").xpos, [0.45, 0.0, 0.247], atol=5e-3)


def test_models_hold_no_goal_and_collide_only_where_needed():
  reach, push, binpick = (
    arm_lite.LiteArmReach(),
    arm_lite.LiteArmPush(difficulty="hard"),
    arm_lite.LiteArmBinpick(),
  )
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
  env, full = arm_lite.LiteArmGrasp(), arm_lite.LiteArmGrasp(full_arm=True)
  assert (arm_lite.LiteArmReach().action_size, env.action_size, full.action_size) == (4, 5, 8)
  q = jnp.asarray(np.concatenate([arm_lite.HOME_Q + 0.05, [0.01, 0.01]]), jnp.float32)
  targets = np.asarray(env.actuator_targets(q, jnp.array([1.0, -1.0, 0.5, 2.0, -1.0])))
  expected = np.asarray(q[:7]) + arm_lite.JOINT_DELTA * np.array([1, -1, 0, 0.5, 0, 1, 0])
  expected[[2, 4, 6]] = arm_lite.HELD_VALUES  # joints 3, 5, 7 are held
  np.testing.assert_allclose(targets[:7], expected, atol=1e-6)
  np.testing.assert_allclose(targets[7:], [0.0, 0.0])  # gripper -1: closed
  targets = np.asarray(full.actuator_targets(q, jnp.full((8,), 1.0)))
  np.testing.assert_allclose(
    targets[:7],
    np.minimum(np.asarray(q[:7]) + arm_lite.JOINT_DELTA, np.array(PANDA_LIMITS)[:, 1] - 1e-3),
    atol=1e-6,
  )
  np.testing.assert_allclose(targets[7:], [arm_lite.FINGER_OPEN] * 2)


def test_bin_walls_keep_a_sliding_cube_in():
  model = arm_lite.LiteArmBinpick().sys.mj_model
  data = mujoco.MjData(model)
  data.qpos[:7], data.qpos[7:9] = arm_lite.HOME_Q, arm_lite.FINGER_OPEN
  data.qpos[9:16] = [*arm_lite.BIN_CENTER, arm_lite.CUBE_HALF, 1, 0, 0, 0]
  data.qvel[9] = 2.0  # slide toward the far wall at 2 m/s
  data.ctrl[:] = data.qpos[:9]
  mujoco.mj_step(model, data, 200)
  inner = arm_lite.BIN_INNER_HALF - arm_lite.CUBE_HALF + 2e-3
  assert abs(data.qpos[9] - arm_lite.BIN_CENTER[0]) < inner
  assert abs(data.qpos[11] - arm_lite.CUBE_HALF) < 5e-3


# ---- dynamics in MJX, one compiled env -----------------------------------------------------------
@functools.cache
def grasp_env():
  env = arm_lite.LiteArmGrasp()
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
  assert float(state.obs[14]) == pytest.approx(2 * arm_lite.FINGER_OPEN)
  # Close, open, then hold (the hand is 0.2 m above the cube and stays there).
  states = rollout(state, [[0, 0, 0, 0, -1]] * 10 + [[0, 0, 0, 0, 1]] * 10 + [[0] * 5] * 80)
  obs = np.stack([np.asarray(s.obs) for s in states])
  assert np.isfinite(obs).all()
  assert obs[9, 14] < 0.003  # closed
  assert obs[19, 14] > 2 * arm_lite.FINGER_OPEN - 0.003  # open again
  assert np.abs(obs[:, 16:19] - obs[:1, 16:19]).max() < 0.01  # the hand held still
  # The cube neither sinks, jumps, slides nor turns.
  np.testing.assert_allclose(obs[:, 27], arm_lite.CUBE_HALF, atol=3e-3)
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
  dq = np.linalg.lstsq(jac[:, list(arm_lite.CONTROLLED_JOINTS)], 0.5 * error, rcond=None)[0]
  dq[3] += 0.5 * ((q[1] - q[3]) - q[5])  # pointing down: q6 = q2 - q4
  return np.append(np.clip(dq / arm_lite.JOINT_DELTA, -1.0, 1.0), grip)


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
  assert float(state.obs[27]) > arm_lite.CUBE_HALF + 0.12
  assert np.isfinite(np.asarray(state.obs)).all()


# ---- the reference's tasks under its names ------------------------------------------------------
REFERENCE_DATA = os.path.join(os.path.dirname(__file__), "data", "reference_physics")
# name -> (class, kwargs, model file, the reference's joints after the cube's)
REFERENCE_TASKS = {
  "arm_reach": (arm.ArmReach, {}, "panda_reach.xml", arm.ARM_JOINTS),
  "arm_grasp": (
    arm.ArmGrasp,
    {},
    "panda_grasp.xml",
    (
      *arm.ARM_JOINTS,
      "finger_joint1",
      "left_fingertip_joint",
      "finger_joint2",
      "right_fingertip_joint",
    ),
  ),
  **{
    f"arm_{task}_{difficulty}": (
      cls,
      {"difficulty": difficulty},
      f"panda_{task}_{difficulty}.xml",
      (*arm.ARM_JOINTS, "finger_joint1", "finger_joint2"),
    )
    for task, cls in (("push", arm.ArmPush), ("binpick", arm.ArmBinpick))
    for difficulty in ("easy", "hard")
  },
}
# name -> (cube start centre, its noise, goal centre, goal noise), read from the reference's
# reset (the cube tasks' goal noise is in x and y only).
REFERENCE_DISTRIBUTIONS = {
  "arm_reach": (None, None, (0.0, 0.5, 0.3), 0.2),
  "arm_grasp": ((0.0, 0.6), 0.3, None, None),
  "arm_push_easy": ((-0.1, 0.6), 0.1, (0.1, 0.6, 0.03), 0.1),
  "arm_push_hard": ((-0.25, 0.65), 0.25, (0.25, 0.65, 0.03), 0.25),
  "arm_binpick_easy": ((-0.15, 0.6), 0.07, (0.17, 0.6, 0.03), 0.005),
  "arm_binpick_hard": ((-0.3, 0.6), 0.15, (0.3, 0.6, 0.03), 0.15),
}


# Goals the reference's reset draws from PRNGKey(k), k = 0..3 (jaxgcrl 0.2.8). Grasp's are its
# targets around the cube before the cube drops from 0.07 to 0.03 m (goalax's sit at 0.03 m).
REFERENCE_GOALS = {
  "arm_reach": [
    [-0.1582839, 0.437595, 0.1524269],
    [0.1313488, 0.3689535, 0.1786582],
    [0.145884, 0.4697548, 0.2917243],
    [-0.04745192, 0.4988593, 0.1533212],
  ],
  "arm_grasp": [
    [-0.2079985, 0.5173248, 0.07, -0.2829984, 0.5173248, 0.07, 0.075],
    [-0.1334738, 0.5430245, 0.07, -0.2084738, 0.5430245, 0.07, 0.075],
    [0.1204564, 0.8711107, 0.07, 0.04545643, 0.8711107, 0.07, 0.075],
    [-0.08487518, 0.5729879, 0.07, -0.1598752, 0.5729879, 0.07, 0.075],
  ],
  "arm_push_easy": [
    [0.1712987, 0.5972103, 0.03],
    [0.1366775, 0.5708265, 0.03],
    [0.03691325, 0.6775542, 0.03],
    [0.07083764, 0.6045183, 0.03],
  ],
  "arm_push_hard": [
    [0.4282469, 0.6430256, 0.03],
    [0.3416937, 0.5770661, 0.03],
    [0.09228313, 0.8438856, 0.03],
    [0.1770941, 0.6612956, 0.03],
  ],
  "arm_binpick_easy": [
    [0.1735649, 0.5998605, 0.03],
    [0.1718339, 0.5985413, 0.03],
    [0.1668457, 0.6038777, 0.03],
    [0.1685419, 0.6002259, 0.03],
  ],
  "arm_binpick_hard": [
    [0.4069481, 0.5958154, 0.03],
    [0.3550162, 0.5562397, 0.03],
    [0.2053699, 0.7163314, 0.03],
    [0.2562565, 0.6067774, 0.03],
  ],
}


@functools.cache
def reference_env(name):
  cls, kwargs, _, _ = REFERENCE_TASKS[name]
  return cls(**kwargs)


def names(model, kind, count):
  return [mujoco.mj_id2name(model, kind, i) for i in range(count)]


def model_with_goal_body(file_name):
  """The task's model as goalax loads it but with the reference's goal body kept."""
  root = assets.goalax_model_xml(file_name)
  arm.strip_meshes(root)
  arm.add_link_visuals(root)
  return assets.mujoco_model(root)


@pytest.mark.parametrize("name", REFERENCE_TASKS)
def test_reference_models_lose_only_their_goal_body(name):
  _, _, file_name, joints = REFERENCE_TASKS[name]
  # Compiled afresh: Brax's loader writes ±inf into the ranges of unlimited joints of its model.
  model = assets.mujoco_model(arm.panda_model_xml(file_name))
  full = model_with_goal_body(file_name)
  body = lambda m, i: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, i)
  full_bodies = names(full, mujoco.mjtObj.mjOBJ_BODY, full.nbody)
  assert "goal_marker" in full_bodies
  assert names(model, mujoco.mjtObj.mjOBJ_BODY, model.nbody) == [
    b for b in full_bodies if b != "goal_marker"
  ]
  cube = () if name == "arm_reach" else (None,)  # the cube's free joint is unnamed
  assert names(model, mujoco.mjtObj.mjOBJ_JOINT, model.njnt) == [*cube, *joints]
  assert model.ngravcomp == 0  # only the goal body was gravity compensated
  for i in range(model.nbody):
    j = full_bodies.index(body(model, i))
    assert body(model, model.body_parentid[i]) == body(full, full.body_parentid[j])
    for field in ("body_mass", "body_inertia", "body_ipos", "body_iquat", "body_pos", "body_quat"):
      np.testing.assert_array_equal(getattr(model, field)[i], getattr(full, field)[j], field)
  goal_joint = full.body_jntadr[full_bodies.index("goal_marker")]
  keep = [j for j in range(full.njnt) if j != goal_joint]
  for field in ("jnt_type", "jnt_range", "jnt_axis", "jnt_pos", "jnt_solref", "jnt_solimp"):
    np.testing.assert_array_equal(getattr(model, field), getattr(full, field)[keep], field)
  keep_dofs = full.jnt_dofadr[goal_joint] + np.arange(6)
  keep_dofs = np.setdiff1d(np.arange(full.nv), keep_dofs)
  for field in ("dof_armature", "dof_damping", "dof_frictionloss"):
    np.testing.assert_array_equal(getattr(model, field), getattr(full, field)[keep_dofs], field)
  for field in (
    "actuator_gainprm",
    "actuator_biasprm",
    "actuator_ctrlrange",
    "actuator_forcerange",
  ):
    np.testing.assert_array_equal(getattr(model, field), getattr(full, field), field)
  geom = lambda m, i: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i)
  pairs = lambda m: [(geom(m, a), geom(m, b)) for a, b in zip(m.pair_geom1, m.pair_geom2)]
  assert pairs(model) == pairs(full) and len(pairs(model)) >= 1
  for field in ("pair_friction", "pair_solref", "pair_solimp", "pair_margin"):
    np.testing.assert_array_equal(getattr(model, field), getattr(full, field), field)
  # Only the explicit pairs collide, as in the reference; no geom collides by its bits.
  assert not (model.geom_contype | model.geom_conaffinity).any()
  np.testing.assert_array_equal(model.eq_data, full.eq_data)


@pytest.mark.parametrize("name", REFERENCE_TASKS)
def test_reference_link_masses_come_from_their_inertials(name):
  # The dropped meshes and the added visual capsules carry no mass: each body's mass is its
  # <inertial>'s (the hand, fused into link 7, adds nothing to it either).
  env = reference_env(name)
  model = env.sys.mj_model
  root = assets.goalax_model_xml(REFERENCE_TASKS[name][2])
  inertial = {
    b.get("name"): float(b.find("inertial").get("mass"))
    for b in root.iter("body")
    if b.find("inertial") is not None
  }
  assert {"link1", "link7"} <= set(inertial)
  for body, mass in inertial.items():
    assert model.body(body).mass[0] == mass, body
  assert all(model.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH for g in range(model.ngeom))
  if name != "arm_reach":
    assert model.body("cube").mass[0] == pytest.approx(0.216)  # 0.06 m box, density 1000


@pytest.mark.parametrize("name", REFERENCE_TASKS)
def test_reference_solver_and_control_step(name):
  env = reference_env(name)
  opt = env.sys.opt
  assert (float(opt.timestep), int(opt.iterations), int(opt.ls_iterations)) == (0.002, 6, 12)
  assert env._n_frames == 25 and env.dt == pytest.approx(0.05)
  assert env.sys.mj_model.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
  assert int(opt.solver) == int(mujoco.mjtSolver.mjSOL_NEWTON)
  assert float(opt.impratio) == (10.0 if "binpick" in name else 1.0)
  assert env.reference_backend == env.default_backend == "mjx"


def test_reference_actions_map_to_absolute_joint_targets():
  grasp, reach = reference_env("arm_grasp"), reference_env("arm_reach")
  assert (grasp.action_size, reach.action_size) == (5, 4)
  low, high = np.array(arm.ARM_TARGET_LOW), np.array(arm.ARM_TARGET_HIGH)
  target = lambda env, a: np.asarray(env.actuator_input(jnp.asarray(a, jnp.float32)))
  np.testing.assert_allclose(target(grasp, [-1, -1, -1, -1, 0.5]), [*low, 0, 0], atol=1e-6)
  np.testing.assert_allclose(target(grasp, [1, 1, 1, 1, -0.5]), [*high, 255, 255], atol=1e-6)
  # Zero: the middle of each range; a gripper action of exactly 0 opens (only > 0 closes).
  np.testing.assert_allclose(target(grasp, [0] * 5), [*(low + high) / 2, 255, 255], atol=1e-6)
  # Joints 3 and 5 stay at 0, joint 7 at 1.4487, whatever the action; no clipping here (MuJoCo
  # clips to the actuators' ranges).
  half = target(reach, [0.5, -0.5, 2.0, 0.25])
  assert half.shape == (7,)
  np.testing.assert_allclose(half[[2, 4, 6]], [0, 0, 1.4487], atol=1e-6)
  np.testing.assert_allclose(
    half[3], (low[3] + high[3]) / 2 + 2.0 * (high[3] - low[3]) / 2, atol=1e-5
  )


def _recording(name):
  path = os.path.join(REFERENCE_DATA, f"{name}__mjx.npz")
  if not os.path.exists(path):
    pytest.skip(f"no recording of {name}")
  with np.load(path, allow_pickle=True) as data:  # its joint names hold None for unnamed joints
    return {k: data[k] for k in ("q", "joint_names", "jnt_qposadr")}


@pytest.mark.parametrize("name", REFERENCE_TASKS)
def test_reference_reset_key_gives_the_reference_start(name):
  # The recorder reset the reference's env with PRNGKey(0) (its goal is not recorded: the goal
  # body's recorded position is its initial one). The cube's free joint comes first in both.
  data = _recording(name)
  env = reference_env(name)
  q, qd, _ = env._sample_start_and_goal(jax.random.PRNGKey(0))
  ref_q = data["q"][0]
  model = env.sys.mj_model
  recorded_names = [str(n) for n in data["joint_names"]]
  for j, joint in enumerate(names(model, mujoco.mjtObj.mjOBJ_JOINT, model.njnt)):
    ours = model.jnt_qposadr[j]
    if joint is None:
      np.testing.assert_allclose(q[ours : ours + 7], ref_q[0:7], rtol=0, atol=1e-7)
    else:
      theirs = data["jnt_qposadr"][recorded_names.index(joint)]
      np.testing.assert_allclose(q[ours], ref_q[theirs], rtol=0, atol=1e-7, err_msg=joint)
  assert not np.asarray(qd).any()


@pytest.mark.parametrize("name", REFERENCE_TASKS)
def test_reference_reset_key_gives_the_reference_goal(name):
  env = reference_env(name)
  sample = jax.jit(jax.vmap(lambda k: env._sample_start_and_goal(jax.random.PRNGKey(k))[2]))
  goals, expected = np.asarray(sample(np.arange(4))), np.array(REFERENCE_GOALS[name])
  if name == "arm_grasp":
    expected[:, [2, 5]] = 0.03  # goalax's targets where the cube settles
  np.testing.assert_allclose(goals, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", REFERENCE_TASKS)
def test_reference_starts_and_goals_cover_the_reference_ranges(name):
  env = reference_env(name)
  cube_center, cube_noise, goal_center, goal_noise = REFERENCE_DISTRIBUTIONS[name]
  keys = jax.random.split(jax.random.PRNGKey(5), 512)
  q, qd, goal = (np.asarray(x) for x in jax.jit(jax.vmap(env._sample_start_and_goal))(keys))
  assert not qd.any()
  arm_q = q[:, -len(env.arm_start) :]
  np.testing.assert_allclose(arm_q, np.broadcast_to(env.arm_start, arm_q.shape), atol=1e-7)

  def assert_covers(x, center, noise):
    np.testing.assert_array_less(np.abs(x - center), noise + 1e-6)
    assert (x.min(0) < np.asarray(center) - 0.9 * noise).all()
    assert (x.max(0) > np.asarray(center) + 0.9 * noise).all()

  if cube_center is not None:
    assert_covers(q[:, :2], cube_center, cube_noise)
    np.testing.assert_allclose(q[:, 2:7], np.broadcast_to([0.07, 1, 0, 0, 0], (512, 5)))
  if name == "arm_grasp":
    # The targets on either side of the cube where it settles (0.03 m up, dropped from 0.07).
    rest = np.concatenate([q[:, :2], np.full((512, 1), 0.03)], axis=1)
    offset = np.array([arm.GRASP_FINGERTIP_OFFSET, 0, 0])
    np.testing.assert_allclose(goal[:, 0:3], rest + offset, atol=1e-6)
    np.testing.assert_allclose(goal[:, 3:6], rest - offset, atol=1e-6)
    np.testing.assert_allclose(goal[:, 6], arm.GRASP_OPENING)
  elif name == "arm_reach":
    assert_covers(goal, goal_center, goal_noise)
  else:
    assert_covers(goal[:, :2], goal_center[:2], goal_noise)
    np.testing.assert_allclose(goal[:, 2], goal_center[2])
  assert env.goal_threshold == (0.05 if name == "arm_grasp" else 0.1)
  assert env.episode_length == (100 if name in ("arm_reach", "arm_grasp") else 150)


def test_reference_grasp_success_is_the_reference_rule():
  env = reference_env("arm_grasp")
  cube = np.array([0.1, 0.6, 0.03])
  goal = jnp.asarray(env.fingertip_goal(jnp.asarray(cube, jnp.float32)))

  def outcome(midpoint_offset, opening):
    mid = cube + np.asarray(midpoint_offset)
    left, right = mid + [0, opening / 2, 0], mid - [0, opening / 2, 0]
    state = np.zeros(env.state_size, np.float32)
    state[:3], state[16:19], state[19:22], state[22] = cube, left, right, opening
    dist, success, _ = env._goal_outputs(jnp.asarray(state), goal)
    expected_dist = np.linalg.norm(state[16:23] - np.asarray(goal))
    assert float(dist) == pytest.approx(expected_dist, rel=1e-5)  # dist: the norm, as everywhere
    return float(success)

  # Midpoint within 0.05 of the cube and opening within 0.02 of 0.075, whichever way the
  # fingertips lie (here across y; the targets lie along x), as in the reference.
  assert outcome([0, 0, 0], 0.075) == 1.0
  assert outcome([0.045, 0, 0], 0.09) == 1.0
  assert outcome([0, 0, 0.055], 0.075) == 0.0
  assert outcome([0, -0.03, 0.03], 0.075) == 1.0  # 0.042 away
  assert outcome([0, 0, 0], 0.1) == 0.0  # opening 0.025 off
  assert outcome([0, 0, 0], 0.057) == 1.0  # 0.018 off


def test_reference_grasp_goal_stays_and_state_is_the_reference_observation():
  # The recorded actions from the recorded start: the hand knocks the cube away around step 10.
  env = reference_env("arm_grasp")
  actions = jax.random.uniform(jax.random.PRNGKey(1), (12, 5), minval=-1.0, maxval=1.0)

  def rollout(key, actions):
    def body(state, action):
      state = env.step(state, action)
      return state, (state.obs, state.metrics["success"], state.reward, state.pipeline_state.q)

    first = env.reset(key)
    return first.obs, jax.lax.scan(body, first, actions)[1]

  obs0, outs = fast_jit(rollout)(jax.random.PRNGKey(0), actions)
  obs, success, reward, q = (np.asarray(x) for x in outs)
  state, goal = obs[:, : env.state_size], obs[:, env.state_size :]
  model = env.sys.mj_model
  arm_q = [model.jnt_qposadr[model.joint(j).id] for j in arm.ARM_JOINTS]
  np.testing.assert_array_equal(state[:, 0:3], q[:, 0:3])  # cube position
  np.testing.assert_array_equal(state[:, 3:10], q[:, arm_q])  # joint angles
  np.testing.assert_allclose(
    state[:, 22], np.linalg.norm(state[:, 19:22] - state[:, 16:19], axis=1), rtol=1e-5
  )
  assert np.abs(q[-1, :2] - q[0, :2]).max() > 0.02  # the cube was pushed
  np.testing.assert_array_equal(
    goal, np.broadcast_to(np.asarray(obs0)[env.state_size :], goal.shape)
  )
  midpoint = (state[:, 16:19] + state[:, 19:22]) / 2
  target = (goal[:, 0:3] + goal[:, 3:6]) / 2
  rule = (np.linalg.norm(midpoint - target, axis=1) < 0.05) & (np.abs(state[:, 22] - 0.075) < 0.02)
  np.testing.assert_array_equal(success, rule.astype(np.float32))
  np.testing.assert_array_equal(reward, success)
