"""Actor losses that learn from the data's own actions (OGBench's offline actors), shared by every
agent that offers them: GCIVL, GCIQL and HIQL, and CRL, QRL and TD InfoNCE with --actor_loss.

- **AWR** (advantage-weighted regression): ``−mean_i w_i log π(a_i | s_i, g_i)`` with
  ``w_i = min(exp(alpha · A_i), 100)`` held fixed (no gradient through the advantage): the
  likelihood of the stored actions, weighted toward those that did better than the value expects.
  ``alpha`` is the inverse temperature (OGBench: 10 for GCIVL, 3 for HIQL).
- **DDPG+BC**: ``−mean_i Q(s_i, π(s_i, g_i), g_i) / stop_grad(mean_i |Q| + 1e-6) − alpha ·
  mean_i log π(a_i | s_i, g_i)``: follow the critic's gradient at the policy's own action, on a
  scale-free Q (OGBench's normalisation), plus behaviour cloning with weight ``alpha`` (OGBench:
  0.3 GCIQL, 0.1 CRL, 0.003 QRL).

Both take the policy's log-likelihood of the stored actions, which each agent computes with its
own policy: :func:`goalax.agents.gcsl.clipped_gaussian_log_prob` for the Gaussian policies of
GCIVL, GCIQL and HIQL (as GCSL's), :func:`tanh_gaussian_data_log_prob` for the tanh-Gaussian
actors of CRL, QRL and TD InfoNCE. The act of a clipped-Gaussian policy is
:func:`gaussian_policy`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import jax
import jax.numpy as jnp

from goalax import networks
from goalax.agents.base import Array, Metrics, Params
from goalax.agents.common import check_obs_size
from goalax.errors import ConfigError
from goalax.helptext import default_is

if TYPE_CHECKING:
  from typing_extensions import Self

#: The largest AWR weight (OGBench's clip of ``exp(alpha · advantage)``).
MAX_AWR_WEIGHT = 100.0
#: How close to ±1 a stored action is taken before ``atanh`` (a tanh-Gaussian never reaches ±1).
TANH_EDGE = 1e-5


def awr_weights(advantage: Array, alpha: float | Array) -> Array:
  """``advantage [B] -> min(exp(alpha · advantage), 100) [B]``, without gradient."""
  advantage = jax.lax.stop_gradient(advantage)
  return jnp.minimum(jnp.exp(alpha * advantage), MAX_AWR_WEIGHT)


def awr_loss(log_prob: Array, advantage: Array, alpha: float | Array) -> tuple[Array, Metrics]:
  """AWR: ``log_prob [B]`` (of the stored actions, differentiable), ``advantage [B]`` ->
  ``(−mean(w · log_prob), {actor_loss, adv, awr_weight, bc_log_prob})``."""
  weights = awr_weights(advantage, alpha)
  loss = -jnp.mean(weights * log_prob)
  return loss, {
    "actor_loss": loss,
    "adv": jnp.mean(advantage),
    "awr_weight": jnp.mean(weights),
    "bc_log_prob": jnp.mean(log_prob),
  }


def ddpgbc_loss(q: Array, log_prob: Array, alpha: float | Array) -> tuple[Array, Metrics]:
  """DDPG+BC: ``q [B]`` (the critic at the policy's action, differentiable in the policy),
  ``log_prob [B]`` (of the stored actions) -> ``(−mean(q) / stop_grad(mean|q| + 1e-6) − alpha ·
  mean(log_prob), {actor_loss, q_loss, bc_loss, q_mean, bc_log_prob})``."""
  q_loss = -jnp.mean(q) / jax.lax.stop_gradient(jnp.mean(jnp.abs(q)) + 1e-6)
  bc_loss = -alpha * jnp.mean(log_prob)
  loss = q_loss + bc_loss
  return loss, {
    "actor_loss": loss,
    "q_loss": q_loss,
    "bc_loss": bc_loss,
    "q_mean": jnp.mean(q),
    "bc_log_prob": jnp.mean(log_prob),
  }


def tanh_gaussian_data_log_prob(mean: Array, log_std: Array, action: Array) -> Array:
  """Log-density of stored actions under a tanh-Gaussian policy: ``mean, log_std, action
  [B, A] -> [B]``, the action taken to ``atanh(clip(a, −1 + 1e-5, 1 − 1e-5))`` (a stored action
  at a bound, e.g. a clipped exploration action, counts as one just inside it)."""
  pre_tanh = jnp.arctanh(jnp.clip(action, -1.0 + TANH_EDGE, 1.0 - TANH_EDGE))
  return networks.tanh_gaussian_log_prob(pre_tanh, mean, log_std)


def gaussian_policy(actor_apply: networks.ApplyFn, obs_size: int) -> Callable[..., Array]:
  """The ``act`` of a clipped-Gaussian policy (:class:`goalax.networks.GaussianActor`, as GCSL's):
  ``(actor_params, obs [..., obs_size], key, deterministic=False) -> action [..., A]``,
  ``clip(μ + σ ε, −1, 1)`` or ``clip(μ, −1, 1)`` when deterministic (a Python bool, with which
  the key may be None, or a traced one)."""

  def act(actor_params: Params, obs: Array, key: Array, deterministic: bool | Array = False):
    check_obs_size(obs, obs_size)
    return sample_clipped(actor_apply(actor_params, obs), key, deterministic)

  return act


def sample_clipped(mean_log_std: tuple[Array, Array], key: Array, deterministic: bool | Array):
  """``(mean, log_std) [..., A] -> clip(mean + exp(log_std) ε, −1, 1)``, or ``clip(mean)`` when
  deterministic (see :func:`gaussian_policy`)."""
  mean, log_std = mean_log_std
  if not (isinstance(deterministic, bool) and deterministic):
    sample = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    mean = jnp.where(deterministic, mean, sample)
  return jnp.clip(mean, -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class ActorLossConfig:
  """``--actor_loss`` of the agents whose online actor maximises their critic with an entropy
  bonus (CRL, QRL, TD InfoNCE): that actor, or one of OGBench's offline actors above. Each agent
  names its offline default (``OFFLINE_ACTOR_LOSS``, ``OFFLINE_ACTOR_ALPHA``, OGBench's) and the
  losses it offers (``ACTOR_LOSSES``)."""

  OFFLINE_ACTOR_LOSS: ClassVar[str] = "ddpgbc"
  OFFLINE_ACTOR_ALPHA: ClassVar[float] = 0.1
  ACTOR_LOSSES: ClassVar[tuple[str, ...]] = ("auto", "maxent", "ddpgbc")

  actor_loss: Literal["auto", "maxent", "awr", "ddpgbc"] = "auto"
  """Actor loss: maxent (the online actor: maximise the critic at a sampled action plus the
  entropy bonus), ddpgbc (the critic at the policy's mean action, normalised, plus behaviour
  cloning of the stored actions) or awr (the stored actions' likelihood weighted by
  exp(actor_alpha · advantage); QRL only). auto: maxent online; with a dataset (the offline
  loop, the config's offline()) OGBench's choice, ddpgbc."""
  actor_alpha: Annotated[
    float | None, default_is("OGBench's: CRL 0.1, QRL 0.003, TD InfoNCE 0.1")
  ] = None
  """Coefficient of --actor_loss ddpgbc (the behaviour-cloning weight) or awr (the inverse
  temperature); unused by maxent."""

  @property
  def actor_mode(self) -> str:
    """The actor loss used: ``actor_loss``, ``auto`` read as ``maxent`` (the online actor)."""
    return "maxent" if self.actor_loss == "auto" else self.actor_loss

  @property
  def actor_coef(self) -> float:
    """``actor_alpha``, or the agent's offline default."""
    return self.OFFLINE_ACTOR_ALPHA if self.actor_alpha is None else self.actor_alpha

  def offline(self) -> Self:
    """This config with the offline defaults resolved: ``auto`` becomes OGBench's offline actor
    loss (``OFFLINE_ACTOR_LOSS``) and an unset ``actor_alpha`` its coefficient."""
    loss = self.OFFLINE_ACTOR_LOSS if self.actor_loss == "auto" else self.actor_loss
    return dataclasses.replace(self, actor_loss=loss, actor_alpha=self.actor_coef)

  def validate_actor_loss(self) -> None:
    """Raises ConfigError, one sentence, for a loss this agent does not offer or a bad alpha."""
    if self.actor_loss not in self.ACTOR_LOSSES:
      raise ConfigError(
        f"--actor_loss must be one of {', '.join(self.ACTOR_LOSSES)} for this agent, got "
        f"{self.actor_loss!r}"
        + (" (awr needs a state value V(s, g); it has none)." if self.actor_loss == "awr" else ".")
      )
    if self.actor_alpha is not None and not self.actor_alpha > 0:
      raise ConfigError(f"--actor_alpha must be positive, got {self.actor_alpha}.")
