"""The on-policy loop: whole rollouts of the current policy, each used for every gradient step of
one training step and then dropped (PPO).

A run is ``init(key) -> state`` and epochs of ``run_epoch(state)``; there is no prefill and no
replay buffer. One epoch is a ``lax.scan`` over training steps; a training step is

    collect a rollout of unroll_length steps in num_envs envs with agent.explore  →
    agent.update(agent state, rollout, key)   (num_updates_per_batch epochs × num_minibatches
                                               minibatch steps, the agent's business)

all inside compiled JAX, with no host round trip. The rollout is a dict of ``[unroll_length,
num_envs, ...]`` arrays (see :func:`collect_rollout`):

- ``obs``        the observation the action was taken in;
- ``action``     the action sent to the env, in [-1, 1];
- ``reward``     the env's reward for the step: its success (sparse, the default) or, with
                 ``--dense_reward``, ``-dist`` (summed over ``--action_repeat``);
- ``next_obs``   the TRUE next observation: at an episode's end the observation it ended in
                 (``info["terminal_obs"]``), not the next episode's first, so a time-limit end
                 can bootstrap from the value of where the episode really was;
- ``terminated`` 1 where the episode ended by the env's own rule (e.g. the ant fell): no
                 bootstrap past it;
- ``truncated``  1 where it ended by the time limit: bootstrap from ``next_obs``;
- whatever ``agent.explore`` returns beside the action (PPO: ``log_prob``, ``value``,
  ``raw_action``).

The state is one pytree (:class:`OnPolicyState`), so the host vmaps these functions over seeds
(``--num_seeds``) and checkpoints it whole. The loop knows the agent only through
:class:`goalax.agents.base.OnPolicyAgent`, which the run's plan builds and hands it; its
settings and schedule are :class:`goalax.loops.settings.OnPolicyConfig`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import flax
import jax
import jax.numpy as jnp

from goalax.envs import VectorGoalEnv
from goalax.loops.base import Trainer, budget_warning
from goalax.loops.settings import Schedule

if TYPE_CHECKING:
  from goalax.config import TrainConfig
  from goalax.envs import GoalEnv


def check_budget(config: TrainConfig, schedule: Schedule) -> str | None:
  """Nothing comes before training here; returns a warning when the run takes far more env
  steps than asked, else None."""
  return budget_warning(config, schedule)


def with_dense_reward(env: GoalEnv) -> GoalEnv:
  """A shallow copy of ``env`` whose reward is its own distance reward ``-dist``."""
  dense = copy.copy(env)
  dense.dense_reward = True
  return dense


@flax.struct.dataclass
class OnPolicyState:
  agent: Any  # the agent's own state (params, optimiser state, observation statistics)
  env_state: Any  # brax State, batched over num_envs
  key: jax.Array
  train_steps: jax.Array  # int32: training steps done


def collect_rollout(agent, venv, agent_state, env_state, key: jax.Array, length: int):
  """Steps every env of ``venv`` ``length`` times with ``agent.explore``.

  Returns ``(env_state, rollout, success [length, num_envs])``, the rollout as described in this
  module's docstring."""

  def env_step(env_state, key):
    action, extras = agent.explore(agent_state, env_state.obs, key)
    next_state = venv.step(env_state, action)
    truncated = next_state.info["truncation"]
    step = dict(
      obs=env_state.obs,
      action=action,
      reward=next_state.reward,
      next_obs=next_state.info["terminal_obs"],
      terminated=next_state.done * (1.0 - truncated),
      truncated=truncated,
      **extras,
    )
    return next_state, (step, next_state.metrics["success"])

  env_state, (rollout, success) = jax.lax.scan(env_step, env_state, jax.random.split(key, length))
  return env_state, rollout, success


def make_trainer(
  config: TrainConfig, env: GoalEnv, agent, schedule: Schedule, placement
) -> Trainer:
  """The pure functions of a run of ``config`` on ``env`` training ``agent`` (an
  :class:`~goalax.agents.base.OnPolicyAgent`, built by the run's plan) on ``schedule``
  (``placement`` is taken for the loops' common signature; rollouts are not split)."""
  run = config.agent  # rollout and schedule settings (OnPolicyConfig)
  train_env = with_dense_reward(env) if run.dense_reward else env
  venv = VectorGoalEnv(train_env, config.num_envs, config.episode_length, config.action_repeat)

  def init(key: jax.Array) -> OnPolicyState:
    k_agent, k_env, k_run = jax.random.split(key, 3)
    return OnPolicyState(
      agent.init(k_agent), venv.reset(k_env), k_run, jnp.zeros((), jnp.int32)
    )  # fmt: skip

  def train_step(state: OnPolicyState, _):
    key, k_rollout, k_update = jax.random.split(state.key, 3)
    env_state, rollout, success = collect_rollout(
      agent, venv, state.agent, state.env_state, k_rollout, run.unroll_length
    )
    agent_state, metrics = agent.update(state.agent, rollout, k_update)
    metrics = dict(metrics, train_success=success.mean())
    new_state = OnPolicyState(agent_state, env_state, key, state.train_steps + 1)
    return new_state, metrics

  def run_epoch(state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    state, metrics = jax.lax.scan(train_step, state, None, length=schedule.train_steps_per_epoch)
    return state, jax.tree.map(jnp.mean, metrics)

  return Trainer(init, None, run_epoch, agent, venv, schedule)
