"""The ``goalax`` command: ``goalax <envs|rollout|train|resume|eval|render|plot|collect>``.

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
  collect   write an offline dataset (OGBench's format) from a random or a run's noisy policy

Run 'goalax <command> --help' for the flags of a command.
"""

from goalax import helptext  # noqa: E402
from goalax.errors import UsageError  # noqa: E402  (re-exported: goalax.cli.UsageError)
from goalax.train_args import parse_train_args  # noqa: E402  (re-exported)


def _quiet_warnings() -> None:
  warnings.filterwarnings("ignore", message=".*Brax System, piplines and environments.*")
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  # imageio-ffmpeg starts ffmpeg with subprocess (fork + exec at once: safe with JAX's threads)
  warnings.filterwarnings("ignore", message=r".*os\.fork\(\) was called.*", category=RuntimeWarning)


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
  print(f"goalax eval | {args.run_dir} | checkpoint of epoch {ckpt.epoch} ({ckpt.steps_done})")
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


def _describe_for_plot(run_dir: str) -> tuple[tuple[str, str] | None, str]:
  """``(about, note)``: :func:`goalax.outputs.plotting.describe_run`, or None and a note for stderr when
  it cannot read the run's config.yaml (its curves need only metrics.jsonl)."""
  from goalax.errors import ConfigError
  from goalax.outputs import plotting

  try:
    return plotting.describe_run(run_dir), ""
  except ConfigError as e:
    return None, f"goalax plot | {e} Its curve is named by its folder."


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
  described, notes = zip(*(_describe_for_plot(d) for d in args.run_dirs))
  labels = args.labels or [
    plotting.run_title(*about, d) if about else None for d, about in zip(args.run_dirs, described)
  ]
  curves = [  # a sweep's run gives one curve per configuration
    c
    for d, label in zip(args.run_dirs, labels)
    for c in plotting.load_run_curves(d, label, args.metrics)
  ]
  for note in filter(None, notes):  # said once every folder is known to be a run's
    print(note, file=sys.stderr)
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
def cmd_train(argv: list[str]) -> None:
  """``goalax train <algo> [flags]``; without an algorithm, the list of them (exit code 2)."""
  from goalax import agents, cli_flags
  from goalax.config import renamed

  lines = [f"  {name:<10} {spec.description}" for name, spec in agents.REGISTRY.items()]
  usage = "usage: goalax train <algo> [flags]\n\nalgorithms:\n" + "\n".join(lines)
  if argv[:1] in (["-h"], ["--help"]):
    print(usage + "\n\nRun 'goalax train <algo> --help' for the flags of an algorithm.")
    return
  if not argv or argv[0].startswith("-"):
    raise UsageError(f"goalax train needs an algorithm first: {', '.join(agents.agent_names())}.")
  typed, spec = cli_flags.typed_flags(argv), agents.REGISTRY.get(argv[0])
  for old, new in renamed(spec.config_class).items() if spec else ():
    if old in typed:  # an old flag name: messages name it as typed
      typed[new] = typed[old]
  with cli_flags.as_typed(typed):
    run_config(parse_train_args(argv[0], argv[1:]))


RESUME_USAGE = """usage: goalax resume RUN_DIR [flags]

Continues a run from its newest checkpoint with its own config.yaml; it ends with the same
parameters and metrics as if it had never stopped. Only output and logging flags may be given:
{flags}."""


def cmd_resume(argv: list[str]) -> None:
  """``goalax resume RUN_DIR [flags]``: ``goalax train <the run's algo> --resume RUN_DIR``."""
  from goalax import cli_flags
  from goalax.config import load_run_config
  from goalax.run.resume import OUTPUT_FLAGS

  if argv[:1] in (["-h"], ["--help"]):
    print(RESUME_USAGE.format(flags=", ".join("--" + f for f in OUTPUT_FLAGS)))
    return
  if not argv or argv[0].startswith("-"):
    raise UsageError("goalax resume needs a RUN_DIR first: goalax resume RUN_DIR [flags].")
  run_dir, rest = argv[0], argv[1:]
  _, derived = load_run_config(run_dir, "goalax resume")
  with cli_flags.as_typed(cli_flags.typed_flags(rest)):
    run_config(parse_train_args(derived.algo, ["--resume", run_dir, *rest], "goalax resume"))


def run_config(config):
  """Runs ``train(config)`` for the command line: a NaN ends with exit code 1, a stop signal
  with one line on how to resume and exit code 128 + signal. A sweep over discrete flags trains
  each combination's run, one after the other (their results, in order)."""
  from goalax import agents
  from goalax.config import validate
  from goalax.parallel import sweep
  from goalax.run.host_loop import train
  from goalax.run.programs import enable_compilation_cache
  from goalax.run.stopping import RunInterrupted

  validate(config)
  sweep.validate(config)  # every configuration of a sweep, before the first trains
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
def _own_module(command: str):
  """``(<Command>Args, cmd_<command>)`` from the command's own module, imported when it runs."""
  if command == "envs":
    from goalax.envs import listing as module
  elif command == "rollout":
    from goalax.envs import rollout as module
  else:
    from goalax import collect as module
  return getattr(module, f"{command.title()}Args"), getattr(module, f"cmd_{command}")


COMMANDS = {
  "envs": lambda: _own_module("envs"),
  "rollout": lambda: _own_module("rollout"),
  "eval": lambda: (EvalArgs, cmd_eval),
  "render": lambda: (RenderArgs, cmd_render),
  "plot": lambda: (PlotArgs, cmd_plot),
  "collect": lambda: _own_module("collect"),
}
"""Commands whose flags are one config class: name -> ``() -> (class, command)``."""


def _run(argv: list[str]) -> None:
  from goalax import cli_flags

  if not argv or argv[0] in ("-h", "--help", "help"):
    print(USAGE)
    return
  command, rest = argv[0], argv[1:]
  if command in COMMANDS:
    args_class, run = COMMANDS[command]()
    cli_flags.check(rest, args_class, f"goalax {command}")
    helptext.install()
    with cli_flags.as_typed(cli_flags.typed_flags(rest)):
      run(tyro.cli(args_class, args=rest, prog=f"goalax {command}"))
  elif command in ("train", "resume"):
    (cmd_train if command == "train" else cmd_resume)(rest)
  else:
    names = ", ".join(["envs", "rollout", "train", "resume", "eval", "render", "plot", "collect"])
    close = cli_flags.nearest(command, names.split(", "))
    hint = f" Did you mean '{close}'?" if close else ""
    raise UsageError(f"unknown command '{command}'.{hint} Commands: {names}.")


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


def main(argv: list[str] | None = None, typed: dict[str, str] | None = None) -> None:
  """``goalax <argv>``; ``typed``: how the user typed the flags ``argv`` names otherwise
  (``{"num_timesteps": "--total_env_steps"}`` from run.py), for messages."""
  from goalax.cli_flags import as_typed

  _quiet_warnings()
  argv = sys.argv[1:] if argv is None else argv
  with exit_on_usage_error(), as_typed(typed or {}):
    _run(argv)


if __name__ == "__main__":
  main()


# ---- the reference's entry points (training.py, run.py at the repository root) -----------------
def _reference_main(argv: list[str], version: str) -> None:
  """Runs a JaxGCRL command line (``training.py`` of 0.1, ``run.py`` of 0.2) as goalax's,
  saying each note on stderr (:mod:`goalax.jaxgcrl_compat`)."""
  from goalax import jaxgcrl_compat

  to_goalax = jaxgcrl_compat.training_py_argv if version == "0.1" else jaxgcrl_compat.run_py_argv
  with exit_on_usage_error():
    taken = to_goalax(argv)
  for note in taken.notes:
    print(f"goalax: note: {note}.", file=sys.stderr)
  main(taken.argv, typed=taken.typed)


def training_py_main(argv: list[str]) -> None:
  """``python training.py [--agent NAME] [JaxGCRL flags]``."""
  _reference_main(argv, "0.1")


def run_py_main(argv: list[str]) -> None:
  """``python run.py <agent> [JaxGCRL flags]``."""
  _reference_main(argv, "0.2")
