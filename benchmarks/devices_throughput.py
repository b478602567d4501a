"""Training throughput over several devices (``--devices``): seeds split over devices and one
seed split over devices (data parallel), for 1, 2 and 4 devices.

  python benchmarks/devices_throughput.py --record benchmarks/results/devices_throughput.jsonl

On a CPU the devices are forced host devices (``XLA_FLAGS=--xla_force_host_platform_device_count``)
that share the machine's cores, so no speed-up is expected there: the figures show the overhead
of splitting. Each measurement is a fresh process: build and compile the run's programs (as
``goalax train`` does), init and prefill, then time ``--epochs`` epochs of ``--train_steps``
training steps. Reacher CRL at goalax's defaults (128 envs, batch 256, unroll 62), smaller
networks (``--h_dim``) to keep the CPU runs short.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = """
import dataclasses, json, sys, time
import jax
from goalax.loops.settings import schedule_of
from goalax.agents.crl import CRLConfig
from goalax.config import TrainConfig
from goalax.run.plan import make_plan

mode, devices, h_dim, train_steps, epochs = sys.argv[1], *map(int, sys.argv[2:6])
seeds = 4 if mode == "seeds" else 1
agent = CRLConfig(h_dim=h_dim, min_replay_size=100, max_replay_size=2000)
config = TrainConfig(env="reacher", num_seeds=seeds, devices=devices, num_evals=epochs,
                     progress=False, agent=agent)
schedule = schedule_of(config)
config = dataclasses.replace(config, num_timesteps=schedule.prefill_env_steps
                             + epochs * train_steps * schedule.env_steps_per_train_step)
setup = make_plan(config)
t0 = time.perf_counter()
programs = setup.compile()
compile_s = time.perf_counter() - t0
state = jax.block_until_ready(programs.prefill(programs.init(setup.seed_keys)))
state, _ = jax.block_until_ready(programs.epoch(state))  # warm up
t0 = time.perf_counter()
for _ in range(epochs - 1):
  state, metrics = programs.epoch(state)
jax.block_until_ready(state)
run_s = time.perf_counter() - t0
steps = (epochs - 1) * setup.schedule.env_steps_per_epoch * seeds
print("RESULT " + json.dumps(dict(mode=mode, devices=devices, num_seeds=seeds,
  env_steps_per_s=steps / run_s, compile_s=compile_s, run_s=run_s,
  gradient_steps_per_train_step=setup.schedule.gradient_steps_per_train_step,
  train_steps_per_epoch=setup.schedule.train_steps_per_epoch)))
"""


def measure(mode: str, devices: int, args) -> dict:
  env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={max(args.devices)}"}
  argv = [mode, devices, args.h_dim, args.train_steps, args.epochs]
  proc = subprocess.run(
    [sys.executable, "-c", CHILD, *map(str, argv)], capture_output=True, text=True, env=env
  )
  if proc.returncode != 0:
    raise SystemExit(proc.stderr[-3000:])
  line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
  return json.loads(line[len("RESULT ") :])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
  parser.add_argument("--modes", nargs="+", default=["seeds", "data"])
  parser.add_argument("--h_dim", type=int, default=64)
  parser.add_argument("--train_steps", type=int, default=2)
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--record", help="append one JSON line per measurement to this file")
  parser.add_argument("--conditions", default="", help="load on the machine, for the record")
  args = parser.parse_args()
  sys.path.insert(0, HERE)
  from records import report

  for mode in args.modes:
    for devices in args.devices:
      report(
        args.record, measure(mode, devices, args), h_dim=args.h_dim, conditions=args.conditions
      )


if __name__ == "__main__":
  main()
