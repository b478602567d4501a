"""Time of one QRL update (critic, multiplier, actor, temperature) by quasimetric head.

    python benchmarks/qrl_update.py                       # batch 256, the QRL defaults
    python benchmarks/qrl_update.py --batch_size 1024 --rounds 5

Variants, each compiled once in this process and timed round-robin (``--rounds`` rounds of
``--calls`` calls, the minimum per call kept: load from other processes only ever adds time):

- ``iqe``: goalax's IQE (:func:`goalax.agents.quasimetric.interval_union_length`, a masked max over the
  ``m x m`` pairs of a component's intervals);
- ``iqe_sorted``: the same union length by a sort of the starts and a cumulative max of the ends
  (goalax's form before 2026-12-05, and ``torchqmet``'s), swapped in while the update is traced;
- ``mrn``: the MRN head, the floor set by the encoders, dynamics and actor.

Sizes are reacher's (state 10, goal 2, action 2); the batch is random (the time does not depend
on the values). Appends one JSON line per variant to ``--out`` when given.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import jax
import jax.numpy as jnp
from records import append_record, machine_info

from goalax.agents import quasimetric
from goalax.agents.qrl import QRLConfig, make_qrl

STATE, GOAL, ACTION = 10, 2, 2


def sorted_union_length(start: jax.Array, end: jax.Array) -> jax.Array:
  """The union's length by sorting: interval ``j`` in order of starts adds ``relu(end_j -
  max(start_j, largest end before it))``."""
  order = jnp.argsort(start, axis=-1)
  start = jnp.take_along_axis(start, order, axis=-1)
  end = jnp.take_along_axis(end, order, axis=-1)
  covered_to = jax.lax.cummax(end, axis=end.ndim - 1)
  before = jnp.concatenate([jnp.full_like(end[..., :1], -jnp.inf), covered_to[..., :-1]], axis=-1)
  return jnp.sum(jax.nn.relu(end - jnp.maximum(start, before)), axis=-1)


@contextlib.contextmanager
def union_length(fn):
  """Swaps :func:`goalax.agents.quasimetric.interval_union_length` while a program is traced."""
  original = quasimetric.interval_union_length
  quasimetric.interval_union_length = fn
  try:
    yield
  finally:
    quasimetric.interval_union_length = original


def compiled_update(variant: str, batch_size: int):
  config = QRLConfig(quasimetric="mrn" if variant == "mrn" else "iqe")
  agent = make_qrl(config, STATE, GOAL, ACTION)
  key = jax.random.PRNGKey(0)
  sizes = dict(state=STATE, next_state=STATE, goal=GOAL, actor_goal=GOAL, action=ACTION)
  batch = {
    name: jax.random.normal(jax.random.fold_in(key, i), (batch_size, size))
    for i, (name, size) in enumerate(sizes.items())
  }
  state = agent.init(key)
  swap = sorted_union_length if variant == "iqe_sorted" else quasimetric.interval_union_length
  with union_length(swap):
    update = jax.jit(agent.update).lower(state, batch, key).compile()
  return lambda: update(state, batch, key)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch_size", type=int, default=256)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--calls", type=int, default=30)
  parser.add_argument("--out", default=None, help="append JSON lines here")
  args = parser.parse_args()
  variants = {name: compiled_update(name, args.batch_size) for name in ("iqe", "iqe_sorted", "mrn")}
  best = {name: float("inf") for name in variants}
  for _ in range(args.rounds):
    for name, call in variants.items():
      jax.block_until_ready(call())
      start = time.perf_counter()
      for _ in range(args.calls):
        out = call()
      jax.block_until_ready(out)
      best[name] = min(best[name], (time.perf_counter() - start) / args.calls)
  for name, seconds in best.items():
    print(f"{name:11s} {seconds * 1e3:7.1f} ms per update (batch {args.batch_size})")
    if args.out:
      record = dict(variant=name, batch_size=args.batch_size, ms_per_update=seconds * 1e3)
      append_record(args.out, {**record, **machine_info()})


if __name__ == "__main__":
  main()
