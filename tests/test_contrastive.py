"""Tests for goalax.agents.contrastive: hand-computed energies and losses, registries, gradients."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from goalax.agents import contrastive, crl

E = math.e
SQRT5, SQRT13 = math.sqrt(5.0), math.sqrt(13.0)

# ---------------------------------------------------------------------------------------------
# Energies on phi = [[0,0],[1,0],[0,2]], psi = [[0,0],[3,4],[1,0]]; logits[i, j] = E(phi_i, psi_j)
# Differences phi_i - psi_j:
#   i=0: (0,0) (-3,-4) (-1,0)     i=1: (1,0) (-2,-4) (0,0)     i=2: (0,2) (-3,-2) (-1,2)
# ---------------------------------------------------------------------------------------------
PHI = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
PSI = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])

EXPECTED_ENERGY = {
  # -||d||_2: row0 sqrt(0), sqrt(9+16)=5, sqrt(1)=1; row1 1, sqrt(4+16)=2*sqrt5, 0;
  #           row2 sqrt(4)=2, sqrt(9+4)=sqrt13, sqrt(1+4)=sqrt5
  "l2": -np.array([[0.0, 5.0, 1.0], [1.0, 2 * SQRT5, 0.0], [2.0, SQRT13, SQRT5]]),
  # -||d||^2: the squares of the above
  "l2_sq": -np.array([[0.0, 25.0, 1.0], [1.0, 20.0, 0.0], [4.0, 13.0, 5.0]]),
  # -||d||_1: row0 0, 3+4, 1; row1 1, 2+4, 0; row2 2, 3+2, 1+2
  "l1": -np.array([[0.0, 7.0, 1.0], [1.0, 6.0, 0.0], [2.0, 5.0, 3.0]]),
  # phi_i . psi_j: row0 all 0; row1 0, 1*3, 1*1; row2 0, 2*4, 0
  "dot": np.array([[0.0, 0.0, 0.0], [0.0, 3.0, 1.0], [0.0, 8.0, 0.0]]),
  # unit rows: phi -> 0, (1,0), (0,1); psi -> 0, (0.6,0.8), (1,0); zero vectors stay 0
  "cosine": np.array([[0.0, 0.0, 0.0], [0.0, 0.6, 1.0], [0.0, 0.8, 0.0]]),
  # MRN with D=2: sym = coord 0 (|x0-y0|), asym = coord 1 (relu(x1-y1)):
  #   i=0 (0,0): j0 0+0; j1 3+relu(-4)=3; j2 1+0 = 1
  #   i=1 (1,0): j0 1+0; j1 2+relu(-4)=2; j2 0+0 = 0
  #   i=2 (0,2): j0 0+relu(2)=2; j1 3+relu(-2)=3; j2 1+relu(2)=3
  "mrn": -np.array([[0.0, 3.0, 1.0], [1.0, 2.0, 0.0], [2.0, 3.0, 3.0]]),
}


@pytest.mark.parametrize("name", sorted(contrastive.ENERGY_FNS))
def test_energy_hand_computed(name):
  assert set(EXPECTED_ENERGY) == set(contrastive.ENERGY_FNS)
  got = contrastive.ENERGY_FNS[name](PHI, PSI)
  assert got.shape == (3, 3)
  np.testing.assert_allclose(got, EXPECTED_ENERGY[name], rtol=1e-6, atol=1e-6)


def test_mrn_is_asymmetric_with_multi_dim_halves():
  # D = 4: sym = first two coords, asym = last two.
  x = jnp.array([[3.0, 4.0, 1.0, 5.0]])
  y = jnp.array([[0.0, 0.0, 2.0, 1.0]])
  # d(x, y) = ||(3,4)|| + max(relu(1-2), relu(5-1)) = 5 + 4 = 9
  # d(y, x) = ||(-3,-4)|| + max(relu(2-1), relu(1-5)) = 5 + 1 = 6
  np.testing.assert_allclose(contrastive.mrn_energy(x, y), [[-9.0]], rtol=1e-6)
  np.testing.assert_allclose(contrastive.mrn_energy(y, x), [[-6.0]], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(contrastive.ENERGY_FNS))
def test_paired_energy_is_the_diagonal(name):
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 6))
  y = jax.random.normal(jax.random.PRNGKey(1), (5, 6))
  np.testing.assert_allclose(
    contrastive.PAIRED_ENERGY_FNS[name](x, y),
    jnp.diagonal(contrastive.ENERGY_FNS[name](x, y)),
    rtol=1e-5,
    atol=1e-5,
  )


# ---------------------------------------------------------------------------------------------
# Losses on L = [[2,0,0],[0,1,0],[1,0,0]] (diag = 2, 1, 0)
# ---------------------------------------------------------------------------------------------
L = jnp.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
LOG2 = math.log(2.0)


def softplus(x):
  return math.log1p(math.exp(x))


# Row log-sum-exps: log(e^2+2), log(e+2), log(e+2); column ones: log(e^2+1+e), log(e+2), log 3.
FWD = (math.log(E**2 + 2) - 2 + math.log(E + 2) - 1 + math.log(E + 2) - 0) / 3
BWD = (math.log(E**2 + E + 1) - 2 + math.log(E + 2) - 1 + math.log(3.0) - 0) / 3
EXPECTED_LOSS = {
  "infonce": FWD,
  "infonce_backward": BWD,
  "symmetric_infonce": FWD + BWD,
  # BCE: diagonal softplus(-l) = softplus(-2), softplus(-1), log 2; off-diagonal softplus(l):
  # five zeros (log 2 each) and one 1 (softplus(1)); mean over 9 entries.
  "binary": (softplus(-2) + softplus(-1) + LOG2 + 5 * LOG2 + softplus(1)) / 9,
  # FlatNCE value is exp(f - stop_gradient(f)) = 1 for every row.
  "flatnce": 1.0,
  "flatnce_backward": 1.0,
  # FB: -mean(diag) + 0.5 * mean_{i!=j} l_ij^2 = -(2+1+0)/3 + 0.5 * (1^2)/6 = -1 + 1/12
  "fb": -1.0 + 1.0 / 12.0,
  # DP: mean over pairs of softplus(l_ij - l_ii): row0 2*softplus(-2), row1 2*softplus(-1),
  # row2 softplus(1-0) + softplus(0-0)
  "dp": (2 * softplus(-2) + 2 * softplus(-1) + softplus(1) + LOG2) / 6,
  # IPO: (l_ii - l_ij - 1)^2: row0 (2-0-1)^2 x2 = 2, row1 (1-0-1)^2 x2 = 0,
  # row2 (0-1-1)^2 + (0-0-1)^2 = 5  ->  7 / 6
  "ipo": 7.0 / 6.0,
  # SPPO: (l_ii - 1/2)^2 + (l_ij + 1/2)^2: row0 2*(1.5^2 + 0.5^2) = 5, row1 2*(0.5^2 + 0.5^2) = 1,
  # row2 (0.25 + 1.5^2) + (0.25 + 0.25) = 3  ->  9 / 6
  "sppo": 9.0 / 6.0,
}


@pytest.mark.parametrize("name", sorted(contrastive.CONTRASTIVE_LOSSES))
def test_loss_hand_computed(name):
  assert set(EXPECTED_LOSS) == set(contrastive.CONTRASTIVE_LOSSES)
  got = contrastive.CONTRASTIVE_LOSSES[name](L)
  assert got.shape == ()
  assert float(got) == pytest.approx(EXPECTED_LOSS[name], rel=1e-6, abs=1e-6)


def test_flatnce_gradients_hand_computed():
  # d/dL of mean_i exp(f_i - sg f_i) = (1/3) grad f_i; f_i = logsumexp_{j!=i}(l_ij - l_ii).
  # Row 0: l_0j - l_00 = -2, -2 -> softmax 1/2, 1/2; d/dl_00 = -1.
  # Row 1: -1, -1 -> 1/2, 1/2.  Row 2: l_20 - l_22 = 1, l_21 - l_22 = 0 -> e/(e+1), 1/(e+1).
  expected = np.array([[-1, 0.5, 0.5], [0.5, -1, 0.5], [E / (E + 1), 1 / (E + 1), -1]]) / 3
  np.testing.assert_allclose(jax.grad(contrastive.flatnce_loss)(L), expected, rtol=1e-5, atol=1e-7)
  # Columns: col0 l_10 - l_00 = -2, l_20 - l_00 = -1 -> 1/(1+e), e/(1+e);
  # col1 -1, -1 -> 1/2, 1/2; col2 0, 0 -> 1/2, 1/2.
  expected_bwd = np.array([[-1, 0.5, 0.5], [1 / (1 + E), -1, 0.5], [E / (1 + E), 0.5, -1]]) / 3
  np.testing.assert_allclose(
    jax.grad(contrastive.flatnce_backward_loss)(L), expected_bwd, rtol=1e-5, atol=1e-7
  )
  # FlatNCE's gradient is InfoNCE's re-weighted per row by 1 / sigmoid(f_i).
  f = np.array([math.log(2 * math.exp(-2)), math.log(2 * math.exp(-1)), math.log(E + 1)])
  sig = 1 / (1 + np.exp(-f))
  np.testing.assert_allclose(
    jax.grad(contrastive.infonce_loss)(L) / sig[:, None], expected, rtol=1e-5, atol=1e-7
  )


def test_logsumexp_penalty_hand_computed():
  # rows: log(e^2 + 2), log(e + 2), log(e + 2)
  expected = 0.1 * (math.log(E**2 + 2) ** 2 + 2 * math.log(E + 2) ** 2) / 3
  assert float(contrastive.logsumexp_penalty(L, 0.1)) == pytest.approx(expected, rel=1e-6)


def test_contrastive_metrics_hand_computed():
  m = contrastive.contrastive_metrics(L)
  # Row argmaxes: 0, 1, 0 -> rows 0 and 1 correct.
  assert float(m["categorical_accuracy"]) == pytest.approx(2 / 3)
  # (L > 0) vs I: rows 0 and 1 all match (3 + 3), row 2 only (2,1) matches -> 7/9.
  assert float(m["binary_accuracy"]) == pytest.approx(7 / 9)
  assert float(m["logits_pos"]) == pytest.approx(1.0)  # (2+1+0)/3
  assert float(m["logits_neg"]) == pytest.approx(1 / 6)  # single 1 among 6 off-diagonal


# Degenerate inputs: a zero row and two identical rows; psi == phi, so the l2 / mrn distances
# on the diagonal (and between the duplicate rows) are exactly 0.
DEGENERATE = jnp.array([[0.0, 0.0, 0.0, 0.0], [1.0, -2.0, 0.5, 3.0], [1.0, -2.0, 0.5, 3.0]])


@pytest.mark.parametrize(
  "energy_name,loss_name",
  list(itertools.product(sorted(contrastive.ENERGY_FNS), sorted(contrastive.CONTRASTIVE_LOSSES))),
)
def test_gradients_finite_for_every_energy_and_loss(energy_name, loss_name):
  energy = contrastive.ENERGY_FNS[energy_name]
  loss = contrastive.CONTRASTIVE_LOSSES[loss_name]

  def total(phi, psi):
    logits = energy(phi, psi)
    return loss(logits) + contrastive.logsumexp_penalty(logits, 0.1)

  value, (g_phi, g_psi) = jax.value_and_grad(total, argnums=(0, 1))(DEGENERATE, DEGENERATE)
  assert np.isfinite(float(value))
  assert bool(jnp.all(jnp.isfinite(g_phi))) and bool(jnp.all(jnp.isfinite(g_psi)))


@pytest.mark.parametrize("name", ["l2", "l2_sq", "mrn"])
def test_matmul_energies_match_the_pairwise_definition(name):
  """The B x B Euclidean energies (one matmul) against ``paired(x[:, None], y[None])``."""
  x = 3.0 * jax.random.normal(jax.random.PRNGKey(2), (64, 16))
  y = x[::-1] + 0.01 * jax.random.normal(jax.random.PRNGKey(3), (64, 16))  # some near pairs
  pairwise = contrastive.PAIRED_ENERGY_FNS[name](x[:, None, :], y[None, :, :])
  np.testing.assert_allclose(contrastive.ENERGY_FNS[name](x, y), pairwise, rtol=1e-5, atol=2e-3)


def test_l2_energy_at_zero_distance_is_exact_with_zero_gradient():
  x = jnp.array([[1.0, 2.0]])
  assert float(contrastive.l2_energy(x, x)[0, 0]) == 0.0
  g = jax.grad(lambda a: contrastive.l2_energy(a, x)[0, 0])(x)
  np.testing.assert_array_equal(g, np.zeros_like(x))


# ---------------------------------------------------------------------------------------------
# Temperature of the cosine energy, B = 256 (the training batch): why tau = 1 cannot work
# ---------------------------------------------------------------------------------------------
B = 256
LOG_B = math.log(B)


def _critic_loss(logits):
  """CRL's critic loss at its defaults: backward InfoNCE + 0.1 * logsumexp penalty."""
  return contrastive.infonce_backward_loss(logits) + contrastive.logsumexp_penalty(logits, 0.1)


def test_temperature_defaults_to_0_1_for_cosine_only():
  assert contrastive.resolve_temperature("cosine", None) == 0.1
  for name in ("l2", "norm", "l2_sq", "l1", "dot", "mrn"):
    assert contrastive.resolve_temperature(name, None) == 1.0
  assert contrastive.resolve_temperature("cosine", 1.0) == 1.0  # a given tau wins
  assert contrastive.resolve_temperature("l2", 0.5) == 0.5


def test_cosine_ranking_critic_beats_collapse_only_with_a_temperature():
  # Perfect ranking: phi = psi = I_B (orthonormal), cosine logits = I: positives 1, negatives 0.
  # Backward InfoNCE = log(e^(1/tau) + B - 1) - 1/tau per column; the penalty's row logsumexp
  # is log(e^(1/tau) + B - 1).
  eye = jnp.eye(B)
  tau = contrastive.resolve_temperature("cosine", None)
  for t in (1.0, tau):
    logits = contrastive.cosine_energy(eye, eye) / t
    lse = math.log(math.exp(1 / t) + B - 1)
    assert float(contrastive.infonce_backward_loss(logits)) == pytest.approx(
      lse - 1 / t, rel=1e-5, abs=1e-5
    )
    assert float(_critic_loss(logits)) == pytest.approx(
      lse - 1 / t + 0.1 * lse**2, rel=1e-5, abs=1e-5
    )
  # tau = 1: even this critic gives the positive only e / (e + 255) = 0.0105 of the softmax
  # (log(e + 255) - 1 = 4.556 against chance log 256 = 5.545); tau = 0.1: e^10 / (e^10 + 255).
  ranked = {t: contrastive.cosine_energy(eye, eye) / t for t in (1.0, tau)}
  p_pos = {t: float(jax.nn.softmax(ranked[t], axis=0)[0, 0]) for t in ranked}
  assert p_pos[1.0] == pytest.approx(E / (E + 255), rel=1e-5, abs=1e-5)  # 0.0105
  assert p_pos[tau] == pytest.approx(
    math.exp(10) / (math.exp(10) + 255), rel=1e-5, abs=1e-5
  )  # 0.9885

  # Collapse: phi_i = u, psi_j = -u for every pair, every logit -1 / tau: InfoNCE = log B,
  # penalty 0.1 (log B - 1 / tau)^2.
  u = jnp.zeros((B, 2)).at[:, 0].set(1.0)
  collapsed = {t: contrastive.cosine_energy(u, -u) / t for t in (1.0, tau)}
  for t in (1.0, tau):
    expected = LOG_B + 0.1 * (LOG_B - 1 / t) ** 2
    assert float(_critic_loss(collapsed[t])) == pytest.approx(expected, rel=1e-5, abs=1e-5)
  # At tau = 1 the collapsed critic (7.611) scores BETTER than the perfect ranking (7.643):
  # the loss does not pull the critic out of collapse (what the ablation's cosine run did: every
  # logit -1, no learning).
  assert float(_critic_loss(collapsed[1.0])) < float(_critic_loss(ranked[1.0]))

  # At tau = 0.1 a ranking critic with positives at cos 0 and negatives at cos -(1 + 1/255)/2
  # scores 1.085 against collapse's 7.530. Built from a regular simplex s_1..s_B (unit rows,
  # s_i . s_j = -1/(B-1)) and a unit u orthogonal to it: phi_i = (u + s_i)/sqrt2,
  # psi_j = (-u + s_j)/sqrt2, so cos(phi_i, psi_j) = (-1 + s_i . s_j) / 2.
  simplex = np.eye(B) - 1.0 / B
  simplex /= np.linalg.norm(simplex, axis=1, keepdims=True)
  simplex = np.concatenate([simplex, np.zeros((B, 1))], axis=1)
  u1 = np.zeros((B, B + 1))
  u1[:, -1] = 1.0
  phi, psi = (u1 + simplex) / math.sqrt(2), (-u1 + simplex) / math.sqrt(2)
  logits = contrastive.cosine_energy(jnp.asarray(phi), jnp.asarray(psi)) / tau
  neg = -(1 + 1 / (B - 1)) / 2 / tau
  lse = math.log(1 + (B - 1) * math.exp(neg))  # the positive's logit is 0
  assert float(_critic_loss(logits)) == pytest.approx(
    lse + 0.1 * lse**2, rel=1e-4, abs=1e-5
  )  # 1.085
  assert float(_critic_loss(logits)) < float(_critic_loss(collapsed[tau])) - 6.0


# ---------------------------------------------------------------------------------------------
# Registries and name resolution
# ---------------------------------------------------------------------------------------------


def test_aliases_resolve_to_the_same_function_objects():
  for alias, target in contrastive.LOSS_ALIASES.items():
    assert contrastive.resolve_contrastive_loss(alias) is contrastive.CONTRASTIVE_LOSSES[target]
  for alias, target in contrastive.ENERGY_ALIASES.items():
    assert contrastive.resolve_energy_fn(alias) is contrastive.ENERGY_FNS[target]
  assert (
    contrastive.resolve_contrastive_loss("fwd_infonce") is contrastive.CONTRASTIVE_LOSSES["infonce"]
  )
  assert (
    contrastive.resolve_contrastive_loss("bwd_infonce")
    is contrastive.CONTRASTIVE_LOSSES["infonce_backward"]
  )
  assert (
    contrastive.resolve_contrastive_loss("sym_infonce")
    is contrastive.CONTRASTIVE_LOSSES["symmetric_infonce"]
  )
  assert (
    contrastive.resolve_contrastive_loss("binary_nce") is contrastive.CONTRASTIVE_LOSSES["binary"]
  )
  assert contrastive.resolve_contrastive_loss("dpo") is contrastive.CONTRASTIVE_LOSSES["dp"]
  assert contrastive.resolve_energy_fn("norm") is contrastive.ENERGY_FNS["l2"]
  for name, fn in contrastive.CONTRASTIVE_LOSSES.items():
    assert contrastive.resolve_contrastive_loss(name) is fn
  for name, fn in contrastive.ENERGY_FNS.items():
    assert contrastive.resolve_energy_fn(name) is fn


def test_unknown_names_raise_with_flag_and_closest_match():
  with pytest.raises(ValueError) as err:
    contrastive.resolve_contrastive_loss("infonse")
  assert "--contrastive_loss_fn" in str(err.value) and "'infonce'" in str(err.value)
  assert "'infonse'" in str(err.value)
  with pytest.raises(ValueError) as err:
    contrastive.resolve_energy_fn("cosin")
  assert "--energy_fn" in str(err.value) and "'cosine'" in str(err.value)
  with pytest.raises(ValueError, match="--energy_fn"):
    crl.make_crl(crl.CRLConfig(energy_fn="l3"), 2, 2, 1)
  with pytest.raises(ValueError, match="n_hidden"):
    crl.make_crl(crl.CRLConfig(residual=True, n_hidden=2), 2, 2, 1)


# ---------------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------------
