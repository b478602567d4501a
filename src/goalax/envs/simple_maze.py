"""JaxGCRL's point maze under its names (``simple_u_maze``, ``simple_big_maze``,
``simple_hardest_maze``): the reference's model, walls, control step and start/goal distribution.

goalax's own, cheaper point maze is ``goalax.envs.point_maze`` (``point_u_maze``, ...).

Model: JaxGCRL 0.2.8's ``simple_maze.xml`` (``assets/simple_maze.xml``, unchanged): a sphere of
radius 0.25 (density 5: mass 0.327) at height 0.75 on two slide joints ``obj_slidex``,
``obj_slidey`` (armature 1, no damping, range ±100), driven by two motors of gear 5; the action is
the motor control, unscaled and unclipped, as in the reference. Its ``target`` body (a mass-1
sphere on two slide joints, colliding with nothing) only carried the reference's goal, which
goalax keeps outside the physics state: it is removed on spring, positional and mjx, where that
leaves the point's trajectories bit for bit the reference's (no other body depends on it, and no
``settotalmass`` rescales the point), and kept, parked and hidden, on generalized
(``KEEP_TARGET_BODY``: brax weighs wall contacts there by the model's last body).

Walls: JaxGCRL's, one box per wall cell of the layout (the grids of ``goalax.envs.mazes``, which
are the reference's), 4 wide and 2 high, in JaxGCRL's frame: cell ``(row, col)`` centred at
``(4 row, 4 col)`` (``MazeLayout.in_jaxgcrl_frame``), so the point starts at ``(4, 4)``; see
``mazes.add_jaxgcrl_maze_walls``. ``wall_contacts="window"`` (default) collides the point with the
per-cell boxes of a ``mazes.WallWindow`` (the wall cells of the 2×2 cells around it, at most 3
boxes) in place of every wall: the same contacts while the point moves less than 1.75 per control
step (35 units/s), at a cost independent of the maze's size, and the reference's trajectories to
float rounding (spring: velocities within 4e-6 over 300 steps of wall hits); ``"static"``
collides it with every wall box, as the reference (bit for bit; slower to compile and run).

Control step 0.05 s on every backend, as in the reference: spring and positional 10 physics steps
of 0.005 s, generalized and mjx 5 of 0.01 s; mjx with the reference's Newton solver settings
(``assets.with_fast_mjx_solver``), positional with the reference's motor gear 200. Default
backend spring (the reference's ``create_env``).

State (4): x, y, vx, vy. Goal (2): x, y. Action (2). Success within 0.5 of the goal (the
reference's ``goal_reach_thresh``), episode length 1000 (the reference's README runs). No
termination (the point's height is fixed, so the reference's health check never ends an episode).

Start and goal, drawn as the reference's ``reset`` draws them (same key split, same draws: a key
gives the reference's start and goal): the point exactly at the centre of a start cell (the
layouts have one: ``(4, 4)``) with velocity ``0.1 · N(0, 1)`` per axis, the goal at the centre of
a goal cell chosen uniformly (every free cell but the start: ``'G'`` and ``'F'``).

Evaluation tasks: the layout's five named start/goal cells (``mazes.MazeEvalTasks``), drawn as in
training: the point at the task's start cell centre with the velocity noise, the goal at the
centre of the task's goal cell.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from goalax.envs import assets, mazes
from goalax.envs.core import GoalEnv

MODEL_XML = "simple_maze.xml"
# (physics step in s, physics steps per control step) per backend, as the reference sets them.
PHYSICS_STEPS = {
  "spring": (0.005, 10),
  "positional": (0.005, 10),
  "generalized": (0.01, 5),
  "mjx": (0.01, 5),
}
POSITIONAL_GEAR = 200.0
# Backends on which the reference's target body stays in the model. brax's generalized pipeline
# weighs a contact with a world geom (a wall) by the inverse weight of the model's LAST body (it
# indexes link -1): in the reference that is the target body (1.0), without it the point itself
# (3.06), which changes every wall contact there (velocities by ~0.5 within 120 steps). Kept, the
# target body is parked at the origin (inside the corner wall cell, hidden, colliding with nothing),
# at rest, and is never the goal. Without it spring, positional and mjx give the reference's
# trajectories bit for bit.
KEEP_TARGET_BODY = ("generalized",)
WALL_CONTACTS = ("window", "static")
START_VELOCITY_NOISE = 0.1
# The reference's joint velocities: the point's two, then its target body's two. Its reset draws
# all four, so goalax draws four and keeps the point's to get the same start from the same key.
REFERENCE_QD_SIZE = 4


def simple_maze_system(
  backend: str, layout: mazes.MazeLayout, window: mazes.WallWindow | None = None
):
  """The reference's point mass (without its target body, but on ``KEEP_TARGET_BODY``) plus its
  maze walls, tuned per backend as the reference does; returns ``(sys, n_frames)``.

  ``window``: None collides the point with every wall box, as the reference; a
  ``mazes.WallWindow`` (``merge=False``) with its boxes only (the walls stay visible).
  """
  if backend not in PHYSICS_STEPS:
    raise ValueError(f"backend must be one of {', '.join(PHYSICS_STEPS)}, got {backend!r}")
  root = assets.goalax_model_xml(MODEL_XML)
  if backend in KEEP_TARGET_BODY:
    hide_geom(root, "target")
  else:
    assets.remove_body(root, "target")
  if window is None:
    mazes.add_jaxgcrl_maze_walls(root, layout)
  else:
    mazes.add_jaxgcrl_maze_walls(root, layout, contype="0", conaffinity="0")  # visible only
    window.add_to_model(root, contype=1, conaffinity=1)
  sys = assets.load_system(root)
  timestep, n_frames = PHYSICS_STEPS[backend]
  sys = sys.tree_replace({"opt.timestep": timestep})
  if backend == "mjx":
    sys = assets.with_fast_mjx_solver(sys)
  if backend == "positional":
    sys = sys.replace(
      actuator=sys.actuator.replace(gear=POSITIONAL_GEAR * jnp.ones_like(sys.actuator.gear))
    )
  return sys, n_frames


def hide_geom(root, geom_name: str) -> None:
  """Makes the geom called ``geom_name`` transparent (its physics unchanged)."""
  for geom in root.iter("geom"):
    if geom.get("name") == geom_name:
      geom.set("rgba", "0 0 0 0")
      return
  raise KeyError(f"no geom named {geom_name!r} in the model")


def reference_start_and_goal(rng, start_cells, goal_cells):
  """``(q [2], qd [2], goal [2])`` drawn as the reference's ``reset`` draws them from ``rng``.

  ``start_cells [n, 2]``, ``goal_cells [m, 2]``: cell centres in JaxGCRL's frame. The start is a
  start cell's centre, the velocity ``START_VELOCITY_NOISE · N(0, 1)``, the goal a goal cell's
  centre (cells chosen uniformly).
  """
  _, k_qd, k_start, k_goal = jax.random.split(rng, 4)
  qd = START_VELOCITY_NOISE * jax.random.normal(k_qd, (REFERENCE_QD_SIZE,))[:2]
  start = start_cells[jax.random.randint(k_start, (1,), 0, start_cells.shape[0])[0]]
  goal = goal_cells[jax.random.randint(k_goal, (1,), 0, goal_cells.shape[0])[0]]
  return start, qd, goal


class SimpleMaze(mazes.MazeEvalTasks, GoalEnv):
  state_size = 4
  goal_indices = (0, 1)
  goal_threshold = 0.5
  episode_length = 1000
  default_backend = "spring"
  reference_backend = "spring"
  backends = ("spring", "positional", "generalized", "mjx")
  eval_task_noise = True  # the start velocity

  def __init__(
    self,
    backend: str = "spring",
    layout: str | mazes.MazeLayout = "u_maze",
    far_goals_only: bool = False,
    wall_contacts: str = "window",
    **kwargs,
  ):
    """``layout``: a layout name or ``MazeLayout`` (placed in JaxGCRL's frame);
    ``far_goals_only``: goals only in the layout's far cells ``'F'`` (the cells the reference's
    ``U_MAZE_EVAL`` / ``BIG_MAZE_EVAL`` mark); ``wall_contacts``: ``"window"`` or ``"static"``
    (module docstring)."""
    if wall_contacts not in WALL_CONTACTS:
      raise ValueError(f"wall_contacts must be one of {WALL_CONTACTS}, got {wall_contacts!r}")
    self.layout = mazes.get_layout(layout).in_jaxgcrl_frame()
    self.far_goals_only = far_goals_only
    self._goal_cells = self.layout.goal_cells_xy(far_goals_only)  # fails early without far goals
    self._start_cells = self.layout.start_cells_xy
    self._window = mazes.WallWindow(self.layout, merge=False) if wall_contacts == "window" else None
    sys, n_frames = simple_maze_system(backend, self.layout, self._window)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._window_ids = None if self._window is None else self._window.geom_ids(self.sys)

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._start_cells, self._goal_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """A start in one of ``start_cells [n, 2]``, a goal in one of ``goal_cells [m, 2]`` (cell
    centres in JaxGCRL's frame), drawn as the reference draws them."""
    return self._with_parked_target(*reference_start_and_goal(rng, start_cells, goal_cells))

  def _with_parked_target(self, q, qd, goal):
    """The point's ``q``, ``qd`` followed by zeros for the target body where the model keeps it
    (``KEEP_TARGET_BODY``): parked at the origin, at rest."""
    q = jnp.concatenate([q, jnp.zeros(self.sys.q_size() - q.shape[0])])
    qd = jnp.concatenate([qd, jnp.zeros(self.sys.qd_size() - qd.shape[0])])
    return q, qd, goal

  def _state_vector(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q[:2], pipeline_state.qd[:2]])

  def pipeline_step(self, pipeline_state, action):
    if self._window is None:
      return super().pipeline_step(pipeline_state, action)
    sys = self._window.place(self.sys, self._window_ids, pipeline_state.q[:2])
    return mazes.physics_step_on(self, sys, pipeline_state, action)


__all__ = ["SimpleMaze", "reference_start_and_goal", "simple_maze_system"]
