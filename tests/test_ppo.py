"""PPO and the on-policy loop: GAE and the losses on cases worked out by hand, the schedule and
its errors, a learned value on a probe env whose time limit must be bootstrapped, learning on
a real env, exact resume and a saved policy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax import networks
from goalax.agents.ppo import (
  PPOConfig,
  clipped_surrogate_loss,
  generalized_advantages,
  shuffled_minibatches,
  value_loss,
)
from goalax.config import TrainConfig
from goalax.envs.probes import BootstrapProbe
from goalax.loops import make_trainer


# ---- the pure pieces, by hand -----------------------------------------------------------------
def test_gae_bootstraps_through_a_truncation_but_not_a_termination():
  """γ = λ = 0.5, so γλ = 0.25. Column 0 has a time-limit end at t = 1 and a termination at
  t = 2; column 1 never ends (r = 1, V = 0)."""
  rewards = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
  values = np.array([[2.0, 0.0], [4.0, 0.0], [2.0, 0.0], [2.0, 0.0]])
  next_values = np.array([[4.0, 0.0], [8.0, 0.0], [6.0, 0.0], [4.0, 0.0]])
  terminated = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
  truncated = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
  advantages, returns = generalized_advantages(
    rewards, values, next_values, terminated, truncated, discount=0.5, gae_lambda=0.5
  )
  # Column 0: δ = r + γ(1 − terminated) V' − V = [1 + 2 − 2, 1 + 4 − 4, 1 − 2, 2 + 2 − 2]
  #         = [1, 1, −1, 2]; A_3 = 2; A_2 = −1 (termination: nothing added);
  #         A_1 = 1 (the truncation ends the episode: later δ's are the next one's);
  #         A_0 = 1 + 0.25 · 1 = 1.25.
  # Column 1: δ = 1 everywhere; A = [1.328125, 1.3125, 1.25, 1].
  expected = np.array([[1.25, 1.328125], [1.0, 1.3125], [-1.0, 1.25], [2.0, 1.0]])
  np.testing.assert_allclose(advantages, expected, rtol=1e-6)
  np.testing.assert_allclose(returns, expected + values, rtol=1e-6)
  # Treating the time limit as a termination would give δ_1 = 1 − 4 = −3 and A_0 = 0.25.
  wrong, _ = generalized_advantages(
    rewards, values, next_values, terminated + truncated, truncated, 0.5, 0.5
  )
  assert wrong[1, 0] == pytest.approx(-3.0) and wrong[0, 0] == pytest.approx(0.25)


def test_clipped_surrogate_loss_on_a_hand_case():
  """ε = 0.2. Ratios and advantages: (1.5, +1) → clipped 1.2; (1.5, −1) → −1.5 (the pessimistic,
  unclipped term); (0.5, +1) → 0.5; (0.5, −1) → clipped −0.8; (1, 2) → 2. Loss = −mean = −0.28."""
  ratio = jnp.array([1.5, 1.5, 0.5, 0.5, 1.0])
  advantages = jnp.array([1.0, -1.0, 1.0, -1.0, 2.0])
  old_log_prob = jnp.array([-1.0, 0.3, -0.2, 2.0, 0.5])
  log_prob = old_log_prob + jnp.log(ratio)
  loss, clip_fraction = clipped_surrogate_loss(log_prob, old_log_prob, advantages, 0.2)
  assert float(loss) == pytest.approx(-0.28, abs=1e-6)
  assert float(clip_fraction) == pytest.approx(0.8)
  # Where the clipped term is the minimum the gradient is 0; elsewhere −ρ A / B.
  grad = jax.grad(lambda lp: clipped_surrogate_loss(lp, old_log_prob, advantages, 0.2)[0])(log_prob)
  np.testing.assert_allclose(grad, [0.0, 0.3, -0.1, 0.0, -0.4], atol=1e-6)


def test_value_loss_with_and_without_clipping():
  """V = [1, 2], R = [2, 2], V_old = [0, 3], c = 0.5: unclipped errors [1, 0]; clipped values
  [0.5, 2.5] give [2.25, 0.25]; the larger of each, halved and averaged: 0.625."""
  values, returns, old = jnp.array([1.0, 2.0]), jnp.array([2.0, 2.0]), jnp.array([0.0, 3.0])
  assert float(value_loss(values, returns, old)) == pytest.approx(0.25)
  assert float(value_loss(values, returns, old, 0.5)) == pytest.approx(0.625)


def test_tanh_gaussian_entropy_matches_the_mean_negative_log_probability():
  mean, log_std = jnp.array([0.3, -1.2]), jnp.array([-0.5, 0.4])
  keys = jax.random.split(jax.random.PRNGKey(0), 200_000)
  entropy = jax.vmap(lambda k: networks.tanh_gaussian_entropy(mean, log_std, k))(keys)
  noise = jax.random.normal(jax.random.PRNGKey(1), (200_000, 2))
  pre_tanh = mean + jnp.exp(log_std) * noise
  monte_carlo = -networks.tanh_gaussian_log_prob(pre_tanh, mean, log_std)
  assert float(entropy.mean()) == pytest.approx(float(monte_carlo.mean()), abs=0.01)


def test_minibatches_are_disjoint_random_rows():
  data = {"x": jnp.arange(10.0), "y": jnp.arange(10.0) * 2}
  batches = shuffled_minibatches(data, jax.random.PRNGKey(0), 3)
  assert batches["x"].shape == (3, 3)  # 10 // 3 rows each; one row sits out
  rows = np.asarray(batches["x"]).ravel()
  assert len(set(rows)) == 9 and set(rows) <= set(range(10))
  np.testing.assert_array_equal(batches["y"], 2 * batches["x"])
  other = shuffled_minibatches(data, jax.random.PRNGKey(1), 3)
  assert not np.array_equal(other["x"], batches["x"])


# ---- a probe with a known value ----------------------------------------------------------------
GAMMA = 0.5


def train_probe(agent_config, env, train_steps, num_envs=16, seeds=(0, 1)):
  """Trains ``len(seeds)`` agents (vmapped) for ``train_steps`` training steps; returns
  ``(trainer, final state)``."""
  config = TrainConfig(
    env=env.name, num_envs=num_envs, num_timesteps=1, num_evals=1, agent=agent_config
  )
  trainer = make_trainer(config, env)

  @fast_jit
  def run(keys):
    state = jax.vmap(trainer.init)(keys)

    def step(state, _):
      return jax.vmap(trainer.run_epoch)(state)[0], None

    return jax.lax.scan(step, state, None, length=train_steps)[0]

  return trainer, run(jnp.stack([jax.random.PRNGKey(s) for s in seeds]))


@pytest.fixture(scope="module")
def bootstrap_run():
  config = PPOConfig(
    h_dim=32, discounting=GAMMA, unroll_length=4, num_minibatches=4, learning_rate=1e-3
  )
  return train_probe(config, BootstrapProbe(), train_steps=300)


def test_value_bootstraps_through_the_time_limit_but_not_through_termination(bootstrap_run):
  """BootstrapProbe (goalax.envs.probes): reward 1 every step, time limit 2. State [0, 0] only
  ever ends by the time limit: V = 1 / (1 − γ) = 2 (treating the limit as a termination gives
  4/3). State [1, t] terminates after its second step: V([1, 0]) = 1 + γ, V([1, 1]) = 1."""
  trainer, state = bootstrap_run
  obs = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], np.float32)
  values = np.asarray(jax.vmap(trainer.agent.value, in_axes=(0, None))(state.agent, obs))
  for seed_values in values:
    np.testing.assert_allclose(seed_values, [2.0, 1.0 + GAMMA, 1.0], atol=0.1)
