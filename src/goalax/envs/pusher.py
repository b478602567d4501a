"""Pusher: a 7-DoF arm pushes pucks on a table; the goal is the pucks' x, y.

The reference's envs (JaxGCRL's ``pusher_easy``, ``pusher_hard``, ``pusher_reacher``, ``pusher2``)
run on brax's ``pusher.xml`` or the reference's ``pusher2.xml``, less the reference's goal bodies
(two slide joints each, carrying the goal in ``q``): goalax's goal lives outside the physics state.
Their starts and goals are drawn as the reference's ``reset`` draws them, key by key: the same key
gives the reference's start and goal. Each puck and goal body carries two slide joints, y first
(``obj_slidey, obj_slidex``), and the reference writes its draws into them in that order.

``pusher_easy`` / ``pusher_hard`` (``Pusher``), one puck:
State (20): arm joint angles (7), arm joint velocities (7), arm tip position (3), puck position
(3). Goal (2): puck x, y in world coordinates. The puck starts at x in [0.25, 0.65], y in
[-0.35, -0.05]; ``pusher_easy``'s goal is at the same x, y in [-0.6, -0.3], ``pusher_hard``'s at
x in [-0.1, 0.9], y in [-0.7, 0.3]. Where puck and goal are closer than 0.17, the reference
multiplies the puck's offset from its rest position (0.45, -0.05) by 0.17 / distance.

``pusher_reacher`` (``PusherReacher``), the reference's debug task: the same arm reaches a point
above the table with its tip, as in Reacher; the puck is parked out of reach at (1.45, 0.95).
State (17): arm joint angles (7), velocities (7), tip position (3). Goal (3): a point x, y, z:
x in [0.25, 0.65], y in [-0.35, -0.05], z = -0.323 (the reference's goal body). Threshold 0.1.

``pusher2`` (``Pusher2``), two pucks with a goal each, on the reference's ``pusher2.xml`` (pucks
at rest at the origin, slide joints ``obj1_slidey, obj1_slidex, obj2_slidey, obj2_slidex``; the
two pucks pass through each other). State (23): the same 20 entries plus the second puck's
position (3). Goal (4): puck 1 x, y and puck 2 x, y. Puck 1 starts at x in [0.25, 0.45), puck 2 at
x in (0.45, 0.65], both at y in [-0.35, -0.05]; goal 1 at x in [-0.15, 0.375), goal 2 at x in
(0.375, 0.9], both at the SAME y in [-0.7, 0.3] (the reference draws both from one key). A puck
closer than 0.17 to its goal has its position multiplied by 0.17 / distance (the reference's rule,
here about the world origin). Success needs BOTH pucks within the threshold of their goals.

Success threshold: the reference counts success when the 3-D distance between the puck's centre
(z = -0.275) and its goal body (z = -0.323) is below 0.1; with the height gap of 0.048 that is an
x, y distance below sqrt(0.1² - 0.048²) = 0.0877, goalax's threshold for these goals.

``pusher2_bands`` (``Pusher2Bands``), goalax's own two-puck task (unchanged from goalax's earlier
``pusher2``): brax's ``pusher.xml`` with a copy of its puck added in memory (the two pucks
collide); puck 1 starts and has its goal on the -y side of the working area, puck 2 on the +y
side (bands 0.14 apart, so both goals can be met at once). Success needs both pucks within 0.1.

Reward and success come from the state AFTER the step (the reference scored the state before).
"""

from __future__ import annotations

import copy
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable

import jax
import jax.numpy as jnp
from brax import base
from brax import math as brax_math

from goalax.envs import assets
from goalax.envs.core import GoalEnv

PUCK_REST_XY = jnp.array([0.45, -0.05])  # the object body's position in brax's pusher.xml
PUCK_RADIUS = 0.05
# The reference's success: 3-D distance from the puck's centre (z = -0.275) to the goal body
# (z = -0.323) below 0.1; as a distance in x, y: below sqrt(0.1² - 0.048²).
REFERENCE_SUCCESS_DISTANCE = 0.1
GOAL_BODY_BELOW_PUCK = 0.048
PUCK_GOAL_THRESHOLD = math.sqrt(REFERENCE_SUCCESS_DISTANCE**2 - GOAL_BODY_BELOW_PUCK**2)
MIN_PUCK_GOAL_DISTANCE = 0.17
ARM_START_SPEED = 0.005  # arm joint velocities start uniform in [-0.005, 0.005]

# PusherReacher: the reference's goal body at rest and where the puck is parked (its slide-joint
# values, out of the arm's reach).
REACH_GOAL_REST = jnp.array([0.45, -0.05, -0.323])
PARKED_PUCK_JOINTS = jnp.array([1.0, 1.0])


def _uniform(key, low, high):
  """One number, drawn as the reference draws each coordinate: ``uniform(key, (1,), low, high)``."""
  return jax.random.uniform(key, (1,), minval=low, maxval=high)


def _reference_min_distance(puck, goal):
  """The reference's rule: a puck closer than 0.17 to its goal has its slide-joint values
  multiplied by ``0.17 / distance`` (this scales them about the body's rest position)."""
  norm = brax_math.safe_norm(puck - goal)
  return puck * jnp.where(norm < MIN_PUCK_GOAL_DISTANCE, MIN_PUCK_GOAL_DISTANCE / norm, 1.0)


class PusherBase(GoalEnv):
  """The arm and its pucks: model loading, per-backend tuning and the state vector.

  Subclasses set ``PUCKS`` (body names) and the class attributes of ``GoalEnv``; the state is
  ``q[:7], qd[:7], tip xyz, xyz of each puck``. Each puck body carries two slide joints
  ``(y, x)``, in ``q`` right after the arm's 7 joints. The model is brax's ``pusher.xml`` (or
  ``MODEL`` from goalax's assets) less the bodies in ``GOAL_BODIES``.
  """

  PUCKS: tuple[str, ...] = ("object",)
  MODEL: str | None = None  # a file of goalax/envs/assets; None: brax's pusher.xml
  GOAL_BODIES: tuple[str, ...] = ("goal",)
  REFERENCE_QD_SIZE = 11  # the reference model's qd size: arm 7, puck 2, goal body 2
  goal_threshold = PUCK_GOAL_THRESHOLD
  episode_length = 1000
  default_backend = "spring"
  reference_backend = "generalized"

  def __init__(
    self, backend: str = "spring", edit_model: Callable[[ET.Element], None] | None = None, **kwargs
  ):
    if self.MODEL is None:
      root = assets.brax_model_xml("pusher.xml")
    else:
      root = assets.goalax_model_xml(self.MODEL)
    for body in self.GOAL_BODIES:
      assets.remove_body(root, body)
    if edit_model is not None:
      edit_model(root)
    sys = assets.load_system(root)
    n_frames = 5
    if backend in ("spring", "positional"):
      sys = sys.tree_replace({"opt.timestep": 0.001})
      sys = sys.replace(actuator=sys.actuator.replace(gear=jnp.array([20.0] * sys.act_size())))
      n_frames = 50
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    # The tips_arm body is fused into its parent when loaded, so track r_wrist_flex_link.
    self._tip_idx = self.sys.link_names.index("r_wrist_flex_link")
    self._puck_idx = jnp.array([self.sys.link_names.index(name) for name in self.PUCKS])

  def _reference_start(self, puck_joints, qd_key):
    """``q``/``qd`` as the reference starts: the arm at rest, the pucks' slide joints at
    ``puck_joints`` (y, x per puck), the arm's velocities drawn from ``qd_key`` with the
    reference model's qd size (its goal bodies included), so a key gives the reference's draw."""
    q = self.sys.init_q.at[7 : 7 + puck_joints.size].set(puck_joints)
    arm_qd = jax.random.uniform(
      qd_key, (self.REFERENCE_QD_SIZE,), minval=-ARM_START_SPEED, maxval=ARM_START_SPEED
    )[:7]
    return q, jnp.zeros(self.sys.qd_size()).at[:7].set(arm_qd)

  def _link_positions(self, pipeline_state):
    return (
      pipeline_state.x.vmap().do(base.Transform.create(pos=self.sys.link.inertia.transform.pos)).pos
    )

  def _state_vector(self, pipeline_state):
    pos = self._link_positions(pipeline_state)
    return jnp.concatenate(
      [
        pipeline_state.q[:7],
        pipeline_state.qd[:7],
        pos[self._tip_idx],
        pos[self._puck_idx].reshape(-1),
      ]
    )

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    pos = self._link_positions(pipeline_state)
    tip_to_puck = jnp.linalg.norm(pos[self._puck_idx] - pos[self._tip_idx], axis=-1)
    return dict(zip(self.extra_metric_names, tip_to_puck))


class Pusher(PusherBase):
  """The reference's ``pusher_easy`` / ``pusher_hard``: one puck, a goal for it."""

  state_size = 20
  goal_indices = (17, 18)
  extra_metric_names = ("tip_to_puck",)

  def __init__(self, backend: str = "spring", difficulty: str = "easy", **kwargs):
    if difficulty not in ("easy", "hard"):
      raise ValueError(f"difficulty must be one of ['easy', 'hard'], got {difficulty!r}.")
    super().__init__(backend, **kwargs)
    self.difficulty = difficulty

  def _sample_start_and_goal(self, rng):
    # The reference's reset, key by key; puck and goal as slide-joint values (y, x) about the
    # bodies' common rest position PUCK_REST_XY.
    rng, rng1, rng2, rng3, rng4 = jax.random.split(rng, 5)
    puck = jnp.concatenate([_uniform(rng, -0.3, -1e-6), _uniform(rng1, -0.2, 0.2)])
    if self.difficulty == "hard":
      goal = jnp.concatenate([_uniform(rng2, -0.65, 0.35), _uniform(rng3, -0.55, 0.45)])
    else:
      goal = jnp.concatenate([_uniform(rng2, -0.3, -1e-6) - 0.25, _uniform(rng3, -0.2, 0.2)])
    q, qd = self._reference_start(_reference_min_distance(puck, goal), rng4)
    return q, qd, PUCK_REST_XY + goal[::-1]


class PusherReacher(PusherBase):
  """The reference's ``pusher_reacher``: the arm's tip reaches a point; the puck is parked."""

  state_size = 17
  goal_indices = (14, 15, 16)
  goal_threshold = 0.1  # the reference's, on the 3-D distance from the tip to the goal

  def _sample_start_and_goal(self, rng):
    # The reference's reset, key by key (rng and rng1 go unused there too).
    _, _, rng2, rng3, rng4 = jax.random.split(rng, 5)
    goal = jnp.concatenate([_uniform(rng2, -0.3, -1e-6), _uniform(rng3, -0.2, 0.2)])
    q, qd = self._reference_start(_reference_min_distance(PARKED_PUCK_JOINTS, goal), rng4)
    return q, qd, REACH_GOAL_REST.at[:2].add(goal[::-1])

  def _state_vector(self, pipeline_state):
    return super()._state_vector(pipeline_state)[: self.state_size]


class TwoPucks(PusherBase):
  """Two pucks, a goal for each; success needs both pucks within the threshold of their goals."""

  state_size = 23
  goal_indices = (17, 18, 20, 21)
  extra_metric_names = ("tip_to_puck1", "tip_to_puck2")

  def puck_distances(self, state_vec, goal):
    """``[..., 2]``: each puck's distance to its own goal."""
    achieved = self.achieved_goal(state_vec).reshape(state_vec.shape[:-1] + (2, 2))
    return jnp.linalg.norm(achieved - goal.reshape(goal.shape[:-1] + (2, 2)), axis=-1)

  def _goal_outputs(self, state_vec, goal):
    # The base class counts success when the 4-dim distance is below the threshold, which asks
    # for more than "each puck within the threshold of its goal"; success here is the latter.
    dist = self.goal_distance(state_vec, goal)
    success = (jnp.max(self.puck_distances(state_vec, goal), axis=-1) < self.goal_threshold).astype(
      jnp.float32
    )
    reward = -dist if self.dense_reward else success
    return dist, success, reward


class Pusher2(TwoPucks):
  """The reference's ``pusher2`` on its own model (``assets/pusher2.xml``)."""

  PUCKS = ("object1", "object2")
  MODEL = "pusher2.xml"
  GOAL_BODIES = ("goal1", "goal2")
  REFERENCE_QD_SIZE = 15  # arm 7, two pucks and two goal bodies with 2 joints each

  def _sample_start_and_goal(self, rng):
    # The reference's reset, key by key; every body rests at the origin, so the slide-joint
    # values (y, x) are world coordinates. Both goals take their y from rng4, as there.
    rng, rng1, rng2, rng3, rng4, rng5, rng6, rng7, _ = jax.random.split(rng, 9)
    puck1 = jnp.concatenate([_uniform(rng, -0.35, -0.05), _uniform(rng1, 0.25, 0.45 - 1e-6)])
    puck2 = jnp.concatenate([_uniform(rng2, -0.35, -0.05), _uniform(rng3, 0.45 + 1e-6, 0.65)])
    goal1 = jnp.concatenate([_uniform(rng4, -0.70, 0.30), _uniform(rng5, -0.15, 0.375 - 1e-6)])
    goal2 = jnp.concatenate([_uniform(rng4, -0.70, 0.30), _uniform(rng7, 0.375 + 1e-6, 0.9)])
    pucks = jnp.concatenate(
      [_reference_min_distance(puck1, goal1), _reference_min_distance(puck2, goal2)]
    )
    q, qd = self._reference_start(pucks, rng6)
    return q, qd, jnp.concatenate([goal1[::-1], goal2[::-1]])


# ---- pusher2_bands: goalax's own two-puck task ---------------------------------------------------

# Offsets from PUCK_REST_XY in world (x, y) (both pucks share the rest position; their slide
# joints carry the offsets). Start and goal regions per puck: (start_low, start_high, goal_low,
# goal_high).
PUSHER2_BANDS_REGIONS = (
  (
    jnp.array([-0.3, -0.25]),
    jnp.array([0.0, -0.07]),
    jnp.array([-0.55, -0.25]),
    jnp.array([-0.25, -0.07]),
  ),
  (
    jnp.array([-0.3, 0.07]),
    jnp.array([0.0, 0.25]),
    jnp.array([-0.55, 0.07]),
    jnp.array([-0.25, 0.25]),
  ),
)
MIN_PUCK_SEPARATION = 2 * PUCK_RADIUS + 0.02


def _sample_bands_puck_and_goal(k_puck, k_goal, start_low, start_high, goal_low, goal_high):
  """Puck and goal offsets from ``PUCK_REST_XY``, at least ``MIN_PUCK_GOAL_DISTANCE`` apart."""
  puck_offset = jax.random.uniform(k_puck, (2,), minval=start_low, maxval=start_high)
  goal_offset = jax.random.uniform(k_goal, (2,), minval=goal_low, maxval=goal_high)
  # Keep the puck at least MIN_PUCK_GOAL_DISTANCE from the goal by pushing it away radially.
  gap = puck_offset - goal_offset
  gap_norm = jnp.linalg.norm(gap) + 1e-6
  puck_offset = goal_offset + gap * jnp.maximum(1.0, MIN_PUCK_GOAL_DISTANCE / gap_norm)
  return puck_offset, goal_offset


def _add_second_puck(root: ET.Element) -> None:
  """Adds ``object2``, a copy of brax's puck body, and lets the two pucks collide.

  Collision bits: puck 1 contype 3 / conaffinity 0, puck 2 contype 1 / conaffinity 2. Both still
  collide with the wrist (conaffinity 1) and neither with the table (contype 1, conaffinity 0),
  and the pucks collide with each other (3 & 2).
  """
  worldbody = root.find("worldbody")
  puck = next(b for b in worldbody.iter("body") if b.get("name") == "object")
  puck2 = copy.deepcopy(puck)
  puck2.set("name", "object2")
  for joint in puck2.iter("joint"):
    joint.set("name", joint.get("name").replace("obj_", "obj2_"))
  for geom in puck.iter("geom"):
    if geom.get("name") == "object_geom":
      geom.set("contype", "3")
  for geom in puck2.iter("geom"):
    if geom.get("name") == "object_geom":
      geom.set("name", "object2_geom")
      geom.set("conaffinity", "2")
      geom.set("rgba", "0.3 0.5 1 1")
  worldbody.append(puck2)


class Pusher2Bands(TwoPucks):
  """goalax's two-puck task: pucks that collide, start and goal bands per puck (module doc)."""

  PUCKS = ("object", "object2")
  goal_threshold = 0.1
  reference_backend = None

  def __init__(self, backend: str = "spring", **kwargs):
    super().__init__(backend, edit_model=_add_second_puck, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_pucks, k_qd = jax.random.split(rng)
    keys = jax.random.split(k_pucks, 2 * len(PUSHER2_BANDS_REGIONS)).reshape(-1, 2, 2)
    pucks, goals = zip(
      *[
        _sample_bands_puck_and_goal(k[0], k[1], *regions)
        for k, regions in zip(keys, PUSHER2_BANDS_REGIONS)
      ]
    )
    pucks, goals = jnp.stack(pucks), jnp.stack(goals)
    # The radial push away from a goal can, rarely, bring the pucks into contact: separate them.
    gap = pucks[1] - pucks[0]
    gap_norm = jnp.linalg.norm(gap) + 1e-6
    pucks = pucks.at[1].set(pucks[0] + gap * jnp.maximum(1.0, MIN_PUCK_SEPARATION / gap_norm))
    # Each puck's slide joints are (y, x): its offset reversed.
    q = self.sys.init_q.at[7:11].set(pucks[:, ::-1].reshape(-1))
    qd = jax.random.uniform(k_qd, (self.sys.qd_size(),), minval=-0.005, maxval=0.005)
    return q, qd.at[7:].set(0.0), (PUCK_REST_XY + goals).reshape(-1)
