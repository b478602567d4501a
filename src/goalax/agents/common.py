"""Small pieces that several agents share: an optimiser step, the SAC temperature, the
critic-actor-temperature update of the SAC-style agents (and its actor-temperature half, QRL's),
Polyak averaging, the entropy target, the act of a tanh-Gaussian actor, and checks of a
:class:`NetworkConfig` and of an observation's width."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import Array, Metrics, NetworkConfig, Params


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


def critic_step(
  state: Any,
  critic_loss: Callable[[Params], tuple[Array, Metrics]],
  tx: optax.GradientTransformation,
) -> tuple[Any, Metrics]:
  """One step of the critic on ``critic_loss(critic_params) -> (loss, metrics)``: the state with
  ``critic_params`` and ``critic_opt_state`` replaced, and the metrics."""
  (_, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic_params)
  critic_params, critic_opt_state = optimizer_step(
    tx, state.critic_params, state.critic_opt_state, grads
  )
  return state.replace(critic_params=critic_params, critic_opt_state=critic_opt_state), metrics


def actor_temperature_step(
  state: Any,
  actor_loss: Callable[[Params, Params], tuple[Array, Any]],
  txs: tuple[optax.GradientTransformation, optax.GradientTransformation],
  target_entropy: float,
  learn_alpha: bool = True,
) -> tuple[Any, Metrics]:
  """One step of the actor against the state's critic on ``actor_loss(actor_params,
  critic_params) -> (loss, aux)``, then one of the temperature on its log-probs
  (:func:`temperature_step`). ``aux`` is ``log_prob [B]``, or ``(log_prob [B], metrics)`` for an
  actor with metrics of its own; ``txs`` the ``(actor, alpha)`` optimisers. Returns the state with
  ``actor_params``, ``log_alpha`` and their ``*_opt_state`` replaced, and the metrics
  ``{actor_loss, **actor metrics, alpha_loss, alpha, entropy}``."""
  actor_tx, alpha_tx = txs
  (loss, aux), grads = jax.value_and_grad(actor_loss, has_aux=True)(
    state.actor_params, state.critic_params
  )
  log_prob, actor_metrics = aux if isinstance(aux, tuple) else (aux, {})
  actor_params, actor_opt_state = optimizer_step(
    actor_tx, state.actor_params, state.actor_opt_state, grads
  )
  log_alpha, alpha_opt_state, alpha_metrics = temperature_step(
    alpha_tx, state.log_alpha, state.alpha_opt_state, log_prob, target_entropy, learn=learn_alpha
  )
  new_state = state.replace(
    actor_params=actor_params,
    actor_opt_state=actor_opt_state,
    log_alpha=log_alpha,
    alpha_opt_state=alpha_opt_state,
  )
  return new_state, {"actor_loss": loss, **actor_metrics, **alpha_metrics}


def critic_actor_temperature_step(
  state: Any,
  critic_loss: Callable[[Params], tuple[Array, Metrics]],
  actor_loss: Callable[[Params, Params], tuple[Array, Array]],
  txs: tuple[optax.GradientTransformation, ...],
  target_entropy: float,
  learn_alpha: bool = True,
) -> tuple[Any, Metrics]:
  """The update of CRL, SAC and TD InfoNCE, in this order: :func:`critic_step`, then
  :func:`actor_temperature_step` against the updated critic. ``state`` is the agent's state (a
  flax struct with ``actor_params``, ``critic_params``, ``log_alpha`` and their
  ``*_opt_state``), ``txs`` the ``(critic, actor, alpha)`` optimisers. Returns the state with
  those six fields replaced and the metrics ``{**critic metrics, actor_loss, alpha_loss, alpha,
  entropy}``."""
  critic_tx, actor_tx, alpha_tx = txs
  state, critic_metrics = critic_step(state, critic_loss, critic_tx)
  state, metrics = actor_temperature_step(
    state, actor_loss, (actor_tx, alpha_tx), target_entropy, learn_alpha
  )
  return state, {**critic_metrics, **metrics}


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


def tanh_gaussian_policy(actor_apply: networks.ApplyFn, obs_size: int) -> Callable[..., Array]:
  """The ``act`` of an agent with a tanh-Gaussian actor (CRL, SAC, QRL, TD InfoNCE):
  ``(actor_params, obs [..., state_size + goal_size], key, deterministic=False) -> action
  [..., action_size]``, a sample, or ``tanh(mean)`` when deterministic
  (:func:`goalax.networks.tanh_gaussian_act`)."""

  def act(
    actor_params: Params, obs: Array, key: Array, deterministic: bool | Array = False
  ) -> Array:
    check_obs_size(obs, obs_size)
    return networks.tanh_gaussian_act(actor_params, actor_apply, obs, key, deterministic)

  return act


def check_obs_size(obs: Array, obs_size: int) -> None:
  if obs.shape[-1] != obs_size:
    raise ValueError(
      f"act expects obs [..., state_size + goal_size] = [..., {obs_size}] "
      f"(state first, then goal), got shape {obs.shape}."
    )
