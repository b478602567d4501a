"""Half cheetah: run to a target x position.

State (18): q (root x, root z, root angle, 6 joint angles) and qd (9).
Goal (1): root x. Success within 0.5. Episode length 1000.

``cheetah`` (``Cheetah``) is the reference's task: its target is always x = 5 (5 m ahead of the
start; the reference's ``_random_target`` returns that one point), and its body is the
reference's. The reference's model kept its target as a 1 kg sphere on a slide joint inside the
model, and the model's ``<compiler settotalmass="14">`` scaled every mass, the sphere's included,
to a total of 14 kg: the cheetah itself weighs 13.37 kg there, not brax's 14 (every link 0.955×
as heavy, inertias alike). goalax's goal lives outside the physics state, so the sphere is gone
and the cheetah's total mass is set to what the reference's body weighs
(:func:`reference_total_mass`); from the same joint state under the same actions the two step
alike (``tests/test_reference_physics.py``).

``cheetah_random_target`` (``CheetahRandomTarget``) is goalax's own task: a target at a distance
uniform in [2, 6] in front of OR behind the start, drawn fresh every episode, on brax's half
cheetah (14 kg). A single fixed target can be learnt without the goal input; this one can't.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from goalax.envs import assets
from goalax.envs.core import GoalEnv

TARGET_DISTANCE = (2.0, 6.0)
REFERENCE_TARGET_X = 5.0
# The reference's target sphere, counted by its model's settotalmass.
REFERENCE_TARGET_MASS = 1.0


def reference_total_mass(root) -> float:
  """The cheetah's mass in the reference's model: ``settotalmass`` (14) scaled the cheetah's
  natural mass M and the 1 kg target sphere by one factor s = 14 / (M + 1), so the cheetah weighs
  14 M / (M + 1)."""
  total = float(root.find("compiler").get("settotalmass"))
  natural = assets.total_mass_without_settotalmass(root)
  return total * natural / (natural + REFERENCE_TARGET_MASS)


class Cheetah(GoalEnv):
  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  state_size = 18
  goal_indices = (0,)
  goal_threshold = 0.5
  episode_length = 1000
  default_backend = "spring"
  reference_backend = "mjx"  # the reference's create_env builds its cheetah on mjx, always
  extra_metric_names = ("x_velocity",)
  reference_body = True  # the reference's masses (see the module docstring)

  def __init__(self, backend: str = "spring", reset_noise_scale: float = 0.1, **kwargs):
    root = assets.brax_model_xml("half_cheetah.xml")
    if self.reference_body:
      root.find("compiler").set("settotalmass", repr(reference_total_mass(root)))
    sys = assets.load_system(root)
    n_frames = 5
    if backend in ("spring", "positional"):
      sys = sys.tree_replace({"opt.timestep": 0.003125})
      sys = sys.replace(
        actuator=sys.actuator.replace(gear=jnp.array([120.0, 90.0, 60.0, 120.0, 100.0, 100.0]))
      )
      n_frames = 16
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._reset_noise_scale = reset_noise_scale

  def _noisy_start(self, k_q, k_qd):
    """brax's start: q uniform within ±0.1 of the model's pose, qd normal with scale 0.1."""
    s = self._reset_noise_scale
    q = self.sys.init_q + jax.random.uniform(k_q, (self.sys.q_size(),), minval=-s, maxval=s)
    qd = s * jax.random.normal(k_qd, (self.sys.qd_size(),))
    return q, qd

  def _sample_start_and_goal(self, rng):
    k_q, k_qd, _, _ = jax.random.split(rng, 4)
    q, qd = self._noisy_start(k_q, k_qd)
    return q, qd, jnp.array([REFERENCE_TARGET_X])

  def _state_vector(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q, pipeline_state.qd])

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    return {"x_velocity": (pipeline_state.q[0] - pipeline_state0.q[0]) / self.dt}


class CheetahRandomTarget(Cheetah):
  reference_backend = None  # goalax's own task
  reference_body = False  # brax's half cheetah, 14 kg

  def _sample_start_and_goal(self, rng):
    k_q, k_qd, k_dist, k_sign = jax.random.split(rng, 4)
    q, qd = self._noisy_start(k_q, k_qd)
    distance = jax.random.uniform(k_dist, minval=TARGET_DISTANCE[0], maxval=TARGET_DISTANCE[1])
    sign = jnp.where(jax.random.bernoulli(k_sign), 1.0, -1.0)
    return q, qd, (q[0] + sign * distance)[None]
