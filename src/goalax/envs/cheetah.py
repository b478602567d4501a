"""Half cheetah: run to a target x position, drawn fresh every episode.

State (18): q (root x, root z, root angle, 6 joint angles) and qd (9).
Goal (1): root x. The target lies at a distance uniform in [2, 6] in front of OR behind the
start (the reference always used x = 5, a single fixed point).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from goalax.envs import assets
from goalax.envs.core import GoalEnv

TARGET_DISTANCE = (2.0, 6.0)


class Cheetah(GoalEnv):
  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  state_size = 18
  goal_indices = (0,)
  goal_threshold = 0.5
  episode_length = 1000
  default_backend = "spring"
  extra_metric_names = ("x_velocity",)

  def __init__(self, backend: str = "spring", reset_noise_scale: float = 0.1, **kwargs):
    sys = assets.load_system(assets.brax_model_xml("half_cheetah.xml"))
    n_frames = 5
    if backend in ("spring", "positional"):
      sys = sys.tree_replace({"opt.timestep": 0.003125})
      sys = sys.replace(
        actuator=sys.actuator.replace(gear=jnp.array([120.0, 90.0, 60.0, 120.0, 100.0, 100.0]))
      )
      n_frames = 16
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._reset_noise_scale = reset_noise_scale

  def _sample_start_and_goal(self, rng):
    k_q, k_qd, k_dist, k_sign = jax.random.split(rng, 4)
    s = self._reset_noise_scale
    q = self.sys.init_q + jax.random.uniform(k_q, (self.sys.q_size(),), minval=-s, maxval=s)
    qd = s * jax.random.normal(k_qd, (self.sys.qd_size(),))
    distance = jax.random.uniform(k_dist, minval=TARGET_DISTANCE[0], maxval=TARGET_DISTANCE[1])
    sign = jnp.where(jax.random.bernoulli(k_sign), 1.0, -1.0)
    return q, qd, (q[0] + sign * distance)[None]

  def _state_vector(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q, pipeline_state.qd])

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    return {"x_velocity": (pipeline_state.q[0] - pipeline_state0.q[0]) / self.dt}
