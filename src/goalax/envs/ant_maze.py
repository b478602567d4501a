"""Ant mazes (``ant_u_maze``, ``ant_big_maze``, ``ant_hardest_maze`` and the far-goal evaluation
variants ``ant_u_maze_eval``, ``ant_big_maze_eval``): JaxGCRL's ``AntMaze``.

The reference's model, physics, frame, starts and goals, with goalax's goal outside the physics
state:

- Model: JaxGCRL 0.2.8's ``ant_maze.xml``, which is brax's ant with ``conaffinity="1"`` on the
  torso sphere, the four hip ("aux") capsules and the four feet (``REFERENCE_WALL_GEOMS``), so
  that they collide with the walls (and the feet, whose contype is 1, also with the torso, the
  hip capsules and each other), without its ``target`` body (two slide joints carrying a
  mass-1 sphere that collides with nothing and depends on no other body: removing it leaves the
  ant's dynamics unchanged). Control step 0.05 s on every backend, as ``goalax.envs.ant``
  (brax's tuning, which the reference copies).
- Walls: JaxGCRL's, one box per wall cell (``mazes.add_jaxgcrl_maze_walls``), 4 wide and 2
  high, ``contype = conaffinity = 1``, in JaxGCRL's frame: cell ``(row, col)`` centred at
  ``(4 row, 4 col)``, so the ant starts at ``(4, 4)`` (``MazeLayout.in_jaxgcrl_frame``).
  ``wall_contacts="window"`` (default) collides the ant with the per-cell boxes of a
  ``mazes.WallWindow`` (the wall cells of the 2×2 cells around the torso, at most 3 boxes) in
  place of every wall: the ant's geoms stay within 1.3 of the torso and the window covers every
  wall within 2, so the contacts are exactly those of all walls, at a cost independent of the
  maze's size; ``"static"`` collides with every wall box, as the reference does (the same
  contacts, ~12× slower in the hardest maze on a CPU).
- Start (as the reference's ``reset`` draws it, from the same key: same split, same draws): the
  torso exactly at a start cell's centre, the rest of ``q`` the model's pose plus uniform noise
  in ±0.1, ``qd`` normal noise of scale 0.1.
- Goal (2): torso x, y. ``goals="centres"`` (default, the reference's): the centre of a goal
  cell chosen uniformly (every free cell but the start; ``far_goals_only=True``: the layout's far
  cells ``'F'``, the same cells as the reference's ``U_MAZE_EVAL`` / ``BIG_MAZE_EVAL``).
  ``goals="uniform"`` (goalax's former draw): a point uniform in a goal cell's central half, at
  least a quarter cell (1 unit) from its edges.

State (29): the ant's q[:15], qd[:14] (the reference's observation without its target). Action
(8). Threshold 0.5, episode length 1000, termination when the torso leaves the healthy height
range [0.2, 1.0], as in the reference.

Evaluation tasks: the layout's five named start/goal cells (``mazes.MazeEvalTasks``, cells in
JaxGCRL's frame), drawn as training episodes are: the ant at the task's start cell's centre with
its reset noise, the goal at the centre of the task's goal cell (``goals="uniform"``: uniform in
its central half).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import jax

from goalax.envs import mazes
from goalax.envs.ant import AntBase

# Ant geoms JaxGCRL's ant_maze.xml gives conaffinity="1" (they collide with its walls).
REFERENCE_WALL_GEOMS = (
  "torso_geom",
  *(f"aux_{k}_geom" for k in range(1, 5)),
  "left_foot_geom",
  "right_foot_geom",
  "third_foot_geom",
  "fourth_foot_geom",
)
# The reference's joint counts: the ant's, plus its target body's two slide joints. Its reset
# draws noise for all of them; goalax draws as many and keeps the ant's, so that a key gives the
# reference's start.
REFERENCE_Q_SIZE, REFERENCE_QD_SIZE = 17, 16
GOAL_DRAWS = ("centres", "uniform")
WALL_CONTACTS = ("window", "static")


def set_reference_collisions(root: ET.Element) -> None:
  """Gives the geoms of ``REFERENCE_WALL_GEOMS`` ``conaffinity="1"``, as JaxGCRL's
  ``ant_maze.xml`` does (fails on a model that lacks one)."""
  geoms = {geom.get("name"): geom for geom in root.iter("geom")}
  missing = sorted(set(REFERENCE_WALL_GEOMS) - set(geoms))
  if missing:
    raise ValueError(f"the ant model lacks the geoms {missing}")
  for name in REFERENCE_WALL_GEOMS:
    geoms[name].set("conaffinity", "1")


def reference_start_and_goal(rng, init_q, noise_scale, start_cells, goal_cells):
  """``(q [15], qd [14], goal [2])`` drawn as JaxGCRL's ``AntMaze.reset`` draws them from ``rng``.

  ``start_cells [n, 2]``, ``goal_cells [m, 2]``: cell centres (chosen uniformly). The noise is
  drawn for the reference's 17 positions and 16 velocities (its target's included) and cut to the
  ant's, so that the same key gives the same start and goal as the reference.
  """
  k_q, k_qd, k_start, k_goal = jax.random.split(rng, 4)
  q_noise = jax.random.uniform(k_q, (REFERENCE_Q_SIZE,), minval=-noise_scale, maxval=noise_scale)
  q = init_q + q_noise[: init_q.shape[0]]
  qd = noise_scale * jax.random.normal(k_qd, (REFERENCE_QD_SIZE,))[: AntBase.ANT_QD]
  start = start_cells[jax.random.randint(k_start, (1,), 0, start_cells.shape[0])[0]]
  goal = goal_cells[jax.random.randint(k_goal, (1,), 0, goal_cells.shape[0])[0]]
  return q.at[:2].set(start), qd, goal


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
    goals: str = "centres",
    **kwargs,
  ):
    """``layout``: a layout name or ``MazeLayout`` (placed in JaxGCRL's frame);
    ``far_goals_only``: goals in the far cells ``'F'`` only; ``wall_contacts``: ``"window"`` or
    ``"static"``; ``goals``: ``"centres"`` (the reference's) or ``"uniform"`` (module
    docstring)."""
    if wall_contacts not in WALL_CONTACTS:
      raise ValueError(f"wall_contacts must be one of {WALL_CONTACTS}, got {wall_contacts!r}")
    if goals not in GOAL_DRAWS:
      raise ValueError(f"goals must be one of {GOAL_DRAWS}, got {goals!r}")
    self.layout = mazes.get_layout(layout).in_jaxgcrl_frame()
    self.far_goals_only = far_goals_only
    self.goals = goals
    goal_cells = self.layout.goal_cells_xy(far_goals_only)  # fails early without far goals
    window = mazes.WallWindow(self.layout, merge=False) if wall_contacts == "window" else None
    self._window = window

    def edit_model(root):
      set_reference_collisions(root)
      if window is None:
        mazes.add_jaxgcrl_maze_walls(root, self.layout)
      else:
        mazes.add_jaxgcrl_maze_walls(root, self.layout, contype="0", conaffinity="0")
        window.add_to_model(root, contype=1, conaffinity=1)
      mazes.set_floor_size(root, self.layout)

    super().__init__(backend=backend, edit_model=edit_model, **kwargs)
    self._window_ids = None if window is None else window.geom_ids(self.sys)
    self._start_cells = self.layout.start_cells_xy
    self._goal_cells = goal_cells

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._start_cells, self._goal_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """The reference's start in one of ``start_cells [n, 2]`` and a goal in one of
    ``goal_cells [m, 2]`` (its centre, or uniform in it with ``goals="uniform"``)."""
    q, qd, goal = reference_start_and_goal(
      rng, self.sys.init_q, self._reset_noise_scale, start_cells, goal_cells
    )
    if self.goals == "uniform":
      k_goal = jax.random.fold_in(rng, 1)
      goal = mazes.sample_cell_point(k_goal, goal_cells, self.layout.cell_size)
    return q, qd, goal

  def _step_system(self, pipeline_state):
    """The system the next control step runs: the window boxes placed around the torso (or the
    static walls)."""
    if self._window is None:
      return self.sys
    return self._window.place(self.sys, self._window_ids, pipeline_state.x.pos[0, :2])

  def pipeline_step(self, pipeline_state, action):
    return mazes.physics_step_on(self, self._step_system(pipeline_state), pipeline_state, action)


__all__ = [
  "AntMaze",
  "REFERENCE_WALL_GEOMS",
  "reference_start_and_goal",
  "set_reference_collisions",
]
