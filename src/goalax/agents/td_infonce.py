"""TD InfoNCE: contrastive RL whose critic learns the discounted occupancy by temporal differences.

Reference: Zheng, Salakhutdinov & Eysenbach 2024, "Contrastive Difference Predictive Coding"
(ICLR 2024; the authors' code: github.com/chongyi-zheng/td_infonce).

How it differs from Monte-Carlo CRL (:mod:`goalax.agents.crl`)
-------------------------------------------------------------
CRL's positives are future states drawn from the same trajectory: a Monte-Carlo estimate of the
discounted occupancy of whichever policy collected that trajectory. TD InfoNCE mixes a one-step
term, whose positive is the next state (weight ``1 − γ``), with a bootstrapped term, whose future
is a random goal re-weighted by importance weights from a target critic at the next state and
the policy's next action (weight ``γ``). So the critic learns the occupancy of the current
policy (not of the data), and can stitch pieces of different trajectories together. Because the
occupancy depends on the policy and the policy on its goal, the critic is conditioned on a goal
too: ``φ(s, a, g)`` against ``ψ(f)`` for a future ``f``.

The algorithm, in one screen
----------------------------
A batch holds ``B`` transitions ``(s_i, a_i, s'_i)``, the next state's achieved goal ``f_i``, and
a goal ``g_i`` from the actor's goal mix (by default a random state of the buffer, as in the
authors' online experiments). With ``a'_i ~ π(· | s'_i, g_i)`` and ``φ̄, ψ̄`` the Polyak-averaged
target encoders:

1. **Critic**: ``logits[i, j] = energy(φ(s_i, a_i, g_i), ψ(f_j))`` and
   ``next_logits[i, j] = energy(φ̄(s'_i, a'_i, g_i), ψ̄(f_j))``; minimise
   :func:`goalax.agents.contrastive.td_infonce_loss`: per row, ``(1 − γ)`` × the forward InfoNCE
   cross-entropy with the next state ``f_i`` as positive, plus ``γ`` × the cross-entropy of
   ``softmax_{j != i} logits[i]`` against the weights ``w[i] = softmax_{j != i} next_logits[i]``
   (the other rows' next states are random goals: i.i.d. draws of the state marginal).
   With twin critics (the authors' default) each is trained on this loss, and the weights come
   from the minimum of the two target critics' logits.
2. **Actor**: ``a_i ~ π(· | s_i, g_i)``, ``M[i, j] = min_critics energy(φ(s_i, a_i, g_i), ψ(g_j))``;
   minimise ``mean_i(α log π(a_i | s_i, g_i) + logsumexp_j M[i, j] − M[i, i])`` (the authors'
   cross-entropy: the InfoNCE critic's free normaliser ``c(s, a, g)`` cancels in it).
3. **Temperature**: SAC's, as in CRL (:func:`goalax.agents.common.temperature_step`).
4. **Targets**: ``(φ̄, ψ̄) <- (1 − τ)(φ̄, ψ̄) + τ (φ, ψ)``.

Offline (``--actor_loss ddpgbc``, what ``auto`` becomes with a dataset): the actor minimises
``−M[i, i] at a = tanh(mean)``, normalised by its mean magnitude, ``− actor_alpha · log π(a_data
| s, g)`` (:func:`goalax.agents.offline_actor.ddpgbc_loss`, OGBench's CRL form; OGBench has no
TD InfoNCE) and the temperature stays put.

Terminations: a terminal step (the ant falls) ends in an absorbing state: every later state is
its next state, so its row's whole occupancy is the one-step positive (weight 1 on the one-step
term, none on the bootstrapped one); a time-limit end is not a termination and bootstraps from
the true last state (the buffer stores it).

Where goalax differs from the authors' code
-------------------------------------------
- Futures of the bootstrapped term: the next states of the batch's other rows rather than a
  second set of random goals. Both are i.i.d. draws of the state marginal; these are the same
  draws as the one-step term's negatives, so the two terms use one logit matrix (half the ψ
  passes), and the sampler's second goal mix is free for the actor's goals. The row's own next
  state is left out of its bootstrapped term (it is not independent of the row).
- The next state's goal ``f_i`` comes from the goal sampler as a hindsight goal of offset
  ``k = 1`` (a geometric law with discount 0: the state the step reached).
- An entropy term with SAC's temperature in the actor loss (the authors' actor has none), the
  house networks (256×2, LayerNorm, swish) and repr 64 by default; see :class:`TDInfoNCEConfig`.
- The actor steps against the critic just updated (the authors': the critic before the step).
"""

from __future__ import annotations

import dataclasses
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
  tanh_gaussian_policy,
  target_critic_update,
  target_entropy_for,
)
from goalax.agents.contrastive import (
  ENERGY_FNS,
  contrastive_metrics,
  infonce_loss,
  resolve_energy_fn,
  td_infonce_loss,
)
from goalax.agents.offline_actor import (
  ActorLossConfig,
  ddpgbc_loss,
  tanh_gaussian_data_log_prob,
)
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.helptext import choices
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig


@dataclasses.dataclass(frozen=True)
class TDInfoNCEConfig(NetworkConfig, OffPolicyConfig, MaxEntActorConfig, ActorLossConfig):
  """TD InfoNCE. Defaults follow the paper's online experiments unless stated otherwise."""

  SWEEPABLE = (  # leaves of the state under --sweep (goalax.parallel.sweep)
    "critic_lr",
    "actor_lr",
    "alpha_lr",
    "discounting",
    "tau",
    "target_entropy",
  )
  RENAMED = {"random_actor_goals": "actor_p_random"}  # old flag -> current (goalax.config)

  repr_dim: int = 64
  """Width of ``φ(s, a, g)`` and ``ψ(f)``. The paper: 16; goalax uses CRL's 64."""
  discounting: float = 0.99
  """Discount γ of the TD target: the weight of the critic's bootstrapped term (the one-step
  term has 1 − γ), also the γ of the actor's hindsight goals. The paper's 0.99."""
  energy_fn: Annotated[str, choices(ENERGY_FNS)] = "l2"
  """Critic energy (norm is an alias of l2). The paper: the dot product of unit-norm
  representations (cosine); goalax uses CRL's l2."""
  twin_critics: bool = True
  """Two critics, each trained on the loss; the importance weights and the actor use the smaller
  of their logits (the paper's twin Q). Off: one critic, about half the critic's cost."""
  critic_lr: float = 3e-4
  """Adam learning rate of both encoders (the paper's)."""
  actor_lr: float = 3e-4
  """Adam learning rate of the actor. The paper: 5e-5; goalax uses CRL's 3e-4."""
  tau: float = 0.005
  """Polyak rate of the target encoders: ``target <- (1 - tau) target + tau online`` (the
  paper's)."""
  actor_p_random: float = 1.0
  """Share of the actor's goals (which also condition the critic) that are random goals, states
  drawn uniformly from the buffer; the rest are hindsight goals of the same trajectory, k steps
  ahead with P(k) ∝ γ^(k−1). 1, the paper's online setting (its offline one: 0). Old spelling:
  --random_actor_goals."""
  disable_entropy_actor: bool = False
  """Drop the ``alpha * log pi`` term from the actor loss, as in the paper; alpha is still
  trained and logged."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    require_positive(self, "repr_dim", "critic_lr", "actor_lr", "alpha_lr")
    require_in_unit_interval(self, "tau")
    require_in_unit_interval(self, "actor_p_random", include_zero=True)
    self.validate_actor_loss()
    if not 0.0 <= self.discounting < 1.0:
      raise ConfigError(
        f"--discounting must be in [0, 1) for td_infonce, got {self.discounting}: the one-step "
        f"term has weight 1 - γ, and without it nothing ties the critic to the data."
      )
    if self.batch_size < 2:
      raise ConfigError(
        f"--batch_size must be at least 2 for td_infonce, got {self.batch_size}: each row's "
        f"random futures are the other rows' next states."
      )
    try:
      resolve_energy_fn(self.energy_fn)
    except ValueError as e:
      raise ConfigError(str(e)) from None

  def goal_sampling(self) -> GoalSampling:
    """``goal``: the next state's achieved goal (a hindsight goal at offset 1); ``actor_goal``:
    the actor's goals, random or hindsight (--actor_p_random); the TD batch (next state,
    termination)."""
    next_state_goal = GoalMix(p_future=1.0, future="geometric", discount=0.0)
    r = self.actor_p_random
    actor = GoalMix(p_future=1.0 - r, p_random=r, future="geometric", discount=self.discounting)
    return GoalSampling(value=next_state_goal, actor=actor, td=True)


@flax.struct.dataclass
class TDInfoNCEState:
  """Everything TD InfoNCE learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.TanhGaussianActor`."""
  critic_params: Params
  """``{"sag_encoder": φ(s, a, g), "future_encoder": ψ(f)}``, each with a leading critic axis
  (2 with twin critics, else 1)."""
  target_critic_params: Params
  """Polyak average of ``critic_params``."""
  log_alpha: Array
  """Scalar log of the entropy temperature."""
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState
  alpha_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class TDInfoNCE(ActorCriticParams):
  """A TD InfoNCE agent as a bundle of pure functions (built by :func:`make_td_infonce`); see
  :class:`goalax.agents.base.Agent`.

  Extra attributes: ``critic_logits(critic_params, state [B, S], action [B, A], goal [B, G],
  future [B, G]) -> [critics, B, B]``, ``critic_loss(critic_params, td_infonce_state, batch,
  key) -> (loss, metrics)`` and ``actor_loss(actor_params, critic_params, log_alpha, batch, key)
  -> (loss, log_prob [B])``.
  """

  config: TDInfoNCEConfig
  sampling: GoalSampling
  target_entropy: float
  init: Callable[[Array], TDInfoNCEState]
  update: Callable[[TDInfoNCEState, Batch, Array], tuple[TDInfoNCEState, Metrics]]
  act: Callable[..., Array]
  critic_logits: Callable[..., Array]
  critic_loss: Callable[..., tuple[Array, Metrics]]
  actor_loss: Callable[..., tuple[Array, Array]]
  headline_metrics: tuple[str, ...] = ("critic_loss", "categorical_accuracy")


def make_td_infonce(
  config: TDInfoNCEConfig, state_size: int, goal_size: int, action_size: int
) -> TDInfoNCE:
  """Build TD InfoNCE's pure functions for the given problem sizes.

  Raises:
      ValueError: for an unknown energy or activation name or an invalid residual depth.
  """
  energy_fn = jax.vmap(resolve_energy_fn(config.energy_fn))  # over the critic axis
  check_network_config(config)
  target_entropy = target_entropy_for(config.target_entropy, action_size)
  obs_size = state_size + goal_size
  num_critics = 2 if config.twin_critics else 1
  gamma = config.discounting

  trunk = config.trunk()
  actor = networks.TanhGaussianActor(action_dim=action_size, **config.actor_bounds(), **trunk)
  act = tanh_gaussian_policy(actor.apply, obs_size)
  sag_encoder = networks.Encoder(repr_dim=config.repr_dim, **trunk)
  future_encoder = networks.Encoder(repr_dim=config.repr_dim, **trunk)

  actor_tx = optax.adam(config.actor_lr)
  critic_tx = optax.adam(config.critic_lr)
  alpha_tx = optax.adam(config.alpha_lr)

  def init_critics(encoder: networks.Encoder, key: Array, input_size: int) -> Params:
    """``num_critics`` independent encoders, stacked on a leading axis."""
    keys = jax.random.split(key, num_critics)
    return jax.vmap(lambda k: encoder.init(k, jnp.zeros((1, input_size))))(keys)

  def init(key: Array) -> TDInfoNCEState:
    actor_key, sag_key, future_key = jax.random.split(key, 3)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    critic_params = {
      "sag_encoder": init_critics(sag_encoder, sag_key, state_size + action_size + goal_size),
      "future_encoder": init_critics(future_encoder, future_key, goal_size),
    }
    log_alpha = jnp.asarray(config.initial_log_alpha, dtype=jnp.float32)
    return TDInfoNCEState(
      actor_params=actor_params,
      critic_params=critic_params,
      target_critic_params=critic_params,
      log_alpha=log_alpha,
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
      alpha_opt_state=alpha_tx.init(log_alpha),
    )

  def critic_logits(
    critic_params: Params, state: Array, action: Array, goal: Array, future: Array
  ) -> Array:
    """``logits[c, i, j] = energy(φ_c(s_i, a_i, g_i), ψ_c(f_j))``: ``[critics, B, B]``."""
    sag = jnp.concatenate([state, action, goal], axis=-1)
    sag_repr = jax.vmap(sag_encoder.apply, (0, None))(critic_params["sag_encoder"], sag)
    future_repr = jax.vmap(future_encoder.apply, (0, None))(critic_params["future_encoder"], future)
    return energy_fn(sag_repr, future_repr)

  def critic_loss(critic_params, td_state: TDInfoNCEState, batch: Batch, key: Array):
    state, goal, next_goal = batch["state"], batch["actor_goal"], batch["goal"]
    next_obs = jnp.concatenate([batch["next_state"], goal], axis=-1)
    next_action, _ = networks.sample_action(td_state.actor_params, actor.apply, next_obs, key)
    next_logits = critic_logits(
      td_state.target_critic_params, batch["next_state"], next_action, goal, next_goal
    ).min(axis=0)
    logits = critic_logits(critic_params, state, batch["action"], goal, next_goal)
    td_loss = jax.vmap(td_infonce_loss, (0, None, None, None))
    losses, metrics = td_loss(logits, next_logits, gamma, batch["terminated"])
    loss = jnp.sum(losses)  # each critic learns on its own loss
    metrics = {
      "critic_loss": jnp.mean(losses),
      **jax.tree.map(jnp.mean, metrics),
      **contrastive_metrics(logits[0]),
    }
    return loss, metrics

  def actor_loss(
    actor_params: Params, critic_params: Params, log_alpha: Array, batch: Batch, key: Array
  ) -> tuple[Array, Array]:
    state, goal = batch["state"], batch["actor_goal"]
    obs = jnp.concatenate([state, goal], axis=-1)
    action, log_prob = networks.sample_action(actor_params, actor.apply, obs, key)
    critic_params = jax.lax.stop_gradient(critic_params)
    if config.actor_mode == "ddpgbc":  # the critic at tanh(mean), plus behaviour cloning
      mean, log_std = actor.apply(actor_params, obs)
      q = jnp.diagonal(critic_logits(critic_params, state, jnp.tanh(mean), goal, goal).min(0))
      data_log_prob = tanh_gaussian_data_log_prob(mean, log_std, batch["action"])
      loss, metrics = ddpgbc_loss(q, data_log_prob, config.actor_coef)
      return loss, (log_prob, metrics)  # log_prob: the (unlearned) temperature's metrics
    logits = critic_logits(critic_params, state, action, goal, goal).min(axis=0)  # [B, B]
    alpha = 0.0 if config.disable_entropy_actor else jnp.exp(jax.lax.stop_gradient(log_alpha))
    return infonce_loss(logits) + jnp.mean(alpha * log_prob), log_prob

  def update(td_state: TDInfoNCEState, batch: Batch, key: Array):
    """The TD InfoNCE critic step, the actor step against the updated critic, the temperature,
    then the target critic's Polyak step."""
    txs = (critic_tx, actor_tx, alpha_tx)
    return target_critic_update(
      td_state,
      batch,
      key,
      critic_loss,
      actor_loss,
      txs,
      target_entropy,
      config.tau,
      learn_alpha=config.actor_mode == "maxent",
    )

  return TDInfoNCE(
    config=config,
    sampling=config.goal_sampling(),
    target_entropy=target_entropy,
    init=init,
    update=update,
    act=act,
    critic_logits=critic_logits,
    critic_loss=critic_loss,
    actor_loss=actor_loss,
  )
