"""A LayerNorm with flax's function and parameters, cheaper on CPU: :func:`layer_norm` (a closed-form
gradient) and the module :class:`LayerNorm` that the networks of :mod:`goalax.networks` use."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

LAYER_NORM_EPSILON = 1e-6  # flax.linen.LayerNorm's default


def _feature_mean(x: Array) -> Array:
  """``x [..., D] -> [..., 1]``, the mean over features, as a matrix-vector product.

  On CPU XLA runs a dot on its matmul library (multi-threaded, vectorised) while a reduce over
  the minor axis becomes a loop fusion of its own; ``HIGHEST`` keeps full float32 where the
  default matmul precision is lower (TF32 on recent GPUs).
  """
  weights = jnp.full((x.shape[-1], 1), 1.0 / x.shape[-1], x.dtype)
  return jnp.matmul(x, weights, precision=jax.lax.Precision.HIGHEST)


def _leading_sum(x: Array) -> Array:
  """``x [..., D] -> [D]``: the sum over every axis but the last."""
  return jnp.sum(x, axis=tuple(range(x.ndim - 1)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def layer_norm(x: Array, scale: Array, bias: Array, epsilon: float = LAYER_NORM_EPSILON) -> Array:
  """``flax.linen.LayerNorm``'s function: ``(x − mean) / sqrt(var + ε) · scale + bias``.

  ``x [..., D]``, ``scale [D]``, ``bias [D]`` -> ``[..., D]``; ``var = mean(x²) − mean(x)²``
  (flax's fast variance, clamped at 0). Same values as flax up to float32 rounding, cheaper on
  CPU, where each elementwise pass over ``[B, D]`` is a single-threaded XLA loop of its own: both
  means come from one matrix product, and the gradient is the closed form
  ``dx = r·(g' − mean(g') − x̂·mean(g'·x̂))`` with ``g' = g·scale``, ``x̂ = (x − mean)·r`` and
  ``r = 1/sqrt(var + ε)`` (again both means in one product) instead of the reverse of every
  elementwise step of the forward pass. Per CRL update (batch 256, 256×2 networks) this cuts the
  LayerNorm's XLA ops from 112 to 68 (benchmarks/results/README.md, issue 13).
  """
  return _layer_norm_forward(x, scale, bias, epsilon)[0]


def _feature_means(*xs: Array) -> tuple[Array, ...]:
  """Feature means ``[..., 1]`` of several ``[..., D]`` arrays in one matrix product."""
  stacked = jnp.stack(xs, axis=-2)  # [..., k, D]
  means = _feature_mean(stacked)  # [..., k, 1]
  return tuple(means[..., i, :] for i in range(len(xs)))


def _layer_norm_forward(x, scale, bias, epsilon):
  mean, mean_sq = _feature_means(x, x * x)
  var = jnp.maximum(mean_sq - mean * mean, 0.0)
  inv_std = jax.lax.rsqrt(var + epsilon)
  normalized = (x - mean) * inv_std
  return normalized * scale + bias, (normalized, inv_std, scale)


def _layer_norm_backward(epsilon, residuals, g):
  del epsilon
  normalized, inv_std, scale = residuals
  g_scaled = g * scale
  mean_g, mean_g_normalized = _feature_means(g_scaled, g_scaled * normalized)
  dx = inv_std * (g_scaled - mean_g - normalized * mean_g_normalized)
  return dx, _leading_sum(g * normalized), _leading_sum(g)


layer_norm.defvjp(_layer_norm_forward, _layer_norm_backward)


class LayerNorm(nn.Module):
  """Drop-in for ``flax.linen.LayerNorm()`` (same name, parameters ``scale`` and ``bias``, same
  initial values, so saved parameters load unchanged) computed by :func:`layer_norm`.

  Args of ``__call__``: ``x: [..., D]``. Returns ``[..., D]``.
  """

  epsilon: float = LAYER_NORM_EPSILON

  @nn.compact
  def __call__(self, x: Array) -> Array:
    features = x.shape[-1]
    scale = self.param("scale", nn.initializers.ones, (features,))
    bias = self.param("bias", nn.initializers.zeros, (features,))
    return layer_norm(x, scale, bias, self.epsilon)
