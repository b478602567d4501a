"""Ant soccer: the ant must push a ball to the goal; the goal is the BALL's x, y.

Two families of envs, both with the goal outside the physics state and a fresh goal every reset:

``ant_ball`` (``AntBall``) is the reference's (JaxGCRL 0.2.8's) task: its model, physics, start,
goal and threshold (``tests/test_reference_physics.py`` steps it against recordings of the
reference's env). The model is brax's ant edited into the reference's ``ant_ball.xml`` without its
target body (``add_reference_ball``): the ball (body ``object``, joints ``obj_slidex``,
``obj_slidey``: a sphere of radius 0.5 and mass 0.576 that slides, without rolling, on the floor
with friction), touching the floor, the ant's torso and its feet; the feet, given conaffinity 1 as
in the reference, also touch each other and the torso. Backends as the reference sets them
(reference: spring). State (31): the ant's 29 entries (q 15, qd 14), then the ball's x, y (29,
30), as the reference observes them (no ball velocity). Start and goal as the reference's
``reset`` draws them from the same key: the ant at its pose plus uniform noise ±0.1 (velocities
0.1 · N(0, 1)), the goal on the circle of radius 5 around the origin, the ball at rest at
``goal / 5 + (cos φ, sin θ)`` (θ the goal's angle, φ uniform: ``reference_goal_and_ball``), so
in about 9% of starts the ball overlaps the torso. Success within 0.5. Episode length 1000.

goalax's own ant soccer, on brax's ant (``AntWithSlidingObject``; kept as it was):

- State (33): the ant's 29 entries, then ball x, y (entries 29, 30) and ball velocity x, y
  (31, 32). Goal (2): ball x, y. Success within 0.5 (the ball's radius: the ball covers the
  goal point). Episode length 1000 (50 s of simulated time).
- The ball is a sphere of radius 0.5 and mass 0.5 (about half the ant's mass) on two horizontal
  slide joints ``ball_x``, ``ball_y``, its centre at its radius above the floor. It rolls without
  touching the floor (no ball–floor contact); rolling resistance is a viscous drag of 1 N·s/m on
  each axis, so a ball kicked at 2 m/s comes to rest about 2 m further on with 'spring' (whose
  solver gives every body unit mass; 1 m on 'mjx' and 'generalized'). Brax's spring and
  positional pipelines ignore joint damping, so the drag is applied by two velocity actuators on
  the ball's joints, driven with a control of zero; they are not part of the agent's action
  (``action_size`` is still 8).
- Contacts with the ball: the ant's torso, four lower legs and four feet (9 pairs; the floor and
  the rest of the legs don't touch it). In the mazes the ball and the ant's feet also collide
  with the walls.
- ``ant_soccer`` (``AntSoccer``, open floor): the ant starts at the origin; the ball at a uniform
  angle and a distance uniform in [2, 3] from the ant (clear of its legs); the goal at a uniform
  angle and a distance uniform in [2, 4] from the ball (so 0–7 m from the ant).
- ``ant_ball_u_maze`` / ``ant_ball_big_maze`` (``AntBallMaze``): the maze layouts of
  ``goalax.envs.mazes`` (cells of 4 m, walls 2 m high). The ant starts in a start cell; the ball
  in a free cell next to it (a uniform point at least 1 m from the cell's edges); the goal is a
  uniform point in a goal cell (at least 1 m from its edges). The reference has no working ant
  soccer maze (its ``ant_ball_maze`` fails to build).

Evaluation tasks: ``ant_ball`` and ``ant_soccer`` have the seeded set of ``goalax.envs.core``
(five fixed ball and goal positions; the episodes of a task are identical, as the ball is placed
with the goal); the mazes five named start/goal cells (``AntBallMaze``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from goalax.envs import mazes
from goalax.envs.ant import AntBase

BALL_RADIUS = 0.5
BALL_MASS = 0.5
BALL_DRAG = 1.0  # N·s/m per axis
BALL_START_DISTANCE = (2.0, 3.0)  # from the ant
GOAL_DISTANCE_FROM_BALL = (2.0, 4.0)
# Ant geoms the sliding object collides with, besides the feet (whose contype is already 1).
ANT_GEOMS_HITTING_OBJECTS = (
  "torso_geom",
  "left_ankle_geom",
  "right_ankle_geom",
  "third_ankle_geom",
  "fourth_ankle_geom",
)
# Collision bits. The object: contype 2, so it hits the walls (conaffinity 1|2) but not the floor
# (conaffinity 1); conaffinity 1|4, so the feet (contype 1) and the geoms above (given contype 4,
# conaffinity 0) hit it, and nothing else new collides (those geoms miss the walls and floor).
OBJECT_CONTYPE, OBJECT_CONAFFINITY, ANT_GEOM_CONTYPE, WALL_CONAFFINITY = 2, 5, 4, 3


def _fmt(values) -> str:
  return " ".join(f"{float(v):.6g}" for v in values)


def add_sliding_object(
  root: ET.Element, name: str, geom: dict, height: float, drag: float, init_xy=(0.0, 0.0)
) -> None:
  """Adds body ``name`` on x, y slide joints, its geom ``height`` above the floor.

  The body frame is at the origin, so the joints' ``q`` is the object's world x, y (``init_xy``
  in ``init_qpos``).

  ``geom`` holds the geom's attributes (type, size, mass, rgba). The body is slowed by a viscous
  ``drag`` (N·s/m) applied by two velocity actuators appended after the ant's motors, and it
  collides with the ant's torso, lower legs and feet and with maze walls built with
  ``WALL_CONAFFINITY``.
  """
  worldbody = root.find("worldbody")
  body = ET.SubElement(worldbody, "body", name=name, pos=_fmt((0.0, 0.0, height)))
  for axis, axis_vec in (("x", (1, 0, 0)), ("y", (0, 1, 0))):
    ET.SubElement(
      body,
      "joint",
      name=f"{name}_{axis}",
      type="slide",
      axis=_fmt(axis_vec),
      limited="false",
      armature="0",
      damping="0",
    )
  ET.SubElement(
    body,
    "geom",
    name=f"{name}_geom",
    contype=str(OBJECT_CONTYPE),
    conaffinity=str(OBJECT_CONAFFINITY),
    condim="3",
    **{k: (_fmt(v) if isinstance(v, (tuple, list)) else str(v)) for k, v in geom.items()},
  )
  for g in root.iter("geom"):
    if g.get("name") in ANT_GEOMS_HITTING_OBJECTS:
      g.set("contype", str(ANT_GEOM_CONTYPE))
      g.set("conaffinity", "0")
  actuators = root.find("actuator")
  for axis in ("x", "y"):
    ET.SubElement(
      actuators, "velocity", joint=f"{name}_{axis}", kv=f"{drag:.6g}", ctrllimited="false"
    )
  for numeric in root.iter("numeric"):
    if numeric.get("name") == "init_qpos":
      numeric.set("data", numeric.get("data") + " " + _fmt(init_xy))


class AntWithSlidingObject(AntBase):
  """An ant plus one object sliding on two damped slide joints (ball, block).

  The object's x, y follow the ant in ``q`` (entries 15, 16) and ``qd`` (14, 15); the state is the
  ant's 29 entries then the object's x, y, vx, vy. Subclasses add the object to the model in
  ``edit_model`` with ``add_sliding_object`` (named ``OBJECT``).
  """

  OBJECT = "ball"
  OBJECT_Q, OBJECT_QD = AntBase.ANT_Q, AntBase.ANT_QD
  NUM_OBJECT_ACTUATORS = 2
  state_size = 33
  # 'positional' stops any sliding body within a few steps (its joint solver damps the slide
  # joints' velocity by ~65% per step even without the drag), so it is left out.
  backends = ("spring", "generalized", "mjx")
  extra_metric_names = AntBase.extra_metric_names + ("ant_to_object",)

  def __init__(self, backend="spring", edit_model=None, **kwargs):
    super().__init__(backend, edit_model=edit_model, **kwargs)
    self._object_idx = self.sys.link_names.index(self.OBJECT)

  @property
  def action_size(self) -> int:
    return self.sys.act_size() - self.NUM_OBJECT_ACTUATORS

  def pipeline_step(self, pipeline_state, action):
    drag_controls = jnp.zeros(action.shape[:-1] + (self.NUM_OBJECT_ACTUATORS,))
    return super().pipeline_step(pipeline_state, jnp.concatenate([action, drag_controls], -1))

  def _start(self, rng, ant_xy, object_xy):
    """Noisy ant start moved to ``ant_xy``, object at rest at ``object_xy``."""
    q, qd = self._noisy_start(rng)
    q = q.at[:2].add(ant_xy).at[self.OBJECT_Q : self.OBJECT_Q + 2].set(object_xy)
    qd = qd.at[self.OBJECT_QD : self.OBJECT_QD + 2].set(0.0)
    return q, qd

  def _state_vector(self, pipeline_state):
    q, qd = pipeline_state.q, pipeline_state.qd
    return jnp.concatenate(
      [
        self._ant_state(pipeline_state),
        q[self.OBJECT_Q : self.OBJECT_Q + 2],
        qd[self.OBJECT_QD : self.OBJECT_QD + 2],
      ]
    )

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    metrics = super()._extra_metrics(pipeline_state0, pipeline_state, action)
    pos = pipeline_state.x.pos
    metrics["ant_to_object"] = jnp.linalg.norm(pos[self._object_idx, :2] - pos[0, :2])
    return metrics


def _add_ball(root: ET.Element) -> None:
  add_sliding_object(
    root,
    "ball",
    dict(type="sphere", size=(BALL_RADIUS,), mass=BALL_MASS, rgba=(0.95, 0.95, 0.95, 1.0)),
    height=BALL_RADIUS,
    drag=BALL_DRAG,
  )


def _point_at_distance(rng, centre, distance_range):
  k_angle, k_dist = jax.random.split(rng)
  angle = 2 * jnp.pi * jax.random.uniform(k_angle)
  dist = jax.random.uniform(k_dist, minval=distance_range[0], maxval=distance_range[1])
  return centre + dist * jnp.array([jnp.cos(angle), jnp.sin(angle)])


class AntSoccer(AntWithSlidingObject):
  """goalax's ant soccer on an open floor (``ant_soccer``): the ball of ``add_sliding_object``,
  starting 2-3 m from the ant, the goal 2-4 m from the ball (see the module docstring)."""

  reference_backend = None  # goalax's own task; the reference's is ``AntBall``

  goal_indices = (29, 30)  # the ball's x, y
  goal_threshold = 0.5

  def __init__(self, backend="spring", **kwargs):
    super().__init__(backend, edit_model=_add_ball, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_start, k_ball, k_goal = jax.random.split(rng, 3)
    ball = _point_at_distance(k_ball, jnp.zeros(2), BALL_START_DISTANCE)
    q, qd = self._start(k_start, jnp.zeros(2), ball)
    return q, qd, _point_at_distance(k_goal, ball, GOAL_DISTANCE_FROM_BALL)


class AntBallMaze(mazes.MazeEvalTasks, AntWithSlidingObject):
  """Ant soccer in a maze: ant in a start cell, ball in a free cell next to it, goal in a goal cell.

  Evaluation tasks: the layout's five named start/goal cells, the ball starting in the start
  cell's neighbour that begins a shortest path to the goal (``MazeLayout.next_cell_towards``),
  every point drawn as in training (ant: reset noise at the cell's centre; ball and goal: uniform
  at least a quarter cell from their cells' edges)."""

  reference_backend = None  # the reference's ant_ball_maze fails to build (layout "maze")

  goal_indices = (29, 30)
  goal_threshold = 0.5
  CELL_MARGIN = 0.25  # points keep this fraction of a cell from the cell's edges (1 m at 4 m)

  def __init__(self, backend="spring", layout="u_maze", **kwargs):
    self.layout = mazes.get_layout(layout)

    def edit_model(root):
      _add_ball(root)
      mazes.add_maze_walls(root, self.layout, conaffinity=WALL_CONAFFINITY)
      mazes.set_floor_size(root, self.layout)

    super().__init__(backend, edit_model=edit_model, **kwargs)
    starts = np.asarray(self.layout.start_cells_xy)
    free = np.asarray(self.layout.free_cells_xy)
    gaps = np.linalg.norm(starts[:, None] - free[None], axis=-1)
    adjacent = np.isclose(gaps, self.layout.cell_size)  # [start, free] 4-neighbours
    if not adjacent.any(axis=1).all():
      raise ValueError(
        f"maze {self.layout.name!r}: every start cell needs a free neighbour cell for the ball"
      )
    self._starts, self._free = jnp.asarray(starts), jnp.asarray(free)
    self._ball_cell_logits = jnp.log(jnp.asarray(adjacent, jnp.float32))
    self._goal_cells = self.layout.goal_cells_xy()
    ball_cells = [self.layout.next_cell_towards(t.start, t.goal) for t in self.layout.tasks]
    self._task_ball_cells = jnp.asarray(self.layout.cells_to_xy(ball_cells), jnp.float32)

  def _sample_eval_task(self, task, rng):
    if not self.layout.tasks:
      return super()._sample_eval_task(task, rng)
    starts, goals = self.layout.task_cells_xy()
    k_ball, k_start, k_goal = jax.random.split(rng, 3)
    size = self.layout.cell_size
    ball = mazes.sample_cell_point(
      k_ball, self._task_ball_cells[task][None], size, self.CELL_MARGIN
    )
    q, qd = self._start(k_start, starts[task], ball)
    goal = mazes.sample_cell_point(k_goal, goals[task][None], size, self.CELL_MARGIN)
    return q, qd, goal

  def _sample_start_and_goal(self, rng):
    k_start_cell, k_ball_cell, k_ball, k_start, k_goal = jax.random.split(rng, 5)
    start_idx = jax.random.randint(k_start_cell, (), 0, self._starts.shape[0])
    ball_cell = self._free[jax.random.categorical(k_ball_cell, self._ball_cell_logits[start_idx])]
    size = self.layout.cell_size
    ball = mazes.sample_cell_point(k_ball, ball_cell[None], size, self.CELL_MARGIN)
    q, qd = self._start(k_start, self._starts[start_idx], ball)
    goal = mazes.sample_cell_point(k_goal, self._goal_cells, size, self.CELL_MARGIN)
    return q, qd, goal


# ---- the reference's ant soccer (``ant_ball``) -------------------------------------------------

# The reference's start: the ant's pose plus uniform noise of this half-width, velocities this
# times a standard normal (its ``reset_noise_scale``).
REFERENCE_NOISE_SCALE = 0.1
# The reference's goal: at this distance from the origin; the ball at this fraction of the goal
# plus an offset of length up to sqrt(2) (``reference_goal_and_ball``).
REFERENCE_GOAL_DISTANCE = 5.0
REFERENCE_BALL_FRACTION = 0.2
# The reference's models end with its target body on two slide joints (2 q, 2 qd entries). Its
# reset draws start noise for them too, so goalax draws as many numbers and drops theirs: a key
# then gives the reference's start.
REFERENCE_TARGET_DOFS = 2
ANT_FEET = ("left_foot_geom", "right_foot_geom", "third_foot_geom", "fourth_foot_geom")


def add_reference_ball(root: ET.Element) -> None:
  """Edits brax's ``ant.xml`` into the reference's ``ant_ball.xml`` without its target body.

  The ball is body ``object`` at height 0.5 on slide joints ``obj_slidex``, ``obj_slidey``
  (limited to ±100, the model's default armature 1, no damping) with two spheres of radius 0.5:
  one of density 1 that touches nothing, one of density 0.1 with contype 1 (mass 0.576 in all),
  which touches the floor, the torso and the feet (given conaffinity 1, as in the reference; so
  the feet also touch each other and the torso). The floor is 150 m wide. Only the geoms'
  colours stay brax's.
  """
  for geom in root.iter("geom"):
    if geom.get("name") == "floor":
      geom.set("size", "150 150 40")
    if geom.get("name") in ("torso_geom",) + ANT_FEET:
      geom.set("conaffinity", "1")
  worldbody = root.find("worldbody")
  body = ET.SubElement(worldbody, "body", name="object", pos="0.0 0.0 0.5")
  sphere = dict(type="sphere", size="0.5 0.5 0.5")
  ET.SubElement(body, "geom", rgba="1 1 1 0", density="1", conaffinity="0", **sphere)
  ET.SubElement(
    body,
    "geom",
    name="object_geom",
    rgba="1 1 1 1",
    density="0.1",
    contype="1",
    conaffinity="0",
    **sphere,
  )
  for axis, vec in (("x", "1 0 0"), ("y", "0 1 0")):
    ET.SubElement(
      body,
      "joint",
      name=f"obj_slide{axis}",
      type="slide",
      pos="0 0 0",
      axis=vec,
      range="-100 100",
      damping="0.0",
    )
  for numeric in root.iter("numeric"):
    if numeric.get("name") == "init_qpos":
      numeric.set("data", numeric.get("data") + " 0.0 0.0")


def reference_reset_keys(rng: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """``(q noise key, qd noise key, goal key)`` split from ``rng`` as the reference's ant_ball
  and ant_push ``reset`` split theirs."""
  k_goal, k_q, k_qd, _ = jax.random.split(rng, 4)
  return k_q, k_qd, k_goal


def reference_start_noise(k_q, k_qd, q_size: int, qd_size: int, scale: float):
  """The reference's start noise for a model of ``q_size``/``qd_size`` joints WITHOUT its target:
  ``U(-scale, scale)`` per q entry, ``scale · N(0, 1)`` per qd entry, drawn for the reference's
  model (target included) and cut to ``q_size``/``qd_size``."""
  dq = jax.random.uniform(k_q, (q_size + REFERENCE_TARGET_DOFS,), minval=-scale, maxval=scale)
  dqd = scale * jax.random.normal(k_qd, (qd_size + REFERENCE_TARGET_DOFS,))
  return dq[:q_size], dqd[:qd_size]


def reference_goal_and_ball(rng: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(goal, ball)`` x, y as the reference's ``AntBall._random_target`` draws them.

  The goal is uniform on the circle of radius 5 around the origin, at angle θ; the ball at
  ``0.2 · goal + (cos φ, sin θ)`` with φ uniform: the reference takes the y offset from the
  GOAL's angle (``obj_y_offset = sin(ang)``), so the ball's y is exactly ``0.4 · goal y`` and its
  x is ``goal x / 5 + cos φ``.
  """
  _, k_goal, k_ball = jax.random.split(rng, 3)
  ang = jnp.pi * 2.0 * jax.random.uniform(k_goal)
  goal = jnp.array([REFERENCE_GOAL_DISTANCE * jnp.cos(ang), REFERENCE_GOAL_DISTANCE * jnp.sin(ang)])
  ang_ball = jnp.pi * 2.0 * jax.random.uniform(k_ball)
  ball = goal * REFERENCE_BALL_FRACTION + jnp.array([jnp.cos(ang_ball), jnp.sin(ang)])
  return goal, ball


class AntWithObject(AntBase):
  """An ant of the reference's models with one movable body ``OBJECT`` (ball, block) after it in
  ``q``.

  State (31), as the reference observes it: the ant's 29 entries, then the object body's world
  x, y (its velocity is not observed).
  """

  OBJECT: ClassVar[str] = "object"
  OBJECT_Q, OBJECT_QD = AntBase.ANT_Q, AntBase.ANT_QD
  state_size = 31
  extra_metric_names = AntBase.extra_metric_names + ("ant_to_object",)

  def _find_object(self) -> None:
    self._object_idx = self.sys.link_names.index(self.OBJECT)

  def _state_vector(self, pipeline_state):
    object_xy = pipeline_state.x.pos[self._object_idx, :2]
    return jnp.concatenate([self._ant_state(pipeline_state), object_xy])

  def _extra_metrics(self, pipeline_state0, pipeline_state, action):
    metrics = super()._extra_metrics(pipeline_state0, pipeline_state, action)
    pos = pipeline_state.x.pos
    metrics["ant_to_object"] = jnp.linalg.norm(pos[self._object_idx, :2] - pos[0, :2])
    return metrics


class AntBall(AntWithObject):
  """The reference's ant soccer (``ant_ball``): its model, physics, start, goal and threshold.

  Model: brax's ant edited into the reference's (``add_reference_ball``); per backend as the
  reference: spring and positional 10 steps of 0.005 s, generalized and mjx 5 of 0.01 s (mjx
  with the Newton solver, 1 iteration, 4 line-search steps), positional with motor gear 200.
  Start and goal drawn as the reference's ``reset`` draws them from the same key
  (``reference_goal_and_ball``): the ant at its pose plus noise, the ball at rest, the goal on the
  circle of radius 5. Goal: the ball's x, y (state entries 29, 30); success within 0.5.
  """

  goal_indices = (29, 30)
  goal_threshold = 0.5
  reference_backend = "spring"

  def __init__(self, backend="spring", **kwargs):
    super().__init__(backend, edit_model=add_reference_ball, **kwargs)
    self._find_object()

  def _sample_start_and_goal(self, rng):
    k_q, k_qd, k_goal = reference_reset_keys(rng)
    dq, dqd = reference_start_noise(
      k_q, k_qd, self.sys.q_size(), self.sys.qd_size(), self._reset_noise_scale
    )
    goal, ball = reference_goal_and_ball(k_goal)
    q = (self.sys.init_q + dq).at[self.OBJECT_Q : self.OBJECT_Q + 2].set(ball)
    qd = dqd.at[self.OBJECT_QD : self.OBJECT_QD + 2].set(0.0)
    return q, qd, goal
