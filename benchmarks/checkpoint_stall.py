"""What checkpoints cost a training run: the same run with checkpoints written in the background
(goalax's default), written synchronously (training waits, as before issue 19), in the
background without curves.png, and without checkpoints or curves.png. Each run is a fresh
process; the modes alternate, and the sitting is repeated ``--repeats`` times.

  python benchmarks/checkpoint_stall.py --record benchmarks/results/checkpoint_stall.jsonl

Default config: the reacher of ``vs_jaxgcrl.py`` (128 envs, batch 128, episode 101, 100 gradient
steps per 7,936 env steps, 200 training steps + the prefill = 1.72M env steps, 10 evaluations),
every other flag at goalax's default (a checkpoint and curves.png at every evaluation).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = [
  "--env", "reacher", "--num_envs", "128", "--batch_size", "128", "--episode_length", "101",
  "--unroll_length", "62", "--min_replay_size", "1054", "--max_replay_size", "10000",
  "--env_steps_per_update", "79.36", "--num_timesteps", str(128 * (1054 + 200 * 62)),
  "--num_evals", "10", "--no-use_layer_norm",
]  # fmt: skip
MODES = {
  "background": [],
  "synchronous": [],  # same flags; the child saves with checkpoint.save directly
  "background, no curves": ["--no-plot_curves"],  # what curves.png costs, apart from checkpoints
  "no checkpoints, no curves": ["--checkpoint_every", "0", "--no-plot_curves"],
}
# Run in the child: goalax train, with the saver made synchronous for the "synchronous" mode,
# and the time the host loop spends inside the saver's submit and wait (training waits then).
CHILD = """
import sys, time
from goalax.run import checkpoint
from goalax import cli

Saver = checkpoint.BackgroundSaver
if sys.argv[1] == "synchronous":
  class Saver(checkpoint.BackgroundSaver):
    def submit(self, run_dir, epoch, state, policy_params, meta, keep):
      self.completed = checkpoint.save(run_dir, epoch, state, policy_params, meta, keep)
blocked, depth = [0.0], [0]

def timed(method):
  def wrapper(self, *args, **kwargs):
    depth[0] += 1
    t = time.perf_counter()
    try:
      return method(self, *args, **kwargs)
    finally:
      depth[0] -= 1
      if depth[0] == 0:  # submit calls wait: count the outer call only
        blocked[0] += time.perf_counter() - t
  return wrapper

class TimedSaver(Saver):
  submit, wait = timed(Saver.submit), timed(Saver.wait)
checkpoint.BackgroundSaver = TimedSaver
t0 = time.perf_counter()
result = cli.run_config(cli.parse_train_args("crl", sys.argv[2:]))
print("RESULT", time.perf_counter() - t0, result.compile_seconds, result.train_seconds,
      result.history[-1]["eval/success"], blocked[0])
"""


def run(mode: str, folder: str) -> dict:
  flags = CONFIG + MODES[mode] + ["--run_dir", folder, "--no-progress"]
  proc = subprocess.run(
    [sys.executable, "-c", CHILD, mode, *flags], capture_output=True, text=True, check=True
  )
  line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
  wall, compile_s, train_s, success, saver_s = map(float, line.split()[1:])
  return dict(
    mode=mode,
    wall_s=wall,
    compile_s=compile_s,
    train_s=train_s,
    success=success,
    saver_blocked_s=saver_s,  # the host loop's time inside the saver (submit and wait)
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--record", help="append one JSON line per run to this file")
  parser.add_argument("--conditions", default="", help="load on the machine, for the record")
  parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
  args = parser.parse_args()
  sys.path.insert(0, HERE)
  from records import report

  for sitting in range(args.repeats):
    for mode in args.modes:
      with tempfile.TemporaryDirectory() as folder:
        row = run(mode, folder)
      report(
        args.record, row, sitting=sitting, config="vs_jaxgcrl reacher", conditions=args.conditions
      )


if __name__ == "__main__":
  main()
