"""Maze layouts, goal sampling, wall geometry and wall collisions of the point and ant mazes."""

import functools
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.envs import make_env, mazes

SIZES = {"u_maze": (5, 5), "big_maze": (8, 8), "hardest_maze": (9, 12)}


def _cells(layout, chars):
  return {(r, c) for r, row in enumerate(layout.grid) for c, ch in enumerate(row) if ch in chars}


def _wall_distance(layout, xy):
  """Distance from points ``xy [n, 2]`` to the nearest wall cell (0 inside a wall)."""
  boxes = layout.wall_boxes(merge=False)  # [m, 4] centre x, y, half x, half y
  d = np.maximum(np.abs(xy[:, None, :] - boxes[None, :, :2]) - boxes[None, :, 2:], 0.0)
  return np.linalg.norm(d, axis=-1).min(axis=1)


# ---- layouts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SIZES))
def test_layout_sizes_starts_and_goals(name):
  layout = mazes.LAYOUTS[name]
  assert layout.shape == SIZES[name] and layout.cell_size == 4.0
  free = _cells(layout, "0RGF")
  starts, goals = _cells(layout, "R"), _cells(layout, "GF")
  assert starts and goals and starts <= free and goals <= free
  # The border is wall, every goal is reachable from the start.
  rows, cols = layout.shape
  assert all(
    layout.grid[r][c] == "1"
    for r in range(rows)
    for c in range(cols)
    if r in (0, rows - 1) or c in (0, cols - 1)
  )
  assert goals <= set(layout.path_length_cells())
  # World frame: the first start cell is at the origin; cell centres are cell_size apart.
  np.testing.assert_allclose(layout.start_cells_xy[0], [0.0, 0.0])
  np.testing.assert_allclose(np.asarray(layout.goal_cells_xy()) % layout.cell_size, 0.0, atol=1e-6)
  assert layout.free_cells_xy.shape == (len(free), 2)
  rc = np.asarray(layout.cell_of(layout.goal_cells_xy()))
  assert {tuple(x) for x in rc} == goals
  assert bool(jnp.all(layout.is_free_xy(layout.free_cells_xy)))
  assert not bool(jnp.any(layout.is_free_xy(layout.wall_cells_xy)))
  assert layout.scaled(2.0).cell_size == 8.0
  np.testing.assert_allclose(layout.scaled(2.0).goal_cells_xy(), 2 * layout.goal_cells_xy())


@pytest.mark.parametrize("name", ["u_maze", "big_maze"])
def test_far_goals_are_far(name):
  layout = mazes.LAYOUTS[name]
  far = _cells(layout, "F")
  far_xy = {tuple(x) for x in np.asarray(layout.goal_cells_xy(far_goals_only=True)).round(3)}
  assert far_xy == {tuple(x) for x in layout.cells_to_xy(sorted(far)).round(3)}
  assert len(far) < len(_cells(layout, "GF"))
  steps = layout.path_length_cells()
  assert min(steps[c] for c in far) >= max(steps.values()) / 2
  assert min(steps[c] for c in far) > np.mean([steps[c] for c in _cells(layout, "G")])


def test_far_goals_only_without_far_cells_and_unknown_layout_are_clear_errors():
  with pytest.raises(ValueError, match="far goal"):
    mazes.LAYOUTS["hardest_maze"].goal_cells_xy(far_goals_only=True)
  with pytest.raises(ValueError, match="Did you mean 'u_maze'"):
    mazes.get_layout("u_mze")
  with pytest.raises(ValueError, match="no start"):
    mazes.MazeLayout(grid=("111", "1G1", "111"))


# ---- goal sampling ----------------------------------------------------------------------------
@pytest.mark.parametrize(
  "name,far",
  [
    ("u_maze", False),
    ("u_maze", True),
    ("big_maze", False),
    ("big_maze", True),
    ("hardest_maze", False),
  ],
)
def test_sampled_goals_lie_inside_goal_cells(name, far):
  layout = mazes.LAYOUTS[name]
  cells = layout.goal_cells_xy(far_goals_only=far)
  keys = jax.random.split(jax.random.PRNGKey(0), 20000)
  pts = np.asarray(jax.vmap(lambda k: mazes.sample_cell_point(k, cells, layout.cell_size))(keys))
  rc = {tuple(x) for x in np.asarray(layout.cell_of(pts))}
  assert rc == _cells(layout, "F" if far else "GF")  # every goal cell is used, nothing else
  # A quarter cell (1 unit) away from every wall, at most.
  assert _wall_distance(layout, pts).min() >= 0.25 * layout.cell_size - 1e-5
  offsets = np.abs(
    pts
    - np.asarray(cells)[
      np.argmin(np.linalg.norm(pts[:, None] - np.asarray(cells)[None], axis=-1), axis=1)
    ]
  )
  half = layout.cell_size / 4  # uniform over the central half of the cell
  assert offsets.max() <= half + 1e-5 and offsets.max() > 0.95 * half


@pytest.mark.parametrize(
  "env_name",
  ["ant_u_maze", "ant_big_maze_eval", "ant_hardest_maze", "simple_big_maze", "simple_hardest_maze"],
)
def test_env_starts_and_goals(env_name):
  env = make_env(env_name)
  q, _, goal = jax.vmap(env._sample_start_and_goal)(jax.random.split(jax.random.PRNGKey(1), 4096))
  layout = env.layout
  goal_cells = _cells(layout, "F" if env_name.endswith("_eval") else "GF")
  assert {tuple(x) for x in np.asarray(layout.cell_of(goal))} <= goal_cells
  assert _wall_distance(layout, np.asarray(goal)).min() >= 1.0 - 1e-5
  start = np.asarray(q[:, :2])
  assert np.abs(start).max() <= 0.1 + 1e-6  # start cell centre (origin) plus reset noise


def test_ant_random_start_goal_at_goal_distance():
  env = make_env("ant_random_start")
  q, _, goal = jax.vmap(env._sample_start_and_goal)(jax.random.split(jax.random.PRNGKey(2), 4096))
  start = np.asarray(q[:, :2])
  assert np.abs(start).max() <= 10.0 and np.abs(start).max() > 9.0
  assert start.std(axis=0).min() > 5.0  # spread over the square, not at the origin
  np.testing.assert_allclose(np.linalg.norm(np.asarray(goal) - start, axis=1), 10.0, rtol=1e-5)


# ---- wall geometry ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(SIZES))
@pytest.mark.parametrize("merge", [True, False])
def test_wall_geoms_cover_exactly_the_wall_cells(name, merge):
  layout = mazes.LAYOUTS[name]
  root = ET.fromstring(
    "<mujoco><worldbody><geom name='floor' type='plane' size='1 1 1'/></worldbody></mujoco>"
  )
  mazes.add_maze_walls(root, layout, merge=merge)
  walls = [g for g in root.iter("geom") if g.get("name", "").startswith(mazes.WALL_NAME_PREFIX)]
  rects = layout.wall_rects(merge=merge)
  assert len(walls) == len(rects)
  n_wall_cells = len(_cells(layout, "1"))
  if merge:
    assert len(rects) < n_wall_cells / 2  # merging pays off
  else:
    assert len(rects) == n_wall_cells
  covered = np.zeros(layout.shape, int)
  for r, c, h, w in rects:
    covered[r : r + h, c : c + w] += 1
  np.testing.assert_array_equal(covered, ~layout.free_mask)  # a partition of the wall cells
  for g, (x, y, hx, hy) in zip(walls, layout.wall_boxes(merge=merge)):
    pos, size = [np.array(g.get(k).split(), float) for k in ("pos", "size")]
    np.testing.assert_allclose(pos, [x, y, layout.cell_size / 4], atol=1e-5)
    np.testing.assert_allclose(size, [hx, hy, layout.cell_size / 4], atol=1e-5)
    assert (g.get("contype"), g.get("conaffinity")) == ("0", "1")


@pytest.mark.parametrize("name", list(SIZES))
def test_wall_window_covers_every_wall_within_half_a_cell(name):
  layout = mazes.LAYOUTS[name]
  window = mazes.WallWindow(layout)
  assert window.n_boxes == 2
  # Points anywhere in free cells; every wall cell within half a cell must be inside a box.
  pts = np.asarray(
    jax.vmap(
      lambda k: mazes.sample_cell_point(k, layout.free_cells_xy, layout.cell_size, margin_frac=0.0)
    )(jax.random.split(jax.random.PRNGKey(3), 3000))
  )
  pos, size = jax.vmap(window.boxes_at)(jnp.asarray(pts))
  pos, size = np.asarray(pos), np.asarray(size)
  cells = layout.wall_boxes(merge=False)
  near = (
    np.linalg.norm(
      np.maximum(np.abs(pts[:, None] - cells[None, :, :2]) - cells[None, :, 2:], 0), axis=-1
    )
    < layout.cell_size / 2
  )  # [n, m]
  inside = (
    (np.abs(cells[None, :, None, :2] - pos[:, None, :, :2]) <= size[:, None, :, :2] + 1e-4)
    .all(-1)
    .any(-1)
  )  # wall cell centre in some box
  assert near.any() and not (near & ~inside).any()
  # Boxes never cover free cells (checked on every distinct box of the table).
  boxes = np.unique(
    np.concatenate([np.asarray(window._pos), np.asarray(window._size)], -1).reshape(-1, 6).round(4),
    axis=0,
  )
  free_xy = np.asarray(layout.free_cells_xy)
  for p, s in zip(boxes[:, :3], boxes[:, 3:]):
    if p[2] > 0:
      assert not (np.abs(free_xy - p[:2]) < s[:2]).all(-1).any()


# ---- walls block the agents -------------------------------------------------------------------
@functools.cache
def _rollout_fn(env_name, num_envs, num_steps, **kwargs):
  """Jitted ``run(key, action, push) -> agent x, y [num_steps, num_envs, 2]``.

  ``action`` (NaN entries: uniform random) is applied at every step. With ``push != 0`` every
  agent starts at x = -0.8 (1.2 from the wall face left of the start) moving at ``push`` along x.
  """
  env = make_env(env_name, **kwargs)

  def init(key, push):  # physics only: the env's start, optionally thrown at the wall
    q, qd, _ = env._sample_start_and_goal(key)
    q = jnp.where(push != 0, q.at[0].set(-0.8), q)
    qd = jnp.where(push != 0, qd.at[0].set(push), qd)
    return env.pipeline_init(q, qd)

  @fast_jit
  def run(key, action, push=0.0):
    k_reset, k_act = jax.random.split(key)
    state = jax.vmap(init, in_axes=(0, None))(jax.random.split(k_reset, num_envs), push)

    def body(ps, k):
      noise = jax.random.uniform(k, (num_envs, env.action_size), minval=-1, maxval=1)
      ps = jax.vmap(env.pipeline_step)(ps, jnp.where(jnp.isnan(action), noise, action))
      return ps, ps.x.pos[:, 0, :2]

    return jax.lax.scan(body, state, jax.random.split(k_act, num_steps))[1]

  return env, run


def test_walls_block_the_point_mass():
  env, run = _rollout_fn("simple_hardest_maze", 16, 200)
  # Full action in each direction (the point runs along corridors and presses into walls) and
  # random actions: the sphere (radius 0.5) never overlaps a wall by more than 0.25 (~0.07 when
  # pressing on a face, ~0.2 when hitting a wall corner diagonally at full speed).
  actions = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (1, 1), (np.nan, np.nan)]
  for a in actions:
    xy = np.asarray(run(jax.random.PRNGKey(4), jnp.array(a, jnp.float32)))
    assert np.isfinite(xy).all()
    assert _wall_distance(env.layout, xy.reshape(-1, 2)).min() > 0.5 - 0.25, a
    if a == (1, 0):  # solvable: full action crosses a cell (4 units) in 10 to 20 steps
      x = xy[:, 0, 0]
      steps_per_cell = int(np.argmax(x >= x[0] + env.layout.cell_size)) + 1
      assert 10 <= steps_per_cell <= 20, steps_per_cell
  # Thrown at the wall left of the start at 10 units/s (3× its top speed): it stays out.
  xy = np.asarray(run(jax.random.PRNGKey(5), jnp.array([np.nan, np.nan]), -10.0))
  assert _wall_distance(env.layout, xy.reshape(-1, 2)).min() > 0.5 - 0.25


def test_point_wall_window_matches_static_walls():
  _, run_window = _rollout_fn("simple_hardest_maze", 16, 200)
  _, run_static = _rollout_fn("simple_hardest_maze", 16, 200, wall_contacts="static")
  for a in [(1, -1), (np.nan, np.nan)]:
    a = jnp.array(a, jnp.float32)
    np.testing.assert_allclose(
      run_window(jax.random.PRNGKey(6), a), run_static(jax.random.PRNGKey(6), a), atol=1e-3
    )


def test_walls_block_the_ant():
  env, run = _rollout_fn("ant_u_maze", 16, 100)  # default backend
  no_action = jnp.zeros(env.action_size)
  random_action = jnp.full((env.action_size,), jnp.nan)
  # Thrown at the wall left of the start (face at x = -2) at 4 units/s, still or kicking: the
  # torso (a sphere of radius 0.25, colliding with walls like the feet) stays out.
  for action in (no_action, random_action):
    xy = np.asarray(run(jax.random.PRNGKey(7), action, -4.0))
    assert np.isfinite(xy).all()
    assert xy[..., 0].min() > -2.0 + 0.2
    assert np.median(xy[-1, :, 0]) > -1.8
  # Random actions from the start: the torso stays in the maze's free cells.
  xy = np.asarray(run(jax.random.PRNGKey(8), random_action))
  assert _wall_distance(env.layout, xy.reshape(-1, 2)).min() > 0.2
