"""Reacher: a 2-link planar arm; the goal is a fingertip position in a disc around the base.

State (8): cos θ₀, cos θ₁, sin θ₀, sin θ₁, θ̇₀, θ̇₁, fingertip x, fingertip y.
Goal (2): fingertip x, y, drawn uniformly in angle and radius (radius ≤ 0.2, the arm reaches
0.21). The reference's target body (two slide joints carrying the goal in ``q``) is removed, so
the goal exists only in the observation's goal part.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax import base

from goalax.envs import assets
from goalax.envs.core import GoalEnv

FINGERTIP_OFFSET = jnp.array([0.11, 0.0, 0.0])  # fingertip relative to the second link's frame
TARGET_RADIUS = 0.2


def _reacher_system(backend: str):
  root = assets.brax_model_xml("reacher.xml")
  assets.remove_body(root, "target")
  assets.set_custom_numeric(root, "init_qpos", [0.0, 0.0])
  # Brax's per-body solver params listed a value for the removed target body too.
  assets.set_custom_numeric(root, "constraint_stiffness", [1000.0, 1000.0])
  assets.set_custom_numeric(root, "constraint_vel_damping", [3.0, 3.0])
  sys = assets.load_system(root)
  n_frames = 2
  if backend in ("spring", "positional"):
    sys = sys.tree_replace({"opt.timestep": 0.005})
    sys = sys.replace(actuator=sys.actuator.replace(gear=jnp.array([25.0, 25.0])))
    n_frames = 4
  return sys, n_frames


class Reacher(GoalEnv):
  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  state_size = 8
  goal_indices = (6, 7)
  goal_threshold = 0.05
  episode_length = 100
  default_backend = "spring"
  reference_backend = "generalized"

  def __init__(self, backend: str = "spring", **kwargs):
    sys, n_frames = _reacher_system(backend)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)

  def _sample_start_and_goal(self, rng):
    k_q, k_qd, k_r, k_a = jax.random.split(rng, 4)
    q = self.sys.init_q + jax.random.uniform(k_q, (self.sys.q_size(),), minval=-0.1, maxval=0.1)
    qd = jax.random.uniform(k_qd, (self.sys.qd_size(),), minval=-0.005, maxval=0.005)
    radius = TARGET_RADIUS * jnp.sqrt(jax.random.uniform(k_r))  # uniform over the disc's area
    angle = 2 * jnp.pi * jax.random.uniform(k_a)
    goal = radius * jnp.array([jnp.cos(angle), jnp.sin(angle)])
    return q, qd, goal

  def _state_vector(self, pipeline_state):
    theta = pipeline_state.q[:2]
    tip = pipeline_state.x.take(1).do(base.Transform.create(pos=FINGERTIP_OFFSET)).pos
    return jnp.concatenate([jnp.cos(theta), jnp.sin(theta), pipeline_state.qd[:2], tip[:2]])
