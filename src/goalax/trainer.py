"""A training run as pure functions: ``init(key) -> state``, ``prefill``, ``run_epoch(state)``.

One epoch is a ``lax.scan`` over training steps; a training step is

    collect unroll_length steps in num_envs envs with the current policy  →  insert into the
    replay buffer  →  updates_per_train_step × [sample a batch (goal sampler) → agent.update]

all inside compiled JAX, with no host round trip. The state is one pytree, so the host vmaps
these functions over seeds (``--num_seeds``) and nothing else changes. The loop knows the agent
only through :class:`goalax.agents.base.Agent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp

from goalax import buffer as replay
from goalax.agents import make_agent
from goalax.agents.base import Agent
from goalax.config import TrainConfig
from goalax.envs import GoalEnv, VectorGoalEnv
from goalax.sampler import make_sampler, transition


@flax.struct.dataclass
class TrainState:
  agent: Any  # the agent's own state (params, optimiser states, targets)
  buffer: replay.ReplayBuffer
  env_state: Any  # brax State, batched over num_envs
  key: jax.Array
  train_steps: jax.Array  # int32: training steps done (excludes the prefill)


class Trainer(NamedTuple):
  init: Callable[[jax.Array], TrainState]
  prefill: Callable[[TrainState], TrainState]
  run_epoch: Callable[[TrainState], tuple[TrainState, dict]]
  agent: Agent
  venv: VectorGoalEnv


def make_trainer(config: TrainConfig, env: GoalEnv) -> Trainer:
  run = config.agent  # replay and schedule settings (OffPolicyConfig)
  venv = VectorGoalEnv(env, config.num_envs, config.episode_length, config.action_repeat)
  agent = make_agent(config.agent, env.state_size, env.goal_size, env.action_size)
  num_envs = config.num_envs
  td = agent.sampling.td
  sample = make_sampler(env, agent.sampling, run.batch_size, venv.episode_length)

  def init(key: jax.Array) -> TrainState:
    k_agent, k_env, k_run = jax.random.split(key, 3)
    env_state = venv.reset(k_env)
    example = transition(
      env_state, jnp.zeros((num_envs, env.action_size)), env_state, env.state_size, td
    )
    buffer = replay.init_buffer(example, run.max_replay_size, num_envs)
    return TrainState(agent.init(k_agent), buffer, env_state, k_run, jnp.zeros((), jnp.int32))

  def collect(state: TrainState, length: int, random_actions: bool):
    """Steps all envs ``length`` times; returns the new state and episode stats."""
    policy_params = agent.policy_params(state.agent)

    def env_step(env_state, key):
      if random_actions:
        action = jax.random.uniform(key, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
      else:
        action = agent.act(policy_params, env_state.obs, key, False)
      next_state = venv.step(env_state, action)
      stored = transition(env_state, action, next_state, env.state_size, td)
      return next_state, (stored, next_state.metrics["success"])

    key, k_steps = jax.random.split(state.key)
    env_state, (block, success) = jax.lax.scan(
      env_step, state.env_state, jax.random.split(k_steps, length)
    )
    buffer = replay.insert(state.buffer, block)
    return state.replace(env_state=env_state, buffer=buffer, key=key), success.mean()

  def prefill(state: TrainState) -> TrainState:
    state, _ = collect(state, run.min_replay_size, random_actions=True)
    return state

  def train_step(state: TrainState, _):
    state, train_success = collect(state, run.unroll_length, random_actions=False)

    def sgd_step(agent_state, key):
      k_sample, k_update = jax.random.split(key)
      batch, _ = sample(state.buffer, k_sample)
      return agent.update(agent_state, batch, k_update)

    key, k_updates = jax.random.split(state.key)
    agent_state, metrics = jax.lax.scan(
      sgd_step, state.agent, jax.random.split(k_updates, config.updates_per_train_step)
    )
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["train_success"] = train_success
    return state.replace(agent=agent_state, key=key, train_steps=state.train_steps + 1), metrics

  def run_epoch(state: TrainState) -> tuple[TrainState, dict]:
    state, metrics = jax.lax.scan(train_step, state, None, length=config.train_steps_per_epoch)
    return state, jax.tree.map(jnp.mean, metrics)

  return Trainer(init, prefill, run_epoch, agent, venv)
