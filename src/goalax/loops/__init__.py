"""The training loops, by name: ``off_policy`` (replay buffer and goal sampler; CRL, SAC, TD3)
and ``on_policy`` (whole rollouts; PPO). An agent's registry entry names its loop
(:data:`goalax.agents.REGISTRY`); the host side sees a loop only through
:class:`~goalax.loops.base.Trainer` and :class:`~goalax.loops.base.Schedule`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from goalax.loops.base import Schedule, Trainer

if TYPE_CHECKING:
  from goalax.config import TrainConfig

LOOPS = {"off_policy": "goalax.loops.off_policy", "on_policy": "goalax.loops.on_policy"}


def loop_of(config: TrainConfig) -> ModuleType:
  """The module of the loop that trains ``config.agent``'s algorithm."""
  from goalax import agents

  return importlib.import_module(LOOPS[agents.spec_of(config.agent).loop])


def make_trainer(config: TrainConfig, env) -> Trainer:
  """The pure functions of a run of ``config`` on ``env``, for its agent's loop."""
  return loop_of(config).make_trainer(config, env)


def schedule(config: TrainConfig) -> Schedule:
  """Env steps and gradient steps of a run of ``config`` (from its loop's own settings)."""
  return loop_of(config).schedule(config)


def check_budget(config: TrainConfig) -> str | None:
  """Raises ConfigError when ``--num_timesteps`` cannot pay for what must come before training;
  returns a warning when the run takes far more env steps than asked, else None."""
  return loop_of(config).check_budget(config)


__all__ = ["LOOPS", "Schedule", "Trainer", "check_budget", "loop_of", "make_trainer", "schedule"]
