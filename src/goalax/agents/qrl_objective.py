"""QRL's critic objective on latents (:mod:`goalax.agents.qrl`): the push on random pairs, the
local constraints with their Lagrange multipliers, and the latent dynamics loss.

The constraints, one multiplier each (:data:`CONSTRAINTS`, the order of ``lambda``):

- ``step``: the transitions' edges of cost 1, ``mean relu(d(phi(s), phi(s')) - 1)^2 <=
  epsilon^2``, the paper's constraint, on its own (the paper's ``LocalConstraintLoss``);
- ``goal``: goalax's edges of cost 0 from a state to the goal it achieves, ``mean
  d(phi(s'), psi(goal(s')))^2 <= epsilon^2`` (the paper's goals are whole states and need none).

Each has its own bound: were the two a single mean over both kinds of edges, the step edges alone
could reach ``2 epsilon^2`` while the goal edges sat at 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from goalax.agents.base import Array, Metrics

if TYPE_CHECKING:
  from goalax.agents.qrl import QRLConfig

#: The local constraints, in the order of the multipliers ``lambda [2]``.
CONSTRAINTS = ("step", "goal")


def push_loss(dist: Array, offset: Array | float, beta: Array | float) -> Array:
  """``mean softplus_beta(offset - dist)``, ``dist [B]``: minimising it pushes distances up, by a
  concave transform (``softplus_beta(x) = log(1 + exp(beta x)) / beta``): a pair far beyond
  ``offset`` is barely pushed."""
  return jnp.mean(jax.nn.softplus(beta * (offset - dist)) / beta)


def squared_deviations(dist_step: Array, dist_at_goal: Array, step_cost: float = 1.0) -> Array:
  """The constraints' mean squared overestimates, ``[2]`` in the order of :data:`CONSTRAINTS`:
  ``[mean relu(dist_step - step_cost)^2, mean dist_at_goal^2]``; ``dist_step [B]`` =
  ``d(phi(s), phi(s'))`` (cost ``step_cost``), ``dist_at_goal [B]`` = ``d(phi(s'),
  psi(goal(s')))`` (cost 0; distances are never negative)."""
  step = jnp.mean(jnp.square(jax.nn.relu(dist_step - step_cost)))
  return jnp.stack([step, jnp.mean(jnp.square(jax.nn.relu(dist_at_goal)))])


def dynamics_loss(dist_forward: Array, dist_backward: Array) -> Array:
  """``mean(d(model, phi(s'))^2 + d(phi(s'), model)^2) / 2``, both ``[B]`` (the paper's)."""
  return 0.5 * jnp.mean(jnp.square(dist_forward) + jnp.square(dist_backward))


def critic_objective(
  distance: Callable[[Array, Array], Array],
  z: Array,
  z_next: Array,
  w_next: Array,
  z_model: Array,
  lagrange: Array,
  config: QRLConfig,
) -> tuple[Array, Metrics]:
  """QRL's critic objective on latents: ``(loss, metrics)``.

  Args:
    distance: ``(x [..., D], y [..., D]) -> [...]``, the quasimetric.
    z: ``phi(s) [B, D]``; z_next: ``phi(s') [B, D]``; w_next: ``psi(goal(s')) [B, D]``;
    z_model: the latent dynamics' prediction of ``phi(s')``, ``[B, D]``.
    lagrange: ``lambda [2] > 0``, one multiplier per constraint (:data:`CONSTRAINTS`).

  ``loss = push + sum_c [sg(lambda_c) dev_c - lambda_c (sg(dev_c) - epsilon^2)] +
  dynamics_weight * dynamics``: its gradient in the critic's parameters is the Lagrangian's, and
  in ``lambda`` the dual ascent's (``lambda_c`` rises while its constraint is violated). Random
  pairs are ``(s_i, goal(s'_{i-1}))``: transitions of a batch are independent draws, so a
  neighbour's goal is a random goal.
  """
  dist_random = distance(z, jnp.roll(w_next, 1, axis=0))
  dist_step = distance(z, z_next)
  dist_at_goal = distance(z_next, w_next)
  push = push_loss(dist_random, config.push_offset, config.push_beta)
  deviation = squared_deviations(dist_step, dist_at_goal)  # [2]
  dynamics = dynamics_loss(distance(z_model, z_next), distance(z_next, z_model))
  violation = jax.lax.stop_gradient(deviation) - jnp.square(config.epsilon)
  penalty = jnp.sum(jax.lax.stop_gradient(lagrange) * deviation)
  loss = push + penalty + config.dynamics_weight * dynamics - jnp.sum(lagrange * violation)
  metrics = {
    "critic_loss": push + penalty,
    "push_loss": push,
    "dist_random": jnp.mean(dist_random),
    "dist_step": jnp.mean(dist_step),
    "dist_at_goal": jnp.mean(dist_at_goal),
    "sq_deviation": deviation[0],
    "sq_deviation_goal": deviation[1],
    "lagrange": lagrange[0],
    "lagrange_goal": lagrange[1],
    "dynamics_loss": dynamics,
  }
  return loss, metrics


def softplus_inverse(y: float) -> float:
  """``x`` with ``softplus(x) = y > 0``."""
  return y + math.log(-math.expm1(-y))
