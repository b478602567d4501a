"""Camera framing of the renderer (pure MuJoCo, no GL needed) and the MJX depth barriers."""

import jax
import mujoco
import numpy as np

from goalax.envs import make_env
from goalax.envs.mjx_depth import mjx_depth_barriers
from goalax.render import framing_sphere

SCENE = """
<mujoco>
  <worldbody>
    <geom name="floor" type="plane" size="50 50 0.1"/>
    <geom name="wall" type="box" pos="10 0 1" size="2 0.5 1" euler="0 0 90"/>
    <geom name="parked" type="box" pos="0 0 -100" size="0.1 0.1 0.1" rgba="0 0 0 0"/>
    <body pos="0 0 0.5"><joint type="free"/><geom type="sphere" size="0.5"/></body>
  </worldbody>
</mujoco>
"""


def test_framing_holds_visible_geoms_and_goal_but_not_floor_or_invisible_geoms():
  model = mujoco.MjModel.from_xml_string(SCENE)
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  center, radius = framing_sphere(model, data, np.array([[-4.0, 0.0, 0.0]]))
  # x: goal at -4 .. wall (turned 90°: half extent 0.5 along x) up to 10.5; y: wall ±2;
  # z: goal and ball bottom at 0, wall top at 2. The plane and the parked box are left out.
  lo, hi = np.array([-4.0, -2.0, 0.0]), np.array([10.5, 2.0, 2.0])
  np.testing.assert_allclose(center, (lo + hi) / 2, atol=1e-6)
  np.testing.assert_allclose(radius, np.linalg.norm(hi - lo) / 2, atol=1e-6)


def _count_barriers(env):
  state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))  # shapes only: nothing runs
  jaxpr = jax.make_jaxpr(env.step)(state, np.zeros(env.action_size, np.float32))
  return str(jaxpr).count("optimization_barrier")


def test_mjx_env_steps_carry_depth_barriers_and_other_backends_do_not():
  assert _count_barriers(make_env("reacher", backend="mjx")) > 0
  assert _count_barriers(make_env("reacher", backend="spring")) == 0


def test_depth_barriers_are_removed_after_the_context():
  from mujoco.mjx._src import scan as mjx_scan

  original = mjx_scan._nvmap
  with mjx_depth_barriers():
    assert mjx_scan._nvmap is not original
  assert mjx_scan._nvmap is original
  with mjx_depth_barriers(enabled=False):
    assert mjx_scan._nvmap is original
