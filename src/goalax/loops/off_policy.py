"""The off-policy loop: a replay buffer of trajectories, the goal sampler, a gradient step per batch.

A run is ``init(key) -> state``, ``prefill(state)`` (``min_replay_size`` random-action steps per
env) and epochs of ``run_epoch(state)``. One epoch is a ``lax.scan`` over training steps; a
training step is

    collect unroll_length steps in num_envs envs with the current policy  →  insert into the
    replay buffer  →  gradient_steps_per_train_step × [sample a batch (goal sampler) →
    agent.update]

all inside compiled JAX, with no host round trip. The state is one pytree, so the host vmaps
these functions over seeds (``--num_seeds``) and nothing else changes. The loop knows the agent
only through :class:`goalax.agents.base.OffPolicyAgent`, which the run's plan builds and hands
it; its settings and schedule are :class:`goalax.loops.settings.OffPolicyConfig`.

Besides the agent's metrics and ``train_success``, an agent that draws hindsight goals reports
``hindsight_fallback``: the share of its hindsight draws for which no candidate row had the
future stored, so the goal fell back to the next state (:func:`goalax.replay.sampler.hindsight_fallback`);
near 0 once the buffer holds more than the running episodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flax
import jax
import jax.numpy as jnp

from goalax.envs import VectorGoalEnv
from goalax.errors import ConfigError
from goalax.loops.base import Trainer, budget_warning
from goalax.loops.settings import Schedule
from goalax.parallel import devices
from goalax.replay import buffer as replay
from goalax.replay.sampler import hindsight_fallback, make_sampler, transition

if TYPE_CHECKING:
  from goalax.config import TrainConfig
  from goalax.envs import GoalEnv


def check_budget(config: TrainConfig, schedule: Schedule) -> str | None:
  """Raises ConfigError when ``--num_timesteps`` is below the prefill alone; returns a warning
  when the run takes far more env steps than asked, else None."""
  if config.num_timesteps < schedule.prefill_env_steps:
    raise ConfigError(
      f"--num_timesteps {config.num_timesteps:,} is less than the prefill alone "
      f"(--min_replay_size {config.agent.min_replay_size} × --num_envs {config.num_envs} × "
      f"--action_repeat {config.action_repeat} = {schedule.prefill_env_steps:,} random-action env "
      f"steps), so the run would take {schedule.total_env_steps:,} env steps; raise --num_timesteps "
      f"to at least {schedule.total_env_steps:,} or lower --min_replay_size or --num_envs."
    )
  return budget_warning(config, schedule)


@flax.struct.dataclass
class OffPolicyState:
  agent: Any  # the agent's own state (params, optimiser states, targets)
  buffer: replay.ReplayBuffer
  env_state: Any  # brax State, batched over num_envs
  key: jax.Array
  train_steps: jax.Array  # int32: training steps done (excludes the prefill)


def make_trainer(
  config: TrainConfig, env: GoalEnv, agent, schedule: Schedule, placement: devices.Placement
) -> Trainer:
  """The pure functions of a run of ``config`` on ``env`` training ``agent`` (an
  :class:`~goalax.agents.base.OffPolicyAgent`, built by the run's plan, wrapped there for a
  sweep) on ``schedule``; with a ``data`` placement each device samples its part of a batch."""
  run = config.agent  # replay and schedule settings (OffPolicyConfig)
  venv = VectorGoalEnv(env, config.num_envs, config.episode_length, config.action_repeat)
  num_envs = config.num_envs
  td = agent.sampling.td
  hindsight = agent.sampling.hindsight  # hindsight goals need the buffer's episode ends
  sample = make_sampler(env, agent.sampling, run.batch_size, venv.episode_length)

  def sampler_of(agent_state):
    """The goal sampler: the agent's own, or a swept member's (its discount is a leaf)."""
    if not hasattr(agent, "sampling_of"):
      return sample
    sampling = agent.sampling_of(agent_state)
    return make_sampler(env, sampling, run.batch_size, venv.episode_length)

  split_batch = devices.split_batch(placement)

  def init(key: jax.Array) -> OffPolicyState:
    k_agent, k_env, k_run = jax.random.split(key, 3)
    env_state = venv.reset(k_env)
    example = transition(
      env_state, jnp.zeros((num_envs, env.action_size)), env_state, env.state_size, td
    )
    buffer = replay.init_buffer(example, run.max_replay_size, num_envs, episode_ends=hindsight)
    return OffPolicyState(agent.init(k_agent), buffer, env_state, k_run, jnp.zeros((), jnp.int32))

  def collect(state: OffPolicyState, length: int, random_actions: bool):
    """Steps all envs ``length`` times; returns the new state and episode stats."""
    policy_params = agent.policy_params(state.agent)

    def env_step(env_state, key):
      if random_actions:
        action = jax.random.uniform(key, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
      else:
        action = agent.act(policy_params, env_state.obs, key, False)
      next_state = venv.step(env_state, action)
      stored = transition(env_state, action, next_state, env.state_size, td)
      return next_state, (stored, next_state.done > 0, next_state.metrics["success"])

    key, k_steps = jax.random.split(state.key)
    env_state, (block, ended, success) = jax.lax.scan(
      env_step, state.env_state, jax.random.split(k_steps, length)
    )
    buffer = replay.insert(state.buffer, block, ended if hindsight else None)
    return state.replace(env_state=env_state, buffer=buffer, key=key), success.mean()

  def prefill(state: OffPolicyState) -> OffPolicyState:
    state, _ = collect(state, run.min_replay_size, random_actions=True)
    return state

  def train_step(state: OffPolicyState, _):
    state, train_success = collect(state, run.unroll_length, random_actions=False)

    def sgd_step(agent_state, key):
      k_sample, k_update = jax.random.split(key)
      batch, info = sampler_of(agent_state)(state.buffer, k_sample)
      batch = split_batch(batch)  # data parallel: each device's part of the batch
      agent_state, metrics = agent.update(agent_state, batch, k_update)
      if hindsight:  # share of the hindsight draws that fell back (see goalax.replay.sampler)
        metrics["hindsight_fallback"] = hindsight_fallback(info)
      return agent_state, metrics

    key, k_updates = jax.random.split(state.key)
    agent_state, metrics = jax.lax.scan(
      sgd_step, state.agent, jax.random.split(k_updates, schedule.gradient_steps_per_train_step)
    )
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["train_success"] = train_success
    return state.replace(agent=agent_state, key=key, train_steps=state.train_steps + 1), metrics

  def run_epoch(state: OffPolicyState) -> tuple[OffPolicyState, dict]:
    state, metrics = jax.lax.scan(train_step, state, None, length=schedule.train_steps_per_epoch)
    return state, jax.tree.map(jnp.mean, metrics)

  return Trainer(init, prefill, run_epoch, agent, venv, schedule)
