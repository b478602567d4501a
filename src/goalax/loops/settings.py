"""The loops' settings: what an agent's config inherits from the loop that trains it, and the
run's :class:`Schedule` of env steps and gradient steps those settings give.

Plain dataclasses that import nothing of goalax, so an agent's config (and ``goalax.config``)
can name its loop without loading it. Each settings class names its loop (``LOOP``, a key of
:data:`goalax.loops.LOOPS`) and derives the schedule (``run_schedule``); the checks of the values
live with the loop that needs them (``off_policy.check_replay``, ``on_policy.check_rollout``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class Schedule:
  """The env steps and gradient steps of a run, per seed, derived from its config by its loop.

  A run is an optional prefill, then ``epochs`` epochs of ``train_steps_per_epoch`` training
  steps, each collecting ``env_steps_per_train_step`` env steps and taking
  ``gradient_steps_per_train_step`` gradient steps; an evaluation follows every epoch. Offline
  (:func:`offline_schedule`) a training step is one gradient step on a dataset and collects no
  env steps (``env_steps_per_train_step == 0``, :attr:`offline`).
  """

  env_steps_per_train_step: int
  """Env steps collected by one training step (all envs, action repeats included)."""
  gradient_steps_per_train_step: int
  """Gradient steps taken by one training step."""
  train_steps_per_epoch: int
  """Training steps per epoch (between two evaluations)."""
  epochs: int
  """Epochs of the run (``--num_evals``)."""
  prefill_env_steps: int = 0
  """Env steps collected with random actions before the first training step (off-policy)."""

  @property
  def env_steps_per_epoch(self) -> int:
    return self.train_steps_per_epoch * self.env_steps_per_train_step

  @property
  def total_env_steps(self) -> int:
    """The exact number of env steps the run takes (at least ``--num_timesteps``)."""
    return self.prefill_env_steps + self.epochs * self.env_steps_per_epoch

  @property
  def offline(self) -> bool:
    """Whether the run trains on a fixed dataset (no env steps while training)."""
    return self.env_steps_per_train_step == 0

  @property
  def gradient_steps_per_epoch(self) -> int:
    return self.train_steps_per_epoch * self.gradient_steps_per_train_step

  @property
  def total_gradient_steps(self) -> int:
    """The exact number of gradient steps the run takes, per seed."""
    return self.epochs * self.gradient_steps_per_epoch

  @property
  def gradient_steps_per_env_step(self) -> float:
    """The update-to-data ratio; ``inf`` offline (gradient steps without env steps)."""
    if self.offline:
      return math.inf
    return self.gradient_steps_per_train_step / self.env_steps_per_train_step

  def describe(self) -> str:
    """One line on the update ratio and the budget, printed when a run starts."""
    g, e = self.gradient_steps_per_train_step, self.env_steps_per_train_step
    if self.offline:
      return (
        f"offline: {self.epochs} epochs × {self.gradient_steps_per_epoch:,} gradient steps = "
        f"{self.total_gradient_steps:,} gradient steps per seed, no env steps (evaluations apart)"
      )
    prefill = f" + {self.prefill_env_steps:,} prefill steps" if self.prefill_env_steps else ""
    return (
      f"{g} gradient steps per {e} env steps (1:{e / g:.1f}); {self.epochs} epochs × "
      f"{self.train_steps_per_epoch} training steps{prefill} = {self.total_env_steps:,} env "
      "steps per seed"
    )


def whole_train_steps_per_epoch(
  num_timesteps: int, before_training: int, per_train_step: int, epochs: int
) -> int:
  """Whole training steps per epoch so that ``before_training`` env steps plus every epoch's
  reach at least ``num_timesteps`` (at least one training step per epoch)."""
  remaining = max(0, num_timesteps - before_training)
  total = max(1, -(-remaining // per_train_step))
  return max(1, -(-total // epochs))


def offline_schedule(num_gradient_steps: int, epochs: int) -> Schedule:
  """The schedule of an offline run: ``epochs`` epochs of whole gradient steps (one per training
  step) that reach at least ``num_gradient_steps``; no env steps, no prefill."""
  return Schedule(0, 1, max(1, -(-num_gradient_steps // epochs)), epochs)


def schedule_of(config) -> Schedule:
  """The schedule of a run of ``config`` (a :class:`goalax.config.TrainConfig`): offline with
  ``--dataset`` (``--num_gradient_steps`` over ``--num_evals`` epochs), else from its agent's
  loop settings."""
  if getattr(config, "dataset", None):
    return offline_schedule(config.num_gradient_steps, config.num_evals)
  return config.agent.run_schedule(
    config.num_envs, config.action_repeat, config.num_timesteps, config.num_evals
  )


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
  """Replay and update schedule of the off-policy loop, inherited by every off-policy agent's
  config (flags keep JaxGCRL's names)."""

  LOOP: ClassVar[str] = "off_policy"
  """The loop that trains an agent with these settings (a key of goalax.loops.LOOPS)."""

  unroll_length: int = 62
  """Steps each env takes per training step, before the gradient updates of that step."""
  batch_size: int = 256
  """Transitions per gradient step."""
  min_replay_size: int = 1000
  """Rows (time steps per env) collected with random actions before the first update."""
  max_replay_size: int = 10000
  """Replay capacity in rows (time steps per env); memory = rows × num_envs × transition size."""
  env_steps_per_update: float = 16.0
  """Env steps per gradient step (the update-to-data ratio); 16 matches JaxGCRL's default ≈ 1:16.
  Gradient steps per training step = round(num_envs × unroll_length × action_repeat ×
  multiplier_num_sgd_steps / env_steps_per_update), at least 1."""
  multiplier_num_sgd_steps: float = 1.0
  """Multiplies the gradient steps per training step (JaxGCRL's flag)."""

  def run_schedule(
    self, num_envs: int, action_repeat: int, num_timesteps: int, num_evals: int
  ) -> Schedule:
    """Prefill, then training steps of ``num_envs × unroll_length × action_repeat`` env steps
    and ``round(that × multiplier_num_sgd_steps / env_steps_per_update)`` (at least 1) gradient
    steps."""
    env_steps = num_envs * self.unroll_length * action_repeat
    gradient_steps = max(
      1, round(env_steps * self.multiplier_num_sgd_steps / self.env_steps_per_update)
    )
    prefill = self.min_replay_size * num_envs * action_repeat
    steps = whole_train_steps_per_epoch(num_timesteps, prefill, env_steps, num_evals)
    return Schedule(env_steps, gradient_steps, steps, num_evals, prefill)


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig:
  """Rollout and update schedule of the on-policy loop, inherited by every on-policy agent's
  config (flags keep Brax PPO's and JaxGCRL's names)."""

  LOOP: ClassVar[str] = "on_policy"
  """The loop that trains an agent with these settings (a key of goalax.loops.LOOPS)."""

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

  def minibatch_size(self, num_envs: int) -> int:
    """Transitions per minibatch: ``num_envs × unroll_length // num_minibatches``."""
    return num_envs * self.unroll_length // self.num_minibatches

  def run_schedule(
    self, num_envs: int, action_repeat: int, num_timesteps: int, num_evals: int
  ) -> Schedule:
    """Training steps of ``num_envs × unroll_length × action_repeat`` env steps and
    ``num_updates_per_batch × num_minibatches`` gradient steps; no prefill."""
    env_steps = num_envs * self.unroll_length * action_repeat
    gradient_steps = self.num_updates_per_batch * self.num_minibatches
    steps = whole_train_steps_per_epoch(num_timesteps, 0, env_steps, num_evals)
    return Schedule(env_steps, gradient_steps, steps, num_evals)
