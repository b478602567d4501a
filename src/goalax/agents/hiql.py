"""Hierarchical implicit Q-learning (HIQL): GCIVL's value, and a policy in two levels that both
learn by AWR from it, online or offline.

Reference: Park et al. 2023, "HIQL: Offline Goal-Conditioned RL with Latent States as Actions"
(NeurIPS); OGBench's ``impls/agents/hiql.py`` and its ``HGCDataset``.

The algorithm, in one screen
----------------------------
A batch holds ``(s, a, s')`` with a value goal ``g`` (GCIVL's mix), an actor goal ``g_h``
(hindsight, uniform over the rest of the episode) and two subgoals from the goal sampler
(``GoalSampling.subgoal_steps = K``): ``w`` at ``min(t + K, last)`` of the same trajectory and
``w_h`` at ``min(t + K, t + k)`` toward ``g_h`` (k steps ahead). Rewards and masks follow
goalax's success rule (:mod:`goalax.agents.implicit_value`).

1. **Value** ``V(s, ϕ([s, g]))``: GCIVL's expectile loss (two heads, Polyak target), where
   ``ϕ([s, g])`` is a goal representation of width ``rep_dim``, length-normalised to
   ``√rep_dim``, trained by the value alone.
2. **Low-level actor** ``π_l(a | s, ϕ([s, w]))``: AWR (``low_alpha``) with advantage
   ``r_w + γ m_w V(s', w) − V(s, w)`` (``r_w, m_w`` of the subgoal's success at ``s'``); ϕ
   enters without gradient.
3. **High-level actor** ``π_h(z | s, g_h)``, a Gaussian over representations: AWR
   (``high_alpha``) toward ``z = ϕ([s, w_h])`` with advantage ``U(w_h, g_h) − U(s, g_h)``, ``U``
   the value of being at a state (0 at the goal, else ``−1 + γ V``,
   :func:`goalax.agents.implicit_value.value_at`; ``s`` taken as not at ``g_h``).

OGBench's advantages are ``V(s', w) − V(s, w)`` and ``V(w_h, g_h) − V(s, g_h)``: the same under
its reward timing (success at the current state); goalax's success is at the next state, where a
goal one step away is worth what the goal itself is, so the success of the step (or of the
subgoal state) enters as above (:func:`goalax.agents.implicit_value.one_step_advantage`).
4. **Target**: ``V̄ <- (1 − tau) V̄ + tau V``.

Acting: ``z`` from ``π_h(s, g)`` (its mean, or a sample), length-normalised, then ``a`` from
``π_l(s, z)`` (``clip(μ)``, or a clipped sample). Both actors are Gaussians with learned σ; the
low level's is scored by the clipped-Gaussian likelihood of the stored action (GCSL's), the high
level's by the Gaussian density of ``z`` (OGBench: σ = 1 fixed for both).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import ActorCriticParams, Array, Batch, Metrics, NetworkConfig, Params
from goalax.agents.common import check_network_config, check_obs_size
from goalax.agents.gcsl import clipped_gaussian_log_prob
from goalax.agents.implicit_value import (
  ImplicitValueConfig,
  ivl_value_loss,
  one_step_advantage,
  reward_and_mask,
  validate_expectile_and_std,
  value_and_actor_step,
  value_at,
  value_ensemble,
  value_of,
)
from goalax.agents.offline_actor import awr_loss, sample_clipped
from goalax.errors import require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig
from goalax.replay.goals import GoalSampling


@dataclasses.dataclass(frozen=True)
class HIQLConfig(NetworkConfig, OffPolicyConfig, ImplicitValueConfig):
  """Hierarchical implicit Q-learning (HIQL). Defaults follow OGBench's hiql.py, except the
  networks and the replay schedule (goalax's)."""

  SWEEPABLE = ()

  expectile: float = 0.7
  """Expectile τ of the value regression (OGBench's HIQL: 0.7)."""
  low_alpha: float = 3.0
  """AWR inverse temperature of the low-level actor."""
  high_alpha: float = 3.0
  """AWR inverse temperature of the high-level actor."""
  subgoal_steps: int = 25
  """K: the low-level actor's goal is the state K steps ahead in the same trajectory (clipped at
  the episode's end), the high-level actor proposes its representation."""
  rep_dim: int = 10
  """Width of the goal representation ϕ([s, g]) (the high-level actor's action)."""
  log_std_min: float = networks.LOG_STD_MIN
  """Lower soft bound of both actors' log-std."""
  log_std_max: float = networks.LOG_STD_MAX
  """Upper soft bound of both actors' log-std."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    self.validate_value()
    validate_expectile_and_std(self)
    require_positive(self, "low_alpha", "high_alpha", "subgoal_steps", "rep_dim")

  def goal_sampling(self) -> GoalSampling:
    """GCIVL's value and actor mixes, and subgoals ``subgoal_steps`` ahead."""
    sampling = ImplicitValueConfig.goal_sampling(self)
    return dataclasses.replace(sampling, subgoal_steps=self.subgoal_steps)


@flax.struct.dataclass
class HIQLState:
  """Everything HIQL learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """``{"high": π_h, "low": π_l}``, each :class:`goalax.networks.GaussianActor` variables."""
  critic_params: Params
  """``{"goal_rep": ϕ, "value": two heads}``."""
  target_critic_params: Params
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class HIQL(ActorCriticParams):
  """A HIQL agent as a bundle of pure functions (built by :func:`make_hiql`); see
  :class:`goalax.agents.base.OffPolicyAgent`. ``value(critic_params, state, goal) -> [2, ...]``
  (``V(s, ϕ([s, g]))``); ``goal_rep(critic_params, state, goal) -> [..., rep_dim]``;
  ``subgoal_rep(actor_params, obs, key, deterministic) -> [..., rep_dim]``: the high level's
  proposal, length-normalised."""

  config: HIQLConfig
  sampling: GoalSampling
  init: Callable[[Array], HIQLState]
  update: Callable[[HIQLState, Batch, Array], tuple[HIQLState, Metrics]]
  act: Callable[..., Array]
  value: Callable[..., Array]
  goal_rep: Callable[..., Array]
  subgoal_rep: Callable[..., Array]
  headline_metrics: tuple[str, ...] = ("value_loss", "v_mean", "low_actor_loss")


def length_normalize(z: Array) -> Array:
  """``z [..., R] -> z / |z| · √R`` (OGBench's LengthNormalize)."""
  return z / jnp.linalg.norm(z, axis=-1, keepdims=True) * math.sqrt(z.shape[-1])


def make_hiql(config: HIQLConfig, state_size: int, goal_size: int, action_size: int) -> HIQL:
  """Build HIQL's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size, rep_dim = state_size + goal_size, config.rep_dim
  trunk, bounds = (
    config.trunk(),
    dict(log_std_min=config.log_std_min, log_std_max=config.log_std_max),
  )
  rep_net = networks.MLP(output_dim=rep_dim, **trunk)
  heads = value_ensemble(config)
  low_actor = networks.GaussianActor(action_dim=action_size, **bounds, **trunk)
  high_actor = networks.GaussianActor(action_dim=rep_dim, **bounds, **trunk)
  actor_tx, critic_tx = optax.adam(config.actor_lr), optax.adam(config.value_lr)

  def goal_rep(critic_params: Params, state: Array, goal: Array) -> Array:
    rep = rep_net.apply(critic_params["goal_rep"], jnp.concatenate([state, goal], axis=-1))
    return length_normalize(rep)

  def value(critic_params: Params, state: Array, goal: Array) -> Array:
    return value_of(heads, critic_params["value"], state, goal_rep(critic_params, state, goal))

  def init(key: Array) -> HIQLState:
    k_rep, k_value, k_low, k_high = jax.random.split(key, 4)
    critic_params = {
      "goal_rep": rep_net.init(k_rep, jnp.zeros((1, obs_size))),
      "value": heads.init(k_value, jnp.zeros((1, state_size + rep_dim)), jnp.zeros((1, 0))),
    }
    actor_params = {
      "high": high_actor.init(k_high, jnp.zeros((1, obs_size))),
      "low": low_actor.init(k_low, jnp.zeros((1, state_size + rep_dim))),
    }
    return HIQLState(
      actor_params=actor_params,
      critic_params=critic_params,
      target_critic_params=critic_params,
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
    )

  def value_loss(critic_params: Params, target_params: Params, batch: Batch):
    reward, mask = reward_and_mask(batch)
    state, next_state, goal = batch["state"], batch["next_state"], batch["goal"]
    return ivl_value_loss(
      value(critic_params, state, goal),
      value(target_params, state, goal),
      value(target_params, next_state, goal),
      reward,
      mask,
      config.discounting,
      config.expectile,
    )

  def mean_value(critic_params: Params, state: Array, goal: Array) -> Array:
    return jnp.mean(value(critic_params, state, goal), axis=0)  # both heads' mean, [B]

  def actor_loss(actor_params: Params, critic_params: Params, batch: Batch):
    """The low-level and the high-level AWR losses, summed, and their metrics."""
    critic_params = jax.lax.stop_gradient(critic_params)
    state, subgoal = batch["state"], batch["subgoal"]
    v, next_v = (mean_value(critic_params, x, subgoal) for x in (state, batch["next_state"]))
    low_adv = one_step_advantage(batch, "subgoal_reward", v, next_v, config.discounting)
    low_in = jnp.concatenate([state, goal_rep(critic_params, state, subgoal)], axis=-1)
    mean, log_std = low_actor.apply(actor_params["low"], low_in)
    low_log_prob = clipped_gaussian_log_prob(batch["action"], mean, log_std)
    low_loss, low_metrics = awr_loss(low_log_prob, low_adv, config.low_alpha)

    high_goal, high_target = batch["actor_goal"], batch["actor_subgoal"]
    reached = mean_value(critic_params, batch["actor_subgoal_state"], high_goal)
    at_subgoal = value_at(reached, batch["actor_subgoal_reward"], config.discounting)
    at_state = value_at(mean_value(critic_params, state, high_goal), 0.0, config.discounting)
    high_adv = at_subgoal - at_state
    target_rep = goal_rep(critic_params, state, high_target)
    z_mean, z_log_std = high_actor.apply(
      actor_params["high"], jnp.concatenate([state, high_goal], axis=-1)
    )
    high_log_prob = jnp.sum(networks.gaussian_log_density(target_rep, z_mean, z_log_std), -1)
    high_loss, high_metrics = awr_loss(high_log_prob, high_adv, config.high_alpha)
    metrics = {
      **{f"low_{name}": v for name, v in low_metrics.items()},
      **{f"high_{name}": v for name, v in high_metrics.items()},
      "low_std": jnp.mean(jnp.exp(log_std)),
      "high_mse": jnp.mean(jnp.sum(jnp.square(z_mean - target_rep), -1)),
    }
    return low_loss + high_loss, metrics

  def update(agent_state: HIQLState, batch: Batch, key: Array):
    """The value step, the actor step on the value before it, the target's Polyak step."""
    del key  # the losses are deterministic given the batch
    return value_and_actor_step(
      agent_state, batch, value_loss, actor_loss, critic_tx, actor_tx, config.tau
    )

  def subgoal_rep(actor_params: Params, obs: Array, key: Array, deterministic: bool | Array):
    """``obs [..., S+G] -> z [..., rep_dim]``: π_h's mean or sample, length-normalised."""
    z_mean, z_log_std = high_actor.apply(actor_params["high"], obs)
    z = z_mean
    if not (isinstance(deterministic, bool) and deterministic):
      sample = z_mean + jnp.exp(z_log_std) * jax.random.normal(key, z_mean.shape, z_mean.dtype)
      z = jnp.where(deterministic, z_mean, sample)
    return length_normalize(z)

  def act(actor_params: Params, obs: Array, key: Array, deterministic: bool | Array = False):
    """``obs [..., S+G] -> action [..., A]``: the high level proposes ``z``, the low level acts
    on ``concat(state, z)``; means when deterministic (the key may then be None), else samples."""
    check_obs_size(obs, obs_size)
    high_key, low_key = (None, None) if key is None else jax.random.split(key)
    z = subgoal_rep(actor_params, obs, high_key, deterministic)
    low_in = jnp.concatenate([obs[..., :state_size], z], axis=-1)
    return sample_clipped(low_actor.apply(actor_params["low"], low_in), low_key, deterministic)

  return HIQL(
    config=config,
    sampling=config.goal_sampling(),
    init=init,
    update=update,
    act=act,
    value=value,
    goal_rep=goal_rep,
    subgoal_rep=subgoal_rep,
  )
