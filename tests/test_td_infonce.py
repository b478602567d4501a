"""TD InfoNCE: its loss on a case worked out by hand, the discounted occupancy its critic learns on
a ring whose answer is known, the batch the sampler builds for it, the command line, a run that
resumes bit for bit, and learning on a real env. (The saved policy: the agent contract,
test_agent_contract.)"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit
from lifecycle import (
  assert_resumed_run_ends_like_the_uninterrupted_one,
  run_lifecycle,
)
from test_td_agents import train_probe
from test_training import TINY

from goalax.agents.contrastive import infonce_loss, td_infonce_loss
from goalax.agents.td_infonce import TDInfoNCEConfig, make_td_infonce
from goalax.cli import main, parse_train_args
from goalax.config import TrainConfig
from goalax.envs.probes import EarlyEndProbe, ReachProbe
from goalax.jaxgcrl_compat import split_agent, translate
from goalax.replay.sampler import make_sampler
from goalax.run.plan import make_trainer

# ---- the loss, by hand -------------------------------------------------------------------------
# Rows i, futures j (the next state of row j). L: the critic's logits; N: the target critic's
# logits at the next state and action (their diagonals are not used: a row's own next state is
# not one of its random futures).
L = np.log(np.array([[2.0, 1.0, 1.0], [1.0, 1.0, 3.0], [1.0, 1.0, 1.0]]))
N = np.array([[100.0, math.log(3.0), 0.0], [0.0, 5.0, 0.0], [0.0, math.log(3.0), -7.0]])


def test_td_infonce_loss_on_a_3x3_case_worked_out_by_hand():
  """γ = 0.5; row 2 terminates.

  One-step terms ``logsumexp_j L[i, j] − L[i, i]``: row 0 log 4 − log 2 = log 2; row 1 log 5;
  row 2 log 3. Weights ``softmax_{j != i} N[i]``: w0 = (0, 3/4, 1/4), w1 = (1/2, 0, 1/2),
  w2 = (1/4, 3/4, 0). Bootstrapped terms ``logsumexp_{j != i} L[i, j] − Σ_j w[i, j] L[i, j]``:
  row 0 log 2 − 0; row 1 log 4 − ½ log 3; row 2 log 2 (not used: terminal, its next state is
  absorbing, so its one-step term takes the whole weight).
  Rows: log 2, ½ log 5 + ½ (log 4 − ½ log 3), log 3; mean (2 log 2 + ½ log 5 + ¾ log 3) / 3.
  """
  terminated = np.array([0.0, 0.0, 1.0])
  loss, metrics = td_infonce_loss(L, N, 0.5, terminated)
  expected = (2 * math.log(2) + 0.5 * math.log(5) + 0.75 * math.log(3)) / 3
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  np.testing.assert_allclose(metrics["one_step_loss"], math.log(2 * 5 * 3) / 3, rtol=1e-6)
  # bootstrapped_loss: mean over the non-terminal rows 0 and 1
  np.testing.assert_allclose(
    metrics["bootstrapped_loss"], (math.log(2) + math.log(4) - 0.5 * math.log(3)) / 2, rtol=1e-6
  )
  h_quarter = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
  np.testing.assert_allclose(metrics["weights_entropy"], (2 * h_quarter + math.log(2)) / 3)


def test_td_infonce_gradient_by_hand_and_none_into_the_target():
  """d loss / d L[i] = ((1 − γ_i)(softmax(L[i]) − e_i) + γ_i (softmax_{j≠i}(L[i]) − w_i)) / B with
  γ_i = γ (1 − term_i). Row 0: ½ ((½, ¼, ¼) − (1, 0, 0)) + ½ ((0, ½, ½) − (0, ¾, ¼)) = (−¼, 0, ¼),
  over 3. Row 2 (terminal, absorbing): (⅓, ⅓, ⅓) − (0, 0, 1) = (⅓, ⅓, −⅔), over 3."""
  terminated = np.array([0.0, 0.0, 1.0])
  loss_of = lambda logits, target: td_infonce_loss(logits, target, 0.5, terminated)[0]
  grad_logits, grad_target = jax.grad(loss_of, argnums=(0, 1))(jnp.asarray(L), jnp.asarray(N))
  np.testing.assert_allclose(grad_logits[0], np.array([-0.25, 0.0, 0.25]) / 3, atol=1e-7)
  np.testing.assert_allclose(grad_logits[2], np.array([1 / 3, 1 / 3, -2 / 3]) / 3, atol=1e-7)
  assert np.all(np.asarray(grad_target) == 0.0)


def test_td_infonce_without_bootstrap_is_forward_infonce():
  """γ = 0, or every row terminal at any γ, leaves the one-step InfoNCE alone, at full weight: a
  terminal row's next state is absorbing, its whole occupancy (not only the 1 − γ of its first
  step) is the one-step positive; a weight 1 − γ would leave terminal rows untrained at γ → 1."""
  logits = jax.random.normal(jax.random.PRNGKey(0), (5, 5))
  target = jax.random.normal(jax.random.PRNGKey(1), (5, 5))
  np.testing.assert_allclose(td_infonce_loss(logits, target, 0.0)[0], infonce_loss(logits))
  for gamma in (0.3, 0.99):
    all_terminal = td_infonce_loss(logits, target, gamma, jnp.ones(5))[0]
    np.testing.assert_allclose(all_terminal, infonce_loss(logits), rtol=1e-6)


def test_the_target_critic_takes_one_polyak_step_per_update():
  """After one update: ``target' = (1 − τ) target + τ online'`` leaf by leaf (``online'`` the
  critic just updated), from a target that differs from the online critic."""
  config = TDInfoNCEConfig(h_dim=16, repr_dim=8, tau=0.25)
  agent = make_td_infonce(config, 3, 2, 2)
  state = agent.init(jax.random.PRNGKey(0))
  state = state.replace(target_critic_params=agent.init(jax.random.PRNGKey(1)).critic_params)
  keys = jax.random.split(jax.random.PRNGKey(2), 5)
  batch = {
    "state": jax.random.normal(keys[0], (8, 3)),
    "next_state": jax.random.normal(keys[1], (8, 3)),
    "action": jax.random.uniform(keys[2], (8, 2), minval=-1, maxval=1),
    "goal": jax.random.normal(keys[3], (8, 2)),
    "actor_goal": jax.random.normal(keys[4], (8, 2)),
    "terminated": jnp.zeros(8),
  }
  new = jax.jit(agent.update)(state, batch, jax.random.PRNGKey(3))[0]
  leaves = lambda tree: [np.asarray(x) for x in jax.tree.leaves(tree)]
  online, target = leaves(new.critic_params), leaves(state.target_critic_params)
  moved = [not np.allclose(a, b) for a, b in zip(online, leaves(state.critic_params))]
  assert any(moved)  # the online critic took its step first
  for after, before, now in zip(leaves(new.target_critic_params), target, online):
    np.testing.assert_allclose(after, 0.75 * before + 0.25 * now, rtol=1e-6, atol=1e-7)


# ---- the critic learns the discounted occupancy on a ring --------------------------------------
RING = 6  # states 0..5 on a ring, one-hot; the action does nothing
P_STEP = 0.7  # s -> s + 1 with probability 0.7, else stay
RING_GAMMA = 0.8
RING_STEPS = 1000  # measured total variation: 0.02 (occupancy), 0.06 (terminal)
RING_CONFIG = TDInfoNCEConfig(
  h_dim=32, repr_dim=16, critic_lr=1e-3, actor_lr=1e-3, tau=0.02, discounting=RING_GAMMA
)


def ring_transitions() -> np.ndarray:
  """``P [RING, RING]``: one step of the ring."""
  eye = np.eye(RING)
  return (1 - P_STEP) * eye + P_STEP * np.roll(eye, 1, axis=1)


def ring_occupancy(gamma: float) -> np.ndarray:
  """``M[s, f] = (1 − γ) Σ_{k≥1} γ^(k−1) P^k[s, f] = (1 − γ) P (I − γ P)^(−1)``."""
  p = ring_transitions()
  return (1 - gamma) * p @ np.linalg.inv(np.eye(RING) - gamma * p)


def ring_batch(key, batch_size: int, terminal):
  """Uniform states (the marginal of the ring's stationary walk), the goal sampler's layout."""
  k_state, k_move, k_action, k_goal = jax.random.split(key, 4)
  s = jax.random.randint(k_state, (batch_size,), 0, RING)
  s_next = (s + jax.random.bernoulli(k_move, P_STEP, (batch_size,))) % RING
  one_hot = lambda i: jax.nn.one_hot(i, RING)
  return {
    "state": one_hot(s),
    "action": jax.random.uniform(k_action, (batch_size, 1), minval=-1, maxval=1),
    "next_state": one_hot(s_next),
    "goal": one_hot(s_next),  # the next state's achieved goal (offset 1)
    "actor_goal": one_hot(jax.random.randint(k_goal, (batch_size,), 0, RING)),
    "terminated": jnp.full((batch_size,), terminal),
    "reward": jnp.zeros((batch_size,)),
  }


@pytest.fixture(scope="module")
def ring_critics():
  """``(agent, {terminal: state})``: critics trained on the ring without and with every step
  terminal, side by side in one vmapped program (the flag is data)."""
  agent = make_td_infonce(RING_CONFIG, RING, RING, 1)

  def train_critic(key, terminal):
    def step(state, k):
      k_batch, k_update = jax.random.split(k)
      batch = ring_batch(k_batch, 64, terminal)
      return agent.update(state, batch, k_update)[0], None

    init_key, steps_key = jax.random.split(key)
    steps = jax.random.split(steps_key, RING_STEPS)
    return jax.lax.scan(step, agent.init(init_key), steps)[0]

  keys = jnp.stack([jax.random.PRNGKey(0)] * 2)
  both = fast_jit(jax.vmap(train_critic))(keys, jnp.array([0.0, 1.0]))
  pick = lambda i: jax.tree.map(lambda x: x[i], both)
  return agent, {False: pick(0), True: pick(1)}


def learned_occupancy(agent, state) -> np.ndarray:
  """``softmax_f`` of the critics' logits from every ring state to every ring state, averaged
  over the critics and the conditioning goals: under the uniform marginal, the learned
  ``p(f | s)`` (``[RING, RING]``)."""
  eye = np.eye(RING, dtype=np.float32)
  s, g = np.meshgrid(np.arange(RING), np.arange(RING), indexing="ij")
  actions = np.zeros((RING * RING, 1), np.float32)
  logits = jax.jit(agent.critic_logits)(
    state.critic_params, eye[s.ravel()], actions, eye[g.ravel()], eye
  )  # [critics, RING * RING, RING]
  p = jax.nn.softmax(logits, axis=-1).mean(axis=0)
  return np.asarray(p).reshape(RING, RING, RING).mean(axis=1)


def test_critic_learns_the_discounted_occupancy_by_bootstrapping(ring_critics):
  """The learned ``p(f | s)`` is the γ-discounted occupancy of the ring (k >= 1 steps ahead),
  which the one-step term alone (the next state's law ``P``) is far from."""
  agent, trained = ring_critics
  learned = learned_occupancy(agent, trained[False])
  truth, one_step = ring_occupancy(RING_GAMMA), ring_transitions()
  tv = lambda p, q: 0.5 * np.abs(p - q).sum(axis=1).max()
  print("learned:\n", learned.round(3), "\ntruth:\n", truth.round(3))
  assert tv(truth, one_step) > 0.5  # the test can tell the two apart
  print("total variation:", tv(learned, truth))
  assert tv(learned, truth) < 0.1, learned.round(3)


def test_terminal_steps_keep_only_the_one_step_term(ring_critics):
  """Every step terminal: nothing follows the next state, so the critic learns ``P`` itself (its
  zeros need logits far apart, so it gets there more slowly than to the occupancy)."""
  agent, trained = ring_critics
  learned = learned_occupancy(agent, trained[True])
  tv = lambda p, q: 0.5 * np.abs(p - q).sum(axis=1).max()
  print("total variation:", tv(learned, ring_transitions()))
  assert tv(learned, ring_transitions()) < 0.15, learned.round(3)
  assert tv(learned, ring_occupancy(RING_GAMMA)) > 0.35, learned.round(3)


# ---- the policy: reaching goals on a probe ---------------------------------------------------
def test_actor_learns_to_reach_goals_on_the_reach_probe():
  """ReachProbe: one step, the action sets the position, success iff |a − g| < 0.2. The critic
  learns where an action leads (the next state, and the policy's next state after it); the
  actor learns ``a = g`` from it. Its goals are hindsight goals (``--actor_p_random 0``):
  every stored state of a one-step env is the start 0, so random buffer states would all be 0.
  Measured: within 0.08 of every goal after 40 training steps (1,280 updates), both seeds."""
  config = TDInfoNCEConfig(
    h_dim=64,
    repr_dim=16,
    batch_size=128,
    min_replay_size=8,
    max_replay_size=400,
    env_steps_per_update=1.0,
    critic_lr=1e-3,
    actor_lr=1e-3,
    discounting=0.5,  # the one-step term carries half the loss
    initial_log_alpha=-4.0,  # SAC's temperature 1 would keep the actor wide for longer
    actor_p_random=0.0,
  )
  # jax.jit: its big B x B updates run long enough to pay for the optimised compile (measured,
  # cold cache: 51 s against 80 s with fast_jit)
  trainer, state = train_probe(config, ReachProbe(), unroll_length=2, train_steps=40, jit=jax.jit)
  goals = np.linspace(-0.7, 0.7, 15)[:, None]
  obs = np.concatenate([np.zeros_like(goals), goals], -1).astype(np.float32)
  act = lambda p: trainer.agent.act(p, obs, None, True)
  actions = np.asarray(jax.vmap(act)(trainer.agent.policy_params(state.agent)))  # [seeds, N, 1]
  print("actions:", actions[..., 0].round(2))
  np.testing.assert_allclose(actions, np.broadcast_to(goals, actions.shape), atol=0.15)


# ---- the batch the goal sampler builds for it --------------------------------------------------
def test_the_sampler_gives_the_next_states_goal_random_actor_goals_and_terminations():
  """EarlyEndProbe (goalax.envs.probes): the state is ``[t, n]``, the episode terminates at
  ``t = n``, the achieved goal is ``t``."""
  env = EarlyEndProbe()
  agent_config = TDInfoNCEConfig(h_dim=8, repr_dim=4, batch_size=256, min_replay_size=60)
  config = TrainConfig(env=env.name, num_envs=4, num_timesteps=1, num_evals=1, agent=agent_config)
  trainer = make_trainer(config, env)
  sample = make_sampler(env, trainer.agent.sampling, 256, env.episode_length)

  @fast_jit
  def batch_of(key):
    state = trainer.prefill(trainer.init(key))
    return sample(state.buffer, jax.random.PRNGKey(1))

  batch, info = jax.tree.map(np.asarray, batch_of(jax.random.PRNGKey(0)))
  t, end, next_t = batch["state"][:, 0], batch["state"][:, 1], batch["next_state"][:, 0]
  np.testing.assert_array_equal(next_t, t + 1)
  np.testing.assert_array_equal(batch["goal"][:, 0], next_t)  # the next state's goal, always
  assert np.all(info["k"] == 1) and np.all(info["found"])
  np.testing.assert_array_equal(batch["terminated"], (next_t >= end).astype(np.float32))
  assert 0.1 < batch["terminated"].mean() < 0.9
  assert np.all(info["actor_source"] == 2)  # random goals: any stored time, 0..5
  assert set(np.unique(batch["actor_goal"][:, 0])) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}


# ---- the command line ---------------------------------------------------------------------------
def test_both_jaxgcrl_spellings_and_the_help_reach_td_infonce(capsys):
  agent, flags = split_agent(["--env_name", "reacher", "--agent", "td_infonce", "--tau", "0.01"])
  config = parse_train_args(agent, translate(flags))
  assert isinstance(config.agent, TDInfoNCEConfig) and config.agent.tau == 0.01
  config = parse_train_args("td_infonce", translate(["--total_env_steps", "5000"]))
  assert config.num_timesteps == 5000
  with pytest.raises(SystemExit):
    parse_train_args("td_infonce", ["--help"])
  text = capsys.readouterr().out
  for flag in ("--twin-critics", "--actor-p-random", "--energy-fn", "--tau", "--batch-size"):
    assert flag in text, flag
  for flag in ("--use-her", "--contrastive-loss-fn", "--logsumexp-penalty-coeff"):
    assert flag not in text, flag


@pytest.mark.parametrize(
  "flags, message",
  [
    (["--discounting", "1"], "--discounting must be in [0, 1) for td_infonce, got 1.0"),
    (["--random_actor_goals", "2"], "--random_actor_goals must be in [0, 1]"),  # named as typed
    (["--energy_fn", "l3"], "Unknown --energy_fn value 'l3'"),
    (["--batch_size", "1", "--min_replay_size", "2"], "--batch_size must be at least 2"),
  ],
)
def test_bad_td_infonce_flags_are_one_sentence_and_exit_code_2(flags, message, capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["train", "td_infonce", *flags])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


# ---- a run you can stop, resume and load -------------------------------------------------------
# Reacher, tiny: 7 envs × 9 steps per training step, 23-step episodes, batch 33, 16-wide networks.


TINY_TDI = dataclasses.replace(  # TINY's run (reacher, 7 envs, 23-step episodes), 2 seeds
  TINY,
  num_seeds=2,
  agent=TDInfoNCEConfig(
    h_dim=16, repr_dim=8, unroll_length=9, batch_size=33, min_replay_size=20, max_replay_size=200
  ),
)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
  """An uninterrupted run and one stopped after epoch 1 and resumed (two seeds each)."""
  return run_lifecycle(TINY_TDI, tmp_path_factory.mktemp("td_infonce_lifecycle"))


def test_a_resumed_td_infonce_run_ends_bit_for_bit_like_the_uninterrupted_one(lifecycle):
  assert_resumed_run_ends_like_the_uninterrupted_one(lifecycle, TINY_TDI.num_evals)
  full = lifecycle["full"]
  row = full.history[-1]
  for name in ("critic_loss", "one_step_loss", "bootstrapped_loss", "weights_entropy", "alpha"):
    assert np.isfinite(row[f"train/{name}"]), name
