"""Ports of OGBench's locomotion mazes to MJX (``ogbench_pointmaze_medium``, ...).

OGBench (the ``ogbench`` package, ``ogbench/locomaze/maze.py``) builds its mazes as CPU MuJoCo
gymnasium envs; these are the same mazes as goalax envs, checked against the package's own envs
(``tests/test_ogbench_mazes.py``; ``docs/ogbench.md`` lists what matches and what differs):

- Models: OGBench's ``point.xml`` and ``ant.xml``, vendored unchanged in
  ``goalax/envs/assets/ogbench/`` (MIT, see the README there): the same timestep (0.02 s), RK4
  integrator, frame skip 5 (control step 0.1 s) and contact parameters.
- Mazes: OGBench's maps (``MAPS``: medium, large, giant), cells of 4 units, walls 2 high, in its
  frame (cell ``(i, j)`` centred at ``(4 j − 4, 4 i − 4)``: ``mazes.OGBENCH_FRAME``). Each wall
  cell is a box as OGBench's (``contype = conaffinity = 1``, the model's default contact
  parameters); the robot collides with the wall cells of the 2×2 cells around it through a
  ``mazes.WallWindow`` (``merge=False``: one box per wall cell, OGBench's boxes), which gives the
  contacts of the whole maze (the ant's geoms stay within 1.25 of its torso, the point's sphere of
  radius 0.7 within 0.7 of its centre; the window covers every wall within 2).
- Observation: OGBench's, which is goalax's state: the point's ``qpos`` (x, y: 2); the ant's
  ``qpos`` and ``qvel`` (15 + 14 = 29). Goal (2): the goal's x, y (``goal_indices = (0, 1)``),
  which is OGBench's oracle goal representation (``use_oracle_rep``); for the point it is also
  its full goal observation.
- Success: ``‖xy − goal_xy‖ ≤`` 1.0 (point) or 0.5 (ant), after the step, as OGBench's
  ``compute_success`` (``success_timing="post"``). OGBench ends an episode at success; goalax's
  evaluation counts an episode a success when it reaches the goal once, the same number.
- Evaluation tasks: OGBench's five ``(init_ij, goal_ij)`` per maze (``TASKS``), named task1 ...
  task5 as OGBench's ``task_id`` 1 ... 5. An episode starts at the start cell's centre and has its
  goal at the goal cell's centre, each moved by OGBench's noise (uniform in ±1 along x and y,
  a quarter cell); the ant's other joints get OGBench's reset noise (uniform ±0.1 on ``qpos``
  from the model's ``qpos0``, normal 0.1 on ``qvel``).
- Training episodes (``reset``): a start and a goal in uniformly chosen free cells, each with
  the same noise. OGBench's own env resets to one of its five tasks at random; its datasets were
  collected with goals all over the maze, which this reset follows.
- Episode length: 1000 steps (OGBench's ``max_episode_steps``).
- The point (OGBench's ``PointEnv.step``): the action, clipped to [-1, 1], moves ``qpos`` by
  ``0.2 · action``, the velocity is set to 0, and the physics runs the control step with no
  actuator force (only the contacts move it, out of the walls). The ant: the action is its 8
  motors' controls.

OGBench's teleport maze is not ported: its step sends the agent to a random exit, and a goalax
env's step is a function of the state and action without a random key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco

from goalax.envs import assets, mazes
from goalax.envs.core import GoalEnv

# OGBench's maze maps (ogbench/locomaze/maze.py, version 1.2.2), '1' wall, '0' free; rows are
# its i (y), columns its j (x).
MAPS = {
  "medium": (
    "11111111",
    "10011001",
    "10010001",
    "11000111",
    "10010001",
    "10100101",
    "10001001",
    "11111111",
  ),
  "large": (
    "111111111111",
    "100001000001",
    "101101010101",
    "100000010001",
    "101111011101",
    "100101000001",
    "110101010111",
    "100100010001",
    "111111111111",
  ),
  "giant": (
    "1111111111111111",
    "1010000001100001",
    "1010110101001101",
    "1000100100010001",
    "1011101111110101",
    "1000100010000101",
    "1110101001010111",
    "1000100100010001",
    "1010101111110101",
    "1011100010001101",
    "1000001000100001",
    "1111111111111111",
  ),
}
# OGBench's five evaluation tasks per maze: (init_ij, goal_ij), task_id 1 ... 5.
TASKS = {
  "medium": (
    ((1, 1), (6, 6)),
    ((6, 1), (1, 6)),
    ((5, 3), (4, 2)),
    ((6, 5), (6, 1)),
    ((2, 6), (1, 1)),
  ),
  "large": (
    ((1, 1), (7, 10)),
    ((5, 4), (7, 1)),
    ((7, 4), (1, 10)),
    ((3, 8), (5, 4)),
    ((1, 1), (5, 4)),
  ),
  "giant": (
    ((1, 1), (10, 14)),
    ((1, 14), (10, 1)),
    ((8, 14), (1, 1)),
    ((8, 3), (5, 12)),
    ((5, 9), (3, 8)),
  ),
}
MAZE_TYPES = tuple(MAPS)
MAZE_UNIT = 4.0
WALL_HEIGHT = 0.5 * MAZE_UNIT  # OGBench's maze_height (0.5) times its unit
POSITION_NOISE = MAZE_UNIT / 4  # OGBench's add_noise: uniform in ±noise · unit / 4, noise = 1
EPISODE_LENGTH = 1000
N_FRAMES = 5  # OGBench's frame_skip; its models' timestep is 0.02 s (control step 0.1 s)


def ogbench_layout(maze_type: str) -> mazes.MazeLayout:
  """OGBench's maze ``maze_type`` as a ``MazeLayout`` in OGBench's frame, with its five tasks.

  Every free cell is a goal cell ``'G'`` but task1's start, the start cell ``'R'`` a layout
  needs (the envs draw training starts and goals from all free cells)."""
  if maze_type not in MAPS:
    raise ValueError(f"Unknown OGBench maze '{maze_type}'; ported: {', '.join(MAZE_TYPES)}.")
  (r0, c0), _ = TASKS[maze_type][0]
  grid = [row.replace("0", mazes.GOAL) for row in MAPS[maze_type]]
  grid[r0] = grid[r0][:c0] + mazes.START + grid[r0][c0 + 1 :]
  tasks = tuple(
    mazes.MazeTask(f"task{k + 1}", start, goal) for k, (start, goal) in enumerate(TASKS[maze_type])
  )
  return mazes.MazeLayout(
    grid=tuple(grid),
    cell_size=MAZE_UNIT,
    name=f"ogbench_{maze_type}",
    tasks=tasks,
    frame=mazes.OGBENCH_FRAME,
  )


def noisy_cell_point(rng: jax.Array, cells_xy: jax.Array) -> jax.Array:
  """OGBench's ``add_noise`` around a uniformly chosen cell of ``cells_xy [n, 2]``: its centre
  plus uniform noise in ±1 along x and y. Returns ``[2]``."""
  k_cell, k_noise = jax.random.split(rng)
  centre = cells_xy[jax.random.randint(k_cell, (), 0, cells_xy.shape[0])]
  return centre + jax.random.uniform(k_noise, (2,), minval=-POSITION_NOISE, maxval=POSITION_NOISE)


def maze_system(robot_xml: str, layout: mazes.MazeLayout, fast_solver: bool):
  """OGBench's ``robot_xml`` model with the maze: visible walls (no collisions) and the wall
  window's collision boxes; returns ``(sys, window)``."""
  root = assets.goalax_model_xml(f"ogbench/{robot_xml}")
  window = mazes.WallWindow(layout, wall_height=WALL_HEIGHT, merge=False)
  mazes.add_maze_walls(root, layout, wall_height=WALL_HEIGHT, contype=0, conaffinity=0)
  window.add_to_model(root, contype=1, conaffinity=1)
  sys = assets.load_system(root)
  if fast_solver:
    sys = sys.tree_replace(
      {
        "opt.solver": mujoco.mjtSolver.mjSOL_NEWTON,  # OGBench's (MuJoCo's default)
        "opt.iterations": 1,
        "opt.ls_iterations": 4,
      }
    )
  return sys, window


class OGBenchMaze(mazes.MazeEvalTasks, GoalEnv):
  """Shared logic of the OGBench maze ports (module docstring); subclasses give the model file,
  the state, the start pose and the step's first move."""

  goal_indices = (0, 1)
  episode_length = EPISODE_LENGTH
  default_backend = "mjx"
  backends = ("mjx",)
  robot_xml: str

  def __init__(self, backend: str = "mjx", maze: str = "medium", fast_solver=True, **kwargs):
    """``maze``: one of ``MAZE_TYPES``; ``fast_solver``: MJX's Newton solver with 1 iteration
    and 4 line-search steps (False: MuJoCo's defaults, 100 and 50, as OGBench's C solver)."""
    self.layout = ogbench_layout(maze)
    self.maze = maze
    sys, self._window = maze_system(self.robot_xml, self.layout, fast_solver)
    super().__init__(sys, backend, kwargs.pop("n_frames", N_FRAMES), **kwargs)
    self._window_ids = self._window.geom_ids(self.sys)
    self._free_cells = self.layout.free_cells_xy
    self._qpos0 = jnp.asarray(self.sys.mj_model.qpos0, jnp.float32)

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._free_cells, self._free_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """A start around one of ``start_cells [n, 2]`` and a goal around one of ``goal_cells
    [m, 2]`` with OGBench's noise; the rest of the pose from ``_start_pose``."""
    k_start, k_goal, k_pose = jax.random.split(rng, 3)
    q, qd = self._start_pose(k_pose)
    q = q.at[:2].set(noisy_cell_point(k_start, start_cells))
    return q, qd, noisy_cell_point(k_goal, goal_cells)

  def _start_pose(self, rng) -> tuple[jax.Array, jax.Array]:
    """``(q, qd)`` of a new episode before its x, y are set."""
    raise NotImplementedError

  def _goal_outputs(self, state_vec, goal):
    """OGBench's success: distance at most the threshold (goalax's default is strictly less)."""
    dist = self.goal_distance(state_vec, goal)
    success = (dist <= self.goal_threshold).astype(jnp.float32)
    return dist, success, -dist if self.dense_reward else success

  def _moved(self, pipeline_state, action):
    """``(pipeline_state, ctrl)`` the physics starts the control step from."""
    return pipeline_state, action

  def pipeline_step(self, pipeline_state, action):
    pipeline_state, ctrl = self._moved(pipeline_state, action)
    sys = self._window.place(self.sys, self._window_ids, pipeline_state.q[:2])
    return mazes.physics_step_on(self, sys, pipeline_state, ctrl)


class OGBenchPointMaze(OGBenchMaze):
  """OGBench's pointmaze: state (2) = x, y; action (2) moves the point by ``0.2 · action``."""

  robot_xml = "point.xml"
  state_size = 2
  goal_threshold = 1.0
  STEP_SCALE = 0.2  # OGBench's PointEnv.step: qpos += 0.2 · action

  def _start_pose(self, rng):
    return jnp.zeros(2), jnp.zeros(2)  # x, y are the whole pose; each step zeroes the velocity

  def _state_vector(self, pipeline_state):
    return pipeline_state.q[:2]

  def _moved(self, pipeline_state, action):
    q = pipeline_state.q + self.STEP_SCALE * jnp.clip(action, -1.0, 1.0)
    qd = jnp.zeros_like(pipeline_state.qd)
    moved = pipeline_state.replace(q=q, qd=qd, qpos=q, qvel=qd)
    return moved, jnp.zeros_like(action)


class OGBenchAntMaze(OGBenchMaze):
  """OGBench's antmaze: state (29) = ``qpos`` (15), ``qvel`` (14); action (8) the motors."""

  robot_xml = "ant.xml"
  state_size = 29
  goal_threshold = 0.5
  RESET_NOISE = 0.1  # OGBench's AntEnv reset_noise_scale

  def _start_pose(self, rng):
    k_q, k_qd = jax.random.split(rng)
    s = self.RESET_NOISE
    q = self._qpos0 + jax.random.uniform(k_q, self._qpos0.shape, minval=-s, maxval=s)
    qd = s * jax.random.normal(k_qd, (self.sys.qd_size(),))
    return q, qd

  def _state_vector(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q, pipeline_state.qd])


def ogbench_env_id(robot: str, maze: str) -> str:
  """OGBench's gymnasium id of the maze the port ``ogbench_<robot>maze_<maze>`` is."""
  return f"{robot}maze-{maze}-v0"


__all__ = [
  "MAPS",
  "MAZE_TYPES",
  "TASKS",
  "OGBenchAntMaze",
  "OGBenchMaze",
  "OGBenchPointMaze",
  "noisy_cell_point",
  "ogbench_env_id",
  "ogbench_layout",
]
