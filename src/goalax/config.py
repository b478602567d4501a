"""Typed, validated run configuration. Every field's docstring is its ``--help`` text.

A :class:`TrainConfig` is the run's settings (env, seeds, budget, evaluations, outputs) plus one
agent's config in ``agent`` (``TrainConfig[SACConfig]`` for ``goalax train sac``). Flags keep
JaxGCRL's spellings (``--num_envs``, ``--h_dim``, ...) and the agent's fields appear without a
prefix, so its sweep lines run as written.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Generic, Literal, TypeVar

import tyro

from goalax.agents.crl import CRLConfig
from goalax.errors import ConfigError, require_positive

__all__ = ["ConfigError", "TrainConfig", "validate"]

AgentConfigT = TypeVar("AgentConfigT")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Generic[AgentConfigT]):
  """Train a goal-conditioned agent."""

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
  agent: Annotated[AgentConfigT, tyro.conf.OmitArgPrefixes] = CRLConfig()
  """The agent's settings: networks, replay, losses, learning rates."""
  run_dir: str = "runs"
  """Parent folder of run directories; each run writes a new one, never overwriting."""
  exp_name: str | None = None
  """Run name; default: <env>_<algorithm>_s<seed>_<time>."""
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
    return self.num_envs * self.agent.unroll_length * self.action_repeat

  @property
  def updates_per_train_step(self) -> int:
    raw = (
      self.env_steps_per_train_step
      * self.agent.multiplier_num_sgd_steps
      / self.agent.env_steps_per_update
    )
    return max(1, round(raw))

  @property
  def prefill_env_steps(self) -> int:
    return self.agent.min_replay_size * self.num_envs * self.action_repeat

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


def validate(config: TrainConfig) -> None:
  """Raises ConfigError with one sentence naming the flag when a value cannot work."""
  require_positive(
    config, "num_seeds", "num_timesteps", "num_evals", "num_envs", "num_eval_envs", "action_repeat"
  )
  if config.episode_length is not None:
    require_positive(config, "episode_length")
  config.agent.validate(config.num_envs)
