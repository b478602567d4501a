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
  mujoco.mjv_initGeom(
    geom,
    mujoco.mjtGeom.mjGEOM_SPHERE,
    np.array([radius, 0, 0]),
    np.asarray(position, dtype=np.float64),
    np.eye(3).flatten(),
    rgba,
  )
  scene.ngeom += 1


def framing_sphere(model, data, markers) -> tuple[np.ndarray, float]:
  """Centre and radius of a sphere around every visible non-plane geom and every goal marker.

  Planes (floors) are infinite and invisible geoms (e.g. parked collision boxes) are left out, so
  the view holds the agent, its objects, the maze walls and the goal, however large the floor is.
  """
  keep = (model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE) & (model.geom_rgba[:, 3] > 0)
  # half extents along the world axes: exact for boxes, the bounding sphere for other shapes
  rotations = np.abs(data.geom_xmat.reshape(-1, 3, 3))
  box_extents = np.einsum("gij,gj->gi", rotations, model.geom_size)
  sphere_extents = np.repeat(model.geom_rbound[:, None], 3, axis=1)
  is_box = (model.geom_type == mujoco.mjtGeom.mjGEOM_BOX)[:, None]
  extents = np.where(is_box, box_extents, sphere_extents)[keep]
  markers = markers.reshape(-1, 3)
  centers = np.concatenate([data.geom_xpos[keep], markers])
  extents = np.concatenate([extents, np.zeros_like(markers)])
  lo, hi = np.min(centers - extents, axis=0), np.max(centers + extents, axis=0)
  return (lo + hi) / 2, float(np.linalg.norm(hi - lo) / 2)


class FrameRenderer:
  """Renders Brax pipeline states of one env (unbatched) to RGB arrays [H, W, 3].

  With ``camera=-1`` (default) a free camera looks down at 65° and is placed, every frame, so that
  the agent, its objects, the maze walls and the goal all fit in the view.
  """

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
      self.free_camera.elevation = -65.0
      self.free_camera.azimuth = 90.0
      # the sphere must fit the narrower of the two fields of view
      half_fovy = np.deg2rad(float(self.model.vis.global_.fovy)) / 2
      half_fov = min(half_fovy, np.arctan(np.tan(half_fovy) * width / height))
      self._distance_per_radius = 1.05 / np.sin(half_fov)

  def render(self, pipeline_state, goal) -> np.ndarray:
    self.data.qpos[:] = np.asarray(pipeline_state.q)
    self.data.qvel[:] = np.asarray(pipeline_state.qd)
    mujoco.mj_forward(self.model, self.data)
    markers = np.asarray(self.env.goal_markers(np.asarray(goal)), dtype=np.float64).reshape(-1, 3)
    center, view_radius = framing_sphere(self.model, self.data, markers)
    if self.free_camera is not None:
      self.free_camera.lookat[:] = center
      self.free_camera.distance = max(view_radius, 0.05) * self._distance_per_radius
    self.renderer.update_scene(self.data, self.free_camera if self.free_camera else self.camera)
    # the goal's size, but never too small to see in a wide view (a maze)
    radius = max(0.02, min(0.3, float(self.env.goal_threshold)), 0.03 * view_radius)
    for position in markers:
      _add_marker(self.renderer.scene, position, radius)
    return self.renderer.render().copy()


def render_still(env, path: str, seed: int = 0, height: int = 360, width: int = 480) -> str:
  """Resets ``env`` with ``seed`` and writes a PNG of the start state with its goal marker."""
  import imageio.v3 as iio

  state = jax.jit(env.reset)(jax.random.PRNGKey(seed))
  goal = np.asarray(state.obs[env.state_size :])
  frame = FrameRenderer(env, height, width).render(state.pipeline_state, goal)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  iio.imwrite(path, frame)
  return path
