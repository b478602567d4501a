"""Contrastive RL (CRL): goal-conditioned RL as contrastive representation learning.

References: Eysenbach et al. 2022, "Contrastive Learning as Goal-Conditioned Reinforcement
Learning"; Bortkiewicz et al. 2024, "Accelerating Goal-Conditioned RL Algorithms and Research"
(JaxGCRL, arXiv 2408.11052); Wang et al. 2025, "1000 Layer Networks for Self-Supervised RL".

The algorithm, in one screen
----------------------------
A batch holds ``B`` transitions ``(s_i, a_i)`` and, for each, a *hindsight goal* ``g_i``: the
achieved goal of a future state of the same trajectory. Two encoders embed them,
``phi_i = phi(s_i, a_i)`` and ``psi_j = psi(g_j)``, and an energy function scores every pair,
``logits[i, j] = energy(phi_i, psi_j)`` (``[B, B]``). Diagonal entries are positives (``g_i``
really followed ``(s_i, a_i)``), off-diagonal entries are negatives (goals from other
trajectories, i.e. samples of the goal marginal).

1. **Critic**: minimise ``contrastive_loss(logits) + logsumexp_penalty``. For InfoNCE the
   optimal critic is ``log p^pi(g | s, a) / p(g)`` plus a normaliser, so the critic is a
   (log) goal-conditioned Q-function for the reward ``p(s_{t+} = g)``.
2. **Actor** (SAC-style, on the same hindsight goals): ``a ~ pi(. | s_i, g_i)`` and minimise
   ``mean_i(alpha * log pi(a | s_i, g_i) - energy(phi(s_i, a), psi(g_i)))`` with the critic
   parameters held fixed.
3. **Temperature**: minimise ``-log_alpha * stop_grad(log pi + target_entropy)``.

Offline (``--actor_loss ddpgbc``, what ``auto`` becomes with a dataset, OGBench's CRL): the actor
instead minimises ``−Q(s, tanh(mean), g) / mean|Q| − actor_alpha · log pi(a_data | s, g)``
(:func:`goalax.agents.offline_actor.ddpgbc_loss`) and the temperature stays put.

The energies and contrastive losses are in :mod:`goalax.agents.contrastive`. Everything below is
pure: :func:`make_crl` returns a :class:`CRL` (a :class:`goalax.agents.base.Agent`) holding
``init``, ``update`` and ``act`` functions that can be ``jit``-ed and ``vmap``-ed (e.g. over
seeds).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Annotated

import flax
import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import (
  ActorCriticParams,
  Array,
  Batch,
  GoalMix,
  GoalSampling,
  MaxEntActorConfig,
  Metrics,
  NetworkConfig,
  Params,
)
from goalax.agents.common import (
  check_network_config,
  critic_actor_temperature_step,
  tanh_gaussian_policy,
  target_entropy_for,
)
from goalax.agents.contrastive import (
  CONTRASTIVE_LOSSES,
  ENERGY_FNS,
  contrastive_metrics,
  logsumexp_penalty,
  resolve_contrastive_loss,
  resolve_energy_fn,
  resolve_paired_energy_fn,
  resolve_temperature,
)
from goalax.agents.offline_actor import (
  ActorLossConfig,
  ddpgbc_loss,
  tanh_gaussian_data_log_prob,
)
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.helptext import choices, default_is
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig


@dataclasses.dataclass(frozen=True)
class CRLConfig(NetworkConfig, OffPolicyConfig, MaxEntActorConfig, ActorLossConfig):
  """Contrastive RL (CRL). Defaults follow JaxGCRL unless stated otherwise."""

  SWEEPABLE = (  # leaves of the state under --sweep (goalax.parallel.sweep)
    "critic_lr",
    "actor_lr",
    "alpha_lr",
    "logsumexp_penalty_coeff",
    "discounting",
    "target_entropy",
  )
  RENAMED = {"random_actor_goals": "actor_p_random"}  # old flag -> current (goalax.config)

  use_layer_norm: bool = True
  """LayerNorm before every hidden activation, in all networks. JaxGCRL defaults to False. Ours
  is on: no measurable effect at depth 2, much faster learning at depth 8 (reacher, 4 seeds:
  0.94 vs 0.70 success); benchmarks/results/learning.md."""
  repr_dim: int = 64
  """Width of ``phi(s, a)`` and ``psi(g)`` (JaxGCRL ``repr_dim``)."""
  discounting: float = 0.99
  """The goal sampler's γ, not a TD discount (CRL bootstraps nothing): a critic goal is the state
  k ≥ 1 steps later in the same trajectory with probability ∝ γ^(k−1) (JaxGCRL's
  --discounting)."""
  actor_p_random: float = 0.0
  """Share of the actor's goals that are random goals (states drawn uniformly from the buffer);
  the rest are hindsight goals drawn for the actor on their own, with the critic's law. The
  critic keeps its hindsight goals. The original CRL code used 0.5 (there: another transition's
  hindsight goal). Old spelling: --random_actor_goals."""
  energy_fn: Annotated[str, choices(ENERGY_FNS)] = "l2"
  """Critic energy: l2 is the distance (norm is accepted for it), l2_sq its square. JaxGCRL 0.1's
  l2 and 0.2's norm are l2; 0.2's l2 is l2_sq (training.py and run.py translate it)."""
  energy_temperature: Annotated[float | None, default_is("0.1 for cosine, else 1")] = None
  """τ of the critic's logits: the contrastive loss and the actor's objective use
  ``energy / τ``. cosine is bounded in [-1, 1]: at τ = 1 its critic collapses and CRL learns
  nothing on reacher, at 0.1 it learns (benchmarks/results/learning.md); the other energies are
  unbounded, the encoders set their scale."""
  learn_energy_temperature: bool = False
  """Learn τ (CLIP-style, as ``log(1/τ)`` in the critic parameters), starting at
  ``--energy_temperature``."""
  contrastive_loss_fn: Annotated[str, choices(CONTRASTIVE_LOSSES)] = "infonce_backward"
  """Critic loss (JaxGCRL 0.2's fwd_infonce, bwd_infonce, sym_infonce and binary_nce name
  infonce, infonce_backward, symmetric_infonce and binary). JaxGCRL's code defaults to forward
  InfoNCE; we default to the backward form because its free normaliser ``c(g)`` depends only on
  the goal, so it cannot bias the actor's choice of action, while forward InfoNCE's ``c(s, a)``
  can (the logsumexp penalty only softly suppresses it)."""
  logsumexp_penalty_coeff: float = 0.1
  """Weight of the logsumexp penalty in the critic loss (JaxGCRL default)."""
  critic_lr: float = 3e-4
  """Adam learning rate of both encoders (JaxGCRL default)."""
  actor_lr: float = 3e-4
  """Adam learning rate of the actor (JaxGCRL's --policy_lr)."""
  disable_entropy_actor: bool = False
  """Drop the ``alpha * log pi`` term from the actor loss (JaxGCRL flag of the same name);
  alpha is still trained and logged."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    require_positive(self, "repr_dim", "critic_lr", "actor_lr", "alpha_lr")
    if self.energy_temperature is not None:
      require_positive(self, "energy_temperature")
    require_in_unit_interval(self, "discounting")
    require_in_unit_interval(self, "actor_p_random", include_zero=True)
    self.validate_actor_loss()
    try:
      resolve_energy_fn(self.energy_fn)
      resolve_contrastive_loss(self.contrastive_loss_fn)
    except ValueError as e:
      raise ConfigError(str(e)) from None

  def goal_sampling(self) -> GoalSampling:
    """Every critic goal is a hindsight goal, k steps ahead with P(k) ∝ γ^(k−1); the actor
    learns on the critic's goals, or with --actor_p_random on its own mix of hindsight and
    random goals."""
    hindsight = GoalMix(p_future=1.0, future="geometric", discount=self.discounting)
    if self.actor_p_random == 0:
      return GoalSampling(hindsight)
    r = self.actor_p_random
    return GoalSampling(hindsight, actor=dataclasses.replace(hindsight, p_future=1 - r, p_random=r))


@flax.struct.dataclass
class CRLState:
  """Everything CRL learns; a pytree, so it can be ``vmap``-ed over seeds and checkpointed."""

  actor_params: Params
  """Variables of :class:`goalax.networks.TanhGaussianActor`."""
  critic_params: Params
  """``{"sa_encoder": variables, "g_encoder": variables}``."""
  log_alpha: Array
  """Scalar log of the entropy temperature."""
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState
  alpha_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class CRL(ActorCriticParams):
  """A CRL agent as a bundle of pure functions (built by :func:`make_crl`).

  Attributes:
      init: ``key -> CRLState``.
      update: ``(CRLState, batch, key) -> (CRLState, metrics)``; ``batch`` maps ``"state"``
          ``[B, state_size]``, ``"action"`` ``[B, action_size]`` and ``"goal"`` ``[B, goal_size]``
          (the hindsight goal); ``metrics`` is a dict of scalars.
      act: ``(actor_params, obs [..., state_size + goal_size], key, deterministic) ->
          action [..., action_size]`` with ``obs = concat([state, goal], -1)``.
      critic_loss: ``(critic_params, batch) -> (loss, metrics)``.
      actor_loss: ``(actor_params, critic_params, log_alpha, batch, key) -> (loss, log_prob [B])``.
      critic_logits: ``(critic_params, state, action, goal) -> logits [B, B]``.
  """

  config: CRLConfig
  state_size: int
  goal_size: int
  action_size: int
  target_entropy: float
  actor: networks.TanhGaussianActor
  sa_encoder: networks.Encoder
  g_encoder: networks.Encoder
  init: Callable[[Array], CRLState]
  update: Callable[[CRLState, Batch, Array], tuple[CRLState, Metrics]]
  act: Callable[..., Array]
  critic_loss: Callable[..., tuple[Array, Metrics]]
  actor_loss: Callable[..., tuple[Array, Array]]
  critic_logits: Callable[..., Array]
  sampling: GoalSampling
  headline_metrics: tuple[str, ...] = ("critic_loss", "categorical_accuracy")

  @property
  def obs_size(self) -> int:
    """Actor input width: ``state_size + goal_size``."""
    return self.state_size + self.goal_size


def make_crl(config: CRLConfig, state_size: int, goal_size: int, action_size: int) -> CRL:
  """Build the CRL agent's pure functions for the given problem sizes.

  Raises:
      ValueError: for an unknown energy/loss/activation name or an invalid residual depth.
  """
  energy_fn = resolve_energy_fn(config.energy_fn)
  temperature = resolve_temperature(config.energy_fn, config.energy_temperature)
  paired_energy_fn = resolve_paired_energy_fn(config.energy_fn)
  contrastive_loss_fn = resolve_contrastive_loss(config.contrastive_loss_fn)
  check_network_config(config)
  target_entropy = target_entropy_for(config.target_entropy, action_size)
  obs_size = state_size + goal_size

  trunk = config.trunk()
  actor = networks.TanhGaussianActor(action_dim=action_size, **config.actor_bounds(), **trunk)
  act = tanh_gaussian_policy(actor.apply, obs_size)
  sa_encoder = networks.Encoder(repr_dim=config.repr_dim, **trunk)
  g_encoder = networks.Encoder(repr_dim=config.repr_dim, **trunk)

  actor_tx = optax.adam(config.actor_lr)
  critic_tx = optax.adam(config.critic_lr)
  alpha_tx = optax.adam(config.alpha_lr)

  def init(key: Array) -> CRLState:
    actor_key, sa_key, g_key = jax.random.split(key, 3)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    critic_params = {
      "sa_encoder": sa_encoder.init(sa_key, jnp.zeros((1, state_size + action_size))),
      "g_encoder": g_encoder.init(g_key, jnp.zeros((1, goal_size))),
    }
    if config.learn_energy_temperature:
      critic_params["log_logit_scale"] = jnp.asarray(-math.log(temperature), jnp.float32)
    log_alpha = jnp.asarray(config.initial_log_alpha, dtype=jnp.float32)
    return CRLState(
      actor_params=actor_params,
      critic_params=critic_params,
      log_alpha=log_alpha,
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
      alpha_opt_state=alpha_tx.init(log_alpha),
    )

  def encode(
    critic_params: Params, state: Array, action: Array, goal: Array
  ) -> tuple[Array, Array]:
    sa_repr = sa_encoder.apply(
      critic_params["sa_encoder"], jnp.concatenate([state, action], axis=-1)
    )
    g_repr = g_encoder.apply(critic_params["g_encoder"], goal)
    return sa_repr, g_repr

  def scaled(critic_params: Params, energy: Array) -> Array:
    """``energy / τ``; the energy itself when τ is fixed at 1."""
    if config.learn_energy_temperature:
      return jnp.exp(critic_params["log_logit_scale"]) * energy
    if temperature != 1.0:
      return energy / temperature
    return energy

  def critic_logits(critic_params: Params, state: Array, action: Array, goal: Array) -> Array:
    """``state [B, S], action [B, A], goal [B, G] -> logits [B, B]``."""
    return scaled(critic_params, energy_fn(*encode(critic_params, state, action, goal)))

  def critic_loss(critic_params: Params, batch: Batch) -> tuple[Array, Metrics]:
    logits = critic_logits(critic_params, batch["state"], batch["action"], batch["goal"])
    contrastive = contrastive_loss_fn(logits)
    penalty = logsumexp_penalty(logits, config.logsumexp_penalty_coeff)
    loss = contrastive + penalty
    metrics = {
      "critic_loss": loss,
      "contrastive_loss": contrastive,
      "logsumexp_penalty": penalty,
      **contrastive_metrics(logits),
    }
    if config.learn_energy_temperature:
      metrics["energy_temperature"] = jnp.exp(-critic_params["log_logit_scale"])
    return loss, metrics

  def actor_loss(
    actor_params: Params, critic_params: Params, log_alpha: Array, batch: Batch, key: Array
  ) -> tuple[Array, Array | tuple[Array, Metrics]]:
    state, goal = batch["state"], batch.get("actor_goal", batch["goal"])
    obs = jnp.concatenate([state, goal], axis=-1)
    action, log_prob = networks.sample_action(actor_params, actor.apply, obs, key)
    critic_params = jax.lax.stop_gradient(critic_params)
    if config.actor_mode == "ddpgbc":  # the critic at tanh(mean), plus behaviour cloning
      mean, log_std = actor.apply(actor_params, obs)
      q = scaled(
        critic_params, paired_energy_fn(*encode(critic_params, state, jnp.tanh(mean), goal))
      )
      data_log_prob = tanh_gaussian_data_log_prob(mean, log_std, batch["action"])
      loss, metrics = ddpgbc_loss(q, data_log_prob, config.actor_coef)
      return loss, (log_prob, metrics)  # log_prob: the (unlearned) temperature's metrics
    sa_repr, g_repr = encode(critic_params, state, action, goal)
    q = scaled(critic_params, paired_energy_fn(sa_repr, g_repr))  # = diag(critic_logits), [B]
    alpha = 0.0 if config.disable_entropy_actor else jnp.exp(jax.lax.stop_gradient(log_alpha))
    return jnp.mean(alpha * log_prob - q), log_prob

  def update(crl_state: CRLState, batch: Batch, key: Array) -> tuple[CRLState, Metrics]:
    """The contrastive critic step, the actor step against the updated critic, the temperature."""
    return critic_actor_temperature_step(
      crl_state,
      lambda critic_params: critic_loss(critic_params, batch),
      lambda actor_params, critic_params: actor_loss(
        actor_params, critic_params, crl_state.log_alpha, batch, key
      ),
      (critic_tx, actor_tx, alpha_tx),
      target_entropy,
      learn_alpha=config.actor_mode == "maxent",
    )

  return CRL(
    config=config,
    state_size=state_size,
    goal_size=goal_size,
    action_size=action_size,
    target_entropy=target_entropy,
    actor=actor,
    sa_encoder=sa_encoder,
    g_encoder=g_encoder,
    init=init,
    update=update,
    act=act,
    critic_loss=critic_loss,
    actor_loss=actor_loss,
    critic_logits=critic_logits,
    sampling=config.goal_sampling(),
  )
