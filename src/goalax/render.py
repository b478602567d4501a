"""Rendering with MuJoCo's renderer: still images and videos of goal-reaching rollouts.

The goal is not part of any model (it lives only in the observation), so it is drawn as a marker
added to the scene: a green sphere at each goal position from ``GoalEnv.goal_markers``.

Headless machines need an OpenGL platform: set ``MUJOCO_GL=egl`` (Debian/Ubuntu: ``libegl1`` and
``libgl1-mesa-dri``, which render in software without a GPU) before importing mujoco.
``goalax`` sets ``MUJOCO_GL=egl`` itself when it is unset and there is no display.
"""

from __future__ import annotations

import os

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
  os.environ["MUJOCO_GL"] = "egl"
  os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import jax  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

GOAL_RGBA = np.array([0.1, 0.9, 0.2, 0.8], dtype=np.float32)


def _add_marker(scene, position, radius, rgba=GOAL_RGBA) -> None:
  if scene.ngeom >= scene.maxgeom:
    return
  geom = scene.geoms[scene.ngeom]
  mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([radius, 0, 0]),
                      np.asarray(position, dtype=np.float64), np.eye(3).flatten(), rgba)
  scene.ngeom += 1


class FrameRenderer:
  """Renders Brax pipeline states of one env (unbatched) to RGB arrays [H, W, 3]."""

  def __init__(self, env, height: int = 240, width: int = 320, camera: str | int = -1):
    self.env = env
    self.model = env.sys.mj_model
    self.data = mujoco.MjData(self.model)
    self.renderer = mujoco.Renderer(self.model, height, width)
    self.camera = camera
    self.free_camera = None
    if camera == -1:
      self.free_camera = mujoco.MjvCamera()
      mujoco.mjv_defaultFreeCamera(self.model, self.free_camera)
      extent = float(self.model.stat.extent)
      self.free_camera.distance = extent * 1.6
      self.free_camera.elevation = -40.0
      self.free_camera.azimuth = 90.0

  def render(self, pipeline_state, goal) -> np.ndarray:
    self.data.qpos[:] = np.asarray(pipeline_state.q)
    self.data.qvel[:] = np.asarray(pipeline_state.qd)
    mujoco.mj_forward(self.model, self.data)
    markers = np.asarray(self.env.goal_markers(np.asarray(goal)))
    if self.free_camera is not None:  # frame the agent (first body) and its goal together
      points = np.concatenate([self.data.xpos[1:2], markers])
      self.free_camera.lookat[:] = points.mean(axis=0)
      spread = float(np.max(np.linalg.norm(points - points.mean(axis=0), axis=1)))
      self.free_camera.distance = max(float(self.model.stat.extent) * 1.6, 2.5 * spread)
    self.renderer.update_scene(self.data, self.free_camera if self.free_camera else self.camera)
    radius = max(0.02, min(0.3, float(self.env.goal_threshold)))
    for position in markers:
      _add_marker(self.renderer.scene, position, radius)
    return self.renderer.render().copy()


def render_still(env, path: str, seed: int = 0, height: int = 360, width: int = 480) -> str:
  """Resets ``env`` with ``seed`` and writes a PNG of the start state with its goal marker."""
  import imageio.v3 as iio

  state = jax.jit(env.reset)(jax.random.PRNGKey(seed))
  goal = np.asarray(state.obs[env.state_size:])
  frame = FrameRenderer(env, height, width).render(state.pipeline_state, goal)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  iio.imwrite(path, frame)
  return path
