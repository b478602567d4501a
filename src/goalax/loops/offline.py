"""The offline loop: gradient steps on a fixed dataset, no env steps while training.

A run is ``init(key) -> state`` and epochs of ``run_epoch(state, data)``; an epoch is
``schedule.gradient_steps_per_epoch`` gradient steps,

    sample a batch from the dataset (the goal sampler)  →  agent.update

in a ``lax.scan`` over chunks of :data:`SAMPLED_AT_ONCE` steps (the chunk's batches are drawn
at once, then updated on one by one: the same batches and updates as step by step, with the
sampler's small ops run once per chunk), all inside compiled JAX, with no host round trip. ``data`` is the dataset in the replay buffer's
trajectory layout (:mod:`goalax.loops.offline_data`), on the device once, read by every seed
(not over the seed axis) and never changed, so it is neither part of the state nor of its
checkpoints. Any off-policy agent (:class:`goalax.agents.base.OffPolicyAgent`: ``sampling``,
``update``) trains here unchanged; the env only evaluates (the host loop, as online). The
schedule is :func:`goalax.loops.settings.offline_schedule` (``--num_gradient_steps`` over
``--num_evals`` epochs).

Besides the agent's metrics, an agent that draws hindsight goals reports ``hindsight_fallback``
(:func:`goalax.replay.sampler.hindsight_fallback`): 0 here unless a trajectory is too short for
a goal the law drew, since every trajectory of a dataset is complete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import flax
import jax
import jax.numpy as jnp

from goalax.envs import VectorGoalEnv
from goalax.loops.base import Trainer
from goalax.loops.settings import Schedule
from goalax.parallel import devices
from goalax.replay import buffer as replay
from goalax.replay.sampler import hindsight_fallback, make_sampler

if TYPE_CHECKING:
  from goalax.config import TrainConfig
  from goalax.envs import GoalEnv


def check_budget(config: TrainConfig, schedule: Schedule) -> str | None:
  """A warning when the run takes far more gradient steps than ``--num_gradient_steps`` asked
  (every epoch takes at least one), else None."""
  total = schedule.total_gradient_steps
  if total <= 1.5 * config.num_gradient_steps:
    return None
  return (
    f"the run takes {total:,} gradient steps, {total / config.num_gradient_steps:.1f}× "
    f"--num_gradient_steps {config.num_gradient_steps:,}: each of the --num_evals "
    f"{config.num_evals} epochs takes at least one; lower --num_evals to stay closer."
  )


#: Batches drawn at once, before their updates (see ``make_trainer``'s ``updates``).
SAMPLED_AT_ONCE = 16


@flax.struct.dataclass
class OfflineState:
  agent: Any  # the agent's own state (params, optimiser states, targets)
  key: jax.Array
  train_steps: jax.Array  # int32: gradient steps done


def make_trainer(
  config: TrainConfig,
  env: GoalEnv,
  agent,
  schedule: Schedule,
  placement: devices.Placement,
  data: replay.ReplayBuffer,
) -> Trainer:
  """The pure functions of an offline run of ``config`` training ``agent`` (an
  :class:`~goalax.agents.base.OffPolicyAgent`, wrapped for a sweep by the plan) on ``data`` (the
  dataset's buffer, on the device) on ``schedule``; ``env`` gives the goal rules (and the
  episode length of the sampler's rules); with a ``data`` placement each device samples its
  part of a batch."""
  batch_size = config.agent.batch_size
  venv = VectorGoalEnv(env, config.num_envs, config.episode_length, config.action_repeat)
  hindsight = agent.sampling.hindsight
  sample = make_sampler(env, agent.sampling, batch_size, venv.episode_length)

  def sampler_of(agent_state):
    """The goal sampler: the agent's own, or a swept member's (its discount is a leaf)."""
    if not hasattr(agent, "sampling_of"):
      return sample
    return make_sampler(env, agent.sampling_of(agent_state), batch_size, venv.episode_length)

  split_batch = devices.split_batch(placement)

  def init(key: jax.Array) -> OfflineState:
    k_agent, k_run = jax.random.split(key)
    return OfflineState(agent.init(k_agent), k_run, jnp.zeros((), jnp.int32))

  def updates(agent_state, keys: jax.Array, data: replay.ReplayBuffer):
    """Gradient steps, one per key of ``keys [C, 2]``: the ``C`` batches drawn at once (the
    sampler vmapped over their keys: its many small ops run once per chunk, not per step),
    then ``C`` updates in a ``lax.scan``. The same batches and updates as one step at a time."""
    k_samples, k_updates = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    sample_chunk = jax.vmap(sampler_of(agent_state), in_axes=(None, 0))
    batches, infos = sample_chunk(data, k_samples)

    def gradient_step(agent_state, drawn):
      batch, info, key = drawn
      batch = split_batch(batch)  # data parallel: each device's part of the batch
      agent_state, metrics = agent.update(agent_state, batch, key)
      if hindsight:
        metrics["hindsight_fallback"] = hindsight_fallback(info)
      return agent_state, metrics

    return jax.lax.scan(gradient_step, agent_state, (batches, infos, k_updates))

  def run_epoch(state: OfflineState, data: replay.ReplayBuffer) -> tuple[OfflineState, dict]:
    steps = schedule.gradient_steps_per_epoch
    key, k_steps = jax.random.split(state.key)
    keys = jax.random.split(k_steps, steps)
    chunks, rest = divmod(steps, SAMPLED_AT_ONCE)
    agent_state, metrics = state.agent, []
    if chunks:
      whole = keys[: chunks * SAMPLED_AT_ONCE].reshape(chunks, SAMPLED_AT_ONCE, *keys.shape[1:])
      chunk = lambda agent_state, keys: updates(agent_state, keys, data)
      agent_state, chunked = jax.lax.scan(chunk, agent_state, whole)
      metrics.append(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), chunked))
    if rest:
      agent_state, last = updates(agent_state, keys[chunks * SAMPLED_AT_ONCE :], data)
      metrics.append(last)
    metrics = jax.tree.map(lambda *parts: jnp.concatenate(parts).mean(), *metrics)
    state = state.replace(agent=agent_state, key=key, train_steps=state.train_steps + steps)
    return state, metrics

  return Trainer(init, None, run_epoch, agent, venv, schedule, data)
