"""Humanoid: brax's 3D humanoid walks its torso to an x, y goal, on open ground or in a maze.

State (47): q (torso x, y, z, orientation quaternion, 17 joint angles) and qd (23). The goal is
never part of it (the reference kept a target body in ``q`` and the target in the state).
Goal (2): torso x, y (state entries 0, 1). Success within 0.5. Episode length 1000 (15 s of
simulated time: the control step is 0.015 s on every backend). The episode terminates when the
torso height leaves brax's healthy range [1.0, 2.0] (the humanoid fell).

Actions in [-1, 1] span the motors' whole control range: brax's humanoid env maps [-1, 1] onto the
model's ±0.4 control range; here the control range is [-1, 1] and every gear is scaled by 0.4,
which applies the same torques.

``humanoid`` (``Humanoid``): the goal lies at a uniform angle and a distance uniform in [1, 5] m
from the start (as in the reference). Uniform in distance (not in area) keeps many goals close: a
humanoid must learn to stay up and step before it can go anywhere, while 5 m is still only a few
seconds of walking, well inside the 15 s episode.

``humanoid_u_maze`` / ``humanoid_big_maze`` / ``humanoid_hardest_maze`` (``HumanoidMaze``): the
layouts of ``goalax.envs.mazes`` scaled by 0.5, to cells of 2 m with 1 m walls (the reference's
scale too). The ant's 4 m cells would put the u-maze's far goals 24 m of walking away, more than
a humanoid that has just learnt to walk covers in an episode; at 2 m they are 12 m away and the
corridors are still four shoulder widths wide. The humanoid starts in a start cell; the goal is a
uniform point in a goal cell at least 0.5 m from its edges. Only the feet collide with the walls
(as only the feet collide with the floor), which keeps the contacts few: the feet can't cross a
wall, so neither can the body.

Evaluation tasks: ``humanoid`` has the seeded set of ``goalax.envs.core`` (five fixed goals, the
start noise drawn per episode); the mazes have their layout's five named start/goal cells
(``mazes.MazeEvalTasks``; the goal within ±0.5 m of the goal cell's centre).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import jax
import jax.numpy as jnp

from goalax.envs import assets, mazes
from goalax.envs.core import GoalEnv

HEALTHY_Z_RANGE = (1.0, 2.0)
GOAL_DISTANCE = (1.0, 5.0)
MAZE_SCALE = 0.5
CTRL_SCALE = 0.4  # the model's control range is ±0.4; actions in [-1, 1] are scaled by gears
# brax's gears for the spring and positional pipelines (stronger legs; their solvers are softer).
SPRING_GEAR = (350.0,) * 11 + (100.0,) * 6


def _full_range_controls(root: ET.Element) -> None:
  """Control range ±0.4 → ±1 with every gear × 0.4: same torques, actions use all of [-1, 1]."""
  for motor in root.iter("motor"):
    if motor.get("ctrlrange") is not None:
      motor.set("ctrlrange", "-1 1")
    if motor.get("gear") is not None:
      motor.set("gear", f"{float(motor.get('gear')) * CTRL_SCALE:g}")


def humanoid_system(backend: str, edit_model: Callable[[ET.Element], None] | None = None):
  """Brax's humanoid model (optionally edited by ``edit_model``) tuned per backend, as brax does.

  Returns ``(sys, n_frames)``; the control step is 0.015 s on every backend.
  """
  root = assets.brax_model_xml("humanoid.xml")
  _full_range_controls(root)
  if edit_model is not None:
    edit_model(root)
  sys = assets.load_system(root)
  n_frames = 5
  if backend in ("spring", "positional"):
    sys = sys.tree_replace({"opt.timestep": 0.0015})
    sys = sys.replace(actuator=sys.actuator.replace(gear=CTRL_SCALE * jnp.array(SPRING_GEAR)))
    n_frames = 10
  if backend == "mjx":
    sys = assets.with_fast_mjx_solver(sys)
  return sys, n_frames


class HumanoidBase(GoalEnv):
  """Shared humanoid logic: the q/qd state, small start noise, termination on torso height."""

  state_size = 47
  goal_indices = (0, 1)
  goal_threshold = 0.5
  episode_length = 1000
  default_backend = "spring"
  extra_metric_names = ("x_position", "y_position", "torso_height", "velocity")

  def __init__(self, backend="spring", edit_model=None, reset_noise_scale=0.01, **kwargs):
    sys, n_frames = humanoid_system(backend, edit_model)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._reset_noise_scale = reset_noise_scale

  def _noisy_start(self, rng, xy):
    """brax's start (standing, tiny uniform noise on q and qd) moved to ``xy``."""
    k_q, k_qd = jax.random.split(rng)
    s = self._reset_noise_scale
    q = self.sys.init_q + jax.random.uniform(k_q, (self.sys.q_size(),), minval=-s, maxval=s)
    qd = jax.random.uniform(k_qd, (self.sys.qd_size(),), minval=-s, maxval=s)
    return q.at[:2].add(xy), qd

  def _state_vector(self, pipeline_state):
    return jnp.concatenate([pipeline_state.q, pipeline_state.qd])

  def _terminated(self, pipeline_state):
    z = pipeline_state.x.pos[0, 2]
    return ((z < HEALTHY_Z_RANGE[0]) | (z > HEALTHY_Z_RANGE[1])).astype(jnp.float32)

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    pos, pos0 = pipeline_state.x.pos[0], pipeline_state0.x.pos[0]
    return {
      "x_position": pos[0],
      "y_position": pos[1],
      "torso_height": pos[2],
      "velocity": jnp.linalg.norm(pos[:2] - pos0[:2]) / self.dt,
    }


class Humanoid(HumanoidBase):
  eval_task_noise = True  # the goal is drawn apart from the start noise

  def _sample_start_and_goal(self, rng):
    k_start, k_angle, k_dist = jax.random.split(rng, 3)
    q, qd = self._noisy_start(k_start, jnp.zeros(2))
    angle = 2 * jnp.pi * jax.random.uniform(k_angle)
    dist = jax.random.uniform(k_dist, minval=GOAL_DISTANCE[0], maxval=GOAL_DISTANCE[1])
    return q, qd, q[:2] + dist * jnp.array([jnp.cos(angle), jnp.sin(angle)])


class HumanoidMaze(mazes.MazeEvalTasks, HumanoidBase):
  CELL_MARGIN = 0.25  # goals keep this fraction of a cell from the cell's edges (0.5 m at 2 m)

  def __init__(self, backend="spring", layout="u_maze", **kwargs):
    self.layout = mazes.get_layout(layout).scaled(MAZE_SCALE)

    def edit_model(root):
      mazes.add_maze_walls(root, self.layout)
      mazes.set_floor_size(root, self.layout)

    super().__init__(backend, edit_model=edit_model, **kwargs)
    self._starts = self.layout.start_cells_xy
    self._goal_cells = self.layout.goal_cells_xy()

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._starts, self._goal_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """The standing start at one of ``start_cells [n, 2]``, a goal in one of ``goal_cells``."""
    k_cell, k_start, k_goal = jax.random.split(rng, 3)
    start = start_cells[jax.random.randint(k_cell, (), 0, start_cells.shape[0])]
    q, qd = self._noisy_start(k_start, start)
    goal = mazes.sample_cell_point(k_goal, goal_cells, self.layout.cell_size, self.CELL_MARGIN)
    return q, qd, goal
