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

Everything below is pure: :func:`make_crl` returns a :class:`CRL` holding ``init``, ``update``
and ``act`` functions that can be ``jit``-ed and ``vmap``-ed (e.g. over seeds).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from goalax import networks

Array = jax.Array
Params = Any
Batch = Mapping[str, Array]
Metrics = dict[str, Array]

# =============================================================================================
# Energy functions: (sa_repr [B, D], g_repr [B, D]) -> logits [B, B],
# logits[i, j] = energy(phi_i, psi_j). Larger means "g_j is more reachable from (s_i, a_i)".
# Each is built from a *paired* form ([..., D], [..., D]) -> [...] that broadcasts, which the
# actor uses to score only the diagonal (phi_i, psi_i) without forming a B x B matrix.
# =============================================================================================


def _safe_norm(x: Array, axis: int = -1) -> Array:
  """Euclidean norm with an exact value and a finite (zero) gradient at ``x = 0``.

  ``sqrt`` has an infinite derivative at 0; the double ``where`` routes the zero case through
  a dummy argument so neither the value nor the gradient is polluted.
  """
  sq = jnp.sum(jnp.square(x), axis=axis)
  positive = sq > 0.0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _unit(x: Array, eps: float = 1e-6) -> Array:
  """Rows scaled to unit norm; rows with norm < ``eps`` are scaled by ``1/eps`` (zero stays zero)."""
  sq = jnp.sum(jnp.square(x), axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(sq, eps * eps))


def _paired_l2(x: Array, y: Array) -> Array:
  return -_safe_norm(x - y)


def _paired_l2_sq(x: Array, y: Array) -> Array:
  return -jnp.sum(jnp.square(x - y), axis=-1)


def _paired_l1(x: Array, y: Array) -> Array:
  return -jnp.sum(jnp.abs(x - y), axis=-1)


def _paired_dot(x: Array, y: Array) -> Array:
  return jnp.sum(x * y, axis=-1)


def _paired_cosine(x: Array, y: Array) -> Array:
  return jnp.sum(_unit(x) * _unit(y), axis=-1)


def _paired_mrn(x: Array, y: Array) -> Array:
  # Metric Residual Network quasimetric (Liu et al. 2022): first half of the representation
  # is a symmetric Euclidean part, second half an asymmetric max-ReLU part.
  # For odd D the symmetric half has D // 2 features and the asymmetric half the rest.
  half = x.shape[-1] // 2
  sym = _safe_norm(x[..., :half] - y[..., :half])
  asym = jnp.max(jax.nn.relu(x[..., half:] - y[..., half:]), axis=-1)
  return -(sym + asym)


def _all_pairs(paired: Callable[[Array, Array], Array]) -> Callable[[Array, Array], Array]:
  def energy(sa_repr: Array, g_repr: Array) -> Array:
    return paired(sa_repr[:, None, :], g_repr[None, :, :])

  return energy


def l2_energy(sa_repr: Array, g_repr: Array) -> Array:
  """``logits[i, j] = -||phi_i - psi_j||_2`` (JaxGCRL's ``norm``). ``[B, D] x [B, D] -> [B, B]``."""
  return _all_pairs(_paired_l2)(sa_repr, g_repr)


def l2_sq_energy(sa_repr: Array, g_repr: Array) -> Array:
  """``logits[i, j] = -||phi_i - psi_j||_2^2`` (what JaxGCRL calls ``l2``)."""
  return _all_pairs(_paired_l2_sq)(sa_repr, g_repr)


def l1_energy(sa_repr: Array, g_repr: Array) -> Array:
  """``logits[i, j] = -||phi_i - psi_j||_1``."""
  return _all_pairs(_paired_l1)(sa_repr, g_repr)


def dot_energy(sa_repr: Array, g_repr: Array) -> Array:
  """``logits[i, j] = phi_i . psi_j``."""
  return jnp.einsum("id,jd->ij", sa_repr, g_repr, precision=jax.lax.Precision.HIGHEST)


def cosine_energy(sa_repr: Array, g_repr: Array) -> Array:
  """``logits[i, j] = (phi_i / ||phi_i||) . (psi_j / ||psi_j||)``; zero rows give 0."""
  return dot_energy(_unit(sa_repr), _unit(g_repr))


def mrn_energy(sa_repr: Array, g_repr: Array) -> Array:
  """MRN quasimetric: ``logits[i, j] = -(||x_i^sym - y_j^sym||_2 + max_k relu(x_ik^asym - y_jk^asym))``.

  ``x = phi``, ``y = psi``; ``sym`` is the first ``D // 2`` features, ``asym`` the rest.
  """
  return _all_pairs(_paired_mrn)(sa_repr, g_repr)


#: Canonical energy names -> ``(sa_repr [B, D], g_repr [B, D]) -> logits [B, B]``.
ENERGY_FNS: dict[str, Callable[[Array, Array], Array]] = {
  "l2": l2_energy,
  "l2_sq": l2_sq_energy,
  "l1": l1_energy,
  "dot": dot_energy,
  "cosine": cosine_energy,
  "mrn": mrn_energy,
}

#: Canonical energy names -> paired form ``([..., D], [..., D]) -> [...]`` (diagonal only).
PAIRED_ENERGY_FNS: dict[str, Callable[[Array, Array], Array]] = {
  "l2": _paired_l2,
  "l2_sq": _paired_l2_sq,
  "l1": _paired_l1,
  "dot": _paired_dot,
  "cosine": _paired_cosine,
  "mrn": _paired_mrn,
}

#: JaxGCRL spellings. Note JaxGCRL's own ``l2`` is the *squared* distance; here ``l2`` is the
#: plain distance (JaxGCRL ``norm``) and the squared one is ``l2_sq``.
ENERGY_ALIASES: dict[str, str] = {"norm": "l2"}

# =============================================================================================
# Contrastive losses: logits [B, B] (positives on the diagonal) -> scalar.
# Pairwise losses (dp, ipo, sppo) average over the B * (B - 1) ordered pairs (i, j), j != i:
# positive logits[i, i] against negative logits[i, j] (same (s, a), other goal).
# =============================================================================================


def _off_diagonal(n: int) -> Array:
  return ~jnp.eye(n, dtype=bool)


def _mean_off_diagonal(x: Array) -> Array:
  n = x.shape[0]
  return jnp.sum(jnp.where(_off_diagonal(n), x, 0.0)) / (n * (n - 1))


def infonce_loss(logits: Array) -> Array:
  """Forward InfoNCE (softmax over goals): ``mean_i(logsumexp_j logits[i, j] - logits[i, i])``."""
  return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.diagonal(logits))


def infonce_backward_loss(logits: Array) -> Array:
  """Backward InfoNCE (softmax over state-actions): ``mean_j(logsumexp_i logits[i, j] - logits[j, j])``."""
  return jnp.mean(jax.nn.logsumexp(logits, axis=0) - jnp.diagonal(logits))


def symmetric_infonce_loss(logits: Array) -> Array:
  """``infonce + infonce_backward`` (the *sum*, as in JaxGCRL's ``sym_infonce``)."""
  return infonce_loss(logits) + infonce_backward_loss(logits)


def binary_loss(logits: Array) -> Array:
  """Binary NCE: sigmoid cross-entropy with labels ``I``, averaged over all ``B^2`` entries."""
  labels = jnp.eye(logits.shape[0], dtype=logits.dtype)
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))


def flatnce_loss(logits: Array) -> Array:
  """FlatNCE (Chen et al. 2021), rows.

  Per row ``i``: ``f_i = logsumexp_{j != i}(logits[i, j] - logits[i, i])`` and the loss is
  ``mean_i exp(f_i - stop_gradient(f_i))``. Its *value is always exactly 1*; its gradient is
  ``mean_i grad f_i``, i.e. the forward-InfoNCE gradient (``grad softplus(f_i) =
  sigmoid(f_i) grad f_i``) with each row re-weighted by ``1 / sigmoid(f_i)``, which keeps the
  gradient from vanishing once positives dominate. Track progress with the accuracy metrics.
  """
  n = logits.shape[0]
  rel = logits - jnp.diagonal(logits)[:, None]
  f = jax.nn.logsumexp(rel, axis=1, where=_off_diagonal(n))
  return jnp.mean(jnp.exp(f - jax.lax.stop_gradient(f)))


def flatnce_backward_loss(logits: Array) -> Array:
  """FlatNCE over columns: :func:`flatnce_loss` of ``logits.T``."""
  return flatnce_loss(logits.T)


def fb_loss(logits: Array) -> Array:
  """Forward-backward (Touati & Ollivier) Monte-Carlo measure loss with ``M = logits``.

  ``-mean_i M[i, i] + 0.5 * mean_{i != j} M[i, j]^2``: the self-supervised FB objective
  ``-E_{(s,a,g) ~ future}[F(s,a).B(g)] + 1/2 E_{(s,a) ~ rho, g ~ rho}[(F(s,a).B(g))^2]``
  estimated in-batch (without the TD/bootstrapped target), minimised by
  ``M = p(g | s, a) / p(g)``. Since that ratio is positive, pair it with an energy that can
  be positive (``dot``); with the distance energies (always ``<= 0``) the optimum is ``M = 0``.
  """
  return -jnp.mean(jnp.diagonal(logits)) + 0.5 * _mean_off_diagonal(jnp.square(logits))


def dp_loss(logits: Array) -> Array:
  """DPO-style pairwise logistic loss: ``mean_{i, j != i} -log sigmoid(logits[i, i] - logits[i, j])``."""
  margin = jnp.diagonal(logits)[:, None] - logits
  return _mean_off_diagonal(-jax.nn.log_sigmoid(margin))


#: IPO target margin ``1 / (2 * tau)`` with ``tau = 0.5``.
IPO_MARGIN = 1.0


def ipo_loss(logits: Array) -> Array:
  """IPO (Azar et al. 2023): ``mean_{i, j != i} (logits[i, i] - logits[i, j] - 1)^2``.

  The target margin is ``1 / (2 tau)`` with ``tau = 0.5`` (:data:`IPO_MARGIN`).
  """
  margin = jnp.diagonal(logits)[:, None] - logits
  return _mean_off_diagonal(jnp.square(margin - IPO_MARGIN))


def sppo_loss(logits: Array) -> Array:
  """SPPO-style squared targets: ``mean_{i, j != i} (logits[i, i] - 1/2)^2 + (logits[i, j] + 1/2)^2``.

  Self-Play Preference Optimisation (Wu et al. 2024) regresses the log-ratio of a response
  onto ``eta * (P(win) - 1/2)``; with ``eta = 1``, ``P(win) = 1`` for the positive and ``0`` for
  each negative, the targets are ``+1/2`` and ``-1/2``.
  """
  pos = jnp.square(jnp.diagonal(logits) - 0.5)[:, None]
  neg = jnp.square(logits + 0.5)
  return _mean_off_diagonal(pos + neg)


#: Canonical loss names -> ``logits [B, B] -> scalar``.
CONTRASTIVE_LOSSES: dict[str, Callable[[Array], Array]] = {
  "infonce": infonce_loss,
  "infonce_backward": infonce_backward_loss,
  "symmetric_infonce": symmetric_infonce_loss,
  "binary": binary_loss,
  "flatnce": flatnce_loss,
  "flatnce_backward": flatnce_backward_loss,
  "fb": fb_loss,
  "dp": dp_loss,
  "ipo": ipo_loss,
  "sppo": sppo_loss,
}

#: JaxGCRL spellings of the losses.
LOSS_ALIASES: dict[str, str] = {
  "fwd_infonce": "infonce",
  "bwd_infonce": "infonce_backward",
  "sym_infonce": "symmetric_infonce",
  "binary_nce": "binary",
  "dpo": "dp",
}


def logsumexp_penalty(logits: Array, coeff: float) -> Array:
  """``coeff * mean_i (logsumexp_j logits[i, j])^2``: pins the row normaliser near 0."""
  return coeff * jnp.mean(jnp.square(jax.nn.logsumexp(logits, axis=1)))


def _resolve(
  name: str, table: Mapping[str, Callable], aliases: Mapping[str, str], flag: str
) -> Callable:
  key = name.strip().lower().replace("-", "_") if isinstance(name, str) else name
  key = aliases.get(key, key)
  if key in table:
    return table[key]
  valid = sorted(table) + sorted(aliases)
  close = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.0)
  raise ValueError(
    f"Unknown {flag} value {name!r}: valid names are {', '.join(sorted(table))} "
    f"(aliases: {', '.join(f'{a}->{t}' for a, t in sorted(aliases.items()))}); "
    f"closest match: {close[0]!r}."
  )


def resolve_energy_fn(name: str) -> Callable[[Array, Array], Array]:
  """Energy function for a name or JaxGCRL alias; ValueError naming ``--energy_fn`` otherwise."""
  return _resolve(name, ENERGY_FNS, ENERGY_ALIASES, "--energy_fn")


def resolve_paired_energy_fn(name: str) -> Callable[[Array, Array], Array]:
  """Paired (diagonal-only) form of :func:`resolve_energy_fn`'s energy."""
  return _resolve(name, PAIRED_ENERGY_FNS, ENERGY_ALIASES, "--energy_fn")


def resolve_contrastive_loss(name: str) -> Callable[[Array], Array]:
  """Loss for a name or alias; ValueError naming ``--contrastive_loss_fn`` otherwise."""
  return _resolve(name, CONTRASTIVE_LOSSES, LOSS_ALIASES, "--contrastive_loss_fn")


def contrastive_metrics(logits: Array) -> Metrics:
  """Diagnostics of a ``[B, B]`` logit matrix (positives on the diagonal).

  * ``categorical_accuracy``: fraction of rows whose argmax is the diagonal.
  * ``binary_accuracy``: fraction of the ``B^2`` entries with ``(logits > 0) == I``. Energies
    that are never positive (``l2``, ``l2_sq``, ``l1``, ``mrn``) cap this at ``(B - 1) / B``.
  * ``logits_pos`` / ``logits_neg``: mean diagonal / mean off-diagonal logit.
  * ``logsumexp``: mean row log-sum-exp (what the penalty pushes towards 0).
  """
  n = logits.shape[0]
  eye = jnp.eye(n, dtype=bool)
  return {
    "categorical_accuracy": jnp.mean(jnp.argmax(logits, axis=1) == jnp.arange(n)),
    "binary_accuracy": jnp.mean((logits > 0) == eye),
    "logits_pos": jnp.mean(jnp.diagonal(logits)),
    "logits_neg": _mean_off_diagonal(logits),
    "logsumexp": jnp.mean(jax.nn.logsumexp(logits, axis=1)),
  }


# =============================================================================================
# The agent
# =============================================================================================


@dataclasses.dataclass(frozen=True)
class CRLConfig:
  """Hyper-parameters of CRL. Defaults follow JaxGCRL unless stated otherwise."""

  h_dim: int = 256
  """Hidden width of the actor and both encoders (JaxGCRL ``h_dim``)."""
  n_hidden: int = 2
  """Hidden depth of every network (JaxGCRL ``n_hidden``); a multiple of 4 when ``residual``."""
  repr_dim: int = 64
  """Width of ``phi(s, a)`` and ``psi(g)`` (JaxGCRL ``repr_dim``)."""
  use_layer_norm: bool = True
  """LayerNorm before every hidden activation, in all networks. JaxGCRL defaults to False. Ours
    is on: no measurable effect at depth 2, much faster learning at depth 8 (reacher, 4 seeds:
    0.94 vs 0.70 success); benchmarks/results/learning.md."""
  activation: str = "swish"
  """``"swish"`` or ``"relu"`` (JaxGCRL: swish unless ``use_relu``)."""
  residual: bool = False
  """Residual blocks of 4 layers (Wang et al. 2025); requires ``n_hidden % 4 == 0``."""
  energy_fn: str = "l2"
  """Critic energy, a key of :data:`ENERGY_FNS` or alias (JaxGCRL default ``norm`` = ``l2``)."""
  contrastive_loss_fn: str = "infonce_backward"
  """Critic loss, a key of :data:`CONTRASTIVE_LOSSES` or alias. JaxGCRL's code defaults to
    forward InfoNCE; we default to the backward form because its free normaliser ``c(g)``
    depends only on the goal, so it cannot bias the actor's choice of action, while forward
    InfoNCE's ``c(s, a)`` can (the logsumexp penalty only softly suppresses it)."""
  logsumexp_penalty_coeff: float = 0.1
  """Weight of :func:`logsumexp_penalty` in the critic loss (JaxGCRL default)."""
  critic_lr: float = 3e-4
  """Adam learning rate of both encoders (JaxGCRL default)."""
  actor_lr: float = 3e-4
  """Adam learning rate of the actor (JaxGCRL ``policy_lr``)."""
  alpha_lr: float = 3e-4
  """Adam learning rate of ``log_alpha`` (JaxGCRL default)."""
  target_entropy: float | None = None
  """SAC entropy target; ``None`` means ``-action_size`` (the SAC heuristic; JaxGCRL uses
    ``-0.5 * action_size``)."""
  initial_log_alpha: float = 0.0
  """Initial ``log(alpha)`` (alpha = 1, as in JaxGCRL and Brax SAC)."""
  disable_entropy_actor: bool = False
  """Drop the ``alpha * log pi`` term from the actor loss (JaxGCRL flag of the same name);
    alpha is still trained and logged."""
  log_std_min: float = networks.LOG_STD_MIN
  """Lower soft bound of the actor's log-std."""
  log_std_max: float = networks.LOG_STD_MAX
  """Upper soft bound of the actor's log-std."""


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
class CRL:
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
  paired_energy_fn = resolve_paired_energy_fn(config.energy_fn)
  contrastive_loss_fn = resolve_contrastive_loss(config.contrastive_loss_fn)
  networks.validate_depth(config.n_hidden, config.residual)
  if config.activation not in networks.ACTIVATIONS:
    raise ValueError(
      f"Unknown --activation value {config.activation!r}; valid names are "
      f"{', '.join(sorted(networks.ACTIVATIONS))}."
    )
  target_entropy = (
    -float(action_size) if config.target_entropy is None else float(config.target_entropy)
  )
  obs_size = state_size + goal_size

  trunk = dict(
    hidden_dim=config.h_dim,
    num_hidden=config.n_hidden,
    use_layer_norm=config.use_layer_norm,
    activation=config.activation,
    residual=config.residual,
  )
  actor = networks.TanhGaussianActor(
    action_dim=action_size,
    log_std_min=config.log_std_min,
    log_std_max=config.log_std_max,
    **trunk,
  )
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

  def critic_logits(critic_params: Params, state: Array, action: Array, goal: Array) -> Array:
    """``state [B, S], action [B, A], goal [B, G] -> logits [B, B]``."""
    return energy_fn(*encode(critic_params, state, action, goal))

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
    return loss, metrics

  def actor_loss(
    actor_params: Params, critic_params: Params, log_alpha: Array, batch: Batch, key: Array
  ) -> tuple[Array, Array]:
    state, goal = batch["state"], batch["goal"]
    obs = jnp.concatenate([state, goal], axis=-1)
    action, log_prob = networks.sample_action(actor_params, actor.apply, obs, key)
    critic_params = jax.lax.stop_gradient(critic_params)
    sa_repr, g_repr = encode(critic_params, state, action, goal)
    q = paired_energy_fn(sa_repr, g_repr)  # = diag(energy_fn(sa_repr, g_repr)), [B]
    alpha = 0.0 if config.disable_entropy_actor else jnp.exp(jax.lax.stop_gradient(log_alpha))
    return jnp.mean(alpha * log_prob - q), log_prob

  def alpha_loss(log_alpha: Array, log_prob: Array) -> Array:
    return -log_alpha * jnp.mean(jax.lax.stop_gradient(log_prob + target_entropy))

  def update(crl_state: CRLState, batch: Batch, key: Array) -> tuple[CRLState, Metrics]:
    # 1. Critic (contrastive) step.
    (_, critic_metrics), critic_grads = jax.value_and_grad(critic_loss, has_aux=True)(
      crl_state.critic_params, batch
    )
    critic_updates, critic_opt_state = critic_tx.update(
      critic_grads, crl_state.critic_opt_state, crl_state.critic_params
    )
    critic_params = optax.apply_updates(crl_state.critic_params, critic_updates)

    # 2. Actor step against the freshly updated critic.
    (actor_loss_value, log_prob), actor_grads = jax.value_and_grad(actor_loss, has_aux=True)(
      crl_state.actor_params, critic_params, crl_state.log_alpha, batch, key
    )
    actor_updates, actor_opt_state = actor_tx.update(
      actor_grads, crl_state.actor_opt_state, crl_state.actor_params
    )
    actor_params = optax.apply_updates(crl_state.actor_params, actor_updates)

    # 3. Temperature step, on the log-probs of the actor step's samples.
    alpha_loss_value, alpha_grad = jax.value_and_grad(alpha_loss)(crl_state.log_alpha, log_prob)
    alpha_updates, alpha_opt_state = alpha_tx.update(alpha_grad, crl_state.alpha_opt_state)
    log_alpha = optax.apply_updates(crl_state.log_alpha, alpha_updates)

    new_state = CRLState(
      actor_params=actor_params,
      critic_params=critic_params,
      log_alpha=log_alpha,
      actor_opt_state=actor_opt_state,
      critic_opt_state=critic_opt_state,
      alpha_opt_state=alpha_opt_state,
    )
    metrics = {
      **critic_metrics,
      "actor_loss": actor_loss_value,
      "alpha_loss": alpha_loss_value,
      "alpha": jnp.exp(log_alpha),
      "entropy": -jnp.mean(log_prob),
    }
    return new_state, metrics

  def act(
    actor_params: Params, obs: Array, key: Array, deterministic: bool | Array = False
  ) -> Array:
    """``obs [..., state_size + goal_size]`` (state first, then goal) -> ``action [..., action_size]``.

    ``deterministic`` may be a Python bool (branch chosen at trace time; with ``True`` the
    key is unused and may be ``None``) or a traced boolean (both actions are computed and
    selected with ``jnp.where``). Deterministic actions are ``tanh(mean)``.
    """
    if obs.shape[-1] != obs_size:
      raise ValueError(
        f"act expects obs [..., state_size + goal_size] = [..., {obs_size}] "
        f"(state first, then goal), got shape {obs.shape}."
      )
    if isinstance(deterministic, bool):
      if deterministic:
        return networks.deterministic_action(actor_params, actor.apply, obs)
      return networks.sample_action(actor_params, actor.apply, obs, key)[0]
    mean, log_std = actor.apply(actor_params, obs)
    noise = jax.random.normal(key, mean.shape, mean.dtype)
    pre_tanh = jnp.where(deterministic, mean, mean + jnp.exp(log_std) * noise)
    return jnp.tanh(pre_tanh)

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
  )
