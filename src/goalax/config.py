"""Typed, validated run configuration. Every field's docstring is its ``--help`` text.

Flags keep JaxGCRL's spellings (``--num_envs``, ``--h_dim``, ...), so its sweep lines run as
written; the agent's own fields live in ``goalax.agents.crl.CRLConfig`` and appear without prefix.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Literal

import tyro

from goalax.agents.crl import CRLConfig
from goalax.errors import UsageError


class ConfigError(UsageError):
  """An impossible flag value; the message names the flag and what would work."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Train a goal-conditioned agent with contrastive RL (CRL)."""

  env: str = "reacher"
  """Environment to train on (see 'goalax envs')."""
  backend: Literal["spring", "positional", "generalized", "mjx"] | None = None
  """Physics pipeline; default: the env's own default."""
  eval_env: str | None = None
  """Environment to evaluate on (e.g. ant_u_maze_eval); default: the training env."""
  seed: int = 0
  """Random seed of the first agent; seed k of a --num_seeds K run uses seed + k."""
  num_seeds: int = 1
  """Independent agents trained at once in one process (vmap over the whole training state)."""
  num_timesteps: int = 1_000_000
  """Environment steps to train for, per seed (at least this many are taken; the exact count is
  reported)."""
  num_evals: int = 20
  """Evaluations during training (one per epoch); an evaluation also runs before training."""
  num_envs: int = 128
  """Parallel training environments."""
  num_eval_envs: int = 128
  """Episodes per evaluation (one per parallel eval env, each with a fresh goal)."""
  episode_length: int | None = None
  """Time limit per episode; default: the env's recommended length."""
  action_repeat: int = 1
  """Physics steps per action (the env step count includes the repeats)."""
  unroll_length: int = 62
  """Steps each env takes per training step, before the gradient updates of that step."""
  batch_size: int = 256
  """Transitions per gradient step (also the number of contrastive negatives + 1)."""
  discounting: float = 0.99
  """γ of the hindsight goal distribution: a goal is the state k ≥ 1 steps later in the same
  trajectory with probability ∝ γ^(k−1)."""
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
  agent: Annotated[CRLConfig, tyro.conf.OmitArgPrefixes] = CRLConfig()
  """CRL agent: networks, energy, loss, learning rates."""
  run_dir: str = "runs"
  """Parent folder of run directories; each run writes a new one, never overwriting."""
  exp_name: str | None = None
  """Run name; default: <env>_crl_s<seed>_<time>."""
  project_name: str = "goalax"
  """Weights & Biases project (with --log_wandb)."""
  group_name: str | None = None
  """Weights & Biases group (with --log_wandb)."""
  log_wandb: bool = False
  """Log to Weights & Biases; set WANDB_MODE=offline to log without an account."""
  progress: bool = True
  """Print a progress line per evaluation."""
  fast_compile: bool = False
  """Compile with XLA's cheapest settings (CPU only: no LLVM optimisation, no fusion emitters):
  a small reacher run compiles in 14 s instead of 26 s, but trains about 3× slower. For smoke
  tests and debugging short runs; ignored on GPU and TPU."""

  # ---- derived quantities ----------------------------------------------------------------
  @property
  def env_steps_per_train_step(self) -> int:
    return self.num_envs * self.unroll_length * self.action_repeat

  @property
  def updates_per_train_step(self) -> int:
    raw = self.env_steps_per_train_step * self.multiplier_num_sgd_steps / self.env_steps_per_update
    return max(1, round(raw))

  @property
  def prefill_env_steps(self) -> int:
    return self.min_replay_size * self.num_envs * self.action_repeat

  @property
  def train_steps_per_epoch(self) -> int:
    remaining = max(0, self.num_timesteps - self.prefill_env_steps)
    total = max(1, math.ceil(remaining / self.env_steps_per_train_step))
    return max(1, math.ceil(total / self.num_evals))

  @property
  def total_env_steps(self) -> int:
    """The exact number of env steps the run takes (>= num_timesteps)."""
    return (
      self.prefill_env_steps
      + self.num_evals * self.train_steps_per_epoch * self.env_steps_per_train_step
    )


def _positive(flag: str, value) -> None:
  if not value > 0:
    raise ConfigError(f"--{flag} must be positive, got {value}.")


def validate(config: TrainConfig, episode_length: int) -> None:
  """Raises ConfigError with one sentence naming the flag when a value cannot work."""
  for flag in (
    "num_seeds",
    "num_timesteps",
    "num_evals",
    "num_envs",
    "num_eval_envs",
    "action_repeat",
    "unroll_length",
    "batch_size",
    "min_replay_size",
    "max_replay_size",
    "env_steps_per_update",
    "multiplier_num_sgd_steps",
  ):
    _positive(flag, getattr(config, flag))
  if config.episode_length is not None:
    _positive("episode_length", config.episode_length)
  if not 0.0 < config.discounting <= 1.0:
    raise ConfigError(f"--discounting must be in (0, 1], got {config.discounting}.")
  if config.min_replay_size > config.max_replay_size:
    raise ConfigError(
      f"--min_replay_size ({config.min_replay_size}) must not exceed --max_replay_size "
      f"({config.max_replay_size}); e.g. --min_replay_size {config.max_replay_size // 10}."
    )
  if config.unroll_length > config.max_replay_size:
    raise ConfigError(
      f"--unroll_length ({config.unroll_length}) must not exceed --max_replay_size "
      f"({config.max_replay_size}): one unroll has to fit in the buffer."
    )
  if config.min_replay_size < 2:
    raise ConfigError(
      f"--min_replay_size must be at least 2 (a transition and a later state), "
      f"got {config.min_replay_size}."
    )
  if config.batch_size > config.min_replay_size * config.num_envs:
    raise ConfigError(
      f"--batch_size ({config.batch_size}) is larger than the buffer holds when updates start "
      f"(--min_replay_size {config.min_replay_size} × --num_envs {config.num_envs} = "
      f"{config.min_replay_size * config.num_envs} transitions); lower --batch_size or raise "
      f"--min_replay_size to at least {math.ceil(config.batch_size / config.num_envs)}."
    )
  del episode_length
  _positive("h_dim", config.agent.h_dim)
  _positive("n_hidden", config.agent.n_hidden)
  _positive("repr_dim", config.agent.repr_dim)
  for flag in ("critic_lr", "actor_lr", "alpha_lr"):
    _positive(flag, getattr(config.agent, flag))
  from goalax.agents import crl

  try:
    crl.resolve_energy_fn(config.agent.energy_fn)
    crl.resolve_contrastive_loss(config.agent.contrastive_loss_fn)
  except ValueError as e:
    raise ConfigError(str(e)) from None
