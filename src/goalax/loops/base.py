"""What a training loop gives the host side: a :class:`Trainer` of pure functions and the run's
:class:`Schedule` of env steps and gradient steps.

The host loop (:mod:`goalax.run.host_loop`) drives any loop through these two and knows nothing of
replay buffers or rollouts: it compiles ``init``, ``prefill`` (when the loop has one) and
``run_epoch``, counts env steps with the schedule, and reads ``state.agent`` through the
:class:`goalax.agents.base.Agent` interface.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax


@dataclasses.dataclass(frozen=True)
class Schedule:
  """The env steps and gradient steps of a run, per seed, derived from its config by its loop.

  A run is an optional prefill, then ``epochs`` epochs of ``train_steps_per_epoch`` training
  steps, each collecting ``env_steps_per_train_step`` env steps and taking
  ``gradient_steps_per_train_step`` gradient steps; an evaluation follows every epoch.
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
  def gradient_steps_per_env_step(self) -> float:
    return self.gradient_steps_per_train_step / self.env_steps_per_train_step

  def describe(self) -> str:
    """One line on the update ratio and the budget, printed when a run starts."""
    g, e = self.gradient_steps_per_train_step, self.env_steps_per_train_step
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


def budget_warning(config, schedule: Schedule) -> str | None:
  """A warning when the run takes far more env steps than ``--num_timesteps`` asked (every
  epoch takes at least one whole training step), else None."""
  total = schedule.total_env_steps
  if total <= 1.5 * config.num_timesteps:
    return None
  return (
    f"the run takes {total:,} env steps, {total / config.num_timesteps:.1f}× --num_timesteps "
    f"{config.num_timesteps:,}: each of the --num_evals {config.num_evals} epochs takes at "
    f"least one training step of {schedule.env_steps_per_train_step:,} env steps; lower "
    "--num_evals, --num_envs or --unroll_length to stay closer to the budget."
  )


class Trainer(NamedTuple):
  """A training run as pure functions of one state pytree (jit-, vmap- and checkpoint-able).

  The state has at least ``agent`` (the agent's own state), ``env_state``, ``key`` and
  ``train_steps``; what else it holds (a replay buffer, ...) is the loop's business."""

  init: Callable[[jax.Array], Any]
  """``key -> state``."""
  prefill: Callable[[Any], Any] | None
  """``state -> state``: random-action steps before training, or None when the loop has none."""
  run_epoch: Callable[[Any], tuple[Any, dict]]
  """``state -> (state, training metrics, each a scalar mean over the epoch)``."""
  agent: Any
  """The :class:`goalax.agents.base.Agent` being trained."""
  venv: Any
  """The :class:`goalax.envs.VectorGoalEnv` of the training envs."""
  schedule: Schedule
