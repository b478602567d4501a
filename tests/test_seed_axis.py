"""over_seeds: one seed without a batch axis, more seeds vmapped; apply_where: per-element results
under vmap, and a real conditional (not a select)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxprs_in_params

from goalax.parallel.seed_axis import apply_where, over_seeds


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


def _batched_dots(jaxpr) -> list[bool]:
  """For each dot_general: whether it has batch dimensions."""
  return [
    bool(eqn.params["dimension_numbers"][1][0])
    for eqn in jaxpr.eqns
    if eqn.primitive.name == "dot_general"
  ]


def test_over_seeds_runs_one_seed_without_a_batch_axis():
  """One seed: the program is the function itself (plain matmuls, which XLA:CPU runs on every
  core), with the seed axis taken off the arguments and put back on the results; two seeds: vmap.
  Both compute what vmap computes."""
  rng = np.random.default_rng(0)

  def layer(params, x):
    return {"y": jnp.tanh(x @ params["w"]), "n": jnp.sum(x)}

  for seeds in (1, 2):
    params = {"w": jnp.asarray(rng.normal(size=(seeds, 4, 3)), jnp.float32)}
    x = jnp.asarray(rng.normal(size=(seeds, 5, 4)), jnp.float32)
    out = jax.jit(over_seeds(layer, seeds))(params, x)
    expected = jax.vmap(layer)(params, x)
    assert out["y"].shape == (seeds, 5, 3) and out["n"].shape == (seeds,)
    np.testing.assert_allclose(out["y"], expected["y"], rtol=1e-6)
    np.testing.assert_allclose(out["n"], expected["n"], rtol=1e-6)
    dots = _batched_dots(jax.make_jaxpr(over_seeds(layer, seeds))(params, x).jaxpr)
    assert dots == [seeds > 1]
