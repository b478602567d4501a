"""PPO and the on-policy loop: GAE and the losses on cases worked out by hand, the schedule and
its errors, a learned value on a probe env whose time limit must be bootstrapped, learning on
a real env, exact resume and a saved policy."""

import copy
import csv
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import jit_for
from lifecycle import (
  assert_resumed_run_ends_like_the_uninterrupted_one,
  assert_saved_policy_acts_like_the_trained_agent,
  run_lifecycle,
)
from test_training import TINY

from goalax import networks
from goalax.agents.ppo import (
  PPOConfig,
  clipped_surrogate_loss,
  generalized_advantages,
  shuffled_minibatches,
  value_loss,
)
from goalax.cli import main, parse_train_args
from goalax.config import TrainConfig
from goalax.envs.probes import BootstrapProbe, ReachProbe
from goalax.jaxgcrl_compat import split_agent, translate
from goalax.loops.on_policy import with_dense_reward
from goalax.loops.settings import schedule_of
from goalax.run.host_loop import train
from goalax.run.plan import make_trainer


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


# ---- the schedule, the flags and their errors ------------------------------------------------
def test_schedule_counts_rollouts_and_minibatch_steps_and_has_no_prefill():
  config = TrainConfig(
    num_envs=7,
    action_repeat=2,
    num_timesteps=1000,
    num_evals=3,
    agent=PPOConfig(unroll_length=9, num_minibatches=4, num_updates_per_batch=3),
  )
  schedule = schedule_of(config)
  assert (
    schedule.env_steps_per_train_step == 7 * 9 * 2 and schedule.gradient_steps_per_train_step == 12
  )
  assert schedule.prefill_env_steps == 0
  assert schedule.train_steps_per_epoch == 3  # ceil(ceil(1000 / 126) / 3)
  assert schedule.total_env_steps == 3 * 3 * 126
  assert config.agent.minibatch_size(config.num_envs) == 15  # 63 // 4; 3 sit out each pass


def test_ppo_help_lists_its_own_flags_and_no_replay_flags(capsys):
  with pytest.raises(SystemExit):
    parse_train_args("ppo", ["--help"])
  text = capsys.readouterr().out
  for flag in (
    "--unroll-length",
    "--num-minibatches",
    "--num-updates-per-batch",
    "--clipping-epsilon",
    "--gae-lambda",
    "--dense-reward",
    "--normalize-observations",
    "--max-grad-norm",
    "--h-dim",
    "--num-seeds",
  ):
    assert flag in text, flag
  for flag in (
    "--batch-size",
    "--min-replay-size",
    "--max-replay-size",
    "--env-steps-per-update",
    "--multiplier-num-sgd-steps",
    "--use-her",
    "--energy-fn",
  ):
    assert flag not in text, flag


def test_jaxgcrl_entry_points_reach_ppo():
  agent, flags = split_agent(["--agent", "ppo", "--env_name", "ant", "--num_minibatches", "8"])
  config = parse_train_args(agent, translate(flags))
  assert isinstance(config.agent, PPOConfig) and config.env == "ant"
  assert config.agent.num_minibatches == 8
  config = parse_train_args("ppo", translate(["--total_env_steps", "5000", "--dense_reward"]))
  assert config.num_timesteps == 5000 and config.agent.dense_reward


def _exit_2(args, capsys) -> str:
  with pytest.raises(SystemExit) as exit_info:
    main(args)
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
  return err


@pytest.mark.parametrize(
  "flags, phrases",
  [
    (
      ["--num_envs", "2", "--unroll_length", "3", "--num_minibatches", "16"],
      ["--num_minibatches (16) is more than a rollout's 6 transitions", "use at most 6", "to at "],
    ),
    (["--entropy_cost", "-1"], ["--entropy_cost must be 0 or positive"]),
    (["--max_grad_norm", "0"], ["--max_grad_norm must be positive"]),
    (["--gae_lambda", "2"], ["--gae_lambda must be in [0, 1]"]),
    (["--num_envs", "100000000"], ["of memory (env states", "lower --num_envs (100,000,000)"]),
  ],
)
def test_bad_ppo_flags_are_one_sentence_and_exit_code_2(flags, phrases, capsys):
  err = _exit_2(["train", "ppo", *flags], capsys)
  for phrase in phrases:
    assert phrase in err, err


# ---- a probe with a known value ----------------------------------------------------------------
GAMMA = 0.5


def train_probe(agent_config, env, train_steps, num_envs=16, seeds=(0, 1)):
  """Trains ``len(seeds)`` agents (vmapped) for ``train_steps`` training steps; returns
  ``(trainer, final state)``."""
  config = TrainConfig(
    env=env.name, num_envs=num_envs, num_timesteps=1, num_evals=1, agent=agent_config
  )
  trainer = make_trainer(config, env)

  @jit_for(train_steps)
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


@pytest.fixture(scope="module")
def reach_run():
  config = PPOConfig(h_dim=32, unroll_length=4, num_minibatches=4, learning_rate=1e-3)
  return train_probe(config, ReachProbe(), train_steps=300)


def test_reach_probe_learns_the_goal_reaching_policy(reach_run):
  """ReachProbe: one step, reward 1 iff |a − g| < 0.2, so the policy must learn a = g from the
  clipped surrogate alone (every episode terminates: the value is the expected reward)."""
  trainer, state = reach_run
  goals = np.linspace(-0.7, 0.7, 15)[:, None]
  obs = np.concatenate([np.zeros_like(goals), goals], -1).astype(np.float32)
  act = lambda params: trainer.agent.act(params, obs, None, True)
  actions = np.asarray(jax.vmap(act)(trainer.agent.policy_params(state.agent)))  # [seeds, N, 1]
  assert np.mean(np.abs(actions - goals) < 0.2) >= 0.9, actions[..., 0]
  values = np.asarray(jax.vmap(trainer.agent.value, in_axes=(0, None))(state.agent, obs))
  assert np.all(values.mean(axis=1) > 0.7), values  # the stochastic policy mostly succeeds


def test_dense_reward_copy_steps_with_its_own_reward_after_the_original_was_traced():
  """Envs are shared within a process and keep their jitted step: the dense-reward copy PPO
  trains on must not step with the original's (sparse) one; nor must a deep copy."""
  env = ReachProbe()
  state = env.jit_reset(jax.random.PRNGKey(0))
  action = jnp.full((env.action_size,), 0.9)  # far from every goal in [-0.8, 0.8] but 0.7+
  sparse = env.jit_step(state, action)
  dense = with_dense_reward(env).jit_step(state, action)
  assert float(dense.metrics["dist"]) > 0.05
  np.testing.assert_allclose(dense.reward, -dense.metrics["dist"])
  np.testing.assert_allclose(sparse.reward, sparse.metrics["success"])
  deep = copy.deepcopy(env)
  deep.dense_reward = True
  np.testing.assert_allclose(deep.jit_step(state, action).reward, dense.reward)
  assert env.jit_step(state, action).reward == sparse.reward  # the original is left as it was


# ---- learning on a real env -------------------------------------------------------------------
# Reacher with its dense reward -dist (the sparse one is not learned at CPU budgets: PPO learns to
# sweep the arm across the goal, see benchmarks/results/agents.md), 64 envs × 10 steps per
# rollout, 4 minibatches of 160, 4 passes, γ 0.95, entropy cost 1e-3, observations normalised,
# 64×2 networks, 200k env steps, seed 0.
REACHER_DENSE = TrainConfig(
  env="reacher",
  num_envs=64,
  num_timesteps=200_000,
  num_evals=2,
  num_eval_envs=128,
  agent=PPOConfig(
    h_dim=64,
    num_minibatches=4,
    dense_reward=True,
    discounting=0.95,
    entropy_cost=1e-3,
    normalize_observations=True,
  ),
  progress=False,
)


@pytest.mark.slow
def test_ppo_learns_to_reach_on_reacher_with_the_dense_reward(tmp_path):
  """A fresh policy ends its episodes 0.21 from the goal and 1% of its steps within 0.05 of it
  (seed 0); after 200k env steps of PPO the final distance has at least halved and the arm
  spends a sixth of the episode at the goal (measured: final distance 0.206 → 0.087 → 0.064,
  time near the goal 0.015 → 0.24 → 0.34)."""
  result = train(dataclasses.replace(REACHER_DENSE, run_dir=str(tmp_path)))
  first, last = result.history[0], result.history[-1]
  print([(r["eval/final_dist"], r["eval/time_near_goal"]) for r in result.history])
  assert last["eval/final_dist"] < 0.5 * first["eval/final_dist"], result.history
  assert last["eval/time_near_goal"] > 0.15 > 0.05 > first["eval/time_near_goal"], result.history


# ---- a run you can stop, resume and load ------------------------------------------------------
# Odd sizes: 7 envs × 9 steps = 63 transitions in 4 minibatches of 15 (3 sit out each pass).
TINY_PPO = dataclasses.replace(  # TINY's run (reacher, 7 envs, 23-step episodes), 2 seeds
  TINY,
  num_seeds=2,
  num_timesteps=1000,
  agent=PPOConfig(h_dim=16, unroll_length=9, num_minibatches=4, normalize_observations=True),
)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
  """An uninterrupted run (with TensorBoard and curves.png: output flags, which must not change
  what is computed), and one stopped after epoch 1 and resumed."""
  root = tmp_path_factory.mktemp("ppo_lifecycle")
  return run_lifecycle(TINY_PPO, root, log_tensorboard=True, plot_curves=True)


def test_a_resumed_ppo_run_ends_bit_for_bit_like_the_uninterrupted_one(lifecycle):
  assert_resumed_run_ends_like_the_uninterrupted_one(lifecycle, TINY_PPO.num_evals)
  full = lifecycle["full"]
  # the on-policy loop's rows: PPO's metrics, every seed, no prefill
  row = full.history[-1]
  for name in ("train/value_loss", "train/approx_kl", "train/clip_fraction", "train/entropy"):
    assert np.isfinite(row[name]), name
  assert full.total_env_steps == 2 * 8 * 7 * 9  # 2 epochs × 8 training steps × 7 envs × 9 steps
  assert os.path.isfile(os.path.join(full.run_dir, "curves.png"))
  assert os.listdir(os.path.join(full.run_dir, "tensorboard"))


def test_load_policy_of_a_ppo_run_acts_like_the_trained_agent(lifecycle):
  """The saved policy carries the observation statistics it normalises with (the agent
  contract's PPO run does not normalise)."""
  assert_saved_policy_acts_like_the_trained_agent(TINY_PPO, lifecycle["full"])


def test_goalax_eval_reads_a_ppo_run(lifecycle, tmp_path, capsys):
  out = tmp_path / "eval.csv"
  main(["eval", lifecycle["full"].run_dir, "--num_episodes", "4", "--out", str(out)])
  with open(out) as f:
    rows = list(csv.DictReader(f))
  assert [r["seed"] for r in rows] == ["0", "1", "mean"]
  assert all(0.0 <= float(r["eval/success"]) <= 1.0 for r in rows)
  assert "checkpoint of epoch 2" in capsys.readouterr().out
