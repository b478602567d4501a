"""Offline GCRL side by side: GCBC (offline GCSL), GCIVL, GCIQL, HIQL, QRL and CRL trained from
the same datasets (made with ``goalax collect``: random actions, and a trained policy with action
noise, OGBench's "noisy expert" way) on goalax mazes, the same gradient steps, networks and seeds
(trained at once with --num_seeds, vmapped; one process per agent and dataset), evaluated in the
env on fresh random goals.

    # 1. the datasets (an expert run per env for the noisy data: any saved goalax run)
    python benchmarks/offline_compare.py --collect --data_dir /tmp/offline_data \\
        --expert point_u_maze=runs/point_u_maze_sac_her --expert point_big_maze=runs/...
    # 2. the runs
    python benchmarks/offline_compare.py --data_dir /tmp/offline_data --num_seeds 3 \\
        --out benchmarks/results/offline_compare.jsonl
    # 3. the table
    python benchmarks/offline_compare.py --summarize benchmarks/results/offline_compare.jsonl \\
        --table benchmarks/results/offline_compare.md

Recorded per run: the command lines (collect and train), final ``eval/success`` per seed and its
IQM with a 95% stratified-bootstrap interval (rliable, as compare_agents does),
``eval/final_dist``, gradient steps/s over all seeds (compilation excluded) and wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import warnings

from compare_agents import iqm_interval
from records import append_record, machine_info

warnings.filterwarnings("ignore")

ENVS = ("point_u_maze", "point_big_maze")
DATA = ("random", "noisy")
AGENTS = {"gcbc": "gcsl", "gcivl": "gcivl", "gciql": "gciql", "hiql": "hiql", "qrl": "qrl"}
AGENTS["crl"] = "crl"
#: Transitions per dataset (OGBench's medium mazes hold 1M; a CPU budget here).
TRANSITIONS = 100_000
#: The training budget of every run: gradient steps, batch, networks, evaluations.
TRAIN = "--num_gradient_steps 5000 --batch_size 256 --h_dim 64 --num_evals 4 --num_eval_envs 128"
COLLECT = {"random": "--policy random", "noisy": "--action_noise 0.2"}


def dataset_path(data_dir: str, env: str, data: str) -> str:
  return os.path.join(data_dir, f"{env}-{data}.npz")


def collect_command(env: str, data: str, args) -> list[str]:
  policy = COLLECT[data] if data == "random" else f"--policy {args.experts[env]} {COLLECT[data]}"
  return ["collect", "--env", env, "--num_transitions", str(TRANSITIONS), "--num_envs", "128",
          "--seed", "0", "--out", dataset_path(args.data_dir, env, data), *shlex.split(policy)]  # fmt: skip


def train_flags(env: str, data: str, algo: str, args) -> list[str]:
  flags = ["--env", env, "--dataset", dataset_path(args.data_dir, env, data), *TRAIN.split()]
  flags += ["--num_seeds", str(args.num_seeds), "--seed", str(args.seed), "--no-progress"]
  return flags + (["--repr_dim", "32"] if algo == "crl" else [])


def run_one(env: str, data: str, name: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.cli import parse_train_args
    from goalax.run.host_loop import train

  algo = AGENTS[name]
  flags = train_flags(env, data, algo, args)
  config = parse_train_args(algo, flags + ["--run_dir", tempfile.mkdtemp(prefix="goalax_off_")])
  t0 = time.perf_counter()
  result = train(config)
  success = [row["eval/success"] for row in result.history]
  steps = config.num_gradient_steps * args.num_seeds
  return dict(
    env=env,
    data=data,
    run=name,
    command=f"goalax train {algo} " + " ".join(flags),
    collect=" ".join(["goalax", *collect_command(env, data, args)]),
    num_seeds=args.num_seeds,
    seed=args.seed,
    success_curve=success,
    final_success=success[-1],
    final_dist=result.history[-1]["eval/final_dist"],
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    per_seed_final_dist=[rows[-1]["eval/final_dist"] for rows in result.per_seed],
    gradient_steps_per_s=steps / result.train_seconds,
    compile_s=result.compile_seconds,
    wall_s=time.perf_counter() - t0,
    **machine_info(),
  )


def summarize(records: list[dict], table_path: str | None) -> str:
  """The table (markdown) of the newest record per env, dataset and agent: final success per
  seed, its IQM [95% CI], final distance, gradient steps/s, wall time."""
  latest = {(r["env"], r["data"], r["run"]): r for r in records}
  order = lambda key: tuple(
    names.index(k) if k in names else len(names)
    for k, names in zip(key, (ENVS, DATA, list(AGENTS)))
  )
  latest = dict(sorted(latest.items(), key=lambda item: order(item[0])))
  rows = [
    "| env | data | agent | final success (per seed) | IQM [95% CI] | final dist | "
    "gradient steps/s | wall |",
    "|---|---|---|---|---|---:|---:|---:|",
  ]
  for (env, data, run), rec in latest.items():
    seeds = rec["per_seed_final_success"]
    iqm, low, high = iqm_interval(seeds)
    rows.append(
      f"| {env} | {data} | {run.upper()} | {rec['final_success']:.2f} "
      f"({' '.join(f'{s:.2f}' for s in seeds)}) | {iqm:.2f} [{low:.2f}, {high:.2f}] | "
      f"{rec['final_dist']:.2f} | {rec['gradient_steps_per_s']:,.0f} | {rec['wall_s'] / 60:.1f} min |"
    )
  table = "\n".join(rows) + "\n"
  if table_path:
    with open(table_path, "w") as f:
      f.write(table)
  return table


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="*", default=list(ENVS))
  parser.add_argument("--data", nargs="*", default=list(DATA), choices=DATA)
  parser.add_argument("--agents", nargs="*", default=list(AGENTS), choices=list(AGENTS))
  parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(), "offline_data"))
  parser.add_argument("--expert", action="append", default=[], help="ENV=RUN_DIR (noisy data)")
  parser.add_argument("--collect", action="store_true", help="write the datasets, then stop")
  parser.add_argument("--num_seeds", type=int, default=3)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=None, help="append one JSON line per run here")
  parser.add_argument("--summarize", default=None, help="a records file to summarise instead")
  parser.add_argument("--table", default=None, help="with --summarize: write the table here")
  parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  args.experts = dict(pair.split("=", 1) for pair in args.expert)
  if args.summarize:
    with open(args.summarize) as f:
      records = [json.loads(line) for line in f if line.strip()]
    print(summarize(records, args.table), end="")
    return
  if args.collect:
    from goalax.cli import main as goalax_main

    for env in args.envs:
      for data in args.data:
        goalax_main(collect_command(env, data, args))
    return
  if args.cell:  # one run, in its own process
    env, data, name = args.cell.split("|")
    print(json.dumps(run_one(env, data, name, args)))
    return
  records = []
  for env in args.envs:
    for data in args.data:
      for name in args.agents:
        cell = [sys.executable, __file__, "--cell", f"{env}|{data}|{name}", "--data_dir"]
        cell += [args.data_dir, "--num_seeds", str(args.num_seeds), "--seed", str(args.seed)]
        cell += [arg for pair in args.expert for arg in ("--expert", pair)]
        proc = subprocess.run(cell, capture_output=True, text=True)
        if proc.returncode != 0:
          print(f"{env} {data} {name}: failed: {proc.stderr.strip()[-300:]}", flush=True)
          continue
        rec = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{env} {data} {name}: final success {rec['final_success']:.2f}", flush=True)
        append_record(args.out, rec)
        records.append(rec)
  print(summarize(records, None), end="")


if __name__ == "__main__":
  main()
