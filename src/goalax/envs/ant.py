"""Ant: a quadruped walks its torso to an x, y goal.

State (29): q (torso x, y, z, orientation quaternion, 8 joint angles) and qd (14).
Goal (2): torso x, y, drawn on a circle of radius 10 around the start. Success within 0.5.
The episode terminates when the torso leaves the healthy height range [0.2, 1.0].

``ant_body_system`` is the one place the ant's physics are set up; the maze and object envs
reuse it with their own additions to the model.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax.envs import assets
from goalax.envs.core import GoalEnv

HEALTHY_Z_RANGE = (0.2, 1.0)


def ant_body_system(backend: str, edit_model: Callable[[ET.Element], None] | None = None):
  """Loads the ant model (optionally edited in place by ``edit_model``) tuned per backend.

  Returns ``(sys, n_frames)``; the control step is 0.05 s on every backend.
  """
  root = assets.brax_model_xml("ant.xml")
  if edit_model is not None:
    edit_model(root)
  sys = assets.load_system(root)
  n_frames = 5
  if backend in ("spring", "positional"):
    sys = sys.tree_replace({"opt.timestep": 0.005})
    n_frames = 10
  if backend == "mjx":
    sys = assets.with_fast_mjx_solver(sys)
  if backend == "positional":
    sys = sys.replace(actuator=sys.actuator.replace(gear=200 * jnp.ones_like(sys.actuator.gear)))
  return sys, n_frames


class AntBase(GoalEnv):
  """Shared ant logic: torso-height termination and the 29-dim body state at the front of q."""

  goal_threshold = 0.5
  episode_length = 1000
  default_backend = "spring"
  reference_backend = "spring"
  # 'generalized' is left out: random rollouts of the ant on it gave NaN states here (brax 0.14.2,
  # mujoco 4.0), so it is not a backend that works for the ant body.
  backends = ("spring", "positional", "mjx")
  extra_metric_names = ("x_position", "y_position", "velocity")
  ANT_Q, ANT_QD = 15, 14

  def __init__(self, backend="spring", edit_model=None, reset_noise_scale=0.1, **kwargs):
    sys, n_frames = ant_body_system(backend, edit_model)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._reset_noise_scale = reset_noise_scale

  def _noisy_start(self, rng):
    k_q, k_qd = jax.random.split(rng)
    s = self._reset_noise_scale
    q = self.sys.init_q + jax.random.uniform(k_q, (self.sys.q_size(),), minval=-s, maxval=s)
    qd = s * jax.random.normal(k_qd, (self.sys.qd_size(),))
    return q, qd

  def _ant_state(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q[: self.ANT_Q], pipeline_state.qd[: self.ANT_QD]])

  def _state_vector(self, pipeline_state):
    return self._ant_state(pipeline_state)

  def _terminated(self, pipeline_state):
    z = pipeline_state.x.pos[0, 2]
    return ((z < HEALTHY_Z_RANGE[0]) | (z > HEALTHY_Z_RANGE[1])).astype(jnp.float32)

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    velocity = (pipeline_state.x.pos[0, :2] - pipeline_state0.x.pos[0, :2]) / self.dt
    return {
      "x_position": pipeline_state.x.pos[0, 0],
      "y_position": pipeline_state.x.pos[0, 1],
      "velocity": jnp.linalg.norm(velocity),
    }


class Ant(AntBase):
  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  state_size = 29
  goal_indices = (0, 1)
  GOAL_RADIUS = 10.0

  def _sample_start_and_goal(self, rng):
    k_start, k_angle = jax.random.split(rng)
    q, qd = self._noisy_start(k_start)
    angle = 2 * jnp.pi * jax.random.uniform(k_angle)
    goal = q[:2] + self.GOAL_RADIUS * jnp.array([jnp.cos(angle), jnp.sin(angle)])
    return q, qd, goal


class AntRandomStart(AntBase):
  """The ant starting anywhere in a square, its goal at the ant's goal distance from the start.

  Start torso x, y uniform in ``[-START_HALF_WIDTH, START_HALF_WIDTH]²`` (the rest of the body
  gets the usual reset noise); goal at exactly ``GOAL_RADIUS`` (10, as for ``Ant``) from the start
  in a uniformly random direction. Position in the plane carries no information about the goal, unlike ``Ant``
  where every episode starts at the origin.
  """

  state_size = 29
  goal_indices = (0, 1)
  GOAL_RADIUS = Ant.GOAL_RADIUS
  START_HALF_WIDTH = 10.0

  def _sample_start_and_goal(self, rng):
    k_body, k_start, k_angle = jax.random.split(rng, 3)
    q, qd = self._noisy_start(k_body)
    start = jax.random.uniform(
      k_start, (2,), minval=-self.START_HALF_WIDTH, maxval=self.START_HALF_WIDTH
    )
    q = q.at[:2].set(start)
    angle = 2 * jnp.pi * jax.random.uniform(k_angle)
    goal = start + self.GOAL_RADIUS * jnp.array([jnp.cos(angle), jnp.sin(angle)])
    return q, qd, goal
