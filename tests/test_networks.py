"""Tests for goalax.networks: shapes, residual layout, deep-net stability, tanh-Gaussian maths."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit
from scipy import integrate, stats

from goalax import networks
from goalax.networks import MLP, Encoder, TanhGaussianActor

# Tests check correctness, not speed: compile with XLA's backend optimisations off, which
# roughly halves CPU compile time here and keeps the test files fast on small machines.


def _dense_names(params):
  return sorted(k for k in params["params"] if k.startswith("Dense_"))


def _layer_norm_names(params):
  return sorted(k for k in params["params"] if k.startswith("LayerNorm_"))


@pytest.mark.parametrize("residual,num_hidden", [(False, 0), (False, 3), (True, 4), (True, 8)])
def test_mlp_output_shape_and_layer_count(residual, num_hidden):
  mlp = MLP(hidden_dim=8, num_hidden=num_hidden, output_dim=5, residual=residual)
  x = jnp.ones((2, 3, 7))
  # eval_shape traces without compiling: shapes and parameter structure only.
  params = jax.eval_shape(mlp.init, jax.random.PRNGKey(0), x)
  assert jax.eval_shape(mlp.apply, params, x).shape == (2, 3, 5)
  # Plain: num_hidden hidden Dense + output. Residual: input Dense + num_hidden + output.
  expected_dense = num_hidden + 1 + (1 if residual else 0)
  assert len(_dense_names(params)) == expected_dense
  assert len(_layer_norm_names(params)) == expected_dense - 1
  first_width = 8 if expected_dense > 1 else 5  # with no hidden layer, Dense_0 is the output
  assert params["params"]["Dense_0"]["kernel"].shape == (7, first_width)


def test_mlp_without_layer_norm_has_none():
  mlp = MLP(hidden_dim=8, num_hidden=2, output_dim=3, use_layer_norm=False, activation="relu")
  params = jax.eval_shape(mlp.init, jax.random.PRNGKey(0), jnp.ones((1, 4)))
  assert _layer_norm_names(params) == []
  assert len(_dense_names(params)) == 3


def test_encoder_and_actor_shapes():
  x = jnp.ones((4, 6))
  enc = Encoder(repr_dim=16, hidden_dim=8, num_hidden=2)
  assert enc.apply(enc.init(jax.random.PRNGKey(0), x), x).shape == (4, 16)
  actor = TanhGaussianActor(action_dim=3, hidden_dim=8, num_hidden=2)
  params = actor.init(jax.random.PRNGKey(1), x)
  mean, log_std = actor.apply(params, x)
  assert mean.shape == log_std.shape == (4, 3)
  # Small output init: near-zero mean; log-std starts near soft_clip(0) ~ -0.12.
  assert float(jnp.max(jnp.abs(mean))) < 0.1
  assert float(jnp.max(jnp.abs(log_std - networks.soft_clip(jnp.zeros(()), -5.0, 2.0)))) < 0.1


@pytest.mark.parametrize("n_hidden,nearest", [(2, "4"), (0, "4"), (6, "4 or 8"), (10, "8 or 12")])
def test_residual_depth_validation(n_hidden, nearest):
  with pytest.raises(ValueError) as err:
    MLP(hidden_dim=8, num_hidden=n_hidden, output_dim=2, residual=True)
  msg = str(err.value)
  assert "n_hidden" in msg and f"nearest valid values: {nearest}" in msg
  with pytest.raises(ValueError, match="n_hidden"):
    networks.validate_depth(n_hidden, residual=True)
  networks.validate_depth(n_hidden, residual=False)  # any depth is fine without residual
  networks.validate_depth(12, residual=True)


def test_unknown_activation_raises():
  with pytest.raises(ValueError, match="activation"):
    MLP(hidden_dim=8, num_hidden=1, output_dim=2, activation="gelu")


def test_residual_block_has_identity_skip():
  # If the last Dense of the only block outputs 0, LayerNorm(0) = 0 and swish(0) = 0, so the block
  # adds nothing and the residual net must equal a 1-hidden-layer plain net with the same
  # input layer and output layer.
  res = MLP(hidden_dim=8, num_hidden=4, output_dim=3, residual=True)
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 6))
  p = res.init(jax.random.PRNGKey(1), x)["params"]
  p = dict(p)
  p["Dense_4"] = jax.tree.map(jnp.zeros_like, p["Dense_4"])  # last layer of the block
  plain = MLP(hidden_dim=8, num_hidden=1, output_dim=3, residual=False)
  q = {"Dense_0": p["Dense_0"], "LayerNorm_0": p["LayerNorm_0"], "Dense_1": p["Dense_5"]}
  np.testing.assert_allclose(
    res.apply({"params": p}, x), plain.apply({"params": q}, x), rtol=1e-5, atol=1e-6
  )


def test_deep_residual_net_is_finite_with_finite_gradients():
  mlp = MLP(hidden_dim=16, num_hidden=16, output_dim=4, residual=True)
  x = 3.0 * np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)

  def loss(p):
    out = mlp.apply(p, x)
    return jnp.mean(jnp.square(out)), out

  @fast_jit
  def init_and_grad(key):
    return jax.value_and_grad(loss, has_aux=True)(mlp.init(key, x))

  (_, out), grads = init_and_grad(jax.random.PRNGKey(1))
  assert out.shape == (8, 4) and bool(jnp.all(jnp.isfinite(out)))
  leaves = jax.tree.leaves(grads)
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
  # Gradient reaches the very first layer of the 17-hidden-layer net.
  assert float(jnp.max(jnp.abs(grads["params"]["Dense_0"]["kernel"]))) > 0.0


def test_log_one_minus_tanh_sq_is_stable():
  x = jnp.array([-20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0])
  got = networks.log_one_minus_tanh_sq(x)
  moderate = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
  np.testing.assert_allclose(got[1:6], np.log1p(-(np.tanh(moderate) ** 2)), rtol=1e-5, atol=1e-6)
  # 1 - tanh(x)^2 = sech(x)^2 = 4 / (e^x + e^-x)^2 ~ 4 e^{-2|x|}: log ~ log 4 - 40 at |x| = 20,
  # where the naive form would give log(0) = -inf in float32.
  np.testing.assert_allclose(got[jnp.array([0, 6])], [math.log(4.0) - 40.0] * 2, rtol=1e-6)


def test_tanh_gaussian_log_prob_matches_naive_formula():
  mean = jnp.array([[0.3, -1.0], [0.0, 0.5]])
  log_std = jnp.array([[-0.5, 0.2], [0.0, -1.0]])
  u = jnp.array([[1.2, -0.4], [-2.0, 0.7]])
  got = networks.tanh_gaussian_log_prob(u, mean, log_std)
  m, s, un = (np.asarray(a, np.float64) for a in (mean, log_std, u))
  naive = stats.norm.logpdf(un, loc=m, scale=np.exp(s)) - np.log(1.0 - np.tanh(un) ** 2)
  np.testing.assert_allclose(got, naive.sum(-1), rtol=1e-5)


def test_tanh_gaussian_density_integrates_to_one():
  # Change of variables check: p(a) = exp(log_prob(arctanh a)) must integrate to 1 on (-1, 1).
  mean, log_std = jnp.array([0.4]), jnp.array([-0.3])
  a = np.linspace(-1.0 + 1e-7, 1.0 - 1e-7, 400_001)
  u = jnp.asarray(np.arctanh(a), jnp.float32)[:, None]
  density = np.asarray(jnp.exp(networks.tanh_gaussian_log_prob(u, mean, log_std)), np.float64)
  assert integrate.trapezoid(density, a) == pytest.approx(1.0, abs=1e-4)


def test_sample_action_in_open_interval_and_log_prob_consistent():
  actor = TanhGaussianActor(action_dim=2, hidden_dim=8, num_hidden=1)
  obs = jax.random.normal(jax.random.PRNGKey(0), (512, 3))
  params = actor.init(jax.random.PRNGKey(1), obs)

  @fast_jit
  def run(p, key):
    action, log_prob = networks.sample_action(p, actor.apply, obs, key)
    mean, log_std = actor.apply(p, obs)
    return action, log_prob, mean, log_std, networks.deterministic_action(p, actor.apply, obs)

  action, log_prob, mean, log_std, det = run(params, jax.random.PRNGKey(2))
  assert action.shape == (512, 2) and log_prob.shape == (512,)
  assert bool(jnp.all(jnp.abs(action) < 1.0))
  assert float(jnp.std(action)) > 0.1  # actually stochastic
  # Recover u = arctanh(a) and recompute the density naively in float64.
  mean, log_std = (np.asarray(t, np.float64) for t in (mean, log_std))
  a = np.asarray(action, np.float64)
  u = np.arctanh(a)
  naive = (stats.norm.logpdf(u, mean, np.exp(log_std)) - np.log(1.0 - a**2)).sum(-1)
  np.testing.assert_allclose(log_prob, naive, rtol=1e-3, atol=1e-3)
  np.testing.assert_allclose(det, np.tanh(mean), rtol=1e-5, atol=1e-6)


def test_sample_action_gradient_flows_through_reparameterisation():
  actor = TanhGaussianActor(action_dim=2, hidden_dim=8, num_hidden=1)
  obs = jnp.ones((4, 3))
  params = actor.init(jax.random.PRNGKey(1), obs)

  def loss(p):
    a, lp = networks.sample_action(p, actor.apply, obs, jax.random.PRNGKey(0))
    return jnp.sum(a) + jnp.sum(lp)

  grads = jax.tree.leaves(fast_jit(jax.grad(loss))(params))
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
  assert max(float(jnp.max(jnp.abs(g))) for g in grads) > 0.0


def test_layer_norm_matches_flax_values_gradients_and_parameters():
  import flax.linen as nn

  x = 3.0 + 2.0 * jax.random.normal(jax.random.PRNGKey(0), (2, 5, 64))  # mean far from 0
  ours, theirs = networks.LayerNorm(), nn.LayerNorm()
  params = ours.init(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
    jnp.shape, theirs.init(jax.random.PRNGKey(1), x)
  )
  params = {
    "params": {
      "scale": 1.0 + 0.1 * jax.random.normal(jax.random.PRNGKey(2), (64,)),
      "bias": 0.1 * jax.random.normal(jax.random.PRNGKey(3), (64,)),
    }
  }
  weights = jax.random.normal(jax.random.PRNGKey(4), x.shape)

  def loss(module):
    return lambda p, x: jnp.sum(jnp.tanh(module.apply(p, x)) * weights)

  np.testing.assert_allclose(ours.apply(params, x), theirs.apply(params, x), rtol=1e-5, atol=1e-5)
  ours_grads = jax.grad(loss(ours), argnums=(0, 1))(params, x)
  theirs_grads = jax.grad(loss(theirs), argnums=(0, 1))(params, x)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), ours_grads, theirs_grads
  )


def test_mlp_parameters_keep_flax_layer_norm_names():
  params = MLP(hidden_dim=8, num_hidden=2, output_dim=3).init(
    jax.random.PRNGKey(0), jnp.ones((1, 4))
  )
  assert set(params["params"]) == {"Dense_0", "LayerNorm_0", "Dense_1", "LayerNorm_1", "Dense_2"}
  assert set(params["params"]["LayerNorm_0"]) == {"scale", "bias"}
