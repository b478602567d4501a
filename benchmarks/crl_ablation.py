"""Ablation of CRL's defaults: one change at a time from the default agent, same budget and seeds.

    python benchmarks/crl_ablation.py --env reacher --num_timesteps 150000 --num_seeds 2 \
        --out benchmarks/results/crl_ablation.jsonl
    python benchmarks/crl_ablation.py --variants default energy=dot layer_norm=off

The default agent is ``CRLConfig()`` (L2 energy, ``infonce_backward``, LayerNorm on) at the
network size given by --h_dim/--n_hidden/--residual/--repr_dim. Each variant changes one field.
All variants share the env, budget, seeds (``--seed`` .. ``--seed + num_seeds − 1``, trained at
once, vmapped) and evaluation (deterministic policy, --num_eval_envs fresh goals per seed).
Reported per variant: ``eval/success`` at the end and averaged over the last half of the
evaluations (less noisy), the final ``eval/final_dist``, and the per-seed final success. Learning
outcomes do not depend on machine load, so this can run beside other jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import tempfile
import time
import warnings

from records import append_record, machine_info

warnings.filterwarnings("ignore")

VARIANTS: dict[str, dict] = {
  "default": {},
  "energy=l2_sq": dict(energy_fn="l2_sq"),
  "energy=dot": dict(energy_fn="dot"),
  "energy=cosine": dict(energy_fn="cosine"),
  "energy=l1": dict(energy_fn="l1"),
  "loss=infonce": dict(contrastive_loss_fn="infonce"),
  "loss=symmetric_infonce": dict(contrastive_loss_fn="symmetric_infonce"),
  "loss=binary": dict(contrastive_loss_fn="binary"),
  "layer_norm=off": dict(use_layer_norm=False),
}


def run_variant(name: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.agents.crl import CRLConfig
    from goalax.config import TrainConfig
    from goalax.host_loop import train

  agent = CRLConfig(
    h_dim=args.h_dim,
    n_hidden=args.n_hidden,
    residual=args.residual,
    repr_dim=args.repr_dim,
    unroll_length=args.unroll_length,
    batch_size=args.batch_size,
    min_replay_size=args.min_replay_size,
    max_replay_size=args.max_replay_size,
    **VARIANTS[name],
  )
  config = TrainConfig(
    env=args.env,
    seed=args.seed,
    num_seeds=args.num_seeds,
    num_timesteps=args.num_timesteps,
    num_evals=args.num_evals,
    num_envs=args.num_envs,
    num_eval_envs=args.num_eval_envs,
    agent=agent,
    run_dir=tempfile.mkdtemp(prefix="goalax_ablation_"),
    progress=False,
  )
  t0 = time.perf_counter()
  result = train(config)
  success = [row["eval/success"] for row in result.history]
  last_half = success[len(success) // 2 :]
  return dict(
    variant=name,
    env=args.env,
    num_seeds=args.num_seeds,
    seed=args.seed,
    env_steps=result.total_env_steps,
    success_curve=success,
    final_success=success[-1],
    last_half_success=sum(last_half) / len(last_half),
    final_dist=result.history[-1]["eval/final_dist"],
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    wall_s=time.perf_counter() - t0,
    **machine_info(),
    config=dict(
      dataclasses.asdict(agent),
      num_envs=args.num_envs,
      unroll_length=args.unroll_length,
      batch_size=args.batch_size,
      num_eval_envs=args.num_eval_envs,
    ),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
  parser.add_argument("--env", default="reacher")
  parser.add_argument("--num_timesteps", type=int, default=150_000)
  parser.add_argument("--num_seeds", type=int, default=2)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--num_evals", type=int, default=6)
  parser.add_argument("--num_envs", type=int, default=64)
  parser.add_argument("--num_eval_envs", type=int, default=128)
  parser.add_argument("--unroll_length", type=int, default=50)
  parser.add_argument("--batch_size", type=int, default=256)
  parser.add_argument("--min_replay_size", type=int, default=100)
  parser.add_argument("--max_replay_size", type=int, default=2000)
  parser.add_argument("--h_dim", type=int, default=128)
  parser.add_argument("--n_hidden", type=int, default=2, help="hidden depth of every network")
  parser.add_argument(
    "--residual", action="store_true", help="residual blocks of 4 layers (n_hidden a multiple of 4)"
  )
  parser.add_argument("--repr_dim", type=int, default=32)
  parser.add_argument("--out", default=None, help="append one JSON line per variant here")
  args = parser.parse_args()

  print("| variant | final success | success, last half of evals | final dist | per seed |")
  print("|---|---:|---:|---:|---|")
  for name in args.variants:
    rec = run_variant(name, args)
    print(
      f"| {name} | {rec['final_success']:.2f} | {rec['last_half_success']:.2f} | "
      f"{rec['final_dist']:.3f} | {', '.join(f'{s:.2f}' for s in rec['per_seed_final_success'])} |",
      flush=True,
    )
    append_record(args.out, rec)


if __name__ == "__main__":
  main()
