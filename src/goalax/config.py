"""Typed, validated run configuration. Every field's docstring is its ``--help`` text.

A :class:`TrainConfig` is the run's settings (env, seeds, budget, evaluations, outputs) plus one
agent's config in ``agent`` (``TrainConfig[SACConfig]`` for ``goalax train sac``). Flags keep
JaxGCRL's spellings (``--num_envs``, ``--h_dim``, ...) and the agent's fields appear without a
prefix, so its sweep lines run as written.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Generic, Literal, TypeVar

import tyro

from goalax.errors import ConfigError, require_positive
from goalax.helptext import default_is
from goalax.run.derived import Derived

__all__ = [
  "ConfigError",
  "Role",
  "Derived",
  "TrainConfig",
  "load_config_file",
  "load_run_config",
  "validate",
]

AgentConfigT = TypeVar("AgentConfigT")


# ---- what a field is to a run ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Role:
  """What a run field is to the run: whether the compiled programs depend on it, what a resumed
  run does with it, and whether it is read from a ``--config`` file. A field's role is in its
  metadata (:func:`role`); a field without one is a ``SETTING``. The compile-cache key
  (:func:`program_fields`), the resume check (:func:`resume_fields`) and the fields a config
  file may not give (:func:`launch_fields`) are read from the roles, so a new field is classified
  where it is declared."""

  compiled: bool
  """Whether the compiled programs depend on it (it is part of their cache key)."""
  on_resume: Literal["fixed", "given", "the run's"]
  """'fixed': a resumed run refuses a different value; 'given': the value given on resume is
  used (outputs and logging); "the run's": ignored, the run's own is kept (where, not what)."""
  from_file: bool = True
  """Whether a ``--config`` file (or a saved config.yaml) gives it."""


SETTING = Role(compiled=True, on_resume="fixed")  # what is computed: env, sizes, budget, agent
SEED = Role(compiled=False, on_resume="fixed")  # an argument of the programs, not part of them
OUTPUT = Role(compiled=False, on_resume="given")  # what is written or shown, not what is computed
PLACE = Role(compiled=False, on_resume="the run's")  # where the run's folder is
LAUNCH = Role(compiled=False, on_resume="the run's", from_file=False)  # how it was started
ROLE_KEY = "goalax_role"


def role(kind: Role, default):
  """A dataclass field with ``default`` and the role ``kind``."""
  return dataclasses.field(default=default, metadata={ROLE_KEY: kind})


def role_of(field: dataclasses.Field) -> Role:
  """The role of a config field (``SETTING`` when its metadata names none)."""
  return field.metadata.get(ROLE_KEY, SETTING)


def _fields_where(cls, test) -> tuple[str, ...]:
  return tuple(f.name for f in dataclasses.fields(cls) if test(role_of(f)))


def program_fields(cls) -> tuple[str, ...]:
  """Fields of a run config class (agent included) the compiled programs depend on."""
  return _fields_where(cls, lambda r: r.compiled)


def resume_fields(cls, on_resume: str) -> tuple[str, ...]:
  """Fields of a run config class whose role on resume is ``on_resume``."""
  return _fields_where(cls, lambda r: r.on_resume == on_resume)


def launch_fields(cls) -> tuple[str, ...]:
  """Fields that say how a run was launched: never read from a config file."""
  return _fields_where(cls, lambda r: not r.from_file)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Generic[AgentConfigT]):
  """Train a goal-conditioned agent."""

  env: str = "reacher"
  """Environment to train on (see 'goalax envs')."""
  backend: Annotated[
    Literal["spring", "positional", "generalized", "mjx", "reference"] | None,
    default_is("the env's own"),
  ] = None
  """Physics pipeline; 'reference': the one the reference (JaxGCRL) runs this env on (see
  'goalax envs')."""
  eval_env: Annotated[str | None, default_is("the training env")] = None
  """Environment to evaluate on (e.g. ant_u_maze_eval)."""
  seed: int = role(SEED, 0)
  """Random seed of the first agent; seed k of a --num_seeds K run uses seed + k."""
  num_seeds: int = 1
  """Independent agents trained at once in one process (vmap over the whole training state)."""
  num_timesteps: int = 1_000_000
  """Environment steps to train for, per seed (at least this many are taken; the exact count is
  reported). Ignored offline (with --dataset), where --num_gradient_steps is the budget."""
  dataset: Annotated[str | None, default_is("online: the agent collects its own data")] = None
  """Train offline on this dataset: an .npz in OGBench's format (written by 'goalax collect'), or
  ogbench:NAME for OGBench's NAME.npz in its data folder (~/.ogbench/data, or OGBENCH_DATA_DIR).
  No env steps while training; the env (--env, whose state the dataset's observations must
  match) only evaluates. Off-policy agents only; a dataset has no commanded goals, so the
  commanded share of an agent's goals takes the state's own goal (OGBench's p_curgoal)."""
  num_gradient_steps: int = 1_000_000
  """Gradient steps to train for offline (with --dataset), per seed, in --num_evals epochs of
  equal whole numbers of steps (so at least this many; OGBench trains 1,000,000). Ignored
  online."""
  num_evals: int = 20
  """Evaluations during training (one per epoch); an evaluation also runs before training."""
  num_envs: int = 128
  """Parallel training environments."""
  num_eval_envs: int = 128
  """Episodes per evaluation (one per parallel eval env, each with a fresh goal)."""
  eval_goals: Literal["random", "tasks", "both"] = "random"
  """Goals of the evaluations: 'random', fresh goals as in training (metrics eval/...); 'tasks',
  the env's five fixed evaluation tasks (named start and goal cells in the mazes, a fixed seeded
  set elsewhere; docs/evaluation_tasks.md), --num_eval_envs episodes shared among them (rounded
  up; one per task where a task's episodes are identical), reported per task and averaged
  (eval_tasks/<task>/success, eval_tasks/success, ...), comparable across runs; 'both'."""
  episode_length: Annotated[int | None, default_is("the env's recommended length")] = None
  """Time limit per episode."""
  action_repeat: int = 1
  """Physics steps per action (the env step count includes the repeats)."""
  devices: int = 1
  """Devices to train on; 0: every device JAX sees. With --num_seeds K > 1 the seeds are split
  over them (K a multiple of the count; seed k ends exactly as it would alone); with one seed its
  envs, replay columns and gradient batches are (data parallel: --num_envs, --num_eval_envs and
  --batch_size multiples of the count; results as on one device up to float rounding). With
  several processes (--num_processes) every device of every process is used."""
  agent: Annotated[AgentConfigT, tyro.conf.OmitArgPrefixes]
  """The agent's settings: networks, replay, losses, learning rates (one of
  ``goalax.agents.REGISTRY``'s config classes; every field of it is a SETTING)."""
  sweep: Annotated[tuple[str, ...], default_is("no sweep")] = ()
  """Train several configurations at once: NAME=V1,V2,... per agent flag (e.g. --sweep
  critic_lr=1e-4,3e-4 energy_fn=l2,cosine). Continuous flags (learning rates, coefficients,
  discounts) train every combination × --num_seeds in one compiled program; each combination of
  discrete ones (energy, loss, sizes) is a run of its own, one after the other. Rows carry the
  configuration (column config); curves.png and goalax plot draw one line per configuration."""
  run_dir: str = role(PLACE, "runs")
  """Parent folder of run directories; each run writes a new one, never overwriting."""
  exp_name: Annotated[str | None, default_is("<env>_<algorithm>_s<seed>_<time>")] = role(
    LAUNCH, None
  )
  """Run name, the run's folder under --run_dir. A name that exists already gets a suffix (-2,
  -3, ...; said on the first line of output), so a script may repeat it; continue a run with
  --resume."""
  project_name: str = role(OUTPUT, "goalax")
  """Weights & Biases project (with --log_wandb)."""
  group_name: Annotated[str | None, default_is("none")] = role(OUTPUT, None)
  """Weights & Biases group (with --log_wandb)."""
  log_wandb: bool = role(OUTPUT, False)
  """Log to Weights & Biases (see --wandb_mode)."""
  wandb_mode: Annotated[
    Literal["online", "offline"] | None, default_is("WANDB_MODE, else online")
  ] = role(OUTPUT, None)
  """With --log_wandb: 'online' sends the metrics to Weights & Biases as they come; 'offline'
  writes them to RUN_DIR/wandb without an account or a network ('wandb sync' uploads them
  later)."""
  progress: bool = role(OUTPUT, True)
  """Print a progress line per evaluation."""
  fast_compile: bool = False
  """Compile with XLA's cheapest settings (CPU only: no LLVM optimisation, no fusion emitters):
  a small reacher run compiles in 14 s instead of 26 s, but trains about 3× slower. For smoke
  tests and debugging short runs; ignored on GPU and TPU. Without it, init and a prefill of at
  most 20,000 env steps (all seeds) still compile so on CPU: they run once."""
  coordinator_address: Annotated[str | None, default_is("JAX_COORDINATOR_ADDRESS, or SLURM's")] = (
    role(LAUNCH, None)
  )
  """Several processes (hosts) in one run: host:port of process 0's coordinator (in a SLURM job
  with several tasks, SLURM's own variables give it). Process 0 writes the run's files
  (docs/scale_out.md)."""
  num_processes: Annotated[int | None, default_is("JAX_NUM_PROCESSES, or SLURM's")] = role(
    LAUNCH, None
  )
  """Several processes: how many."""
  process_id: Annotated[int | None, default_is("JAX_PROCESS_ID, or SLURM's")] = role(LAUNCH, None)
  """Several processes: this one's index from 0."""
  config_file: Annotated[str | None, tyro.conf.arg(name="config"), default_is("none")] = role(
    LAUNCH, None
  )
  """Read flags from this YAML file: a run's config.yaml, or a mapping of flag names to values.
  Flags given on the command line override it; the run name (--exp_name) is not taken from it."""
  resume: Annotated[str | None, default_is("a new run")] = role(LAUNCH, None)
  """Continue the run in this run directory from its newest checkpoint, ending exactly as the
  uninterrupted run would ('goalax resume RUN_DIR' does the same). Only output and logging flags
  may differ from the run's own."""
  checkpoint_every: int = role(OUTPUT, 1)
  """Checkpoint the whole training state (every seed's agent and optimiser states, replay buffer,
  env states, keys) every this many evaluations, after the prefill, at the last evaluation and
  when stopped by Ctrl-C or SIGTERM; 0: only at the last evaluation and when stopped."""
  keep_checkpoints: int = role(OUTPUT, 2)
  """Newest checkpoints kept; older ones are deleted once a newer one is complete."""
  video_every: int = role(OUTPUT, 0)
  """Render one evaluation episode of the first seed every this many evaluations into
  RUN_DIR/videos/ (and to wandb with --log_wandb); 0: no videos. MuJoCo renders in software on a
  CPU-only machine, see the README for the measured cost."""
  video_format: Literal["mp4", "gif"] = role(OUTPUT, "mp4")
  """Format of the training videos."""
  video_size: tuple[int, int] = role(OUTPUT, (640, 480))
  """Width and height of the training videos in pixels."""
  log_tensorboard: bool = role(OUTPUT, False)
  """Also write TensorBoard event files to RUN_DIR/tensorboard/ (tensorboardX, no TensorFlow)."""
  plot_curves: bool = role(OUTPUT, True)
  """Redraw RUN_DIR/curves.png at every evaluation: success, time near goal and final distance
  against env steps (mean and range over seeds)."""


def check_video_size(size: tuple[int, int], flag: str) -> None:
  """Raises ConfigError unless ``size`` is a width and height from 16 to 4096 pixels."""
  if len(size) != 2 or not all(16 <= int(n) <= 4096 for n in size):
    raise ConfigError(
      f"{flag} takes a width and a height from 16 to 4096 pixels (e.g. {flag} 640 480), "
      f"got {' '.join(map(str, size))}."
    )


def validate(config: TrainConfig) -> None:
  """Raises ConfigError with one sentence naming the flag when a value cannot work."""
  require_positive(
    config, "num_seeds", "num_timesteps", "num_evals", "num_envs", "num_eval_envs", "action_repeat"
  )
  require_positive(config, "num_gradient_steps")
  if config.episode_length is not None:
    require_positive(config, "episode_length")
  require_positive(config, "keep_checkpoints")
  for flag in ("checkpoint_every", "video_every"):
    if getattr(config, flag) < 0:
      raise ConfigError(f"--{flag} must be 0 or positive, got {getattr(config, flag)}.")
  check_video_size(config.video_size, "--video_size")
  if config.eval_goals not in ("random", "tasks", "both"):
    raise ConfigError(f"--eval_goals must be random, tasks or both, got {config.eval_goals!r}.")
  config.agent.validate(config.num_envs)


# ---- configs saved in YAML ------------------------------------------------------------------


# ---- renamed flags ----------------------------------------------------------------------------
# A config class may rename a field and keep the old name in ``RENAMED = {old: new}``: old flags,
# config.yaml keys (runs saved before the rename) and --sweep names keep working under it.
def renamed(cls) -> dict[str, str]:
  """Old field names of a config class -> current ones (its ``RENAMED``; empty if none)."""
  return dict(getattr(cls, "RENAMED", {}))


def current_name(cls, name: str) -> str:
  """The current name of a field of ``cls`` given by its current or an old name."""
  return renamed(cls).get(name, name)


def current_flags(cls, argv: list[str]) -> list[str]:
  """``argv`` with the old flag spellings of ``cls``'s fields written as the current ones:
  ``--random_actor_goals 0.5`` or ``--random-actor-goals=0.5`` -> ``--actor_p_random ...``."""
  names = renamed(cls)
  out = []
  for arg in argv:
    flag, eq, value = arg.partition("=")
    name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
    negated = name.startswith("no_") and name[3:] in names
    if name in names or negated:
      out.append(f"--no_{names[name[3:]]}" if negated else f"--{names[name]}{eq}{value}")
    else:
      out.append(arg)
  return out


def current_keys(cls, values: dict, where: str) -> dict:
  """A mapping of ``cls``'s settings with old keys under their current names; a setting given
  under both names is a ConfigError."""
  names, out = renamed(cls), {}
  for key, value in values.items():
    new = names.get(key, key)
    if new in out:
      old = key if new != key else next(o for o, n in names.items() if n == new and o in values)
      raise ConfigError(f"{where} gives {new} twice (also as {old}, its old name); keep one.")
    out[new] = value
  return out


def _from_mapping(cls, values: dict, where: str, skip: tuple[str, ...] = (), suggest=(), **given):
  """``cls(**values, **given)`` with old keys renamed (:func:`current_keys`) and every value checked
  against its field's type (:func:`goalax.config_file.from_mapping`)."""
  from goalax.config_file import from_mapping

  if isinstance(values, dict):
    values = current_keys(cls, values, where)
  return from_mapping(cls, values, where, skip, suggest, **given)


def config_from_mapping(data: dict, algo: str, where: str) -> TrainConfig:
  """A ``TrainConfig`` of agent ``algo`` from ``{run field: value, "agent": {...}}``."""
  from goalax import agents

  data = dict(data)
  agent_class = agents.REGISTRY[algo].config_class
  agent = _from_mapping(agent_class, data.pop("agent", None) or {}, where)
  suggest = [f.name for f in dataclasses.fields(agent_class)]
  skip = launch_fields(TrainConfig)
  return _from_mapping(TrainConfig, data, where, skip=skip, suggest=suggest, agent=agent)


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

    agent_class = agents.REGISTRY[algo].config_class
    agent_fields = {f.name for f in dataclasses.fields(agent_class)} | set(renamed(agent_class))
    run_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    agent_values = dict(values.pop("agent", None) or {})
    for name in [n for n in values if n in agent_fields and n not in run_fields]:
      agent_values[name] = values.pop(name)
    values["agent"] = agent_values
  return config_from_mapping(values, algo, f"{flag} {path}")


def load_run_config(run_dir: str, flag: str = "run directory") -> tuple[TrainConfig, Derived]:
  """``(config, derived)`` of a run directory, from its config.yaml."""
  import os

  path = os.path.join(run_dir, "config.yaml")
  if not os.path.isfile(path):
    raise ConfigError(f"{run_dir} ({flag}) is not a goalax run directory: it has no config.yaml.")
  from goalax import agents
  from goalax.config_file import run_record

  values, derived = run_record(path, read_yaml(path, flag), Derived)
  if derived.get("algo") not in agents.REGISTRY:
    raise ConfigError(f"{path} names no known algorithm (derived.algo: {derived.get('algo')}).")
  return config_from_mapping(values, derived["algo"], path), Derived.from_mapping(derived, path)
