"""What a run derived from its config when it started (:class:`Derived`), saved under ``derived:``
in ``RUN_DIR/config.yaml`` beside the config itself."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from goalax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Derived:
  """What a run derived from its config when it started, saved under ``derived:`` in
  ``RUN_DIR/config.yaml``. With the config it rebuilds the run's agent and reads its checkpoints
  without the env or the training script (``load_policy``, ``goalax eval``, ``goalax resume``)."""

  episode_length: int
  """Time limit of the training episodes (``--episode_length`` or the env's own)."""
  algo: str
  """Registered name of the algorithm (``goalax train <algo>``)."""
  env_backend: str
  """Physics pipeline of the training env."""
  state_size: int
  """Width of the state part of an observation."""
  goal_size: int
  """Width of the goal part of an observation (``obs = concat(state, goal)``)."""
  action_size: int
  """Width of an action."""
  gradient_steps_per_train_step: int
  """Gradient steps per training step (runs saved before 2026-12-07 name it
  ``updates_per_train_step``)."""
  env_steps_per_train_step: int
  """Env steps collected per training step, every env and action repeat included."""
  train_steps_per_epoch: int
  """Training steps between two evaluations."""
  epochs: int
  """Epochs (evaluations after the one before training)."""
  prefill_env_steps: int
  """Random-action env steps before training (0 for loops without a prefill)."""
  total_env_steps: int
  """Env steps per seed of the whole run."""
  gradient_steps_per_env_step: float
  """The update-to-data ratio (``.inf`` offline: no env steps)."""
  seeds: list[int]
  """The seeds of the run's agents, in the order of the seed axis of every saved array."""
  state_bytes: int
  """Bytes of the training state of every seed (replay buffer, env states, agent, ...)."""
  jax_backend: str
  """JAX's default backend when the run started (cpu, gpu, tpu)."""
  jax_version: str
  """JAX's version when the run started."""
  loop: str = "off_policy"
  """Training loop of the run: off_policy, on_policy, or offline with --dataset (runs saved
  before the on-policy loop existed lack it)."""
  configs: list[str] | None = None
  """With --sweep: each member's swept values (``critic_lr=0.0001``), in the order of
  ``seeds``; None without."""
  total_gradient_steps: int = 0
  """Gradient steps per seed of the whole run (runs saved before the offline loop lack it)."""

  OLD_NAMES: ClassVar[dict[str, str]] = {"updates_per_train_step": "gradient_steps_per_train_step"}

  @classmethod
  def from_mapping(cls, values: dict, where: str) -> Derived:
    """The record from ``config.yaml``'s ``derived:`` mapping; keys it does not know are left
    out (a newer goalax may save more), missing ones are a ConfigError naming the file."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {cls.OLD_NAMES.get(k, k): v for k, v in values.items()}
    try:
      return cls(**{k: v for k, v in values.items() if k in fields})
    except TypeError as e:
      raise ConfigError(f"{where} has an incomplete 'derived' record ({e}).") from None

  def as_mapping(self) -> dict:
    return dataclasses.asdict(self)
