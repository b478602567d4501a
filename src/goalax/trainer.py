"""A CRL training run as pure functions: ``init(key) -> state``, ``run_epoch(state)``.

One epoch is a ``lax.scan`` over training steps; a training step is

    collect unroll_length steps in num_envs envs with the current policy  →  insert into the
    replay buffer  →  updates_per_train_step × [sample transitions with hindsight goals → CRL update]

all inside compiled JAX, with no host round trip. The state is one pytree, so the host vmaps
these functions over seeds (``--num_seeds``) and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax
import jax
import jax.numpy as jnp

from goalax import buffer as replay
from goalax.agents.crl import CRLState, make_crl
from goalax.config import TrainConfig
from goalax.envs import GoalEnv, VectorGoalEnv


@flax.struct.dataclass
class TrainState:
  agent: CRLState
  buffer: replay.ReplayBuffer
  env_state: Any  # brax State, batched over num_envs
  key: jax.Array
  train_steps: jax.Array  # int32: training steps done (excludes the prefill)


class Trainer(NamedTuple):
  init: Callable[[jax.Array], TrainState]
  prefill: Callable[[TrainState], TrainState]
  run_epoch: Callable[[TrainState], tuple[TrainState, dict]]
  crl: Any
  venv: VectorGoalEnv


def _transition(env_state, action):
  """What the buffer stores per env step: obs [N, obs], action [N, A], traj_id [N]."""
  return {"obs": env_state.obs, "action": action, "traj_id": env_state.info["traj_id"]}


def make_trainer(config: TrainConfig, env: GoalEnv) -> Trainer:
  venv = VectorGoalEnv(env, config.num_envs, config.episode_length, config.action_repeat)
  crl = make_crl(config.agent, env.state_size, env.goal_size, env.action_size)
  num_envs, state_size = config.num_envs, env.state_size
  max_horizon = min(venv.episode_length, config.max_replay_size - 1)

  def init(key: jax.Array) -> TrainState:
    k_agent, k_env, k_run = jax.random.split(key, 3)
    env_state = venv.reset(k_env)
    example = _transition(env_state, jnp.zeros((num_envs, env.action_size)))
    buffer = replay.init_buffer(example, config.max_replay_size, num_envs)
    return TrainState(crl.init(k_agent), buffer, env_state, k_run, jnp.zeros((), jnp.int32))

  def collect(state: TrainState, length: int, random_actions: bool):
    """Steps all envs ``length`` times; returns the new state and episode stats."""

    def env_step(carry, key):
      env_state = carry
      if random_actions:
        action = jax.random.uniform(key, (num_envs, env.action_size), minval=-1.0, maxval=1.0)
      else:
        action = crl.act(state.agent.actor_params, env_state.obs, key, False)
      next_state = venv.step(env_state, action)
      return next_state, (_transition(env_state, action), next_state.metrics["success"])

    key, k_steps = jax.random.split(state.key)
    env_state, (block, success) = jax.lax.scan(
      env_step, state.env_state, jax.random.split(k_steps, length)
    )
    buffer = replay.insert(state.buffer, block)
    return state.replace(env_state=env_state, buffer=buffer, key=key), success.mean()

  def prefill(state: TrainState) -> TrainState:
    state, _ = collect(state, config.min_replay_size, random_actions=True)
    return state

  def hindsight_batch(buffer, key):
    now, future, _ = replay.sample_with_future(
      buffer, key, config.batch_size, config.discounting, max_horizon
    )
    return {
      "state": now["obs"][:, :state_size],
      "action": now["action"],
      "goal": env.achieved_goal(future["obs"][:, :state_size]),
    }

  def train_step(state: TrainState, _):
    state, train_success = collect(state, config.unroll_length, random_actions=False)

    def sgd_step(agent, key):
      k_sample, k_update = jax.random.split(key)
      return crl.update(agent, hindsight_batch(state.buffer, k_sample), k_update)

    key, k_updates = jax.random.split(state.key)
    agent, metrics = jax.lax.scan(
      sgd_step, state.agent, jax.random.split(k_updates, config.updates_per_train_step)
    )
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics["train_success"] = train_success
    return state.replace(agent=agent, key=key, train_steps=state.train_steps + 1), metrics

  def run_epoch(state: TrainState) -> tuple[TrainState, dict]:
    state, metrics = jax.lax.scan(train_step, state, None, length=config.train_steps_per_epoch)
    return state, jax.tree.map(jnp.mean, metrics)

  return Trainer(init, prefill, run_epoch, crl, venv)
