"""Pusher: a 7-DoF arm pushes pucks on a table; the goal is the pucks' x, y.

``pusher_easy`` / ``pusher_hard`` (``Pusher``), one puck:
State (20): arm joint angles (7), arm joint velocities (7), arm tip position (3), puck position
(3). Goal (2): puck x, y in world coordinates. ``pusher_easy`` draws goals in a small region
beside the puck's start region; ``pusher_hard`` in a region about 3 × 2.5 times wider and longer.

``pusher2`` (``Pusher2``), two pucks with a goal each:
State (23): the same 20 entries plus the second puck's position (3). Goal (4): puck 1 x, y and
puck 2 x, y. Puck 1 starts and has its goal on the −y side of the table's working area, puck 2 on
the +y side (the ``pusher_easy`` regions split in two bands 0.14 apart, so both goals can be met at
once). Success needs BOTH pucks within the threshold (0.1) of their goals; ``dist`` is still the
norm of the whole 4-dim difference, as in every env.

Reward and success come from the state AFTER the step (the reference scored the state before).
The reference's goal body (two slide joints carrying the goal in ``q``) is removed; the second puck
is a copy of brax's puck body added to the model in memory.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Callable

import jax
import jax.numpy as jnp
from brax import base

from goalax.envs import assets
from goalax.envs.core import GoalEnv

PUCK_REST_XY = jnp.array([0.45, -0.05])  # the object body's position in the model
PUCK_START_LOW, PUCK_START_HIGH = jnp.array([-0.3, -0.2]), jnp.array([0.0, 0.2])
GOAL_REGIONS = {  # goal offsets from PUCK_REST_XY: (low, high)
  "easy": (jnp.array([-0.55, -0.2]), jnp.array([-0.25, 0.2])),
  "hard": (jnp.array([-0.65, -0.55]), jnp.array([0.35, 0.45])),
}
MIN_PUCK_GOAL_DISTANCE = 0.17
PUCK_RADIUS = 0.05

# Pusher2: offsets from PUCK_REST_XY (both pucks share the rest position; their slide joints
# carry the offsets). Start and goal regions per puck: (start_low, start_high, goal_low, goal_high).
PUSHER2_REGIONS = (
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


def _sample_puck_and_goal(k_puck, k_goal, start_low, start_high, goal_low, goal_high):
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


class PusherBase(GoalEnv):
  """The arm and its pucks: model loading, per-backend tuning and the state vector.

  Subclasses set ``PUCKS`` (body names) and the class attributes of ``GoalEnv``; the state is
  ``q[:7], qd[:7], tip xyz, xyz of each puck``. Each puck body carries two slide joints
  ``(y, x)``, in ``q`` right after the arm's 7 joints.
  """

  PUCKS: tuple[str, ...] = ("object",)
  goal_threshold = 0.1
  episode_length = 1000
  default_backend = "spring"

  def __init__(
    self, backend: str = "spring", edit_model: Callable[[ET.Element], None] | None = None, **kwargs
  ):
    root = assets.brax_model_xml("pusher.xml")
    assets.remove_body(root, "goal")
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

  def _start_q_qd(self, rng, puck_offsets):
    """``q``/``qd`` with the arm at rest (tiny random velocity) and the pucks at ``[n, 2]``."""
    q = self.sys.init_q.at[7 : 7 + 2 * len(self.PUCKS)].set(puck_offsets[:, ::-1].reshape(-1))
    qd = jax.random.uniform(rng, (self.sys.qd_size(),), minval=-0.005, maxval=0.005)
    return q, qd.at[7:].set(0.0)

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
  state_size = 20
  goal_indices = (17, 18)
  extra_metric_names = ("tip_to_puck",)

  def __init__(self, backend: str = "spring", difficulty: str = "easy", **kwargs):
    if difficulty not in GOAL_REGIONS:
      raise ValueError(f"difficulty must be one of {sorted(GOAL_REGIONS)}, got {difficulty!r}.")
    super().__init__(backend, **kwargs)
    self.difficulty = difficulty

  def _sample_start_and_goal(self, rng):
    k_puck, k_goal, k_qd = jax.random.split(rng, 3)
    puck_offset, goal_offset = _sample_puck_and_goal(
      k_puck, k_goal, PUCK_START_LOW, PUCK_START_HIGH, *GOAL_REGIONS[self.difficulty]
    )
    q, qd = self._start_q_qd(k_qd, puck_offset[None])
    return q, qd, PUCK_REST_XY + goal_offset


class Pusher2(PusherBase):
  """Two pucks, a goal for each; success needs both pucks within the threshold."""

  PUCKS = ("object", "object2")
  state_size = 23
  goal_indices = (17, 18, 20, 21)
  extra_metric_names = ("tip_to_puck1", "tip_to_puck2")

  def __init__(self, backend: str = "spring", **kwargs):
    super().__init__(backend, edit_model=_add_second_puck, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_pucks, k_qd = jax.random.split(rng)
    keys = jax.random.split(k_pucks, 2 * len(PUSHER2_REGIONS)).reshape(-1, 2, 2)
    pucks, goals = zip(
      *[_sample_puck_and_goal(k[0], k[1], *regions) for k, regions in zip(keys, PUSHER2_REGIONS)]
    )
    pucks, goals = jnp.stack(pucks), jnp.stack(goals)
    # The radial push away from a goal can, rarely, bring the pucks into contact: separate them.
    gap = pucks[1] - pucks[0]
    gap_norm = jnp.linalg.norm(gap) + 1e-6
    pucks = pucks.at[1].set(pucks[0] + gap * jnp.maximum(1.0, MIN_PUCK_SEPARATION / gap_norm))
    q, qd = self._start_q_qd(k_qd, pucks)
    return q, qd, (PUCK_REST_XY + goals).reshape(-1)

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
