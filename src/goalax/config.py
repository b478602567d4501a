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

__all__ = ["ConfigError", "TrainConfig", "check_budget", "load_config_file", "validate"]

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
  config_file: Annotated[str | None, tyro.conf.arg(name="config")] = None
  """Read flags from this YAML file: a run's config.yaml, or a mapping of flag names to values.
  Flags given on the command line override it; the run name (--exp_name) is not taken from it."""
  resume: str | None = None
  """Continue the run in this run directory from its newest checkpoint, ending exactly as the
  uninterrupted run would ('goalax resume RUN_DIR' does the same). Only output and logging flags
  may differ from the run's own."""
  checkpoint_every: int = 1
  """Checkpoint the whole training state (every seed's agent and optimiser states, replay buffer,
  env states, keys) every this many evaluations, after the prefill, at the last evaluation and
  when stopped by Ctrl-C or SIGTERM; 0: only at the last evaluation and when stopped."""
  keep_checkpoints: int = 2
  """Newest checkpoints kept; older ones are deleted once a newer one is complete."""
  video_every: int = 0
  """Render one evaluation episode of the first seed every this many evaluations into
  RUN_DIR/videos/ (and to wandb with --log_wandb); 0: no videos. MuJoCo renders in software on a
  CPU-only machine, see the README for the measured cost."""
  video_format: Literal["mp4", "gif"] = "mp4"
  """Format of the training videos."""
  log_tensorboard: bool = False
  """Also write TensorBoard event files to RUN_DIR/tensorboard/ (tensorboardX, no TensorFlow)."""
  plot_curves: bool = True
  """Redraw RUN_DIR/curves.png at every evaluation: success, time near goal and final distance
  against env steps (mean and range over seeds)."""

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
  require_positive(config, "keep_checkpoints")
  for flag in ("checkpoint_every", "video_every"):
    if getattr(config, flag) < 0:
      raise ConfigError(f"--{flag} must be 0 or positive, got {getattr(config, flag)}.")
  config.agent.validate(config.num_envs)


def check_budget(config: TrainConfig) -> str | None:
  """Raises ConfigError when ``--num_timesteps`` is below the prefill alone; returns a warning
  when the run takes far more env steps than asked (every epoch takes at least one training
  step), else None."""
  prefill, total = config.prefill_env_steps, config.total_env_steps
  if config.num_timesteps < prefill:
    raise ConfigError(
      f"--num_timesteps {config.num_timesteps:,} is less than the prefill alone "
      f"(--min_replay_size {config.agent.min_replay_size} × --num_envs {config.num_envs} × "
      f"--action_repeat {config.action_repeat} = {prefill:,} random-action env steps), so the "
      f"run would take {total:,} env steps; raise --num_timesteps to at least {total:,} or lower "
      "--min_replay_size or --num_envs."
    )
  if total > 1.5 * config.num_timesteps:
    return (
      f"the run takes {total:,} env steps, {total / config.num_timesteps:.1f}× --num_timesteps "
      f"{config.num_timesteps:,}: each of the --num_evals {config.num_evals} epochs takes at "
      f"least one training step of {config.env_steps_per_train_step:,} env steps; lower "
      "--num_evals, --num_envs or --unroll_length to stay closer to the budget."
    )
  return None


# ---- configs saved in YAML ------------------------------------------------------------------
# Run fields that describe how a run was launched, not the run: never taken from a file.
LAUNCH_FIELDS = ("config_file", "resume", "exp_name")


def _from_mapping(cls, values: dict, where: str, skip: tuple[str, ...] = ()):
  """``cls(**values)`` with lists turned back into tuples; unknown keys are a ConfigError."""
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(values) - set(fields))
  if unknown:
    raise ConfigError(
      f"{where} has unknown setting(s) {', '.join(unknown)} for {cls.__name__}; "
      f"known: {', '.join(fields)}."
    )
  kwargs = {}
  for name, value in values.items():
    if name in skip:
      continue
    default = fields[name].default
    kwargs[name] = tuple(value) if isinstance(value, list) and isinstance(default, tuple) else value
  return cls(**kwargs)


def config_from_mapping(data: dict, algo: str, where: str) -> TrainConfig:
  """A ``TrainConfig`` of agent ``algo`` from ``{run field: value, "agent": {...}}``."""
  from goalax import agents

  data = dict(data)
  agent = _from_mapping(agents.REGISTRY[algo].config_class, data.pop("agent", None) or {}, where)
  return dataclasses.replace(
    _from_mapping(TrainConfig, data, where, skip=LAUNCH_FIELDS), agent=agent
  )


def read_yaml(path: str, flag: str) -> dict:
  """The mapping in a YAML file, or ConfigError naming ``flag`` and the path."""
  import yaml

  try:
    with open(path) as f:
      data = yaml.safe_load(f)
  except OSError as e:
    raise ConfigError(f"cannot read {flag} {path}: {e.strerror}.") from None
  except yaml.YAMLError as e:
    raise ConfigError(f"{flag} {path} is not valid YAML: {e}".replace("\n", " ")) from None
  if not isinstance(data, dict):
    raise ConfigError(f"{flag} {path} must hold a mapping of flag names to values.")
  return data


def load_config_file(path: str, algo: str, flag: str = "--config") -> TrainConfig:
  """The config in a YAML file: a run's config.yaml (``{config: ..., derived: ...}``) or a
  plain mapping of flag names to values (agent flags under ``agent:`` or at the top level)."""
  data = read_yaml(path, flag)
  saved_algo = (data.get("derived") or {}).get("algo", algo)
  if saved_algo != algo:
    raise ConfigError(
      f"{flag} {path} is a {saved_algo} run; train it with 'goalax train {saved_algo} "
      f"{flag} {path}'."
    )
  values = dict(data["config"]) if "config" in data else dict(data)
  if "config" not in data:  # flat: agent flags may sit beside the run flags
    from goalax import agents

    agent_fields = {f.name for f in dataclasses.fields(agents.REGISTRY[algo].config_class)}
    run_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    agent_values = dict(values.pop("agent", None) or {})
    for name in [n for n in values if n in agent_fields and n not in run_fields]:
      agent_values[name] = values.pop(name)
    values["agent"] = agent_values
  return config_from_mapping(values, algo, f"{flag} {path}")


def load_run_config(run_dir: str, flag: str = "run directory") -> tuple[TrainConfig, dict]:
  """``(config, derived)`` of a run directory, from its config.yaml."""
  import os

  path = os.path.join(run_dir, "config.yaml")
  if not os.path.isfile(path):
    raise ConfigError(f"{run_dir} ({flag}) is not a goalax run directory: it has no config.yaml.")
  data = read_yaml(path, flag)
  derived = data.get("derived") or {}
  from goalax import agents

  if derived.get("algo") not in agents.REGISTRY:
    raise ConfigError(f"{path} names no known algorithm (derived.algo: {derived.get('algo')}).")
  return config_from_mapping(data["config"], derived["algo"], path), derived
