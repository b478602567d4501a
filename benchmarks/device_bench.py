"""CRL on Ant at the JaxGCRL config, on whatever accelerator JAX sees: wall time, env steps/s,
compile time and device memory of a whole run, and how throughput scales with K seeds trained
in one process (``--num_seeds``).

  python benchmarks/device_bench.py --record benchmarks/results/device_bench.jsonl
  python benchmarks/device_bench.py --smoke          # a few seconds of each, to check the script

The config is the one of JaxGCRL's README loop (512 envs, batch 256, unroll 62, episode 1000,
replay 1,000 / 10,000 rows, 50 evaluations, 10M env steps), with goalax's CRL defaults otherwise.
The seed-scaling part trains K = 1, 2, 4, 8 seeds for ``--scaling_env_steps`` each. Each run is a
fresh process. On a machine without an accelerator the script says so and, unless ``--smoke`` or
``--allow_cpu`` is given, stops: CPU figures live in ``train_throughput.py``'s records.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
JAXGCRL_ANT = [
  "--env", "ant", "--num_envs", "512", "--batch_size", "256", "--unroll_length", "62",
  "--episode_length", "1000", "--min_replay_size", "1000", "--max_replay_size", "10000",
  "--num_evals", "50",
]  # fmt: skip
SMOKE = [
  "--env", "ant", "--num_envs", "16", "--batch_size", "32", "--unroll_length", "10",
  "--episode_length", "100", "--min_replay_size", "20", "--max_replay_size", "200",
  "--num_evals", "2", "--h_dim", "32", "--repr_dim", "8", "--num_eval_envs", "8",
]  # fmt: skip
CHILD = """
import json, sys, time
import jax
from goalax import cli

t0 = time.perf_counter()
result = cli.run_config(cli.parse_train_args("crl", sys.argv[1:]))
wall = time.perf_counter() - t0
stats = jax.devices()[0].memory_stats() or {}
print("RESULT " + json.dumps(dict(
  wall_s=wall, compile_s=result.compile_seconds, train_s=result.train_seconds,
  env_steps_per_seed=result.total_env_steps, final_success=result.history[-1]["eval/success"],
  device_peak_gib=stats.get("peak_bytes_in_use", 0) / 2**30 or None)))
"""


def run(flags: list[str]) -> dict:
  proc = subprocess.run(
    [sys.executable, "-c", CHILD, *flags, "--no-progress", "--checkpoint_every", "0"],
    capture_output=True,
    text=True,
  )
  if proc.returncode != 0:
    raise SystemExit(f"the run failed:\n{proc.stderr[-3000:]}")
  line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
  row = json.loads(line[len("RESULT ") :])
  seeds = int(flags[flags.index("--num_seeds") + 1]) if "--num_seeds" in flags else 1
  steps = row["env_steps_per_seed"] * seeds
  row.update(num_seeds=seeds, env_steps_per_s=steps / row["train_s"])
  return row


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--env_steps", type=int, default=10_000_000)
  parser.add_argument("--scaling_env_steps", type=int, default=1_000_000)
  parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4, 8])
  parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the script")
  parser.add_argument("--allow_cpu", action="store_true", help="run the full config on a CPU")
  parser.add_argument("--record", help="append one JSON line per run to this file")
  args = parser.parse_args()
  sys.path.insert(0, HERE)
  import jax
  from records import report

  platform = jax.default_backend()
  if platform == "cpu" and not (args.smoke or args.allow_cpu):
    print("device_bench: no accelerator (JAX's backend is cpu); nothing measured.", flush=True)
    return
  base = SMOKE if args.smoke else JAXGCRL_ANT
  total, scaling = (4_000, 2_000) if args.smoke else (args.env_steps, args.scaling_env_steps)
  plan = [("JaxGCRL ant", base + ["--num_timesteps", str(total)])]
  plan += [
    (f"{k} seeds", base + ["--num_timesteps", str(scaling), "--num_seeds", str(k)])
    for k in args.seeds
  ]
  for name, flags in plan:
    report(args.record, run(flags), part=name, smoke=args.smoke, backend=platform)


if __name__ == "__main__":
  main()
