"""Small pieces that several agents share: an optimiser step, the SAC temperature, the
critic-actor-temperature update of the SAC-style agents, Polyak averaging, the entropy target, and
building validated networks from a :class:`NetworkConfig`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import Array, NetworkConfig, Params


def optimizer_step(
  tx: optax.GradientTransformation, params: Params, opt_state: optax.OptState, grads: Params
) -> tuple[Params, optax.OptState]:
  """One step of ``tx``: ``(params, opt_state, grads) -> (new params, new opt_state)``."""
  updates, opt_state = tx.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state


def temperature_loss(log_alpha: Array, log_prob: Array, target_entropy: float) -> Array:
  """SAC's temperature loss ``-log_alpha * mean(stop_grad(log_prob + target_entropy))``.

  Its gradient raises alpha while the policy's entropy ``-log_prob`` is below the target.
  """
  return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_prob + target_entropy))


def temperature_step(
  tx: optax.GradientTransformation,
  log_alpha: Array,
  opt_state: optax.OptState,
  log_prob: Array,
  target_entropy: float,
  learn: bool = True,
) -> tuple[Array, optax.OptState, dict[str, Array]]:
  """One step of SAC's temperature on the actor step's ``log_prob [B]`` (none if not ``learn``):
  ``(log_alpha, opt_state, {alpha_loss, alpha, entropy})``."""
  loss, grad = jax.value_and_grad(temperature_loss)(log_alpha, log_prob, target_entropy)
  if learn:
    log_alpha, opt_state = optimizer_step(tx, log_alpha, opt_state, grad)
  metrics = {"alpha_loss": loss, "alpha": jnp.exp(log_alpha), "entropy": -jnp.mean(log_prob)}
  return log_alpha, opt_state, metrics


def critic_actor_temperature_step(
  state: Any,
  critic_loss: Callable[[Params], tuple[Array, dict[str, Array]]],
  actor_loss: Callable[[Params, Params], tuple[Array, Array]],
  txs: tuple[optax.GradientTransformation, ...],
  target_entropy: float,
  learn_alpha: bool = True,
) -> tuple[Any, dict[str, Array]]:
  """The update of CRL, SAC and TD InfoNCE, in this order: one step of the critic on
  ``critic_loss(critic_params) -> (loss, metrics)``; one of the actor against the updated critic
  on ``actor_loss(actor_params, critic_params) -> (loss, log_prob [B])``; one of the temperature
  on those log-probs (:func:`temperature_step`). ``state`` is the agent's state (a flax struct
  with ``actor_params``, ``critic_params``, ``log_alpha`` and their ``*_opt_state``), ``txs`` the
  ``(critic, actor, alpha)`` optimisers. Returns the state with those six fields replaced and the
  metrics ``{**critic metrics, actor_loss, alpha_loss, alpha, entropy}``."""
  critic_tx, actor_tx, alpha_tx = txs
  (_, critic_metrics), critic_grads = jax.value_and_grad(critic_loss, has_aux=True)(
    state.critic_params
  )
  critic_params, critic_opt_state = optimizer_step(
    critic_tx, state.critic_params, state.critic_opt_state, critic_grads
  )
  (actor_loss_value, log_prob), actor_grads = jax.value_and_grad(actor_loss, has_aux=True)(
    state.actor_params, critic_params
  )
  actor_params, actor_opt_state = optimizer_step(
    actor_tx, state.actor_params, state.actor_opt_state, actor_grads
  )
  log_alpha, alpha_opt_state, alpha_metrics = temperature_step(
    alpha_tx, state.log_alpha, state.alpha_opt_state, log_prob, target_entropy, learn=learn_alpha
  )
  new_state = state.replace(
    actor_params=actor_params,
    critic_params=critic_params,
    log_alpha=log_alpha,
    actor_opt_state=actor_opt_state,
    critic_opt_state=critic_opt_state,
    alpha_opt_state=alpha_opt_state,
  )
  return new_state, {**critic_metrics, "actor_loss": actor_loss_value, **alpha_metrics}


def target_critic_update(
  state: Any,
  batch: dict[str, Array],
  key: Array,
  critic_loss: Callable[..., tuple[Array, dict[str, Array]]],
  actor_loss: Callable[..., tuple[Array, Array]],
  txs: tuple[optax.GradientTransformation, ...],
  target_entropy: float,
  tau: float,
  learn_alpha: bool = True,
) -> tuple[Any, dict[str, Array]]:
  """The update of SAC and TD InfoNCE: :func:`critic_actor_temperature_step` on
  ``critic_loss(critic_params, state, batch, key)`` and ``actor_loss(actor_params, critic_params,
  log_alpha, batch, key)`` (keys split from ``key``), then the Polyak step of the state's
  ``target_critic_params`` toward the updated critic."""
  critic_key, actor_key = jax.random.split(key)
  new_state, metrics = critic_actor_temperature_step(
    state,
    lambda critic_params: critic_loss(critic_params, state, batch, critic_key),
    lambda actor_params, critic_params: actor_loss(
      actor_params, critic_params, state.log_alpha, batch, actor_key
    ),
    txs,
    target_entropy,
    learn_alpha=learn_alpha,
  )
  target = polyak(state.target_critic_params, new_state.critic_params, tau)
  return new_state.replace(target_critic_params=target), metrics


def target_entropy_for(target_entropy: float | None, action_size: int) -> float:
  """The entropy target: ``-action_size`` (the SAC heuristic) unless one is given."""
  # no float() of a given value: a swept one is an array while the agent is traced
  return -float(action_size) if target_entropy is None else target_entropy


def polyak(target: Params, online: Params, tau: float) -> Params:
  """``target <- (1 - tau) * target + tau * online``, leaf by leaf."""
  return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def check_network_config(config: NetworkConfig) -> None:
  """Raises ValueError naming the flag when depth or activation cannot work."""
  networks.validate_depth(config.n_hidden, config.residual)
  if config.activation not in networks.ACTIVATIONS:
    raise ValueError(
      f"Unknown --activation value {config.activation!r}; valid names are "
      f"{', '.join(sorted(networks.ACTIVATIONS))}."
    )


def check_obs_size(obs: Array, obs_size: int) -> None:
  if obs.shape[-1] != obs_size:
    raise ValueError(
      f"act expects obs [..., state_size + goal_size] = [..., {obs_size}] "
      f"(state first, then goal), got shape {obs.shape}."
    )
