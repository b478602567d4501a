"""Camera framing of the renderer (the geometry without GL; one small GL check that MuJoCo draws
where :func:`goalax.outputs.framing.project` says) and the MJX depth barriers."""

import types

import jax
import mujoco
import numpy as np
import pytest

from goalax.envs import make_env
from goalax.envs.mjx_depth import mjx_depth_barriers
from goalax.outputs import framing as geometry
from goalax.outputs import render

SCENE = """
<mujoco>
  <worldbody>
    <geom name="floor" type="plane" size="50 50 0.1"/>
    <geom name="wall" type="box" pos="10 0 1" size="2 0.5 1"/>
    <geom name="parked" type="box" pos="0 0 -100" size="0.1 0.1 0.1" rgba="0 0 0 0"/>
    <body pos="0 0 1"><joint type="free"/><geom type="box" size="2 0.5 1" euler="0 0 90"/></body>
  </worldbody>
</mujoco>
"""


def test_subject_box_holds_what_moves_and_the_goal_not_floor_walls_or_invisible_geoms():
  model = mujoco.MjModel.from_xml_string(SCENE)
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  lo, hi = geometry.subject_box(model, data, np.array([[-4.0, 0.0, 0.0]]), marker_radius=0.1)
  # The free box, turned 90° about z, spans x ±0.5, y ±2, z 0..2; the goal ball x -4.1, z -0.1.
  # The floor, the static wall at x = 8..12 and the invisible parked box are left out.
  np.testing.assert_allclose(lo, [-4.1, -2.0, -0.1], atol=1e-6)
  np.testing.assert_allclose(hi, [0.5, 2.0, 2.0], atol=1e-6)


def test_fit_view_of_a_square_seen_from_straight_above():
  # A 2 × 2 square on the floor, a 90° field of view (tan 45° = 1), filling half the frame: the
  # square's half width 1 must appear at 0.5 of the half frame, so the camera is 2 away.
  view = geometry.fit_view([-1, -1, 0], [1, 1, 0], 90.0, -90.0, fovy=90.0, aspect=1.0, fill=0.5)
  np.testing.assert_allclose(view.lookat, [0, 0, 0], atol=1e-9)
  np.testing.assert_allclose(view.distance, 2.0)
  pixels = geometry.project(geometry.box_corners([-1, -1, 0], [1, 1, 0]), view, 90.0, 100, 100)
  np.testing.assert_allclose(np.sort(np.unique(pixels.round(6))), [25.0, 75.0])


@pytest.mark.parametrize("elevation", [geometry.ELEVATION_ABOVE, geometry.ELEVATION_SIDE])
def test_fit_view_centres_a_box_and_fills_the_frame_along_its_tighter_axis(elevation):
  lo, hi = np.array([-3.0, 1.0, 0.0]), np.array([2.0, 1.5, 0.4])
  width, height = 320, 240
  view = geometry.fit_view(lo, hi, geometry.AZIMUTH, elevation, 45.0, width / height)
  pixels = geometry.project(geometry.box_corners(lo, hi), view, 45.0, width, height)
  low, high = pixels.min(axis=0), pixels.max(axis=0)
  np.testing.assert_allclose((low + high) / 2, [width / 2, height / 2], atol=0.5)
  np.testing.assert_allclose(max((high - low) / [width, height]), geometry.FILL, atol=1e-3)


def test_projection_is_where_mujoco_draws():
  # A lit red ball and nothing else: the centre of its red pixels is its projected centre.
  xml = """<mujoco><visual><headlight ambient="1 1 1" diffuse="0 0 0" specular="0 0 0"/></visual>
    <worldbody><geom type="sphere" size="0.05" pos="0.7 -0.4 0.3" rgba="1 0 0 1"/></worldbody>
  </mujoco>"""
  model = mujoco.MjModel.from_xml_string(xml)
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  width, height = 160, 100
  renderer = mujoco.Renderer(model, height, width)
  camera = mujoco.MjvCamera()
  mujoco.mjv_defaultFreeCamera(model, camera)
  for view in (
    geometry.View(np.array([0.1, 0.2, 0.0]), 2.5, geometry.AZIMUTH, geometry.ELEVATION_ABOVE),
    geometry.View(np.array([0.0, 0.0, 0.1]), 3.0, 30.0, geometry.ELEVATION_SIDE),
  ):
    camera.lookat[:], camera.distance = view.lookat, view.distance
    camera.azimuth, camera.elevation = view.azimuth, view.elevation
    renderer.update_scene(data, camera)
    frame = renderer.render().astype(int)
    ys, xs = np.nonzero((frame[..., 0] > 150) & (frame[..., 1] < 80) & (frame[..., 2] < 80))
    drawn = [xs.mean() + 0.5, ys.mean() + 0.5]
    projected = geometry.project([[0.7, -0.4, 0.3]], view, model.vis.global_.fovy, width, height)
    np.testing.assert_allclose(drawn, projected[0], atol=1.0)
  renderer.close()


def _arm_and_goal_pixels(framing, view, step):
  """Pixel coordinates ``[n, 2]`` of the reacher's arm and goal as seen from above: both ends of
  each capsule and the fingertip ball, each ± its radius along x and y; the goal ± its size."""
  markers = framing.pose(*step)
  model, data = framing.model, framing.data
  points = [(m, framing.goal_radius) for m in markers]
  for g in np.flatnonzero(model.body_weldid[model.geom_bodyid] != 0):
    is_capsule = model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE
    half = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g, 1] * is_capsule
    points += [(data.geom_xpos[g] + half, model.geom_size[g, 0])]
    points += [(data.geom_xpos[g] - half, model.geom_size[g, 0])]
  square = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]])
  outline = np.concatenate([center + radius * square for center, radius in points])
  return geometry.project(outline, view, framing.fovy, framing.width, framing.height)


def _span(pixels, framing):
  """The fraction of the frame's width and height that ``pixels`` span."""
  return (pixels.max(axis=0) - pixels.min(axis=0)) / [framing.width, framing.height]


def _reacher_state(q):
  return types.SimpleNamespace(q=np.asarray(q, float), qd=np.zeros(2))


@pytest.fixture(scope="module")
def reacher():
  return make_env("reacher")


def test_reacher_arm_and_goal_fill_the_frame(reacher):
  # Arm and goal span more than half the frame along one axis (0.64 to 0.78 on these poses);
  # before, when the view held the arena walls (as bounding spheres), 0.06 to 0.16.
  framing = geometry.Framing(reacher, 320, 240)
  rng = np.random.default_rng(0)
  for _ in range(8):
    angle, radius = rng.uniform(0, 2 * np.pi), 0.2 * np.sqrt(rng.uniform())
    step = (
      _reacher_state(rng.uniform(-np.pi, np.pi, 2)),
      radius * np.array([np.cos(angle), np.sin(angle)]),
    )
    pixels = _arm_and_goal_pixels(framing, framing.views([step])[0], step)
    assert np.all((pixels >= 0) & (pixels <= [320, 240]))
    assert max(_span(pixels, framing)) > 0.5


def test_episode_camera_moves_smoothly_and_keeps_arm_and_goal_in_view(reacher):
  # A jittery arm (a slow turn plus noise of ±0.6 rad every step) reaching for one goal.
  rng = np.random.default_rng(1)
  turn = np.linspace(0, 3, 150)
  qs = np.stack([turn, 1.5 * np.sin(turn)], axis=1) + rng.uniform(-0.6, 0.6, (150, 2))
  steps = [(_reacher_state(q), np.array([0.15, -0.05])) for q in qs]
  framing = geometry.Framing(reacher, 320, 240)
  window = round(geometry.STEADY_SECONDS / float(reacher.dt))  # 50 steps of 0.02 s
  views, per_step = framing.views(steps, window), framing.views(steps)

  def largest_step(views):
    """The largest move from one frame to the next, relative to the camera's distance."""
    lookat = np.array([v.lookat for v in views])
    distance = np.array([v.distance for v in views])
    moves = np.linalg.norm(np.diff(lookat, axis=0), axis=1) + np.abs(np.diff(distance))
    return float(np.max(moves / distance[1:]))

  assert largest_step(views) < 0.01 and largest_step(views) < largest_step(per_step) / 10
  spans = []
  for view, step in zip(views, steps):
    pixels = _arm_and_goal_pixels(framing, view, step)
    assert np.all((pixels >= 0) & (pixels <= [320, 240]))  # never out of view, however it jumps
    spans.append(max(_span(pixels, framing)))
  assert np.mean(spans) > 0.5


def test_frames_larger_than_the_offscreen_buffer_render(reacher):
  assert reacher.sys.mj_model.vis.global_.offwidth == 640
  renderer = render.FrameRenderer(reacher, height=540, width=720)
  frame = renderer.render(_reacher_state([0.3, 1.2]), np.array([-0.12, 0.1]))
  renderer.renderer.close()
  assert frame.shape == (540, 720, 3) and frame.std() > 10
  assert reacher.sys.mj_model.vis.global_.offwidth == 640  # the env's own model is left alone


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
