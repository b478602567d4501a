"""Rendering with MuJoCo's renderer: still images and videos of goal-reaching rollouts.

The goal is not part of any model (it lives only in the observation), so it is drawn as a marker
added to the scene: a green sphere at each goal position from ``GoalEnv.goal_markers``.

Headless machines need an OpenGL platform: set ``MUJOCO_GL=egl`` (Debian/Ubuntu: ``libegl1`` and
``libgl1-mesa-dri``, which render in software without a GPU) before importing mujoco.
``import goalax`` sets ``MUJOCO_GL=egl`` itself when it is unset and there is no display (MuJoCo
reads it once, when first imported: import goalax before mujoco).
"""

from __future__ import annotations

import json
import os

import jax
import mujoco
import numpy as np

from goalax.errors import UsageError

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
    try:
      self.renderer = mujoco.Renderer(self.model, height, width)
    except mujoco.FatalError as e:
      raise UsageError(
        f"MuJoCo could not open an OpenGL context (MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}): "
        f"{e}. Without a display, set MUJOCO_GL=egl before Python starts (or import goalax "
        "before mujoco); Debian/Ubuntu need libegl1 and libgl1-mesa-dri."
      ) from None
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


# ---- rollouts to files ----------------------------------------------------------------------
VIDEO_FORMATS = ("mp4", "gif", "html")


def video_fps(env, action_repeat: int = 1) -> int:
  """Frames per second at which a video plays in real time (at most 60)."""
  return int(max(1, min(60, round(1.0 / (float(env.dt) * action_repeat)))))


def _episode_length_seen(states, episode: int) -> int:
  """Steps of ``episode`` up to and including the one where it terminated (else all)."""
  done = np.asarray(states.done[:, episode])
  ended = np.flatnonzero(done > 0)
  return int(ended[0]) + 1 if ended.size else len(done)


def _episode_slices(first, states, episode: int):
  """``[(pipeline_state, goal)]`` of one episode: its start, then every step until it ended."""
  take = lambda tree, index: jax.tree.map(lambda x: np.asarray(x[index]), tree)
  env_states = [take(first, episode)] + [
    take(states, (t, episode)) for t in range(_episode_length_seen(states, episode))
  ]
  return [(s.pipeline_state, s.obs) for s in env_states]


def render_frames(env, first, states, height: int = 240, width: int = 320) -> list[np.ndarray]:
  """RGB frames ``[H, W, 3]`` of every episode of a recorded rollout, one after the other.

  ``first``, ``states``: the output of :func:`goalax.evaluation.make_episode_recorder`."""
  first, states = jax.device_get((first, states))
  renderer = FrameRenderer(env, height, width)
  frames = []
  for episode in range(np.shape(states.done)[1]):
    for pipeline_state, obs in _episode_slices(first, states, episode):
      frames.append(renderer.render(pipeline_state, obs[env.state_size :]))
  return frames


def write_video(frames: list[np.ndarray], path: str, fps: int) -> str:
  """Writes frames to ``path``: mp4 (H.264 through imageio-ffmpeg) or gif, by its extension."""
  import imageio
  import imageio.v3 as iio

  if path.endswith(".gif"):
    iio.imwrite(path, np.stack(frames), duration=1000.0 / fps, loop=0)
  else:
    imageio.mimwrite(path, frames, fps=fps, macro_block_size=16)
  return path


def html_page(env, first, states, action_repeat: int = 1, height: int = 480) -> str:
  """Brax's HTML viewer (three.js, loaded from a CDN) of every episode, one after the other.

  The goal is drawn as a green sphere that moves with the episodes: one extra link per goal
  marker, whose position in each frame is that frame's goal."""
  from brax.io import html
  from brax.io import json as brax_json

  first, states = jax.device_get((first, states))
  frames = [
    item
    for episode in range(np.shape(states.done)[1])
    for item in _episode_slices(first, states, episode)
  ]
  sys = env.sys.tree_replace({"opt.timestep": float(env.dt) * action_repeat})
  page = json.loads(brax_json.dumps(sys, [pipeline_state for pipeline_state, _ in frames]))
  markers = [
    np.asarray(env.goal_markers(obs[env.state_size :])).reshape(-1, 3) for _, obs in frames
  ]
  num_links = len(page["states"]["x"][0]["pos"])
  radius = max(0.02, min(0.3, float(env.goal_threshold)))
  page["geoms"]["goal"] = [
    dict(
      name="Sphere",
      link_idx=num_links + m,
      pos=[0, 0, 0],
      rot=[1, 0, 0, 0],
      size=[radius, 0, 0],
      rgba=GOAL_RGBA.tolist(),
    )
    for m in range(len(markers[0]))
  ]
  for x, points in zip(page["states"]["x"], markers):
    x["pos"] = list(x["pos"]) + points.tolist()
    x["rot"] = list(x["rot"]) + [[1.0, 0.0, 0.0, 0.0]] * len(points)
  return html.render_from_json(json.dumps(page), height, colab=False, base_url=None)


def write_rollouts(
  env, first, states, path: str, action_repeat: int = 1, size: tuple[int, int] = (320, 240)
) -> str:
  """Writes a recorded rollout to ``path`` as mp4, gif (MuJoCo's renderer, goal marker drawn,
  ``size`` = width, height in pixels) or html (brax's viewer), by the path's extension; creates
  the folder."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  if path.endswith(".html"):
    with open(path, "w") as f:
      f.write(html_page(env, first, states, action_repeat))
    return path
  width, height = size
  frames = render_frames(env, first, states, height, width)
  return write_video(frames, path, video_fps(env, action_repeat))
