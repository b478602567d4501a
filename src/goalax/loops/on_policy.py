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
:class:`goalax.agents.base.OnPolicyAgent`; the rollout schedule (:class:`OnPolicyConfig`,
:func:`schedule`) belongs to this loop.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

import flax
import jax
import jax.numpy as jnp

from goalax.errors import ConfigError, require_positive
from goalax.loops.base import Schedule, Trainer, budget_warning, whole_train_steps_per_epoch

if TYPE_CHECKING:
  from goalax.config import TrainConfig
  from goalax.envs import GoalEnv


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig:
  """Rollout and update schedule of the on-policy loop, inherited by every on-policy agent's
  config (flags keep Brax PPO's and JaxGCRL's names)."""

  unroll_length: int = 10
  """Steps each env takes per rollout (one rollout per training step; Brax PPO's and JaxGCRL's
  default)."""
  num_minibatches: int = 16
  """Minibatches per pass over a rollout; each holds num_envs × unroll_length // num_minibatches
  transitions drawn without replacement (Brax PPO's and JaxGCRL's default count). When the
  rollout does not divide evenly, the few transitions left over sit out that pass (a different
  random few each pass). JaxGCRL also has --batch_size (unrolls per minibatch, collecting
  batch_size × num_minibatches / num_envs unrolls per training step, which must divide); goalax
  derives the minibatch from the rollout instead, so there is nothing to divide."""
  num_updates_per_batch: int = 4
  """Passes (epochs) of minibatch steps over each rollout; gradient steps per training step =
  num_updates_per_batch × num_minibatches. Brax PPO and JaxGCRL: 2; goalax: 4 (the PPO paper's
  10 for MuJoCo is more than a CPU affords; every PPO run measured in benchmarks/ used 4, 2 was
  not compared)."""
  dense_reward: bool = False
  """Train on the env's distance reward ``-dist`` (summed over --action_repeat) instead of its
  sparse success reward (1 within the goal threshold, else 0, the default). Evaluation reports
  success and distance either way."""

  def validate_rollout(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    require_positive(self, "unroll_length", "num_minibatches", "num_updates_per_batch")
    transitions = num_envs * self.unroll_length
    if self.num_minibatches > transitions:
      raise ConfigError(
        f"--num_minibatches ({self.num_minibatches}) is more than a rollout's "
        f"{transitions} transitions (--num_envs {num_envs} × --unroll_length "
        f"{self.unroll_length}); use at most {transitions}, or raise --num_envs or "
        f"--unroll_length to at least {-(-self.num_minibatches // num_envs)}."
      )

  def minibatch_size(self, num_envs: int) -> int:
    """Transitions per minibatch: ``num_envs × unroll_length // num_minibatches``."""
    return num_envs * self.unroll_length // self.num_minibatches


def schedule(config: TrainConfig) -> Schedule:
  """Training steps of ``num_envs × unroll_length × action_repeat`` env steps and
  ``num_updates_per_batch × num_minibatches`` gradient steps; no prefill."""
  run = config.agent
  env_steps = config.num_envs * run.unroll_length * config.action_repeat
  gradient_steps = run.num_updates_per_batch * run.num_minibatches
  steps = whole_train_steps_per_epoch(config.num_timesteps, 0, env_steps, config.num_evals)
  return Schedule(env_steps, gradient_steps, steps, config.num_evals)


def check_budget(config: TrainConfig) -> str | None:
  """Nothing comes before training here; returns a warning when the run takes far more env
  steps than asked, else None."""
  return budget_warning(config, schedule(config))


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


def make_trainer(config: TrainConfig, env: GoalEnv) -> Trainer:
  from goalax.agents import make_agent
  from goalax.envs import VectorGoalEnv  # here: importing the loop's settings stays light

  run = config.agent  # rollout and schedule settings (OnPolicyConfig)
  plan = schedule(config)
  train_env = with_dense_reward(env) if run.dense_reward else env
  venv = VectorGoalEnv(train_env, config.num_envs, config.episode_length, config.action_repeat)
  agent = make_agent(config.agent, env.state_size, env.goal_size, env.action_size)

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
    state, metrics = jax.lax.scan(train_step, state, None, length=plan.train_steps_per_epoch)
    return state, jax.tree.map(jnp.mean, metrics)

  return Trainer(init, None, run_epoch, agent, venv, plan)
