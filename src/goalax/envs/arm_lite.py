"""goalax's own arm tasks (``arm_lite_reach``, ``arm_lite_grasp``, ``arm_lite_push_easy``,
``arm_lite_push_hard``, ``arm_lite_binpick_easy``, ``arm_lite_binpick_hard``): goalax's earlier
arm tasks, kept as they were when the reference's own Panda tasks took the ``arm_*`` names
(``goalax.envs.arm``). A cheaper arm built from primitives (5 physics steps of 0.01 s per env
step), controlled by joint-target deltas, with gravity compensation and its own task layouts;
described at :class:`LiteArmBase`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from goalax.envs import assets
from goalax.envs.arm import _check_difficulty
from goalax.envs.core import GoalEnv, check_backend

MODEL_FILE = "arm_panda.xml"  # goalax's own arm (the arm_lite_* tasks)
N_ARM = 7
# Home: tool centre 0.45 m in front of the base, 0.25 m above the table, fingers pointing down.
HOME_Q = np.array([0.0, -0.18, 0.0, -2.50, 0.0, 2.32, np.pi / 4])
CONTROLLED_JOINTS = (0, 1, 3, 5)  # joints 1, 2, 4, 6 in the default (JaxGCRL-like) action space
HELD_JOINTS = (2, 4, 6)
HELD_VALUES = (0.0, 0.0, np.pi / 4)  # joint 7 at π/4 makes the fingers close across the arm plane
JOINT_DELTA = 0.1  # rad of target change per env step at |action| = 1
FINGER_OPEN = 0.04  # each finger's travel when fully open
PAD_HALF_THICKNESS = 0.008  # the fingertip sites are at the pads' centres
START_NOISE = 0.05  # rad, on the controlled joints

CUBE_HALF = 0.02
CUBE_MASS = 0.1

# Layout on the table (metres, world frame).
PUSH_REGIONS = {  # difficulty: ((start low, start high), (goal low, goal high))
  "easy": (((0.45, -0.15), (0.55, -0.05)), ((0.45, 0.05), (0.55, 0.15))),
  "hard": (((0.35, -0.25), (0.65, 0.25)), ((0.35, -0.25), (0.65, 0.25))),
}
MIN_PUSH_DISTANCE = 0.1
BIN_CENTER = (0.5, 0.2)
BIN_INNER_HALF = 0.1
BIN_WALL_HALF_THICKNESS = 0.005
BIN_WALL_HEIGHT = 0.06
BINPICK_START_CENTER = (0.5, -0.15)
BINPICK_SPREADS = {  # difficulty: (start ± x, y), (goal ± x, y) around the bin centre
  "easy": ((0.03, 0.03), (0.02, 0.02)),
  "hard": ((0.10, 0.08), (0.07, 0.07)),
}
GRASP_REGION = ((0.35, -0.25), (0.65, 0.25))
REACH_GOAL_LOW, REACH_GOAL_HIGH = (0.35, -0.3, 0.05), (0.7, 0.3, 0.45)


def add_cube(root: ET.Element, pos=(0.5, 0.0)) -> None:
  """Appends the free cube to the world (after the arm, so its joint follows the arm's in q)."""
  world = root.find("worldbody")
  body = ET.SubElement(world, "body", name="cube", pos=f"{pos[0]} {pos[1]} {CUBE_HALF}")
  ET.SubElement(body, "freejoint", name="cube")
  ET.SubElement(
    body,
    "geom",
    name="cube",
    type="box",
    size=" ".join([str(CUBE_HALF)] * 3),
    mass=str(CUBE_MASS),
    contype="1",
    conaffinity="14",
    condim="3",
    friction="1 0.005 0.0001",
    rgba="0.85 0.2 0.2 1",
  )


def add_bin(root: ET.Element, center=BIN_CENTER) -> None:
  """Adds the bin's four walls as static boxes that collide with the cube only."""
  world = root.find("worldbody")
  cx, cy = center
  r = BIN_INNER_HALF + BIN_WALL_HALF_THICKNESS
  t, h = BIN_WALL_HALF_THICKNESS, BIN_WALL_HEIGHT / 2
  long = BIN_INNER_HALF + 2 * BIN_WALL_HALF_THICKNESS
  walls = {
    "bin_x_low": (cx - r, cy, t, long),
    "bin_x_high": (cx + r, cy, t, long),
    "bin_y_low": (cx, cy - r, long, t),
    "bin_y_high": (cx, cy + r, long, t),
  }
  for name, (x, y, hx, hy) in walls.items():
    ET.SubElement(
      world,
      "geom",
      name=name,
      type="box",
      pos=f"{x} {y} {h}",
      size=f"{hx} {hy} {h}",
      contype="8",
      conaffinity="0",
      rgba="0.3 0.4 0.8 1",
    )


def lite_arm_system(edit_model: Callable[[ET.Element], None] | None = None):
  """Loads the arm (plus whatever ``edit_model`` adds) with its MJX solver settings.

  Returns ``(sys, n_frames)``: 0.01 s physics steps, 5 per env step (control step 0.05 s). The
  Newton solver needs 4 iterations to hold a squeezed cube (with 1-3 a grasped cube is ejected).
  """
  root = assets.goalax_model_xml(MODEL_FILE)
  if edit_model is not None:
    edit_model(root)
  sys = assets.load_system(root)
  sys = sys.tree_replace(
    {
      "opt.timestep": 0.01,
      "opt.solver": mujoco.mjtSolver.mjSOL_NEWTON,
      "opt.iterations": 4,
      "opt.ls_iterations": 8,
    }
  )
  return sys, 5


def _uniform(key, low, high):
  low, high = jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)
  return jax.random.uniform(key, low.shape, minval=low, maxval=high)


class LiteArmBase(GoalEnv):
  """goalax's own arm: a 7-DoF Franka-Panda-style arm with a parallel gripper, cheaper than the
  reference's (primitives, 5 physics steps per env step), on its own task layouts.

  The arm (``assets/arm_panda.xml``) is built from capsules and boxes on the Panda's published
  modified-DH parameters and joint limits, so nothing is downloaded; the tasks add a cube (edge
  0.04 m) and, for bin picking, a bin to it in memory. The table top is the plane z = 0 and the
  robot's base stands at the origin, facing +x. Physics: MJX, 0.01 s steps, 5 per env step
  (control step 0.05 s).

  Actions (in [-1, 1]): joint-target deltas plus a gripper command. Each env step, every
  controlled joint's position target becomes ``q + 0.1 rad · a`` (measured angle plus at most 0.1
  rad, clipped to the joint's range), tracked by a position actuator (PD with the datasheet's
  torque limits; the links are gravity compensated), so an action works like a joint-velocity
  command: |a| = 1 turns a joint at about 1.1 rad/s (wrist 1.5 rad/s), a = 0 stops the arm where
  it is (a held cube's weight makes it sag by about 0.6 cm/s unless the policy counters it). Being
  relative to the measured angles, the control needs nothing beyond the state to be Markov. By
  default, as in JaxGCRL, only joints 1, 2, 4 and 6 are controlled (4 arm actions) and joints 3,
  5, 7 are held at 0, 0 and π/4, which keeps the arm in the vertical plane at azimuth ``q1`` with
  the fingers closing across it; ``full_arm=True`` controls all 7 joints. The last action sets
  both fingers' opening target: -1 closed, +1 fully open (0.04 m each). ``arm_lite_reach`` has no
  gripper action (fingers stay open).

  State (25 without a cube, 38 with one):
    [0:7]   joint angles          [7:14]  joint velocities
    [14]    gripper opening (sum of both fingers' travel, 0..0.08)   [15] its velocity
    [16:19] tool centre point (between the fingertips) x, y, z
    [19:22] left fingertip x, y, z  [22:25] right fingertip x, y, z
    [25:28] cube x, y, z  [28:32] cube orientation quaternion
    [32:35] cube linear velocity    [35:38] cube angular velocity (body frame)
  Positions are world coordinates (metres). Episodes start at a home pose (tool centre 0.45 m in
  front of the base, 0.25 m up, fingers down and open) with ±0.05 rad of noise on the controlled
  joints, the cube resting on the table turned to face the base. The goal is never part of the
  state or of the simulation (no target bodies, no markers).

  Tasks (goal, threshold, recommended episode length):
    ``arm_lite_reach``      tool centre x, y, z in a box in front of the robot; 0.05; 100.
    ``arm_lite_push_*``     cube x, y, z on the table; 0.05; 100 / 150. Easy: the cube starts in
                            a 10 cm square and must go to another 10 cm square 20 cm to its left.
                            Hard: start and goal anywhere in a 30 × 50 cm region, at least 10 cm
                            apart.
    ``arm_lite_binpick_*``  cube x, y, z on the floor of a walled bin (walls 6 cm high, 20 × 20
                            cm inside) to the left of the cube's start region; 0.05; 100 / 150.
                            Easy: start within ±3 cm and goal within ±2 cm of fixed points; hard:
                            start within ±10 × ±8 cm, goal anywhere in the bin (±7 cm).
    ``arm_lite_grasp``      both fingertip positions (goal size 6): targets on either side of the
                            cube, touching its faces across the gripper's closing direction; 0.02;
                            100. Fully open and perfectly centred fingers are 0.028 from the goal,
                            so success takes closing the fingers on the cube. The targets stay
                            where the cube started (the goal is fixed for the episode), so a cube
                            knocked away has to be brought back.

  This class holds the shared logic: model, action conversion, the state layout, the start pose.
  """

  goal_threshold = 0.05
  episode_length = 100
  default_backend = "mjx"
  backends = ("mjx",)
  has_cube: bool = True
  gripper_controlled: bool = True

  def __init__(
    self,
    backend: str = "mjx",
    full_arm: bool = False,
    edit_model: Callable[[ET.Element], None] | None = None,
    **kwargs,
  ):
    # Only MJX: the model relies on gravity compensation, box-box contacts and a Newton solve.
    check_backend(type(self).__name__, backend, self.backends)
    sys, n_frames = lite_arm_system(edit_model)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self.full_arm = bool(full_arm)
    mj = sys.mj_model
    site = lambda name: mujoco.mj_name2id(mj, mujoco.mjtObj.mjOBJ_SITE, name)
    self._tcp_site = site("tcp")
    self._fingertip_sites = jnp.array([site("left_fingertip"), site("right_fingertip")])
    low, high = np.asarray(mj.jnt_range[:N_ARM]).T
    margin = 1e-3
    self._joint_low = jnp.asarray(low + margin, jnp.float32)
    self._joint_high = jnp.asarray(high - margin, jnp.float32)
    self._controlled = jnp.arange(N_ARM) if self.full_arm else jnp.array(CONTROLLED_JOINTS)

  # ---- actions ------------------------------------------------------------------------------
  @property
  def action_size(self) -> int:
    return (N_ARM if self.full_arm else len(CONTROLLED_JOINTS)) + int(self.gripper_controlled)

  def actuator_targets(self, q: jax.Array, action: jax.Array) -> jax.Array:
    """Maps an action in [-1, 1] to the 9 actuator targets (7 joints, 2 fingers)."""
    action = jnp.clip(action, -1.0, 1.0)
    n_arm = self._controlled.shape[0]
    target = q[:N_ARM].at[self._controlled].add(JOINT_DELTA * action[:n_arm])
    if not self.full_arm:
      target = target.at[jnp.array(HELD_JOINTS)].set(jnp.array(HELD_VALUES, jnp.float32))
    target = jnp.clip(target, self._joint_low, self._joint_high)
    if self.gripper_controlled:
      finger = FINGER_OPEN * (action[n_arm] + 1.0) / 2.0
    else:
      finger = jnp.asarray(FINGER_OPEN, jnp.float32)
    return jnp.concatenate([target, jnp.stack([finger, finger])])

  def pipeline_step(self, pipeline_state, action):
    targets = self.actuator_targets(pipeline_state.q, action)
    return super().pipeline_step(pipeline_state, targets)

  # ---- state --------------------------------------------------------------------------------
  def tcp_position(self, pipeline_state) -> jax.Array:
    return pipeline_state.site_xpos[self._tcp_site]

  def _state_vector(self, pipeline_state):
    # Site positions are MJX's kinematics at the start of the env step's last physics step
    # (0.01 s behind q, as for brax's x); exact at reset and whenever the arm is still.
    q, qd = pipeline_state.q, pipeline_state.qd
    parts = [
      q[:N_ARM],
      qd[:N_ARM],
      (q[7] + q[8])[None],
      (qd[7] + qd[8])[None],
      self.tcp_position(pipeline_state),
      pipeline_state.site_xpos[self._fingertip_sites].reshape(-1),
    ]
    if self.has_cube:
      parts += [q[9:16], qd[9:15]]
    return jnp.concatenate(parts)

  def _start_q(self, rng, cube_xy=None):
    """Home pose with noise on the controlled joints, fingers open, cube (if any) at ``cube_xy``
    turned to face the base."""
    noise = jax.random.uniform(
      rng, (self._controlled.shape[0],), minval=-START_NOISE, maxval=START_NOISE
    )
    arm = jnp.asarray(HOME_Q, jnp.float32).at[self._controlled].add(noise)
    q = jnp.concatenate([arm, jnp.full((2,), FINGER_OPEN)])
    if self.has_cube:
      yaw = jnp.arctan2(cube_xy[1], cube_xy[0])
      quat = jnp.array([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])
      q = jnp.concatenate([q, cube_xy, jnp.array([CUBE_HALF]), quat])
    return q, jnp.zeros((self.sys.qd_size(),))

  # ---- metrics ------------------------------------------------------------------------------
  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    if not self.has_cube:
      return {}
    cube = pipeline_state.q[9:12]
    return {
      "tcp_to_cube": jnp.linalg.norm(cube - self.tcp_position(pipeline_state)),
      "cube_height": cube[2] - CUBE_HALF,
    }


class LiteArmReach(LiteArmBase):
  """Move the tool centre point to a goal position."""

  state_size = 25
  goal_indices = (16, 17, 18)
  goal_threshold = 0.05
  episode_length = 100
  has_cube = False
  gripper_controlled = False
  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode

  def _sample_start_and_goal(self, rng):
    k_q, k_goal = jax.random.split(rng)
    q, qd = self._start_q(k_q)
    return q, qd, _uniform(k_goal, REACH_GOAL_LOW, REACH_GOAL_HIGH)


class LiteArmCubeBase(LiteArmBase):
  """An arm task with the cube; the goal is the cube's position unless a subclass says else."""

  state_size = 38
  goal_indices = (25, 26, 27)
  extra_metric_names = ("tcp_to_cube", "cube_height")

  def __init__(self, backend: str = "mjx", edit_model=None, **kwargs):
    def edit(root):
      add_cube(root)
      if edit_model is not None:
        edit_model(root)

    super().__init__(backend, edit_model=edit, **kwargs)


class LiteArmPush(LiteArmCubeBase):
  """Push the cube over the table to a goal position."""

  def __init__(self, backend: str = "mjx", difficulty: str = "easy", **kwargs):
    self.difficulty = _check_difficulty(difficulty)
    kwargs.setdefault("episode_length", 100 if difficulty == "easy" else 150)
    super().__init__(backend, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_q, k_cube, k_goal = jax.random.split(rng, 3)
    (start_low, start_high), (goal_low, goal_high) = PUSH_REGIONS[self.difficulty]
    cube_xy = _uniform(k_cube, start_low, start_high)
    # Goal: the first of a few candidates at least MIN_PUSH_DISTANCE from the cube's start.
    candidates = jax.vmap(lambda k: _uniform(k, goal_low, goal_high))(jax.random.split(k_goal, 8))
    far = jnp.linalg.norm(candidates - cube_xy, axis=-1) >= MIN_PUSH_DISTANCE
    goal_xy = candidates[jnp.argmax(far)]
    q, qd = self._start_q(k_q, cube_xy)
    return q, qd, jnp.concatenate([goal_xy, jnp.array([CUBE_HALF])])


class LiteArmBinpick(LiteArmCubeBase):
  """Pick the cube up and place it in the bin (whose walls are higher than the cube)."""

  def __init__(self, backend: str = "mjx", difficulty: str = "easy", **kwargs):
    self.difficulty = _check_difficulty(difficulty)
    kwargs.setdefault("episode_length", 100 if difficulty == "easy" else 150)
    super().__init__(backend, edit_model=add_bin, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_q, k_cube, k_goal = jax.random.split(rng, 3)
    start_spread, goal_spread = (jnp.array(s) for s in BINPICK_SPREADS[self.difficulty])
    cube_xy = jnp.array(BINPICK_START_CENTER) + _uniform(k_cube, -start_spread, start_spread)
    goal_xy = jnp.array(BIN_CENTER) + _uniform(k_goal, -goal_spread, goal_spread)
    q, qd = self._start_q(k_q, cube_xy)
    return q, qd, jnp.concatenate([goal_xy, jnp.array([CUBE_HALF])])


class LiteArmGrasp(LiteArmCubeBase):
  """Put the two fingertips on opposite faces of the cube (goal: both fingertip positions)."""

  goal_indices = (19, 20, 21, 22, 23, 24)
  goal_threshold = 0.02

  def _sample_start_and_goal(self, rng):
    k_q, k_cube = jax.random.split(rng)
    cube_xy = _uniform(k_cube, *GRASP_REGION)
    q, qd = self._start_q(k_q, cube_xy)
    # The fingers close along the hand's y axis, which (joint 7 at π/4) is horizontal and
    # perpendicular to the arm's plane; the left finger moves along +y: (sin φ, -cos φ, 0) at
    # azimuth φ. The cube is turned to azimuth φ, so these targets touch two of its faces.
    phi = jnp.arctan2(cube_xy[1], cube_xy[0])
    across = jnp.array([jnp.sin(phi), -jnp.cos(phi), 0.0])
    center = jnp.concatenate([cube_xy, jnp.array([CUBE_HALF])])
    offset = (CUBE_HALF + PAD_HALF_THICKNESS) * across
    return q, qd, jnp.concatenate([center + offset, center - offset])
