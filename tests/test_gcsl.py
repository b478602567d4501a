"""GCSL: the clipped-Gaussian likelihood and the loss on cases worked out by hand, behaviour
cloning of known actions, the policy that the probe env's relabelled data teach (its learning
test: the cheapest env where it learns; on reacher it learns more slowly, 0.23 -> 0.59 over 200k
env steps with 3 seeds, benchmarks/results/agents.md), exact resume and a saved policy, and its
command-line spellings and errors."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lifecycle import (
  assert_resumed_run_ends_like_the_uninterrupted_one,
  assert_saved_policy_acts_like_the_trained_agent,
  run_lifecycle,
)
from test_td_agents import train_probe
from test_training import TINY

from goalax.agents.gcsl import (
  GCSLConfig,
  behaviour_cloning_loss,
  clipped_gaussian_log_prob,
  make_gcsl,
)
from goalax.cli import main, parse_train_args
from goalax.envs.probes import ReachProbe
from goalax.jaxgcrl_compat import split_agent, translate


def normal_cdf(x: float) -> float:
  return 0.5 * math.erfc(-x / math.sqrt(2.0))


# ---- the likelihood and the loss, by hand -------------------------------------------------------
def test_clipped_gaussian_log_prob_is_a_density_inside_and_a_mass_at_each_bound():
  """μ = (0, 0.5, 0.5), σ = (1, 0.5, 0.5), a = (0.5, +1, −1):
  log N(0.5; 0, 1) = −0.125 − ½ log 2π = −1.04394;
  at +1: log P(u ≥ 1) = log Φ((0.5 − 1) / 0.5) = log Φ(−1) = log 0.158655 = −1.84102;
  at −1: log P(u ≤ −1) = log Φ((−1 − 0.5) / 0.5) = log Φ(−3) = log 0.0013499 = −6.60773.
  The dimensions are independent: the sum, −9.49269."""
  mean = jnp.array([0.0, 0.5, 0.5])
  log_std = jnp.log(jnp.array([1.0, 0.5, 0.5]))
  action = jnp.array([0.5, 1.0, -1.0])
  expected = (
    -0.125 - 0.5 * math.log(2 * math.pi) + math.log(normal_cdf(-1.0)) + math.log(normal_cdf(-3.0))
  )
  assert expected == pytest.approx(-9.49269, abs=1e-5)
  got = clipped_gaussian_log_prob(action, mean, log_std)
  assert float(got) == pytest.approx(expected, abs=1e-5)
  # The same dimensions one at a time: log-probabilities add up.
  parts = [
    clipped_gaussian_log_prob(action[i : i + 1], mean[i : i + 1], log_std[i : i + 1])
    for i in range(3)
  ]
  assert float(sum(parts)) == pytest.approx(expected, abs=1e-5)


def test_clipped_gaussian_mass_at_the_bounds_plus_density_inside_is_one():
  """A distribution: ∫_(−1,1) density + P(+1) + P(−1) = 1, for a mean inside and outside."""
  inside = jnp.linspace(-1.0, 1.0, 20_001)[1:-1][:, None]
  for mean, std in [(0.3, 0.4), (1.7, 0.6), (-0.2, 3.0)]:
    m, s = jnp.full((1,), mean), jnp.log(jnp.full((1,), std))
    density = jnp.exp(clipped_gaussian_log_prob(inside, m, s))
    integral = float(jnp.sum(density) * (2.0 / 20_000))
    masses = sum(float(jnp.exp(clipped_gaussian_log_prob(jnp.array([b]), m, s))) for b in (-1, 1))
    assert integral + masses == pytest.approx(1.0, abs=1e-3), (mean, std)
    assert masses == pytest.approx(normal_cdf((mean - 1) / std) + normal_cdf((-1 - mean) / std))


def test_behaviour_cloning_loss_and_its_gradient_on_a_hand_case():
  """Two rows, one action dimension, σ = 1: row 0 μ = 0, a = 0.5 (inside); row 1 μ = 2, a = 1
  (at the bound). loss = −½ (log N(0.5; 0, 1) + log Φ(2 − 1)) = −½ (−1.04394 − 0.17275) =
  0.60834. ∂loss/∂μ_0 = −½ (a − μ) / σ² = −0.25; ∂loss/∂μ_1 = −½ φ(1) / Φ(1) = −0.14380 (a mean
  past the bound still gains by moving further out: the mass at +1 grows). mse of clip(μ): 0.125.
  """
  mean, log_std = jnp.array([[0.0], [2.0]]), jnp.zeros((2, 1))
  action = jnp.array([[0.5], [1.0]])
  loss, metrics = behaviour_cloning_loss(mean, log_std, action)
  assert float(loss) == pytest.approx(0.60834, abs=1e-5)
  assert float(metrics["mse"]) == pytest.approx(0.125) and float(metrics["std"]) == 1.0
  grad = jax.grad(lambda m: behaviour_cloning_loss(m, log_std, action)[0])(mean)
  phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
  np.testing.assert_allclose(grad[:, 0], [-0.25, -0.5 * phi / normal_cdf(1.0)], atol=1e-6)


# ---- the agent on a batch ----------------------------------------------------------------------
STATE, GOAL, ACTION = 3, 2, 2


def tiny_batch(key, size=4):
  ks = jax.random.split(key, 4)
  return {
    "state": jax.random.normal(ks[0], (size, STATE)),
    "goal": jax.random.normal(ks[1], (size, GOAL)),
    "action": jax.random.uniform(ks[2], (size, ACTION), minval=-0.9, maxval=0.9),
    "goal_offset": jax.random.randint(ks[3], (size,), 1, 30),
  }


def test_the_update_scores_the_batch_s_actions_toward_its_hindsight_goals_and_offsets():
  """The loss that ``update`` reports is the hand formula on the policy's own (mean, log_std) of
  ``concat(state, goal)`` and the horizon input ``min(k, H) / H``; offsets past H look alike,
  and acting (no offset) is "H steps or more"."""
  agent = make_gcsl(GCSLConfig(h_dim=16, horizon=10), STATE, GOAL, ACTION)
  state = agent.init(jax.random.PRNGKey(0))
  batch = tiny_batch(jax.random.PRNGKey(1))
  obs = jnp.concatenate([batch["state"], batch["goal"]], -1)
  mean, log_std = agent.distribution(state.actor_params, obs, batch["goal_offset"])
  expected, _ = behaviour_cloning_loss(mean, log_std, batch["action"])
  _, metrics = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(2))
  assert float(metrics["actor_loss"]) == pytest.approx(float(expected), rel=1e-5)
  near = agent.distribution(state.actor_params, obs, jnp.full((4,), 2))[0]
  far = agent.distribution(state.actor_params, obs, jnp.full((4,), 12))[0]
  acting = agent.distribution(state.actor_params, obs)[0]
  assert not np.allclose(near, far)
  np.testing.assert_allclose(far, acting, rtol=1e-6)
  np.testing.assert_allclose(
    agent.distribution(state.actor_params, obs, jnp.full((4,), 10))[0], acting, rtol=1e-6
  )


def test_behaviour_cloning_learns_known_actions_including_a_saturated_one():
  """300 Adam steps on one fixed batch: the evaluation action ``clip(μ)`` becomes the stored
  action; where the stored action is the bound +1, μ moves past it (the clip put that mass
  there), and σ narrows from its initial 0.88."""
  agent = make_gcsl(GCSLConfig(h_dim=32, actor_lr=3e-3), STATE, GOAL, ACTION)
  batch = tiny_batch(jax.random.PRNGKey(3))
  batch["action"] = batch["action"].at[0, 0].set(1.0)

  @jax.jit
  def fit(key):
    def step(state, key):
      return agent.update(state, batch, key)[0], None

    return jax.lax.scan(step, agent.init(key), jax.random.split(key, 300))[0]

  params = fit(jax.random.PRNGKey(4)).actor_params
  obs = jnp.concatenate([batch["state"], batch["goal"]], -1)
  np.testing.assert_allclose(agent.act(params, obs, None, True), batch["action"], atol=0.05)
  mean, log_std = agent.distribution(params, obs)
  assert float(mean[0, 0]) > 1.0
  assert float(jnp.exp(log_std).max()) < 0.3
  sampled = agent.act(params, obs, jax.random.PRNGKey(5))
  assert float(jnp.abs(sampled).max()) <= 1.0


def test_goal_sampling_is_hindsight_only_with_the_paper_s_uniform_offsets():
  sampling = GCSLConfig().goal_sampling()
  assert sampling.value.p_future == 1.0 and sampling.value.future == "uniform"
  assert sampling.actor is None and sampling.td and not sampling.offsets
  geometric = GCSLConfig(her_future="geometric", discounting=0.9, horizon=50).goal_sampling()
  assert geometric.value.offset_discount == 0.9 and geometric.offsets


# ---- the probe: relabelled data teach the goal-reaching policy ------------------------------
@pytest.fixture(scope="module")
def reach_run():
  config = GCSLConfig(
    h_dim=64,
    batch_size=128,
    min_replay_size=8,
    max_replay_size=400,
    env_steps_per_update=1.0,
    actor_lr=1e-3,
  )
  return train_probe(config, ReachProbe(), unroll_length=2, train_steps=40)


def test_reach_probe_learns_the_goal_reaching_policy(reach_run):
  """ReachProbe: one step, the action sets the position, success iff |a − g| < 0.2. Its only
  hindsight goal is the state the episode ended in, ``clip(a)`` (stored as ``next_state``), so
  GCSL learns ``a = g`` from its own and the random prefill's episodes, without a reward."""
  trainer, state = reach_run
  goals = np.linspace(-0.7, 0.7, 15)[:, None]
  obs = np.concatenate([np.zeros_like(goals), goals], -1).astype(np.float32)
  act = lambda p: trainer.agent.act(p, obs, None, True)
  actions = np.asarray(jax.vmap(act)(trainer.agent.policy_params(state.agent)))  # [seeds, N, 1]
  np.testing.assert_allclose(actions, np.broadcast_to(goals, actions.shape), atol=0.1)


# ---- a run you can stop, resume and load ------------------------------------------------------
# Odd sizes (7 envs × 9 steps, batch 33) and the horizon input, whose offsets the loop's batches
# carry.
TINY_GCSL = dataclasses.replace(  # TINY's run (reacher, 7 envs, 23-step episodes), 2 seeds
  TINY,
  num_seeds=2,
  agent=GCSLConfig(
    h_dim=16,
    unroll_length=9,
    batch_size=33,
    min_replay_size=20,
    max_replay_size=200,
    horizon=10,
  ),
)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
  """An uninterrupted run, and one stopped after epoch 1 and resumed."""
  return run_lifecycle(TINY_GCSL, tmp_path_factory.mktemp("gcsl_lifecycle"))


def test_a_resumed_gcsl_run_ends_bit_for_bit_like_the_uninterrupted_one(lifecycle):
  assert_resumed_run_ends_like_the_uninterrupted_one(lifecycle, TINY_GCSL.num_evals)
  full = lifecycle["full"]
  row = full.history[-1]
  for name in ("train/actor_loss", "train/mse", "train/std", "train/hindsight_fallback"):
    assert np.isfinite(row[name]), name


def test_load_policy_of_a_gcsl_run_acts_like_the_trained_agent(lifecycle):
  """With the horizon input (the agent contract's GCSL run has none)."""
  assert_saved_policy_acts_like_the_trained_agent(TINY_GCSL, lifecycle["full"])


# ---- the command line -------------------------------------------------------------------------
def test_gcsl_help_lists_its_own_flags_and_no_critic_flags(capsys):
  with pytest.raises(SystemExit):
    parse_train_args("gcsl", ["--help"])
  text = capsys.readouterr().out
  for flag in ("--actor-lr", "--her-future", "--horizon", "--log-std-min", "--batch-size"):
    assert flag in text, flag
  for flag in ("--critic-lr", "--use-her", "--energy-fn", "--tau", "--alpha-lr"):
    assert flag not in text, flag


def test_jaxgcrl_entry_points_reach_gcsl():
  agent, flags = split_agent(["--agent", "gcsl", "--env_name", "reacher", "--horizon", "20"])
  config = parse_train_args(agent, translate(flags))
  assert isinstance(config.agent, GCSLConfig) and config.env == "reacher"
  assert config.agent.horizon == 20
  config = parse_train_args("gcsl", translate(["--total_env_steps", "5000"]))
  assert config.num_timesteps == 5000 and isinstance(config.agent, GCSLConfig)


@pytest.mark.parametrize(
  "flags, phrase",
  [
    (["--horizon", "-1"], "--horizon must be 0 (no horizon input) or a number of steps >= 1"),
    (["--log_std_min", "3"], "--log_std_min (3.0) must be below --log_std_max (2.0)"),
    (["--actor_lr", "0"], "--actor_lr must be positive"),
    (["--discounting", "1.5"], "--discounting must be in (0, 1]"),
  ],
)
def test_bad_gcsl_flags_are_one_sentence_and_exit_code_2(flags, phrase, capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["train", "gcsl", *flags])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
  assert phrase in err, err
