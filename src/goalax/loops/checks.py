"""The checks of the loops' settings (:mod:`goalax.loops.settings`): one sentence naming the flag
when a value cannot work. Every agent config's ``validate`` calls the one of its loop."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from goalax.errors import ConfigError, require_positive

if TYPE_CHECKING:
  from goalax.loops.settings import OffPolicyConfig, OnPolicyConfig


def check_replay(settings: OffPolicyConfig, num_envs: int) -> None:
  """Raises ConfigError with one sentence naming the flag when a replay setting cannot work
  with ``num_envs`` envs (every off-policy agent's ``validate`` calls it)."""
  require_positive(
    settings,
    "unroll_length",
    "batch_size",
    "min_replay_size",
    "max_replay_size",
    "env_steps_per_update",
    "multiplier_num_sgd_steps",
  )
  if settings.min_replay_size > settings.max_replay_size:
    raise ConfigError(
      f"--min_replay_size ({settings.min_replay_size}) must not exceed --max_replay_size "
      f"({settings.max_replay_size}); e.g. --min_replay_size {settings.max_replay_size // 10}."
    )
  if settings.unroll_length > settings.max_replay_size:
    raise ConfigError(
      f"--unroll_length ({settings.unroll_length}) must not exceed --max_replay_size "
      f"({settings.max_replay_size}): one unroll has to fit in the buffer."
    )
  if settings.min_replay_size < 2:
    raise ConfigError(
      f"--min_replay_size must be at least 2 (a transition and a later state), "
      f"got {settings.min_replay_size}."
    )
  if settings.batch_size > settings.min_replay_size * num_envs:
    raise ConfigError(
      f"--batch_size ({settings.batch_size}) is larger than the buffer holds when updates start "
      f"(--min_replay_size {settings.min_replay_size} × --num_envs {num_envs} = "
      f"{settings.min_replay_size * num_envs} transitions); lower --batch_size or raise "
      f"--min_replay_size to at least {math.ceil(settings.batch_size / num_envs)}."
    )


def check_rollout(settings: OnPolicyConfig, num_envs: int) -> None:
  """Raises ConfigError with one sentence naming the flag when a rollout setting cannot work
  with ``num_envs`` envs (every on-policy agent's ``validate`` calls it)."""
  require_positive(settings, "unroll_length", "num_minibatches", "num_updates_per_batch")
  transitions = num_envs * settings.unroll_length
  if settings.num_minibatches > transitions:
    raise ConfigError(
      f"--num_minibatches ({settings.num_minibatches}) is more than a rollout's "
      f"{transitions} transitions (--num_envs {num_envs} × --unroll_length "
      f"{settings.unroll_length}); use at most {transitions}, or raise --num_envs or "
      f"--unroll_length to at least {-(-settings.num_minibatches // num_envs)}."
    )
