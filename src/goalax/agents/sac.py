"""Soft actor-critic (SAC) for goals, with optional hindsight relabelling (SAC+HER).

References: Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications";
Andrychowicz et al. 2017, "Hindsight Experience Replay".

The algorithm, in one screen
----------------------------
Observations are ``obs = concat(state, goal)``; a batch holds ``(s, a, s', g, r, terminated)``
with the goal ``g`` from the goal sampler (commanded, or with ``--use_her`` mostly a later state of
the same trajectory) and ``r`` the env's reward for reaching ``s'`` with ``g``.

1. **Critics**: twin ``Q_1, Q_2`` on ``concat(obs, a)`` regress onto
   ``y = r + γ (1 − terminated) (min_i Q̄_i(s', a') − α log π(a' | s'))`` with ``a' ~ π(s')`` and
   ``Q̄`` the Polyak-averaged targets. A time-limit end is not a termination, so ``y``
   bootstraps through it from the true last state ``s'``.
2. **Actor**: minimise ``mean(α log π(a | s) − min_i Q_i(s, a))``, ``a ~ π(s)`` reparameterised.
3. **Temperature**: SAC's ``−log α · (log π + target_entropy)`` (``--autotune``), else fixed.
4. **Targets**: ``Q̄ <- (1 − tau) Q̄ + tau Q``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import (
  ActorCriticParams,
  Array,
  Batch,
  GoalSampling,
  MaxEntActorConfig,
  Metrics,
  NetworkConfig,
  Params,
  TDConfig,
)
from goalax.agents.common import (
  check_network_config,
  tanh_gaussian_policy,
  target_critic_update,
  target_entropy_for,
)
from goalax.errors import require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig


@dataclasses.dataclass(frozen=True)
class SACConfig(NetworkConfig, OffPolicyConfig, TDConfig, MaxEntActorConfig):
  """Soft actor-critic (SAC); with --use_her, SAC+HER."""

  SWEEPABLE = ("critic_lr", "actor_lr", "alpha_lr", "discounting", "tau", "target_entropy")

  autotune: bool = True
  """Learn the temperature alpha toward --target_entropy; off: alpha stays exp(initial_log_alpha)."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    self.validate_td()
    require_positive(self, "alpha_lr")


@flax.struct.dataclass
class SACState:
  """Everything SAC learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.TanhGaussianActor`."""
  critic_params: Params
  """Variables of :class:`goalax.networks.QEnsemble` (twin critics, leading axis 2)."""
  target_critic_params: Params
  """Polyak average of ``critic_params``."""
  log_alpha: Array
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState
  alpha_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class SAC(ActorCriticParams):
  """A SAC agent as a bundle of pure functions (built by :func:`make_sac`); see
  :class:`goalax.agents.base.Agent`. ``q_values(critic_params, obs, action) -> [2, ...]``."""

  config: SACConfig
  sampling: GoalSampling
  target_entropy: float
  init: Callable[[Array], SACState]
  update: Callable[[SACState, Batch, Array], tuple[SACState, Metrics]]
  act: Callable[..., Array]
  q_values: Callable[..., Array]
  headline_metrics: tuple[str, ...] = ("critic_loss", "q", "alpha")


def make_sac(config: SACConfig, state_size: int, goal_size: int, action_size: int) -> SAC:
  """Build SAC's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  target_entropy = target_entropy_for(config.target_entropy, action_size)
  gamma = config.discounting
  actor = networks.TanhGaussianActor(
    action_dim=action_size, **config.actor_bounds(), **config.trunk()
  )
  act = tanh_gaussian_policy(actor.apply, obs_size)
  critic = networks.QEnsemble(num_critics=2, **config.trunk())
  actor_tx = optax.adam(config.actor_lr)
  critic_tx = optax.adam(config.critic_lr)
  alpha_tx = optax.adam(config.alpha_lr)

  def init(key: Array) -> SACState:
    actor_key, critic_key = jax.random.split(key)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    critic_params = critic.init(critic_key, jnp.zeros((1, obs_size)), jnp.zeros((1, action_size)))
    log_alpha = jnp.asarray(config.initial_log_alpha, jnp.float32)
    return SACState(
      actor_params=actor_params,
      critic_params=critic_params,
      target_critic_params=critic_params,
      log_alpha=log_alpha,
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
      alpha_opt_state=alpha_tx.init(log_alpha),
    )

  def observations(batch: Batch) -> tuple[Array, Array]:
    """``(obs [B, S+G], next_obs [B, S+G])`` with the batch's goal."""
    goal = batch["goal"]
    obs = jnp.concatenate([batch["state"], goal], axis=-1)
    return obs, jnp.concatenate([batch["next_state"], goal], axis=-1)

  def critic_loss(critic_params, sac_state: SACState, batch: Batch, key: Array):
    obs, next_obs = observations(batch)
    next_action, next_log_prob = networks.sample_action(
      sac_state.actor_params, actor.apply, next_obs, key
    )
    next_q = critic.apply(sac_state.target_critic_params, next_obs, next_action).min(axis=0)
    alpha = jnp.exp(sac_state.log_alpha)
    next_v = next_q - alpha * next_log_prob
    target = batch["reward"] + gamma * (1.0 - batch["terminated"]) * next_v
    q = critic.apply(critic_params, obs, batch["action"])  # [2, B]
    loss = 0.5 * jnp.mean(jnp.sum(jnp.square(q - jax.lax.stop_gradient(target)), axis=0))
    return loss, {"critic_loss": loss, "q": jnp.mean(q), "target_q": jnp.mean(target)}

  def actor_loss(actor_params, critic_params, log_alpha, batch: Batch, key: Array):
    obs, _ = observations(batch)
    action, log_prob = networks.sample_action(actor_params, actor.apply, obs, key)
    q = critic.apply(critic_params, obs, action).min(axis=0)
    alpha = jnp.exp(jax.lax.stop_gradient(log_alpha))
    return jnp.mean(alpha * log_prob - q), log_prob

  def update(sac_state: SACState, batch: Batch, key: Array) -> tuple[SACState, Metrics]:
    """The critic step, the actor step against the updated critic, the temperature (if
    ``autotune``), then the target critic's Polyak step."""
    txs = (critic_tx, actor_tx, alpha_tx)
    new_state, metrics = target_critic_update(
      sac_state,
      batch,
      key,
      critic_loss,
      actor_loss,
      txs,
      target_entropy,
      config.tau,
      config.autotune,
    )
    return new_state, {**metrics, "reward": jnp.mean(batch["reward"])}

  def q_values(critic_params: Params, obs: Array, action: Array) -> Array:
    """``obs [..., S+G], action [..., A] -> [2, ...]``: both critics."""
    return critic.apply(critic_params, obs, action)

  return SAC(
    config=config,
    sampling=config.goal_sampling(),
    target_entropy=target_entropy,
    init=init,
    update=update,
    act=act,
    q_values=q_values,
  )
