"""Quasimetric RL (QRL): the optimal goal-reaching cost learned as a quasimetric, and a policy on it.

Reference: Wang, Torralba, Isola, Zhang 2023, "Optimal Goal-Reaching Reinforcement Learning via
Quasimetric Learning" (ICML; its code: quasimetric-learning/quasimetric-rl); the quasimetric
heads are IQE (Wang & Isola 2022) and MRN (Liu et al. 2022), :mod:`goalax.agents.quasimetric`.

The algorithm, in one screen
----------------------------
A state encoder ``z = phi(s)`` and a goal encoder ``w = psi(g)`` map into one latent space, where
a quasimetric head gives ``d(x, y) >= 0`` (asymmetric, triangle inequality). ``d(phi(s),
psi(g))`` is to become the optimal number of steps from ``s`` to a state that achieves ``g``.
The batch (goal sampler, ``td``) holds transitions ``(s, a, s')`` and ``g' = goal(s')``, the goal
that ``s'`` achieves.

1. **Critic**: the constrained problem of the paper, by its Lagrangian. The quasimetric graph has
   an edge of cost 1 from each state to its next state and an edge of cost 0 from each state to
   the goal it achieves (a goal is reached by any state that achieves it). Among quasimetrics
   that do not overestimate these edges, the one with the largest distances between random
   pairs is the shortest-path distance, the optimal cost (the triangle inequality bounds every
   distance by the sum along any path). So:
   ``max E[-softplus_beta(offset - d(phi(s_i), psi(g'_j)))]`` over random pairs (``j = i - 1``:
   another transition's goal; a concave increasing transform of ``d``, so that no pair's
   distance dominates), subject to, on transitions, ``E[relu(d(phi(s), phi(s')) - 1)^2] <=
   epsilon^2`` (the step edges, the paper's constraint) and ``E[d(phi(s'), psi(g'))^2] <=
   epsilon^2`` (the goal edges), each with its own bound and Lagrange multiplier ``lambda_c =
   softplus(raw_c)``, learned by dual ascent (gradient ascent on ``lambda_c * violation_c``, one
   Adam); the critic minimises ``push + sum_c lambda_c * deviation_c``
   (:mod:`goalax.agents.qrl_objective`). A latent dynamics model ``phi(s') ~ z + f(z, a)`` trains
   with the critic (weight ``dynamics_weight``; squared quasimetric distances both ways, as in the
   paper). With ``--twin_critics`` (the paper's code: two critics) each critic has its own
   encoders, head, dynamics model and multipliers, and learns on the same batch on its own.
2. **Actor**: ``a ~ pi(. | s, g)`` (tanh-Gaussian, reparameterised) on the batch's actor goals
   (hindsight or random, ``--actor_p_random``); minimise ``mean_i(max_c d_c(z_c + f_c(z_c, a_i),
   psi_c(g_i)) + alpha * log pi(a_i | s_i, g_i))`` with ``z_c = phi_c(s_i)``: the predicted
   remaining distance after the action, the larger of the critics' (the paper's most pessimistic;
   one critic: its own), critics held fixed and already updated on this batch. ``log pi`` is
   the sampled action's log-density (the paper's actor uses the distribution's entropy instead).
   No behaviour cloning, as the paper's online actor: the replay data come from the agent's own
   earlier policies.
3. **Temperature**: SAC's, toward ``target_entropy``, on the actor step's log-densities. Offline
   actors (held temperature): ``--actor_loss ddpgbc`` or ``awr`` (:mod:`goalax.agents.offline_actor`).

Goalax's goals are achieved goals (``goal = state[goal_indices]``), not whole states as in the
paper's code, hence the goal encoder ``psi`` beside ``phi`` and the 0-cost edges that tie them.
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
from goalax.agents import quasimetric
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
  actor_temperature_step,
  check_network_config,
  optimizer_step,
  tanh_gaussian_policy,
  target_entropy_for,
)
from goalax.agents.offline_actor import ActorLossConfig, awr_loss, ddpgbc_loss
from goalax.agents.offline_actor import tanh_gaussian_data_log_prob as data_log_prob_of
from goalax.agents.qrl_objective import CONSTRAINTS, critic_objective, softplus_inverse
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig


@dataclasses.dataclass(frozen=True)
class QRLConfig(NetworkConfig, OffPolicyConfig, MaxEntActorConfig, ActorLossConfig):
  """Quasimetric RL (QRL). Defaults follow the paper's online code unless stated otherwise."""

  SWEEPABLE = (  # leaves of the state under --sweep (goalax.parallel.sweep)
    "critic_lr",
    "actor_lr",
    "alpha_lr",
    "lagrange_lr",
    "epsilon",
    "push_offset",
    "push_beta",
    "dynamics_weight",
    "target_entropy",
  )
  OFFLINE_ACTOR_ALPHA, ACTOR_LOSSES = 0.003, ("auto", "maxent", "awr", "ddpgbc")  # OGBench's

  quasimetric: Literal["iqe", "mrn"] = "iqe"
  """Quasimetric head: ``iqe`` (interval quasimetric embedding, maxmean; the paper's) or ``mrn``
  (metric residual network)."""
  latent_dim: int = 256
  """Width of ``phi(s)`` and ``psi(g)``. The paper: 2048 = 64 IQE components of 32 (after a
  projector); OGBench: 512 = 64 of 8; ours is smaller for CPU budgets."""
  dim_per_component: int = 8
  """IQE: latent dimensions per component (``latent_dim / dim_per_component`` components; the
  IQE paper recommends at least 8). Unused by MRN."""
  epsilon: float = 0.25
  """Tolerance of the local constraint: mean squared overestimate of the transitions' costs
  ``<= epsilon^2`` (the paper's 0.25)."""
  initial_lagrange: float = 0.01
  """Initial Lagrange multiplier of the local constraint (the paper's)."""
  lagrange_lr: float = 1e-2
  """Adam learning rate of the multiplier's dual ascent (the paper's)."""
  push_offset: float = 100.0
  """Offset of the push's transform ``softplus_beta(offset - d)``: should exceed most distances
  (in steps) between random states and goals. The paper: 15, for 50-step Fetch episodes; goalax
  envs run 100-1000 steps (OGBench uses 500 with beta 0.01)."""
  push_beta: float = 0.1
  """Sharpness beta of the push's softplus (the paper's; smaller is smoother)."""
  dynamics_weight: float = 0.1
  """Weight of the latent dynamics loss in the critic loss (the paper's)."""
  critic_lr: float = 3e-4
  """Adam learning rate of the encoders, the head and the dynamics model (the paper: 1e-4;
  3e-4 learns faster at CPU budgets)."""
  actor_lr: float = 3e-4
  """Adam learning rate of the actor (the paper: 3e-5)."""
  discounting: float = 0.99
  """The goal sampler's γ, not a TD discount (QRL itself has no discount): an actor's hindsight
  goal is the state k >= 1 steps later in the same trajectory with probability ∝ γ^(k−1)."""
  actor_p_random: float = 0.5
  """Share of the actor's goals that are random goals (states drawn from the buffer); the rest
  are hindsight goals. The paper's online actor takes both kinds for every transition and
  averages their losses, which 0.5 matches in expectation."""
  twin_critics: bool = False
  """Two critics (the paper's code), each with its own encoders, head, dynamics model and
  multipliers, learning on the same batch; the actor minimises the larger of their predicted
  distances, and :attr:`QRL.distance` is that larger one. Off (goalax's default, as before the
  option existed): one critic, about half the critic's cost."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    require_positive(
      self,
      "latent_dim",
      "critic_lr",
      "actor_lr",
      "alpha_lr",
      "lagrange_lr",
      "epsilon",
      "initial_lagrange",
      "push_beta",
    )
    require_in_unit_interval(self, "discounting")
    require_in_unit_interval(self, "actor_p_random", include_zero=True)
    self.validate_actor_loss()
    for flag in ("push_offset", "dynamics_weight"):
      if not getattr(self, flag) >= 0:
        raise ConfigError(f"--{flag} must be 0 or positive, got {getattr(self, flag)}.")
    if self.quasimetric not in quasimetric.QUASIMETRICS:
      raise ConfigError(
        f"--quasimetric must be one of {', '.join(quasimetric.QUASIMETRICS)}, "
        f"got {self.quasimetric!r}."
      )
    if self.quasimetric == "mrn" and self.latent_dim < 2:
      raise ConfigError(
        f"--latent_dim must be at least 2 with --quasimetric mrn (a symmetric and an asymmetric "
        f"half), got {self.latent_dim}."
      )
    if self.quasimetric == "iqe":
      require_positive(self, "dim_per_component")
      m = self.dim_per_component
      if self.latent_dim % m:
        lower, upper = (self.latent_dim // m) * m, (self.latent_dim // m + 1) * m
        nearby = f"{lower} or {upper}" if lower else f"{upper}"
        raise ConfigError(
          f"--latent_dim ({self.latent_dim}) must be a multiple of --dim_per_component ({m}) "
          f"with --quasimetric iqe: e.g. --latent_dim {nearby}."
        )

  def goal_sampling(self) -> GoalSampling:
    """The critic's goal is the next state's achieved goal (a hindsight goal at k = 1: discount
    0); the actor's goals are hindsight goals (P(k) ∝ γ^(k−1)) and, with --actor_p_random, random
    goals. The batch holds ``next_state`` (``td``) for the transition edges."""
    next_goal = GoalMix(p_future=1.0, future="geometric", discount=0.0)
    r = self.actor_p_random
    actor = GoalMix(p_future=1.0 - r, p_random=r, future="geometric", discount=self.discounting)
    return GoalSampling(next_goal, actor=actor, td=True)


@flax.struct.dataclass
class QRLState:
  """Everything QRL learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.TanhGaussianActor`."""
  critic_params: Params
  """``{"state_encoder", "goal_encoder", "head", "dynamics"}`` variables, each with a leading
  critic axis (2 with twin critics, else 1)."""
  raw_lagrange: Array
  """``[critics, 2]``: per critic the multipliers ``softplus(raw_lagrange)`` of the step and the
  goal constraint (:data:`goalax.agents.qrl_objective.CONSTRAINTS`)."""
  log_alpha: Array
  actor_opt_state: optax.OptState
  critic_opt_state: optax.OptState
  lagrange_opt_state: optax.OptState
  alpha_opt_state: optax.OptState


@dataclasses.dataclass(frozen=True)
class QRL(ActorCriticParams):
  """A QRL agent as a bundle of pure functions (built by :func:`make_qrl`); see
  :class:`goalax.agents.base.Agent`.

  Attributes:
    distance: ``(critic_params, state [..., S], goal [..., G]) -> [...]``: the learned
      ``d(phi(s), psi(g))``, steps from ``s`` to ``g`` (the larger of the critics').
    critic_loss: ``(critic_params, raw_lagrange, batch) -> (loss, metrics)``: the critics' summed
      losses, their metrics averaged.
    actor_loss: ``(actor_params, critic_params, log_alpha, batch, key) -> (loss, (log_prob [B],
      {"dist_actor": mean predicted distance}))``.
  """

  config: QRLConfig
  sampling: GoalSampling
  target_entropy: float
  init: Callable[[Array], QRLState]
  update: Callable[[QRLState, Batch, Array], tuple[QRLState, Metrics]]
  act: Callable[..., Array]
  distance: Callable[..., Array]
  critic_loss: Callable[..., tuple[Array, Metrics]]
  actor_loss: Callable[..., tuple[Array, tuple[Array, Metrics]]]
  headline_metrics: tuple[str, ...] = ("dist_random", "sq_deviation", "lagrange")


def make_qrl(config: QRLConfig, state_size: int, goal_size: int, action_size: int) -> QRL:
  """Build QRL's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  target_entropy = target_entropy_for(config.target_entropy, action_size)
  num_critics = 2 if config.twin_critics else 1
  trunk = config.trunk()
  actor = networks.TanhGaussianActor(action_dim=action_size, **config.actor_bounds(), **trunk)
  act = tanh_gaussian_policy(actor.apply, obs_size)
  state_encoder = networks.Encoder(repr_dim=config.latent_dim, **trunk)
  goal_encoder = networks.Encoder(repr_dim=config.latent_dim, **trunk)
  dynamics = networks.MLP(output_dim=config.latent_dim, **trunk)  # f(z, a): the latent's change
  head = quasimetric.QuasimetricHead(config.quasimetric, config.dim_per_component)

  actor_tx = optax.adam(config.actor_lr)
  critic_tx = optax.adam(config.critic_lr)
  lagrange_tx = optax.adam(config.lagrange_lr)
  alpha_tx = optax.adam(config.alpha_lr)

  def init_critic(key: Array) -> Params:
    """One critic's variables."""
    k_state, k_goal, k_dynamics, k_head = jax.random.split(key, 4)
    latent = jnp.zeros((1, config.latent_dim))
    return {
      "state_encoder": state_encoder.init(k_state, jnp.zeros((1, state_size))),
      "goal_encoder": goal_encoder.init(k_goal, jnp.zeros((1, goal_size))),
      "head": head.init(k_head, latent, latent),
      "dynamics": dynamics.init(k_dynamics, jnp.zeros((1, config.latent_dim + action_size))),
    }

  def init(key: Array) -> QRLState:
    k_actor, k_critics = jax.random.split(key)
    actor_params = actor.init(k_actor, jnp.zeros((1, obs_size)))
    critic_params = jax.vmap(init_critic)(jax.random.split(k_critics, num_critics))
    raw = softplus_inverse(config.initial_lagrange)
    raw_lagrange = jnp.full((num_critics, len(CONSTRAINTS)), raw, jnp.float32)
    log_alpha = jnp.asarray(config.initial_log_alpha, jnp.float32)
    return QRLState(
      actor_params=actor_params,
      critic_params=critic_params,
      raw_lagrange=raw_lagrange,
      log_alpha=log_alpha,
      actor_opt_state=actor_tx.init(actor_params),
      critic_opt_state=critic_tx.init(critic_params),
      lagrange_opt_state=lagrange_tx.init(raw_lagrange),
      alpha_opt_state=alpha_tx.init(log_alpha),
    )

  # One critic's functions; ``params`` are its variables (no critic axis).
  def encode_state(params: Params, state: Array) -> Array:
    return state_encoder.apply(params["state_encoder"], state)

  def encode_goal(params: Params, goal: Array) -> Array:
    return goal_encoder.apply(params["goal_encoder"], goal)

  def predict_next(params: Params, z: Array, action: Array) -> Array:
    """The latent dynamics: ``z [..., D], action [..., A] -> z + f(z, a) [..., D]``."""
    return z + dynamics.apply(params["dynamics"], jnp.concatenate([z, action], axis=-1))

  def latent_distance(params: Params) -> Callable[[Array, Array], Array]:
    return lambda x, y: head.apply(params["head"], x, y)

  def one_distance(params: Params, state: Array, goal: Array) -> Array:
    return latent_distance(params)(encode_state(params, state), encode_goal(params, goal))

  def one_critic_loss(params: Params, raw_lagrange: Array, batch: Batch):
    z = encode_state(params, batch["state"])
    z_next = encode_state(params, batch["next_state"])
    w_next = encode_goal(params, batch["goal"])
    z_model = predict_next(params, z, batch["action"])
    lagrange = jax.nn.softplus(raw_lagrange)
    return critic_objective(latent_distance(params), z, z_next, w_next, z_model, lagrange, config)

  def predicted_distance(params: Params, state: Array, action: Array, goal: Array) -> Array:
    """``d(z + f(z, a), psi(g))`` with ``z = phi(s)``: the distance left after the action."""
    z_model = predict_next(params, encode_state(params, state), action)
    return latent_distance(params)(z_model, encode_goal(params, goal))

  # Every critic (a leading critic axis on the parameters).
  def distance(critic_params: Params, state: Array, goal: Array) -> Array:
    """``state [..., S], goal [..., G] -> max_c d_c(phi_c(s), psi_c(g)) [...]``."""
    return jax.vmap(one_distance, (0, None, None))(critic_params, state, goal).max(axis=0)

  def max_distance_after(critic_params: Params, state: Array, action: Array, goal: Array):
    """``[B]``: the most pessimistic critic's distance left after the action."""
    dists = jax.vmap(predicted_distance, (0, None, None, None))(critic_params, state, action, goal)
    return dists.max(axis=0)

  def critic_loss(critic_params: Params, raw_lagrange: Array, batch: Batch):
    losses, metrics = jax.vmap(one_critic_loss, (0, 0, None))(critic_params, raw_lagrange, batch)
    return jnp.sum(losses), jax.tree.map(jnp.mean, metrics)  # each critic on its own loss

  def actor_loss(actor_params, critic_params, log_alpha, batch: Batch, key: Array):
    state, goal = batch["state"], batch["actor_goal"]
    action, log_prob = networks.sample_action(
      actor_params, actor.apply, jnp.concatenate([state, goal], axis=-1), key
    )
    critic_params = jax.lax.stop_gradient(critic_params)
    if config.actor_mode != "maxent":
      return offline_actor_loss(actor_params, critic_params, batch, log_prob)
    dist = max_distance_after(critic_params, state, action, goal)
    alpha = jnp.exp(jax.lax.stop_gradient(log_alpha))
    return jnp.mean(dist + alpha * log_prob), (log_prob, {"dist_actor": jnp.mean(dist)})

  def offline_actor_loss(actor_params, critic_params, batch: Batch, log_prob: Array):
    """OGBench's QRL actors: ddpgbc, Q = −max_distance_after(tanh(mean)); awr, A = d(s) − d(s')."""
    state, goal = batch["state"], batch["actor_goal"]
    mean, log_std = actor.apply(actor_params, jnp.concatenate([state, goal], axis=-1))
    data_log_prob = data_log_prob_of(mean, log_std, batch["action"])
    if config.actor_mode == "awr":
      next_distance = distance(critic_params, batch["next_state"], goal)
      adv = distance(critic_params, state, goal) - next_distance
      loss, metrics = awr_loss(data_log_prob, adv, config.actor_coef)
    else:
      q = -max_distance_after(critic_params, state, jnp.tanh(mean), goal)
      loss, metrics = ddpgbc_loss(q, data_log_prob, config.actor_coef)
    return loss, (log_prob, metrics)  # log_prob: the (unlearned) temperature's metrics

  def update(qrl_state: QRLState, batch: Batch, key: Array) -> tuple[QRLState, Metrics]:
    """The critic and the multiplier (one gradient of the Lagrangian, each with its own Adam),
    then the shared actor and temperature steps against the updated critic."""
    (_, critic_metrics), (critic_grads, lagrange_grad) = jax.value_and_grad(
      critic_loss, argnums=(0, 1), has_aux=True
    )(qrl_state.critic_params, qrl_state.raw_lagrange, batch)
    critic_params, critic_opt_state = optimizer_step(
      critic_tx, qrl_state.critic_params, qrl_state.critic_opt_state, critic_grads
    )
    raw_lagrange, lagrange_opt_state = optimizer_step(
      lagrange_tx, qrl_state.raw_lagrange, qrl_state.lagrange_opt_state, lagrange_grad
    )
    qrl_state = qrl_state.replace(
      critic_params=critic_params,
      critic_opt_state=critic_opt_state,
      raw_lagrange=raw_lagrange,
      lagrange_opt_state=lagrange_opt_state,
    )
    qrl_state, metrics = actor_temperature_step(
      qrl_state,
      lambda actor_params, critic_params: actor_loss(
        actor_params, critic_params, qrl_state.log_alpha, batch, key
      ),
      (actor_tx, alpha_tx),
      target_entropy,
      learn_alpha=config.actor_mode == "maxent",
    )
    return qrl_state, {**critic_metrics, **metrics}

  return QRL(
    config=config,
    sampling=config.goal_sampling(),
    target_entropy=target_entropy,
    init=init,
    update=update,
    act=act,
    distance=distance,
    critic_loss=critic_loss,
    actor_loss=actor_loss,
  )
