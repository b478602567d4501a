"""Goal-conditioned implicit Q-learning (GCIQL): OGBench's goal-conditioned IQL, online or offline.

Reference: Park et al. 2024, "OGBench: Benchmarking Offline Goal-Conditioned RL"
(``impls/agents/gciql.py``); Kostrikov et al. 2022, "Offline RL with Implicit Q-Learning".

The algorithm, in one screen
----------------------------
Batches, goals, rewards and masks as GCIVL's (:mod:`goalax.agents.gcivl`,
:mod:`goalax.agents.implicit_value`): value goal ``g``, actor goal ``g_a``, ``r = success − 1``,
``mask = (1 − success)(1 − terminated)``.

1. **Value** ``V(s, g)`` (one head): expectile regression (τ = ``expectile``) onto the target
   critics' ``min_i Q̄_i(s, a, g)`` at the stored action: ``mean(expectile_loss(q − v, q − v))``.
2. **Critic** (twin ``Q_i``, Polyak targets ``Q̄_i``): ``Σ_i mean((Q_i(s, a, g) − y)²)``,
   ``y = r + γ m V(s', g)``: the value, not a max over actions, so nothing is evaluated at an
   action the data never took.
3. **Actor**, ``--actor_loss`` (:mod:`goalax.agents.offline_actor`): ``ddpgbc`` (OGBench's
   default), ``−min_i Q_i(s, clip(μ), g_a)`` normalised by its mean magnitude, minus ``alpha`` ×
   the likelihood of the stored action; or ``awr``, the likelihood weighted by
   ``min(exp(alpha · A), 100)``, ``A = min_i Q_i(s, a, g_a) − V(s, g_a)``. The critics and value
   are those before this step's update (OGBench's one joint step).
4. **Targets**: ``Q̄ <- (1 − tau) Q̄ + tau Q``.

The policy is GCIVL's: a Gaussian with a learned σ on the action, clipped to [−1, 1]; DDPG+BC
evaluates the critic at ``clip(μ)`` (OGBench's mode, with its σ fixed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

import flax
import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import ActorCriticParams, Array, Batch, Metrics, NetworkConfig, Params
from goalax.agents.common import check_network_config
from goalax.agents.gcsl import clipped_gaussian_log_prob
from goalax.agents.implicit_value import (
  ImplicitValueConfig,
  expectile_loss,
  reward_and_mask,
  validate_expectile_and_std,
  value_and_actor_step,
  value_ensemble,
  value_of,
)
from goalax.agents.offline_actor import awr_loss, ddpgbc_loss, gaussian_policy
from goalax.errors import ConfigError, require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig
from goalax.replay.goals import GoalSampling


@dataclasses.dataclass(frozen=True)
class GCIQLConfig(NetworkConfig, OffPolicyConfig, ImplicitValueConfig):
  """Goal-conditioned implicit Q-learning (GCIQL). Defaults follow OGBench's gciql.py, except the
  networks and the replay schedule (goalax's)."""

  SWEEPABLE = ()

  expectile: float = 0.9
  """Expectile τ of the value's regression onto Q (OGBench's GCIQL: 0.9)."""
  actor_loss: Literal["ddpgbc", "awr"] = "ddpgbc"
  """Actor loss: ddpgbc (DDPG with behaviour cloning, OGBench's default) or awr
  (advantage-weighted regression)."""
  alpha: float = 0.3
  """The actor loss's coefficient: the behaviour-cloning weight of ddpgbc (OGBench's GCIQL: 0.3),
  or the inverse temperature of awr (set it, e.g. 3 to 10, with --actor_loss awr)."""
  log_std_min: float = networks.LOG_STD_MIN
  """Lower soft bound of the policy's log-std."""
  log_std_max: float = networks.LOG_STD_MAX
  """Upper soft bound of the policy's log-std."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    self.validate_value()
    validate_expectile_and_std(self)
    require_positive(self, "alpha")
    if self.actor_loss not in ("ddpgbc", "awr"):
      raise ConfigError(f"--actor_loss must be 'ddpgbc' or 'awr', got {self.actor_loss!r}.")


@flax.struct.dataclass
class GCIQLState:
  """Everything GCIQL learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.GaussianActor`."""
  critic_params: Params
  """``{"value": one head, "q": twin Q networks}`` (leading axes 1 and 2)."""
  target_critic_params: Params
  """The Polyak target of ``critic_params["q"]``."""
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class GCIQL(ActorCriticParams):
  """A GCIQL agent as a bundle of pure functions (built by :func:`make_gciql`); see
  :class:`goalax.agents.base.OffPolicyAgent`. ``value(critic_params, state, goal) -> [...]``,
  ``q_values(q_params, state, goal, action) -> [2, ...]``."""

  config: GCIQLConfig
  sampling: GoalSampling
  init: Callable[[Array], GCIQLState]
  update: Callable[[GCIQLState, Batch, Array], tuple[GCIQLState, Metrics]]
  act: Callable[..., Array]
  value: Callable[..., Array]
  q_values: Callable[..., Array]
  distribution: Callable[..., tuple[Array, Array]]
  headline_metrics: tuple[str, ...] = ("value_loss", "critic_loss", "v_mean")


def make_gciql(config: GCIQLConfig, state_size: int, goal_size: int, action_size: int) -> GCIQL:
  """Build GCIQL's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  v_net, q_net = value_ensemble(config, num_heads=1), value_ensemble(config, num_heads=2)
  actor = networks.GaussianActor(
    action_dim=action_size,
    log_std_min=config.log_std_min,
    log_std_max=config.log_std_max,
    **config.trunk(),
  )
  actor_tx, critic_tx = optax.adam(config.actor_lr), optax.adam(config.value_lr)

  def value(critic_params: Params, state: Array, goal: Array) -> Array:
    return value_of(v_net, critic_params["value"], state, goal)[0]

  def q_values(q_params: Params, state: Array, goal: Array, action: Array) -> Array:
    return value_of(q_net, q_params, state, goal, action)

  def init(key: Array) -> GCIQLState:
    actor_key, v_key, q_key = jax.random.split(key, 3)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    empty = jnp.zeros((1, 0))
    critic_params = {
      "value": v_net.init(v_key, jnp.zeros((1, obs_size)), empty),
      "q": q_net.init(q_key, jnp.zeros((1, obs_size + action_size)), empty),
    }
    return GCIQLState(
      actor_params=actor_params,
      critic_params=critic_params,
      target_critic_params=critic_params["q"],
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
    )

  def critic_loss(critic_params: Params, target_q_params: Params, batch: Batch):
    """The value's expectile loss plus the critics' TD loss (their gradients do not mix)."""
    state, goal, action = batch["state"], batch["goal"], batch["action"]
    q_target = jnp.min(q_values(target_q_params, state, goal, action), axis=0)
    v = value(critic_params, state, goal)
    v_loss = jnp.mean(expectile_loss(q_target - v, q_target - v, config.expectile))
    reward, mask = reward_and_mask(batch)
    next_v = jax.lax.stop_gradient(value(critic_params, batch["next_state"], goal))
    y = reward + config.discounting * mask * next_v
    q = q_values(critic_params["q"], state, goal, action)
    q_loss = jnp.sum(jnp.mean(jnp.square(q - y), axis=-1))
    metrics = {"value_loss": v_loss, "critic_loss": q_loss, "v_mean": jnp.mean(v)}
    return v_loss + q_loss, {**metrics, "q_mean": jnp.mean(q), "target_mean": jnp.mean(y)}

  def actor_loss(actor_params: Params, critic_params: Params, batch: Batch):
    state, goal, action = batch["state"], batch["actor_goal"], batch["action"]
    critic_params = jax.lax.stop_gradient(critic_params)
    mean, log_std = actor.apply(actor_params, jnp.concatenate([state, goal], axis=-1))
    log_prob = clipped_gaussian_log_prob(action, mean, log_std)
    if config.actor_loss == "awr":
      q = jnp.min(q_values(critic_params["q"], state, goal, action), axis=0)
      loss, metrics = awr_loss(log_prob, q - value(critic_params, state, goal), config.alpha)
    else:
      q = jnp.min(q_values(critic_params["q"], state, goal, jnp.clip(mean, -1.0, 1.0)), axis=0)
      loss, metrics = ddpgbc_loss(q, log_prob, config.alpha)
    return loss, {**metrics, "std": jnp.mean(jnp.exp(log_std))}

  def update(agent_state: GCIQLState, batch: Batch, key: Array):
    """The value and critic step, the actor step on the critics before it, the Q targets."""
    del key  # the losses are deterministic given the batch
    return value_and_actor_step(
      agent_state,
      batch,
      critic_loss,
      actor_loss,
      critic_tx,
      actor_tx,
      config.tau,
      targeted=lambda critic_params: critic_params["q"],
    )

  return GCIQL(
    config=config,
    sampling=config.goal_sampling(),
    init=init,
    update=update,
    act=gaussian_policy(actor.apply, obs_size),
    value=value,
    q_values=q_values,
    distribution=actor.apply,
  )
