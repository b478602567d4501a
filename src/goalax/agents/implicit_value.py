"""What OGBench's value-based agents share (GCIVL, GCIQL, HIQL; Park et al. 2024, after IQL,
Kostrikov et al. 2022): the goal-reaching reward, expectile regression, the "IQL without Q" value
loss, the value ensemble, their settings and their goal mixes.

The reward (goalax's success rule)
----------------------------------
A batch from the goal sampler (``td=True``) holds ``reward [B]``: the env's success rule at
``next_state`` for the batch's goal, 1 where the step reached the goal, else 0 (the sparse
reward; these agents need it, not ``--dense_reward``). As in OGBench, ``success`` ends the
episode for the value: ``r = success − 1`` and ``mask = 1 − success``, so ``−V(s, g)`` counts
(discounted) the steps before the one that reaches ``g``. goalax's rule reads success at the next
state (OGBench's at the current one: there the goal ``g = s`` is worth 0; here a goal one step
away is). A step that ended the episode by the env's own termination does not bootstrap either
(``mask = (1 − success)(1 − terminated)``, as goalax's SAC and TD3); a time-limit end does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

from goalax import networks
from goalax.agents.base import Array, Batch, Metrics, Params
from goalax.agents.common import optimizer_step, polyak
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.replay.goals import GoalMix, GoalSampling


def reward_and_mask(batch: Batch, success_key: str = "reward") -> tuple[Array, Array]:
  """``(r [B], mask [B])``: ``success − 1`` and ``(1 − success)(1 − terminated)``, success being
  the batch's ``reward`` (or ``actor_reward``, ``subgoal_reward``: the success of those goals;
  see the module docstring)."""
  success = batch[success_key]
  return success - 1.0, (1.0 - success) * (1.0 - batch["terminated"])


def one_step_advantage(
  batch: Batch, success_key: str, v: Array, next_v: Array, discount: float | Array
) -> Array:
  """``r + γ m V(s', g) − V(s, g)`` ``[B]`` (``v``, ``next_v [B]``), the goal's success under
  ``success_key``: the actors' advantage. OGBench's ``V(s', g) − V(s, g)`` is this advantage
  under its rule (success at the current state); under goalax's (at the next state) a goal one
  step away is worth 0 as the goal itself is, so ``V(s', g) − V(s, g)`` would not tell the step
  that reaches the goal from one that stays beside it: the reward does."""
  reward, mask = reward_and_mask(batch, success_key)
  return reward + discount * mask * next_v - v


def value_at(v: Array, success: Array, discount: float | Array) -> Array:
  """The value of being at a state ``x`` in OGBench's convention from goalax's ``v = V(x, g)``
  (which counts from the step after ``x``): 0 where ``x`` is at the goal (``success``), else
  ``−1 + γ V(x, g)``. ``[B]`` each."""
  return jnp.where(success > 0, 0.0, -1.0 + discount * v)


def expectile_loss(adv: Array, diff: Array, expectile: float | Array) -> Array:
  """``|τ − 1{adv < 0}| · diff²`` element by element (IQL's asymmetric square): ``τ · diff²``
  where ``adv >= 0``, ``(1 − τ) · diff²`` where ``adv < 0``. OGBench takes the sign from ``adv``
  (a target-network estimate) and the square from ``diff`` (the online one)."""
  weight = jnp.where(adv >= 0, expectile, 1.0 - expectile)
  return weight * jnp.square(diff)


def ivl_value_loss(
  v: Array,
  v_target: Array,
  next_v_target: Array,
  reward: Array,
  mask: Array,
  discount: float | Array,
  expectile: float | Array,
) -> tuple[Array, Metrics]:
  """GCIVL's and HIQL's value loss ("IQL without Q"), on two heads: ``v [2, B]`` (online, at
  ``(s, g)``), ``v_target [2, B]`` and ``next_v_target [2, B]`` (the target network at ``(s, g)``
  and ``(s', g)``), ``reward, mask [B]``.

  Head ``i`` regresses onto its own target ``q_i = r + γ m V̄_i(s', g)`` by the expectile loss,
  the side of each element chosen by ``adv = r + γ m min_i V̄_i(s', g) − mean_i V̄_i(s, g)``:
  ``loss = Σ_i mean(expectile_loss(adv, q_i − v_i))``."""
  q_heads = reward + discount * mask * next_v_target  # [2, B]
  q = reward + discount * mask * jnp.min(next_v_target, axis=0)
  adv = q - jnp.mean(v_target, axis=0)
  losses = expectile_loss(adv, jax.lax.stop_gradient(q_heads) - v, expectile)  # [2, B]
  loss = jnp.sum(jnp.mean(losses, axis=-1))
  v_mean = jnp.mean(v, axis=0)
  return loss, {
    "value_loss": loss,
    "v_mean": jnp.mean(v_mean),
    "v_max": jnp.max(v_mean),
    "v_min": jnp.min(v_mean),
  }


def value_and_actor_step(
  state: Any,
  batch: Batch,
  value_loss: Callable[[Params, Params, Batch], tuple[Array, Metrics]],
  actor_loss: Callable[[Params, Params, Batch], tuple[Array, Metrics]],
  critic_tx: optax.GradientTransformation,
  actor_tx: optax.GradientTransformation,
  tau: float | Array,
  targeted: Callable[[Params], Params] = lambda critic_params: critic_params,
) -> tuple[Any, Metrics]:
  """One update of an agent whose state holds ``actor_params``, ``critic_params``,
  ``target_critic_params`` and both optimiser states (GCIVL, GCIQL, HIQL): the critics' step
  (``value_loss(critic_params, target_critic_params, batch)``), the actor step on the critics
  before it (``actor_loss(actor_params, critic_params, batch)``), the target's Polyak step at
  rate ``tau`` toward ``targeted(critic_params)`` (the part the target tracks: all of them, or
  GCIQL's Q networks). Returns the new state and both losses' metrics."""
  (_, value_metrics), value_grads = jax.value_and_grad(value_loss, has_aux=True)(
    state.critic_params, state.target_critic_params, batch
  )
  (_, actor_metrics), actor_grads = jax.value_and_grad(actor_loss, has_aux=True)(
    state.actor_params, state.critic_params, batch
  )
  critic_params, critic_opt_state = optimizer_step(
    critic_tx, state.critic_params, state.critic_opt_state, value_grads
  )
  actor_params, actor_opt_state = optimizer_step(
    actor_tx, state.actor_params, state.actor_opt_state, actor_grads
  )
  new_state = state.replace(
    actor_params=actor_params,
    critic_params=critic_params,
    target_critic_params=polyak(state.target_critic_params, targeted(critic_params), tau),
    actor_opt_state=actor_opt_state,
    critic_opt_state=critic_opt_state,
  )
  return new_state, {**value_metrics, **actor_metrics}


def value_ensemble(config, num_heads: int = 2) -> networks.QEnsemble:
  """``num_heads`` value heads ``V_i(x)``: the Q networks of :class:`goalax.networks.QEnsemble`
  with no action input (``config``: a :class:`goalax.agents.base.NetworkConfig`); see
  :func:`value_of`."""
  return networks.QEnsemble(num_critics=num_heads, **config.trunk())


def value_of(ensemble: networks.QEnsemble, params: Params, *inputs: Array) -> Array:
  """``inputs [..., D_j] -> [heads, ...]``: every head at their concatenation (``state, goal``, or
  for HIQL ``state, ϕ``)."""
  x = jnp.concatenate(inputs, axis=-1)
  return ensemble.apply(params, x, jnp.zeros(x.shape[:-1] + (0,), x.dtype))


@dataclasses.dataclass(frozen=True)
class ImplicitValueConfig:
  """The value learning and goal mixes of OGBench's value-based agents (OGBench's defaults)."""

  discounting: float = 0.99
  """Discount γ of the value target ``r + γ m V̄(s', g)`` (and of the geometric goal law)."""
  tau: float = 0.005
  """Polyak rate of the target value network: ``target <- (1 - tau) target + tau online``."""
  value_lr: float = 3e-4
  """Adam learning rate of the value (and Q) networks (OGBench's lr)."""
  actor_lr: float = 3e-4
  """Adam learning rate of the actor(s) (OGBench's lr)."""
  value_p_commanded: float = 0.2
  """Share of the value's goals that are the commanded goal (OGBench's value_p_curgoal: offline
  the commanded slot holds the state's own goal; online it is the env's goal)."""
  value_p_future: float = 0.5
  """Share of the value's goals that are later states of the same trajectory (value_p_trajgoal)."""
  value_p_random: float = 0.3
  """Share of the value's goals that are states drawn from the whole buffer (value_p_randomgoal)."""
  value_future: Literal["geometric", "uniform"] = "geometric"
  """Law of a value goal's offset k >= 1 (value_geom_sample): geometric, P(k) ∝ γ^(k−1),
  truncated at the episode's end (OGBench clips an untruncated one there), or uniform."""
  actor_p_commanded: float = 0.0
  """Share of the actor's goals that are the commanded goal (actor_p_curgoal)."""
  actor_p_future: float = 1.0
  """Share of the actor's goals that are later states of the same trajectory (actor_p_trajgoal)."""
  actor_p_random: float = 0.0
  """Share of the actor's goals that are states drawn from the whole buffer (actor_p_randomgoal)."""
  actor_future: Literal["geometric", "uniform"] = "uniform"
  """Law of an actor goal's offset k >= 1 (actor_geom_sample): uniform over the rest of the
  episode, or geometric with γ."""

  def validate_value(self) -> None:
    """Raises ConfigError, one sentence naming the flag, for a value that cannot work."""
    require_positive(self, "value_lr", "actor_lr")
    require_in_unit_interval(self, "discounting")
    require_in_unit_interval(self, "tau")
    for learner in ("value", "actor"):
      shares = [f"{learner}_p_{source}" for source in ("commanded", "future", "random")]
      for flag in shares:
        if not 0.0 <= getattr(self, flag) <= 1.0:
          raise ConfigError(f"--{flag} must be in [0, 1], got {getattr(self, flag)}.")
      total = sum(getattr(self, flag) for flag in shares)
      if abs(total - 1.0) > 1e-6:
        values = ", ".join(f"--{flag} {getattr(self, flag)}" for flag in shares)
        raise ConfigError(f"{values} must sum to 1, got {total:g}.")

  def mix(self, learner: Literal["value", "actor"]) -> GoalMix:
    """The goal mix of the value's or the actor's goals."""
    return GoalMix(
      p_commanded=getattr(self, f"{learner}_p_commanded"),
      p_future=getattr(self, f"{learner}_p_future"),
      p_random=getattr(self, f"{learner}_p_random"),
      future=getattr(self, f"{learner}_future"),
      discount=self.discounting,
    )

  def goal_sampling(self) -> GoalSampling:
    """The value's goals (``goal``, also the reward's) and the actor's (``actor_goal``) from
    their mixes, with ``next_state``, ``reward``, ``terminated`` and the actor goals' rewards."""
    return GoalSampling(self.mix("value"), actor=self.mix("actor"), td=True, actor_reward=True)


def validate_expectile_and_std(config) -> None:
  """The checks of ``expectile`` and the policy's log-std bounds (GCIVL, GCIQL, HIQL)."""
  if not 0.0 < config.expectile < 1.0:
    raise ConfigError(f"--expectile must be in (0, 1), got {config.expectile}.")
  if not config.log_std_min < config.log_std_max:
    raise ConfigError(
      f"--log_std_min ({config.log_std_min}) must be below --log_std_max ({config.log_std_max})."
    )
