"""Every contrastive or quasimetric agent's pace against CRL's: training env steps/s at README.md's
first training command's sizes (reacher, 64 envs, unroll 50, 128x2 networks, repr 32 where the
agent has one, batch 256, the default one update per 16 env steps, replay 100..2000).

    python benchmarks/agent_pace.py                                  # crl td_infonce qrl, this tree
    python benchmarks/agent_pace.py --sources before=/tmp/main/src after=src --repeats 3 \\
        --out benchmarks/results/agent_pace.jsonl

Method: per agent, one epoch of ``--train_steps`` training steps is compiled as training runs it
(``jit(over_seeds(run_epoch))``, one seed) after the prefill; the agents' epochs are then called
round-robin ``--rounds`` times (each call from the same state) and the minimum and the median
wall time per epoch are kept (load from other processes only ever adds time). With ``--sources``
each named source tree (a folder holding the ``goalax`` package) is measured in its own
subprocess, the trees taking turns ``--repeats`` times, so that code before and after a change is
compared in one sitting; the ratio to CRL is taken within each subprocess. One JSON line per
agent and subprocess goes to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

from records import append_record, machine_info

warnings.filterwarnings("ignore")

README_SIZES = dict(
  num_envs=64,
  unroll_length=50,
  h_dim=128,
  repr_dim=32,
  min_replay_size=100,
  max_replay_size=2000,
)


def compiled_epoch(algo: str, train_steps: int):
  """``(epoch, state, env steps per epoch, config)`` of ``algo`` at the README sizes."""
  import jax

  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.agents import REGISTRY
    from goalax.config import TrainConfig
    from goalax.envs import make_env
    from goalax.loops.settings import schedule_of
    from goalax.parallel.seed_axis import over_seeds
    from goalax.run.plan import make_trainer

  config_class = REGISTRY[algo].config_class
  fields = {f.name for f in dataclasses.fields(config_class)}
  sizes = {k: v for k, v in README_SIZES.items() if k in fields}
  config = TrainConfig(
    env="reacher", num_envs=README_SIZES["num_envs"], num_timesteps=1, num_evals=1,
    agent=config_class(**sizes),
  )  # fmt: skip
  schedule = schedule_of(config)
  steps = schedule.prefill_env_steps + train_steps * schedule.env_steps_per_train_step
  config = dataclasses.replace(config, num_timesteps=steps)
  schedule = schedule_of(config)
  trainer = make_trainer(config, make_env("reacher"))
  keys = jax.random.split(jax.random.PRNGKey(0), 1)
  state = jax.jit(over_seeds(trainer.init, 1))(keys)
  state = jax.block_until_ready(jax.jit(over_seeds(trainer.prefill, 1))(state))
  epoch = jax.jit(over_seeds(trainer.run_epoch, 1)).lower(state).compile()
  return epoch, state, schedule.env_steps_per_epoch, config


def measure(algos: list[str], train_steps: int, rounds: int, label: str) -> list[dict]:
  """Env steps/s of each agent's epoch, timed round-robin."""
  import jax

  epochs = {algo: compiled_epoch(algo, train_steps) for algo in algos}
  seconds = {algo: [] for algo in algos}
  for epoch, state, *_ in epochs.values():
    jax.block_until_ready(epoch(state))
  for _ in range(rounds):
    for algo, (epoch, state, *_) in epochs.items():
      start = time.perf_counter()
      jax.block_until_ready(epoch(state))
      seconds[algo].append(time.perf_counter() - start)
  records = []
  for algo, (_, _, env_steps, config) in epochs.items():
    best, median = min(seconds[algo]), statistics.median(seconds[algo])
    records.append(
      dict(
        label=label,
        algo=algo,
        env_steps_per_epoch=env_steps,
        train_steps=train_steps,
        rounds=rounds,
        env_steps_per_s=env_steps / best,
        env_steps_per_s_median=env_steps / median,
        epoch_s=seconds[algo],
        config=dict(env=config.env, num_envs=config.num_envs, **dataclasses.asdict(config.agent)),
      )
    )
  crl = next((r for r in records if r["algo"] == "crl"), None)
  for r in records:
    if crl is not None:
      r["vs_crl"] = r["env_steps_per_s"] / crl["env_steps_per_s"]
      r["vs_crl_median"] = r["env_steps_per_s_median"] / crl["env_steps_per_s_median"]
  return records


def print_row(r: dict) -> None:
  print(
    f"| {r['label']} | {r['algo']} | {r['env_steps_per_s']:,.0f} | "
    f"{r['env_steps_per_s_median']:,.0f} | {r.get('vs_crl', float('nan')):.2f} | "
    f"{r.get('vs_crl_median', float('nan')):.2f} |",
    flush=True,
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--algos", nargs="*", default=["crl", "td_infonce", "qrl"])
  parser.add_argument("--train_steps", type=int, default=2, help="training steps per epoch")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--sources", nargs="*", default=None, help="NAME=PATH source trees")
  parser.add_argument("--repeats", type=int, default=1, help="turns of each source tree")
  parser.add_argument("--label", default="this tree")
  parser.add_argument("--conditions", default="", help="load on the machine, kept in records")
  parser.add_argument("--out", default=None)
  parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if not args.json:
    print("| code | agent | env steps/s (best) | (median) | vs CRL (best) | (median) |")
    print("|---|---|---:|---:|---:|---:|")
  if args.sources is None:
    records = measure(args.algos, args.train_steps, args.rounds, args.label)
    if args.json:
      print(json.dumps(records))
      return
  else:
    records = []
    for repeat in range(args.repeats):
      for name, path in (s.split("=", 1) for s in args.sources):
        flags = ["--algos", *args.algos, "--train_steps", str(args.train_steps)]
        flags += ["--rounds", str(args.rounds), "--label", name, "--json"]
        env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
        out = subprocess.run(
          [sys.executable, __file__, *flags], env=env, capture_output=True, text=True, check=True
        ).stdout
        for r in json.loads(out.strip().splitlines()[-1]):
          r.update(source=path, repeat=repeat)
          print_row(r)
          records.append(r)
  machine = machine_info()
  for r in records:
    if args.sources is None:
      print_row(r)
    append_record(args.out, {**r, "conditions": args.conditions, **machine})


if __name__ == "__main__":
  main()
