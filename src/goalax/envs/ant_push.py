"""Ant push: the ant must push a movable block out of the way to reach a goal behind it.

The layout follows the "AntPush" task of HIRO (Nachum et al., 2018), with cells of 4 m (the ant
mazes' size) instead of 8. Seen from above, +y up, walls ``#`` 2 m high, one cell = 4 m:

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

from goalax.envs import mazes
from goalax.envs.ant_ball import WALL_CONAFFINITY, AntWithSlidingObject, add_sliding_object

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


class AntPush(AntWithSlidingObject):
  eval_task_noise = True  # seeded tasks: a fixed goal, the start noise drawn per episode
  OBJECT = "block"
  goal_indices = (0, 1)  # the ant's torso x, y
  goal_threshold = 1.0
  layout = PUSH_LAYOUT

  def __init__(self, backend="spring", **kwargs):
    super().__init__(backend, edit_model=_add_walls_and_block, **kwargs)

  def _sample_start_and_goal(self, rng):
    k_start, k_goal = jax.random.split(rng)
    q, qd = self._start(k_start, self.layout.start_cells_xy[0], jnp.asarray(BLOCK_START_XY))
    goal = mazes.sample_cell_point(
      k_goal, self.layout.goal_cells_xy(), self.layout.cell_size, GOAL_CELL_MARGIN
    )
    return q, qd, goal
