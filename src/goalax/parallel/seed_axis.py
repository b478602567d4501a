"""Running a program over seeds: ``over_seeds``, and conditionals that stay conditionals when
training is ``vmap``-ped over seeds.

Training vmaps everything over seeds (even one seed). Under ``vmap`` a ``lax.cond`` whose
predicate is batched becomes a ``select`` that runs both branches at every call: for the
auto-reset that meant a full reset of every env slot at every env step, for TD3 an actor update
at every gradient step. Here the predicate is reduced over the vmapped axes too (true when it is
true for any element of any seed), so the ``cond`` stays a ``cond``; the branch then picks per
element, so an element whose own predicate is false gets back exactly what it had.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import jax
import jax.numpy as jnp

T = TypeVar("T")


def over_seeds(fn: Callable, num_seeds: int, shared: int = 0) -> Callable:
  """``fn`` over a leading seed axis of every argument and result: ``jax.vmap(fn)``, except for
  one seed, where it is ``fn`` itself on the arguments without that axis. The last ``shared``
  arguments have no seed axis: every seed reads the same ones (an offline run's dataset; vmap's
  ``in_axes`` None).

  Why not ``vmap`` for one seed too: under ``vmap`` every network matmul is a batched
  ``dot_general`` (even at batch 1), which XLA:CPU runs more slowly than a plain matmul, most of
  all for LayerNorm's small products: CRL's update at batch 256 with LayerNorm took 5.7 ms
  vmapped over one seed and 3.1 ms without on the 2-core machine
  (``benchmarks/profile_step.py``). The results are the same up to float rounding.
  """
  if num_seeds > 1:
    if not shared:
      return jax.vmap(fn)
    return lambda *args: jax.vmap(fn, in_axes=_in_axes(len(args), shared))(*args)

  def one_seed(*args):
    own = len(args) - shared
    out = fn(*jax.tree.map(lambda x: x[0], args[:own]), *args[own:])
    return jax.tree.map(lambda x: jnp.expand_dims(x, 0), out)

  return one_seed


def _in_axes(num_args: int, shared: int) -> tuple:
  """vmap's ``in_axes``: the seed axis 0 for each argument but the last ``shared`` (None)."""
  return (0,) * (num_args - shared) + (None,) * shared


@jax.custom_batching.custom_vmap
def any_across_vmap(flags: jax.Array) -> jax.Array:
  """``any(flags)`` as a scalar that stays unbatched under ``vmap`` (reduced over every axis,
  the vmapped ones included)."""
  return jnp.any(flags)


@any_across_vmap.def_vmap
def _any_across_vmap_batched(axis_size, in_batched, flags):
  del axis_size, in_batched
  return jnp.any(flags), False


def apply_where(predicate: jax.Array, fn: Callable[[T], T], value: T) -> T:
  """``fn(value)`` where the scalar ``predicate`` holds, else ``value``: per element under
  ``vmap``, with ``fn`` computed only on calls where some element needs it."""

  def run(value: T) -> T:
    return jax.tree.map(lambda new, old: jnp.where(predicate, new, old), fn(value), value)

  return jax.lax.cond(any_across_vmap(predicate), run, lambda value: value, value)
