"""A run's numbers checked at every epoch: NaN or inf in its metrics or its agent's state stops
the run with one message naming where, and the last good checkpoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp


class NonFiniteError(FloatingPointError):
  """NaN or inf in a run's metrics or agent state; the last good checkpoint is named."""


@jax.jit
def all_finite(tree) -> jax.Array:
  """Whether every float leaf of ``tree`` is finite (one boolean on the device)."""
  leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else True


def non_finite_message(epoch: int, bad: list[str], run_dir: str, last_saved) -> str:
  """The one message of a run stopped at ``epoch`` by non-finite ``bad`` metrics (or agent
  state, when ``bad`` is empty), naming the last checkpoint saved (or that none was)."""
  where = f"in {', '.join(sorted(bad))}" if bad else "in the agent's parameters"
  if last_saved is not None:
    kept = (
      f"the last good checkpoint, {last_saved.path} (epoch {last_saved.epoch}), is kept and "
      "nothing later was saved"
    )
  else:
    kept = "no checkpoint was saved before"
  return (
    f"non-finite values at epoch {epoch} {where}; stopping: {kept}; the metrics up to here are "
    f"in {run_dir or '(no run dir)'}. Try lower learning rates or --use_layer_norm."
  )
