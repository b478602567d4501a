"""QRL and its quasimetrics: IQE and MRN on cases worked out by hand, the triangle inequality and
asymmetry on random inputs, the critic's objective by hand, a learned distance that orders the
cells of a chain, the flags, exact resume, and learning on a real env. (The saved policy: the
agent contract, test_agent_contract.)"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from buffer_streams import fill, make_stream
from fast_compile import fast_jit
from lifecycle import (
  assert_resumed_run_ends_like_the_uninterrupted_one,
  run_lifecycle,
)
from test_training import TINY

from goalax.agents import quasimetric
from goalax.agents.qrl import QRLConfig, make_qrl
from goalax.agents.qrl_objective import critic_objective, push_loss, squared_deviations
from goalax.cli import main, parse_train_args
from goalax.config import TrainConfig
from goalax.envs.probes import ChainProbe, ReachProbe
from goalax.jaxgcrl_compat import split_agent, translate
from goalax.replay.sampler import hindsight_fallback, make_sampler
from goalax.run.plan import make_trainer


# ---- the quasimetrics, by hand --------------------------------------------------------------------
def test_iqe_on_a_hand_case():
  """Two components of 4 dimensions. Component 0: intervals [0, 2], [1, 2], [3, 4] and an empty
  one (y < x): union [0, 2] ∪ [3, 4], length 3. Component 1: y <= x everywhere: 0."""
  x = jnp.array([0.0, 1.0, 3.0, 0.0, 5.0, 5.0, 5.0, 5.0])
  y = jnp.array([2.0, 2.0, 4.0, -1.0, 1.0, 2.0, 3.0, 5.0])
  np.testing.assert_allclose(quasimetric.iqe_components(x, y, 4), [3.0, 0.0])
  # maxmean with w = 0.25: 0.25 * 3 + 0.75 * 1.5
  np.testing.assert_allclose(quasimetric.iqe(x, y, 4, 0.25), 0.25 * 3 + 0.75 * 1.5)
  # the other way: component 0 has [2, 2], [2, 2], [4, 4] (empty) and [-1, 0]: 1; component 1
  # [1, 5], [2, 5], [3, 5], [5, 5]: 4
  np.testing.assert_allclose(quasimetric.iqe_components(y, x, 4), [1.0, 4.0])


def merged_length(start, end):
  """The union's length by the textbook sweep: sort by start, merge overlapping intervals."""
  total, current_start, current_end = 0.0, None, None
  for s, e in sorted(zip(start, end)):
    if current_end is None or s > current_end:
      total += 0.0 if current_end is None else current_end - current_start
      current_start, current_end = s, e
    else:
      current_end = max(current_end, e)
  return total + (current_end - current_start)


def test_interval_union_length_matches_a_sweep_with_ties_and_nesting():
  """Against the sort-and-merge sweep on random intervals whose starts tie often (drawn from 4
  values) and on a hand case with equal starts: [0, 2] and [0, 3] cover 3, not 5."""
  np.testing.assert_allclose(
    quasimetric.interval_union_length(jnp.array([0.0, 0.0, 5.0]), jnp.array([2.0, 3.0, 5.5])), 3.5
  )
  rng = np.random.default_rng(0)
  start = rng.integers(0, 4, size=(200, 8)).astype(np.float32)
  end = start + rng.exponential(1.0, size=(200, 8)).astype(np.float32) * (
    rng.random((200, 8)) > 0.3
  )
  expected = [merged_length(s, e) for s, e in zip(start, end)]
  np.testing.assert_allclose(quasimetric.interval_union_length(start, end), expected, rtol=1e-5)


def test_mrn_on_a_hand_case():
  """Symmetric half (3, 4) -> 5; asymmetric half: max(relu(1 - 0), relu(0 - 2)) = 1."""
  x = jnp.array([0.0, 0.0, 1.0, 0.0])
  y = jnp.array([3.0, 4.0, 0.0, 2.0])
  np.testing.assert_allclose(quasimetric.mrn(x, y), 6.0)
  np.testing.assert_allclose(quasimetric.mrn(y, x), 5.0 + 2.0)


HEADS = {
  "iqe": lambda x, y: quasimetric.iqe(x, y, 4, 0.3),
  "mrn": quasimetric.mrn,
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_triangle_inequality_identity_and_asymmetry_on_random_inputs(name):
  d = HEADS[name]
  kx, ky, kz = jax.random.split(jax.random.PRNGKey(0), 3)
  x, y, z = (jax.random.normal(k, (2000, 16)) for k in (kx, ky, kz))
  dxy, dyz, dxz, dyx = d(x, y), d(y, z), d(x, z), d(y, x)
  assert np.all(np.asarray(dxz) <= np.asarray(dxy + dyz) + 1e-5)
  assert np.all(np.asarray(dxy) >= 0)
  np.testing.assert_array_equal(d(x, x), 0.0)
  # asymmetric: many pairs differ both ways by more than rounding
  assert np.mean(np.abs(np.asarray(dxy - dyx)) > 1e-2) > 0.5
  # and finite gradients everywhere, also at d(x, x) = 0
  grad = jax.grad(lambda a: jnp.sum(d(a, y)) + jnp.sum(d(a, a)))(x)
  assert np.all(np.isfinite(np.asarray(grad)))


def test_quasimetric_head_holds_iqe_maxmean_weight():
  head = quasimetric.QuasimetricHead("iqe", 4)
  x, y = jnp.ones((3, 8)), jnp.zeros((3, 8))
  params = head.init(jax.random.PRNGKey(0), x, y)
  np.testing.assert_allclose(params["params"]["raw_max_weight"], -1.0)  # torchqmet's start
  w = jax.nn.sigmoid(-1.0)
  expected = quasimetric.iqe(y, x, 4, w)
  np.testing.assert_allclose(head.apply(params, y, x), expected, rtol=1e-6)
  assert quasimetric.QuasimetricHead("mrn").init(jax.random.PRNGKey(0), x, y) == {}


# ---- the critic's objective, by hand ---------------------------------------------------------------
def test_critic_objective_on_a_hand_case():
  """IQE with one dimension per component (``d = 0.5 max_k relu(y_k - x_k) + 0.5 mean_k ...``)
  on two transitions, latents chosen by hand:

  - random pairs ``(z_i, w_{i-1})``: ``(0, 0) -> (4, 1)``: 0.5·4 + 0.5·2.5 = 3.25;
    ``(2, 0) -> (1, 3)``: 0.5·3 + 0.5·1.5 = 2.25;
  - steps ``z -> z_next``: ``(0, 0) -> (1, 2)``: 1.75; ``(2, 0) -> (2, 0)``: 0;
  - at the goal ``z_next -> w``: ``(1, 2) -> (1, 3)``: 0.75; ``(2, 0) -> (4, 1)``: 1.75;
  - deviations, each constraint on its own: steps ``(relu(1.75 - 1)^2 + relu(0 - 1)^2) / 2 =
    0.28125``, goal edges ``(0.75^2 + 1.75^2) / 2 = 1.8125``;
  - dynamics: model ``(1, 2), (2, 1)`` against ``z_next``: 0 both ways for the first; ``(2, 1) ->
    (2, 0)``: 0 and back 0.75: ``0.5 · mean(0, 0.5625) = 0.140625``.
  """
  distance = lambda x, y: quasimetric.iqe(x, y, 1, 0.5)
  z = jnp.array([[0.0, 0.0], [2.0, 0.0]])
  z_next = jnp.array([[1.0, 2.0], [2.0, 0.0]])
  w_next = jnp.array([[1.0, 3.0], [4.0, 1.0]])
  z_model = jnp.array([[1.0, 2.0], [2.0, 1.0]])
  config = QRLConfig(push_offset=2.0, push_beta=1.0, epsilon=0.25, dynamics_weight=0.1)
  lagrange = jnp.array([0.5, 2.0])  # step, goal

  softplus = lambda v: math.log1p(math.exp(v))
  push = (softplus(2 - 3.25) + softplus(2 - 2.25)) / 2
  deviation = np.array([0.75**2 / 2, (0.75**2 + 1.75**2) / 2])
  dynamics = 0.140625

  loss, metrics = critic_objective(distance, z, z_next, w_next, z_model, lagrange, config)
  np.testing.assert_allclose(metrics["dist_random"], (3.25 + 2.25) / 2, rtol=1e-6)
  np.testing.assert_allclose(metrics["dist_step"], 1.75 / 2, rtol=1e-6)
  np.testing.assert_allclose(metrics["dist_at_goal"], (0.75 + 1.75) / 2, rtol=1e-6)
  np.testing.assert_allclose(metrics["push_loss"], push, rtol=1e-6)
  np.testing.assert_allclose(metrics["sq_deviation"], deviation[0], rtol=1e-6)
  np.testing.assert_allclose(metrics["sq_deviation_goal"], deviation[1], rtol=1e-6)
  np.testing.assert_allclose(metrics["lagrange_goal"], 2.0)
  np.testing.assert_allclose(metrics["dynamics_loss"], dynamics, rtol=1e-6)
  # value: push + Σ λ dev + 0.1 dyn − Σ λ (dev − ε²) = push + 0.1 dyn + (λ_step + λ_goal) ε²
  np.testing.assert_allclose(loss, push + 0.1 * dynamics + 2.5 * 0.25**2, rtol=1e-6)
  # dual ascent: both constraints are violated (> ε² = 0.0625), so descending the loss in λ
  # raises each multiplier: d loss / d λ_c = −(dev_c − ε²)
  grad_lagrange = jax.grad(
    lambda lam: critic_objective(distance, z, z_next, w_next, z_model, lam, config)[0]
  )(lagrange)
  np.testing.assert_allclose(grad_lagrange, -(deviation - 0.0625), rtol=1e-6)
  # and the latents get the Lagrangian's gradient (λ fixed): push + Σ λ dev + 0.1 dyn
  lagrangian = lambda zz: (
    push_loss(distance(zz, jnp.roll(w_next, 1, axis=0)), 2.0, 1.0)
    + jnp.sum(lagrange * squared_deviations(distance(zz, z_next), distance(z_next, w_next)))
  )
  grad_z = jax.grad(
    lambda zz: critic_objective(distance, zz, z_next, w_next, z_model, lagrange, config)[0]
  )(z)
  np.testing.assert_allclose(grad_z, jax.grad(lagrangian)(z), rtol=1e-6)


def test_step_edges_are_bounded_by_epsilon_squared_on_their_own():
  """One latent dimension, ``d(x, y) = relu(y - x)``. Two transitions whose steps cost ``1 + a``
  with ``a² = 2 ε²`` and whose goal edges cost 0 (``w = z_next``): the steps' mean squared
  overestimate is ``2 ε²``. One mean over both kinds of edges would read ``ε²``, satisfied; the
  step constraint alone is violated by ``ε²``, so its multiplier rises (``d loss / d λ_step =
  −ε²``), while the satisfied goal constraint's falls (``+ε²``)."""
  epsilon = 0.25
  a = math.sqrt(2.0) * epsilon
  distance = lambda x, y: quasimetric.iqe(x, y, 1, 0.5)
  z = jnp.zeros((2, 1))
  z_next = jnp.full((2, 1), 1.0 + a)
  config = QRLConfig(epsilon=epsilon)
  objective = lambda lam: critic_objective(distance, z, z_next, z_next, z_next, lam, config)
  metrics = objective(jnp.array([1.0, 1.0]))[1]
  np.testing.assert_allclose(metrics["sq_deviation"], 2 * epsilon**2, rtol=1e-5)
  np.testing.assert_allclose(metrics["sq_deviation_goal"], 0.0)
  np.testing.assert_allclose(
    np.mean(squared_deviations(jnp.full(2, 1.0 + a), jnp.zeros(2))), epsilon**2, rtol=1e-5
  )  # what a single mean over the 2B edges would have read
  grad = jax.grad(lambda lam: objective(lam)[0])(jnp.array([1.0, 1.0]))
  np.testing.assert_allclose(grad, [-(epsilon**2), epsilon**2], rtol=1e-5)


# ---- twin critics: the actor on their max ----------------------------------------------------------
TWIN = QRLConfig(h_dim=16, latent_dim=16, batch_size=8, twin_critics=True)


def one_critic(params, c):
  """Critic ``c`` of stacked parameters (and its multipliers), as a one-critic agent holds it."""
  return jax.tree.map(lambda x: x[c : c + 1], params)


def test_twin_critics_learn_apart_and_the_actor_takes_their_max():
  """Two critics: the loss is the sum of each critic's own (so no gradient crosses them), the
  distance and the actor's predicted distance are the larger of the two, checked against the
  one-critic agent on each critic's slice (batch of one, same key, so the same action)."""
  twin = make_qrl(TWIN, 3, 2, 2)
  single = make_qrl(dataclasses.replace(TWIN, twin_critics=False), 3, 2, 2)
  state = twin.init(jax.random.PRNGKey(0))
  assert state.raw_lagrange.shape == (2, 2)
  keys = jax.random.split(jax.random.PRNGKey(1), 5)
  batch = {
    "state": jax.random.normal(keys[0], (1, 3)),
    "next_state": jax.random.normal(keys[1], (1, 3)),
    "action": jax.random.uniform(keys[2], (1, 2), minval=-1, maxval=1),
    "goal": jax.random.normal(keys[3], (1, 2)),
    "actor_goal": jax.random.normal(keys[3], (1, 2)) + 1.0,
  }
  critics = [one_critic(state.critic_params, c) for c in range(2)]
  raws = [one_critic(state.raw_lagrange, c) for c in range(2)]
  loss = twin.critic_loss(state.critic_params, state.raw_lagrange, batch)[0]
  singles = [single.critic_loss(p, r, batch)[0] for p, r in zip(critics, raws)]
  np.testing.assert_allclose(loss, sum(singles), rtol=1e-5)

  d = twin.distance(state.critic_params, batch["state"], batch["goal"])
  each = [single.distance(p, batch["state"], batch["goal"]) for p in critics]
  assert not np.allclose(each[0], each[1])  # two critics, initialised apart
  np.testing.assert_allclose(d, np.maximum(*each), rtol=1e-6)

  actor = lambda agent, params: agent.actor_loss(
    state.actor_params, params, state.log_alpha, batch, keys[4]
  )[1][1]["dist_actor"]
  each = [actor(single, p) for p in critics]
  np.testing.assert_allclose(actor(twin, state.critic_params), max(each), rtol=1e-6)


# ---- the fallback share, on a case whose rate is known ---------------------------------------------
def test_hindsight_fallback_is_the_share_of_the_hindsight_draws():
  """Each of 3 envs has stored one step of an episode of 9: the actor's hindsight offsets are
  uniform on 1..9 (discounting 1) and only k = 1 is stored (the next state), so a hindsight draw
  falls back when none of 8 candidates drew k = 1: ``(8/9)^8 = 0.390``. Its random goals (half,
  QRL's default) and the critic's next-state goals never fall back; the share of the whole batch
  would read half the rate."""
  sampling = QRLConfig(discounting=1.0).goal_sampling()
  buffer = fill(make_stream(np.zeros((1, 3), np.int32)), 16, [1])
  sample = jax.jit(make_sampler(ReachProbe(), sampling, 20_000, 9))
  _, info = sample(buffer, jax.random.key(0))
  rate = (8 / 9) ** 8
  np.testing.assert_allclose(float(hindsight_fallback(info)), rate, atol=0.02)
  np.testing.assert_array_equal(info["hindsight"], info["actor_source"] == 1)
  assert abs((1 - float(info["found"].mean())) - rate / 2) < 0.02  # the batch's share


def test_push_transform_is_concave_and_flattens_beyond_the_offset():
  d = jnp.array([0.0, 10.0, 20.0, 200.0])
  grads = jax.vmap(jax.grad(lambda v: push_loss(v[None], 100.0, 0.1)))(d)
  assert np.all(np.asarray(grads) < 0)  # minimising pushes every distance up
  assert np.all(np.diff(np.asarray(grads)) > 0)  # less and less so: a concave objective
  assert abs(float(grads[-1])) < 1e-3


# ---- a learned distance and policy on a chain -------------------------------------------------------
CHAIN = ChainProbe(num_states=10, episode_length=20)
CHAIN_AGENT = QRLConfig(
  h_dim=32,
  latent_dim=32,
  dim_per_component=8,
  batch_size=128,
  unroll_length=20,
  min_replay_size=20,
  max_replay_size=400,
  env_steps_per_update=2.0,
  push_offset=15.0,
  critic_lr=1e-3,
)
CELLS = CHAIN.one_hot(jnp.arange(CHAIN.num_states))  # [10, 10]


def greedy_success(act, policy_params):
  """``[10, 10]``: whether the deterministic policy, started on cell i with goal cell j, is on
  cell j after ``episode_length`` steps."""

  def episode(start, goal):
    def step(state, _):
      action = act(policy_params, jnp.concatenate([state, goal]), None, True)
      return CHAIN._transition(state, action)[0], None

    final = jax.lax.scan(step, start, None, length=CHAIN.episode_length)[0]
    return jnp.all(final == goal)

  return jax.vmap(jax.vmap(episode, (None, 0)), (0, None))(CELLS, CELLS)


@pytest.fixture(scope="module")
def chain_run():
  """16 envs, 8 training steps of 320 env steps and 160 gradient steps each (1,280 updates of
  batch 128), seed 0: the learned ``d(cell i, cell j)`` ``[10, 10]`` and the greedy policy's
  success from every start to every goal, before and after training."""
  config = TrainConfig(env=CHAIN.name, num_envs=16, num_timesteps=1, num_evals=1, agent=CHAIN_AGENT)
  trainer = make_trainer(config, CHAIN)
  agent = trainer.agent

  @fast_jit
  def run(key):
    state = trainer.prefill(trainer.init(key))
    before = greedy_success(agent.act, agent.policy_params(state.agent))
    state = jax.lax.scan(lambda s, _: (trainer.run_epoch(s)[0], None), state, None, length=8)[0]
    after = greedy_success(agent.act, agent.policy_params(state.agent))
    distance = agent.distance(state.agent.critic_params, CELLS[:, None], CELLS[None, :])
    return distance, before, after

  return jax.tree.map(np.asarray, run(jax.random.PRNGKey(0)))


def test_learned_distance_orders_the_cells_of_a_chain(chain_run):
  """True distance from cell i to cell j: |j − i| steps. The learned one grows with it, in both
  directions, and is near 0 from a cell to its own goal. (Measured, seed 0: d(0, j) = 0.2, 1.5,
  3.4, 5.5, ... 17.4: still twice the true steps at this budget, while the multiplier rises.)"""
  d, _, _ = chain_run
  np.set_printoptions(precision=1, suppress=True, linewidth=150)
  print(d)
  n = CHAIN.num_states
  for i in range(n):
    right, left = d[i, i + 1 :], d[i, :i][::-1]  # by increasing number of steps
    assert np.all(np.diff(right) > 0), (i, right)
    assert np.all(np.diff(left) > 0), (i, left)
    assert d[i, i] < 0.5, (i, d[i, i])
  steps = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
  assert np.corrcoef(d.ravel(), steps.ravel())[0, 1] > 0.95


def test_policy_reaches_the_goal_cell_on_the_chain(chain_run):
  """The deterministic policy from every start to every goal cell (20 steps, at most 9 needed)."""
  _, before, after = chain_run
  print("success before", before.mean(), "after", after.mean())
  assert before.mean() < 0.3
  assert after.mean() > 0.9


# ---- flags and the reference's entry points ---------------------------------------------------------
def test_qrl_help_lists_its_flags(capsys):
  with pytest.raises(SystemExit):
    parse_train_args("qrl", ["--help"])
  text = capsys.readouterr().out
  for flag in (
    "--quasimetric",
    "--latent-dim",
    "--dim-per-component",
    "--epsilon",
    "--lagrange-lr",
    "--push-offset",
    "--dynamics-weight",
    "--actor-p-random",
    "--target-entropy",
    "--batch-size",
    "--num-seeds",
  ):
    assert flag in text, flag
  assert "--energy-fn" not in text and "--use-her" not in text


def test_jaxgcrl_entry_points_reach_qrl():
  agent, flags = split_agent(["--agent", "qrl", "--env_name", "reacher", "--batch_size", "64"])
  config = parse_train_args(agent, translate(flags))
  assert isinstance(config.agent, QRLConfig) and config.env == "reacher"
  assert config.agent.batch_size == 64
  config = parse_train_args("qrl", translate(["--quasimetric", "mrn", "--total_env_steps", "5000"]))
  assert config.agent.quasimetric == "mrn" and config.num_timesteps == 5000


@pytest.mark.parametrize(
  "flags, phrases",
  [
    (
      ["--latent_dim", "60"],
      ["--latent_dim (60) must be a multiple of --dim_per_component (8)", "56 or 64"],
    ),
    (["--epsilon", "0"], ["--epsilon must be positive"]),
    (["--actor_p_random", "1.5"], ["--actor_p_random must be in [0, 1]"]),
    (["--push_offset", "-1"], ["--push_offset must be 0 or positive"]),
    (["--quasimetric", "mrn", "--latent_dim", "1"], ["--latent_dim must be at least 2"]),
  ],
)
def test_bad_qrl_flags_are_one_sentence_and_exit_code_2(flags, phrases, capsys):
  with pytest.raises(SystemExit) as exit_info:
    main(["train", "qrl", *flags])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
  for phrase in phrases:
    assert phrase in err, err


# ---- a run you can stop, resume and load ----------------------------------------------------------
TINY_QRL = dataclasses.replace(  # TINY's run (reacher, 7 envs, 23-step episodes), 2 seeds
  TINY,
  num_seeds=2,
  agent=QRLConfig(
    h_dim=16,
    latent_dim=16,
    unroll_length=9,
    batch_size=33,
    min_replay_size=20,
    max_replay_size=200,
  ),
)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory):
  """An uninterrupted run, and one stopped after epoch 1 and resumed (2 seeds each)."""
  return run_lifecycle(TINY_QRL, tmp_path_factory.mktemp("qrl_lifecycle"))


def test_a_resumed_qrl_run_ends_bit_for_bit_like_the_uninterrupted_one(lifecycle):
  assert_resumed_run_ends_like_the_uninterrupted_one(lifecycle, TINY_QRL.num_evals)
  full = lifecycle["full"]
  row = full.history[-1]
  for name in ("train/dist_random", "train/sq_deviation", "train/lagrange", "train/dist_actor"):
    assert np.isfinite(row[name]), name
