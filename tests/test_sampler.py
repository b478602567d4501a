"""The goal sampler: hindsight goals stay in their trajectory and follow their law (also in the
still-running episode), the goal mix matches its configuration, rewards follow the env's rule.

Streams (tests/buffer_streams.py) encode where every value came from: the state of step t in env
e is ``100 t + e``, the commanded goal that + 0.25, and the true last state of an episode
``100 (t + 1) + e + 0.5``. The env is the one-dimensional reach probe (success within 0.2).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from buffer_streams import (
  fill,
  make_stream,
  mean_z_score,
  pooled_chisquare_pvalue,
  random_traj_ids,
  truncated_geometric_pmf,
)
from scipy import stats

from goalax.agents.crl import CRLConfig
from goalax.agents.sac import SACConfig
from goalax.config import TrainConfig
from goalax.envs.probes import EarlyEndProbe, ReachProbe
from goalax.replay.goals import GoalMix, GoalSampling
from goalax.replay.sampler import make_sampler, sample_truncated_geometric
from goalax.run.plan import make_trainer

ENV = ReachProbe()
KEY = jax.random.key(12)
jit_truncated_geometric = jax.jit(sample_truncated_geometric)


@functools.cache
def sampler(sampling: GoalSampling, batch_size: int, episode_length: int):
  return jax.jit(make_sampler(ENV, sampling, batch_size, episode_length))


def draw(buffer, sampling, batch_size, episode_length, seed=0):
  batch, info = sampler(sampling, batch_size, episode_length)(buffer, jax.random.key(seed))
  return jax.tree.map(np.asarray, batch), jax.tree.map(np.asarray, info)


def decode(values):
  """``(step, env, marker)`` of stream values ``100 step + env + marker``."""
  step = np.floor(values / 100.0).astype(int)
  rest = values - 100.0 * step
  env = np.floor(rest + 1e-4).astype(int)
  return step, env, np.round(rest - env, 2)


# ---------------------------------------------------------------------------
# Hindsight goals
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("td", [False, True], ids=["obs_layout", "next_state_layout"])
@pytest.mark.parametrize("future", ["geometric", "uniform"])
def test_hindsight_goals_never_cross_a_trajectory(td, future):
  capacity, num_envs, num_steps = 16, 4, 37
  traj_ids = random_traj_ids(np.random.default_rng(1), num_steps, num_envs, max_len=6)
  traj_ids[:, 0] = np.arange(num_steps) // 5  # env 0: episodes of exactly 5 steps
  buffer = fill(make_stream(traj_ids), capacity, [5, 5, 3, 7, 5, 9, 3])  # wraps twice
  sampling = GoalSampling(GoalMix(future=future, discount=0.8), td=td)
  batch, info = draw(buffer, sampling, 20_000, episode_length=6)

  now_step, now_env, _ = decode(batch["state"][:, 0])
  goal_step, goal_env, marker = decode(batch["goal"][:, 0])
  k = info["k"]
  assert np.all(now_step >= num_steps - capacity)  # only stored rows
  assert info["found"].mean() > 0.99
  found = info["found"]
  assert np.all(k[found] >= 1)  # a goal is never the transition's own state
  np.testing.assert_array_equal(goal_env, now_env)
  np.testing.assert_array_equal(goal_step - now_step, k)
  source_row = now_step + k - (1 if td else 0)  # the row holding the goal state
  assert np.all(source_row < num_steps)
  np.testing.assert_array_equal(traj_ids[source_row, now_env], traj_ids[now_step, now_env])
  if td:  # the true last state of an episode is a goal too, and only where the episode ended
    ended = np.r_[traj_ids[1:] != traj_ids[:-1], np.zeros((1, num_envs), bool)]
    np.testing.assert_array_equal(marker == 0.5, ended[source_row, now_env])
    assert (marker == 0.5).mean() > 0.05
  else:
    assert np.all(marker == 0.0)
  # every feasible offset is drawn: in env 0 a row at episode time s has offsets 1..(4 - s) + td
  in_env0 = now_env == 0
  for s in range(5):
    drawn = set(np.unique(k[in_env0 & (now_step % 5 == s) & found]))
    assert drawn == set(range(1, 5 - s + td)) or (s == 4 and not td and not drawn)


def complete_episode_offsets(td, discount, episode_length=20, seed=3):
  """``(steps, k)`` of hindsight samples from a buffer of complete time-limit episodes."""
  num_envs, num_steps, capacity = 2, 80, 64
  traj_ids = np.repeat(np.arange(num_steps // episode_length), episode_length)
  buffer = fill(make_stream(np.tile(traj_ids[:, None], (1, num_envs))), capacity, [40, 40])
  sampling = GoalSampling(GoalMix(future="geometric", discount=discount), td=td)
  batch, info = draw(buffer, sampling, 40_000, episode_length, seed=seed)
  now_step, _, _ = decode(batch["state"][:, 0])
  assert info["found"].all()
  return now_step % episode_length, info["k"]


@pytest.mark.parametrize("td", [False, True], ids=["obs_layout", "next_state_layout"])
def test_offsets_follow_the_law_over_the_rest_of_a_complete_episode(td):
  discount, episode_length = 0.85, 20
  steps, k = complete_episode_offsets(td, discount, episode_length)
  for s in (0, 7, 15):
    rest = episode_length - 1 - s + td  # future states until the time limit
    pmf = truncated_geometric_pmf(discount, rest)
    assert pooled_chisquare_pvalue(k[steps == s], pmf) > 1e-3, s
    assert abs(mean_z_score(k[steps == s], pmf)) < 5, s
  # power: the law of another discount is rejected by the same test
  pmf = truncated_geometric_pmf(0.7, episode_length - 1 + td)
  assert pooled_chisquare_pvalue(k[steps == 0], pmf) < 1e-3


def test_running_episode_is_not_biased_toward_near_goals():
  """One running episode per env (30 of its 200 steps stored). The pairs (t, k) must follow the
  complete-episode law restricted to what is stored, P(t, k) ∝ p_{199-t}(k) 1{t + k <= 29};
  renormalising each row's law over its short stored future (the old sampler) is rejected."""
  discount, stored, episode_length = 0.9, 30, 200
  buffer = fill(make_stream(np.zeros((stored, 3), np.int32)), 64, [stored])
  sampling = GoalSampling(GoalMix(discount=discount))
  batch, info = draw(buffer, sampling, 40_000, episode_length, seed=4)
  assert info["found"].mean() > 0.999
  k = info["k"][info["found"]]

  restricted, renormalised = np.zeros(stored), np.zeros(stored)
  for t in range(stored):
    law = truncated_geometric_pmf(discount, episode_length - 1 - t)
    restricted[1 : stored - t] += law[: stored - 1 - t]
    if t < stored - 1:
      renormalised[1 : stored - t] += law[: stored - 1 - t] / law[: stored - 1 - t].sum()
  restricted, renormalised = (
    restricted[1:] / restricted.sum(),
    renormalised[1:] / renormalised.sum(),
  )
  assert pooled_chisquare_pvalue(k, restricted) > 1e-3
  assert abs(mean_z_score(k, restricted)) < 5
  assert pooled_chisquare_pvalue(k, renormalised) < 1e-6  # the bias this sampler removes
  assert np.mean(k) > np.sum(np.arange(1, stored) * renormalised) + 0.3


# ---------------------------------------------------------------------------
# Episodes that end early (an ant or humanoid that falls)
# ---------------------------------------------------------------------------

EARLY_END_AGENTS = {  # the obs layout with CRL's geometric law, next_state with HER's uniform one
  "crl": CRLConfig(h_dim=8, repr_dim=4, batch_size=8),
  "sac_her": SACConfig(h_dim=8, batch_size=8, use_her=True, her_p_future=1.0),
}


def early_end_trainer(agent_config):
  """The off-policy trainer of 8 envs of the early-end probe (episodes of 1..6 steps, time limit
  40), 120 random-action steps before training, one training step of 8 × 4 env steps an epoch."""
  env = EarlyEndProbe()
  agent_config = dataclasses.replace(
    agent_config, min_replay_size=120, max_replay_size=128, unroll_length=4
  )
  config = TrainConfig(env=env.name, num_envs=8, num_timesteps=1, num_evals=1, agent=agent_config)
  return make_trainer(config, env)


@pytest.fixture(scope="module", params=sorted(EARLY_END_AGENTS))
def early_end_run(request):
  """``(trainer, state)`` after the prefill: the replay buffer filled as in training."""
  trainer = early_end_trainer(EARLY_END_AGENTS[request.param])
  state = jax.jit(lambda key: trainer.prefill(trainer.init(key)))(jax.random.key(11))
  return trainer, state


def test_episodes_that_end_early_keep_their_hindsight_goals(early_end_run):
  """Offsets are drawn over the real rest of an episode that terminated, not up to the time
  limit: hindsight goals are found (the old sampler fell back for 57-66% of the batch), stay
  inside the episode, and follow the agent's law over the real rest."""
  trainer, state = early_end_run
  sampling, env, buffer = trainer.agent.sampling, EarlyEndProbe(), state.buffer
  batch, info = jax.tree.map(
    np.asarray, jax.jit(make_sampler(env, sampling, 20_000, env.episode_length))(buffer, KEY)
  )
  assert 1 - info["found"].mean() < 0.002  # the fallback share
  t, end = batch["state"][:, 0], batch["state"][:, 1]
  k = info["k"][info["found"]]
  np.testing.assert_array_equal(batch["goal"][:, 0][info["found"]], (t + info["k"])[info["found"]])
  rest = (end - t - (0 if sampling.td else 1)).astype(int)[info["found"]]  # later states
  assert np.all((k >= 1) & (k <= rest))
  law = sampling.value.offset_discount
  for n_rest in (2, 3, 5):
    pmf = truncated_geometric_pmf(law, n_rest)
    assert pooled_chisquare_pvalue(k[rest == n_rest], pmf) > 1e-3, n_rest
  # rows are kept as often as the rows they are drawn from allow: every row of a completed
  # episode with a later state, rows of the running episodes by the chance k is stored (the old
  # sampler kept rows of long rests more often)
  weights = acceptance_by_rest(buffer, sampling, env.episode_length)
  drawn_counts = np.bincount(rest, minlength=len(weights))[1:]
  assert stats.chisquare(drawn_counts, weights[1:] / weights.sum() * len(rest)).pvalue > 1e-4


def test_the_fallback_share_is_a_training_metric(early_end_run):
  """``hindsight_fallback`` (the share of a batch whose hindsight goal fell back) is reported by
  agents that draw hindsight goals, and only by them; here about 0 (the old sampler: 0.56)."""
  trainer, state = early_end_run
  _, metrics = jax.jit(trainer.run_epoch)(state)
  assert 0.0 <= float(metrics["hindsight_fallback"]) < 0.01
  commanded_only = early_end_trainer(SACConfig(h_dim=8, batch_size=8))
  shapes = jax.eval_shape(lambda key: commanded_only.run_epoch(commanded_only.init(key)), KEY)
  assert "hindsight_fallback" not in shapes[1] and "critic_loss" in shapes[1]


def acceptance_by_rest(buffer, sampling, episode_length):
  """Summed over the stored rows, by their episode's real rest: the chance a row's drawn offset
  is stored (1 in completed episodes, below 1 in the running ones). ``[0..max rest]``."""
  size = int(buffer.size)  # not wrapped: rows 0..size-1 in time order
  data = jax.tree.map(lambda x: np.asarray(x)[:size], buffer.data)
  t, end = data["obs"][..., 0].astype(int), data["obs"][..., 1].astype(int)
  td = int(sampling.td)
  real_rest = end - t - 1 + td
  running = data["traj_id"] == data["traj_id"][-1]
  law = sampling.value.offset_discount
  weights = np.zeros(real_rest.max() + 1)
  for (row, env), r in np.ndenumerate(real_rest):
    if r < 1:
      continue
    if not running[row, env]:
      weights[r] += 1.0
      continue
    pmf = truncated_geometric_pmf(law, episode_length - 1 - data["steps"][row, env] + td)
    weights[r] += pmf[: size - 1 - row + td].sum()  # k <= rows stored ahead (+1 with td)
  return weights


# ---------------------------------------------------------------------------
# The goal mix, rewards and actor goals
# ---------------------------------------------------------------------------


def test_goal_mix_matches_its_configuration_and_rewards_follow_the_env_rule():
  traj_ids = random_traj_ids(np.random.default_rng(5), 40, 4, max_len=8)
  buffer = fill(make_stream(traj_ids), 32, [20, 20])
  sampling = GoalSampling(GoalMix(p_commanded=0.2, p_future=0.5, p_random=0.3), td=True)
  n = 30_000
  batch, info = draw(buffer, sampling, n, episode_length=8, seed=6)
  source = info["source"]
  counts = np.bincount(source, minlength=3)
  assert stats.chisquare(counts, n * np.array([0.2, 0.5, 0.3])).pvalue > 1e-3

  state, goal = batch["state"][:, 0], batch["goal"][:, 0]
  np.testing.assert_allclose(goal[source == 0], state[source == 0] + 0.25)  # commanded
  _, _, marker = decode(goal[source == 2])
  assert np.all(marker == 0.0)  # random goals are states of stored rows
  random_step, _, _ = decode(goal[source == 2])
  assert random_step.min() >= 40 - 32 and random_step.max() < 40
  assert np.all(decode(goal[source == 1])[0] > decode(state[source == 1])[0])  # future ones later

  # rewards: the env's own success rule (|achieved - goal| < 0.2) at the stored next state
  expected = (np.abs(batch["next_state"][:, 0] - goal) < ENV.goal_threshold).astype(np.float32)
  np.testing.assert_array_equal(batch["reward"], expected)
  np.testing.assert_array_equal(batch["reward"][source == 1], (info["k"][source == 1] == 1) * 1.0)
  assert np.all(batch["reward"][source == 0] == 0.0)


def test_commanded_goals_come_from_uniform_rows():
  capacity, num_envs = 8, 3
  stream = make_stream(random_traj_ids(np.random.default_rng(2), 13, num_envs, 3))
  buffer = fill(stream, capacity, [4, 4, 5])
  commanded = GoalSampling(GoalMix(p_commanded=1.0, p_future=0.0), td=True)
  batch, _ = draw(buffer, commanded, 12_000, 3)
  step, env, _ = decode(batch["state"][:, 0])
  counts = np.bincount((step - 5) * num_envs + env, minlength=capacity * num_envs)
  assert len(counts) == capacity * num_envs and stats.chisquare(counts).pvalue > 1e-3


def test_actor_goals_follow_their_own_mix():
  """The actor's goals are drawn for the same transitions from their own mix, independently of
  the critic's: commanded, hindsight goals of the same trajectory with the actor's law, random
  stored states; the batch carries both goals' offsets."""
  num_envs, episode_length = 2, 20
  traj_ids = np.repeat(np.arange(4), episode_length)  # complete time-limit episodes
  buffer = fill(make_stream(np.tile(traj_ids[:, None], (1, num_envs))), 64, [40, 40])
  actor = GoalMix(p_commanded=0.2, p_future=0.5, p_random=0.3, future="uniform")
  sampling = GoalSampling(GoalMix(discount=0.85), actor=actor, td=True, offsets=True)
  n = 40_000
  batch, info = draw(buffer, sampling, n, episode_length, seed=13)
  source, k, actor_k = info["actor_source"], info["k"], info["actor_k"]
  assert (
    stats.chisquare(np.bincount(source, minlength=3), n * np.array([0.2, 0.5, 0.3])).pvalue > 1e-3
  )
  assert np.all(info["source"] == 1) and info["found"].all()
  np.testing.assert_array_equal(batch["goal_offset"], k)
  np.testing.assert_array_equal(batch["actor_goal_offset"], actor_k)

  now_step, now_env, _ = decode(batch["state"][:, 0])
  goal_step, goal_env, _ = decode(batch["actor_goal"][:, 0])
  hindsight = source == 1
  np.testing.assert_allclose(
    batch["actor_goal"][source == 0, 0], batch["state"][source == 0, 0] + 0.25
  )
  np.testing.assert_array_equal(goal_env[hindsight], now_env[hindsight])  # same trajectory
  np.testing.assert_array_equal((goal_step - now_step)[hindsight], actor_k[hindsight])
  assert np.all(actor_k[~hindsight] == 0)
  steps = now_step % episode_length
  for s in (0, 7):  # actor: uniform over the rest; critic: geometric, independently drawn
    rest = episode_length - s  # states after step s, the last one as next_state
    at_s = hindsight & (steps == s)
    assert pooled_chisquare_pvalue(actor_k[at_s], truncated_geometric_pmf(1.0, rest)) > 1e-3
    assert pooled_chisquare_pvalue(k[steps == s], truncated_geometric_pmf(0.85, rest)) > 1e-3
    assert stats.chi2_contingency(np.histogram2d(k[at_s], actor_k[at_s], bins=3)[0]).pvalue > 1e-3
  random_step, _, marker = decode(batch["actor_goal"][source == 2, 0])
  assert np.all(marker == 0.0) and random_step.min() >= 80 - 64 and len(random_step) > 0
  plain = draw(buffer, GoalSampling(), 8, episode_length)[0]
  assert "actor_goal" not in plain and "goal_offset" not in plain


def test_a_transition_comes_with_every_future_its_goals_need():
  """In a running episode (30 of its 200 steps stored) a transition whose critic and actor both
  take hindsight goals is kept only when both goals are stored: P(t) ∝ F_t², F_t the chance
  one offset drawn at t is stored; keeping it when the critic's alone is (∝ F_t) is rejected."""
  discount, stored, episode_length = 0.9, 30, 200
  buffer = fill(make_stream(np.zeros((stored, 3), np.int32)), 64, [stored])
  mix = GoalMix(discount=discount)
  batch, info = draw(buffer, GoalSampling(mix, actor=mix), 40_000, episode_length, seed=14)
  assert info["found"].mean() > 0.99  # (1 - mean F_t²)^8 of them fall back
  t = decode(batch["state"][:, 0])[0][info["found"]]
  assert np.all(t + info["k"][info["found"]] <= stored - 1)
  assert np.all(t + info["actor_k"][info["found"]] <= stored - 1)
  stored_chance = np.array(
    [
      truncated_geometric_pmf(discount, episode_length - 1 - t)[: stored - 1 - t].sum()
      for t in range(stored)
    ]
  )
  counts = np.bincount(t, minlength=stored)[: stored - 1]  # the newest row has no stored future
  both, one = stored_chance[:-1] ** 2, stored_chance[:-1]
  assert stats.chisquare(counts, both / both.sum() * counts.sum()).pvalue > 1e-3
  assert stats.chisquare(counts, one / one.sum() * counts.sum()).pvalue < 1e-6


def test_flags_are_expressed_through_the_mixes():
  """--actor_p_random gives CRL's actor its own mix; --use_her and --her_* give SAC's and
  TD3's critic (and actor) goals the HER mix; without them, commanded goals."""
  crl = CRLConfig(discounting=0.95, actor_p_random=0.25).goal_sampling()
  assert crl.value == GoalMix(p_future=1.0, future="geometric", discount=0.95)
  assert crl.actor == GoalMix(p_future=0.75, p_random=0.25, future="geometric", discount=0.95)
  assert CRLConfig().goal_sampling().actor is None and not crl.td
  her = SACConfig(
    use_her=True, her_p_future=0.5, her_p_random=0.3, her_future="geometric", discounting=0.9
  ).goal_sampling()
  assert her.actor is None and her.td and her.hindsight
  mix = her.value
  assert (mix.p_commanded, mix.p_future, mix.p_random) == pytest.approx((0.2, 0.5, 0.3))
  assert (mix.future, mix.discount) == ("geometric", 0.9)
  assert SACConfig(use_her=True).goal_sampling().value.future == "uniform"
  assert SACConfig().goal_sampling().value.p_commanded == 1.0
  assert not SACConfig().goal_sampling().hindsight


def test_vmapped_sampler_matches_one_buffer_at_a_time():
  streams = [make_stream(random_traj_ids(np.random.default_rng(s), 24, 2, 5)) for s in (8, 9)]
  buffers = [fill(stream, 16, [12, 12]) for stream in streams]
  stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *buffers)
  sampling = GoalSampling(GoalMix(p_commanded=0.3, p_future=0.7), td=True)
  sample = make_sampler(ENV, sampling, 64, 5)
  keys = jax.random.split(jax.random.key(10), 2)
  batched, _ = jax.jit(jax.vmap(sample))(stacked, keys)
  for i, buffer in enumerate(buffers):
    single, _ = jax.jit(sample)(buffer, keys[i])
    jax.tree.map(np.testing.assert_array_equal, jax.tree.map(lambda x: x[i], batched), single)


# ---------------------------------------------------------------------------
# The truncated geometric law
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("discount, num_steps", [(0.9, 1), (0.5, 7), (0.97, 60), (0.999, 1000)])
def test_truncated_geometric_sampler_matches_law(discount, num_steps):
  n = 20_000
  k = np.asarray(jit_truncated_geometric(jax.random.key(4), jnp.full((n,), num_steps), discount))
  assert k.min() >= 1 and k.max() <= num_steps
  if num_steps == 1:
    assert np.all(k == 1)
    return
  pmf = truncated_geometric_pmf(discount, num_steps)
  assert pooled_chisquare_pvalue(k, pmf) > 1e-3
  assert abs(mean_z_score(k, pmf)) < 5


def test_unit_discount_gives_uniform_offsets():
  num_steps = jnp.array([1, 2, 5, 9] * 2500)
  k = np.asarray(jit_truncated_geometric(jax.random.key(6), num_steps, jnp.float32(1.0)))
  for length in [1, 2, 5, 9]:
    drawn = k[np.asarray(num_steps) == length]
    assert set(np.unique(drawn)) == set(range(1, length + 1))
    if length > 1:
      assert stats.chisquare(np.bincount(drawn - 1)).pvalue > 1e-3


def test_zero_discount_always_picks_next_step():
  k = np.asarray(jit_truncated_geometric(jax.random.key(7), jnp.array([0, 1, 3, 50] * 100), 0.0))
  np.testing.assert_array_equal(k, np.array([0, 1, 1, 1] * 100))
