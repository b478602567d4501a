"""Every registered agent side by side on CPU-sized budgets (CRL, SAC, SAC+HER, TD3, TD3+HER,
PPO and whatever else ``goalax.agents.REGISTRY`` holds, plus the +HER variants of the TD agents)
on the same envs, env-step budgets, network sizes and seeds (trained at once with --num_seeds,
vmapped; one process per agent and env).

    python benchmarks/compare_agents.py --num_seeds 3 --out benchmarks/results/compare_agents.jsonl
    python benchmarks/compare_agents.py --envs reacher --runs "sac+her" "sac+her:--discounting 0.9"
    python benchmarks/compare_agents.py --summarize benchmarks/results/compare_agents.jsonl \\
        --since 2026-12-05 --table benchmarks/results/compare_agents.md \\
        --figure benchmarks/results/compare_agents.png

A run is ``ALGO[+her][:EXTRA FLAGS]``: ``sac+her`` is ``goalax train sac --use_her``; anything
after ``:`` is appended to the command line (ablations; a flag given again there wins, e.g.
``ppo:--num_timesteps 2000000``). Every run uses the env's budget in :data:`BUDGETS` (the flags
of ``goalax train``; on-policy agents get the same env steps, envs, episode length and
evaluations without the replay flags) plus ``--h_dim`` / ``--num_seeds`` / ``--seed``.
Recorded per run: the success curve, final ``eval/success``, ``eval/time_near_goal`` and
``eval/final_dist`` (mean over seeds and per seed), training env steps/s over all seeds
(compilation excluded; machine load matters for this column only), compile and wall time.
``--summarize`` turns the records into the results table (means, and the interquartile mean of
the final success over seeds with its 95% stratified-bootstrap confidence interval, rliable) and
a figure of those IQMs and intervals, one panel per env.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import subprocess
import sys
import tempfile
import time
import warnings

from records import append_record, machine_info

warnings.filterwarnings("ignore")

BUDGETS = {  # the CRL learning tests' configs, at 200k env steps
  "reacher": "--num_envs 32 --unroll_length 50 --batch_size 256 --min_replay_size 50 "
  "--max_replay_size 2000 --num_timesteps 200000 --num_evals 4 --num_eval_envs 128",
  "point_u_maze": "--num_envs 64 --unroll_length 50 --batch_size 256 --min_replay_size 300 "
  "--max_replay_size 3000 --num_timesteps 200000 --num_evals 4 --num_eval_envs 128",
  # An ant env at a CPU budget: open-ground ant (goals at distance 10), episodes of 250 steps
  # (JaxGCRL: 1,000) so that 300k env steps hold over a thousand episodes.
  "ant": "--num_envs 64 --unroll_length 50 --batch_size 256 --min_replay_size 250 "
  "--max_replay_size 4000 --num_timesteps 300000 --num_evals 4 --num_eval_envs 64 "
  "--episode_length 250",
}
# On-policy agents: the same env steps, envs, episodes and evaluations; their own schedule.
ON_POLICY_FLAGS = ("--num_envs", "--num_timesteps", "--num_evals", "--num_eval_envs")
ON_POLICY_FLAGS += ("--episode_length",)
HER = ("sac", "td3")  # agents with a +her variant


def default_runs() -> list[str]:
  """Every registered agent, and ``+her`` after each TD agent."""
  from goalax.agents import REGISTRY

  return [run for name in REGISTRY for run in ([name, f"{name}+her"] if name in HER else [name])]


def budget_flags(algo: str, env: str) -> list[str]:
  from goalax.agents import REGISTRY

  flags = BUDGETS[env].split()
  if REGISTRY[algo].loop == "off_policy":
    return flags
  pairs = zip(flags[::2], flags[1::2])
  return [token for flag, value in pairs if flag in ON_POLICY_FLAGS for token in (flag, value)]


def command_line(run: str, env: str, args) -> tuple[str, list[str]]:
  """``(algorithm, flags)`` of ``goalax train`` for a run spec on an env."""
  spec, _, extra = run.partition(":")
  algo, _, her = spec.partition("+")
  flags = ["--env", env, *budget_flags(algo, env), "--h_dim", str(args.h_dim)]
  flags += ["--num_seeds", str(args.num_seeds), "--seed", str(args.seed), "--no-progress"]
  if algo == "crl":
    flags += ["--repr_dim", "32"]
  if her == "her":
    flags += ["--use_her"]
  return algo, flags + shlex.split(extra)


def run_one(run: str, env: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.cli import parse_train_args
    from goalax.run.host_loop import train

  algo, flags = command_line(run, env, args)
  config = parse_train_args(algo, flags + ["--run_dir", tempfile.mkdtemp(prefix="goalax_cmp_")])
  t0 = time.perf_counter()
  result = train(config)
  success = [row["eval/success"] for row in result.history]
  last_half = success[len(success) // 2 :]
  from goalax.envs import resolve_backend

  return dict(
    run=run,
    env=env,
    backend=resolve_backend(env, config.backend),
    command=f"goalax train {algo} " + " ".join(flags),
    num_seeds=args.num_seeds,
    seed=args.seed,
    env_steps=result.total_env_steps,
    success_curve=success,
    final_success=success[-1],
    last_half_success=sum(last_half) / len(last_half),
    final_time_near_goal=result.history[-1]["eval/time_near_goal"],
    final_dist=result.history[-1]["eval/final_dist"],
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    per_seed_final_time_near_goal=[rows[-1]["eval/time_near_goal"] for rows in result.per_seed],
    per_seed_final_dist=[rows[-1]["eval/final_dist"] for rows in result.per_seed],
    train_env_steps_per_s=result.total_env_steps * args.num_seeds / result.train_seconds,
    compile_s=result.compile_seconds,
    wall_s=time.perf_counter() - t0,
    **machine_info(),
  )


def iqm_interval(scores: list[float], reps: int = 2000) -> tuple[float, float, float]:
  """``(IQM, low, high)`` of final scores over seeds: the interquartile mean and its 95%
  stratified-bootstrap confidence interval (rliable)."""
  import numpy as np

  from goalax.outputs.plotting import iqm_with_ci

  point, low, high = iqm_with_ci(np.asarray(scores, dtype=float)[:, None], reps)
  return float(point[0]), float(low[0]), float(high[0])


def summarize(records: list[dict], table_path: str | None, figure_path: str | None) -> str:
  """The results table (markdown) of ``records`` (the newest record per env and run), and with
  ``figure_path`` the figure of final-success IQMs and their 95% CIs, one panel per env."""
  latest = {}
  for rec in records:
    latest[(rec["env"], rec["run"])] = rec
  rows = [
    "| env | backend | run | seeds | final success (per seed) | IQM [95% CI] | time near goal "
    "| final dist | env steps/s | wall |",
    "|---|---|---|---:|---|---|---:|---:|---:|---:|",
  ]
  panels: dict[str, list] = {}
  for (env, run), rec in latest.items():
    seeds = rec["per_seed_final_success"]
    iqm, low, high = iqm_interval(seeds)
    panels.setdefault(env, []).append((run, iqm, low, high))
    dist = rec.get("final_dist", float("nan"))
    rows.append(
      f"| {env} | {rec['backend']} | {run} | {len(seeds)} | {rec['final_success']:.2f} "
      f"({' '.join(f'{s:.2f}' for s in seeds)}) | {iqm:.2f} [{low:.2f}, {high:.2f}] | "
      f"{rec['final_time_near_goal']:.2f} | {dist:.3f} | {rec['train_env_steps_per_s']:,.0f} | "
      f"{rec['wall_s'] / 60:.1f} min |"
    )
  table = "\n".join(rows) + "\n"
  if table_path:
    with open(table_path, "w") as f:
      f.write(table)
  if figure_path:
    _figure(panels, figure_path)
  return table


def _figure(panels: dict[str, list], path: str) -> None:
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  most = max(len(entries) for entries in panels.values())
  fig = Figure(figsize=(4.0 * len(panels), 1.2 + 0.35 * most))
  FigureCanvasAgg(fig)
  axes = fig.subplots(1, len(panels), squeeze=False)[0]
  for ax, (env, entries) in zip(axes, panels.items()):
    names = [run for run, *_ in entries]
    points = [iqm for _, iqm, _, _ in entries]
    errors = [
      [iqm - low for _, iqm, low, _ in entries],
      [high - iqm for _, iqm, _, high in entries],
    ]
    ax.errorbar(points, range(len(names)), xerr=errors, fmt="o", capsize=3)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(-0.02, 1.02)
    ax.invert_yaxis()
    ax.set_title(env, fontsize=10)
    ax.set_xlabel("final success (IQM, 95% CI)")
    ax.grid(alpha=0.3)
  fig.suptitle("IQM over seeds of the final success, 95% stratified bootstrap CI (rliable)")
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
  parser.add_argument("--runs", nargs="*", default=None, help="default: every registered agent")
  parser.add_argument("--num_seeds", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--h_dim", type=int, default=64)
  parser.add_argument("--out", default=None, help="append one JSON line per run here")
  parser.add_argument("--summarize", default=None, help="a records file to summarise instead")
  parser.add_argument("--since", default="", help="with --summarize: records of this date on")
  parser.add_argument("--table", default=None, help="with --summarize: write the table here")
  parser.add_argument("--figure", default=None, help="with --summarize: write the figure here")
  parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.summarize:
    with open(args.summarize) as f:
      records = [json.loads(line) for line in f if line.strip()]
    records = [r for r in records if r.get("date", "") >= args.since and r["env"] in args.envs]
    if args.runs:
      records = [r for r in records if r["run"] in args.runs]
    print(summarize(records, args.table, args.figure), end="")
    return
  if args.cell:  # one run, in its own process
    env, run = args.cell.split("|", 1)
    print(json.dumps(run_one(run, env, args)))
    return
  records = []
  for env in args.envs:
    for run in args.runs or default_runs():
      cell = [sys.executable, __file__, "--cell", f"{env}|{run}", "--num_seeds"]
      cell += [str(args.num_seeds), "--seed", str(args.seed), "--h_dim", str(args.h_dim)]
      proc = subprocess.run(cell, capture_output=True, text=True)
      if proc.returncode != 0:
        print(f"{env} {run}: failed: {proc.stderr.strip().splitlines()[-1][:200]}", flush=True)
        continue
      rec = json.loads(proc.stdout.strip().splitlines()[-1])
      print(f"{env} {run}: final success {rec['final_success']:.2f}", flush=True)
      append_record(args.out, rec)
      records.append(rec)
  print(summarize(records, None, None), end="")


if __name__ == "__main__":
  main()
