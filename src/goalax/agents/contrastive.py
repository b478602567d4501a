"""Contrastive energies and losses: the pieces CRL (and TD-InfoNCE, QRL's MRN, ...) are made of.

An *energy* scores a state-action representation against a goal representation,
``(sa_repr [B, D], g_repr [B, D]) -> logits [B, B]`` with ``logits[i, j] = energy(phi_i, psi_j)``;
a *contrastive loss* turns that matrix (positives on the diagonal) into a scalar. Each has a name
in a registry (:data:`ENERGY_FNS`, :data:`CONTRASTIVE_LOSSES`) with JaxGCRL's spellings as
aliases, and ``resolve_*`` functions that turn a flag value into the function or a ValueError
naming the flag.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
Metrics = dict[str, Array]

# =============================================================================================
# Energy functions: (sa_repr [B, D], g_repr [B, D]) -> logits [B, B],
# logits[i, j] = energy(phi_i, psi_j). Larger means "g_j is more reachable from (s_i, a_i)".
# Each has a *paired* form ([..., D], [..., D]) -> [...] that broadcasts, which the actor uses
# to score only the diagonal (phi_i, psi_i) without forming a B x B matrix. The Euclidean
# energies form all B x B pairs with one matmul (|x|^2 + |y|^2 - 2 x.y) instead of a
# [B, B, D] difference tensor: at B = 256, D = 32-64 the energy and its gradient take 3-5x less
# time on CPU (benchmarks/results/README.md); values agree with the paired form to ~1e-6 |x|^2.


def _safe_sqrt(sq: Array) -> Array:
  """``sqrt`` with an exact value and a finite (zero) gradient at ``sq = 0``.

  ``sqrt`` has an infinite derivative at 0; the double ``where`` routes the zero case through
  a dummy argument so neither the value nor the gradient is polluted.
  """
  positive = sq > 0.0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _safe_norm(x: Array, axis: int = -1) -> Array:
  """Euclidean norm with an exact value and a finite (zero) gradient at ``x = 0``."""
  return _safe_sqrt(jnp.sum(jnp.square(x), axis=axis))


def _squared_distances(x: Array, y: Array) -> Array:
  """``||x_i - y_j||^2`` for all pairs, ``[B, D] x [B, D] -> [B, B]``, as
  ``|x_i|^2 + |y_j|^2 - 2 x_i.y_j`` (one matmul), clamped at 0 against rounding."""
  cross = jnp.einsum("id,jd->ij", x, y, precision=jax.lax.Precision.HIGHEST)
  sq = jnp.sum(jnp.square(x), axis=-1)[:, None] + jnp.sum(jnp.square(y), axis=-1)[None, :]
  return jnp.maximum(sq - 2.0 * cross, 0.0)


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
  return -_safe_sqrt(_squared_distances(sa_repr, g_repr))


def l2_sq_energy(sa_repr: Array, g_repr: Array) -> Array:
  """``logits[i, j] = -||phi_i - psi_j||_2^2`` (what JaxGCRL calls ``l2``)."""
  return -_squared_distances(sa_repr, g_repr)


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
  half = sa_repr.shape[-1] // 2
  sym = _safe_sqrt(_squared_distances(sa_repr[:, :half], g_repr[:, :half]))
  asym_diff = sa_repr[:, None, half:] - g_repr[None, :, half:]
  return -(sym + jnp.max(jax.nn.relu(asym_diff), axis=-1))


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
# Temperature: the critic's logits are ``energy / tau``. The unbounded energies need none
# (tau = 1: the encoders set the scale). The cosine lies in [-1, 1]: at tau = 1 a softmax over
# B = 256 goals gives the positive at most e / (e + 255 / e) = 0.028, and under InfoNCE plus the
# logsumexp penalty the critic collapses (every logit -1: phi = -psi for all pairs) and CRL
# learns nothing; at tau = 0.1 the bound is 1 - 4e-7 and it learns (benchmarks/results/
# learning.md). JaxGCRL's ``cosine`` divides by the norms of the whole batch instead of each row,
# which puts its logits near 1/B and collapses the same way.

#: ``tau`` of an energy when none is given; the others use 1.
DEFAULT_TEMPERATURES: dict[str, float] = {"cosine": 0.1}


def resolve_temperature(energy_name: str, temperature: float | None) -> float:
  """The logits' ``tau`` for an energy: ``temperature`` if given, else the energy's default
  (:data:`DEFAULT_TEMPERATURES`, 1 for the unbounded energies)."""
  if temperature is not None:
    return float(temperature)
  key = energy_name.strip().lower().replace("-", "_")
  return DEFAULT_TEMPERATURES.get(ENERGY_ALIASES.get(key, key), 1.0)


# =============================================================================================
# Contrastive losses: logits [B, B] (positives on the diagonal) -> scalar.
# Pairwise losses (dp, ipo, sppo) average over the B * (B - 1) ordered pairs (i, j), j != i:
# positive logits[i, i] against negative logits[i, j] (same (s, a), other goal).


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


def td_infonce_loss(
  logits: Array, next_logits: Array, discount: float | Array, terminated: Array | None = None
) -> tuple[Array, Metrics]:
  """TD InfoNCE (Zheng, Salakhutdinov & Eysenbach 2024): the temporal-difference form of
  forward InfoNCE, on one batch whose futures are the next states of its rows.

  ``logits [B, B]``: ``logits[i, j]`` scores the future ``f_j`` (the next state of row ``j``)
  for row ``i``, so the positives are on the diagonal. ``next_logits [B, B]``: the target
  critic's scores of the same futures from row ``i``'s next state and next action (no gradient
  flows into them). Per row ``i``:

  * one-step term (the next state is the future): ``CE_i = logsumexp_j logits[i, j] −
    logits[i, i]``;
  * bootstrapped term (a future after the next state): the other rows' next states ``j != i``
    are i.i.d. draws of the marginal, re-weighted by ``w[i, j] = softmax_{j != i}
    next_logits[i, j]``: ``BOOT_i = logsumexp_{j != i} logits[i, j] − Σ_{j != i} w[i, j]
    logits[i, j]`` (the cross-entropy of ``softmax_{j != i} logits[i]`` against ``w[i]``);
  * ``loss_i = (1 − γ) CE_i + γ BOOT_i``, and ``CE_i`` alone on a terminal row (its next state is
    absorbing: all later states are it; XLA then rounds other rows' sums a little differently).

  Returns ``(mean_i loss_i, metrics)``; metrics: ``one_step_loss``, ``bootstrapped_loss`` (means
  over rows, the latter over non-terminal rows) and ``weights_entropy`` (mean entropy of
  ``w[i]``; ``log(B − 1)`` when the target critic cannot tell futures apart). Needs ``B >= 2``.
  """
  n = logits.shape[0]
  others = _off_diagonal(n)
  one_step = jax.nn.logsumexp(logits, axis=1) - jnp.diagonal(logits)
  next_logits = jax.lax.stop_gradient(next_logits)
  next_norm = jax.nn.logsumexp(next_logits, axis=1, where=others, keepdims=True)
  log_weights = jnp.where(others, next_logits - next_norm, 0.0)
  weights = jnp.where(others, jnp.exp(log_weights), 0.0)
  bootstrapped = jax.nn.logsumexp(logits, axis=1, where=others) - jnp.sum(weights * logits, 1)
  bootstrap = jnp.ones((n,)) if terminated is None else 1.0 - terminated
  one_step_weight = jnp.where(bootstrap > 0, 1.0 - discount, 1.0)
  loss = jnp.mean(one_step_weight * one_step + discount * bootstrap * bootstrapped)
  metrics = {
    "one_step_loss": jnp.mean(one_step),
    "bootstrapped_loss": jnp.sum(bootstrap * bootstrapped) / jnp.maximum(jnp.sum(bootstrap), 1),
    "weights_entropy": -jnp.mean(jnp.sum(weights * log_weights, axis=1)),
  }
  return loss, metrics


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
