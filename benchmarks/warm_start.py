"""A run's fixed cost with a warm compilation cache: what a fresh process spends on small runs
whose compiled programs are all in JAX's persistent cache (tracing, lowering, cache loads, env
construction, outputs), the cost every re-run, resume and test pays.

  python benchmarks/warm_start.py --devices 2 --out benchmarks/results/warm_start.jsonl

Each measurement is a fresh process that trains two tiny CRL runs on reacher (7 envs, 23-step
episodes, 16-wide networks, 3,000 env steps, --fast_compile): with ``--devices 1`` one seed and
two seeds; with ``--devices 2`` (two forced host devices) two seeds split over the devices and
one seed data-parallel over both. The first process fills the cache and is not recorded; the
next ``--repeats`` are. To compare code versions, run it in each checkout one after the other
(``PYTHONPATH=<checkout>/src``): only ratios measured in one sitting mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = """
import dataclasses, json, sys, tempfile, time
import jax
jax.config.update("jax_compilation_cache_dir", sys.argv[1])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
from goalax.agents.crl import CRLConfig
from goalax.config import TrainConfig
from goalax.run.host_loop import train

base = TrainConfig(
  env="reacher", num_envs=8, num_timesteps=3000, num_evals=2, num_eval_envs=8, episode_length=23,
  agent=CRLConfig(h_dim=16, repr_dim=8, unroll_length=9, batch_size=32, min_replay_size=20,
                  max_replay_size=200),
  progress=False, fast_compile=True, plot_curves=False,
)
if jax.device_count() == 1:
  configs = [base, dataclasses.replace(base, num_seeds=2)]
else:
  configs = [dataclasses.replace(base, num_seeds=2, devices=2), dataclasses.replace(base, devices=2)]
wall, cpu = time.perf_counter(), time.process_time()
for config in configs:
  train(dataclasses.replace(config, run_dir=tempfile.mkdtemp()))
print(json.dumps(dict(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu)))
"""


def measure(devices: int, cache_dir: str) -> dict:
  env = dict(os.environ)
  if devices > 1:
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  out = subprocess.run(
    [sys.executable, "-c", CHILD, cache_dir], check=True, capture_output=True, text=True, env=env
  ).stdout
  return json.loads(out.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--devices", type=int, default=1, choices=(1, 2))
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--label", default="", help="a name for the code version measured")
  parser.add_argument("--out", default=None, help="append JSON lines here")
  args = parser.parse_args()
  sys.path.insert(0, HERE)
  from records import report

  import goalax

  with tempfile.TemporaryDirectory() as cache_dir:
    measure(args.devices, cache_dir)  # fills the cache
    for repeat in range(args.repeats):
      times = measure(args.devices, cache_dir)
      record = dict(benchmark="warm_start", devices=args.devices, repeat=repeat, **times)
      report(args.out, record, label=args.label, goalax=os.path.dirname(goalax.__file__))


if __name__ == "__main__":
  main()
