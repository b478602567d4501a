"""Twin delayed DDPG (TD3) for goals, with optional hindsight relabelling (TD3+HER).

Reference: Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic
Methods"; Andrychowicz et al. 2017, "Hindsight Experience Replay".

The algorithm, in one screen
----------------------------
A deterministic actor ``π(obs) = tanh(MLP(obs))`` with ``obs = concat(state, goal)``; batches
``(s, a, s', g, r, terminated)`` come from the goal sampler as for SAC.

1. **Critics** (every gradient step): twin ``Q_1, Q_2`` regress onto
   ``y = r + γ (1 − terminated) min_i Q̄_i(s', ā')`` with the smoothed target action
   ``ā' = clip(π̄(s') + clip(ε, −noise_clip, noise_clip), −1, 1)``, ``ε ~ N(0, smoothing_noise²)``.
2. **Actor and targets** (every ``policy_delay``-th gradient step): maximise ``Q_1(s, π(s))``, then
   ``π̄, Q̄ <- (1 − tau) · + tau ·``.
3. **Exploration**: ``a = clip(π(s) + N(0, exploration_noise²), −1, 1)``; evaluation uses ``π(s)``.
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
  Metrics,
  NetworkConfig,
  Params,
  TDConfig,
)
from goalax.agents.common import check_network_config, check_obs_size, optimizer_step, polyak
from goalax.errors import ConfigError, require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig
from goalax.parallel.seed_axis import apply_where


@dataclasses.dataclass(frozen=True)
class TD3Config(NetworkConfig, OffPolicyConfig, TDConfig):
  """Twin delayed DDPG (TD3); with --use_her, TD3+HER."""

  SWEEPABLE = ("critic_lr", "actor_lr", "discounting", "tau", "smoothing_noise", "noise_clip")

  policy_delay: int = 2
  """Critic updates per actor (and target) update."""
  exploration_noise: float = 0.2
  """Std of the Gaussian noise added to the actor's action when collecting data (actions are
  clipped to [-1, 1]). JaxGCRL uses 0.4, the TD3 paper 0.1."""
  smoothing_noise: float = 0.2
  """Std of the target policy smoothing noise (TD3 paper, JaxGCRL)."""
  noise_clip: float = 0.5
  """The smoothing noise is clipped to [-noise_clip, noise_clip] (TD3 paper, JaxGCRL)."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    self.validate_td()
    require_positive(self, "policy_delay")
    for flag in ("exploration_noise", "smoothing_noise", "noise_clip"):
      if getattr(self, flag) < 0:
        raise ConfigError(f"--{flag} must be >= 0, got {getattr(self, flag)}.")


@flax.struct.dataclass
class TD3State:
  """Everything TD3 learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.DeterministicActor`."""
  critic_params: Params
  """Variables of :class:`goalax.networks.QEnsemble` (twin critics, leading axis 2)."""
  target_actor_params: Params
  target_critic_params: Params
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState
  steps: Array
  """int32: gradient steps taken (the actor updates when ``steps % policy_delay == 0``)."""
  actor_loss: Array
  """The actor loss of the latest actor update (reported on the steps in between)."""


@dataclasses.dataclass(frozen=True)
class TD3(ActorCriticParams):
  """A TD3 agent as a bundle of pure functions (built by :func:`make_td3`); see
  :class:`goalax.agents.base.Agent`. ``q_values(critic_params, obs, action) -> [2, ...]``."""

  config: TD3Config
  sampling: GoalSampling
  init: Callable[[Array], TD3State]
  update: Callable[[TD3State, Batch, Array], tuple[TD3State, Metrics]]
  act: Callable[..., Array]
  q_values: Callable[..., Array]
  headline_metrics: tuple[str, ...] = ("critic_loss", "q")


def make_td3(config: TD3Config, state_size: int, goal_size: int, action_size: int) -> TD3:
  """Build TD3's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  gamma = config.discounting
  actor = networks.DeterministicActor(action_dim=action_size, **config.trunk())
  critic = networks.QEnsemble(num_critics=2, **config.trunk())
  actor_tx = optax.adam(config.actor_lr)
  critic_tx = optax.adam(config.critic_lr)

  def init(key: Array) -> TD3State:
    actor_key, critic_key = jax.random.split(key)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    critic_params = critic.init(critic_key, jnp.zeros((1, obs_size)), jnp.zeros((1, action_size)))
    return TD3State(
      actor_params=actor_params,
      critic_params=critic_params,
      target_actor_params=actor_params,
      target_critic_params=critic_params,
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
      steps=jnp.zeros((), jnp.int32),
      actor_loss=jnp.zeros(()),
    )

  def critic_loss(critic_params, td3_state: TD3State, batch: Batch, key: Array):
    goal = batch["goal"]
    obs = jnp.concatenate([batch["state"], goal], axis=-1)
    next_obs = jnp.concatenate([batch["next_state"], goal], axis=-1)
    next_action = actor.apply(td3_state.target_actor_params, next_obs)
    noise = config.smoothing_noise * jax.random.normal(key, next_action.shape)
    noise = jnp.clip(noise, -config.noise_clip, config.noise_clip)
    next_action = jnp.clip(next_action + noise, -1.0, 1.0)
    next_q = critic.apply(td3_state.target_critic_params, next_obs, next_action).min(axis=0)
    target = batch["reward"] + gamma * (1.0 - batch["terminated"]) * next_q
    q = critic.apply(critic_params, obs, batch["action"])  # [2, B]
    loss = 0.5 * jnp.mean(jnp.sum(jnp.square(q - jax.lax.stop_gradient(target)), axis=0))
    return loss, {"critic_loss": loss, "q": jnp.mean(q), "target_q": jnp.mean(target)}

  def actor_loss(actor_params, critic_params, batch: Batch):
    obs = jnp.concatenate([batch["state"], batch["goal"]], axis=-1)
    return -jnp.mean(critic.apply(critic_params, obs, actor.apply(actor_params, obs))[0])

  def update(td3_state: TD3State, batch: Batch, key: Array) -> tuple[TD3State, Metrics]:
    (_, metrics), critic_grads = jax.value_and_grad(critic_loss, has_aux=True)(
      td3_state.critic_params, td3_state, batch, key
    )
    critic_params, critic_opt_state = optimizer_step(
      critic_tx, td3_state.critic_params, td3_state.critic_opt_state, critic_grads
    )
    td3_state = td3_state.replace(critic_params=critic_params, critic_opt_state=critic_opt_state)

    def update_actor_and_targets(state: TD3State) -> TD3State:
      loss, grads = jax.value_and_grad(actor_loss)(state.actor_params, state.critic_params, batch)
      actor_params, actor_opt_state = optimizer_step(
        actor_tx, state.actor_params, state.actor_opt_state, grads
      )
      state = state.replace(
        actor_params=actor_params,
        actor_opt_state=actor_opt_state,
        target_actor_params=polyak(state.target_actor_params, actor_params, config.tau),
        target_critic_params=polyak(state.target_critic_params, state.critic_params, config.tau),
        actor_loss=loss,
      )
      return state

    # A real conditional also under vmap over seeds (whose step counters move in lockstep).
    td3_state = apply_where(
      td3_state.steps % config.policy_delay == 0, update_actor_and_targets, td3_state
    )
    td3_state = td3_state.replace(steps=td3_state.steps + 1)
    metrics = {**metrics, "actor_loss": td3_state.actor_loss, "reward": jnp.mean(batch["reward"])}
    return td3_state, metrics

  def act(actor_params: Params, obs: Array, key: Array, deterministic: bool | Array = False):
    """``obs [..., S+G] -> action [..., A]``: ``π(obs)``, plus clipped exploration noise unless
    deterministic (a Python bool, or a traced one selected with ``jnp.where``)."""
    check_obs_size(obs, obs_size)
    action = actor.apply(actor_params, obs)
    if isinstance(deterministic, bool) and deterministic:
      return action
    noisy = jnp.clip(
      action + config.exploration_noise * jax.random.normal(key, action.shape), -1.0, 1.0
    )
    return noisy if isinstance(deterministic, bool) else jnp.where(deterministic, action, noisy)

  def q_values(critic_params: Params, obs: Array, action: Array) -> Array:
    """``obs [..., S+G], action [..., A] -> [2, ...]``: both critics."""
    return critic.apply(critic_params, obs, action)

  return TD3(
    config=config,
    sampling=config.goal_sampling(),
    init=init,
    update=update,
    act=act,
    q_values=q_values,
  )
