"""What a training loop gives the host side: a :class:`Trainer` of pure functions and the run's
:class:`Schedule` of env steps and gradient steps.

The host loop (:mod:`goalax.run.host_loop`) drives any loop through these two and knows nothing of
replay buffers or rollouts: it compiles ``init``, ``prefill`` (when the loop has one) and
``run_epoch``, counts env steps (gradient steps offline) with the schedule, and reads
``state.agent`` through the :class:`goalax.agents.base.Agent` interface. An offline trainer also
has ``data``, the dataset on the device, which ``run_epoch`` takes as a second argument: shared by
every seed, never part of the state or its checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from goalax.loops.settings import Schedule


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

  The state has at least ``agent`` (the agent's own state), ``key`` and ``train_steps`` (and
  ``env_state`` online); what else it holds (a replay buffer, ...) is the loop's business."""

  init: Callable[[jax.Array], Any]
  """``key -> state``."""
  prefill: Callable[[Any], Any] | None
  """``state -> state``: random-action steps before training, or None when the loop has none."""
  run_epoch: Callable[..., tuple[Any, dict]]
  """``state -> (state, training metrics, each a scalar mean over the epoch)``; with ``data``,
  ``(state, data) -> ...``."""
  agent: Any
  """The :class:`goalax.agents.base.Agent` being trained."""
  venv: Any
  """The :class:`goalax.envs.VectorGoalEnv` of the training envs."""
  schedule: Schedule
  data: Any = None
  """Offline: the dataset (a pytree of device arrays without a seed axis, read by every seed);
  None online."""

  @property
  def data_args(self) -> tuple:
    """The arguments of ``run_epoch`` after the state: ``(data,)`` offline, else none."""
    return () if self.data is None else (self.data,)
