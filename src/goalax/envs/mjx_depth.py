"""A workaround for XLA:CPU's cost on MJX models with deep kinematic chains.

XLA:CPU's fusion emitters (jax 0.10 here) re-compute each level of a deep kinematic chain inside
every consumer instead of materialising it, so the cost of MJX's kinematics grows exponentially
with the chain's depth (a known problem: jax-ml/jax#33761). Measured on the 2-core CPU: the 9-deep
arm's vmapped env step ran >100× slower and compiled ~10× longer than with
``XLA_FLAGS=--xla_cpu_use_fusion_emitters=false``; the 7-DoF pusher on MJX ran at 60 steps/s for
one env. An optimization barrier (an identity) between the depth levels of MJX's body-tree scan
restores the linear cost without touching the process's XLA flags.

``GoalEnv`` enters :func:`mjx_depth_barriers` around its physics whenever its backend is ``mjx``.
"""

from __future__ import annotations

import contextlib

import jax


@contextlib.contextmanager
def mjx_depth_barriers(enabled: bool = True):
  """While tracing inside this context, MJX's tree scan puts a barrier after every depth level.

  Not thread-safe against another thread tracing MJX at the same moment (which would merely get
  the barriers too); does nothing if MJX's internals differ from what it expects.
  """
  if not enabled:
    yield
    return
  try:
    from mujoco.mjx._src import scan as mjx_scan  # pylint: disable=g-import-not-at-top

    original = mjx_scan._nvmap  # pylint: disable=protected-access
  except (ImportError, AttributeError):
    yield
    return

  def nvmap_with_barrier(f, *args):
    y = original(f, *args)
    return y if y is None else jax.lax.optimization_barrier(y)

  mjx_scan._nvmap = nvmap_with_barrier  # pylint: disable=protected-access
  try:
    yield
  finally:
    mjx_scan._nvmap = original  # pylint: disable=protected-access
