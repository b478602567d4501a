"""A run resolved once: :func:`make_plan` turns a :class:`~goalax.config.TrainConfig` into a
:class:`RunPlan`, and everything downstream (the compiled programs, the host loop, the run's
files) receives the plan and reads it; nothing re-derives a part of it.

The plan holds the algorithm (looked up in the registry by the config's class, once), its agent
(built once, wrapped as a :class:`~goalax.parallel.sweep.SweptAgent` when the run sweeps
continuous values), its loop and the loop's :class:`~goalax.loops.base.Trainer`, the members
(seeds × swept values), their placement on devices, the schedule and its budget note, the
evaluator, the state's shapes and the memory estimate (refused when it cannot fit), and the
:class:`~goalax.config.Derived` record saved in config.yaml. Every loop gets the agent and the
schedule from here, the same way. With ``--dataset`` the loop is ``offline``: the agent's config
takes its offline defaults (its optional ``offline()``, recorded in config.yaml), and the dataset
is measured (refused when it cannot fit), read, checked against the env and put on the devices
once, as the trainer's ``data``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from types import ModuleType

import jax
import jax.numpy as jnp

from goalax import agents, loops
from goalax.config import ConfigError, Derived, TrainConfig, validate
from goalax.errors import require_module
from goalax.evaluation import make_run_evaluator, num_eval_episodes
from goalax.loops.base import Trainer
from goalax.loops.settings import Schedule, schedule_of
from goalax.outputs import logger
from goalax.parallel import devices, sweep
from goalax.run import memory, programs
from goalax.run.resume import resume_config


@dataclasses.dataclass
class RunPlan:
  """Everything a run is, derived from its config once, before anything of its size exists."""

  config: TrainConfig
  algo: str  # the registered name (goalax train <algo>)
  label: str  # as a person names it: CRL, SAC+HER
  loop: ModuleType  # goalax.loops.off_policy, on_policy or offline
  env: object
  eval_env: object
  agent: object  # the agent the loop trains (sweep-wrapped when the run sweeps)
  schedule: Schedule
  budget_note: str | None  # a warning when the run takes far more steps than asked
  members: list[sweep.Member]  # the member axis: seeds, times swept values
  placement: devices.Placement
  trainer: Trainer
  evaluate: Callable  # evaluate(policy_params, key) -> metrics, for one member
  abstract_state: object  # the loop's state of jax.ShapeDtypeStruct, batched over members
  abstract_policy: object
  estimate: memory.MemoryEstimate
  derived: Derived

  @property
  def seeds(self) -> list[int]:
    return [m.seed for m in self.members]

  @property
  def member_labels(self) -> list[str] | None:
    """Each member's swept values (``critic_lr=0.0001``), or None without a sweep."""
    return [m.label for m in self.members] if self.members[0].values else None

  @property
  def init_args(self) -> tuple:
    """The arguments of the ``init`` program: every member's key (and swept values)."""
    values = sweep.member_values(self.members)
    return (self.seed_keys, values) if values else (self.seed_keys,)

  @property
  def seed_keys(self) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(s) for s in self.seeds])

  def eval_keys(self, epoch: int) -> jax.Array:
    return jnp.stack(
      [jax.random.fold_in(jax.random.PRNGKey(s), 1_000_003 + epoch) for s in self.seeds]
    )

  @property
  def eval_episode_length(self) -> int:
    return self.config.episode_length or self.eval_env.episode_length

  @property
  def state_shardings(self):
    """Shardings of the training state (None on one device)."""
    return devices.state_shardings(self.abstract_state, self.placement)

  def compile(self, fresh: bool = True) -> programs.Programs:
    """The run's compiled programs (:func:`goalax.run.programs.compile_programs`)."""
    return programs.compile_programs(self, fresh)


def make_plan(config: TrainConfig) -> RunPlan:
  """Validates ``config`` (a resumed run's: its own, with the output flags given) and resolves
  everything the run is; ConfigError in one sentence when something cannot work or fit."""
  algo = agents.name_of(config.agent)
  if config.resume:  # the run's agent config has its offline defaults resolved: so has the given
    config = resume_config(_offline_agent_config(config), algo)
  env = _make_env(config.env, config, "env")
  eval_env = _make_env(config.eval_env, config, "eval_env") if config.eval_env else env
  if eval_env.observation_size != env.observation_size or eval_env.action_size != env.action_size:
    raise ConfigError(
      f"--eval_env {config.eval_env} has observation/action sizes "
      f"{eval_env.observation_size}/{eval_env.action_size}, but --env {config.env} "
      f"has {env.observation_size}/{env.action_size}; they must match."
    )
  config = _offline_agent_config(config)
  validate(config)
  continuous, discrete = sweep.parse(config)
  if discrete:
    raise ConfigError(
      "--sweep over discrete flags runs one program per combination: run it with 'goalax "
      "train', or train each of goalax.parallel.sweep.runs(config, algo)."
    )
  sweep.validate(config, (continuous, discrete))
  members = sweep.members(config, continuous)
  placement = devices.placement(config, len(members))
  _require_output_packages(config, eval_env)
  schedule = schedule_of(config)
  loop = loops.loop_module(loop_name(config))
  sizes = (env.state_size, env.goal_size, env.action_size)
  agent = sweep.agent_for(config.agent, sizes, tuple(continuous))
  data = () if config.dataset is None else (read_dataset(config, env, agent, placement),)
  try:
    trainer = loop.make_trainer(config, env, agent, schedule, placement, *data)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  evaluate = make_run_evaluator(
    eval_env,
    agent.act,
    config.eval_goals,
    config.num_eval_envs,
    config.episode_length or eval_env.episode_length,
    config.action_repeat,
  )
  member_keys = jax.ShapeDtypeStruct((len(members), 2), jnp.uint32)
  abstract_state = jax.eval_shape(jax.vmap(trainer.init), member_keys)
  abstract_policy = jax.eval_shape(jax.vmap(lambda s: agent.policy_params(s.agent)), abstract_state)
  num_episodes = num_eval_episodes(eval_env, config.eval_goals, config.num_eval_envs)
  abstract_eval_states = jax.eval_shape(
    jax.vmap(jax.vmap(eval_env.jit_reset)),
    jax.ShapeDtypeStruct((len(members), num_episodes, 2), jnp.uint32),
  )
  estimate = memory.estimate_training_memory(
    abstract_state, abstract_eval_states, len(members), placement, memory.tree_bytes(data)
  )
  memory.check_fits(estimate, config, *memory.device_capacity())
  budget_note = loop.check_budget(config, schedule)
  derived = Derived(
    episode_length=config.episode_length or env.episode_length,
    algo=algo,
    env_backend=env.backend,
    state_size=env.state_size,
    goal_size=env.goal_size,
    action_size=env.action_size,
    gradient_steps_per_train_step=schedule.gradient_steps_per_train_step,
    env_steps_per_train_step=schedule.env_steps_per_train_step,
    train_steps_per_epoch=schedule.train_steps_per_epoch,
    epochs=schedule.epochs,
    prefill_env_steps=schedule.prefill_env_steps,
    total_env_steps=schedule.total_env_steps,
    total_gradient_steps=schedule.total_gradient_steps,
    gradient_steps_per_env_step=schedule.gradient_steps_per_env_step,
    seeds=[m.seed for m in members],
    state_bytes=memory.tree_bytes(abstract_state),
    jax_backend=jax.default_backend(),
    jax_version=jax.__version__,
    loop=loop_name(config),
    configs=[m.label for m in members] if members[0].values else None,
  )
  return RunPlan(
    config, algo, agents.label_of(config.agent, algo), loop, env, eval_env, agent, schedule,
    budget_note, members, placement, trainer, evaluate, abstract_state, abstract_policy,
    estimate, derived,
  )  # fmt: skip


def make_trainer(config: TrainConfig, env) -> Trainer:
  """The loop's :class:`Trainer` of a run of ``config`` on ``env``, its agent and schedule
  resolved as :func:`make_plan` resolves them, on one device: for tests and benchmarks that
  drive a loop without the host loop."""
  config = _offline_agent_config(config)
  continuous, _ = sweep.parse(config)
  sizes = (env.state_size, env.goal_size, env.action_size)
  agent = sweep.agent_for(config.agent, sizes, tuple(continuous))
  loop = loops.loop_module(loop_name(config))
  one = devices.Placement("one")
  data = () if config.dataset is None else (read_dataset(config, env, agent, one),)
  return loop.make_trainer(config, env, agent, schedule_of(config), one, *data)


def check_budget(config: TrainConfig) -> str | None:
  """The budget check of :func:`make_plan` alone: ConfigError when ``--num_timesteps`` cannot
  pay for what comes before training, else a warning or None."""
  return loops.loop_module(loop_name(config)).check_budget(config, schedule_of(config))


def loop_name(config: TrainConfig) -> str:
  """The loop of a run (a key of :data:`goalax.loops.LOOPS`): ``offline`` with ``--dataset``,
  else the agent's own."""
  return "offline" if config.dataset is not None else config.agent.LOOP


def _offline_agent_config(config: TrainConfig) -> TrainConfig:
  """``config`` with its agent's offline defaults resolved (the agent config's optional
  ``offline()``) when it trains on a dataset; ConfigError for an on-policy agent."""
  if config.dataset is None:
    return config
  if config.agent.LOOP != "off_policy":
    raise ConfigError(
      f"--dataset trains an off-policy agent offline, but {agents.name_of(config.agent)} is "
      "on-policy (it learns from its own fresh rollouts); train an off-policy agent such as crl "
      "on the dataset, or drop --dataset."
    )
  offline = getattr(config.agent, "offline", None)
  return config if offline is None else dataclasses.replace(config, agent=offline())


def read_dataset(config: TrainConfig, env, agent, placement: devices.Placement):
  """``--dataset`` in the replay buffer's layout (:mod:`goalax.loops.offline_data`), on the
  placement's devices (whole on each). Refused in one sentence when its file is not a dataset
  of ``env``, or when it cannot fit on the device (measured from the file's headers, before it
  is read)."""
  from goalax import datasets
  from goalax.loops.offline_data import dataset_buffer, layout_bytes

  path = datasets.resolve(config.dataset)
  shapes = datasets.file_shapes(path)
  datasets.check_shapes(shapes, path, env.state_size, env.action_size)
  td = agent.sampling.td
  num_states = shapes["observations"][0][0]
  sizes = (env.state_size, env.goal_size, env.action_size)
  nbytes = max(layout_bytes(num_states - 1, *sizes, td), datasets.device_bytes(shapes))
  what = f"{path} ({num_states:,} states)"
  memory.check_dataset_fits(nbytes, what, *memory.device_capacity())
  trajectories = datasets.load(str(path), env.state_size, env.action_size)
  buffer = dataset_buffer(trajectories, env, td)
  return devices.put(buffer, devices.shared_shardings(buffer, placement))


def _make_env(name: str, config: TrainConfig, flag: str):
  try:
    return _shared_env(name, config.backend)
  except ValueError as e:
    raise ConfigError(f"{e} (flag --{flag})") from None


@functools.lru_cache(maxsize=8)
def _shared_env(name: str, backend: str | None):
  """One env object per name and backend in a process (envs are not changed after they are
  built): runs of other agents or sizes on the same env reuse its traced physics
  (``GoalEnv.jit_reset``, ``jit_step``) instead of tracing it again."""
  from goalax.envs import make_env  # brax and MuJoCo load when a run is planned, not at import

  return make_env(name, backend=backend)


def _require_output_packages(config: TrainConfig, eval_env) -> None:
  """Optional outputs need optional packages: say which extra to install before training (and
  before the run directory is made)."""
  logger.check_wandb(config)
  if config.video_every:
    require_module("imageio", "render", "--video_every")
    if config.video_format == "mp4":
      require_module("imageio_ffmpeg", "render", "--video_every with --video_format mp4")
    from goalax.outputs.render import FrameRenderer  # OpenGL only when videos are asked for

    FrameRenderer(eval_env, 16, 16).renderer.close()  # fail now, not at the first video
  if config.log_tensorboard:
    require_module("tensorboardX", "tensorboard", "--log_tensorboard")
