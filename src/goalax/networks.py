"""Neural networks for goal-conditioned RL: MLP trunks, encoders and a tanh-Gaussian actor.

Shape conventions used in the docstrings: ``B`` is the batch size (any number of leading
axes is accepted wherever ``[..., D]`` is written), ``D`` a feature width.

Layers
------
* :class:`Trunk` -- the trunk's fields (width, depth, LayerNorm, activation, residual),
  declared once and inherited by every network below.
* :class:`MLP` -- ``num_hidden`` hidden layers of ``Dense -> [LayerNorm] -> activation``
  followed by a linear output ``Dense``. With ``residual=True`` the hidden part becomes an
  input ``Dense -> [LayerNorm] -> activation`` layer and ``num_hidden // 4`` residual blocks,
  each made of 4 ``Dense -> [LayerNorm] -> activation`` layers with an identity skip around
  the block (the layout of Wang et al. 2025, "1000 Layer Networks for Self-Supervised RL").
* :class:`Encoder` -- an :class:`MLP` whose output is a ``repr_dim`` representation
  (``phi(s, a)`` or ``psi(g)`` in contrastive RL).
* :class:`TanhGaussianActor` -- an :class:`MLP` trunk producing the mean and log-std of a
  diagonal Gaussian whose samples are squashed by ``tanh`` into ``(-1, 1)``.
* :class:`GaussianActor` -- the same network, its Gaussian on the action itself (GCSL).

Actor helpers (pure functions, usable under ``jit``/``vmap``):
:func:`sample_action`, :func:`deterministic_action`, :func:`tanh_gaussian_log_prob`,
:func:`tanh_gaussian_entropy`, :func:`gaussian_log_density`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from goalax.layer_norm import LayerNorm

Array = jax.Array
Params = Any
ApplyFn = Callable[..., Any]

#: Activations accepted by :class:`MLP` (``activation=...``).
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
  "swish": nn.swish,
  "relu": nn.relu,
}

#: Number of ``Dense -> LayerNorm -> activation`` layers inside one residual block.
RESIDUAL_BLOCK_SIZE = 4

#: Default soft bounds of the actor's log standard deviation.
LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0

_LOG2 = math.log(2.0)


def validate_depth(num_hidden: int, residual: bool) -> None:
  """Check that ``num_hidden`` (the ``n_hidden`` flag) is a usable depth.

  Any ``num_hidden >= 0`` is valid without residual connections. With ``residual=True`` the
  hidden layers are grouped in blocks of :data:`RESIDUAL_BLOCK_SIZE`, so ``num_hidden`` must be
  a positive multiple of 4.

  Raises:
      ValueError: naming ``n_hidden`` and the nearest valid values.
  """
  if num_hidden < 0:
    raise ValueError(f"n_hidden must be >= 0, got n_hidden={num_hidden}.")
  if not residual:
    return
  k = RESIDUAL_BLOCK_SIZE
  if num_hidden >= k and num_hidden % k == 0:
    return
  lower = (num_hidden // k) * k
  if lower < k:
    nearest = f"{k}"
  else:
    nearest = f"{lower} or {lower + k}"
  raise ValueError(
    f"n_hidden={num_hidden} is invalid with residual=True: residual blocks hold {k} layers "
    f"each, so n_hidden must be a positive multiple of {k} (nearest valid values: {nearest})."
  )


class Trunk(nn.Module):
  """The fields of an :class:`MLP` trunk, declared once for every network here (the flags
  ``--h_dim``, ``--n_hidden``, ... of :class:`goalax.agents.base.NetworkConfig`).

  Attributes:
      hidden_dim: width of every hidden layer.
      num_hidden: number of hidden ``Dense`` layers. Without residual connections these are
          ``num_hidden`` plain layers (0 gives a single linear layer). With ``residual=True``
          it must be a multiple of 4: one input layer lifts the input to ``hidden_dim``, then
          ``num_hidden // 4`` blocks of 4 layers each, every block wrapped by ``x + block(x)``
          (so ``num_hidden + 1`` hidden ``Dense`` layers in total).
      use_layer_norm: apply ``LayerNorm`` between each hidden ``Dense`` and its activation.
      activation: ``"swish"`` or ``"relu"``.
      residual: use residual blocks (see above).
  """

  hidden_dim: int = 256
  num_hidden: int = 2
  use_layer_norm: bool = True
  activation: str = "swish"
  residual: bool = False

  def trunk_fields(self) -> dict[str, Any]:
    """These fields by name, to build an :class:`MLP` of the same trunk."""
    names = [f.name for f in dataclasses.fields(Trunk) if f.name not in ("parent", "name")]
    return {name: getattr(self, name) for name in names}  # flax adds parent and name

  def trunk_mlp(self, output_dim: int, **kwargs) -> MLP:
    """This network's :class:`MLP` to ``output_dim``; call inside its ``nn.compact`` method,
    which makes the MLP its submodule (named ``MLP_0``, ...)."""
    return MLP(output_dim=output_dim, **self.trunk_fields(), **kwargs)


class MLP(Trunk):
  """Multi-layer perceptron with optional LayerNorm and residual blocks (the fields of
  :class:`Trunk`, then these, by keyword).

  Attributes:
      output_dim: width of the final (linear, un-normalised) ``Dense``.
      kernel_init: initialiser of the hidden ``Dense`` kernels (LeCun uniform by default).
      output_kernel_init: initialiser of the output kernel (LeCun uniform by default; the
          actor passes a small-scale initialiser so that the initial policy is near
          ``mean = 0``).
  """

  _: dataclasses.KW_ONLY
  output_dim: int
  kernel_init: Callable[..., Array] = nn.initializers.lecun_uniform()
  output_kernel_init: Callable[..., Array] = nn.initializers.lecun_uniform()

  def __post_init__(self) -> None:
    validate_depth(self.num_hidden, self.residual)
    if self.activation not in ACTIVATIONS:
      raise ValueError(
        f"Unknown activation {self.activation!r}; valid names are {sorted(ACTIVATIONS)}."
      )
    super().__post_init__()

  def _hidden_layer(self, x: Array) -> Array:
    x = nn.Dense(self.hidden_dim, kernel_init=self.kernel_init)(x)
    if self.use_layer_norm:
      x = LayerNorm()(x)
    return ACTIVATIONS[self.activation](x)

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """Args: ``x: [..., in_dim]``. Returns: ``[..., output_dim]``."""
    if self.residual:
      x = self._hidden_layer(x)
      for _ in range(self.num_hidden // RESIDUAL_BLOCK_SIZE):
        skip = x
        for _ in range(RESIDUAL_BLOCK_SIZE):
          x = self._hidden_layer(x)
        x = x + skip
    else:
      for _ in range(self.num_hidden):
        x = self._hidden_layer(x)
    return nn.Dense(self.output_dim, kernel_init=self.output_kernel_init)(x)


#: Output initialiser of the actors: small, so the initial policy's mean is near 0.
SMALL_OUTPUT_INIT = nn.initializers.variance_scaling(1e-2, "fan_in", "uniform")


class Encoder(Trunk):
  """Representation encoder: an :class:`MLP` to ``repr_dim`` features.

  Used for ``phi(s, a)`` (input ``concat(state, action)``) and ``psi(g)`` (input ``goal``).

  Args of ``__call__``: ``x: [..., in_dim]``. Returns: ``[..., repr_dim]``.
  """

  _: dataclasses.KW_ONLY
  repr_dim: int

  @nn.compact
  def __call__(self, x: Array) -> Array:
    return self.trunk_mlp(self.repr_dim)(x)


class TanhGaussianActor(Trunk):
  """Goal-conditioned policy ``pi(a | s, g)``: a tanh-squashed diagonal Gaussian.

  ``__call__(obs)`` with ``obs: [..., obs_dim]`` returns ``(mean, log_std)``, both
  ``[..., action_dim]``; these parameterise the *pre-tanh* Gaussian. ``log_std`` is softly
  clipped to ``(log_std_min, log_std_max)`` by :func:`soft_clip`, which unlike a hard clip
  keeps a non-zero gradient everywhere. The output layer (which yields both heads) uses a
  small initialiser, so the initial policy has ``mean ~ 0`` and ``log_std ~ -0.13``
  (``std ~ 0.87``).
  """

  _: dataclasses.KW_ONLY
  action_dim: int
  log_std_min: float = LOG_STD_MIN
  log_std_max: float = LOG_STD_MAX

  @nn.compact
  def __call__(self, obs: Array) -> tuple[Array, Array]:
    out = self.trunk_mlp(2 * self.action_dim, output_kernel_init=SMALL_OUTPUT_INIT)(obs)
    mean, raw_log_std = jnp.split(out, 2, axis=-1)
    return mean, soft_clip(raw_log_std, self.log_std_min, self.log_std_max)


class GaussianActor(TanhGaussianActor):
  """Goal-conditioned policy ``pi(a | s, g)``: the network of :class:`TanhGaussianActor` (same
  parameters), its ``(mean, log_std)`` read as a diagonal Gaussian on the action itself, never
  squashed; samples are clipped to the action bounds (GCSL, :mod:`goalax.agents.gcsl`)."""


def soft_clip(x: Array, low: float, high: float) -> Array:
  """Smoothly clamp ``x`` into ``(low, high)``: ``low + softplus(high - softplus(high - x) - low)``.

  Exact range: ``(low, low + softplus(high - low))``, i.e. ``high`` up to ``log1p(exp(low - high))``
  (``< 1e-3`` for the default ``[-5, 2]``). Close to the identity well inside the interval, with a
  non-zero gradient everywhere (a hard ``clip`` would freeze a saturated log-std).
  """
  x = high - jax.nn.softplus(high - x)
  return low + jax.nn.softplus(x - low)


def log_one_minus_tanh_sq(x: Array) -> Array:
  """``log(1 - tanh(x)^2)`` computed stably as ``2 * (log 2 - x - softplus(-2x))``."""
  return 2.0 * (_LOG2 - x - jax.nn.softplus(-2.0 * x))


def gaussian_log_density(x: Array, mean: Array, log_std: Array) -> Array:
  """``log N(x; mean, exp(log_std)^2)`` element by element: ``[..., D]`` each -> ``[..., D]``."""
  z = (x - mean) * jnp.exp(-log_std)
  return -0.5 * jnp.square(z) - log_std - 0.5 * math.log(2.0 * math.pi)


def tanh_gaussian_log_prob(pre_tanh: Array, mean: Array, log_std: Array) -> Array:
  """Log-density of ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)`` (diagonal).

  Args:
      pre_tanh: ``u``, ``[..., action_dim]``.
      mean, log_std: ``[..., action_dim]``.

  Returns:
      ``[...]``: ``sum_k [log N(u_k; mean_k, std_k) - log(1 - tanh(u_k)^2)]``.
  """
  gaussian = gaussian_log_density(pre_tanh, mean, log_std)
  return jnp.sum(gaussian - log_one_minus_tanh_sq(pre_tanh), axis=-1)


def tanh_gaussian_entropy(mean: Array, log_std: Array, key: Array) -> Array:
  """One-sample estimate of the entropy of ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)``.

  ``H[a] = H[u] + E[log(1 - tanh(u)^2)]``: the Gaussian's entropy in closed form plus the
  log-Jacobian of the squashing at one reparameterised sample (Brax's ``NormalTanhDistribution``
  does the same). ``mean, log_std [..., action_dim]`` -> ``[...]``, differentiable in both.
  """
  gaussian = 0.5 + 0.5 * math.log(2.0 * math.pi) + log_std
  pre_tanh = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
  return jnp.sum(gaussian + log_one_minus_tanh_sq(pre_tanh), axis=-1)


def sample_action(params: Params, apply_fn: ApplyFn, obs: Array, key: Array) -> tuple[Array, Array]:
  """Sample from a tanh-Gaussian policy with the reparameterisation trick.

  Args:
      params: actor variables (as returned by ``TanhGaussianActor.init``).
      apply_fn: ``TanhGaussianActor(...).apply``.
      obs: ``[..., obs_dim]``.
      key: PRNG key.

  Returns:
      ``(action [..., action_dim] in (-1, 1), log_prob [...])``; both are differentiable
      with respect to ``params``.
  """
  mean, log_std = apply_fn(params, obs)
  noise = jax.random.normal(key, mean.shape, mean.dtype)
  pre_tanh = mean + jnp.exp(log_std) * noise
  return jnp.tanh(pre_tanh), tanh_gaussian_log_prob(pre_tanh, mean, log_std)


def deterministic_action(params: Params, apply_fn: ApplyFn, obs: Array) -> Array:
  """Mode-like action ``tanh(mean)``: ``obs [..., obs_dim] -> [..., action_dim]``."""
  mean, _ = apply_fn(params, obs)
  return jnp.tanh(mean)


def tanh_gaussian_act(
  params: Params, apply_fn: ApplyFn, obs: Array, key: Array, deterministic: bool | Array
) -> Array:
  """Action of a tanh-Gaussian policy: ``obs [..., obs_dim] -> action [..., action_dim]``.

  ``deterministic`` may be a Python bool (branch chosen at trace time; with ``True`` the key is
  unused and may be ``None``) or a traced boolean (both actions are computed and selected with
  ``jnp.where``). Deterministic actions are ``tanh(mean)``, stochastic ones a sample.
  """
  if isinstance(deterministic, bool):
    if deterministic:
      return deterministic_action(params, apply_fn, obs)
    return sample_action(params, apply_fn, obs, key)[0]
  mean, log_std = apply_fn(params, obs)
  noise = jax.random.normal(key, mean.shape, mean.dtype)
  pre_tanh = jnp.where(deterministic, mean, mean + jnp.exp(log_std) * noise)
  return jnp.tanh(pre_tanh)


class QEnsemble(Trunk):
  """``num_critics`` independent Q networks on ``concat(obs, action)``, evaluated as one batch.

  ``__call__(obs [..., obs_dim], action [..., action_dim])`` returns ``[num_critics, ...]``.
  Parameters carry a leading ``num_critics`` axis (``nn.vmap``), so twin critics cost one
  batched matmul per layer instead of two.
  """

  num_critics: int = 2

  @nn.compact
  def __call__(self, obs: Array, action: Array) -> Array:
    ensemble = nn.vmap(
      MLP,
      variable_axes={"params": 0},
      split_rngs={"params": True},
      in_axes=None,
      out_axes=0,
      axis_size=self.num_critics,
    )
    q = ensemble(output_dim=1, **self.trunk_fields())(jnp.concatenate([obs, action], axis=-1))
    return q[..., 0]


class DeterministicActor(Trunk):
  """Deterministic policy ``a = tanh(MLP(obs))`` in ``(-1, 1)`` (TD3). ``[..., obs_dim] ->
  [..., action_dim]``; the output layer starts small, so the initial policy is near 0."""

  _: dataclasses.KW_ONLY
  action_dim: int

  @nn.compact
  def __call__(self, obs: Array) -> Array:
    out = self.trunk_mlp(self.action_dim, output_kernel_init=SMALL_OUTPUT_INIT)(obs)
    return jnp.tanh(out)
