"""Tests for goalax.agents.crl: the agent learns on synthetic hindsight data, jit/vmap, act."""

import jax
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax.agents import contrastive, crl
from goalax.errors import ConfigError

# Tests check correctness, not speed: compile with XLA's backend optimisations off, which
# roughly halves CPU compile time here and keeps the test files fast on small machines.

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


def test_energy_temperature_scales_the_critic_and_the_actor():
  # Agents built from the same init key share their encoders and actor; only tau differs.
  sizes = dict(state_size=3, goal_size=2, action_size=2)
  net = dict(h_dim=16, n_hidden=1, repr_dim=8)
  configs = {
    "l2": crl.CRLConfig(**net),  # tau 1: the energy untouched
    "cosine": crl.CRLConfig(energy_fn="cosine", **net),  # default tau 0.1
    "cosine_tau1": crl.CRLConfig(energy_fn="cosine", energy_temperature=1.0, **net),
    "learned": crl.CRLConfig(energy_fn="cosine", learn_energy_temperature=True, **net),
  }
  agents = {k: crl.make_crl(c, **sizes) for k, c in configs.items()}
  batch = _small_batch(1)

  @fast_jit
  def probe(key):
    out = {}
    for name, agent in agents.items():
      st = agent.init(key)
      p = st.critic_params
      sa = agent.sa_encoder.apply(
        p["sa_encoder"], np.concatenate([batch["state"], batch["action"]], -1)
      )
      g = agent.g_encoder.apply(p["g_encoder"], batch["goal"])
      logits = agent.critic_logits(p, batch["state"], batch["action"], batch["goal"])
      actor_loss, log_prob = agent.actor_loss(st.actor_params, p, st.log_alpha, batch, key)
      new, metrics = agent.update(st, batch, key)
      out[name] = dict(
        sa=sa,
        g=g,
        logits=logits,
        actor_loss=actor_loss,
        log_prob=log_prob,
        params=p,
        new_params=new.critic_params,
        metrics=metrics,
      )
    return out

  out = jax.tree.map(np.asarray, probe(jax.random.PRNGKey(0)))
  l2, cos, cos1, learned = (out[k] for k in ("l2", "cosine", "cosine_tau1", "learned"))
  # (jitted against eager: equal up to float rounding)
  np.testing.assert_allclose(l2["logits"], contrastive.l2_energy(l2["sa"], l2["g"]), rtol=1e-5)
  cosine = np.asarray(contrastive.cosine_energy(cos["sa"], cos["g"]))
  np.testing.assert_allclose(cos1["logits"], cosine, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(cos["logits"], cosine / 0.1, rtol=1e-4, atol=1e-5)
  # The actor's objective mean(alpha log pi - q) uses the same scaled q (alpha = 1 at init and
  # the same sampled actions): its q-part is 10x the tau = 1 agent's.
  np.testing.assert_array_equal(cos["log_prob"], cos1["log_prob"])
  entropy_part = cos["log_prob"].mean()
  np.testing.assert_allclose(
    cos["actor_loss"] - entropy_part, 10.0 * (cos1["actor_loss"] - entropy_part), rtol=1e-5
  )
  # Learned: log(1/tau) starts at log 10, scales the logits, and the critic's step moves it.
  assert set(learned["params"]) == {"sa_encoder", "g_encoder", "log_logit_scale"}
  assert "log_logit_scale" not in cos["params"]
  np.testing.assert_allclose(learned["params"]["log_logit_scale"], np.log(10.0), rtol=1e-6)
  np.testing.assert_allclose(learned["logits"], cos["logits"], rtol=1e-5)
  np.testing.assert_allclose(learned["metrics"]["energy_temperature"], 0.1, rtol=1e-5)
  assert learned["new_params"]["log_logit_scale"] != learned["params"]["log_logit_scale"]
  with pytest.raises(ConfigError, match="--energy_temperature"):
    crl.CRLConfig(energy_temperature=0.0).validate(num_envs=4)
