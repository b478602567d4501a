"""Wall time of one run over two processes (JAX's multi-controller runtime, CPU collectives over
localhost) against the same global configuration in one process with two devices.

  python benchmarks/multihost_wall.py --record benchmarks/results/multihost_wall.jsonl

Both train 2 seeds, one per device (``--devices 0``), reacher CRL with small networks; the two
alternate, ``--repeats`` times. Each is a fresh set of processes; the wall time is the launch to
the last process's exit (start-up, compile, training, evaluations, checkpoints included).
On one machine the two processes share its cores, so this measures what the distributed
runtime and its collectives cost, not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = [
  "--env", "reacher", "--num_seeds", "2", "--devices", "0", "--num_envs", "32",
  "--unroll_length", "50", "--batch_size", "128", "--min_replay_size", "50",
  "--max_replay_size", "1000", "--h_dim", "64", "--repr_dim", "16", "--num_eval_envs", "32",
  "--num_evals", "3", "--no-progress",
]  # fmt: skip


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def one_process(flags: list[str], folder: str) -> float:
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  t0 = time.perf_counter()
  subprocess.run(
    [sys.executable, "-m", "goalax.cli", "train", "crl", *flags, "--run_dir", folder],
    check=True,
    capture_output=True,
    env=env,
  )
  return time.perf_counter() - t0


def two_processes(flags: list[str], folder: str) -> float:
  address = f"127.0.0.1:{_free_port()}"
  t0 = time.perf_counter()
  procs = [
    subprocess.Popen(
      [sys.executable, "-m", "goalax.cli", "train", "crl", *flags, "--run_dir", folder]
      + ["--coordinator_address", address, "--num_processes", "2", "--process_id", str(i)],
      stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE,
    )
    for i in (0, 1)
  ]
  for proc in procs:
    _, err = proc.communicate()
    if proc.returncode != 0:
      raise SystemExit(err.decode()[-3000:])
  return time.perf_counter() - t0


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--num_timesteps", type=int, default=100_000)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--record", help="append one JSON line per run to this file")
  parser.add_argument("--conditions", default="", help="load on the machine, for the record")
  args = parser.parse_args()
  sys.path.insert(0, HERE)
  from records import report

  flags = FLAGS + ["--num_timesteps", str(args.num_timesteps)]
  for repeat in range(args.repeats):
    for name, launch in (("one process, 2 devices", one_process), ("two processes", two_processes)):
      with tempfile.TemporaryDirectory() as folder:
        wall = launch(flags, folder)
      row = dict(launch=name, wall_s=wall, repeat=repeat, num_timesteps=args.num_timesteps)
      report(args.record, row, conditions=args.conditions)


if __name__ == "__main__":
  main()
