"""A dataset (:class:`goalax.datasets.Trajectories`) in the replay buffer's trajectory layout, so
the one goal sampler (:func:`goalax.replay.sampler.make_sampler`) draws commanded, hindsight and
random goals from it with the rules it has for online buffers.

The layout: one env column, one row per transition ``(s_t, a_t, s_{t+1})``, trajectories one
after the other, the buffer full (``size = capacity = rows_written = N`` transitions,
``insert_index = 0``, so row ``i`` is age offset ``i``). Every leaf of ``data`` is ``[N, 1, ...]``:

- ``obs = concat(s_t, env.achieved_goal(s_t))``: a dataset has no commanded goal, so the
  commanded slot holds the state's own goal, and an agent's ``p_commanded`` means OGBench's
  ``p_curgoal`` (the goal already reached);
- ``action``, ``traj_id`` (the trajectory's index in the file), ``steps`` (``t`` in it);
- with ``td`` (TD agents): ``next_state = s_{t+1}`` and ``terminated = 0``: a dataset's
  trajectory ends at a time limit, so TD targets bootstrap through it.

The episode-end table holds, at each trajectory's id, the row of its last transition: hindsight
goals never cross a trajectory's end, and reach its last state ``s_L`` (``next_state`` of the
last row) with ``td``, or the last row's ``s_{L-1}`` without.
"""

from __future__ import annotations

import numpy as np

from goalax.datasets import Trajectories
from goalax.replay.buffer import ReplayBuffer

INT_BYTES = FLOAT_BYTES = 4


def layout_bytes(num_rows: int, state_size: int, goal_size: int, action_size: int, td: bool) -> int:
  """Bytes of a dataset of ``num_rows`` transitions in this layout (:func:`dataset_buffer`'s
  leaves, the episode-end table and the three counters), known before the file is read."""
  floats = state_size + goal_size + action_size + (state_size + 1 if td else 0)
  ints = 3  # traj_id, steps, the episode-end table's entry
  return num_rows * (floats * FLOAT_BYTES + ints * INT_BYTES) + 3 * INT_BYTES


def dataset_buffer(trajectories: Trajectories, env, td: bool) -> ReplayBuffer:
  """``trajectories`` as a full one-column :class:`ReplayBuffer` of numpy arrays (see the module
  docstring); ``env`` gives ``achieved_goal``, ``td`` whether to store ``next_state`` and
  ``terminated``."""
  observations, terminals = trajectories.observations, trajectories.terminals
  rows = trajectories.transition_rows()  # [N] the states that start a transition
  num_rows = len(rows)
  trajectory_of_state = np.concatenate([[0], np.cumsum(terminals[:-1])]).astype(np.int32)
  ends = np.flatnonzero(terminals)
  starts = np.concatenate([[0], ends[:-1] + 1])
  traj_id = trajectory_of_state[rows]
  states = observations[rows]
  goals = np.asarray(env.achieved_goal(states), np.float32)
  column = lambda x: x[:, None]  # [N, ...] -> [N, 1, ...]
  data = {
    "obs": column(np.concatenate([states, goals], axis=-1)),
    "action": column(trajectories.actions[rows]),
    "traj_id": column(traj_id),
    "steps": column((rows - starts[traj_id]).astype(np.int32)),
  }
  if td:
    data["next_state"] = column(observations[rows + 1])
    data["terminated"] = np.zeros((num_rows, 1), np.float32)
  last_rows = np.cumsum(ends - starts) - 1  # each trajectory's last transition row
  episode_ends = np.full((num_rows, 1), -1, np.int32)
  episode_ends[np.arange(len(ends)) % num_rows, 0] = last_rows
  full = np.int32(num_rows)
  return ReplayBuffer(data, np.int32(0), full, full, episode_ends, num_rows, 1)
