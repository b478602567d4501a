"""Proximal policy optimisation (PPO) for goals: a tanh-Gaussian policy and a value network on
``obs = concat(state, goal)``, trained on whole rollouts of the on-policy loop.

References: Schulman et al. 2017, "Proximal Policy Optimization Algorithms"; Schulman et al.
2016, "High-Dimensional Continuous Control Using Generalized Advantage Estimation"; Brax PPO
(``brax.training.agents.ppo``) and JaxGCRL's PPO (``jaxgcrl/agents/ppo``, built on Brax's),
whose defaults :class:`PPOConfig` starts from.

The policy is a tanh-Gaussian (as in Brax PPO and JaxGCRL), not a clipped Gaussian: every goalax
env takes actions in [-1, 1], and the tanh keeps each sample inside, so the probability ratio
scores exactly the action the env received. A clipped Gaussian sends ``clip(a)`` but scores
``a``: past the bounds many samples act alike yet count as different, and the entropy bonus
keeps pushing the spread out there. The log-probability is taken of the stored pre-tanh sample
(``raw_action``), never ``atanh`` of a saturated action. Evaluation and saved policies act with
``tanh(mean)``, like goalax's other agents.

The algorithm, in one screen
----------------------------
The on-policy loop (:mod:`goalax.loops.on_policy`) collects a rollout ``[T, N]`` with
:func:`explore` (action, its log-probability and the value of the observation) and calls
``update`` on it:

1. **Advantages**, GAE(λ) (:func:`generalized_advantages`):
   ``δ_t = r_t + γ (1 − terminated_t) V(next_obs_t) − V(obs_t)``,
   ``A_t = δ_t + γ λ (1 − done_t) A_{t+1}``, returns ``R_t = A_t + V(obs_t)``. ``next_obs_t`` is
   the true next observation: at a time-limit end the observation the episode ended in, so the
   return bootstraps from its value; at a termination nothing follows. Every value is that of
   the networks that collected the rollout. (Brax PPO, by default, instead drops the advantage
   of the truncated step, as its rollout does not keep the last observation.)
2. **Observation statistics** (``--normalize_observations``): the running mean and variance
   take in the rollout's observations, then normalise every network input (Brax's
   ``running_statistics``, updated at the same point as in Brax PPO).
3. **Gradient steps**: ``num_updates_per_batch`` passes, each over a fresh random split of the
   rollout into ``num_minibatches`` minibatches of single transitions. Per minibatch, with the
   advantages normalised to mean 0 and std 1 (``--normalize_advantage``):
   ``loss = −mean(min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)) + c_v · value_loss − c_e · entropy``,
   ``ρ = π(a | s) / π_old(a | s)`` (:func:`clipped_surrogate_loss`, :func:`value_loss`), then one
   Adam step on both networks after clipping the global gradient norm (``--max_grad_norm``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated

import flax
import jax
import jax.numpy as jnp
import optax
from brax.training.acme import running_statistics

from goalax import networks
from goalax.agents.base import Array, Metrics, NetworkConfig, Params
from goalax.agents.common import check_network_config, check_obs_size, optimizer_step
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.helptext import default_is
from goalax.loops.checks import check_rollout
from goalax.loops.settings import OnPolicyConfig

Rollout = Mapping[str, Array]


@dataclasses.dataclass(frozen=True)
class PPOConfig(NetworkConfig, OnPolicyConfig):
  """Proximal policy optimisation (PPO), on-policy. Defaults follow Brax PPO and JaxGCRL's PPO
  unless stated otherwise."""

  use_layer_norm: bool = True
  """LayerNorm before every hidden activation of both networks. Brax PPO and JaxGCRL have none;
  goalax's is on, as for its other agents: without it the value network diverged on reacher
  with the sparse reward and γ 0.99 (mean value 1e5 after 200k env steps where returns are at
  most 100; with it the value stays near 5; benchmarks/results/agents.md)."""
  learning_rate: float = 3e-4
  """Adam learning rate of both networks. Brax PPO and JaxGCRL: 1e-4; goalax: 3e-4, the PPO
  paper's MuJoCo setting and goalax's other agents' (every PPO run measured in benchmarks/ used
  it; 1e-4 was not compared)."""
  discounting: float = 0.99
  """Discount γ of the returns and of GAE's TD errors. Brax PPO and JaxGCRL: 0.9; goalax: 0.99, because a sparse goal reward must reach
  back over tens to hundreds of steps (with γ = 0.9 a goal 50 steps away is worth 0.005). With
  --dense_reward a shorter horizon does better: on reacher, γ 0.95 with --entropy_cost 1e-3 ended
  600k env steps at a final distance of 0.05, γ 0.99 with 1e-4 at 0.13 (one seed each;
  benchmarks/results/agents.md)."""
  gae_lambda: float = 0.95
  """λ of GAE: 0 is the one-step TD advantage, 1 the Monte Carlo return."""
  clipping_epsilon: float = 0.3
  """ε of the clipped surrogate: the probability ratio is clipped to [1 − ε, 1 + ε]."""
  clipping_epsilon_value: Annotated[float | None, default_is("no value clipping")] = None
  """Clip the value loss too: a new value more than this from the rollout's value counts at the
  clipped distance when that is worse (PPO2's value clipping)."""
  entropy_cost: float = 1e-4
  """Weight of the entropy bonus (the tanh-Gaussian's entropy, estimated with one sample)."""
  vf_loss_coefficient: float = 0.5
  """Weight of the value loss ``0.5 · mean((R − V)²)`` in the total loss."""
  normalize_advantage: bool = True
  """Normalise the advantages of each minibatch to mean 0 and standard deviation 1."""
  normalize_observations: bool = False
  """Normalise every network input by the running mean and standard deviation of the observations
  seen so far (off by default, as in Brax PPO and JaxGCRL)."""
  reward_scaling: float = 1.0
  """Multiplies every reward before the advantages are computed."""
  max_grad_norm: float | None = 0.5
  """Clip the gradient of both networks together to this global norm before each Adam step; None:
  no clipping. Brax PPO and JaxGCRL: None; goalax: 0.5, the value of the PPO implementations of
  OpenAI Baselines, Stable-Baselines3 and CleanRL (a guard against one large step on a minibatch
  of rare sparse rewards; not ablated here)."""

  def validate(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    check_rollout(self, num_envs)
    self.validate_network()
    require_positive(self, "learning_rate", "clipping_epsilon", "vf_loss_coefficient")
    require_positive(self, "reward_scaling")
    require_in_unit_interval(self, "discounting")
    require_in_unit_interval(self, "gae_lambda", include_zero=True)
    for flag in ("clipping_epsilon_value", "max_grad_norm"):
      if getattr(self, flag) is not None:
        require_positive(self, flag)
    if self.entropy_cost < 0:
      raise ConfigError(f"--entropy_cost must be 0 or positive, got {self.entropy_cost}.")


# ---- the pure pieces ------------------------------------------------------------------------
def generalized_advantages(
  rewards: Array,
  values: Array,
  next_values: Array,
  terminated: Array,
  truncated: Array,
  discount: float,
  gae_lambda: float,
) -> tuple[Array, Array]:
  """GAE(λ) over a rollout, time first: every input ``[T, ...]``; returns ``(advantages,
  returns)``, both ``[T, ...]``, with ``returns = advantages + values``.

  ``next_values[t]`` is the value of the true observation after step ``t`` (at an episode's end,
  the one it ended in). A termination stops the bootstrap (``δ_t = r_t − V_t``); a truncation
  bootstraps from ``next_values[t]``; either ends the sum of later δ's, which belong to the next
  episode. The last step bootstraps from its ``next_values``.
  """
  deltas = rewards + discount * (1.0 - terminated) * next_values - values
  carry_on = discount * gae_lambda * (1.0 - jnp.maximum(terminated, truncated))

  def backward(later_advantage, step):
    delta, keep = step
    advantage = delta + keep * later_advantage
    return advantage, advantage

  _, advantages = jax.lax.scan(
    backward, jnp.zeros_like(values[0]), (deltas, carry_on), reverse=True
  )
  return advantages, advantages + values


def clipped_surrogate_loss(
  log_prob: Array, old_log_prob: Array, advantages: Array, clipping_epsilon: float
) -> tuple[Array, Array]:
  """PPO's clipped surrogate: ``(−mean(min(ρ A, clip(ρ, 1 − ε, 1 + ε) A)), fraction clipped)``
  with ``ρ = exp(log_prob − old_log_prob)``; all inputs ``[B]``."""
  ratio = jnp.exp(log_prob - old_log_prob)
  clipped = jnp.clip(ratio, 1.0 - clipping_epsilon, 1.0 + clipping_epsilon)
  loss = -jnp.mean(jnp.minimum(ratio * advantages, clipped * advantages))
  return loss, jnp.mean((jnp.abs(ratio - 1.0) > clipping_epsilon).astype(jnp.float32))


def value_loss(
  values: Array, returns: Array, old_values: Array, clipping_epsilon_value: float | None = None
) -> Array:
  """``0.5 · mean((R − V)²)``; with ``clipping_epsilon_value`` c, each term is the larger of that
  and ``(R − (V_old + clip(V − V_old, −c, c)))²``. All inputs ``[B]``."""
  error = jnp.square(returns - values)
  if clipping_epsilon_value is not None:
    moved = jnp.clip(values - old_values, -clipping_epsilon_value, clipping_epsilon_value)
    error = jnp.maximum(error, jnp.square(returns - (old_values + moved)))
  return 0.5 * jnp.mean(error)


def normalized(advantages: Array) -> Array:
  """``(A − mean(A)) / (std(A) + 1e-8)``."""
  return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


def shuffled_minibatches(data: Rollout, key: Array, num_minibatches: int) -> Rollout:
  """``{name: [B, ...]}`` -> ``{name: [num_minibatches, B // num_minibatches, ...]}``, the rows
  in a random order; the ``B mod num_minibatches`` rows left over are left out."""
  size = next(iter(data.values())).shape[0]
  per_minibatch = size // num_minibatches
  rows = jax.random.permutation(key, size)[: num_minibatches * per_minibatch]
  rows = rows.reshape(num_minibatches, per_minibatch)
  return {name: x[rows] for name, x in data.items()}


# ---- the agent ------------------------------------------------------------------------------
@flax.struct.dataclass
class PPOState:
  """Everything PPO learns; a pytree (vmapped over seeds, checkpointed whole)."""

  actor_params: Params
  """Variables of :class:`goalax.networks.TanhGaussianActor`."""
  critic_params: Params
  """Variables of the value network, an :class:`goalax.networks.MLP` with one output."""
  obs_stats: running_statistics.RunningStatisticsState
  """Running mean and standard deviation of the observations (unused unless
  ``--normalize_observations``)."""
  opt_state: optax.OptState
  """Adam's state over ``(actor_params, critic_params)``."""


@dataclasses.dataclass(frozen=True)
class PPO:
  """A PPO agent as a bundle of pure functions (built by :func:`make_ppo`); see
  :class:`goalax.agents.base.OnPolicyAgent`. ``value(state, obs [..., S+G]) -> [...]``."""

  config: PPOConfig
  init: Callable[[Array], PPOState]
  explore: Callable[[PPOState, Array, Array], tuple[Array, dict[str, Array]]]
  update: Callable[[PPOState, Rollout, Array], tuple[PPOState, Metrics]]
  act: Callable[..., Array]
  value: Callable[[PPOState, Array], Array]
  headline_metrics: tuple[str, ...] = ("value_loss", "entropy", "approx_kl")

  @staticmethod
  def policy_params(ppo_state: PPOState) -> dict[str, Params]:
    """What ``act`` needs: the actor and the observation statistics it normalises with."""
    stats = ppo_state.obs_stats
    return {"actor_params": ppo_state.actor_params, "obs_mean": stats.mean, "obs_std": stats.std}

  @staticmethod
  def saved_params(ppo_state: PPOState) -> dict[str, Params]:
    return {**PPO.policy_params(ppo_state), "critic_params": ppo_state.critic_params}


def make_ppo(config: PPOConfig, state_size: int, goal_size: int, action_size: int) -> PPO:
  """Build PPO's pure functions for the given problem sizes."""
  check_network_config(config)
  obs_size = state_size + goal_size
  actor = networks.TanhGaussianActor(action_dim=action_size, **config.trunk())
  critic = networks.MLP(output_dim=1, **config.trunk())
  clip = [optax.clip_by_global_norm(config.max_grad_norm)] if config.max_grad_norm else []
  tx = optax.chain(*clip, optax.adam(config.learning_rate))

  def normalize(obs: Array, mean: Array, std: Array) -> Array:
    if not config.normalize_observations:
      return obs
    return running_statistics.normalize(obs, running_statistics.NestedMeanStd(mean, std))

  def init(key: Array) -> PPOState:
    actor_key, critic_key = jax.random.split(key)
    actor_params = actor.init(actor_key, jnp.zeros((1, obs_size)))
    critic_params = critic.init(critic_key, jnp.zeros((1, obs_size)))
    return PPOState(
      actor_params=actor_params,
      critic_params=critic_params,
      obs_stats=running_statistics.init_state(jnp.zeros((obs_size,), jnp.float32)),
      opt_state=tx.init((actor_params, critic_params)),
    )

  def value_of(critic_params: Params, obs: Array, stats) -> Array:
    return critic.apply(critic_params, normalize(obs, stats.mean, stats.std))[..., 0]

  def value(ppo_state: PPOState, obs: Array) -> Array:
    """``obs [..., S+G] -> V [...]``."""
    return value_of(ppo_state.critic_params, obs, ppo_state.obs_stats)

  def explore(ppo_state: PPOState, obs: Array, key: Array) -> tuple[Array, dict[str, Array]]:
    """``obs [N, S+G] -> (action [N, A], {raw_action [N, A], log_prob [N], value [N]})``."""
    stats = ppo_state.obs_stats
    x = normalize(obs, stats.mean, stats.std)
    mean, log_std = actor.apply(ppo_state.actor_params, x)
    raw_action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
    extras = dict(
      raw_action=raw_action,
      log_prob=networks.tanh_gaussian_log_prob(raw_action, mean, log_std),
      value=critic.apply(ppo_state.critic_params, x)[..., 0],
    )
    return jnp.tanh(raw_action), extras

  def loss(params, stats, minibatch: Rollout, key: Array):
    actor_params, critic_params = params
    x = normalize(minibatch["obs"], stats.mean, stats.std)
    mean, log_std = actor.apply(actor_params, x)
    log_prob = networks.tanh_gaussian_log_prob(minibatch["raw_action"], mean, log_std)
    advantages = minibatch["advantage"]
    if config.normalize_advantage:
      advantages = normalized(advantages)
    policy_loss, clip_fraction = clipped_surrogate_loss(
      log_prob, minibatch["log_prob"], advantages, config.clipping_epsilon
    )
    values = critic.apply(critic_params, x)[..., 0]
    v_loss = value_loss(
      values, minibatch["return"], minibatch["value"], config.clipping_epsilon_value
    )
    entropy = jnp.mean(networks.tanh_gaussian_entropy(mean, log_std, key))
    total = policy_loss + config.vf_loss_coefficient * v_loss - config.entropy_cost * entropy
    log_ratio = log_prob - minibatch["log_prob"]
    metrics = {
      "policy_loss": policy_loss,
      "value_loss": v_loss,
      "entropy": entropy,
      "approx_kl": jnp.mean(jnp.expm1(log_ratio) - log_ratio),  # Schulman's k3 estimator
      "clip_fraction": clip_fraction,
      "total_loss": total,
    }
    return total, metrics

  def update(ppo_state: PPOState, rollout: Rollout, key: Array) -> tuple[PPOState, Metrics]:
    """Every gradient step of one rollout (leaves ``[T, N, ...]``, see the module docstring)."""
    stats = ppo_state.obs_stats
    next_values = value_of(ppo_state.critic_params, rollout["next_obs"], stats)
    advantages, returns = generalized_advantages(
      rollout["reward"] * config.reward_scaling,
      rollout["value"],
      next_values,
      rollout["terminated"],
      rollout["truncated"],
      config.discounting,
      config.gae_lambda,
    )
    if config.normalize_observations:
      stats = running_statistics.update(stats, rollout["obs"])
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # [T, N, ...] -> [T·N, ...]
    data = {
      "obs": flat(rollout["obs"]),
      "raw_action": flat(rollout["raw_action"]),
      "log_prob": flat(rollout["log_prob"]),
      "value": flat(rollout["value"]),
      "advantage": flat(advantages),
      "return": flat(returns),
    }

    def minibatch_step(carry, inputs):
      params, opt_state = carry
      minibatch, step_key = inputs
      grads, metrics = jax.grad(loss, has_aux=True)(params, stats, minibatch, step_key)
      params, opt_state = optimizer_step(tx, params, opt_state, grads)
      return (params, opt_state), metrics

    def one_pass(carry, pass_key):
      order_key, steps_key = jax.random.split(pass_key)
      minibatches = shuffled_minibatches(data, order_key, config.num_minibatches)
      step_keys = jax.random.split(steps_key, config.num_minibatches)
      return jax.lax.scan(minibatch_step, carry, (minibatches, step_keys))

    params = (ppo_state.actor_params, ppo_state.critic_params)
    (params, opt_state), metrics = jax.lax.scan(
      one_pass,
      (params, ppo_state.opt_state),
      jax.random.split(key, config.num_updates_per_batch),
    )
    metrics = jax.tree.map(jnp.mean, metrics)
    metrics.update(
      value=jnp.mean(rollout["value"]),
      advantage=jnp.mean(advantages),
      reward=jnp.mean(rollout["reward"]),
    )
    new_state = PPOState(
      actor_params=params[0], critic_params=params[1], obs_stats=stats, opt_state=opt_state
    )
    return new_state, metrics

  def act(policy_params, obs: Array, key: Array, deterministic: bool | Array = False) -> Array:
    """``obs [..., S+G] -> action [..., A]``: a sample, or ``tanh(mean)`` when deterministic."""
    check_obs_size(obs, obs_size)
    x = normalize(obs, policy_params["obs_mean"], policy_params["obs_std"])
    return networks.tanh_gaussian_act(
      policy_params["actor_params"], actor.apply, x, key, deterministic
    )

  return PPO(config=config, init=init, explore=explore, update=update, act=act, value=value)
