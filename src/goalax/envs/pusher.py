"""Pusher: a 7-DoF arm pushes a puck on a table; the goal is the puck's x, y.

State (20): arm joint angles (7), arm joint velocities (7), arm tip position (3), puck position
(3). Goal (2): puck x, y in world coordinates. ``pusher_easy`` draws goals in a small region
beside the puck's start region; ``pusher_hard`` in a region about 3 × 2.5 times wider and longer.
Reward and success come from the state AFTER the step (the reference scored the state before).
The reference's goal body (two slide joints carrying the goal in ``q``) is removed.
"""

from __future__ import annotations

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


class Pusher(GoalEnv):
  state_size = 20
  goal_indices = (17, 18)
  goal_threshold = 0.1
  episode_length = 1000
  default_backend = "spring"
  extra_metric_names = ("tip_to_puck",)

  def __init__(self, backend: str = "spring", difficulty: str = "easy", **kwargs):
    if difficulty not in GOAL_REGIONS:
      raise ValueError(f"difficulty must be one of {sorted(GOAL_REGIONS)}, got {difficulty!r}.")
    root = assets.brax_model_xml("pusher.xml")
    assets.remove_body(root, "goal")
    sys = assets.load_system(root)
    n_frames = 5
    if backend in ("spring", "positional"):
      sys = sys.tree_replace({"opt.timestep": 0.001})
      sys = sys.replace(actuator=sys.actuator.replace(gear=jnp.array([20.0] * sys.act_size())))
      n_frames = 50
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self.difficulty = difficulty
    # The tips_arm body is fused into its parent when loaded, so track r_wrist_flex_link.
    self._tip_idx = self.sys.link_names.index("r_wrist_flex_link")
    self._puck_idx = self.sys.link_names.index("object")

  def _sample_start_and_goal(self, rng):
    k_puck, k_goal, k_qd = jax.random.split(rng, 3)
    goal_low, goal_high = GOAL_REGIONS[self.difficulty]
    puck_offset = jax.random.uniform(k_puck, (2,), minval=PUCK_START_LOW, maxval=PUCK_START_HIGH)
    goal_offset = jax.random.uniform(k_goal, (2,), minval=goal_low, maxval=goal_high)
    # Keep the puck at least MIN_PUCK_GOAL_DISTANCE from the goal by pushing it away radially.
    gap = puck_offset - goal_offset
    gap_norm = jnp.linalg.norm(gap) + 1e-6
    puck_offset = goal_offset + gap * jnp.maximum(1.0, MIN_PUCK_GOAL_DISTANCE / gap_norm)
    # The model's object joints are (obj_slidey, obj_slidex).
    q = self.sys.init_q.at[7:9].set(puck_offset[::-1])
    qd = jax.random.uniform(k_qd, (self.sys.qd_size(),), minval=-0.005, maxval=0.005)
    qd = qd.at[7:].set(0.0)
    return q, qd, PUCK_REST_XY + goal_offset

  def _link_positions(self, pipeline_state):
    return pipeline_state.x.vmap().do(
        base.Transform.create(pos=self.sys.link.inertia.transform.pos)).pos

  def _state_vector(self, pipeline_state):
    pos = self._link_positions(pipeline_state)
    return jnp.concatenate([pipeline_state.q[:7], pipeline_state.qd[:7], pos[self._tip_idx],
                            pos[self._puck_idx]])

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    pos = self._link_positions(pipeline_state)
    return {"tip_to_puck": jnp.linalg.norm(pos[self._puck_idx] - pos[self._tip_idx])}
