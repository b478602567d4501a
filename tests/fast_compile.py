"""``fast_jit``: ``jax.jit`` with XLA's cheapest compile, for programs the tests run briefly.

On CPU, LLVM's backend optimisations cost more compile time than they save on a few hundred steps
of a few envs (ant probe: 27 s -> 16 s to compile, 0.3 s -> 1.9 s to run), and XLA:CPU's new
fusion emitters cost more again (ant probe compile 4.8 -> 2.8 s, arm_reach 16.2 -> 11.1 s with
them off; benchmarks/results/README.md). Learning tests, which run long, use the library's
normal ``jax.jit``; tiny training runs use the same options through ``--fast_compile``.
"""

import functools

import jax

from goalax.run.programs import FAST_COMPILE_OPTIONS

fast_jit = functools.partial(jax.jit, compiler_options=FAST_COMPILE_OPTIONS)


def jit_for(train_steps: int):
  """``fast_jit`` for a probe of a few dozen training steps, ``jax.jit`` from 80 on: there the
  optimised program's shorter run outweighs its longer compile (measured, cold cache, shared
  2-core machine: SAC's bootstrap probe of 160 steps took 100 s with ``fast_jit``, 29 s with
  ``jax.jit``)."""
  return jax.jit if train_steps >= 80 else fast_jit
