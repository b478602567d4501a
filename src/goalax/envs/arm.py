"""Manipulation: a 7-DoF Franka Emika Panda arm, in two families of tasks.

**JaxGCRL's arm tasks, under its names** (``arm_reach``, ``arm_grasp``, ``arm_push_easy``,
``arm_push_hard``, ``arm_binpick_easy``, ``arm_binpick_hard``; classes :class:`ArmReach`,
:class:`ArmGrasp`, :class:`ArmPush`, :class:`ArmBinpick`): the reference's (JaxGCRL 0.2.8's
``envs/manipulation``) models, control, starts, goals and success rules.

Model: the reference's XML of each task (``assets/panda_<task>.xml``, copied unchanged; MuJoCo
Menagerie's Panda with explicit link inertias, a capsule hand fused into link 7 and, except for
reach, two slide fingers coupled by an equality constraint), loaded as the reference loads it
(Brax's ``mjcf`` with joint-less bodies fused) with three edits that leave the robot's physics as
it is: the Panda's visual meshes are dropped (they are visual only, contype 0, on bodies whose
mass comes from their ``<inertial>``; the mesh files are not shipped), the ``goal_marker`` body is
removed (goalax's goal lives outside the physics state; the marker is a free, gravity-compensated
body that collides with nothing and constrains nothing) and visual-only capsules sketch the links.
Only the explicit ``<pair>`` contacts of the XML collide (cube with table, hand, fingers and bin
walls; hand and fingers with the table and the walls; the two fingers). MJX only, as in the
reference: implicit-fast integration, physics step 0.002 s, Newton solver with 6 iterations and
12 line-search steps, 25 physics steps per env step (control step 0.05 s).

Joint order (names as in the reference's model, which replay matches): the cube's free joint
(unnamed; not in reach), ``joint1``-``joint7``, ``finger_joint1``, ``finger_joint2`` (grasp:
``finger_joint1``, ``left_fingertip_joint``, ``finger_joint2``, ``right_fingertip_joint``).

Actions (4 arm + 1 gripper; reach has no gripper action), absolute and unclipped as in the
reference: the position targets of joints 1, 2, 4, 6 are ``offset + a · half_range`` with action
-1 and +1 at ``ARM_TARGET_LOW`` and ``ARM_TARGET_HIGH`` (joints 3 and 5 held at 0, joint 7 at
1.4487); MuJoCo clips each target to its actuator's range. The gripper is binary: a > 0 closes
both fingers (actuator control 0), a <= 0 opens them (control 255, finger target 0.05 m).

State (the reference's observation without its goal; positions and velocities in world frame):
  reach (13): joint angles 1-7, link 7 (the hand) position, link 7 velocity.
  push, binpick (18): cube position, joint angles 1-7, link 7 position and velocity, the distance
    between the finger bodies, the reference's "gripper force" (its mean of the actuator forces
    over its first 19 degrees of freedom, of which only the 7 arm joints carry any, times 0.1).
  grasp (24): cube position, joint angles 1-7, link 7 position and velocity, left and right
    fingertip positions, the fingertip distance, the fingers' mean actuator force times 0.1.

Starts and goals, drawn from the reset key as the reference draws them (same splits, same draws:
a key gives the reference's start and goal). The arm always starts at the same pose (joints
``ARM_START``, fingers open); the cube (edge 0.06 m, 0.216 kg) starts unturned 0.07 m up (it
drops 4 cm onto the table) at ``sys.init_q``'s x, y plus uniform noise of ± ``cube_noise``:
  reach: goal uniform in the box (0, 0.5, 0.3) ± 0.2; success within 0.1; 100 steps.
  push easy / hard: cube from (-0.1, 0.6) ± 0.1 / (-0.25, 0.65) ± 0.25; goal (cube x, y, z) at
    (0.1, 0.6, 0.03) ± 0.1 / (0.25, 0.65, 0.03) ± 0.25 in x, y; success within 0.1; 150 steps.
  binpick easy / hard: cube from (-0.15, 0.6) ± 0.07 / (-0.3, 0.6) ± 0.15 in the left bin; goal at
    (0.17, 0.6, 0.03) ± 0.005 / (0.3, 0.6, 0.03) ± 0.15 in the right bin; success within 0.1; 150.
  grasp: cube from (0, 0.6) ± 0.3. Goal (7): the two fingertip targets, 0.0375 m either side of
    the cube along world x, and the fingertip distance 0.075. Success, the reference's rule: the
    fingertips' midpoint within 0.05 (``goal_threshold``) of the targets' midpoint and their
    distance within 0.02 of 0.075 (``dist``, as in every env, is the goal vector's distance).
    One difference, as goalax's goal is fixed for the episode: the reference moves its targets
    with the cube at every step (from the cube's start 0.07 m up, before it drops), goalax keeps
    them at the cube's resting place (x, y of its start, 0.03 m up), so success is the
    reference's while the cube stays where it settled, and a cube pushed away must be brought
    back. 100 steps.

**goalax's own arm** (``arm_lite_reach``, ``arm_lite_grasp``, ``arm_lite_push_easy``, ...; classes
``LiteArm*`` in ``goalax.envs.arm_lite``): goalax's earlier arm tasks, unchanged: a cheaper arm
built from primitives (5 physics steps of 0.01 s per env step), controlled by joint-target
deltas, with gravity compensation and its own task layouts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import ClassVar

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from goalax.envs import assets
from goalax.envs.core import GoalEnv, check_backend

# ---- JaxGCRL's Panda tasks (the reference's arm_* names) ----------------------------------------
# The reference's solver settings and frame skip (jaxgcrl envs/manipulation/arm_envs.py).
PANDA_SOLVER = {"opt.timestep": 0.002, "opt.iterations": 6, "opt.ls_iterations": 12}
PANDA_N_FRAMES = 25
GOAL_BODY = "goal_marker"
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
# Target angles (rad) of joints 1-7 at action -1 and +1; joints 3, 5 and 7 are not controlled.
ARM_TARGET_LOW = (0.3491, 0.0, 0.0, -3.0718, 0.0, 2.3562, 1.4487)
ARM_TARGET_HIGH = (2.7925, 1.48353, 0.0, -0.0698, 0.0, 3.7525, 1.4487)
GRIPPER_OPEN = 255.0  # finger actuator control when open (0 when closed)
ARM_START = (1.571, 0.742, 0.0, -1.571, 0.0, 3.054, 1.449)
FINGERS_OPEN = (0.04, 0.04)
# The reference's push and binpick observations average the actuator forces over the first 19
# of their 21 degrees of freedom (cube 6, goal marker 6, arm 7): the arm's sum divided by 19.
REFERENCE_FORCE_DOFS = 19
GRASP_FINGERTIP_OFFSET = 0.0375  # fingertip targets on either side of the cube, along world x
GRASP_OPENING = 0.075  # target fingertip distance (the cube is 0.06 wide)
GRASP_CENTER_TOLERANCE = 0.05  # the reference's success: midpoint within this of the cube ...
GRASP_OPENING_TOLERANCE = 0.02  # ... and fingertip distance within this of GRASP_OPENING
CUBE_REST_HEIGHT = 0.03  # the cube's centre resting on the table (its half size)

# Visual-only capsules (type, fromto in the body's frame, radius) standing in for the dropped
# meshes, so renders show the links; contype 0, group 2 like the reference's visual geoms.
LINK_VISUALS = {
  "link0": (("cylinder", "0 0 0 0 0 0.14", 0.07),),
  "link1": (("capsule", "0 0 -0.193 0 0 0", 0.06),),
  "link2": (("capsule", "0 0 0 0 -0.147 0", 0.06),),
  "link3": (("capsule", "0 0 -0.169 0 0 0", 0.055), ("capsule", "0 0 0 0.0825 0 0", 0.055)),
  "link4": (("capsule", "0 0 0 0 0.071 0", 0.055), ("capsule", "0 0.071 0 -0.0825 0.111 0", 0.055)),
  "link5": (("capsule", "0 0 -0.273 0 0 -0.033", 0.05),),
  "link6": (("capsule", "0 0 0 0.088 0 0", 0.05),),
  "link7": (("capsule", "0 0 0 0 0 0.1", 0.04),),
}


def strip_meshes(root: ET.Element) -> None:
  """Removes the mesh assets, every geom that uses one and the compiler's mesh folder."""
  compiler = root.find("compiler")
  if compiler is not None:
    compiler.attrib.pop("meshdir", None)
  for asset in root.iter("asset"):
    for mesh in asset.findall("mesh"):
      asset.remove(mesh)
  for parent in root.iter():
    for geom in parent.findall("geom"):
      if "mesh" in geom.attrib:
        parent.remove(geom)


def add_link_visuals(root: ET.Element) -> None:
  """Adds :data:`LINK_VISUALS` to the link bodies (no contacts; no mass, as the links' inertias
  are given by their ``<inertial>``)."""
  bodies = {b.get("name"): b for b in root.iter("body")}
  for name, shapes in LINK_VISUALS.items():
    for kind, fromto, radius in shapes:
      ET.SubElement(
        bodies[name],
        "geom",
        type=kind,
        fromto=fromto,
        size=str(radius),
        contype="0",
        conaffinity="0",
        group="2",
        rgba="0.92 0.92 0.95 1",
      )


def panda_model_xml(file_name: str) -> ET.Element:
  """The reference's model ``assets/<file_name>`` as goalax runs it: no meshes, no goal body,
  visual capsules on the links."""
  root = assets.goalax_model_xml(file_name)
  strip_meshes(root)
  assets.remove_body(root, GOAL_BODY)
  add_link_visuals(root)
  return root


def panda_system(file_name: str):
  """``(sys, n_frames)`` of a reference arm task: its model with the reference's MJX settings."""
  sys = assets.load_system(panda_model_xml(file_name))
  return sys.tree_replace(PANDA_SOLVER), PANDA_N_FRAMES


def _name_id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str) -> int:
  index = mujoco.mj_name2id(model, kind, name)
  if index < 0:
    raise KeyError(f"no {kind.name} named {name!r} in the model")
  return index


class ArmEnv(GoalEnv):
  """The reference's arm tasks: model, action conversion, the arm's part of the state, the start.

  A subclass sets ``model_file``, ``arm_start`` (the joints after the cube's, in model order),
  ``gripper_controlled`` and implements ``_start`` (``q, qd`` from a key), ``_goal`` (from the start
  ``q`` and a key) and ``_state_vector``.
  """

  model_file: str
  arm_start: ClassVar[tuple[float, ...]] = ARM_START + FINGERS_OPEN
  gripper_controlled: ClassVar[bool] = True
  goal_threshold = 0.1
  default_backend = "mjx"
  reference_backend = "mjx"
  backends = ("mjx",)

  def __init__(self, backend: str = "mjx", **kwargs):
    check_backend(type(self).__name__, backend, self.backends)
    sys, n_frames = panda_system(self.model_file)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    mj = sys.mj_model
    joints = [_name_id(mj, mujoco.mjtObj.mjOBJ_JOINT, name) for name in ARM_JOINTS]
    self._arm_q = np.asarray(mj.jnt_qposadr[joints])
    self._arm_dofs = np.asarray(mj.jnt_dofadr[joints])
    self._hand = self._body_index("link7")  # the hand is fused into link 7

  def _body_index(self, name: str) -> int:
    """Index of body ``name`` in Brax's ``x`` and ``xd`` (which leave out the world body)."""
    return _name_id(self.sys.mj_model, mujoco.mjtObj.mjOBJ_BODY, name) - 1

  @property
  def action_size(self) -> int:
    return 4 + int(self.gripper_controlled)

  def actuator_input(self, action: jax.Array) -> jax.Array:
    """The reference's absolute joint targets (7) and gripper controls (2) for ``action``."""
    arm_action = jnp.array([action[0], action[1], 0, action[2], 0, action[3], 0])
    low, high = jnp.array(ARM_TARGET_LOW), jnp.array(ARM_TARGET_HIGH)
    offset, half_range = (low + high) / 2, (high - low) / 2
    arm = offset + arm_action * half_range
    if not self.gripper_controlled:
      return arm
    gripper = jnp.where(action[-1] > 0, jnp.zeros(2), jnp.full(2, GRIPPER_OPEN))
    return jnp.concatenate([arm, gripper])

  def pipeline_step(self, pipeline_state, action):
    return super().pipeline_step(pipeline_state, self.actuator_input(action))

  def _arm_state(self, pipeline_state) -> list[jax.Array]:
    """Joint angles 1-7, the hand's (link 7's) position and velocity."""
    return [
      pipeline_state.q[self._arm_q],
      pipeline_state.x.pos[self._hand],
      pipeline_state.xd.vel[self._hand],
    ]

  def _start(self, rng: jax.Array) -> tuple[jax.Array, jax.Array]:
    raise NotImplementedError

  def _goal(self, q: jax.Array, rng: jax.Array) -> jax.Array:
    raise NotImplementedError

  def _sample_start_and_goal(self, rng):
    # The reference's reset: the start from the first split, the goal from the second.
    rng, k_start = jax.random.split(rng)
    q, qd = self._start(k_start)
    _, k_goal, _ = jax.random.split(rng, 3)
    return q, qd, self._goal(q, k_goal)


class ArmReach(ArmEnv):
  """Move the hand (link 7) to a goal position; no gripper action."""

  model_file = "panda_reach.xml"
  arm_start = ARM_START
  gripper_controlled = False
  state_size = 13
  goal_indices = (7, 8, 9)
  episode_length = 100
  goal_center = (0.0, 0.5, 0.3)
  goal_noise = 0.2

  def _start(self, rng):
    return jnp.array(self.arm_start), jnp.zeros(self.sys.qd_size())

  def _goal(self, q, rng):
    return jnp.array(self.goal_center) + self.goal_noise * jax.random.uniform(rng, [3], minval=-1)

  def _state_vector(self, pipeline_state):
    return jnp.concatenate(self._arm_state(pipeline_state))


class ArmCubeEnv(ArmEnv):
  """A reference task with the cube (free joint first in ``q``); it starts at ``sys.init_q``'s
  x, y plus uniform noise of ± ``cube_noise``."""

  cube_noise: float

  def _start(self, rng):
    _, k_cube, _ = jax.random.split(rng, 3)
    init_q = self.sys.init_q
    cube_xy = init_q[:2] + self.cube_noise * jax.random.uniform(k_cube, [2], minval=-1)
    q = jnp.concatenate([cube_xy, init_q[2:7], jnp.array(self.arm_start)])
    return q, jnp.zeros(self.sys.qd_size())


# difficulty -> (model, cube noise, goal centre, goal noise in x and y), as in the reference.
PUSH_TASKS = {
  "easy": ("panda_push_easy.xml", 0.1, (0.1, 0.6, 0.03), 0.1),
  "hard": ("panda_push_hard.xml", 0.25, (0.25, 0.65, 0.03), 0.25),
}
BINPICK_TASKS = {
  "easy": ("panda_binpick_easy.xml", 0.07, (0.17, 0.6, 0.03), 0.005),
  "hard": ("panda_binpick_hard.xml", 0.15, (0.3, 0.6, 0.03), 0.15),
}


class ArmCubeToGoal(ArmCubeEnv):
  """Bring the cube to a goal position (push and binpick); ``tasks`` gives the difficulties."""

  tasks: ClassVar[dict[str, tuple]]
  state_size = 18
  goal_indices = (0, 1, 2)
  episode_length = 150

  def __init__(self, backend: str = "mjx", difficulty: str = "easy", **kwargs):
    self.difficulty = _check_difficulty(difficulty)
    self.model_file, self.cube_noise, self.goal_center, self.goal_noise = self.tasks[difficulty]
    super().__init__(backend, **kwargs)
    self._fingers = np.array([self._body_index("left_finger"), self._body_index("right_finger")])

  def _goal(self, q, rng):
    _, k = jax.random.split(rng)
    noise = jnp.array([self.goal_noise, self.goal_noise, 0])
    return jnp.array(self.goal_center) + noise * jax.random.uniform(k, [3], minval=-1)

  def _state_vector(self, pipeline_state):
    left, right = pipeline_state.x.pos[self._fingers]
    force = jnp.sum(pipeline_state.qfrc_actuator[self._arm_dofs]) / REFERENCE_FORCE_DOFS * 0.1
    return jnp.concatenate(
      [
        pipeline_state.q[:3],
        *self._arm_state(pipeline_state),
        jnp.linalg.norm(right - left)[None],
        force[None],
      ]
    )


class ArmPush(ArmCubeToGoal):
  """Push the cube from the blue region to a goal in the red region next to it."""

  tasks = PUSH_TASKS


class ArmBinpick(ArmCubeToGoal):
  """Carry the cube from the blue bin into the red bin."""

  tasks = BINPICK_TASKS


class ArmGrasp(ArmCubeEnv):
  """Close the fingers on either side of the cube (goal: fingertip targets and distance)."""

  model_file = "panda_grasp.xml"
  # The reference's start of the joints after the arm's: finger_joint1 0.04,
  # left_fingertip_joint 0.04 (past its ±1e-4 range; the limit pulls it back), finger_joint2 0,
  # right_fingertip_joint 0.
  arm_start = ARM_START + (0.04, 0.04, 0.0, 0.0)
  cube_noise = 0.3
  state_size = 24
  goal_indices = (16, 17, 18, 19, 20, 21, 22)
  goal_threshold = GRASP_CENTER_TOLERANCE
  episode_length = 100

  def __init__(self, backend: str = "mjx", **kwargs):
    super().__init__(backend, **kwargs)
    mj = self.sys.mj_model
    self._fingertips = np.array(
      [self._body_index("left_fingertip"), self._body_index("right_fingertip")]
    )
    finger_joints = [_name_id(mj, mujoco.mjtObj.mjOBJ_JOINT, f"finger_joint{i}") for i in (1, 2)]
    self._finger_dofs = np.asarray(mj.jnt_dofadr[finger_joints])

  def fingertip_goal(self, cube_pos: jax.Array) -> jax.Array:
    """The reference's goal for a cube at ``cube_pos``: fingertip targets on either side of it
    along world x, then the target fingertip distance."""
    left = cube_pos + jnp.array([GRASP_FINGERTIP_OFFSET, 0, 0])
    right = cube_pos + jnp.array([-GRASP_FINGERTIP_OFFSET, 0, 0])
    return jnp.concatenate([left, right, jnp.array([GRASP_OPENING])])

  def _goal(self, q, rng):
    # The reference's goal for the cube once it has settled on the table (its own starts at the
    # cube's drop height and then follows the cube; goalax's goal stays put for the episode).
    return self.fingertip_goal(jnp.concatenate([q[:2], jnp.array([CUBE_REST_HEIGHT])]))

  def _state_vector(self, pipeline_state):
    left, right = pipeline_state.x.pos[self._fingertips]
    force = jnp.mean(pipeline_state.qfrc_actuator[self._finger_dofs], keepdims=True) * 0.1
    return jnp.concatenate(
      [
        pipeline_state.q[:3],
        *self._arm_state(pipeline_state),
        left,
        right,
        jnp.linalg.norm(right - left)[None],
        force,
      ]
    )

  def _goal_outputs(self, state_vec, goal):
    # dist is the norm, as in every env; success is the reference's rule: the fingertips'
    # midpoint within goal_threshold (0.05) of the targets' midpoint (the cube, while it stays
    # where it settled) and their distance within 0.02 of the target distance.
    dist = self.goal_distance(state_vec, goal)
    center = lambda x: (x[..., 0:3] + x[..., 3:6]) / 2
    achieved = self.achieved_goal(state_vec)
    center_dist = jnp.linalg.norm(center(achieved) - center(goal), axis=-1)
    opening_dist = jnp.abs(achieved[..., 6] - goal[..., 6])
    success = (center_dist < self.goal_threshold) & (opening_dist < GRASP_OPENING_TOLERANCE)
    success = success.astype(jnp.float32)
    reward = -dist if self.dense_reward else success
    return dist, success, reward

  def goal_markers(self, goal):
    return np.asarray(goal, np.float64)[:6].reshape(2, 3)


def _check_difficulty(difficulty: str) -> str:
  if difficulty not in ("easy", "hard"):
    raise ValueError(f"difficulty must be 'easy' or 'hard', got {difficulty!r}.")
  return difficulty
