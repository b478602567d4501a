"""Where the free camera looks, in pure MuJoCo (no OpenGL): the subject of a frame, not the
scene: the agent, the objects it moves and the goal (:func:`subject_box`), with the static scene
(arena, maze walls, table) seen around them. It looks from above at an angle, or from the side
when the goal is a position on a line (cheetah). Along a video it moves smoothly, holding in view
everything seen within ``STEADY_SECONDS`` either side (:func:`steady_boxes`).
"""

from __future__ import annotations

import dataclasses
import itertools

import mujoco
import numpy as np

AZIMUTH = 90.0  # the camera looks along +y: world x runs left to right in every frame
ELEVATION_ABOVE = -75.0  # goals on the floor or in space: seen from above, at an angle
ELEVATION_SIDE = -12.0  # goals on a line (cheetah: an x position): the task's plane, from the side
FILL = 0.9  # the subject spans this fraction of the frame along its tighter axis
STEADY_SECONDS = 1.0  # a video's camera moves smoothly, framing what is seen within this time
MARKER_MIN_SIZE = 0.012  # a goal marker's least radius per metre of camera distance


@dataclasses.dataclass(frozen=True)
class View:
  """A MuJoCo free camera: it looks at ``lookat`` from ``distance`` metres away, from
  ``azimuth`` degrees around the vertical axis and ``elevation`` degrees (negative: from above)."""

  lookat: np.ndarray  # [3]
  distance: float
  azimuth: float
  elevation: float


def subject_geoms(model) -> np.ndarray:
  """``bool [ngeom]``: the geoms a video is about, the agent's and the objects it moves.

  Those are the drawn geoms that move, i.e. hang below a joint (``body_weldid != 0``); floors,
  arena and maze walls, tables and invisible geoms are left out (they still appear in the frame,
  around the subject). A model with nothing that moves keeps every drawn non-plane geom."""
  drawn = (model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE) & (model.geom_rgba[:, 3] > 0)
  moving = drawn & (model.body_weldid[model.geom_bodyid] != 0)
  return moving if moving.any() else drawn


def subject_box(model, data, markers, marker_radius: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
  """``(lo [3], hi [3])``: the world-axis box around the subject geoms of ``data`` (after
  ``mj_forward``) and the goal markers ``[n, 3]``, each a ball of ``marker_radius``.

  A geom's box is its local bounding box (``geom_aabb``: exact for boxes, tight for spheres,
  capsules and meshes) turned into the world."""
  keep = subject_geoms(model)
  rotations = data.geom_xmat[keep].reshape(-1, 3, 3)
  aabb = model.geom_aabb[keep]
  centers = data.geom_xpos[keep] + np.einsum("gij,gj->gi", rotations, aabb[:, :3])
  halves = np.einsum("gij,gj->gi", np.abs(rotations), aabb[:, 3:])
  markers = np.asarray(markers, dtype=np.float64).reshape(-1, 3)
  lo = np.min(np.concatenate([centers - halves, markers - marker_radius]), axis=0)
  hi = np.max(np.concatenate([centers + halves, markers + marker_radius]), axis=0)
  return lo, hi


def camera_axes(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(forward, up, right)`` unit vectors of a free camera, as MuJoCo's ``mjv_updateCamera``."""
  a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
  forward = np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
  up = np.array([-np.sin(e) * np.cos(a), -np.sin(e) * np.sin(a), np.cos(e)])
  return forward, up, np.cross(forward, up)


def project(points, view: View, fovy: float, width: int, height: int) -> np.ndarray:
  """World ``points [n, 3]`` -> pixel coordinates ``[n, 2]`` (x rightwards, y downwards from the
  top-left corner) in a ``width`` × ``height`` frame of the free camera ``view`` with a vertical
  field of view of ``fovy`` degrees (``model.vis.global_.fovy``)."""
  forward, up, right = camera_axes(view.azimuth, view.elevation)
  relative = np.asarray(points, dtype=np.float64).reshape(-1, 3) - (
    view.lookat - view.distance * forward
  )
  depth = relative @ forward
  half_height = np.tan(np.deg2rad(fovy) / 2)
  x = (relative @ right) / (depth * half_height * width / height)  # -1 .. 1 across the frame
  y = (relative @ up) / (depth * half_height)
  return np.stack([(x + 1) * width / 2, (1 - y) * height / 2], axis=1)


def box_corners(lo, hi) -> np.ndarray:
  """The 8 corners ``[8, 3]`` of the box ``lo [3]`` .. ``hi [3]``."""
  return np.array(list(itertools.product(*zip(lo, hi))), dtype=np.float64)


def fit_view(
  lo,
  hi,
  azimuth: float,
  elevation: float,
  fovy: float,
  aspect: float,
  fill: float = FILL,
  min_depth: float = 0.0,
) -> View:
  """The free camera at ``azimuth``, ``elevation`` nearest to the box ``lo``..``hi`` that shows
  all of it within the central ``fill`` of the frame (width / height = ``aspect``, vertical field
  of view ``fovy`` degrees), the box's projection centred; every corner at least ``min_depth``
  in front of the camera."""
  forward, up, right = camera_axes(azimuth, elevation)
  corners = box_corners(lo, hi)
  half_height = np.tan(np.deg2rad(fovy) / 2)
  half_width = half_height * aspect

  def nearest(lookat):
    """The least distance from ``lookat`` that holds every corner, and the projected corners."""
    offsets = corners - lookat
    along, across, upward = offsets @ forward, offsets @ right, offsets @ up
    distance = max(
      np.max(np.abs(across) / (fill * half_width) - along),
      np.max(np.abs(upward) / (fill * half_height) - along),
      min_depth - np.min(along),
    )
    depth = distance + along
    return distance, across / (depth * half_width), upward / (depth * half_height)

  lookat = corners.mean(axis=0)
  for _ in range(3):  # perspective draws the box off centre: move the lookat by the difference
    distance, x, y = nearest(lookat)
    shift_x, shift_y = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
    lookat = lookat + distance * (shift_x * half_width * right + shift_y * half_height * up)
  return View(lookat, float(nearest(lookat)[0]), azimuth, elevation)


def view_angles(env) -> tuple[float, float]:
  """``(azimuth, elevation)`` of an env's videos: from the side when its goal is a position on a
  line (the task lives in the x, z plane), else from above at an angle."""
  return AZIMUTH, ELEVATION_SIDE if env.goal_size == 1 else ELEVATION_ABOVE


def steady_boxes(lo, hi, window: int) -> tuple[np.ndarray, np.ndarray]:
  """Per-frame boxes ``lo, hi [T, 3]`` -> boxes that change smoothly from frame to frame and
  still hold every frame's own box.

  First the lowest ``lo`` (highest ``hi``) within ``window`` frames either side, then a Gaussian
  average of those over at most ``window`` frames either side: every value averaged at frame t
  bounds frame t's own box, so their average does too."""
  from scipy import ndimage

  if window < 1 or len(lo) < 2:
    return np.asarray(lo, float), np.asarray(hi, float)
  smooth = lambda x: ndimage.gaussian_filter1d(x, window / 2, axis=0, mode="nearest", truncate=2)
  size = 2 * window + 1
  return (
    smooth(ndimage.minimum_filter1d(np.asarray(lo, float), size, axis=0, mode="nearest")),
    smooth(ndimage.maximum_filter1d(np.asarray(hi, float), size, axis=0, mode="nearest")),
  )


class Framing:
  """Where the free camera of a ``width`` × ``height`` frame of ``env`` looks: at the subject of
  each state (:func:`subject_box`), from :func:`view_angles`. Pure MuJoCo, no OpenGL."""

  def __init__(self, env, width: int, height: int, model=None):
    self.env, self.width, self.height = env, width, height
    self.model = env.sys.mj_model if model is None else model
    self.data = mujoco.MjData(self.model)
    self.goal_radius = max(0.02, min(0.3, float(env.goal_threshold)))  # about the goal's size

  @property
  def fovy(self) -> float:
    """The vertical field of view in degrees."""
    return float(self.model.vis.global_.fovy)

  def pose(self, pipeline_state, goal) -> np.ndarray:
    """Poses ``self.data`` as ``pipeline_state``; returns the goal markers ``[n, 3]``."""
    self.data.qpos[:] = np.asarray(pipeline_state.q)
    self.data.qvel[:] = np.asarray(pipeline_state.qd)
    mujoco.mj_forward(self.model, self.data)
    return np.asarray(self.env.goal_markers(np.asarray(goal)), dtype=np.float64).reshape(-1, 3)

  def subject_boxes(self, steps) -> tuple[np.ndarray, np.ndarray]:
    """``(lo [T, 3], hi [T, 3])``: :func:`subject_box` of each ``(pipeline_state, goal)``."""
    boxes = [
      subject_box(self.model, self.data, self.pose(*step), self.goal_radius) for step in steps
    ]
    return np.array([lo for lo, _ in boxes]), np.array([hi for _, hi in boxes])

  def view_of(self, lo, hi) -> View:
    """The free camera nearest to the box ``lo``..``hi`` that shows all of it."""
    azimuth, elevation = view_angles(self.env)
    near = float(self.model.vis.map.znear * self.model.stat.extent)
    aspect = self.width / self.height
    return fit_view(lo, hi, azimuth, elevation, self.fovy, aspect, min_depth=4 * near)

  def views(self, steps, window: int = 0) -> list[View]:
    """One view per step of ``steps`` ``[(pipeline_state, goal)]`` (an episode), moving smoothly
    over ``window`` steps either side (:func:`steady_boxes`); 0: each step framed alone."""
    lo, hi = steady_boxes(*self.subject_boxes(steps), window)
    return [self.view_of(*box) for box in zip(lo, hi)]

  def marker_radius(self, view: View | None) -> float:
    """The goal's size, but never too small to see when the view is wide (a maze)."""
    return max(self.goal_radius, MARKER_MIN_SIZE * view.distance if view else 0.0)
