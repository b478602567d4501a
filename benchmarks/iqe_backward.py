"""Where QRL's IQE head spends its time: one IQE-maxmean distance's forward alone against its
forward and gradient, with JAX's own gradient and with an explicit custom VJP of the interval
union's length (the same arithmetic as JAX's, op for op, so the same bits; it only tests whether
spelling the backward out lets XLA compile it better).

    python benchmarks/iqe_backward.py --out benchmarks/results/agent_pace.jsonl

Sizes: QRL's defaults at batch 256 (latent 256 = 32 components of 8), random latents. Each
program is compiled once and timed round-robin (``--rounds`` rounds of ``--calls`` calls, the
minimum per call kept). The gradients of both forms are compared bit for bit.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from records import append_record, machine_info

from goalax.agents import quasimetric

BATCH, LATENT, PER_COMPONENT, MAX_WEIGHT = 256, 256, 8, 0.27
FORMS = ("jax gradient", "explicit custom VJP")


def union_parts(start, end):
  """``interval_union_length``'s intermediates: ``(earlier [..., i, j], masked [..., i, j],
  covered_to [..., m], lower [..., m], gap [..., m])``."""
  m = start.shape[-1]
  position = jnp.arange(m)
  start_i, start_j = start[..., :, None], start[..., None, :]
  earlier = (start_i < start_j) | ((start_i == start_j) & (position[:, None] < position[None, :]))
  masked = jnp.where(earlier, end[..., :, None], -jnp.inf)
  covered_to = jnp.max(masked, axis=-2)
  lower = jnp.maximum(start, covered_to)
  return earlier, masked, covered_to, lower, end - lower


@jax.custom_vjp
def union_length_vjp(start, end):
  """``interval_union_length`` with its backward written out."""
  return jnp.sum(jax.nn.relu(union_parts(start, end)[-1]), axis=-1)


def _forward(start, end):
  return union_length_vjp(start, end), (start, end)


def _balanced(a, z, b):
  """``lax.max``'s gradient share of ``a`` in ``z = max(a, b)``: 1, 0.5 on a tie, else 0."""
  return jnp.where(a == z, jnp.where(b == z, 0.5, 1.0), 0.0).astype(a.dtype)


def _backward(residuals, ct):
  start, end = residuals
  earlier, masked, covered_to, lower, gap = union_parts(start, end)
  ct_gap = jnp.where(gap > 0, ct[..., None], jnp.zeros_like(gap))
  ct_lower = -ct_gap
  ct_start = ct_lower * _balanced(start, lower, covered_to)
  ct_covered = ct_lower * _balanced(covered_to, lower, start)
  chosen = (masked == covered_to[..., None, :]).astype(start.dtype)
  share = (ct_covered / jnp.sum(chosen, axis=-2))[..., None, :] * chosen
  return ct_start, ct_gap + jnp.sum(jnp.where(earlier, share, 0.0), axis=-1)


union_length_vjp.defvjp(_forward, _backward)


def programs(x, y) -> dict:
  original, out = quasimetric.interval_union_length, {}
  for form, union in zip(FORMS, (original, union_length_vjp)):
    quasimetric.interval_union_length = union
    distance = lambda x, y: quasimetric.iqe(x, y, PER_COMPONENT, MAX_WEIGHT).sum()  # noqa: E731
    out[f"{form}: forward"] = jax.jit(distance).lower(x, y).compile()
    out[f"{form}: forward + gradient"] = jax.jit(jax.grad(distance, (0, 1))).lower(x, y).compile()
  quasimetric.interval_union_length = original
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--calls", type=int, default=20)
  parser.add_argument("--conditions", default="", help="load on the machine, kept in records")
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  x, y = jax.random.normal(jax.random.PRNGKey(0), (2, BATCH, LATENT))
  compiled = programs(x, y)
  best = dict.fromkeys(compiled, float("inf"))
  for _ in range(args.rounds):
    for name, fn in compiled.items():
      start = time.perf_counter()
      for _ in range(args.calls):
        out = fn(x, y)
      jax.block_until_ready(out)
      best[name] = min(best[name], (time.perf_counter() - start) / args.calls)
  grads = [compiled[f"{form}: forward + gradient"](x, y) for form in FORMS]
  same = all(bool((a == b).all()) for a, b in zip(*grads))
  for name, seconds in best.items():
    print(f"{name:40s} {seconds * 1e3:6.3f} ms")
  print("gradients bit for bit the same:", same)
  record = dict(
    benchmark="iqe_backward",
    batch_size=BATCH,
    latent_dim=LATENT,
    dim_per_component=PER_COMPONENT,
    ms_per_call={k: v * 1e3 for k, v in best.items()},
    gradients_identical=same,
    conditions=args.conditions,
  )
  append_record(args.out, {**record, **machine_info()})


if __name__ == "__main__":
  main()
