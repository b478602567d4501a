"""What a run's outputs cost as a share of its wall time, measured inside a real training run.

    python benchmarks/output_share.py --config readme reference_reacher \\
        --out benchmarks/results/output_share.jsonl

A run at its default output settings (metrics.csv/jsonl and curves.png at every evaluation, a
checkpoint after the prefill and at every ``--checkpoint_every`` evaluations, params.msgpack at
the end) is trained once with timers around each output call of the main thread: the time the
training loop waits for its outputs. Also timed: the background checkpoint thread's writes, which
share this machine's 2 cores with the training programs (on a GPU they would not). The share is
the main thread's output time over the whole ``train()`` call, compile included.

Configs: ``readme`` is the README's training command; ``reference_reacher`` the reference's
reacher setup of ``benchmarks/vs_jaxgcrl.py`` (128 envs, unroll 62, 256x2 networks, batch 128,
replay 10,000, the reference's 100 gradient steps per training step) at a CPU budget of 40
training steps (4,000 gradient steps) and 10 evaluations.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import threading
import time
from collections import defaultdict

from records import README_COMMAND

CONFIGS = {
  "readme": README_COMMAND,
  "reference_reacher": (
    "crl --env reacher --backend spring --num_envs 128 --unroll_length 62 --h_dim 256 --repr_dim 64 "
    "--batch_size 128 --env_steps_per_update 79.36 --min_replay_size 1054 "
    "--max_replay_size 10000 --episode_length 101 --num_timesteps 452352 --num_evals 10 "
    "--num_eval_envs 128"
  ),
}


class Timers:
  """Seconds spent in wrapped calls, by name, and by the thread that made them."""

  def __init__(self):
    self.seconds: dict[str, float] = defaultdict(float)
    self.calls: dict[str, int] = defaultdict(int)
    self.lock = threading.Lock()

  def wrap(self, owner, attr: str, name: str, main_thread_only: bool = True) -> None:
    original = getattr(owner, attr)

    @functools.wraps(original)
    def timed(*args, **kwargs):
      if main_thread_only and threading.current_thread() is not threading.main_thread():
        return original(*args, **kwargs)
      start = time.perf_counter()
      try:
        return original(*args, **kwargs)
      finally:
        with self.lock:
          self.seconds[name] += time.perf_counter() - start
          self.calls[name] += 1

    setattr(owner, attr, timed)


def measure(name: str, folder: str) -> dict:
  from goalax.outputs import logger
  from goalax.run import checkpoint, host_loop
  from goalax.train_args import parse_train_args

  timers = Timers()
  timers.wrap(logger.RunOutputs, "write", "metrics_and_curves")
  timers.wrap(host_loop.HostLoop, "save_checkpoint", "checkpoint_submit")
  timers.wrap(checkpoint.BackgroundSaver, "wait", "checkpoint_wait")
  timers.wrap(checkpoint, "save_params", "params_msgpack")
  timers.wrap(checkpoint, "save", "checkpoint_write_background", main_thread_only=False)
  algo, *argv = CONFIGS[name].split()
  config = parse_train_args(algo, [*argv, "--run_dir", folder, "--seed", "0"])
  start = time.perf_counter()
  result = host_loop.train(config)
  wall = time.perf_counter() - start
  main_thread = sum(v for k, v in timers.seconds.items() if k != "checkpoint_write_background")
  return dict(
    config=name,
    command="goalax train " + CONFIGS[name],
    wall_s=round(wall, 2),
    compile_s=round(result.compile_seconds, 2),
    train_s=round(result.train_seconds, 2),
    outputs_main_thread_s=round(main_thread, 3),
    outputs_share_of_wall=round(main_thread / wall, 4),
    background_checkpoint_s=round(timers.seconds["checkpoint_write_background"], 3),
    by_output_s={k: round(v, 3) for k, v in timers.seconds.items()},
    calls=dict(timers.calls),
    final_success=round(result.history[-1]["eval/success"], 3),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", nargs="+", choices=sorted(CONFIGS), default=["readme"])
  parser.add_argument("--out", default=None, help="append each result to this JSON-lines file")
  args = parser.parse_args()
  from records import append_record, machine_info

  for name in args.config:
    folder = tempfile.mkdtemp(prefix="goalax_output_share_")
    try:
      record = {**measure(name, folder), **machine_info(), "load_average_1min": os.getloadavg()[0]}
    finally:
      shutil.rmtree(folder, ignore_errors=True)
    print(record, flush=True)
    append_record(args.out, record)


if __name__ == "__main__":
  main()
