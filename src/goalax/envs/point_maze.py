"""goalax's point maze (``point_u_maze``, ``point_big_maze``, ``point_hardest_maze``).

goalax's own task, not the reference's: JaxGCRL's point maze (another model, control step 0.05 s,
spring) is ``goalax.envs.simple_maze`` under the reference's names ``simple_u_maze``, ... These
envs were called ``simple_*`` before goalax ran the reference's physics under those names; results
measured on goalax's point maze name it ``point_*``.

A point mass (a sphere of radius 0.5 on two slide joints x, y; the joints carry the AGENT's
position, never the goal) driven by two force actuators against joint damping, in the layouts of
``goalax.envs.mazes`` (cell size 4). It is the cheapest maze, meant for fast CPU experiments and
learning tests.

State (4): x, y, vx, vy. Goal (2): x, y drawn uniformly in a goal cell (at least a quarter cell
from its walls). Action (2): force along x and y in [-1, 1].

Dynamics: mass 1, damping 5, gear 15 → terminal speed 3 units/s, reached with a 0.2 s time
constant; the control step is 0.1 s, so full action moves 0.3 units per step and crosses a cell
(4 units) in about 14 steps.

Evaluation tasks: the layout's five named start/goal cells (``mazes.MazeEvalTasks``); an
episode of a task starts within ±0.1 of its start cell's centre (velocity noise 0.1) and has its
goal uniform within ±1 (a quarter cell) of its goal cell's centre, as in training.

Threshold 0.5 (an eighth of a cell, the value JaxGCRL uses for its mazes): reachable and
stoppable within (≈1.7 steps of travel at full speed), while far smaller than a cell, so reaching
it needs real navigation. Episode lengths (300 / 400 / 500 steps for u / big / hardest) leave
about 3×, 2.5× and 2.5× the full-speed time of the longest shortest path from the start
(6, 11 and 15 cells).

Walls: the point collides with the 2 boxes of a ``mazes.WallWindow`` moved onto the walls around
it every step (exactly the contacts of the full maze, same cost in every layout); the point never
overlaps a wall by more than ~0.07 pressing on a face, ~0.2 hitting a corner diagonally at full
speed. Default backend mjx (~210k steps per CPU-second at 512 envs on a 2-core CPU, any layout);
generalized also works (~135k).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from goalax.envs import assets, mazes
from goalax.envs.core import GoalEnv

EPISODE_LENGTHS = {"u_maze": 300, "big_maze": 400, "hardest_maze": 500}
START_NOISE = 0.1
TIMESTEP = 0.05  # physics step; 2 per control step of 0.1 s
# Contact time constant 2× the timestep (MuJoCo's advice); with it equal to the timestep the
# generalized pipeline makes the point bounce off the walls.
WALL_SOLREF = f"{2 * TIMESTEP:g} 1"


def point_maze_system(backend: str, layout: mazes.MazeLayout, wall_contacts: str = "window"):
  """The point mass plus the maze's walls; returns ``(sys, n_frames, window)``.

  The control step is 0.1 s (2 physics steps of 0.05 s). Walls are frictionless (condim 1: one
  constraint row per contact). With ``wall_contacts="window"`` the point collides with the 2
  boxes of a ``mazes.WallWindow`` placed around it every step (constant cost whatever the maze);
  with ``"static"`` with every merged wall box.
  """
  root = assets.goalax_model_xml("point_maze.xml")
  root.find("option").set("timestep", f"{TIMESTEP:g}")
  for geom in root.iter("geom"):
    if geom.get("name") == "point_geom":
      geom.set("solref", WALL_SOLREF)
  window = None
  if wall_contacts == "window":
    window = mazes.WallWindow(layout)
    mazes.add_maze_walls(root, layout, contype=0, conaffinity=0)  # visible only
    window.add_to_model(root, solref=WALL_SOLREF, condim="1")
  elif wall_contacts == "static":
    mazes.add_maze_walls(root, layout, solref=WALL_SOLREF, condim="1")
  else:
    raise ValueError(f"wall_contacts must be 'window' or 'static', got {wall_contacts!r}")
  mazes.set_floor_size(root, layout)
  # generalized pipeline: exact 2×2 mass-matrix inverse and a short constraint solve (one
  # projected-gradient iteration gives the same trajectories as ten on this model).
  assets.set_custom_numeric(root, "matrix_inv_iterations", [0])
  assets.set_custom_numeric(root, "solver_maxls", [4])
  root.find("option").set("iterations", "1")
  sys = assets.load_system(root)
  if backend == "mjx":
    sys = assets.with_fast_mjx_solver(sys)
  return sys, int(round(0.1 / TIMESTEP)), window


class PointMaze(mazes.MazeEvalTasks, GoalEnv):
  state_size = 4
  goal_indices = (0, 1)
  goal_threshold = 0.5
  episode_length = 400
  default_backend = "mjx"
  backends = ("mjx", "generalized")

  def __init__(
    self,
    backend: str = "mjx",
    layout: str | mazes.MazeLayout = "u_maze",
    far_goals_only: bool = False,
    wall_contacts: str = "window",
    **kwargs,
  ):
    self.layout = mazes.get_layout(layout)
    self.far_goals_only = far_goals_only
    sys, n_frames, self._window = point_maze_system(backend, self.layout, wall_contacts)
    kwargs.setdefault("episode_length", EPISODE_LENGTHS.get(self.layout.name, 400))
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._window_ids = None if self._window is None else self._window.geom_ids(self.sys)
    self._start_cells = self.layout.start_cells_xy
    self._goal_cells = self.layout.goal_cells_xy(far_goals_only)

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._start_cells, self._goal_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """A start near the centre of one of ``start_cells [n, 2]``, a goal in one of
    ``goal_cells [m, 2]``."""
    k_start, k_noise, k_vel, k_goal = jax.random.split(rng, 4)
    start = start_cells[jax.random.randint(k_start, (), 0, start_cells.shape[0])]
    q = start + jax.random.uniform(k_noise, (2,), minval=-START_NOISE, maxval=START_NOISE)
    qd = START_NOISE * jax.random.normal(k_vel, (2,))
    goal = mazes.sample_cell_point(k_goal, goal_cells, self.layout.cell_size)
    return q, qd, goal

  def _state_vector(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q[:2], pipeline_state.qd[:2]])

  def pipeline_step(self, pipeline_state, action):
    if self._window is None:
      return super().pipeline_step(pipeline_state, action)
    sys = self._window.place(self.sys, self._window_ids, pipeline_state.q[:2])
    return mazes.physics_step_on(self, sys, pipeline_state, action)
