"""The goal sampler: what the replay buffer stores per env step, and the batches agents learn from.

One sampler serves every off-policy agent; an agent's :class:`goalax.agents.base.GoalSampling`
says where its goals come from. Transitions are stored per env step as ``{obs, action, traj_id}``
(``obs = concat(state, commanded goal)`` before the step).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from goalax import buffer as replay
from goalax.agents.base import GoalSampling
from goalax.envs import GoalEnv

Array = jax.Array


def transition(env_state, action: Array) -> dict[str, Array]:
  """What the buffer stores per env step: obs [N, obs], action [N, A], traj_id [N]."""
  return {"obs": env_state.obs, "action": action, "traj_id": env_state.info["traj_id"]}


def make_sampler(
  env: GoalEnv, sampling: GoalSampling, batch_size: int, max_horizon: int
) -> Callable[[replay.ReplayBuffer, Array], dict[str, Array]]:
  """``sample(buffer, key) -> batch`` with ``state [B, S]``, ``action [B, A]``, ``goal [B, G]``."""
  state_size = env.state_size

  def sample(buffer: replay.ReplayBuffer, key: Array) -> dict[str, Array]:
    now, future, _ = replay.sample_with_future(
      buffer, key, batch_size, sampling.discount, max_horizon
    )
    return {
      "state": now["obs"][:, :state_size],
      "action": now["action"],
      "goal": env.achieved_goal(future["obs"][:, :state_size]),
    }

  return sample
