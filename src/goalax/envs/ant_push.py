"""Ant push: the ant must push a movable block out of the way to reach a goal behind it.

Two envs, both with the goal (the ANT's torso x, y) outside the physics state and a fresh goal
every reset:

``ant_push`` (``AntPush``) is the reference's (JaxGCRL 0.2.8's) task, after HIRO's AntPush
(Nachum et al., 2018): its own model (``assets/ant_push.xml``, a copy of the reference's: an ant
of its own, denser and softer than brax's, in a maze of 8 m cells with a light block between the
start and the goal; see ``AntPush``), its physics (mjx only, the reference's solver settings), its
start, goal and threshold (0.5). State (31): the ant's 29 entries, then the block's x, y.

``ant_push_dead_end`` (``AntPushDeadEnd``) is goalax's own, on brax's ant (kept as it was). The
layout follows HIRO's AntPush with cells of 4 m (the ant mazes' size) instead of 8. Seen from
above, +y up, walls ``#`` 2 m high, one cell = 4 m:

    # # # # #
    # . S # #        S  the ant's start cell (its centre is the origin)
    # . B . #        B  the movable block, centred at (0, -4)
    # # G # #        G  the goal cell (centre (0, -8)), a dead end behind the block
    # # # # #

The direct path S → G runs through the block. Pushing the block south jams it into the dead-end
goal cell; the way through is to walk west and south around it (cells ``.``) and push the block
east into the side pocket, then walk into G.

The block is a box 3.6 × 3.6 m (0.2 m clearance to the walls on each side) and 1 m high (the ant,
0.75 m tall, can't climb it), of mass 1, on two horizontal slide joints with a viscous drag of
4 N·s/m per axis, so it moves only while pushed (it stops within about 0.25 s). It collides with
the walls, the ant's torso, lower legs and feet, never with the floor.

State (33): the ant's 29-dim body state, then block x, y (entries 29, 30) and block velocity x, y
(31, 32). Goal (2): the ANT's torso x, y, a uniform point in the goal cell at least 1 m from its
edges. Success within 1.0 (HIRO counted success within 5 at a scale of 8; a cell here is 4 m wide
and the ant 2.3 m across, so 1.0 means "well inside the dead end"). Episode length 1000.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco

from goalax.envs import assets, mazes
from goalax.envs.ant_ball import (
  REFERENCE_NOISE_SCALE,
  REFERENCE_TARGET_DOFS,
  WALL_CONAFFINITY,
  AntWithObject,
  AntWithSlidingObject,
  add_sliding_object,
  reference_reset_keys,
  reference_start_noise,
)
from goalax.envs.core import GoalEnv

PUSH_LAYOUT = mazes.MazeLayout(
  grid=(
    "11111",
    "10R11",
    "10001",  # the block starts in the middle cell
    "11G11",
    "11111",
  ),
  cell_size=4.0,
  name="ant_push",
)
BLOCK_START_XY = (0.0, -PUSH_LAYOUT.cell_size)
BLOCK_HALF_SIZE = 0.45 * PUSH_LAYOUT.cell_size
BLOCK_HEIGHT = 1.0
BLOCK_MASS = 1.0
BLOCK_DRAG = 4.0  # N·s/m per axis
GOAL_CELL_MARGIN = 0.25  # of a cell: the goal keeps 1 m from the goal cell's edges


def _add_walls_and_block(root) -> None:
  mazes.add_maze_walls(root, PUSH_LAYOUT, conaffinity=WALL_CONAFFINITY)
  mazes.set_floor_size(root, PUSH_LAYOUT)
  add_sliding_object(
    root,
    "block",
    dict(
      type="box",
      size=(BLOCK_HALF_SIZE, BLOCK_HALF_SIZE, BLOCK_HEIGHT / 2),
      mass=BLOCK_MASS,
      rgba=(0.9, 0.7, 0.2, 1.0),
    ),
    height=BLOCK_HEIGHT / 2,
    drag=BLOCK_DRAG,
    init_xy=BLOCK_START_XY,
  )


class AntPushDeadEnd(AntWithSlidingObject):
  """goalax's ant push (``ant_push_dead_end``): the block in the corridor to a dead end, on
  brax's ant (see the module docstring)."""

  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  OBJECT = "block"
  goal_indices = (0, 1)  # the ant's torso x, y
  goal_threshold = 1.0
  layout = PUSH_LAYOUT
  reference_backend = None  # goalax's own task; the reference's is ``AntPush``

  def __init__(self, backend="spring", **kwargs):
    super().__init__(backend, edit_model=_add_walls_and_block, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_start, k_goal = jax.random.split(rng)
    q, qd = self._start(k_start, self.layout.start_cells_xy[0], jnp.asarray(BLOCK_START_XY))
    goal = mazes.sample_cell_point(
      k_goal, self.layout.goal_cells_xy(), self.layout.cell_size, GOAL_CELL_MARGIN
    )
    return q, qd, goal


# ---- the reference's ant push (``ant_push``) ---------------------------------------------------

REFERENCE_MODEL_XML = "ant_push.xml"
# The reference's physics per backend: 5 steps of the model's 0.01 s on every backend; on mjx the
# Newton solver with 4 iterations and 8 line-search steps, no implicit Euler damping.
REFERENCE_N_FRAMES = 5
REFERENCE_MJX_OPTIONS = {
  "opt.solver": mujoco.mjtSolver.mjSOL_NEWTON,
  "opt.disableflags": mujoco.mjtDisableBit.mjDSBL_EULERDAMP,
  "opt.iterations": 4,
  "opt.ls_iterations": 8,
}
# The reference's goal: the torso at one of these two points, in random order, plus U[0, 2) per
# axis: (16-18, 8-10) east of the block's cell or (8-10, 16-18) north of it.
REFERENCE_GOAL_POINTS = (16.0, 8.0)
REFERENCE_GOAL_NOISE = 2.0


def ant_push_system(backend: str):
  """The reference's ``ant_push.xml`` (``assets/ant_push.xml``, unchanged) without its target
  body (and the target's two entries at the end of ``init_qpos``), tuned per backend as the
  reference does; returns ``(sys, n_frames)``."""
  root = assets.goalax_model_xml(REFERENCE_MODEL_XML)
  assets.remove_body(root, "target")
  init_qpos = root.find("custom/numeric[@name='init_qpos']").get("data").split()
  assets.set_custom_numeric(root, "init_qpos", init_qpos[:-REFERENCE_TARGET_DOFS])
  sys = assets.load_system(root)
  if backend == "mjx":
    sys = sys.tree_replace(REFERENCE_MJX_OPTIONS)
  return sys, REFERENCE_N_FRAMES


def reference_push_goal(rng: jax.Array) -> jax.Array:
  """The goal x, y as the reference's ``AntPush._random_target`` draws it from ``rng``."""
  _, k_order, k_noise = jax.random.split(rng, 3)
  goal = jax.random.permutation(k_order, jnp.array(REFERENCE_GOAL_POINTS))
  return goal + REFERENCE_GOAL_NOISE * jax.random.uniform(k_noise, shape=(2,))


class AntPush(AntWithObject):
  """The reference's ant push (``ant_push``): its model, physics, start, goal and threshold.

  Model: JaxGCRL's ``ant_push.xml`` without its target body (mass 1 on two slide joints that
  touch nothing): its own ant (geom density 40, soft contacts ``solimp .995 .995 .01``, standing
  at 0.75, torso colliding with floor, walls and block), walls of 8 m cells 4 m high, and the
  block ``movable`` (a 7.2 × 7.2 × 3.6 m box of 0.2 g, centred at (8, 8, 2), on slide joints
  ``movable_x_2_2``, ``movable_y_2_2``, ``movable_z_2_2``, colliding with the floor, walls, torso
  and feet). Seen from above (``#`` wall, ``.`` free, 8 m cells; the ant starts at the origin in
  the ``S`` cell, the goal is in one of the ``G`` cells, the block ``M`` between them)::

    # # # # #     y = 24
    # # G # #     y = 16
    # . M G #     y = 8
    # S . # #     y = 0
    # # # # #     y = -8   (columns at x = -8, 0, 8, 16, 24)

  Control step 0.05 s: 5 physics steps of 0.01 s, on mjx with the reference's solver
  (``REFERENCE_MJX_OPTIONS``), the only backend the reference calls stable. The reference builds
  it on the others too, without changes; on spring and generalized random rollouts gave NaN
  states within 100 steps here, so goalax offers mjx only (positional ran, but is no backend the
  reference uses or tunes for this model).

  Start and goal drawn as the reference's ``reset`` draws them from the same key: the ant and the
  block at their poses plus uniform noise of ±0.1, velocities 0.1 · N(0, 1) except the block's
  y and z velocities, which are 0 (the reference zeroes the last four velocities: its target's
  two and the block's y, z). Goal: the torso x, y (state entries 0, 1), at (16, 8) or (8, 16)
  plus U[0, 2) per axis (``reference_push_goal``); success within 0.5.

  State (31): the ant's 29 entries, then the block's world x, y.
  """

  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  OBJECT = "movable"
  goal_indices = (0, 1)
  goal_threshold = 0.5
  default_backend = "mjx"
  reference_backend = "mjx"  # the reference: "stable only in mjx"
  backends = ("mjx",)

  def __init__(self, backend="mjx", reset_noise_scale=REFERENCE_NOISE_SCALE, **kwargs):
    # Not AntBase.__init__: this ant is the reference's ant_push.xml, not brax's ant.
    sys, n_frames = ant_push_system(backend)
    GoalEnv.__init__(self, sys, backend, kwargs.pop("n_frames", n_frames), **kwargs)
    self._reset_noise_scale = reset_noise_scale
    self._find_object()

  def _sample_start_and_goal(self, rng):
    k_q, k_qd, k_goal = reference_reset_keys(rng)
    dq, dqd = reference_start_noise(
      k_q, k_qd, self.sys.q_size(), self.sys.qd_size(), self._reset_noise_scale
    )
    # The reference zeroes its last four velocities: the target's two and the block's y, z.
    qd = dqd.at[self.OBJECT_QD + 1 :].set(0.0)
    return self.sys.init_q + dq, qd, reference_push_goal(k_goal)
