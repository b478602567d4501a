"""Humanoid: brax's 3D humanoid walks its torso to an x, y goal, on open ground or in a maze.

JaxGCRL's ``Humanoid`` and ``HumanoidMaze``: the reference's model, physics, action scaling,
starts and goals, with goalax's goal outside the physics state.

Model: JaxGCRL 0.2.8's ``humanoid.xml`` / ``humanoid_maze.xml``, which are brax's humanoid with
the default geom ``contype="1"`` (brax's has 0, so there only the feet touch the floor): every body
geom collides with the floor and the maze walls (not with each other: their conaffinity is 0),
without the reference's ``target`` body (two slide joints carrying a mass-1 sphere that collides
with nothing and depends on no other body: removing it leaves the humanoid's dynamics unchanged).
Per backend as the reference (and brax) tune it: spring and positional 10 physics steps of
0.0015 s with gears 350 (abdomen and legs) and 100 (arms), generalized 5 steps of the model's
0.003 s with its own gears, mjx the same with the Newton solver settings of
``assets.with_fast_mjx_solver``: a control step of 0.015 s on every backend.

Actions in [-1, 1] are mapped onto the motors' control range [-0.4, 0.4] as the reference does,
``(a + 1) · (high − low) / 2 + low``, then clipped to it.

State (47): q (torso x, y, z, orientation quaternion, 17 joint angles) and qd (23). The goal is
never part of it (the reference kept a target body in ``q`` and the target in the state).
Goal (2): torso x, y (state entries 0, 1). Success within 0.5. Episode length 1000 (15 s of
simulated time). The episode terminates when the torso height leaves the healthy range
[1.0, 2.0] (the humanoid fell).

Start (as the reference's ``reset`` draws it, from the same key: same split, same draws):
standing still in the model's pose; ``reset_noise_scale`` (default 0, the reference's) adds
uniform noise in ± that scale to ``q`` and ``qd``.

``humanoid`` (``Humanoid``): the goal lies at a uniform angle and a distance uniform in [1, 5] m
from the origin (where the humanoid starts), as in the reference. Uniform in distance (not in
area) keeps many goals close: a humanoid must learn to stay up and step before it can go
anywhere, while 5 m is still only a few seconds of walking, well inside the 15 s episode.

``humanoid_u_maze`` / ``humanoid_big_maze`` / ``humanoid_hardest_maze`` (``HumanoidMaze``): the
layouts of ``goalax.envs.mazes`` with the reference's cells of 2 m and walls 1 m high, one box per
wall cell (``mazes.add_jaxgcrl_maze_walls``) in JaxGCRL's frame (cell ``(row, col)`` centred at
``(2 row, 2 col)``: the humanoid starts at ``(2, 2)``). The torso starts exactly at a start cell's
centre; ``goals="centres"`` (default, the reference's) puts the goal at the centre of a goal cell
chosen uniformly (every free cell but the start), ``goals="uniform"`` (goalax's former draw)
uniformly in a goal cell at least 0.5 m from its edges. ``wall_contacts="window"`` (default)
collides the body with the per-cell boxes of two ``mazes.WallWindow`` in place of every wall:
the legs (``FAR_GEOMS``, within 1.31 m of the torso along x and y) with the wall cells of the
3×3 cells centred on the torso's (at most 7 boxes, every wall within 2 m), the rest of the body
(within 0.84 m) with those of the 2×2 cells around the nearest grid vertex (at most 3, every
wall within 1 m): exactly the contacts of all walls while the torso moves less than 0.16 m in a
control step (10 m/s), at a cost independent of the maze's size. ``"static"`` collides with
every wall box, as the reference does (the same contacts, ~13× slower in the hardest maze on a
CPU).

Evaluation tasks: ``humanoid`` has the seeded set of ``goalax.envs.core`` (five fixed goals); the
mazes have their layout's five named start/goal cells (``mazes.MazeEvalTasks``, in JaxGCRL's
frame), drawn as training episodes are. Without reset noise and with goals at cell centres the
episodes of a task are identical (``eval_task_noise`` False).
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
MAZE_SCALE = 0.5  # the reference's cells of 2 m (maze_size_scaling 2) against the ant's 4
# brax's (and the reference's) gears for the spring and positional pipelines.
SPRING_GEAR = (350.0,) * 11 + (100.0,) * 6
# The reference's joint counts: the humanoid's, plus its target body's two slide joints. Its reset
# draws noise for all of them; goalax draws as many and keeps the humanoid's.
REFERENCE_Q_SIZE, REFERENCE_QD_SIZE = 26, 25
CELL_MARGIN = 0.25  # goals="uniform": this fraction of a cell from the cell's edges (0.5 m)
GOAL_DRAWS = ("centres", "uniform")
WALL_CONTACTS = ("window", "static")
# With wall_contacts="window": the legs reach up to 1.31 m from the torso along x or y (feet 1.31,
# shins 1.23, thighs 0.89, over random poses with joints up to 15° past their ranges), so they
# collide with the walls of the 3×3 cells around it (every wall within 2 m); the rest of the body
# reaches 0.84 m (the hands), so it collides with those of the 2×2 cells around the nearest grid
# vertex (every wall within 1 m: exact while the torso moves less than 0.16 m in a control step,
# 10 m/s). Collision bits: the floor 1, the far window 2, the near window 4.
FAR_GEOMS = ("left_thigh1", "right_thigh1", "left_shin1", "right_shin1", "left_foot", "right_foot")
FAR_WINDOW, NEAR_WINDOW = ("maze_window_far_", 3, 2), ("maze_window_near_", 2, 4)


def set_reference_collisions(root: ET.Element) -> None:
  """Sets the default geom ``contype="1"``, as JaxGCRL's humanoid models do (brax's has 0)."""
  default = root.find("default")
  geom = None if default is None else default.find("geom")
  if geom is None:
    raise ValueError("the humanoid model has no default geom class")
  geom.set("contype", "1")


def humanoid_system(backend: str, edit_model: Callable[[ET.Element], None] | None = None):
  """JaxGCRL's humanoid model (optionally edited by ``edit_model``) tuned per backend as it does.

  Returns ``(sys, n_frames)``; the control step is 0.015 s on every backend.
  """
  root = assets.brax_model_xml("humanoid.xml")
  set_reference_collisions(root)
  if edit_model is not None:
    edit_model(root)
  sys = assets.load_system(root)
  n_frames = 5
  if backend in ("spring", "positional"):
    sys = sys.tree_replace({"opt.timestep": 0.0015})
    sys = sys.replace(actuator=sys.actuator.replace(gear=jnp.array(SPRING_GEAR)))
    n_frames = 10
  if backend == "mjx":
    sys = assets.with_fast_mjx_solver(sys)
  return sys, n_frames


def _split_wall_contacts(root: ET.Element) -> None:
  """Sets the body geoms' contype for the two wall windows: the floor's bit 1 plus the far
  window's bit 2 for ``FAR_GEOMS``, plus the near window's bit 4 for the others."""
  for body in root.find("worldbody").iter("body"):
    for geom in body.findall("geom"):
      if geom.get("contype", "1") != "0":
        geom.set(
          "contype", str(1 | (FAR_WINDOW[2] if geom.get("name") in FAR_GEOMS else NEAR_WINDOW[2]))
        )


def reference_controls(sys, action: jax.Array) -> jax.Array:
  """Actions in [-1, 1] -> motor controls in the control range, as the reference scales them."""
  low, high = sys.actuator.ctrl_range[:, 0], sys.actuator.ctrl_range[:, 1]
  return (action + 1) * (high - low) * 0.5 + low


def reference_noise(k_q, k_qd, init_q, qd_size, scale):
  """``(q, qd)``: ``init_q`` plus uniform noise in ±``scale`` and a uniform ``qd``, drawn as the
  reference draws them (for its 26 positions and 25 velocities, cut to the humanoid's)."""
  q_noise = jax.random.uniform(k_q, (REFERENCE_Q_SIZE,), minval=-scale, maxval=scale)
  qd = jax.random.uniform(k_qd, (REFERENCE_QD_SIZE,), minval=-scale, maxval=scale)
  return init_q + q_noise[: init_q.shape[0]], qd[:qd_size]


class HumanoidBase(GoalEnv):
  """Shared humanoid logic: the q/qd state, the reference's action scaling, termination on torso
  height."""

  state_size = 47
  goal_indices = (0, 1)
  goal_threshold = 0.5
  episode_length = 1000
  default_backend = "spring"
  reference_backend = "spring"
  extra_metric_names = ("x_position", "y_position", "torso_height", "velocity")

  def __init__(self, backend="spring", edit_model=None, reset_noise_scale=0.0, **kwargs):
    sys, n_frames = humanoid_system(backend, edit_model)
    super().__init__(sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._reset_noise_scale = float(reset_noise_scale)

  def _noisy_start(self, k_q, k_qd):
    return reference_noise(k_q, k_qd, self.sys.init_q, self.sys.qd_size(), self._reset_noise_scale)

  def _step_system(self, pipeline_state):
    """The system the next control step runs (the maze's moves its wall window)."""
    return self.sys

  def pipeline_step(self, pipeline_state, action):
    """One control step: ``action`` scaled as the reference does, ``n_frames`` physics steps."""
    ctrl = reference_controls(self.sys, action)
    return mazes.physics_step_on(self, self._step_system(pipeline_state), pipeline_state, ctrl)

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
  def __init__(self, backend="spring", **kwargs):
    super().__init__(backend, **kwargs)
    # Without start noise every episode of a seeded task is the same.
    self.eval_task_noise = self._reset_noise_scale > 0

  def _sample_start_and_goal(self, rng):
    """The reference's ``Humanoid.reset``: noise from the 2nd and 3rd keys of a 3-way split, the
    goal from the 1st (split again: distance, then angle)."""
    rng, k_q, k_qd = jax.random.split(rng, 3)
    q, qd = self._noisy_start(k_q, k_qd)
    _, k_dist, k_angle = jax.random.split(rng, 3)
    dist = jax.random.uniform(k_dist, minval=GOAL_DISTANCE[0], maxval=GOAL_DISTANCE[1])
    angle = jnp.pi * 2.0 * jax.random.uniform(k_angle)
    return q, qd, jnp.array([dist * jnp.cos(angle), dist * jnp.sin(angle)])


class HumanoidMaze(mazes.MazeEvalTasks, HumanoidBase):
  def __init__(
    self,
    backend="spring",
    layout="u_maze",
    wall_contacts: str = "window",
    goals: str = "centres",
    **kwargs,
  ):
    """``layout``: a layout name or ``MazeLayout`` (its cells scaled to 2 m, placed in JaxGCRL's
    frame); ``wall_contacts``: ``"window"`` or ``"static"``; ``goals``: ``"centres"`` (the
    reference's) or ``"uniform"`` (module docstring)."""
    if wall_contacts not in WALL_CONTACTS:
      raise ValueError(f"wall_contacts must be one of {WALL_CONTACTS}, got {wall_contacts!r}")
    if goals not in GOAL_DRAWS:
      raise ValueError(f"goals must be one of {GOAL_DRAWS}, got {goals!r}")
    self.layout = mazes.get_layout(layout).scaled(MAZE_SCALE).in_jaxgcrl_frame()
    self.goals = goals
    self._windows = ()
    if wall_contacts == "window":
      self._windows = tuple(
        (prefix, mazes.WallWindow(self.layout, block=block, merge=False))
        for prefix, block, _ in (FAR_WINDOW, NEAR_WINDOW)
      )

    def edit_model(root):
      if not self._windows:
        mazes.add_jaxgcrl_maze_walls(root, self.layout)
      else:
        mazes.add_jaxgcrl_maze_walls(root, self.layout, contype="0", conaffinity="0")
        _split_wall_contacts(root)
        for (prefix, window), (_, _, bit) in zip(self._windows, (FAR_WINDOW, NEAR_WINDOW)):
          window.add_to_model(root, prefix=prefix, contype=0, conaffinity=bit)
      mazes.set_floor_size(root, self.layout)

    super().__init__(backend, edit_model=edit_model, **kwargs)
    self._window_ids = tuple(window.geom_ids(self.sys, prefix) for prefix, window in self._windows)
    self._starts = self.layout.start_cells_xy
    self._goal_cells = self.layout.goal_cells_xy()
    self.eval_task_noise = self._reset_noise_scale > 0 or goals == "uniform"

  def _step_system(self, pipeline_state):
    """The system with the window boxes placed around the torso (or with the static walls)."""
    sys, xy = self.sys, pipeline_state.x.pos[0, :2]
    for (_, window), ids in zip(self._windows, self._window_ids):
      sys = window.place(sys, ids, xy)
    return sys

  def _sample_start_and_goal(self, rng):
    return self._start_and_goal_in(rng, self._starts, self._goal_cells)

  def _start_and_goal_in(self, rng, start_cells, goal_cells):
    """The reference's ``HumanoidMaze.reset`` with ``start_cells [n, 2]`` and ``goal_cells
    [m, 2]``: a 4-way split, the goal cell from the 1st key, the noise from the 2nd and 3rd, the
    start cell from the 4th; the torso exactly at the start cell's centre."""
    k_goal, k_q, k_qd, k_start = jax.random.split(rng, 4)
    q, qd = self._noisy_start(k_q, k_qd)
    start = start_cells[jax.random.randint(k_start, (1,), 0, start_cells.shape[0])[0]]
    if self.goals == "uniform":
      goal = mazes.sample_cell_point(k_goal, goal_cells, self.layout.cell_size, CELL_MARGIN)
    else:
      goal = goal_cells[jax.random.randint(k_goal, (1,), 0, goal_cells.shape[0])[0]]
    return q.at[:2].set(start), qd, goal
