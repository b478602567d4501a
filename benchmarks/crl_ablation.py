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

A variant is a name of :data:`VARIANTS` or ``field=value[,field=value...]`` over ``CRLConfig``'s
fields (``energy_fn=cosine,energy_temperature=0.1``, ``discounting=0.999``,
``env_steps_per_update=8``), plus two that no flag gives: ``energy_fn=cosine_jaxgcrl`` (JaxGCRL's
cosine, normalised by the norms of the whole batch, registered here only) and ``future=uniform``
(hindsight goals uniform over the rest of the episode, HER's law, instead of geometric).
The record also keeps the final training diagnostics (mean over seeds), and with
``--success_by_path_length`` (mazes) each seed's final success and replay data per shortest-path
length from the start (``maze_reach.py``).
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
  "energy=cosine,temperature=1": dict(energy_fn="cosine", energy_temperature=1.0),
  "energy=cosine,learned_temperature": dict(energy_fn="cosine", learn_energy_temperature=True),
  "energy=cosine_jaxgcrl": dict(energy_fn="cosine_jaxgcrl"),
}

#: Training metrics kept in the record (their last value, mean over seeds).
DIAGNOSTICS = (
  "categorical_accuracy",
  "logits_pos",
  "logits_neg",
  "logsumexp",
  "alpha",
  "entropy",
  "energy_temperature",
)


def _paired_cosine_jaxgcrl(x, y):
  """JaxGCRL's ``cosine``: ``sum(x*y, -1) / (||x|| ||y|| + 1e-6)`` where ``jnp.linalg.norm``
  without an axis is the norm of the WHOLE array (all rows), not of each row."""
  import jax.numpy as jnp

  return jnp.sum(x * y, axis=-1) / (jnp.linalg.norm(x) * jnp.linalg.norm(y) + 1e-6)


def register_jaxgcrl_cosine() -> None:
  """Adds ``cosine_jaxgcrl`` to the energy registries of this process (the benchmark's only)."""
  from goalax.agents import contrastive

  def energy(sa_repr, g_repr):  # [B, 1, D] x [1, B, D] as JaxGCRL calls it -> [B, B]
    return _paired_cosine_jaxgcrl(sa_repr[:, None, :], g_repr[None, :, :])

  contrastive.ENERGY_FNS["cosine_jaxgcrl"] = energy
  contrastive.PAIRED_ENERGY_FNS["cosine_jaxgcrl"] = _paired_cosine_jaxgcrl


def uniform_future_config_class():
  """A CRL config whose hindsight goals are uniform over the rest of the episode (HER's
  "future"), registered as the agent ``crl_uniform_future`` in this process."""
  import dataclasses as dc

  from goalax import agents
  from goalax.agents.crl import CRLConfig, make_crl

  class CRLUniformFutureConfig(CRLConfig):
    def goal_sampling(self):
      return dc.replace(super().goal_sampling(), future="uniform")

  # AgentSpec finds the config class and its constructor by name in one module: this one.
  CRLUniformFutureConfig.__module__ = __name__
  globals().update(CRLUniformFutureConfig=CRLUniformFutureConfig, make_crl=make_crl)
  agents.REGISTRY["crl_uniform_future"] = agents.AgentSpec(
    __name__, "CRLUniformFutureConfig", "make_crl", "CRL, uniform future goals"
  )
  return CRLUniformFutureConfig


def parse_variant(name: str) -> tuple[dict, bool]:
  """``(CRLConfig overrides, uniform future goals?)`` of a variant name."""
  if name in VARIANTS:
    fields = dict(VARIANTS[name])
  else:
    from goalax.agents.crl import CRLConfig

    types = {f.name: f.type for f in dataclasses.fields(CRLConfig)}
    fields = {}
    for item in name.split(","):
      key, _, value = item.partition("=")
      if key == "future":
        fields[key] = value
        continue
      if key not in types:
        raise SystemExit(f"variant {name!r}: {key!r} is not a CRLConfig field or 'future'.")
      kind = types[key] if isinstance(types[key], str) else types[key].__name__
      if kind.startswith("bool"):
        fields[key] = value.lower() in ("1", "true", "on", "yes")
      elif kind.startswith("int"):
        fields[key] = int(value)
      elif kind.startswith("float"):
        fields[key] = float(value)
      else:
        fields[key] = value
  future = fields.pop("future", "geometric")
  if future not in ("geometric", "uniform"):
    raise SystemExit(f"variant {name!r}: future must be geometric or uniform, got {future!r}.")
  return fields, future == "uniform"


def run_variant(name: str, args) -> dict:
  with contextlib.redirect_stdout(io.StringIO()):
    from goalax.agents.crl import CRLConfig
    from goalax.config import TrainConfig
    from goalax.run.host_loop import train

  fields, uniform_future = parse_variant(name)
  if fields.get("energy_fn") == "cosine_jaxgcrl":
    register_jaxgcrl_cosine()
  config_class = uniform_future_config_class() if uniform_future else CRLConfig
  base = dict(
    h_dim=args.h_dim,
    n_hidden=args.n_hidden,
    residual=args.residual,
    repr_dim=args.repr_dim,
    unroll_length=args.unroll_length,
    batch_size=args.batch_size,
    min_replay_size=args.min_replay_size,
    max_replay_size=args.max_replay_size,
  )
  agent = config_class(**{**base, **fields})  # a variant may change the network size too
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
  wall_s = time.perf_counter() - t0
  success = [row["eval/success"] for row in result.history]
  last_half = success[len(success) // 2 :]
  final = result.history[-1]
  extra = {}
  if args.success_by_path_length:
    import jax
    from maze_reach import replay_by_path_length, success_by_path_length

    from goalax.run.plan import make_plan

    setup = make_plan(config)
    key = jax.random.PRNGKey(12345)
    extra["success_by_path_length"] = success_by_path_length(setup, result.final_state, key, 512)
    extra["replay_by_path_length"] = replay_by_path_length(setup, result.final_state)
  return dict(
    variant=name,
    env=args.env,
    num_seeds=args.num_seeds,
    seed=args.seed,
    env_steps=result.total_env_steps,
    success_curve=success,
    final_success=success[-1],
    last_half_success=sum(last_half) / len(last_half),
    final_dist=final["eval/final_dist"],
    final_time_near_goal=final["eval/time_near_goal"],
    per_seed_final_success=[rows[-1]["eval/success"] for rows in result.per_seed],
    diagnostics={k: final[f"train/{k}"] for k in DIAGNOSTICS if f"train/{k}" in final},
    **extra,
    wall_s=wall_s,
    train_s=result.train_seconds,
    compile_s=result.compile_seconds,
    **machine_info(),
    config=dict(
      dataclasses.asdict(agent),
      goal_law="uniform future" if uniform_future else "geometric future",
      num_envs=args.num_envs,
      unroll_length=args.unroll_length,
      batch_size=args.batch_size,
      num_eval_envs=args.num_eval_envs,
      num_timesteps=args.num_timesteps,
    ),
  )


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--variants",
    nargs="*",
    default=[v for v in VARIANTS if "temperature" not in v and "jaxgcrl" not in v],
    help="names of VARIANTS or field=value[,field=value] (see the module docstring)",
  )
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
  parser.add_argument(
    "--success_by_path_length",
    action="store_true",
    help="(mazes) also evaluate each seed's final policy per goal distance in cells",
  )
  parser.add_argument("--out", default=None, help="append one JSON line per variant here")
  args = parser.parse_args()

  print("| variant | final success | success, last half of evals | final dist | per seed |")
  print("|---|---:|---:|---:|---|")
  for name in args.variants:
    parse_variant(name)  # fail before training on a misspelt variant
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
