"""Rendering with MuJoCo's renderer: still images and videos of goal-reaching rollouts.

The goal is not part of any model (it lives only in the observation), so it is drawn as a marker
added to the scene: a green sphere at each goal position from ``GoalEnv.goal_markers``.

The free camera frames the subject of a frame, not the scene (:mod:`goalax.outputs.framing`).

Headless machines need an OpenGL platform: set ``MUJOCO_GL=egl`` (Debian/Ubuntu: ``libegl1`` and
``libgl1-mesa-dri``, which render in software without a GPU) before importing mujoco.
``import goalax`` sets ``MUJOCO_GL=egl`` itself when it is unset and there is no display (MuJoCo
reads it once, when first imported: import goalax before mujoco).
"""

from __future__ import annotations

import copy
import json
import os

import jax
import mujoco
import numpy as np

from goalax.errors import UsageError
from goalax.outputs.framing import (
  STEADY_SECONDS,
  Framing,
  View,
)

GOAL_RGBA = np.array([0.1, 0.9, 0.2, 0.8], dtype=np.float32)
# in MuJoCo's frames the marker is as large as the goal's success region: see-through, so that
# an agent reaching into it stays visible
MARKER_RGBA = np.array([0.1, 0.9, 0.2, 0.45], dtype=np.float32)


def _add_marker(scene, position, radius, rgba=MARKER_RGBA) -> None:
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


class FrameRenderer:
  """Renders Brax pipeline states of one env (unbatched) to RGB arrays [H, W, 3].

  With ``camera=-1`` (default) a free camera frames the agent, the objects it moves and the goal
  (:class:`Framing`): :meth:`render_episode` moves it smoothly along an episode,
  :meth:`render` frames its one state unless given a view. Any size works: frames larger than
  the model's offscreen buffer render with a copy of the model whose buffer is large enough.
  """

  def __init__(self, env, height: int = 480, width: int = 640, camera: str | int = -1):
    self.env = env
    self.model = env.sys.mj_model
    if width > self.model.vis.global_.offwidth or height > self.model.vis.global_.offheight:
      self.model = copy.copy(self.model)  # the env's own model keeps its buffer
      self.model.vis.global_.offwidth = max(width, self.model.vis.global_.offwidth)
      self.model.vis.global_.offheight = max(height, self.model.vis.global_.offheight)
    self.framing = Framing(env, width, height, self.model)
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

  def render(self, pipeline_state, goal, view: View | None = None) -> np.ndarray:
    """The frame of one state seen by ``view`` (default: framing this state alone)."""
    if self.free_camera is not None:
      view = view or self.framing.views([(pipeline_state, goal)])[0]
      self.free_camera.lookat[:] = view.lookat
      self.free_camera.distance = view.distance
      self.free_camera.azimuth = view.azimuth
      self.free_camera.elevation = view.elevation
    markers = self.framing.pose(pipeline_state, goal)
    self.renderer.update_scene(
      self.framing.data, self.free_camera if self.free_camera else self.camera
    )
    for position in markers:
      _add_marker(self.renderer.scene, position, self.framing.marker_radius(view))
    return self.renderer.render().copy()

  def render_episode(self, steps, window: int = 0) -> list[np.ndarray]:
    """Frames of ``steps`` ``[(pipeline_state, goal)]``, the camera moving as
    :meth:`Framing.views` says."""
    if self.free_camera is None:
      return [self.render(*step) for step in steps]
    return [
      self.render(*step, view) for step, view in zip(steps, self.framing.views(steps, window))
    ]


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


def render_frames(
  env, first, states, height: int = 480, width: int = 640, action_repeat: int = 1
) -> list[np.ndarray]:
  """RGB frames ``[H, W, 3]`` of every episode of a recorded rollout, one after the other, the
  camera following each episode's agent and goal smoothly (over ``STEADY_SECONDS``).

  ``first``, ``states``: the output of :func:`goalax.evaluation.make_episode_recorder` with
  ``action_repeat`` env steps between recorded states."""
  first, states = jax.device_get((first, states))
  renderer = FrameRenderer(env, height, width)
  window = round(STEADY_SECONDS / (float(env.dt) * action_repeat))
  frames = []
  for episode in range(np.shape(states.done)[1]):
    steps = [(s, obs[env.state_size :]) for s, obs in _episode_slices(first, states, episode)]
    frames.extend(renderer.render_episode(steps, window))
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
  env, first, states, path: str, action_repeat: int = 1, size: tuple[int, int] = (640, 480)
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
  frames = render_frames(env, first, states, height, width, action_repeat)
  return write_video(frames, path, video_fps(env, action_repeat))
