"""Replays the reference's recorded physics (``tests/data/reference_physics``) on goalax's envs.

Each file holds one reference env's joint positions and velocities over 30 steps from one start,
under recorded actions (``scripts/record_reference_physics.py``). :func:`replay` starts goalax's env
of the same name from the same joint state, applies the same actions through the env's own
``step`` (so action scaling counts) and returns goalax's joint positions and velocities in the
reference's joint order. Joints are matched by name (``goalax.envs.assets.joint_names``: an unnamed joint by its
body's); the reference's goal bodies (``target_x``,
``target_y``, ...) have no counterpart in goalax, whose goal is outside the physics state.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from goalax.envs import assets

DATA = os.path.join(os.path.dirname(__file__), "data", "reference_physics")
# Sizes of a joint's position and velocity by MuJoCo joint type (free, ball, slide, hinge).
_Q_SIZE = {0: 7, 1: 4, 2: 1, 3: 1}
_QD_SIZE = {0: 6, 1: 3, 2: 1, 3: 1}


def recordings() -> list[str]:
  """File stems ``<env>__<backend>`` of every recording."""
  return sorted(f[: -len(".npz")] for f in os.listdir(DATA) if f.endswith(".npz"))


def load(stem: str) -> dict[str, np.ndarray]:
  with np.load(os.path.join(DATA, f"{stem}.npz")) as data:
    return dict(data)


def _joint_slices(names, qposadr, dofadr, types) -> dict[str, tuple[slice, slice]]:
  return {
    str(n): (slice(int(qa), int(qa) + _Q_SIZE[int(t)]), slice(int(da), int(da) + _QD_SIZE[int(t)]))
    for n, qa, da, t in zip(names, qposadr, dofadr, types)
  }


def joint_maps(env, data) -> tuple[np.ndarray, np.ndarray]:
  """Index arrays ``(q_index, qd_index)``: goalax's q[i] is the reference's q[q_index[i]]."""
  model = env.sys.mj_model
  names = assets.joint_names(model)
  ours = _joint_slices(names, model.jnt_qposadr, model.jnt_dofadr, model.jnt_type)
  theirs = _joint_slices(
    data["joint_names"], data["jnt_qposadr"], data["jnt_dofadr"], data["jnt_type"]
  )
  missing = sorted(set(ours) - set(theirs))
  if missing:
    raise AssertionError(f"joints {missing} of goalax's model are not in the reference's")
  q_index = np.zeros(model.nq, np.int64)
  qd_index = np.zeros(model.nv, np.int64)
  for name, (q_slice, qd_slice) in ours.items():
    q_index[q_slice] = np.arange(theirs[name][0].start, theirs[name][0].stop)
    qd_index[qd_slice] = np.arange(theirs[name][1].start, theirs[name][1].stop)
  return q_index, qd_index


def replay(env, data, jit=jax.jit) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """``(q, qd, reference q, reference qd)``, each ``[steps + 1, n]`` in goalax's joint order.

  The steps run in one compiled ``lax.scan`` of ``env.step`` (``jit`` compiles it)."""
  q_index, qd_index = joint_maps(env, data)
  ref_q, ref_qd = data["q"][:, q_index], data["qd"][:, qd_index]

  def rollout(q0, qd0, actions):
    state = env._first_state(q0, qd0, jnp.zeros(env.goal_size))

    def body(state, action):
      state = env.step(state, action)
      return state, (state.pipeline_state.q, state.pipeline_state.qd)

    _, (qs, qds) = jax.lax.scan(body, state, actions)
    return jnp.concatenate([q0[None], qs]), jnp.concatenate([qd0[None], qds])

  f32 = lambda x: jnp.asarray(x, jnp.float32)
  qs, qds = jit(rollout)(f32(ref_q[0]), f32(ref_qd[0]), f32(data["actions"]))
  return np.asarray(qs), np.asarray(qds), ref_q, ref_qd
