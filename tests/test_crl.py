"""Tests for goalax.agents.crl: hand-computed energies and losses, registries, learning, jit/vmap."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.agents import crl

# Tests check correctness, not speed: compile with XLA's backend optimisations off, which
# roughly halves CPU compile time here and keeps the test files fast on small machines.

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


@pytest.mark.parametrize("name", sorted(crl.ENERGY_FNS))
def test_energy_hand_computed(name):
  assert set(EXPECTED_ENERGY) == set(crl.ENERGY_FNS)
  got = crl.ENERGY_FNS[name](PHI, PSI)
  assert got.shape == (3, 3)
  np.testing.assert_allclose(got, EXPECTED_ENERGY[name], rtol=1e-6, atol=1e-6)


def test_mrn_is_asymmetric_with_multi_dim_halves():
  # D = 4: sym = first two coords, asym = last two.
  x = jnp.array([[3.0, 4.0, 1.0, 5.0]])
  y = jnp.array([[0.0, 0.0, 2.0, 1.0]])
  # d(x, y) = ||(3,4)|| + max(relu(1-2), relu(5-1)) = 5 + 4 = 9
  # d(y, x) = ||(-3,-4)|| + max(relu(2-1), relu(1-5)) = 5 + 1 = 6
  np.testing.assert_allclose(crl.mrn_energy(x, y), [[-9.0]], rtol=1e-6)
  np.testing.assert_allclose(crl.mrn_energy(y, x), [[-6.0]], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(crl.ENERGY_FNS))
def test_paired_energy_is_the_diagonal(name):
  x = jax.random.normal(jax.random.PRNGKey(0), (5, 6))
  y = jax.random.normal(jax.random.PRNGKey(1), (5, 6))
  np.testing.assert_allclose(
    crl.PAIRED_ENERGY_FNS[name](x, y),
    jnp.diagonal(crl.ENERGY_FNS[name](x, y)),
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


@pytest.mark.parametrize("name", sorted(crl.CONTRASTIVE_LOSSES))
def test_loss_hand_computed(name):
  assert set(EXPECTED_LOSS) == set(crl.CONTRASTIVE_LOSSES)
  got = crl.CONTRASTIVE_LOSSES[name](L)
  assert got.shape == ()
  assert float(got) == pytest.approx(EXPECTED_LOSS[name], rel=1e-6, abs=1e-6)


def test_flatnce_gradients_hand_computed():
  # d/dL of mean_i exp(f_i - sg f_i) = (1/3) grad f_i; f_i = logsumexp_{j!=i}(l_ij - l_ii).
  # Row 0: l_0j - l_00 = -2, -2 -> softmax 1/2, 1/2; d/dl_00 = -1.
  # Row 1: -1, -1 -> 1/2, 1/2.  Row 2: l_20 - l_22 = 1, l_21 - l_22 = 0 -> e/(e+1), 1/(e+1).
  expected = np.array([[-1, 0.5, 0.5], [0.5, -1, 0.5], [E / (E + 1), 1 / (E + 1), -1]]) / 3
  np.testing.assert_allclose(jax.grad(crl.flatnce_loss)(L), expected, rtol=1e-5, atol=1e-7)
  # Columns: col0 l_10 - l_00 = -2, l_20 - l_00 = -1 -> 1/(1+e), e/(1+e);
  # col1 -1, -1 -> 1/2, 1/2; col2 0, 0 -> 1/2, 1/2.
  expected_bwd = np.array([[-1, 0.5, 0.5], [1 / (1 + E), -1, 0.5], [E / (1 + E), 0.5, -1]]) / 3
  np.testing.assert_allclose(
    jax.grad(crl.flatnce_backward_loss)(L), expected_bwd, rtol=1e-5, atol=1e-7
  )
  # FlatNCE's gradient is InfoNCE's re-weighted per row by 1 / sigmoid(f_i).
  f = np.array([math.log(2 * math.exp(-2)), math.log(2 * math.exp(-1)), math.log(E + 1)])
  sig = 1 / (1 + np.exp(-f))
  np.testing.assert_allclose(
    jax.grad(crl.infonce_loss)(L) / sig[:, None], expected, rtol=1e-5, atol=1e-7
  )


def test_logsumexp_penalty_hand_computed():
  # rows: log(e^2 + 2), log(e + 2), log(e + 2)
  expected = 0.1 * (math.log(E**2 + 2) ** 2 + 2 * math.log(E + 2) ** 2) / 3
  assert float(crl.logsumexp_penalty(L, 0.1)) == pytest.approx(expected, rel=1e-6)


def test_contrastive_metrics_hand_computed():
  m = crl.contrastive_metrics(L)
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
  list(itertools.product(sorted(crl.ENERGY_FNS), sorted(crl.CONTRASTIVE_LOSSES))),
)
def test_gradients_finite_for_every_energy_and_loss(energy_name, loss_name):
  energy = crl.ENERGY_FNS[energy_name]
  loss = crl.CONTRASTIVE_LOSSES[loss_name]

  def total(phi, psi):
    logits = energy(phi, psi)
    return loss(logits) + crl.logsumexp_penalty(logits, 0.1)

  value, (g_phi, g_psi) = jax.value_and_grad(total, argnums=(0, 1))(DEGENERATE, DEGENERATE)
  assert np.isfinite(float(value))
  assert bool(jnp.all(jnp.isfinite(g_phi))) and bool(jnp.all(jnp.isfinite(g_psi)))


def test_l2_energy_at_zero_distance_is_exact_with_zero_gradient():
  x = jnp.array([[1.0, 2.0]])
  assert float(crl.l2_energy(x, x)[0, 0]) == 0.0
  g = jax.grad(lambda a: crl.l2_energy(a, x)[0, 0])(x)
  np.testing.assert_array_equal(g, np.zeros_like(x))


# ---------------------------------------------------------------------------------------------
# Registries and name resolution
# ---------------------------------------------------------------------------------------------


def test_aliases_resolve_to_the_same_function_objects():
  for alias, target in crl.LOSS_ALIASES.items():
    assert crl.resolve_contrastive_loss(alias) is crl.CONTRASTIVE_LOSSES[target]
  for alias, target in crl.ENERGY_ALIASES.items():
    assert crl.resolve_energy_fn(alias) is crl.ENERGY_FNS[target]
  assert crl.resolve_contrastive_loss("fwd_infonce") is crl.CONTRASTIVE_LOSSES["infonce"]
  assert crl.resolve_contrastive_loss("bwd_infonce") is crl.CONTRASTIVE_LOSSES["infonce_backward"]
  assert crl.resolve_contrastive_loss("sym_infonce") is crl.CONTRASTIVE_LOSSES["symmetric_infonce"]
  assert crl.resolve_contrastive_loss("binary_nce") is crl.CONTRASTIVE_LOSSES["binary"]
  assert crl.resolve_contrastive_loss("dpo") is crl.CONTRASTIVE_LOSSES["dp"]
  assert crl.resolve_energy_fn("norm") is crl.ENERGY_FNS["l2"]
  for name, fn in crl.CONTRASTIVE_LOSSES.items():
    assert crl.resolve_contrastive_loss(name) is fn
  for name, fn in crl.ENERGY_FNS.items():
    assert crl.resolve_energy_fn(name) is fn


def test_unknown_names_raise_with_flag_and_closest_match():
  with pytest.raises(ValueError) as err:
    crl.resolve_contrastive_loss("infonse")
  assert "--contrastive_loss_fn" in str(err.value) and "'infonce'" in str(err.value)
  assert "'infonse'" in str(err.value)
  with pytest.raises(ValueError) as err:
    crl.resolve_energy_fn("cosin")
  assert "--energy_fn" in str(err.value) and "'cosine'" in str(err.value)
  with pytest.raises(ValueError, match="--energy_fn"):
    crl.make_crl(crl.CRLConfig(energy_fn="l3"), 2, 2, 1)
  with pytest.raises(ValueError, match="n_hidden"):
    crl.make_crl(crl.CRLConfig(residual=True, n_hidden=2), 2, 2, 1)


# ---------------------------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------------------------

TINY = dict(h_dim=32, n_hidden=2, repr_dim=16, critic_lr=1e-3, actor_lr=1e-3, alpha_lr=1e-3)


def _reach_batch(key, batch_size, dim):
  """Synthetic hindsight data: uniform state and action in [-1, 1]^dim, goal = state + action."""
  ks, ka = jax.random.split(key)
  state = jax.random.uniform(ks, (batch_size, dim), minval=-1.0, maxval=1.0)
  action = jax.random.uniform(ka, (batch_size, dim), minval=-1.0, maxval=1.0)
  return {"state": state, "action": action, "goal": state + action}


def _train(agent, key, num_steps, batch_size, dim):
  """Init + ``num_steps`` updates on fresh synthetic batches, in one jitted scan.

  Returns ``(initial_state, final_state, metrics)`` with metrics stacked over steps.
  """

  def step(crl_state, k):
    kb, ku = jax.random.split(k)
    return agent.update(crl_state, _reach_batch(kb, batch_size, dim), ku)

  @fast_jit
  def run(key):
    init_key, scan_key = jax.random.split(key)
    initial = agent.init(init_key)
    final, metrics = jax.lax.scan(step, initial, jax.random.split(scan_key, num_steps))
    return initial, final, metrics

  return run(key)


def test_critic_learns_to_identify_the_hindsight_goal():
  batch_size = 64  # chance categorical accuracy = 1/64
  agent = crl.make_crl(crl.CRLConfig(**TINY), state_size=4, goal_size=4, action_size=4)
  _, _, metrics = _train(agent, jax.random.PRNGKey(0), num_steps=300, batch_size=batch_size, dim=4)
  acc = np.asarray(metrics["categorical_accuracy"])
  loss = np.asarray(metrics["critic_loss"])
  assert acc[:5].mean() < 0.15  # metrics of the first steps describe the untrained critic
  assert acc[-20:].mean() > 0.8
  assert loss[-20:].mean() < 0.5 * loss[:5].mean()
  assert np.all(np.isfinite(loss))
  for k in ("actor_loss", "alpha", "entropy", "logits_pos", "logits_neg", "binary_accuracy"):
    assert np.all(np.isfinite(np.asarray(metrics[k]))), k
  # Positives end up closer (higher energy) than negatives.
  assert (
    float(np.asarray(metrics["logits_pos"])[-1])
    > float(np.asarray(metrics["logits_neg"])[-1]) + 1.0
  )


def test_actor_moves_toward_the_goal_in_1d():
  # 1-D reach: goal = state + action, so reaching g from s needs action g - s.
  agent = crl.make_crl(crl.CRLConfig(**TINY), state_size=1, goal_size=1, action_size=1)
  s = np.linspace(-1.0, 1.0, 21, dtype=np.float32)[:, None]
  obs_up = np.concatenate([s, s + 0.8], axis=-1)  # act's obs = concat(state, goal)
  obs_down = np.concatenate([s, s - 0.8], axis=-1)

  @fast_jit
  def probe(actor_params):
    key = jax.random.PRNGKey(0)
    return agent.act(actor_params, obs_up, key, True), agent.act(actor_params, obs_down, key, True)

  untrained, trained, _ = _train(agent, jax.random.PRNGKey(1), num_steps=400, batch_size=64, dim=1)
  up0, down0 = map(np.asarray, probe(untrained.actor_params))
  # Starts near 0 for both goal directions: no goal-seeking before training.
  assert np.abs(up0).max() < 0.2 and np.abs(down0).max() < 0.2
  up, down = map(np.asarray, probe(trained.actor_params))
  assert up.shape == (21, 1)
  assert up.min() > 0.4 and down.max() < -0.4
  # and roughly the right magnitude (target action +-0.8)
  assert np.abs(up - 0.8).mean() < 0.2
  assert np.abs(down + 0.8).mean() < 0.2


@pytest.fixture(scope="module")
def small():
  """A tiny agent (state 3, goal 2, action 2) and its jitted init, shared to save compiles."""
  cfg = crl.CRLConfig(h_dim=16, n_hidden=1, repr_dim=8)
  agent = crl.make_crl(cfg, state_size=3, goal_size=2, action_size=2)
  return agent, fast_jit(agent.init)


def _small_batch(seed, batch_size=8):
  """A random batch for an agent with state 3, goal 2, action 2 (numpy: no eager JAX ops)."""
  rng = np.random.default_rng(seed)
  return {
    "state": rng.normal(size=(batch_size, 3)).astype(np.float32),
    "action": np.tanh(rng.normal(size=(batch_size, 2))).astype(np.float32),
    "goal": rng.normal(size=(batch_size, 2)).astype(np.float32),
  }


def test_jit_and_vmap_over_seeds_with_non_default_config():
  # Non-default choices throughout (residual nets, MRN energy, FlatNCE loss, relu, no LayerNorm,
  # no entropy term in the actor) so this one compile also covers those code paths. The entropy
  # target (+50) is far above any achievable entropy of a 2-D tanh-Gaussian, so the temperature
  # update must raise alpha (a sign error in the alpha loss would lower it).
  cfg = crl.CRLConfig(
    h_dim=8,
    n_hidden=4,
    residual=True,
    repr_dim=6,
    energy_fn="mrn",
    contrastive_loss_fn="flatnce",
    activation="relu",
    use_layer_norm=False,
    disable_entropy_actor=True,
    target_entropy=50.0,
  )
  agent = crl.make_crl(cfg, state_size=3, goal_size=2, action_size=2)
  assert agent.target_entropy == 50.0
  assert crl.make_crl(crl.CRLConfig(), 2, 2, 3).target_entropy == -3.0  # default: -action_size
  batch = _small_batch(1)
  obs = np.random.default_rng(3).normal(size=(5, 3 + 2)).astype(np.float32)

  def one_seed(key, deterministic):
    init_key, update_key, act_key = jax.random.split(key, 3)
    initial = agent.init(init_key)
    new, metrics = agent.update(initial, batch, update_key)
    k1, k2 = jax.random.split(act_key)
    actions = (
      agent.act(new.actor_params, obs, k1, deterministic),
      agent.act(new.actor_params, obs, k2, deterministic),
    )
    return initial, new, metrics, actions

  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  flags = np.array([True, False])  # traced `deterministic` flag, one per seed
  out = fast_jit(jax.vmap(one_seed))(keys, flags)
  initial, new, metrics, (a1, a2) = jax.tree.map(np.asarray, out)

  assert initial.log_alpha.shape == (2,)
  expected_metrics = {
    "critic_loss",
    "actor_loss",
    "alpha",
    "entropy",
    "logits_pos",
    "logits_neg",
    "categorical_accuracy",
    "binary_accuracy",
  }
  assert expected_metrics <= set(metrics)
  for k, v in metrics.items():
    assert v.shape == (2,) and np.all(np.isfinite(v)), k
  # The two seeds are independent: different initial critic, hence different losses.
  assert float(metrics["critic_loss"][0]) != float(metrics["critic_loss"][1])
  # Parameters actually moved.
  moved = jax.tree.map(lambda a, b: np.abs(a - b).max(), initial.critic_params, new.critic_params)
  assert max(jax.tree.leaves(moved)) > 0.0
  # Temperature rose towards the (unreachable) entropy target.
  assert np.all(new.log_alpha > initial.log_alpha)
  np.testing.assert_allclose(metrics["alpha"], np.exp(new.log_alpha), rtol=1e-6)
  # act: deterministic (seed 0) ignores the key, stochastic (seed 1) does not.
  assert a1.shape == (2, 5, 2)
  np.testing.assert_array_equal(a1[0], a2[0])
  assert np.abs(a1[1] - a2[1]).max() > 0.0


def test_act_shapes_and_validation(small):
  agent, init = small
  st = init(jax.random.PRNGKey(0))
  obs = np.random.default_rng(1).normal(size=(4, 6, 5)).astype(np.float32)
  act = fast_jit(lambda p, o, k: agent.act(p, o, k, False))
  a = np.asarray(act(st.actor_params, obs, jax.random.PRNGKey(2)))
  assert a.shape == (4, 6, 2) and np.all(np.abs(a) < 1.0)
  with pytest.raises(ValueError, match="state_size \\+ goal_size"):
    agent.act(
      st.actor_params, np.zeros((4, 3), np.float32), jax.random.PRNGKey(2), deterministic=True
    )


def test_actor_loss_does_not_train_the_critic(small):
  agent, init = small
  st = init(jax.random.PRNGKey(0))
  batch = _small_batch(1, 6)

  def loss_wrt_critic(critic_params):
    key = jax.random.PRNGKey(2)
    return agent.actor_loss(st.actor_params, critic_params, st.log_alpha, batch, key)[0]

  grad_fn = fast_jit(jax.grad(loss_wrt_critic))
  g_critic = jax.tree.leaves(jax.tree.map(np.asarray, grad_fn(st.critic_params)))
  assert g_critic and all(np.all(g == 0.0) for g in g_critic)
