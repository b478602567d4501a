"""Goal-conditioned implicit V-learning (GCIVL): OGBench's value-only IQL, online or offline.

Reference: Park et al. 2024, "OGBench: Benchmarking Offline Goal-Conditioned RL"
(``impls/agents/gcivl.py``); Kostrikov et al. 2022, "Offline RL with Implicit Q-Learning".

The algorithm, in one screen
----------------------------
A batch holds transitions ``(s, a, s')`` with a value goal ``g`` (mix of commanded, hindsight and
random goals) and an actor goal ``g_a`` (hindsight goals, uniform over the rest of the episode).
Rewards and masks follow goalax's success rule (:mod:`goalax.agents.implicit_value`): ``r =
success − 1``, ``mask = (1 − success)(1 − terminated)``, success = the env's rule at ``s'``.

1. **Value** (two heads, a Polyak target ``V̄``): "IQL without Q": each head regresses onto
   ``r + γ m V̄_i(s', g)`` by the expectile loss (τ = ``expectile``), the side chosen by the
   target's advantage ``r + γ m min_i V̄_i(s', g) − mean_i V̄_i(s, g)``
   (:func:`goalax.agents.implicit_value.ivl_value_loss`). With τ > 0.5 the value leans toward the
   best outcomes in the data: an optimistic, in-sample estimate of the optimal value.
2. **Actor** (AWR, :func:`goalax.agents.offline_actor.awr_loss`): the likelihood of the stored
   action weighted by ``min(exp(alpha · A), 100)``, ``A = r_a + γ m_a V(s', g_a) − V(s, g_a)``
   (both heads' mean, the online value before this step's update, no gradient; ``r_a, m_a`` of
   the actor goal's success). OGBench's ``V(s', g_a) − V(s, g_a)`` is this under its reward
   timing (:func:`goalax.agents.implicit_value.one_step_advantage`).
3. **Target**: ``V̄ <- (1 − tau) V̄ + tau V``.

The policy is a Gaussian on the action with a learned σ, its sample clipped to [−1, 1] and scored
by the exact clipped-Gaussian likelihood (GCSL's, :mod:`goalax.agents.gcsl`); OGBench's has σ = 1
fixed. Online it collects with its sample, evaluates with ``clip(μ)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

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
  ivl_value_loss,
  one_step_advantage,
  reward_and_mask,
  validate_expectile_and_std,
  value_and_actor_step,
  value_ensemble,
  value_of,
)
from goalax.agents.offline_actor import awr_loss, gaussian_policy
from goalax.errors import require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig
from goalax.replay.goals import GoalSampling


@dataclasses.dataclass(frozen=True)
class GCIVLConfig(NetworkConfig, OffPolicyConfig, ImplicitValueConfig):
  """Goal-conditioned implicit V-learning (GCIVL). Defaults follow OGBench's gcivl.py, except the
  networks and the replay schedule (goalax's)."""

  SWEEPABLE = ()

  expectile: float = 0.9
  """Expectile τ of the value regression (OGBench's GCIVL: 0.9; 0.5 is a mean, SARSA-like)."""
  alpha: float = 10.0
  """AWR inverse temperature: the actor weights a stored action by min(exp(alpha · A), 100)."""
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


@flax.struct.dataclass
class GCIVLState:
  """Everything GCIVL learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.GaussianActor`."""
  critic_params: Params
  """The value heads (:func:`goalax.agents.implicit_value.value_ensemble`, leading axis 2)."""
  target_critic_params: Params
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class GCIVL(ActorCriticParams):
  """A GCIVL agent as a bundle of pure functions (built by :func:`make_gcivl`); see
  :class:`goalax.agents.base.OffPolicyAgent`. ``value(critic_params, state [..., S], goal
  [..., G]) -> [2, ...]``; ``distribution(actor_params, obs) -> (mean, log_std)``."""

  config: GCIVLConfig
  sampling: GoalSampling
  init: Callable[[Array], GCIVLState]
  update: Callable[[GCIVLState, Batch, Array], tuple[GCIVLState, Metrics]]
  act: Callable[..., Array]
  value: Callable[..., Array]
  distribution: Callable[..., tuple[Array, Array]]
  headline_metrics: tuple[str, ...] = ("value_loss", "v_mean", "actor_loss")


def make_gcivl(config: GCIVLConfig, state_size: int, goal_size: int, action_size: int) -> GCIVL:
  """Build GCIVL's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  critic = value_ensemble(config)
  actor = networks.GaussianActor(
    action_dim=action_size,
    log_std_min=config.log_std_min,
    log_std_max=config.log_std_max,
    **config.trunk(),
  )
  actor_tx, critic_tx = optax.adam(config.actor_lr), optax.adam(config.value_lr)

  def value(critic_params: Params, state: Array, goal: Array) -> Array:
    return value_of(critic, critic_params, state, goal)

  def init(key: Array) -> GCIVLState:
    actor_key, critic_key = jax.random.split(key)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    critic_params = critic.init(critic_key, jnp.zeros((1, obs_size)), jnp.zeros((1, 0)))
    return GCIVLState(
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

  def actor_loss(actor_params: Params, critic_params: Params, batch: Batch):
    state, goal = batch["state"], batch["actor_goal"]
    v = jnp.mean(value(critic_params, state, goal), axis=0)
    next_v = jnp.mean(value(critic_params, batch["next_state"], goal), axis=0)
    advantage = one_step_advantage(batch, "actor_reward", v, next_v, config.discounting)
    mean, log_std = actor.apply(actor_params, jnp.concatenate([state, goal], axis=-1))
    log_prob = clipped_gaussian_log_prob(batch["action"], mean, log_std)
    loss, metrics = awr_loss(log_prob, advantage, config.alpha)
    return loss, {**metrics, "std": jnp.mean(jnp.exp(log_std))}

  def update(agent_state: GCIVLState, batch: Batch, key: Array):
    """The value step, the actor step on the value before it, the target's Polyak step."""
    del key  # the losses are deterministic given the batch
    return value_and_actor_step(
      agent_state, batch, value_loss, actor_loss, critic_tx, actor_tx, config.tau
    )

  return GCIVL(
    config=config,
    sampling=config.goal_sampling(),
    init=init,
    update=update,
    act=gaussian_policy(actor.apply, obs_size),
    value=value,
    distribution=actor.apply,
  )
