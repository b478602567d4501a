"""Hindsight goals of episodes that end early, before and after the sampler knew their real end.

    python benchmarks/sampler_early_ends.py --envs ant humanoid --runs sac+her crl \
        --num_seeds 2 --out benchmarks/results/sampler_early_ends.jsonl

Each run trains twice from the same seeds, in its own process: ``before`` draws every hindsight
offset over the rest of the episode up to its *time limit*, as the sampler did before it kept
episode ends (offsets past a fallen ant's real end are redrawn, and when all candidates fail the
goal falls back to the next state), reproduced by treating every episode as still running
(``goalax.replay.buffer.rows_to_episode_end`` patched to -1); ``after`` is the sampler as it is. The
``before`` variant is the old sampler exactly: on a terminating env its parameters are bit-equal
to the old commit's (checked once, see benchmarks/results/agents.md).

A run is ``ALGO[+her][:EXTRA FLAGS]`` as in compare_agents.py. Reported per run and variant: the
``hindsight_fallback`` training metric per epoch (share of the batch whose hindsight goal fell
back; mean over seeds), final ``eval/success`` (mean and per seed), success over the last half
of the evaluations, env steps/s and compile time.
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

BUDGETS = {  # CPU-sized: 64 envs, 1:16 updates, 2,000-row replay, ~300k env steps per seed
  "ant": "--num_envs 64 --unroll_length 50 --batch_size 256 --min_replay_size 100 "
  "--max_replay_size 2000 --num_timesteps 300000 --num_evals 4 --num_eval_envs 32",
  "humanoid": "--num_envs 64 --unroll_length 50 --batch_size 256 --min_replay_size 100 "
  "--max_replay_size 2000 --num_timesteps 300000 --num_evals 4 --num_eval_envs 32",
}
DEFAULT_RUNS = ["sac+her", "crl"]
VARIANTS = ("before", "after")


def command_line(run: str, env: str, args) -> tuple[str, list[str]]:
  """``(algorithm, flags)`` of ``goalax train`` for a run spec on an env."""
  spec, _, extra = run.partition(":")
  algo, _, her = spec.partition("+")
  flags = ["--env", env, *BUDGETS[env].split(), "--h_dim", str(args.h_dim)]
  flags += ["--num_seeds", str(args.num_seeds), "--seed", str(args.seed), "--no-progress"]
  if algo == "crl":
    flags += ["--repr_dim", "32"]
  if her == "her":
    flags += ["--use_her"]
  return algo, flags + shlex.split(extra)


def time_limit_law() -> None:
  """The sampler before episode ends: every episode counts as running (rest to the time limit)."""
  import jax.numpy as jnp

  from goalax.replay import buffer

  buffer.rows_to_episode_end = lambda buf, ages, envs: jnp.full(jnp.shape(ages), -1, jnp.int32)


def run_one(run: str, env: str, variant: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.cli import parse_train_args
    from goalax.run.host_loop import train

  if variant == "before":
    time_limit_law()
  algo, flags = command_line(run, env, args)
  run_dir = tempfile.mkdtemp(prefix="goalax_early_ends_")
  config = parse_train_args(algo, flags + ["--run_dir", run_dir])
  t0 = time.perf_counter()
  result = train(config)
  success = [row["eval/success"] for row in result.history]
  fallback = [row.get("train/hindsight_fallback") for row in result.history[1:]]
  last_half = success[len(success) // 2 :]
  return dict(
    run=run,
    env=env,
    variant=variant,
    command=f"goalax train {algo} " + " ".join(flags),
    run_dir=run_dir,
    num_seeds=args.num_seeds,
    seed=args.seed,
    env_steps=result.total_env_steps,
    hindsight_fallback=fallback,
    per_seed_hindsight_fallback=[
      [row.get("train/hindsight_fallback") for row in rows[1:]] for rows in result.per_seed
    ],
    success_curve=success,
    final_success=success[-1],
    last_half_success=sum(last_half) / len(last_half),
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    final_time_near_goal=result.history[-1]["eval/time_near_goal"],
    train_env_steps_per_s=result.total_env_steps * args.num_seeds / result.train_seconds,
    compile_s=result.compile_seconds,
    wall_s=time.perf_counter() - t0,
    **machine_info(),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
  parser.add_argument("--runs", nargs="*", default=DEFAULT_RUNS)
  parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
  parser.add_argument("--num_seeds", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--h_dim", type=int, default=64)
  parser.add_argument("--out", default=None, help="append one JSON line per run here")
  parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.cell:  # one run, in its own process
    env, run, variant = args.cell.split("|", 2)
    print(json.dumps(run_one(run, env, variant, args)))
    return
  print("| env | run | sampler | fallback share per epoch | final success (seeds) | last half |")
  print("|---|---|---|---|---|---:|")
  for env in args.envs:
    for run in args.runs:
      for variant in args.variants:
        cell = [sys.executable, __file__, "--cell", f"{env}|{run}|{variant}", "--num_seeds"]
        cell += [str(args.num_seeds), "--seed", str(args.seed), "--h_dim", str(args.h_dim)]
        proc = subprocess.run(cell, capture_output=True, text=True)
        if proc.returncode != 0:
          print(f"| {env} | {run} | {variant} | failed: {proc.stderr.strip()[-300:]} |")
          continue
        rec = json.loads(proc.stdout.strip().splitlines()[-1])
        fallback = " ".join(f"{f:.3f}" for f in rec["hindsight_fallback"])
        seeds = " ".join(f"{s:.2f}" for s in rec["per_seed_final_success"])
        print(
          f"| {env} | {run} | {variant} | {fallback} | {rec['final_success']:.2f} ({seeds}) | "
          f"{rec['last_half_success']:.2f} |",
          flush=True,
        )
        append_record(args.out, rec)


if __name__ == "__main__":
  main()
