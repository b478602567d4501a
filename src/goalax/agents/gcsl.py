"""Goal-conditioned supervised learning (GCSL): behaviour cloning of stored actions toward
hindsight goals of the same trajectory, online, on the off-policy loop's replay buffer.

References: Ghosh et al. 2021, "Learning to Reach Goals via Iterated Supervised Learning" (ICLR;
code: github.com/dibyaghosh/gcsl); Park et al. 2024, OGBench's GCBC (``impls/agents/gcbc.py``),
its offline form.

The algorithm, in one screen
----------------------------
A trajectory is a demonstration of how to reach every state it visited later. A batch holds
transitions ``(s_t, a_t)`` and, for each, a hindsight goal ``g``: the achieved goal of the state
``k >= 1`` steps later in the same trajectory, ``k`` uniform over the rest of the episode (the
paper's relabelling; the goal sampler, :mod:`goalax.replay.sampler`). The policy maximises the
likelihood of the action that was taken:

    loss = −mean_i log π(a_i | s_i, g_i)        (with --horizon: π(a_i | s_i, g_i, h(k_i)))

No critic, no reward, no bootstrapping. The loop then collects new episodes toward the env's
commanded goals with the current stochastic policy, stores them and repeats (the "iterated").

The policy and its likelihood
-----------------------------
The paper discretises each action dimension (3 bins) and fits a categorical. goalax's envs take
actions in [-1, 1]; here the policy is a diagonal Gaussian ``N(μ(s, g), σ(s, g)²)`` with a learned
σ (:class:`goalax.networks.GaussianActor`) whose sample is clipped to the bounds: a clipped
(censored) Gaussian. The loss is the exact log-likelihood of the action the env received under
that policy (:func:`clipped_gaussian_log_prob`): the Gaussian's density inside (−1, 1), and the
mass the clip puts on a bound, ``log Φ((μ − 1)/σ)`` at +1 and ``log Φ((−1 − μ)/σ)`` at −1. So
random prefill actions and the policy's own clipped samples are all scored as what was done,
also at a bound: a tanh-Gaussian would need ``atanh(±1) = ±∞`` (clipped to some arbitrary
value), and the density at a bound (OGBench's GCBC, a Gaussian with σ fixed at 1 scored by its
density, which is an MSE) pulls the mean back inside where the policy really saturated.

Exploration: the collecting policy samples ``clip(μ + σ ε, −1, 1)``. σ is fitted with the
likelihood, so it narrows where the relabelled data agree on an action and stays wide where they
do not (the paper's Algorithm 1 collects with the policy; its released code collects greedily
after 10k random steps). Evaluation and saved policies act with ``clip(μ, −1, 1)``.

Where goalax differs from the paper (defaults in :class:`GCSLConfig`)
----------------------------------------------------------------------
- Actions: the clipped Gaussian above instead of a discretised categorical.
- The state an episode ends in is a goal too (the buffer keeps ``next_state``), so every stored
  action is learned, the last of each episode included; the paper relabels within the stored
  states only, so it never learns an episode's last action.
- A row is drawn uniformly, then its ``k`` uniformly over that row's rest of the episode; the
  paper draws ``(t, t + k)`` pairs uniformly (more weight on early rows, which have more futures).
- Networks: the house trunk (``--h_dim`` × ``--n_hidden``, LayerNorm, swish) instead of 400×300
  ReLU; the loop's update-to-data ratio (``--env_steps_per_update``, 16 by default) instead of one
  gradient step per env step.
- ``--horizon H``: the paper's optional horizon input is the time left in the episode. A goalax
  policy acts on ``concat(state, goal)`` alone, so the input is ``min(k, H) / H`` in training and
  1 ("H steps or more") when acting.
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
from goalax.agents.base import Array, Batch, Metrics, NetworkConfig, Params
from goalax.agents.common import check_network_config, check_obs_size, optimizer_step
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.loops.checks import check_replay
from goalax.loops.settings import OffPolicyConfig
from goalax.replay.goals import GoalMix, GoalSampling


@dataclasses.dataclass(frozen=True)
class GCSLConfig(NetworkConfig, OffPolicyConfig):
  """Goal-conditioned supervised learning (GCSL). Defaults follow the paper unless stated."""

  SWEEPABLE = ("actor_lr", "discounting")
  RENAMED = {"goal_future": "her_future"}  # old flag -> current (goalax.config)

  actor_lr: float = 5e-4
  """Adam learning rate of the policy (the paper's; OGBench's GCBC uses 3e-4)."""
  her_future: Literal["uniform", "geometric"] = "uniform"
  """Law of a hindsight goal's offset k >= 1 over the R later states of the episode: uniform
  (the paper), or geometric truncated to them, P(k) ∝ discounting^(k−1) for k <= R (renormalised;
  OGBench's actor_geom_sample instead clips an untruncated geometric at the episode's last state,
  which takes the mass beyond it). The same flag as SAC's and TD3's; old spelling: --goal_future."""
  discounting: float = 0.99
  """The goal sampler's γ, not a TD discount (GCSL bootstraps nothing): the geometric offset
  law's, used with --her_future geometric only."""
  horizon: int = 0
  """Horizon input H: 0 (the paper's default) gives none; H >= 1 gives the policy min(k, H) / H
  for a goal k steps ahead in training and 1 ("H steps or more") when it acts."""
  exploration_temperature: float = 1.0
  """Scale of the policy's σ when collecting: 1 samples the policy itself (the paper's
  Algorithm 1), 0 acts greedily with clip(μ) (the paper's released code, after 10k random
  steps); evaluation always acts with clip(μ)."""
  log_std_min: float = networks.LOG_STD_MIN
  """Lower soft bound of the policy's log-std (the least exploration noise: e^-5 = 0.007)."""
  log_std_max: float = networks.LOG_STD_MAX
  """Upper soft bound of the policy's log-std."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_replay(self, num_envs)
    self.validate_network()
    require_positive(self, "actor_lr")
    require_in_unit_interval(self, "discounting")
    if self.her_future not in ("uniform", "geometric"):
      raise ConfigError(f"--her_future must be 'uniform' or 'geometric', got {self.her_future!r}.")
    if self.exploration_temperature < 0:
      raise ConfigError(
        f"--exploration_temperature must be >= 0 (0: greedy), got {self.exploration_temperature}."
      )
    if self.horizon < 0:
      raise ConfigError(
        f"--horizon must be 0 (no horizon input) or a number of steps >= 1, got {self.horizon}."
      )
    if not self.log_std_min < self.log_std_max:
      raise ConfigError(
        f"--log_std_min ({self.log_std_min}) must be below --log_std_max ({self.log_std_max})."
      )

  def goal_sampling(self) -> GoalSampling:
    """Every goal is a hindsight goal; the batch keeps ``next_state`` so the state an episode
    ends in is a goal too, and each goal's offset k with --horizon."""
    hindsight = GoalMix(p_future=1.0, future=self.her_future, discount=self.discounting)
    return GoalSampling(hindsight, td=True, offsets=self.horizon > 0)


@flax.struct.dataclass
class GCSLState:
  """Everything GCSL learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.GaussianActor`."""
  actor_opt_state: optax.OptState


def clipped_gaussian_log_prob(action: Array, mean: Array, log_std: Array) -> Array:
  """Log-probability of ``action`` under ``clip(N(mean, exp(log_std)²), −1, 1)``, per dimension
  a density inside (−1, 1) and a probability mass at each bound; ``[..., A]`` each -> ``[...]``.

  At ``+1``: ``log P(u >= 1) = log Φ((mean − 1) / std)``; at ``−1``: ``log Φ((−1 − mean) / std)``;
  in between: ``log N(action; mean, std²)``.
  """
  std = jnp.exp(log_std)
  inside = networks.gaussian_log_density(action, mean, log_std)
  at_upper = jax.scipy.special.log_ndtr((mean - 1.0) / std)
  at_lower = jax.scipy.special.log_ndtr((-1.0 - mean) / std)
  log_prob = jnp.where(action >= 1.0, at_upper, jnp.where(action <= -1.0, at_lower, inside))
  return jnp.sum(log_prob, axis=-1)


def behaviour_cloning_loss(mean: Array, log_std: Array, action: Array) -> tuple[Array, Metrics]:
  """GCSL's loss on a batch, ``mean, log_std, action [B, A]``: ``−mean_i log π(a_i | ·)`` under
  the clipped Gaussian, and metrics (``mse``: of the evaluation action ``clip(mean)``; ``std``)."""
  loss = -jnp.mean(clipped_gaussian_log_prob(action, mean, log_std))
  mse = jnp.mean(jnp.square(jnp.clip(mean, -1.0, 1.0) - action))
  return loss, {"actor_loss": loss, "mse": mse, "std": jnp.mean(jnp.exp(log_std))}


def horizon_input(offset: Array, horizon: int) -> Array:
  """``offset [...]`` int (k) -> ``[..., 1]``: ``min(k, horizon) / horizon``."""
  return (jnp.minimum(offset, horizon) / horizon).astype(jnp.float32)[..., None]


@dataclasses.dataclass(frozen=True)
class GCSL:
  """A GCSL agent as a bundle of pure functions (built by :func:`make_gcsl`); see
  :class:`goalax.agents.base.OffPolicyAgent`. ``distribution(actor_params, obs, offset=None)``
  gives the policy's ``(mean, log_std)`` (``offset``: the goal's k, with --horizon; None: when
  acting)."""

  config: GCSLConfig
  sampling: GoalSampling
  init: Callable[[Array], GCSLState]
  update: Callable[[GCSLState, Batch, Array], tuple[GCSLState, Metrics]]
  act: Callable[..., Array]
  distribution: Callable[..., tuple[Array, Array]]
  headline_metrics: tuple[str, ...] = ("actor_loss", "mse", "std")

  @staticmethod
  def policy_params(gcsl_state: GCSLState) -> Params:
    return gcsl_state.actor_params

  @staticmethod
  def saved_params(gcsl_state: GCSLState) -> dict[str, Params]:
    return {"actor_params": gcsl_state.actor_params}


def make_gcsl(config: GCSLConfig, state_size: int, goal_size: int, action_size: int) -> GCSL:
  """Build GCSL's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  horizon = config.horizon
  actor = networks.GaussianActor(
    action_dim=action_size,
    log_std_min=config.log_std_min,
    log_std_max=config.log_std_max,
    **config.trunk(),
  )
  tx = optax.adam(config.actor_lr)

  def distribution(actor_params: Params, obs: Array, offset: Array | None = None):
    """``obs [..., S+G]`` (and with --horizon the goal's ``offset [...]``, None when acting) ->
    ``(mean, log_std)``, each ``[..., A]``."""
    if horizon > 0:
      h = jnp.ones(obs.shape[:-1] + (1,), obs.dtype)
      if offset is not None:
        h = horizon_input(offset, horizon).astype(obs.dtype)
      obs = jnp.concatenate([obs, h], axis=-1)
    return actor.apply(actor_params, obs)

  def init(key: Array) -> GCSLState:
    actor_params = actor.init(key, jnp.zeros((1, obs_size + (horizon > 0))))
    return GCSLState(actor_params=actor_params, actor_opt_state=tx.init(actor_params))

  def loss(actor_params: Params, batch: Batch):
    obs = jnp.concatenate([batch["state"], batch["goal"]], axis=-1)
    offset = batch["goal_offset"] if horizon > 0 else None
    mean, log_std = distribution(actor_params, obs, offset)
    return behaviour_cloning_loss(mean, log_std, batch["action"])

  def update(gcsl_state: GCSLState, batch: Batch, key: Array) -> tuple[GCSLState, Metrics]:
    del key  # the loss is deterministic given the batch
    (_, metrics), grads = jax.value_and_grad(loss, has_aux=True)(gcsl_state.actor_params, batch)
    actor_params, actor_opt_state = optimizer_step(
      tx, gcsl_state.actor_params, gcsl_state.actor_opt_state, grads
    )
    return GCSLState(actor_params=actor_params, actor_opt_state=actor_opt_state), metrics

  def act(actor_params: Params, obs: Array, key: Array, deterministic: bool | Array = False):
    """``obs [..., S+G] -> action [..., A]``: ``clip(μ + τ σ ε)`` (τ: the exploration
    temperature), or ``clip(μ)`` when deterministic (a Python bool, with which the key may be
    None, or a traced one)."""
    check_obs_size(obs, obs_size)
    mean, log_std = distribution(actor_params, obs)
    if not (isinstance(deterministic, bool) and deterministic):
      std = config.exploration_temperature * jnp.exp(log_std)
      sample = mean + std * jax.random.normal(key, mean.shape, mean.dtype)
      mean = jnp.where(deterministic, mean, sample)
    return jnp.clip(mean, -1.0, 1.0)

  return GCSL(
    config=config,
    sampling=config.goal_sampling(),
    init=init,
    update=update,
    act=act,
    distribution=distribution,
  )
