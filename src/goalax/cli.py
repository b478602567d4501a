"""The ``goalax`` command: ``goalax envs | rollout | train | resume | eval | render | plot``.

Each subcommand's flags come from a typed, documented config (tyro turns docstrings into --help;
``goalax train <algo>`` shows the run's flags and that algorithm's only). Bad input ends with one
sentence on stderr naming the flag and what would work, and exit code 2. Heavy modules (JAX, the
envs, the host loop) are imported by the command that needs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import warnings
from typing import Annotated, Literal

import tyro

USAGE = """usage: goalax <command> [flags]

commands:
  envs      list the environments with their sizes, episode lengths and backends
  rollout   run a random policy in an environment and print a summary (a quick smoke test)
  train     train an agent:  goalax train crl --env reacher
  resume    continue a stopped run from its newest checkpoint:  goalax resume RUN_DIR
  eval      evaluate a run's saved policy on fresh goals or fixed tasks:  goalax eval RUN_DIR
  render    video (mp4, gif) or brax HTML viewer of a run's policy:  goalax render RUN_DIR
  plot      compare runs: IQM and bootstrap CIs over seeds:  goalax plot RUN_DIR... --out FILE

Run 'goalax <command> --help' for the flags of a command.
"""


from goalax import helptext  # noqa: E402
from goalax.errors import UsageError  # noqa: E402  (re-exported: goalax.cli.UsageError)


def _quiet_warnings() -> None:
  warnings.filterwarnings("ignore", message=".*Brax System, piplines and environments.*")
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  # imageio-ffmpeg starts ffmpeg with subprocess (fork + exec at once: safe with JAX's threads)
  warnings.filterwarnings("ignore", message=r".*os\.fork\(\) was called.*", category=RuntimeWarning)


# ---- goalax envs --------------------------------------------------------------------------------
@dataclasses.dataclass
class EnvsArgs:
  """List the registered goal-conditioned environments."""

  names: tuple[str, ...] = ()
  """Only list these envs (default: all)."""


def cmd_envs(args: EnvsArgs) -> None:
  from rich.console import Console
  from rich.table import Table

  import goalax.envs as envs

  names = list(args.names) or envs.env_names()
  for name in names:
    if name not in envs.env_names():
      raise UsageError(envs.unknown_env_message(name) + " (argument --names)")
  table = Table(title="goalax environments (obs = concat(state, goal))")
  for col in (
    "name",
    "backend",
    "reference",
    "obs",
    "state",
    "goal",
    "action",
    "episode",
    "threshold",
    "description",
  ):
    left = ("name", "backend", "reference", "description")
    table.add_column(col, justify="left" if col in left else "right")
  for name in names:
    try:
      env = envs.make_env(name)
    except (ImportError, AttributeError) as e:  # a family whose module is not available
      table.add_row(name, "-", "-", "-", "-", "-", "-", "-", "-", f"unavailable: {e}")
      continue
    table.add_row(
      name,
      env.backend,
      _reference_column(name, env),
      str(env.observation_size),
      str(env.state_size),
      str(env.goal_size),
      str(env.action_size),
      str(env.episode_length),
      f"{env.goal_threshold:g}",
      envs.describe(name),
    )
  Console(width=170).print(table)
  print(
    "backend: goalax's default; reference: the backend the reference (JaxGCRL) runs the env of "
    "that name on ('--backend reference' picks it; '-': goalax's own task)."
  )


def _reference_column(name: str, env) -> str:
  """The reference's backend for a reference env name, in parentheses for goalax's own variants
  of one (same physics, other goals), '-' for goalax's own tasks."""
  import goalax.envs as envs

  backend = type(env).reference_backend
  if backend is None:
    return "-"
  return backend if name in envs.REFERENCE_ENV_NAMES else f"({backend})"


# ---- goalax rollout -----------------------------------------------------------------------------
@dataclasses.dataclass
class RolloutArgs:
  """Run a uniformly random policy and print success, distance and speed."""

  env: str = "reacher"
  """Environment name (see 'goalax envs')."""
  backend: Literal["spring", "positional", "generalized", "mjx", "reference"] | None = None
  """Physics pipeline; default: the env's own default; 'reference': the one the reference
  (JaxGCRL) runs this env on (see 'goalax envs')."""
  num_envs: int = 128
  """Parallel environments."""
  num_steps: int = 500
  """Steps per environment (random actions uniform in [-1, 1])."""
  episode_length: int | None = None
  """Time limit per episode; default: the env's recommended length."""
  seed: int = 0
  """Random seed."""


def cmd_rollout(args: RolloutArgs) -> None:
  import jax
  import numpy as np

  import goalax.envs as envs

  for flag, value in (("--num-envs", args.num_envs), ("--num-steps", args.num_steps)):
    if value < 1:
      raise UsageError(f"{flag} must be a positive integer, got {value}.")
  if args.episode_length is not None and args.episode_length < 1:
    raise UsageError(f"--episode-length must be a positive integer, got {args.episode_length}.")
  try:
    env = envs.make_env(args.env, backend=args.backend)
  except ValueError as e:
    raise UsageError(str(e)) from None
  venv = envs.VectorGoalEnv(env, args.num_envs, episode_length=args.episode_length)

  @jax.jit
  def rollout(key):
    k_reset, k_act = jax.random.split(key)
    state = venv.reset(k_reset)

    def body(state, k):
      action = jax.random.uniform(k, (args.num_envs, env.action_size), minval=-1, maxval=1)
      state = venv.step(state, action)
      return state, (state.metrics["success"], state.metrics["dist"], state.done)

    state, traj = jax.lax.scan(body, state, jax.random.split(k_act, args.num_steps))
    return state, traj

  print(
    f"env {args.env} | backend {env.backend} | obs {env.observation_size} "
    f"(state {env.state_size} + goal {env.goal_size}) | action {env.action_size} | "
    f"{args.num_envs} envs x {args.num_steps} steps, random policy"
  )
  t0 = time.perf_counter()
  compiled = rollout.lower(jax.random.PRNGKey(args.seed)).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  _, (success, dist, done) = jax.block_until_ready(compiled(jax.random.PRNGKey(args.seed)))
  run_s = time.perf_counter() - t0
  success, dist, done = map(np.asarray, (success, dist, done))
  steps = args.num_envs * args.num_steps
  print(f"compile {compile_s:.1f} s | run {run_s:.2f} s | {steps / run_s:,.0f} env steps/s")
  print(
    f"episodes ended {int(done.sum())} | steps near goal {success.mean():.3f} | "
    f"mean dist {dist.mean():.3f} | min dist {dist.min():.3f}"
  )


RunDir = Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR")]


# ---- goalax eval -------------------------------------------------------------------------------
@dataclasses.dataclass
class EvalArgs:
  """Evaluate a run's saved policy (every seed) on fresh goals or the env's fixed evaluation
  tasks, as training's evaluation does."""

  run_dir: RunDir
  """The run directory (it holds config.yaml and checkpoints/)."""
  env: str | None = None
  """Environment to evaluate on (same state, goal and action sizes as the run's); default: the
  run's --eval_env or --env."""
  goals: Literal["random", "tasks", "both"] | None = None
  """'random': fresh goals (eval/...); 'tasks': the env's five fixed evaluation tasks, reported
  per task and averaged (eval_tasks/<task>/..., eval_tasks/...; docs/evaluation_tasks.md);
  'both'; default: the run's --eval_goals."""
  num_episodes: int | None = None
  """Episodes per seed, each with a fresh goal (with --goals tasks: shared among the tasks,
  rounded up, one per task where a task's episodes are identical); default: the run's
  --num_eval_envs."""
  seed: int = 0
  """Seed of the evaluation's starts and goals (of the fixed tasks' noise, for tasks)."""
  checkpoint: int | None = None
  """Epoch of the checkpoint to evaluate; default: the newest."""
  out: str | None = None
  """File for the rows (.csv, or JSON lines otherwise); default:
  RUN_DIR/eval/<env>[_tasks|_both]_epoch<k>_seed<seed>.csv."""


def cmd_eval(args: EvalArgs) -> None:
  from goalax.evaluation import headline
  from goalax.outputs import saved_run

  per_seed, means, ckpt, env_name = saved_run.evaluate_run(
    args.run_dir, args.env, args.num_episodes, args.seed, args.checkpoint, args.goals
  )
  kind = {(True, False): "", (False, True): "_tasks"}.get(
    ("eval/success" in means[0], "eval_tasks/success" in means[0]), "_both"
  )
  out = args.out or os.path.join(
    args.run_dir, "eval", f"{env_name}{kind}_epoch{ckpt.epoch:04d}_seed{args.seed}.csv"
  )
  try:
    saved_run.write_eval(per_seed + means, out)
  except OSError as e:
    raise UsageError(f"cannot write --out {out}: {e.strerror}.") from None
  print(
    f"goalax eval | {args.run_dir} | checkpoint of epoch {ckpt.epoch} ({ckpt.env_steps:,} env steps)"
  )
  for row in per_seed + means:
    print(f"  seed {row['seed']}: {headline(row, min_dist=True)}")
  print(f"  written to {out}")


# ---- goalax render ------------------------------------------------------------------------------
@dataclasses.dataclass
class RenderArgs:
  """Render a run's policy: MuJoCo's renderer (goal drawn as a green marker) to mp4 or gif, or
  brax's HTML viewer; a random policy when the run has no checkpoint yet."""

  run_dir: RunDir
  """The run directory."""
  format: Literal["mp4", "gif", "html"] = "mp4"
  """Output format."""
  episodes: int = 1
  """Episodes to render, one after the other, each with a fresh goal."""
  out: str | None = None
  """Output file; default: RUN_DIR/videos/render_<epoch_k_seedS|random>.<format>."""
  env: str | None = None
  """Environment (same sizes as the run's); default: the run's --eval_env or --env."""
  seed: int = 0
  """Seed of the episodes' starts and goals."""
  seed_index: int = 0
  """Which agent of a --num_seeds run (0: the first seed)."""
  checkpoint: int | None = None
  """Epoch of the checkpoint; default: the newest."""
  size: tuple[int, int] = (640, 480)
  """Width and height of mp4 and gif frames in pixels."""


def cmd_render(args: RenderArgs) -> None:
  from goalax.config import check_video_size
  from goalax.errors import require_module
  from goalax.outputs import saved_run

  if args.format != "html":
    require_module("imageio", "render", f"goalax render --format {args.format}")
  if args.format == "mp4":
    require_module("imageio_ffmpeg", "render", "goalax render --format mp4")
  check_video_size(args.size, "--size")

  path, ckpt = saved_run.render_run(
    args.run_dir,
    args.out,
    args.format,
    args.episodes,
    args.env,
    args.seed,
    args.seed_index,
    args.checkpoint,
    args.size,
  )
  what = f"the policy of epoch {ckpt.epoch}" if ckpt else "a random policy (no checkpoint yet)"
  print(f"goalax render | {what} | {args.episodes} episode(s) -> {path}")


# ---- goalax plot --------------------------------------------------------------------------------
@dataclasses.dataclass
class PlotArgs:
  """Overlay the learning curves of runs: interquartile mean over seeds and its 95% stratified
  bootstrap confidence interval (rliable) against env steps."""

  run_dirs: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUN_DIR...")]
  """Run directories; runs given the same --labels are pooled as seeds of one curve."""
  out: str = "curves_comparison.png"
  """Output image (png, pdf or svg, by its extension)."""
  labels: tuple[str, ...] = ()
  """One label per run directory; default: each run's algorithm, env and folder name from its
  config.yaml ("SAC+HER on reacher · my_run"), the folder name alone for a folder without one."""
  metrics: tuple[str, ...] = ("eval/success", "eval/time_near_goal", "eval/final_dist")
  """Columns of metrics.csv to plot, one panel each."""
  reps: int = 2000
  """Bootstrap resamples for the confidence intervals."""


def _describe_for_plot(run_dir: str) -> tuple[str, str] | None:
  """:func:`goalax.outputs.plotting.describe_run`; a config.yaml it cannot read is said on stderr and the
  run is named by its folder (its curves need only metrics.jsonl)."""
  from goalax.errors import ConfigError
  from goalax.outputs import plotting

  try:
    return plotting.describe_run(run_dir)
  except ConfigError as e:
    print(f"goalax plot | {e} Its curve is named by its folder.", file=sys.stderr)
    return None


def cmd_plot(args: PlotArgs) -> None:
  from goalax.errors import require_module
  from goalax.outputs import plotting

  require_module("rliable", "plot", "goalax plot")

  if not args.run_dirs:
    raise UsageError("goalax plot needs at least one RUN_DIR.")
  if args.labels and len(args.labels) != len(args.run_dirs):
    raise UsageError(
      f"--labels needs one label per run directory: {len(args.run_dirs)} runs, "
      f"{len(args.labels)} labels."
    )
  if args.reps < 1:
    raise UsageError(f"--reps must be positive, got {args.reps}.")
  described = [_describe_for_plot(d) for d in args.run_dirs]
  labels = args.labels or [
    plotting.run_title(*about, d) if about else None for d, about in zip(args.run_dirs, described)
  ]
  curves = [  # a sweep's run gives one curve per configuration
    c
    for d, label in zip(args.run_dirs, labels)
    for c in plotting.load_run_curves(d, label, args.metrics)
  ]
  groups: dict[str, list] = {}
  for c in curves:
    groups.setdefault(c.label, []).append(c)
  pooled = [plotting.pool(group) for group in groups.values()]
  try:
    path = plotting.plot_comparison(
      pooled, args.out, args.reps, plotting.comparison_title(described)
    )
  except OSError as e:
    raise UsageError(f"cannot write --out {args.out}: {e.strerror}.") from None
  print(f"goalax plot | {len(pooled)} curve(s) from {len(curves)} run(s) -> {path}")


# ---- goalax train / goalax resume ------------------------------------------------------------
def _flag_value(argv: list[str], flag: str) -> str | None:
  """The value of ``flag`` in ``argv`` (``--flag VALUE`` or ``--flag=VALUE``), else None."""
  for i, arg in enumerate(argv):
    name, eq, value = arg.partition("=")
    if name == flag:
      return value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
  return None


def _defaults(algo: str, argv: list[str]):
  """The values of the flags not given: a run's own (``--resume``), a file's (``--config``),
  or the defaults."""
  from goalax import agents
  from goalax.config import ConfigError, TrainConfig, load_config_file
  from goalax.run.resume import saved_run_config

  config_class = agents.REGISTRY[algo].config_class
  resume, config_file = _flag_value(argv, "--resume"), _flag_value(argv, "--config")
  if resume and config_file:
    raise ConfigError(
      "--resume and --config cannot be combined: a resumed run keeps its own config."
    )
  if resume:
    return saved_run_config(resume, algo)
  if config_file:
    return load_config_file(config_file, algo)
  return TrainConfig(agent=config_class())


def parse_train_args(algo: str, argv: list[str]):
  """``TrainConfig`` of ``goalax train <algo> [flags]``: the run's flags and that agent's only.

  tyro accepts JaxGCRL's underscore spellings (``--num_envs``) as well as ``--num-envs``, and
  the agent's old flag names (``--random_actor_goals``) as its current ones. With ``--config
  FILE`` or ``--resume RUN_DIR`` the flags not given take that file's or run's values.
  """
  import difflib

  from goalax import agents
  from goalax.config import TrainConfig, current_flags

  if algo not in agents.REGISTRY:
    close = difflib.get_close_matches(algo, agents.agent_names(), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise UsageError(
      f"unknown algorithm '{algo}'.{hint} Available: {', '.join(agents.agent_names())}."
    )
  config_class = agents.REGISTRY[algo].config_class
  argv = current_flags(config_class, argv)
  helptext.install()
  return tyro.cli(
    TrainConfig[config_class],
    args=argv,
    prog=f"goalax train {algo}",
    default=_defaults(algo, argv),
  )


def cmd_train(argv: list[str]) -> None:
  """``goalax train <algo> [flags]``."""
  from goalax import agents

  if not argv or argv[0] in ("-h", "--help"):
    lines = [f"  {name:<10} {spec.description}" for name, spec in agents.REGISTRY.items()]
    print(
      "usage: goalax train <algo> [flags]\n\nalgorithms:\n"
      + "\n".join(lines)
      + "\n\nRun 'goalax train <algo> --help' for the flags of an algorithm."
    )
    return
  run_config(parse_train_args(argv[0], argv[1:]))


RESUME_USAGE = """usage: goalax resume RUN_DIR [flags]

Continues a run from its newest checkpoint with its own config.yaml; it ends with the same
parameters and metrics as if it had never stopped. Only output and logging flags may be given:
{flags}."""


def cmd_resume(argv: list[str]) -> None:
  """``goalax resume RUN_DIR [flags]``: ``goalax train <the run's algo> --resume RUN_DIR``."""
  from goalax.config import load_run_config
  from goalax.run.resume import OUTPUT_FLAGS

  if not argv or argv[0] in ("-h", "--help"):
    print(RESUME_USAGE.format(flags=", ".join("--" + f for f in OUTPUT_FLAGS)))
    return
  run_dir, rest = argv[0], argv[1:]
  _, derived = load_run_config(run_dir, "goalax resume")
  run_config(parse_train_args(derived.algo, ["--resume", run_dir, *rest]))


def run_config(config):
  """Runs ``train(config)`` for the command line: a NaN ends with exit code 1, a stop signal
  with one line on how to resume and exit code 128 + signal. A sweep over discrete flags trains
  each combination's run, one after the other (their results, in order)."""
  from goalax import agents
  from goalax.parallel import sweep
  from goalax.run.host_loop import train
  from goalax.run.programs import enable_compilation_cache
  from goalax.run.stopping import RunInterrupted

  enable_compilation_cache()
  try:
    runs = sweep.runs(config, agents.name_of(config.agent))
    if len(runs) == 1:
      return train(config)
    results = []
    for k, (tag, one) in enumerate(runs):
      if config.progress:
        print(f"goalax: sweep run {k + 1} of {len(runs)}: {tag}", flush=True)
      results.append(train(one))
    return results
  except FloatingPointError as e:
    print(f"goalax: error: {e}", file=sys.stderr)
    sys.exit(1)
  except RunInterrupted as e:
    print(f"goalax: {e}", file=sys.stderr, flush=True)
    if e.in_flight:  # compiled work still running: exit without waiting for it
      sys.stdout.flush()
      os._exit(e.exit_code)
    sys.exit(e.exit_code)


# ---- dispatch -----------------------------------------------------------------------------------
COMMANDS = {
  "envs": (EnvsArgs, cmd_envs),
  "rollout": (RolloutArgs, cmd_rollout),
  "eval": (EvalArgs, cmd_eval),
  "render": (RenderArgs, cmd_render),
  "plot": (PlotArgs, cmd_plot),
}


def _run(argv: list[str]) -> None:
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(USAGE)
    return
  command, rest = argv[0], argv[1:]
  if command in COMMANDS:
    args_class, run = COMMANDS[command]
    helptext.install()
    run(tyro.cli(args_class, args=rest, prog=f"goalax {command}"))
  elif command in ("train", "resume"):
    (cmd_train if command == "train" else cmd_resume)(rest)
  else:
    names = ", ".join(["envs", "rollout", "train", "resume", "eval", "render", "plot"])
    raise UsageError(f"unknown command '{command}'. Commands: {names}.")


@contextlib.contextmanager
def exit_on_usage_error():
  """Ends the process on a UsageError with its one sentence on stderr and exit code 2, and on
  Ctrl-C with exit code 130."""
  try:
    yield
  except UsageError as e:
    print(f"goalax: error: {e}", file=sys.stderr)
    sys.exit(2)
  except KeyboardInterrupt:
    print("goalax: interrupted; everything already written is kept.", file=sys.stderr)
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
  _quiet_warnings()
  argv = sys.argv[1:] if argv is None else argv
  with exit_on_usage_error():
    _run(argv)


if __name__ == "__main__":
  main()
