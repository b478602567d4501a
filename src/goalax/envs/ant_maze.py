"""Ant mazes (``ant_u_maze``, ``ant_big_maze``, ``ant_hardest_maze`` and the far-goal evaluation
variants ``ant_u_maze_eval``, ``ant_big_maze_eval``).

The ant of ``goalax.envs.ant`` (same body, same per-backend tuning) in the layouts of
``goalax.envs.mazes`` (cell size 4, walls 2 high). The ant starts in the start cell (at the origin)
with the usual reset noise; the goal is a torso x, y drawn uniformly inside a goal cell, at least a
quarter cell (1 unit) from the cell's edges, so it never lies in or next to a wall. With
``far_goals_only=True`` the goal cells are the layout's far cells only (``'F'``).

State (29): the ant's q[:15], qd[:14]. Goal (2): torso x, y. Action (8). Threshold 0.5
(JaxGCRL's value for the ant mazes), episode length 1000, termination when the torso leaves the
healthy height range, as for the ant.

Evaluation tasks: the layout's five named start/goal cells (``mazes.MazeEvalTasks``), the same
for the far-goal variants; an episode of a task starts the ant (with its usual reset noise) at its
start cell's centre and has its goal uniform within ±1 (a quarter cell) of its goal cell's centre.

Walls collide with the ant's feet and torso sphere (not with its leg capsules), so the torso never
enters a wall. Contacts use a ``mazes.WallWindow`` (2 boxes that follow the torso) by default:
the same contacts as colliding with every wall, at a cost independent of the maze's size.
"""

from __future__ import annotations

import jax

from goalax.envs import mazes
from goalax.envs.ant import AntBase

WALL_CONAFFINITY = 3  # bit 1: the ant's feet, bit 2: its torso


class AntMaze(mazes.MazeEvalTasks, AntBase):
  state_size = 29
  goal_indices = (0, 1)
  backends = ("spring", "positional", "mjx")

  def __init__(
    self,
    backend: str = "spring",
    layout: str | mazes.MazeLayout = "u_maze",
    far_goals_only: bool = False,
    wall_contacts: str = "window",
    **kwargs,
  ):
    """``wall_contacts``: ``"window"`` (default) collides the feet with the 2 boxes of a
    ``mazes.WallWindow`` that follows the torso (same contacts, constant cost whatever the
    maze); ``"static"`` collides them with every merged wall box (slower; for checks)."""
    if wall_contacts not in ("window", "static"):
      raise ValueError(f"wall_contacts must be 'window' or 'static', got {wall_contacts!r}")
    self.layout = mazes.get_layout(layout)
    self.far_goals_only = far_goals_only
    goal_cells = self.layout.goal_cells_xy(far_goals_only)  # fails early without far goals
    self._window = mazes.WallWindow(self.layout) if wall_contacts == "window" else None

    def edit_model(root):
      # The feet (contype 1) and the torso sphere (contype 2, so it still ignores the floor)
      # collide with the walls (conaffinity 1|2); the legs' capsules don't (costly box-capsule
      # pairs), as in JaxGCRL where only the feet do.
      for geom in root.iter("geom"):
        if geom.get("name") == "torso_geom":
          geom.set("contype", "2")
      if self._window is None:
        mazes.add_maze_walls(root, self.layout, conaffinity=WALL_CONAFFINITY)
      else:
        mazes.add_maze_walls(root, self.layout, contype=0, conaffinity=0)  # visible only
        self._window.add_to_model(root, conaffinity=WALL_CONAFFINITY)
      mazes.set_floor_size(root, self.layout)

    super().__init__(backend=backend, edit_model=edit_model, **kwargs)
    self._window_ids = None if self._window is None else self._window.geom_ids(self.sys)
    self._start_cells = self.layout.start_cells_xy
    self._goal_cells = goal_cells

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._start_cells, self._goal_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """The noisy ant start moved to one of ``start_cells [n, 2]``, a goal in one of
    ``goal_cells [m, 2]``."""
    k_body, k_start, k_goal = jax.random.split(rng, 3)
    q, qd = self._noisy_start(k_body)
    start = start_cells[jax.random.randint(k_start, (), 0, start_cells.shape[0])]
    q = q.at[:2].add(start)
    goal = mazes.sample_cell_point(k_goal, goal_cells, self.layout.cell_size)
    return q, qd, goal

  def pipeline_step(self, pipeline_state, action):
    if self._window is None:
      return super().pipeline_step(pipeline_state, action)
    sys = self._window.place(self.sys, self._window_ids, pipeline_state.x.pos[0, :2])

    def f(state, _):
      return self._pipeline.step(sys, state, action, self._debug), None

    return jax.lax.scan(f, pipeline_state, (), self._n_frames)[0]
