"""Training throughput: env steps/s during training (compilation excluded), compile time and
peak memory, for K = 1, 2, 4, 8 seeds trained in one process, for each agent.

    python benchmarks/train_throughput.py                         # reacher and ant, K = 1 2 4 8
    python benchmarks/train_throughput.py --envs ant --seeds 1 --train_steps 3
    python benchmarks/train_throughput.py --algos crl sac td3 --seeds 1   # agents side by side

Config (JaxGCRL-style unless flags say otherwise): num_envs 256, batch 256, unroll 62, episode
length 1000, 256×2 networks, max_replay_size 10000, 1 gradient step per 16 env steps (992 per
training step). The prefill is kept short (min_replay_size 100) because it is not what is
measured. Each cell runs in a fresh subprocess so that its peak RSS (``ru_maxrss``, which includes
compilation) is its own; on GPU the device's peak bytes in use are reported as well.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
import warnings

from records import append_record, machine_info

warnings.filterwarnings("ignore")


def run_cell(
  env_name: str, algo: str, num_seeds: int, num_envs: int, train_steps: int, h_dim: int
) -> dict:
  import contextlib
  import io

  import jax
  import jax.numpy as jnp

  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.agents import REGISTRY
    from goalax.config import TrainConfig
    from goalax.envs import make_env
    from goalax.loops.settings import schedule_of
    from goalax.parallel.seed_axis import over_seeds
    from goalax.run.plan import make_trainer

  cfg = TrainConfig(
    env=env_name,
    num_envs=num_envs,
    episode_length=1000,
    num_timesteps=1,
    num_evals=1,
    agent=REGISTRY[algo].config_class(
      h_dim=h_dim,
      n_hidden=2,
      batch_size=256,
      unroll_length=62,
      min_replay_size=100,
      max_replay_size=10000,
    ),
  )
  schedule = schedule_of(cfg)
  cfg = dataclasses.replace(
    cfg, num_timesteps=schedule.prefill_env_steps + train_steps * schedule.env_steps_per_train_step
  )
  schedule = schedule_of(cfg)
  env = make_env(env_name)
  trainer = make_trainer(cfg, env)
  keys = jnp.stack([jax.random.PRNGKey(s) for s in range(num_seeds)])
  state = jax.jit(over_seeds(trainer.init, num_seeds))(keys)
  if trainer.prefill is not None:
    state = jax.block_until_ready(jax.jit(over_seeds(trainer.prefill, num_seeds))(state))
  t0 = time.perf_counter()
  epoch = jax.jit(over_seeds(trainer.run_epoch, num_seeds), donate_argnums=0)
  epoch = epoch.lower(state).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state, metrics = jax.block_until_ready(epoch(state))
  run_s = time.perf_counter() - t0
  env_steps = schedule.env_steps_per_epoch * num_seeds
  device = jax.devices()[0]
  stats = device.memory_stats() or {}
  return dict(
    env=env_name,
    algo=algo,
    backend=env.backend,
    num_seeds=num_seeds,
    num_envs=num_envs,
    batch_size=cfg.agent.batch_size,
    unroll_length=cfg.agent.unroll_length,
    h_dim=h_dim,
    gradient_steps_per_train_step=schedule.gradient_steps_per_train_step,
    train_steps=schedule.train_steps_per_epoch,
    env_steps=env_steps,
    env_steps_per_s=env_steps / run_s,
    updates_per_s=schedule.gradient_steps_per_train_step
    * schedule.train_steps_per_epoch
    * num_seeds
    / run_s,
    compile_s=compile_s,
    run_s=run_s,
    peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    device_peak_gib=stats.get("peak_bytes_in_use", 0) / 2**30 or None,
    metrics_finite=all(bool(jnp.isfinite(v).all()) for v in metrics.values()),
    **machine_info(),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--envs", nargs="*", default=["reacher", "ant"])
  parser.add_argument("--algos", nargs="*", default=["crl"])
  parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 4, 8])
  parser.add_argument("--num_envs", type=int, default=256)
  parser.add_argument("--h_dim", type=int, default=256)
  parser.add_argument("--train_steps", type=int, default=2)
  parser.add_argument("--out", default=None, help="append JSON lines here")
  parser.add_argument("--cell", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.cell:
    env_name, algo, k = args.cell.split(":")
    cell = run_cell(env_name, algo, int(k), args.num_envs, args.train_steps, args.h_dim)
    print(json.dumps(cell))
    return
  print(
    "| env | algo | backend | seeds | env steps/s (all seeds) | updates/s | compile s | "
    "peak RSS GiB |"
  )
  print("|---|---|---|---:|---:|---:|---:|---:|")
  cells = [(e, a, k) for e in args.envs for a in args.algos for k in args.seeds]
  for env_name, algo, k in cells:
    proc = subprocess.run(
      [
        sys.executable,
        __file__,
        "--cell",
        f"{env_name}:{algo}:{k}",
        "--num_envs",
        str(args.num_envs),
        "--h_dim",
        str(args.h_dim),
        "--train_steps",
        str(args.train_steps),
      ],
      capture_output=True,
      text=True,
    )
    if proc.returncode != 0:
      error = proc.stderr.strip().splitlines()[-1][:120]
      print(f"| {env_name} | {algo} | - | {k} | failed: {error} |")
      continue
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
      f"| {env_name} | {algo} | {rec['backend']} | {k} | {rec['env_steps_per_s']:,.0f} | "
      f"{rec['updates_per_s']:,.0f} | {rec['compile_s']:.1f} | {rec['peak_rss_gib']:.2f} |",
      flush=True,
    )
    append_record(args.out, rec)


if __name__ == "__main__":
  main()
