"""apply_where: per-element results under vmap, and a real conditional (not a select)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxprs_in_params

from goalax.batching import apply_where


def _count_primitives(jaxpr, name):
  count = 0
  for eqn in jaxpr.eqns:
    count += eqn.primitive.name == name
    for sub in jaxprs_in_params(eqn.params):
      count += _count_primitives(sub, name)
  return count


def test_apply_where_selects_per_element_under_vmap():
  double = lambda x: {"a": 2.0 * x["a"], "b": x["b"] + 1}
  values = {"a": jnp.array([1.0, 3.0, 5.0]), "b": jnp.array([0, 0, 0])}
  out = jax.jit(jax.vmap(lambda p, v: apply_where(p, double, v)))(
    jnp.array([True, False, True]), values
  )
  np.testing.assert_array_equal(out["a"], [2.0, 3.0, 10.0])
  np.testing.assert_array_equal(out["b"], [1, 0, 1])
  none = jax.vmap(lambda p, v: apply_where(p, double, v))(jnp.array([False] * 3), values)
  np.testing.assert_array_equal(none["a"], values["a"])


def test_apply_where_stays_a_conditional_under_vmap():
  """A plain lax.cond with a batched predicate becomes a select that runs the expensive branch;
  apply_where keeps a cond whose false branch does no work."""
  expensive = lambda x: jnp.sin(x) @ jnp.cos(x).T
  jaxpr = jax.make_jaxpr(jax.vmap(lambda p, x: apply_where(p, expensive, x)))(
    jnp.array([True, False]), jnp.ones((2, 4, 4))
  ).jaxpr
  assert _count_primitives(jaxpr, "cond") == 1
  plain = jax.make_jaxpr(jax.vmap(lambda p, x: jax.lax.cond(p, expensive, lambda x: x, x)))(
    jnp.array([True, False]), jnp.ones((2, 4, 4))
  ).jaxpr
  assert _count_primitives(plain, "cond") == 0  # what apply_where avoids
