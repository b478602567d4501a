"""Maze layouts, goal sampling, wall geometry and wall collisions of the point and ant mazes.

Two point mazes: goalax's own (``point_*``) and JaxGCRL's (``simple_*``, the reference's model,
walls, frame, control step and start/goal distribution; its trajectories against the reference's
recordings are in ``test_reference_physics.py``)."""

import functools
import os
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import reference_physics
from brax import contact
from fast_compile import fast_jit

from goalax.envs import ant_maze, make_env, mazes

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
  ["point_big_maze", "point_hardest_maze"],
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


# ---- the ant mazes: JaxGCRL's model, frame, starts and goals -----------------------------------
ANT_MAZES = {"ant_u_maze": "GF", "ant_big_maze_eval": "F", "ant_hardest_maze": "GF"}
# Goals JaxGCRL 0.2.8's AntMaze.reset draws from PRNGKey(k), k = 0..5 (its target's joints).
REFERENCE_ANT_GOALS = {
  "ant_u_maze": [[12, 4], [12, 12], [12, 8], [4, 12], [4, 8], [4, 12]],
  "ant_big_maze_eval": [[24, 12], [24, 12], [20, 12], [20, 24], [8, 20], [24, 24]],
  "ant_hardest_maze": [[28, 32], [4, 16], [4, 28], [28, 20], [8, 40], [4, 28]],
}


def _centres(layout, cells):
  """JaxGCRL's frame: cell ``(row, col)`` centred at ``cell_size · (row, col)``."""
  return {(layout.cell_size * r, layout.cell_size * c) for r, c in cells}


@pytest.mark.parametrize("env_name", list(ANT_MAZES))
def test_ant_maze_starts_at_the_start_cell_centre_with_goals_at_goal_cell_centres(env_name):
  env = make_env(env_name)
  layout = env.layout
  assert layout.frame == "jaxgcrl"
  keys = jax.random.split(jax.random.PRNGKey(1), 4096)
  q, qd, goal = (np.asarray(a) for a in fast_jit(jax.vmap(env._sample_start_and_goal))(keys))
  np.testing.assert_array_equal(q[:, :2], 4.0)  # the reference's start cell (1, 1), exactly
  noise = q[:, 2:] - np.asarray(env.sys.init_q)[2:]
  assert 0.09 < np.abs(noise).max() <= 0.1 + 1e-6  # uniform in ±0.1
  assert 0.09 < qd.std() < 0.11  # normal of scale 0.1
  # Every goal is a goal cell's centre, and every goal cell is drawn.
  assert {tuple(g) for g in goal} == _centres(layout, _cells(layout, ANT_MAZES[env_name]))


def test_ant_maze_draws_the_reference_s_start_and_goal_from_the_same_key():
  # The reference's reset(PRNGKey(0)) is the first state of its recording (its target last).
  data = reference_physics.load("ant_u_maze__spring")
  q, qd, goal = make_env("ant_u_maze")._sample_start_and_goal(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(q, data["q"][0, :15])
  np.testing.assert_allclose(qd, data["qd"][0, :14], atol=1e-7)
  np.testing.assert_array_equal(goal, data["q"][0, 15:17])
  for name, goals in REFERENCE_ANT_GOALS.items():
    env = make_env(name)
    draw = fast_jit(jax.vmap(lambda k: env._sample_start_and_goal(jax.random.PRNGKey(k))[2]))
    np.testing.assert_array_equal(draw(jnp.arange(len(goals))), goals, err_msg=name)


def test_ant_maze_uniform_goals_option_draws_in_the_central_half_of_goal_cells():
  env = make_env("ant_hardest_maze", goals="uniform")
  keys = jax.random.split(jax.random.PRNGKey(2), 4096)
  q, _, goal = (np.asarray(a) for a in fast_jit(jax.vmap(env._sample_start_and_goal))(keys))
  np.testing.assert_array_equal(q[:, :2], 4.0)
  assert {tuple(c) for c in np.asarray(env.layout.cell_of(goal))} == _cells(env.layout, "GF")
  offsets = np.abs(goal - env.layout.cell_size * np.round(goal / env.layout.cell_size))
  assert 0.95 < offsets.max() <= 1.0 + 1e-5  # a quarter cell around the centre
  with pytest.raises(ValueError, match="goals must be one of"):
    make_env("ant_u_maze", goals="anywhere")


@pytest.mark.parametrize("wall_contacts", ["static", "window"])
def test_ant_maze_is_the_reference_model_with_its_walls(wall_contacts):
  env = make_env("ant_u_maze", wall_contacts=wall_contacts)
  m = env.sys.mj_model
  geoms = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i): i for i in range(m.ngeom)}
  bodies = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(m.nbody)]
  assert "target" not in bodies and m.nq == 15 and m.nv == 14
  # JaxGCRL's ant_maze.xml: the torso, hips and feet collide with the walls (conaffinity 1).
  touching = {
    name for name, i in geoms.items() if m.geom_conaffinity[i] & 1 or m.geom_contype[i] & 1
  }
  ant = {name for name in touching if name and not name.startswith(("block_", "maze_window_"))}
  assert ant == {"floor", *ant_maze.REFERENCE_WALL_GEOMS}
  assert float(env.dt) == pytest.approx(0.05) and env._n_frames == 10
  # The walls: one 4 × 4 × 2 box per wall cell at (4 row, 4 col, 1), colliding (static) or
  # visible only (window, whose boxes collide in their place).
  layout = env.layout
  blocks = {name: i for name, i in geoms.items() if name and name.startswith("block_")}
  assert len(blocks) == len(_cells(layout, "1"))
  for r, c in _cells(layout, "1"):
    i = blocks[f"block_{r}_{c}"]
    np.testing.assert_allclose(m.geom_pos[i], [4 * r, 4 * c, 1.0])
    np.testing.assert_allclose(m.geom_size[i], [2.0, 2.0, 1.0])
    collides = (m.geom_contype[i], m.geom_conaffinity[i]) == (1, 1)
    assert collides == (wall_contacts == "static")
  window = [i for name, i in geoms.items() if name and name.startswith("maze_window_")]
  assert len(window) == (3 if wall_contacts == "window" else 0)
  assert all((m.geom_contype[i], m.geom_conaffinity[i]) == (1, 1) for i in window)


def wall_contacts(env, q):
  """Sorted ``(body geom, depth, point)`` of the touching contacts between the body and the walls
  (static or window boxes) at pose ``q``, the window placed as a step would place it."""

  @fast_jit
  def contacts(q):
    state = env.pipeline_init(q, jnp.zeros(env.sys.qd_size()))
    c = contact.get(env._step_system(state), state.x)
    return c.geom1, c.geom2, c.dist, c.pos

  m = env.sys.mj_model
  name = lambda g: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, int(g))
  is_wall = lambda g: name(g).startswith(("block_", "maze_window_"))
  out = []
  for g1, g2, dist, pos in zip(*(np.asarray(a) for a in contacts(q))):
    if dist < 0 and is_wall(g1) != is_wall(g2):
      out.append((name(g2 if is_wall(g1) else g1), round(float(dist), 5), tuple(pos.round(4))))
  return sorted(out)


def test_ant_maze_window_gives_the_contacts_of_all_walls():
  # The torso in the start cell's corner (2.1, 2.1): a wall face on each side and the corner
  # cell between them, so the torso, the hips and a foot touch three wall cells.
  found = []
  for wall_contacts_ in ("window", "static"):
    env = make_env("ant_u_maze", wall_contacts=wall_contacts_)
    found.append(wall_contacts(env, env.sys.init_q.at[:3].set(jnp.array([2.1, 2.1, 0.3]))))
  assert found[0] == found[1]
  assert {"torso_geom", "aux_2_geom", "aux_3_geom", "aux_4_geom"} <= {c[0] for c in found[0]}


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
@pytest.mark.parametrize(
  "frame,block,merge",
  [("goalax", 2, True), ("jaxgcrl", 2, False), ("jaxgcrl", 3, False), ("jaxgcrl", 3, True)],
)
def test_wall_window_covers_every_wall_within_its_reach(name, frame, block, merge):
  layout = mazes.LAYOUTS[name]
  layout = layout.in_jaxgcrl_frame() if frame == "jaxgcrl" else layout
  window = mazes.WallWindow(layout, block=block, merge=merge)
  assert window.reach == (block - 1) / 2 * layout.cell_size
  if (block, merge) == (2, True):
    assert window.n_boxes == 2
  # Points anywhere in free cells; every wall cell closer than the reach along x and along y
  # must be inside a box.
  pts = np.asarray(
    jax.vmap(
      lambda k: mazes.sample_cell_point(k, layout.free_cells_xy, layout.cell_size, margin_frac=0.0)
    )(jax.random.split(jax.random.PRNGKey(3), 3000))
  )
  pos, size = jax.vmap(window.boxes_at)(jnp.asarray(pts))
  pos, size = np.asarray(pos), np.asarray(size)
  cells = layout.wall_boxes(merge=False)
  gap = np.maximum(np.abs(pts[:, None] - cells[None, :, :2]) - cells[None, :, 2:], 0)
  near = gap.max(axis=-1) < window.reach  # [n, m]
  inside = (
    (np.abs(cells[None, :, None, :2] - pos[:, None, :, :2]) <= size[:, None, :, :2] + 1e-4)
    .all(-1)
    .any(-1)
  )  # wall cell centre in some box
  assert near.any() and not (near & ~inside).any()
  if not merge:  # one box per wall cell, JaxGCRL's size, in row-major order, then parked ones
    placed = pos[..., 2] > 0
    np.testing.assert_allclose(size[placed][:, :2], layout.cell_size / 2)
    assert (placed[:, :-1] >= placed[:, 1:]).all()
    rc = np.asarray(layout.cell_of(pos[..., :2]))
    order = rc[..., 0] * 100 + rc[..., 1]
    assert ((np.diff(order, axis=1) > 0) | ~placed[:, 1:]).all()
    assert {tuple(c) for c in rc[placed]} <= _cells(layout, "1")
  # Boxes never cover free cells (checked on every distinct box of the table).
  boxes = np.unique(
    np.concatenate([np.asarray(window._pos), np.asarray(window._size)], -1).reshape(-1, 6).round(4),
    axis=0,
  )
  free_xy = np.asarray(layout.free_cells_xy)
  for p, s in zip(boxes[:, :3], boxes[:, 3:]):
    if p[2] > 0:
      assert not (np.abs(free_xy - p[:2]) < s[:2]).all(-1).any()


def test_jaxgcrl_frame_puts_cell_row_col_at_row_col_times_the_cell_size():
  layout = mazes.LAYOUTS["big_maze"].scaled(0.5).in_jaxgcrl_frame()
  assert layout.frame == "jaxgcrl" and layout.cell_size == 2.0
  free = sorted(_cells(layout, "0RGF"))
  np.testing.assert_array_equal(layout.cells_to_xy(free), 2.0 * np.array(free))
  np.testing.assert_array_equal(layout.start_cells_xy, [[2.0, 2.0]])  # JaxGCRL's start (1, 1)
  assert {tuple(c) for c in np.asarray(layout.cell_of(layout.free_cells_xy + 0.9))} == set(free)
  # Wall boxes: rows run along x; merged rectangles cover the same cells in both frames.
  goalax = mazes.LAYOUTS["big_maze"].scaled(0.5)
  for rect in goalax.wall_rects():
    x, y, hx, hy = layout.rect_box(rect)
    r, c, n_rows, n_cols = rect
    assert (hx, hy) == (n_rows, n_cols)  # half sizes of 2-unit cells
    assert (x - hx, y - hy) == (2 * r - 1, 2 * c - 1)
  with pytest.raises(ValueError, match="frame"):
    mazes.MazeLayout(grid=("111", "1R1", "1G1", "111"), frame="other")


# ---- walls block the agents -------------------------------------------------------------------
@functools.cache
def _rollout_fn(env_name, num_envs, num_steps, **kwargs):
  """Jitted ``run(key, action, push) -> agent x, y [num_steps, num_envs, 2]``.

  ``action`` (NaN entries: uniform random) is applied at every step. With ``push != 0`` every
  agent starts at x = start x − 0.8 (1.2 from the wall face left of the start cell's centre)
  moving at ``push`` along x.
  """
  env = make_env(env_name, **kwargs)
  start_x = float(env.layout.start_cells_xy[0, 0])

  def init(key, push):  # physics only: the env's start, optionally thrown at the wall
    q, qd, _ = env._sample_start_and_goal(key)
    q = jnp.where(push != 0, q.at[0].set(start_x - 0.8), q)
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
  env, run = _rollout_fn("point_hardest_maze", 16, 200)
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
  _, run_window = _rollout_fn("point_hardest_maze", 16, 200)
  _, run_static = _rollout_fn("point_hardest_maze", 16, 200, wall_contacts="static")
  for a in [(1, -1), (np.nan, np.nan)]:
    a = jnp.array(a, jnp.float32)
    np.testing.assert_allclose(
      run_window(jax.random.PRNGKey(6), a), run_static(jax.random.PRNGKey(6), a), atol=1e-3
    )


def test_walls_block_the_ant():
  env, run = _rollout_fn("ant_u_maze", 16, 100)  # default backend
  no_action = jnp.zeros(env.action_size)
  random_action = jnp.full((env.action_size,), jnp.nan)
  # Thrown at the wall left of the start (its centre at x = 4, JaxGCRL's frame: the face at
  # x = 2) at 4 units/s, still or kicking: the torso (a sphere of radius 0.25, colliding with the
  # walls like the hips and the feet) stays out.
  face = float(env.layout.start_cells_xy[0, 0]) - env.layout.cell_size / 2
  assert face == 2.0
  for action in (no_action, random_action):
    xy = np.asarray(run(jax.random.PRNGKey(7), action, -4.0))
    assert np.isfinite(xy).all()
    assert xy[..., 0].min() > face + 0.2
    assert np.median(xy[-1, :, 0]) > face + 0.2
  # Random actions from the start: the torso stays in the maze's free cells.
  xy = np.asarray(run(jax.random.PRNGKey(8), random_action))
  assert _wall_distance(env.layout, xy.reshape(-1, 2)).min() > 0.2


# ---- JaxGCRL's point maze (simple_*) ----------------------------------------------------------
SIMPLE_MAZES = {
  "simple_u_maze": "u_maze",
  "simple_big_maze": "big_maze",
  "simple_hardest_maze": "hardest_maze",
}
REFERENCE_RECORDINGS = os.path.join(os.path.dirname(__file__), "data", "reference_physics")
RECORDING_RESET_SEED = 0  # scripts/record_reference_physics.py resets with PRNGKey(0)


def _jaxgcrl_xy(cells):
  """JaxGCRL's frame: cell ``(row, col)`` centred at ``(4 row, 4 col)``."""
  return {(4.0 * r, 4.0 * c) for r, c in cells}


def _body_and_joints(env):
  m = env.sys.mj_model
  names = lambda kind, n: [mujoco.mj_id2name(m, kind, i) for i in range(n)]
  return names(mujoco.mjtObj.mjOBJ_BODY, m.nbody), names(mujoco.mjtObj.mjOBJ_JOINT, m.njnt)


@pytest.mark.parametrize(
  "backend,n_frames", [("spring", 10), ("positional", 10), ("generalized", 5), ("mjx", 5)]
)
def test_simple_maze_is_the_reference_model_and_control_step(backend, n_frames):
  env = make_env("simple_u_maze", backend=backend)
  assert env.dt == pytest.approx(0.05) and env._n_frames == n_frames
  m = env.sys.mj_model
  bodies, joints = _body_and_joints(env)
  torso = bodies.index("torso")
  # The reference's sphere: radius 0.25 of density 5, 0.75 above the floor, on two slide joints
  # with armature 1 and no damping, driven by motors of gear 5 (200 on positional).
  np.testing.assert_allclose(m.body_mass[torso], 5.0 * 4 / 3 * np.pi * 0.25**3, rtol=1e-6)
  np.testing.assert_allclose(m.body_pos[torso], [0.0, 0.0, 0.75])
  assert joints[:2] == ["obj_slidex", "obj_slidey"]
  np.testing.assert_allclose(m.dof_armature[:2], 1.0)
  np.testing.assert_allclose(m.dof_damping[:2], 0.0)
  gear = 200.0 if backend == "positional" else 5.0
  np.testing.assert_allclose(np.asarray(env.sys.actuator.gear), gear)
  # The target body only stays where brax's generalized contacts need it (simple_maze.py).
  assert ("target" in bodies) == (backend == "generalized")
  assert env.default_backend == env.reference_backend == "spring"
  assert env.goal_threshold == 0.5 and env.episode_length == 1000


@pytest.mark.parametrize("name", list(SIMPLE_MAZES))
@pytest.mark.parametrize("wall_contacts", ["static", "window"])
def test_simple_maze_walls_are_the_reference_walls(name, wall_contacts):
  env = make_env(name, wall_contacts=wall_contacts)
  m = env.sys.mj_model
  layout = mazes.LAYOUTS[SIMPLE_MAZES[name]]
  walls = {
    mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g): g
    for g in range(m.ngeom)
    if (mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, g) or "").startswith("block_")
  }
  assert set(walls) == {f"block_{r}_{c}" for r, c in _cells(layout, "1")}
  for wall_name, g in walls.items():
    r, c = (int(x) for x in wall_name.split("_")[1:])
    np.testing.assert_allclose(m.geom_pos[g], [4.0 * r, 4.0 * c, 1.0])
    np.testing.assert_allclose(m.geom_size[g], [2.0, 2.0, 1.0])
    collides = (int(m.geom_contype[g]), int(m.geom_conaffinity[g])) == (1, 1)
    assert collides == (wall_contacts == "static")  # else the window's boxes collide


@pytest.mark.parametrize("name", list(SIMPLE_MAZES))
def test_simple_maze_starts_at_the_start_cell_centre_with_goals_at_goal_cell_centres(name):
  env = make_env(name)
  layout = mazes.LAYOUTS[SIMPLE_MAZES[name]]
  keys = jax.random.split(jax.random.PRNGKey(1), 4096)
  state = jax.jit(jax.vmap(env.reset))(keys)
  q, qd = np.asarray(state.pipeline_state.q), np.asarray(state.pipeline_state.qd)
  np.testing.assert_array_equal(q[:, :2], 4.0)  # the start cell (1, 1), exactly
  assert 0.09 < qd[:, :2].std() < 0.11 and abs(qd[:, :2].mean()) < 0.01
  goals = {tuple(g) for g in np.asarray(state.obs[:, 4:]).tolist()}
  assert goals == _jaxgcrl_xy(_cells(layout, "GF"))  # every goal cell's centre, nothing else
  np.testing.assert_array_equal(state.obs[:, :4], np.concatenate([q[:, :2], qd[:, :2]], 1))
  if layout.has_far_goals:
    far = make_env(name, far_goals_only=True)
    goal = jax.vmap(lambda k: far._sample_start_and_goal(k)[2])(keys)
    assert {tuple(g) for g in np.asarray(goal).tolist()} == _jaxgcrl_xy(_cells(layout, "F"))


@pytest.mark.parametrize("name", list(SIMPLE_MAZES))
def test_simple_maze_reset_draws_the_reference_s_start_and_goal_from_the_same_key(name):
  path = os.path.join(REFERENCE_RECORDINGS, f"{name}__spring.npz")
  if not os.path.exists(path):
    pytest.skip(f"no recording {path}")
  with np.load(path) as data:
    ref_q, ref_qd = data["q"][0], data["qd"][0]  # the reference's reset; q[2:] is its target
  obs = np.asarray(make_env(name).reset(jax.random.PRNGKey(RECORDING_RESET_SEED)).obs)
  np.testing.assert_array_equal(obs[:2], ref_q[:2])
  np.testing.assert_allclose(obs[2:4], ref_qd[:2], rtol=1e-6)
  np.testing.assert_array_equal(obs[4:], ref_q[2:])


@pytest.mark.parametrize("name", list(SIMPLE_MAZES))
def test_simple_maze_tasks_start_and_end_at_their_cell_centres(name):
  env = make_env(name)
  layout = mazes.LAYOUTS[SIMPLE_MAZES[name]]
  assert env.eval_tasks == tuple(t.name for t in layout.tasks) and env.eval_task_noise
  for k, task in enumerate(layout.tasks):
    state = jax.vmap(lambda key: env.reset_to_task(jnp.int32(k), key))(
      jax.random.split(jax.random.PRNGKey(k), 8)
    )
    start, goal = (
      np.broadcast_to(4.0 * np.array(cell, float), (8, 2)) for cell in (task.start, task.goal)
    )
    np.testing.assert_array_equal(state.pipeline_state.q[:, :2], start)
    np.testing.assert_array_equal(state.obs[:, 4:], goal)
    assert np.ptp(np.asarray(state.pipeline_state.qd[:, 0])) > 0  # velocity noise per episode


def test_walls_block_the_reference_point():
  env, run = _rollout_fn("simple_hardest_maze", 16, 300)
  layout = env.layout
  # Held full actions (the undamped point speeds up along corridors and slams into walls) and
  # random ones: the sphere (radius 0.25) stays out of the walls up to the spring contacts' give
  # (measured: 0.05 at most over 1000 steps), and moves far less per control step than the 1.75
  # within which its wall window's contacts are exact.
  for a in [(1, 0), (0, 1), (-1, 1), (1, 1), (np.nan, np.nan)]:
    xy = np.asarray(run(jax.random.PRNGKey(4), jnp.array(a, jnp.float32)))
    assert np.isfinite(xy).all()
    assert _wall_distance(layout, xy.reshape(-1, 2)).min() > 0.25 - 0.1, a
    assert bool(jnp.all(layout.is_free_xy(xy.reshape(-1, 2))))
    assert np.linalg.norm(np.diff(xy, axis=0), axis=-1).max() < 1.75 / 2, a


def test_reference_point_wall_window_matches_static_walls():
  _, run_window = _rollout_fn("simple_u_maze", 8, 300)
  _, run_static = _rollout_fn("simple_u_maze", 8, 300, wall_contacts="static")
  for a in [(1, 1), (np.nan, np.nan)]:
    a = jnp.array(a, jnp.float32)
    np.testing.assert_allclose(
      run_window(jax.random.PRNGKey(6), a), run_static(jax.random.PRNGKey(6), a), atol=1e-4
    )


def test_point_maze_keeps_goalax_s_own_physics_under_its_new_names():
  for maze in ("u_maze", "big_maze", "hardest_maze"):
    env = make_env(f"point_{maze}")
    assert env.default_backend == "mjx" and env.backends == ("mjx", "generalized")
    assert env.dt == pytest.approx(0.1) and env.goal_threshold == 0.5
    assert env.layout.frame == mazes.GOALAX_FRAME
  assert [make_env(f"point_{m}").episode_length for m in SIZES] == [300, 400, 500]
