"""Agents side by side on CPU-sized budgets: CRL, SAC, SAC+HER, TD3, TD3+HER and PPO on the same
envs, env-step budgets, network sizes and seeds (trained at once with --num_seeds, vmapped).

    python benchmarks/compare_agents.py --envs reacher simple_u_maze --num_seeds 3 \
        --out benchmarks/results/compare_agents.jsonl
    python benchmarks/compare_agents.py --envs reacher --runs "sac+her" "sac+her:--discounting 0.9"

A run is ``ALGO[+her][:EXTRA FLAGS]``: ``sac+her`` is ``goalax train sac --use_her``; anything
after ``:`` is appended to the command line (ablations; a flag given again there wins, e.g.
``ppo:--num_timesteps 2000000``). Every run uses the env's budget in :data:`BUDGETS` (the flags
of ``goalax train``; PPO's in :data:`ON_POLICY_BUDGETS`, the same env steps and evaluations
without the replay flags) plus ``--h_dim`` / ``--num_seeds`` / ``--seed``.
Reported per run: final ``eval/success`` and ``eval/time_near_goal`` (mean over seeds and per
seed), success averaged over the last half of the evaluations, training env steps/s over all
seeds (compilation excluded; machine load matters for this column only) and compile time.
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
  "simple_u_maze": "--num_envs 64 --unroll_length 50 --batch_size 256 --min_replay_size 300 "
  "--max_replay_size 3000 --num_timesteps 200000 --num_evals 4 --num_eval_envs 128",
}
# PPO: the same env steps, envs and evaluations; its rollout schedule at its defaults.
ON_POLICY_BUDGETS = {
  env: " ".join(
    f"{flag} {value}"
    for flag, value in zip(budget.split()[::2], budget.split()[1::2])
    if flag in ("--num_envs", "--num_timesteps", "--num_evals", "--num_eval_envs")
  )
  for env, budget in BUDGETS.items()
}
ON_POLICY = ("ppo",)
DEFAULT_RUNS = ["crl", "sac", "sac+her", "td3", "td3+her", "ppo"]


def command_line(run: str, env: str, args) -> tuple[str, list[str]]:
  """``(algorithm, flags)`` of ``goalax train`` for a run spec on an env."""
  spec, _, extra = run.partition(":")
  algo, _, her = spec.partition("+")
  budget = ON_POLICY_BUDGETS if algo in ON_POLICY else BUDGETS
  flags = ["--env", env, *budget[env].split(), "--h_dim", str(args.h_dim)]
  flags += ["--num_seeds", str(args.num_seeds), "--seed", str(args.seed), "--no-progress"]
  if algo == "crl":
    flags += ["--repr_dim", "32"]
  if her == "her":
    flags += ["--use_her"]
  return algo, flags + shlex.split(extra)


def run_one(run: str, env: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.cli import parse_train_args
    from goalax.host_loop import train

  algo, flags = command_line(run, env, args)
  config = parse_train_args(algo, flags + ["--run_dir", tempfile.mkdtemp(prefix="goalax_cmp_")])
  t0 = time.perf_counter()
  result = train(config)
  success = [row["eval/success"] for row in result.history]
  last_half = success[len(success) // 2 :]
  return dict(
    run=run,
    env=env,
    command=f"goalax train {algo} " + " ".join(flags),
    num_seeds=args.num_seeds,
    seed=args.seed,
    env_steps=result.total_env_steps,
    success_curve=success,
    final_success=success[-1],
    last_half_success=sum(last_half) / len(last_half),
    final_time_near_goal=result.history[-1]["eval/time_near_goal"],
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    per_seed_final_time_near_goal=[rows[-1]["eval/time_near_goal"] for rows in result.per_seed],
    train_env_steps_per_s=result.total_env_steps * args.num_seeds / result.train_seconds,
    compile_s=result.compile_seconds,
    wall_s=time.perf_counter() - t0,
    **machine_info(),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
  parser.add_argument("--runs", nargs="*", default=DEFAULT_RUNS)
  parser.add_argument("--num_seeds", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--h_dim", type=int, default=64)
  parser.add_argument("--out", default=None, help="append one JSON line per run here")
  parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.cell:  # one run, in its own process
    env, run = args.cell.split("|", 1)
    print(json.dumps(run_one(run, env, args)))
    return
  print("| env | run | final success (seeds) | time near goal | last-half success | env steps/s |")
  print("|---|---|---|---:|---:|---:|")
  for env in args.envs:
    for run in args.runs:
      cell = [sys.executable, __file__, "--cell", f"{env}|{run}", "--num_seeds"]
      cell += [str(args.num_seeds), "--seed", str(args.seed), "--h_dim", str(args.h_dim)]
      proc = subprocess.run(cell, capture_output=True, text=True)
      if proc.returncode != 0:
        print(f"| {env} | {run} | failed: {proc.stderr.strip().splitlines()[-1][:150]} |")
        continue
      rec = json.loads(proc.stdout.strip().splitlines()[-1])
      seeds = " ".join(f"{s:.2f}" for s in rec["per_seed_final_success"])
      print(
        f"| {env} | {run} | {rec['final_success']:.2f} ({seeds}) | "
        f"{rec['final_time_near_goal']:.2f} | {rec['last_half_success']:.2f} | "
        f"{rec['train_env_steps_per_s']:,.0f} |",
        flush=True,
      )
      append_record(args.out, rec)


if __name__ == "__main__":
  main()
