"""Maze layouts as data, shared by every maze env (point, ant, ant soccer, humanoid).

A layout is a grid of one-character cells, read as a map seen from above (first string = the
row furthest along +y):

- ``'1'`` wall,
- ``'0'`` free cell that is never a goal,
- ``'R'`` start cell (free),
- ``'G'`` goal cell (free) used for training goals only,
- ``'F'`` far goal cell (free): a goal in training AND in evaluation. The evaluation variants
  (``ant_u_maze_eval``, ``ant_big_maze_eval``) draw goals from ``'F'`` cells only, at the far end
  of the maze from the start.

The layouts follow D4RL's / JaxGCRL's u-maze (5×5 cells), big maze (8×8) and hardest maze (9×12),
every free cell except the start being a training goal, with a cell size of 4 world units.

Fixed evaluation tasks (``MazeLayout.tasks``, in the style of OGBench's five tasks per maze):
five named ``(start cell, goal cell)`` pairs per layout, ``task1`` ... ``task5`` in order of
their shortest-path length, chosen to spread from a few cells to the maze's diameter (the longest
shortest path between two free cells), with starts in different parts of the maze (not only the
training start ``'R'``) and goals in training goal cells. The maze envs start each episode of a
task in its start cell and put the goal in its goal cell, with the same noise as training
(``docs/evaluation_tasks.md`` lists them with their path lengths):

============  ===========================================================================
u_maze        task1 (1,1)→(1,3) 2 · task2 (1,3)→(3,2) 3 · task3 (1,1)→(3,3) 4 ·
              task4 (3,1)→(1,2) 5 · task5 (1,1)→(3,1) 6 (the diameter)
big_maze      task1 (1,1)→(3,2) 3 · task2 (6,1)→(3,3) 5 · task3 (1,6)→(4,2) 7 ·
              task4 (6,5)→(6,2) 9 (3 cells apart, 9 by path) · task5 (1,1)→(6,5) 11
hardest_maze  task1 (1,1)→(1,4) 3 · task2 (5,4)→(4,6) 7 · task3 (1,10)→(3,1) 11 ·
              task4 (1,1)→(3,10) 15 · task5 (7,1)→(7,10) 19 (the diameter)
============  ===========================================================================

World frames (``MazeLayout.frame``): in goalax's (``"goalax"``, the default) cell ``(row, col)``
has its centre at ``x = (col − col_start) · cell_size``, ``y = (row_start − row) · cell_size``,
where ``(row_start, col_start)`` is the first ``'R'`` cell in row-major order, so the agent starts
near the origin; in JaxGCRL's (``"jaxgcrl"``, ``MazeLayout.in_jaxgcrl_frame()``) at
``x = row · cell_size``, ``y = col · cell_size`` (the reference's u-maze start at ``(4, 4)``):
envs under the reference's names use it, as the frame is part of their observations; in
OGBench's (``"ogbench"``, ``MazeLayout.in_ogbench_frame()``) at ``x = col · cell_size − 4``,
``y = row · cell_size − 4`` (OGBench's ``ij_to_xy`` with its fixed offset of 4, ``OGBENCH_OFFSET``),
for the ports of OGBench's mazes (``goalax.envs.ogbench_maze``). Every
position a layout gives (cells, walls, tasks, ``WallWindow`` boxes) is in its frame. The walls
are ``wall_height`` high, standing on the floor (z = 0).

Public API (used by the point, ant, ant-soccer and humanoid mazes; keep it stable, only add):

- ``LAYOUTS: dict[str, MazeLayout]`` with keys ``"u_maze"``, ``"big_maze"``, ``"hardest_maze"``;
  ``get_layout(name_or_layout)`` also accepts a ``MazeLayout`` and reports unknown names clearly.
  The far-goal evaluation variants are ``goal_cells_xy(far_goals_only=True)`` of u_maze and
  big_maze (hardest_maze has no far cells and raises).
- ``MazeLayout`` (frozen dataclass): ``grid``, ``cell_size``, ``name``, ``tasks`` (the fixed
  evaluation tasks, ``MazeTask(name, start, goal)`` with cells as ``(row, col)``; ``()`` for a
  layout without them), ``task_cells_xy()``; ``free_cells_xy``,
  ``start_cells_xy``, ``wall_cells_xy``, ``goal_cells_xy(far_goals_only=False)`` (``jnp`` arrays
  ``[n, 2]`` of world x, y of cell centres), ``shape``, ``free_mask``, ``origin_cell``,
  ``cells_to_xy(cells)``, ``cell_of(xy)``, ``is_free_xy(xy)``, ``wall_rects(merge)``,
  ``wall_boxes(merge)``, ``bounds_xy()``, ``path_length_cells(start=None)``,
  ``next_cell_towards(start, goal)``, ``has_far_goals``, ``scaled(factor)``; ``frame``,
  ``in_jaxgcrl_frame()``, ``in_ogbench_frame()``, ``cell_coords(xy)`` (fractional ``(row, col)``), ``rect_box(rect)``.
- ``add_maze_walls(root, layout, wall_height=None, rgba=..., contype=0, conaffinity=1,
  merge=True, **geom_attrs)`` adds the walls to an MJCF tree as static boxes, one per merged
  rectangle of wall cells (``len(layout.wall_rects(merge))`` geoms named ``maze_wall_<k>``).
- ``WallWindow(layout, block=2, merge=True)``: the fast alternative for collisions: a few
  collision boxes (2 by default) that are moved, every env step, onto the walls of the
  ``block × block`` cells around the agent (exact contacts, constant cost in any maze; ~2.7×
  faster than all walls for the ant in the hardest maze, ~4× for the point mass); ``merge=False``
  gives one box per wall cell, as JaxGCRL's walls. Add the visible walls with
  ``add_maze_walls(..., contype=0, conaffinity=0)``.
- ``sample_cell_point(rng, cells_xy, cell_size, margin_frac=0.25)`` draws a point uniformly inside
  a random cell, keeping ``margin_frac · cell_size`` from the cell's edges.
- ``set_floor_size(root, layout)`` widens the plane floor's visual extent to the maze.
- ``add_jaxgcrl_maze_walls(root, layout, wall_height=None, **geom_attrs)`` adds the walls as
  JaxGCRL builds them (one box per wall cell, ``block_<row>_<col>``, in JaxGCRL's frame), for the
  envs under the reference's names.

Collision bits of the walls: ``contype=0, conaffinity=1`` by default, so a geom collides with the
walls when its ``contype`` has bit 1 set (the ant's feet do), while walls never collide with each
other or with the floor (whose ``contype`` is 0 in the brax models), which keeps the contact list
short.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np

WALL, FREE, START, GOAL, FAR_GOAL = "1", "0", "R", "G", "F"
_FREE_CHARS = (FREE, START, GOAL, FAR_GOAL)
_GOAL_CHARS = (GOAL, FAR_GOAL)
WALL_RGBA = (0.7, 0.5, 0.3, 1.0)
WALL_NAME_PREFIX = "maze_wall_"
# World frames of a layout (module docstring): goalax's (first start cell at the origin, x along
# the columns, y up the rows) and JaxGCRL's (cell (row, col) centred at (row, col) · cell_size).
# OGBench's (cell (row, col) centred at (col, row) · cell_size − OGBENCH_OFFSET).
GOALAX_FRAME, JAXGCRL_FRAME, OGBENCH_FRAME = "goalax", "jaxgcrl", "ogbench"
FRAMES = (GOALAX_FRAME, JAXGCRL_FRAME, OGBENCH_FRAME)
OGBENCH_OFFSET = 4.0  # OGBench's maze.py: _offset_x = _offset_y = 4, whatever the maze unit


@dataclasses.dataclass(frozen=True)
class MazeTask:
  """A fixed evaluation task of a maze: its ``name`` and its ``start`` and ``goal`` cells, each a
  ``(row, col)`` of the layout's grid."""

  name: str
  start: tuple[int, int]
  goal: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class MazeLayout:
  """A maze: ``grid`` of cell characters (see the module docstring), the cell size, and its fixed
  evaluation ``tasks`` (none for a custom layout unless given)."""

  grid: tuple[str, ...]
  cell_size: float = 4.0
  name: str = "custom"
  tasks: tuple[MazeTask, ...] = ()
  frame: str = GOALAX_FRAME

  def __post_init__(self):
    object.__setattr__(self, "grid", tuple(str(r) for r in self.grid))
    object.__setattr__(self, "cell_size", float(self.cell_size))
    if self.frame not in FRAMES:
      raise ValueError(f"maze {self.name!r}: frame must be one of {FRAMES}, got {self.frame!r}")
    rows = {len(r) for r in self.grid}
    if len(rows) != 1:
      raise ValueError(f"maze {self.name!r}: rows have different lengths {sorted(rows)}")
    bad = set("".join(self.grid)) - set(_FREE_CHARS + (WALL,))
    if bad:
      raise ValueError(f"maze {self.name!r}: unknown cell characters {sorted(bad)}")
    if not self._cells(START):
      raise ValueError(f"maze {self.name!r} has no start cell 'R'")
    if not self._cells(*_GOAL_CHARS):
      raise ValueError(f"maze {self.name!r} has no goal cell 'G' or 'F'")
    if not self.cell_size > 0:
      raise ValueError(f"cell_size must be > 0, got {self.cell_size}")
    self._check_tasks()

  def _check_tasks(self) -> None:
    names = [task.name for task in self.tasks]
    if len(set(names)) != len(names) or not all(names):
      raise ValueError(f"maze {self.name!r}: task names must be distinct and non-empty: {names}")
    rows, cols = self.shape
    for task in self.tasks:
      for what, (r, c) in (("start", task.start), ("goal", task.goal)):
        if not (0 <= r < rows and 0 <= c < cols and self.grid[r][c] != WALL):
          raise ValueError(
            f"maze {self.name!r}: task {task.name!r} has its {what} {(r, c)} outside the free cells"
          )
      if tuple(task.start) == tuple(task.goal):
        raise ValueError(f"maze {self.name!r}: task {task.name!r} starts in its goal cell")
      if tuple(task.goal) not in self.path_length_cells(task.start):
        raise ValueError(f"maze {self.name!r}: task {task.name!r}'s goal is unreachable")

  # ---- grid queries (row, col) --------------------------------------------------------------
  @property
  def shape(self) -> tuple[int, int]:
    """``(rows, cols)`` of the grid, walls included."""
    return len(self.grid), len(self.grid[0])

  def _cells(self, *chars: str) -> list[tuple[int, int]]:
    return [(r, c) for r, row in enumerate(self.grid) for c, ch in enumerate(row) if ch in chars]

  @property
  def origin_cell(self) -> tuple[int, int]:
    """``(row, col)`` of the first start cell, whose centre is the world origin in goalax's
    frame."""
    return self._cells(START)[0]

  def in_jaxgcrl_frame(self) -> MazeLayout:
    """The same maze in JaxGCRL's world frame: cell ``(row, col)`` centred at
    ``(row · cell_size, col · cell_size)`` (module docstring)."""
    return dataclasses.replace(self, frame=JAXGCRL_FRAME)

  def in_ogbench_frame(self) -> MazeLayout:
    """The same maze in OGBench's world frame: cell ``(row, col)`` centred at
    ``(col · cell_size − 4, row · cell_size − 4)`` (module docstring)."""
    return dataclasses.replace(self, frame=OGBENCH_FRAME)

  def cells_to_xy(self, cells) -> np.ndarray:
    """``[(row, col), ...] -> [n, 2]`` world x, y of the cell centres (numpy); fractional rows
    and columns give points between centres."""
    cells = np.asarray(cells, dtype=np.float64).reshape(-1, 2)
    if self.frame == JAXGCRL_FRAME:
      return cells * self.cell_size
    if self.frame == OGBENCH_FRAME:
      return cells[:, ::-1] * self.cell_size - OGBENCH_OFFSET
    r0, c0 = self.origin_cell
    return np.stack([(cells[:, 1] - c0), (r0 - cells[:, 0])], axis=1) * self.cell_size

  def cell_coords(self, xy):
    """World ``xy [..., 2]`` -> fractional ``(row, col) [..., 2]``: cell ``(r, c)``'s centre is
    ``(r, c)``, its area ``[r - 0.5, r + 0.5) × [c - 0.5, c + 0.5)``."""
    if self.frame == OGBENCH_FRAME:
      return ((jnp.asarray(xy) + OGBENCH_OFFSET) / self.cell_size)[..., ::-1]
    xy = jnp.asarray(xy) / self.cell_size
    if self.frame == JAXGCRL_FRAME:
      return xy
    r0, c0 = self.origin_cell
    return jnp.stack([r0 - xy[..., 1], xy[..., 0] + c0], axis=-1)

  def cell_of(self, xy):
    """World ``xy [..., 2]`` -> integer ``(row, col) [..., 2]`` of the cell containing it."""
    if self.frame != GOALAX_FRAME:
      return jnp.floor(self.cell_coords(xy) + 0.5).astype(jnp.int32)
    r0, c0 = self.origin_cell
    xy = jnp.asarray(xy)
    col = jnp.floor(xy[..., 0] / self.cell_size + 0.5).astype(jnp.int32) + c0
    row = r0 - jnp.floor(xy[..., 1] / self.cell_size + 0.5).astype(jnp.int32)
    return jnp.stack([row, col], axis=-1)

  def rect_box(self, rect: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """A rectangle of cells ``(row, col, n_rows, n_cols)`` -> world ``(x_centre, y_centre,
    half_x, half_y)``."""
    r, c, n_rows, n_cols = rect
    x, y = self.cells_to_xy([(r + (n_rows - 1) / 2, c + (n_cols - 1) / 2)])[0]
    half_rows, half_cols = n_rows * self.cell_size / 2, n_cols * self.cell_size / 2
    if self.frame == JAXGCRL_FRAME:  # rows run along x
      return x, y, half_rows, half_cols
    return x, y, half_cols, half_rows

  @functools.cached_property
  def free_mask(self) -> np.ndarray:
    """bool ``[rows, cols]``: True for free cells (``'0'``, ``'R'``, ``'G'``, ``'F'``)."""
    return np.array([[ch in _FREE_CHARS for ch in row] for row in self.grid])

  def is_free_xy(self, xy):
    """``xy [..., 2] ->`` bool ``[...]``: the point lies in a free cell (inside the maze)."""
    rc = self.cell_of(xy)
    rows, cols = self.shape
    inside = (rc[..., 0] >= 0) & (rc[..., 0] < rows) & (rc[..., 1] >= 0) & (rc[..., 1] < cols)
    mask = jnp.asarray(self.free_mask)
    return inside & mask[jnp.clip(rc[..., 0], 0, rows - 1), jnp.clip(rc[..., 1], 0, cols - 1)]

  # ---- cell centres in the world frame ------------------------------------------------------
  @property
  def free_cells_xy(self) -> jax.Array:
    """``[n, 2]`` centres of every free cell (start and goal cells included)."""
    return jnp.asarray(self.cells_to_xy(self._cells(*_FREE_CHARS)), jnp.float32)

  @property
  def start_cells_xy(self) -> jax.Array:
    """``[n, 2]`` centres of the start cells ``'R'``; the first one is ``(0, 0)`` in goalax's
    frame."""
    return jnp.asarray(self.cells_to_xy(self._cells(START)), jnp.float32)

  @property
  def wall_cells_xy(self) -> jax.Array:
    """``[n, 2]`` centres of the wall cells."""
    return jnp.asarray(self.cells_to_xy(self._cells(WALL)), jnp.float32)

  @property
  def has_far_goals(self) -> bool:
    return bool(self._cells(FAR_GOAL))

  def goal_cells_xy(self, far_goals_only: bool = False) -> jax.Array:
    """``[n, 2]`` centres of the goal cells: ``'G'`` and ``'F'``, or only ``'F'``."""
    if far_goals_only and not self.has_far_goals:
      raise ValueError(
        f"maze {self.name!r} marks no far goal cells ('F'); far_goals_only is "
        "available for: " + ", ".join(k for k, v in LAYOUTS.items() if v.has_far_goals)
      )
    chars = (FAR_GOAL,) if far_goals_only else _GOAL_CHARS
    return jnp.asarray(self.cells_to_xy(self._cells(*chars)), jnp.float32)

  def next_cell_towards(self, start: tuple[int, int], goal: tuple[int, int]) -> tuple[int, int]:
    """The 4-neighbour of ``start`` that begins a shortest path to ``goal`` (the first of down,
    up, right, left when several do)."""
    dist = self.path_length_cells(goal)
    r, c = start
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
      if dist.get((r + dr, c + dc), -1) == dist[(r, c)] - 1:
        return (r + dr, c + dc)
    raise ValueError(f"maze {self.name!r}: no path from {start} to {goal}")

  def task_cells_xy(self) -> tuple[jax.Array, jax.Array]:
    """``(starts [n_tasks, 2], goals [n_tasks, 2])``: world x, y of the centres of the tasks'
    start and goal cells, in the order of ``tasks``."""
    starts = self.cells_to_xy([task.start for task in self.tasks])
    goals = self.cells_to_xy([task.goal for task in self.tasks])
    return jnp.asarray(starts, jnp.float32), jnp.asarray(goals, jnp.float32)

  def scaled(self, factor: float) -> MazeLayout:
    """The same maze with ``cell_size * factor`` (e.g. larger for the humanoid)."""
    return dataclasses.replace(self, cell_size=self.cell_size * float(factor))

  # ---- walls --------------------------------------------------------------------------------
  def wall_rects(self, merge: bool = True) -> list[tuple[int, int, int, int]]:
    """Partition of the wall cells into rectangles ``(row, col, n_rows, n_cols)``.

    ``merge=False``: one 1×1 rectangle per wall cell. ``merge=True``: greedy, each still-uncovered
    wall cell (row-major) grows right as far as it can, then down while the whole run is wall;
    the row-first and column-first versions are both tried and the one with fewer rectangles is
    kept. Rectangles never overlap.
    """
    if not merge:
      return [(r, c, 1, 1) for r, c in self._cells(WALL)]
    return _greedy_rects(~self.free_mask)

  def wall_boxes(self, merge: bool = True) -> np.ndarray:
    """``[n, 4]`` world ``(x_centre, y_centre, half_x, half_y)`` of the wall boxes."""
    out = [self.rect_box(rect) for rect in self.wall_rects(merge)]
    return np.asarray(out, dtype=np.float64).reshape(-1, 4)

  def bounds_xy(self) -> tuple[np.ndarray, np.ndarray]:
    """World ``(min_xy, max_xy)`` of the whole grid, walls included."""
    rows, cols = self.shape
    corners = self.cells_to_xy([(0, 0), (rows - 1, cols - 1)])
    half = self.cell_size / 2
    return corners.min(axis=0) - half, corners.max(axis=0) + half

  # ---- path lengths -------------------------------------------------------------------------
  def path_length_cells(self, start: tuple[int, int] | None = None) -> dict[tuple[int, int], int]:
    """Shortest 4-connected path length (in cells) from ``start`` (default: the first start
    cell) to each free cell reachable from it."""
    start = self.origin_cell if start is None else tuple(start)
    dist = {start: 0}
    queue = collections.deque([start])
    rows, cols = self.shape
    while queue:
      r, c = queue.popleft()
      for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        n = (r + dr, c + dc)
        if 0 <= n[0] < rows and 0 <= n[1] < cols and self.free_mask[n] and n not in dist:
          dist[n] = dist[(r, c)] + 1
          queue.append(n)
    return dist


def _layout(name: str, *rows: str, tasks=()) -> MazeLayout:
  """A layout from its rows; ``tasks``: ``(start, goal)`` cell pairs named task1, task2, ..."""
  named = tuple(MazeTask(f"task{k + 1}", s, g) for k, (s, g) in enumerate(tasks))
  return MazeLayout(grid=tuple(rows), name=name, tasks=named)


U_MAZE = _layout(
  "u_maze",
  "11111",
  "1RGG1",
  "111G1",
  "1FFF1",
  "11111",
  tasks=[((1, 1), (1, 3)), ((1, 3), (3, 2)), ((1, 1), (3, 3)), ((3, 1), (1, 2)), ((1, 1), (3, 1))],
)

BIG_MAZE = _layout(
  "big_maze",
  "11111111",
  "1RG11FF1",
  "1GG1GFF1",
  "11GGG111",
  "1GG1GGG1",
  "1G1FG1F1",
  "1GFF1FF1",
  "11111111",
  tasks=[((1, 1), (3, 2)), ((6, 1), (3, 3)), ((1, 6), (4, 2)), ((6, 5), (6, 2)), ((1, 1), (6, 5))],
)

HARDEST_MAZE = _layout(
  "hardest_maze",
  "111111111111",
  "1RGGG1GGGGG1",
  "1G11G1G1G1G1",
  "1GGGGGG1GGG1",
  "1G1111G111G1",
  "1GG1G1GGGGG1",
  "11G1G1G1G111",
  "1GG1GGG1GGG1",
  "111111111111",
  tasks=[
    ((1, 1), (1, 4)),
    ((5, 4), (4, 6)),
    ((1, 10), (3, 1)),
    ((1, 1), (3, 10)),
    ((7, 1), (7, 10)),
  ],
)

LAYOUTS: dict[str, MazeLayout] = {m.name: m for m in (U_MAZE, BIG_MAZE, HARDEST_MAZE)}


def get_layout(layout: str | MazeLayout) -> MazeLayout:
  """A ``MazeLayout`` from its name in ``LAYOUTS`` (or the layout itself)."""
  if isinstance(layout, MazeLayout):
    return layout
  if layout not in LAYOUTS:
    import difflib

    close = difflib.get_close_matches(str(layout), list(LAYOUTS), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"Unknown maze layout '{layout}'.{hint} Valid layouts: {', '.join(LAYOUTS)}.")
  return LAYOUTS[layout]


def add_maze_walls(
  root: ET.Element,
  layout: MazeLayout,
  wall_height: float | None = None,
  rgba=WALL_RGBA,
  contype: int = 0,
  conaffinity: int = 1,
  merge: bool = True,
  **geom_attrs: str,
) -> None:
  """Appends the maze's walls to ``root``'s ``<worldbody>`` as static boxes.

  One box per rectangle of ``layout.wall_rects(merge)`` (merged wall cells: fewer geoms, fewer
  contact pairs; ``merge=False``: one box per wall cell), named ``maze_wall_<k>``, standing on
  z = 0 with height ``wall_height`` (default half a cell, as in D4RL). ``contype``/``conaffinity``
  default to 0/1: geoms whose contype has bit 1 collide with the walls; walls never collide with
  each other or with the floor; 0/0 gives visual-only walls (with a ``WallWindow``).
  ``geom_attrs`` are extra MJCF attributes for every wall geom (e.g. ``solref="0.04 1"``,
  ``condim="1"``); they override the defaults above.
  """
  worldbody = root.find("worldbody")
  if worldbody is None:
    raise ValueError("the model has no <worldbody>")
  height = 0.5 * layout.cell_size if wall_height is None else float(wall_height)
  fmt = lambda v: " ".join(f"{float(x):.6g}" for x in v)
  extra = {key: str(value) for key, value in geom_attrs.items()}
  for k, (x, y, hx, hy) in enumerate(layout.wall_boxes(merge)):
    attrs = dict(
      name=f"{WALL_NAME_PREFIX}{k}",
      type="box",
      pos=fmt((x, y, height / 2)),
      size=fmt((hx, hy, height / 2)),
      contype=str(int(contype)),
      conaffinity=str(int(conaffinity)),
      condim="3",
      rgba=fmt(rgba),
    )
    attrs.update(extra)
    ET.SubElement(worldbody, "geom", attrs)


class WallWindow:
  """The walls near a moving point as a FIXED, small set of boxes placed anew every env step.

  Colliding an agent with every wall box costs one contact pair per (agent geom, wall box) and
  per physics sub-step, so big mazes get slow. A ``WallWindow`` keeps only ``n_boxes`` collision
  boxes in the model and, before each env step, moves them onto the walls of a ``block × block``
  square of cells around a reference point (e.g. the ant's torso): with ``block=2`` (default) the
  2×2 cells around the grid vertex nearest to the point, with ``block=3`` the 3×3 cells centred
  on the point's cell (in general, the point lies at least ``(block − 1) / 2`` cells from the
  square's outer edges: ``reach``). Every geom that stays within ``reach`` of the reference point
  (along x and along y) during the env step can only touch walls of the square, so the contacts
  are exactly those of the full maze, for the price of ``n_boxes`` boxes whatever the layout (2×2:
  the ant's feet reach ~1.2 of the 2 of a 4-unit cell, the point mass 0.5 + its motion). With
  ``merge=True`` (default) the square's wall cells are merged into few rectangles (2 boxes for
  2×2); ``merge=False`` gives one box per wall cell, in row-major order, as JaxGCRL builds its
  walls, so a geom touching two wall cells at their seam gets the same two contacts (up to 3
  boxes for 2×2, 8 for 3×3). Unused boxes are parked far below the floor. Every box shape is a
  precomputed table lookup, so it jits and vmaps.

  Usage (see ``AntMaze`` and ``PointMaze``)::

    window = WallWindow(layout)
    window.add_to_model(root)                       # + add_maze_walls(root, layout, contype=0,
                                                    #   conaffinity=0) for the visible walls
    sys = assets.load_system(root); ids = window.geom_ids(sys)
    sys_now = window.place(sys, ids, torso_xy)      # pass sys_now to the pipeline step

  For two agents that can be in different places (e.g. ant and ball), use two windows with
  different ``prefix`` names.
  """

  PARK_Z = -100.0  # parked boxes sit far below the floor

  def __init__(
    self,
    layout: MazeLayout,
    wall_height: float | None = None,
    block: int = 2,
    merge: bool = True,
  ):
    if int(block) < 2:
      raise ValueError(f"block must be >= 2 cells, got {block}")
    self.layout = layout
    self.block = int(block)
    self.reach = (self.block - 1) / 2 * layout.cell_size
    self.wall_height = 0.5 * layout.cell_size if wall_height is None else float(wall_height)
    rows, cols = layout.shape
    b = self.block
    # Square with first cell (r, c), r in [1 - b, rows - 1], stored at [r + b - 1, c + b - 1].
    tables = {
      (r, c): _block_rects(~layout.free_mask, r, c, b, merge)
      for r in range(1 - b, rows)
      for c in range(1 - b, cols)
    }
    # Only squares chosen for a point in a free cell count; a point inside a wall (never, with
    # walls that push it out) gets the first n_boxes rectangles of its square.
    reachable = [t for (r, c), t in tables.items() if _centre_is_free(layout.free_mask, r, c, b)]
    self.n_boxes = max(1, max(len(t) for t in reachable))
    tables = {key: rects[: self.n_boxes] for key, rects in tables.items()}
    h = self.wall_height / 2
    pos = np.zeros((rows + b - 1, cols + b - 1, self.n_boxes, 3), np.float32)
    size = np.zeros_like(pos)
    pos[..., 2], size[...] = self.PARK_Z, 0.1
    for (r0, c0), rects in tables.items():
      for k, rect in enumerate(rects):
        x, y, hx, hy = layout.rect_box(rect)
        pos[r0 + b - 1, c0 + b - 1, k] = (x, y, h)
        size[r0 + b - 1, c0 + b - 1, k] = (hx, hy, h)
    self._pos, self._size = jnp.asarray(pos), jnp.asarray(size)

  def vertex_of(self, xy):
    """``xy [2] ->`` int ``(i, j)`` of the nearest grid vertex (clipped to the grid); vertex
    ``(i, j)`` joins rows ``i − 1, i`` and columns ``j − 1, j``."""
    rows, cols = self.layout.shape
    if self.layout.frame == GOALAX_FRAME:
      r0, c0 = self.layout.origin_cell
      s = self.layout.cell_size
      j = jnp.floor(xy[0] / s + c0 + 1.0).astype(jnp.int32)
      i = jnp.floor(r0 + 1.0 - xy[1] / s).astype(jnp.int32)
    else:
      i, j = jnp.floor(self.layout.cell_coords(xy) + 1.0).astype(jnp.int32)
    return jnp.clip(i, 0, rows), jnp.clip(j, 0, cols)

  def _table_index(self, xy):
    """``xy [2] ->`` the table indices ``(i, j)`` of the square around ``xy``."""
    if self.block == 2:
      return self.vertex_of(xy)
    rows, cols = self.layout.shape
    b = self.block
    first = jnp.floor(self.layout.cell_coords(xy) + 1.0 - (b % 2) / 2).astype(jnp.int32) - b // 2
    i, j = first + b - 1
    return jnp.clip(i, 0, rows + b - 2), jnp.clip(j, 0, cols + b - 2)

  def boxes_at(self, xy):
    """``xy [2] -> (pos [n_boxes, 3], half_size [n_boxes, 3])`` of the window boxes there."""
    i, j = self._table_index(xy)
    return self._pos[i, j], self._size[i, j]

  def add_to_model(
    self,
    root: ET.Element,
    prefix: str = "maze_window_",
    contype: int = 0,
    conaffinity: int = 1,
    **geom_attrs: str,
  ) -> None:
    """Adds the ``n_boxes`` collision boxes (invisible, parked) to ``<worldbody>``."""
    worldbody = root.find("worldbody")
    attrs = dict(
      type="box",
      pos=f"0 0 {self.PARK_Z:g}",
      size="0.1 0.1 0.1",
      contype=str(int(contype)),
      conaffinity=str(int(conaffinity)),
      condim="3",
      rgba="0 0 0 0",
    )
    attrs.update({key: str(value) for key, value in geom_attrs.items()})
    for k in range(self.n_boxes):
      ET.SubElement(worldbody, "geom", dict(attrs, name=f"{prefix}{k}"))

  def geom_ids(self, sys, prefix: str = "maze_window_") -> np.ndarray:
    """Indices in ``sys`` of the boxes added by ``add_to_model``."""
    import mujoco

    ids = [
      mujoco.mj_name2id(sys.mj_model, mujoco.mjtObj.mjOBJ_GEOM, f"{prefix}{k}")
      for k in range(self.n_boxes)
    ]
    if min(ids) < 0:
      raise ValueError(f"the model lacks the window boxes '{prefix}*' (call add_to_model)")
    return np.asarray(ids)

  def place(self, sys, geom_ids, xy):
    """``sys`` with the window boxes moved onto the walls around ``xy`` (jit/vmap friendly)."""
    pos, size = self.boxes_at(xy)
    return sys.replace(
      geom_pos=sys.geom_pos.at[geom_ids].set(pos), geom_size=sys.geom_size.at[geom_ids].set(size)
    )


def _block_rects(
  walls: np.ndarray, r0: int, c0: int, block: int, merge: bool
) -> list[tuple[int, int, int, int]]:
  """Rectangles ``(row, col, n_rows, n_cols)`` covering the wall cells of ``walls [rows, cols]``
  inside the ``block × block`` square whose first cell is ``(r0, c0)`` (clipped to the grid):
  merged (``_greedy_rects``) or one per wall cell in row-major order."""
  square = np.zeros_like(walls)
  rows, cols = walls.shape
  r1, c1 = min(r0 + block, rows), min(c0 + block, cols)
  r0, c0 = max(r0, 0), max(c0, 0)
  square[r0:r1, c0:c1] = walls[r0:r1, c0:c1]
  if merge:
    return _greedy_rects(square)
  return [(int(r), int(c), 1, 1) for r, c in zip(*np.nonzero(square))]


def _centre_is_free(free: np.ndarray, r0: int, c0: int, block: int) -> bool:
  """Whether a point in a free cell can pick the ``block × block`` square with first cell
  ``(r0, c0)``: one of its central cells (2×2 for an even block, 1 for an odd one) is free."""
  lo, n = (block - 1) // 2, 2 - block % 2
  rows, cols = free.shape
  centre = [(r, c) for r in range(r0 + lo, r0 + lo + n) for c in range(c0 + lo, c0 + lo + n)]
  return any(0 <= r < rows and 0 <= c < cols and free[r, c] for r, c in centre)


def _greedy_rects(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
  """Non-overlapping rectangles ``(row, col, n_rows, n_cols)`` covering ``mask``: each uncovered
  cell grows right, then down; row-first and column-first are tried, the fewer kept."""

  def greedy(mask):
    mask = mask.copy()
    rects = []
    for r in range(mask.shape[0]):
      for c in range(mask.shape[1]):
        if not mask[r, c]:
          continue
        w = 1
        while c + w < mask.shape[1] and mask[r, c + w]:
          w += 1
        h = 1
        while r + h < mask.shape[0] and mask[r + h, c : c + w].all():
          h += 1
        mask[r : r + h, c : c + w] = False
        rects.append((r, c, h, w))
    return rects

  by_rows = greedy(mask)
  by_cols = [(r, c, h, w) for (c, r, w, h) in greedy(mask.T)]
  return by_rows if len(by_rows) <= len(by_cols) else by_cols


def set_floor_size(root: ET.Element, layout: MazeLayout, margin: float = 2.0) -> None:
  """Makes the (plane) floor's visual extent cover the whole maze (collisions are unaffected)."""
  lo, hi = layout.bounds_xy()
  half = float(np.max(np.maximum(np.abs(lo), np.abs(hi)))) + margin
  for geom in root.iter("geom"):
    if geom.get("type") == "plane":
      size = (geom.get("size") or "1 1 1").split()
      geom.set("size", f"{half:.6g} {half:.6g} {size[2] if len(size) > 2 else 1}")


class MazeEvalTasks:
  """Mixin of a maze env (a ``GoalEnv`` with a ``layout``): its evaluation tasks are the
  layout's named tasks, or the seeded set of ``goalax.envs.core`` for a layout without any.

  An episode of a named task starts in the task's start cell and has its goal in the task's goal
  cell (centres in the layout's frame), drawn exactly as a training episode is (the env's start
  noise around the cell's centre; the goal as the env draws it in a goal cell: its centre for the
  envs under the reference's names, uniform within a quarter cell of it for goalax's own, as
  OGBench adds to its tasks) by the env's ``_start_and_goal_in(rng, start_cells [1, 2],
  goal_cells [1, 2])``.
  """

  eval_task_noise = True

  @property
  def eval_tasks(self) -> tuple[str, ...]:
    return tuple(task.name for task in self.layout.tasks) or super().eval_tasks

  def _sample_eval_task(self, task, rng):
    if not self.layout.tasks:
      return super()._sample_eval_task(task, rng)
    starts, goals = self.layout.task_cells_xy()
    return self._start_and_goal_in(rng, starts[task][None], goals[task][None])


def sample_cell_point(
  rng: jax.Array, cells_xy: jax.Array, cell_size: float, margin_frac: float = 0.25
) -> jax.Array:
  """A point ``[2]`` uniform inside a uniformly chosen cell of ``cells_xy [n, 2]``.

  The point stays at least ``margin_frac * cell_size`` away from the cell's edges
  (``margin_frac = 0`` covers the whole cell, ``0.5`` gives the centre).
  """
  if not 0.0 <= margin_frac <= 0.5:
    raise ValueError(f"margin_frac must be in [0, 0.5], got {margin_frac}")
  k_cell, k_offset = jax.random.split(rng)
  cells_xy = jnp.asarray(cells_xy)
  idx = jax.random.randint(k_cell, (), 0, cells_xy.shape[0])
  half = (0.5 - margin_frac) * cell_size
  return cells_xy[idx] + jax.random.uniform(k_offset, (2,), minval=-half, maxval=half)


def add_jaxgcrl_maze_walls(
  root: ET.Element, layout: MazeLayout, wall_height: float | None = None, **geom_attrs: str
) -> None:
  """Appends the maze's walls to ``<worldbody>`` exactly as JaxGCRL's ``make_maze`` builds them.

  One box per wall cell (no merging), in row-major order, named ``block_<row>_<col>``, centred
  at ``(row · s, col · s, h / 2)`` (JaxGCRL's frame, whatever ``layout.frame``) with half sizes
  ``(s / 2, s / 2, h / 2)``, ``h`` = ``wall_height`` (default half a cell: JaxGCRL's
  ``MAZE_HEIGHT · scaling``), ``contype = conaffinity = 1``. ``geom_attrs`` override these
  attributes.
  """
  worldbody = root.find("worldbody")
  if worldbody is None:
    raise ValueError("the model has no <worldbody>")
  s = layout.cell_size
  height = 0.5 * s if wall_height is None else float(wall_height)
  extra = {key: str(value) for key, value in geom_attrs.items()}
  for r, c in layout._cells(WALL):
    attrs = dict(
      name=f"block_{r}_{c}",
      pos=f"{r * s:f} {c * s:f} {height / 2:f}",
      size=f"{s / 2:f} {s / 2:f} {height / 2:f}",
      type="box",
      contype="1",
      conaffinity="1",
      rgba=" ".join(f"{float(x):g}" for x in WALL_RGBA),
    )
    attrs.update(extra)
    ET.SubElement(worldbody, "geom", attrs)


def physics_step_on(env, sys, pipeline_state, action):
  """``env``'s control step (its ``n_frames`` physics steps) on ``sys`` instead of ``env.sys``:
  the system with a wall window's boxes placed for this step (``WallWindow.place``)."""

  def f(state, _):
    return env._pipeline.step(sys, state, action, env._debug), None

  return jax.lax.scan(f, pipeline_state, (), env._n_frames)[0]


__all__ = [
  "physics_step_on",
  "FRAMES",
  "GOALAX_FRAME",
  "JAXGCRL_FRAME",
  "OGBENCH_FRAME",
  "OGBENCH_OFFSET",
  "LAYOUTS",
  "MazeEvalTasks",
  "MazeLayout",
  "MazeTask",
  "U_MAZE",
  "BIG_MAZE",
  "HARDEST_MAZE",
  "get_layout",
  "add_maze_walls",
  "sample_cell_point",
  "set_floor_size",
  "WallWindow",
  "WALL_NAME_PREFIX",
  "add_jaxgcrl_maze_walls",
]
