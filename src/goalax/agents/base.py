"""What every agent provides, and the settings the off-policy agents share.

The training loop, evaluation, saving and the command line use an agent only through
:class:`Agent`; they never look inside its state. An agent owns its parameters, optimiser states
and target networks, and never sees the replay buffer: the loop hands it batches built by the
goal sampler (:mod:`goalax.sampler`) as its :class:`GoalSampling` describes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import jax

from goalax import networks
from goalax.errors import ConfigError, require_in_unit_interval, require_positive

Array = jax.Array
Params = Any
AgentState = Any
Batch = Mapping[str, Array]
Metrics = dict[str, Array]


@dataclasses.dataclass(frozen=True)
class GoalSampling:
  """Where the goals of a training batch come from (what the sampler builds for an agent).

  Each transition's goal is, independently, the commanded goal (the one the env asked for when
  the transition was collected) with probability ``p_commanded``, the achieved goal of a later
  state of the same trajectory with probability ``p_future``, or the achieved goal of a state
  drawn uniformly from the whole buffer with probability ``p_random``.
  """

  p_commanded: float = 0.0
  """Probability of the commanded goal."""
  p_future: float = 1.0
  """Probability of a hindsight goal: a later state of the same trajectory."""
  p_random: float = 0.0
  """Probability of a random goal: any state in the buffer."""
  future: Literal["geometric", "uniform"] = "geometric"
  """Law of the offset k >= 1 of a hindsight goal: ``geometric`` (P(k) ∝ discount^(k-1)) or
  ``uniform`` over the rest of the episode (HER's "future" strategy)."""
  discount: float = 0.99
  """Discount of the geometric law."""
  actor_p_random: float = 0.0
  """Fraction of the actor's goals replaced by a random goal (another row's goal in the batch);
  the batch then holds ``actor_goal`` beside ``goal``."""
  td: bool = False
  """Whether the batch also holds ``next_state``, ``reward`` (the env's reward at the batch's
  goal) and ``terminated``, for agents that learn by temporal differences."""

  def __post_init__(self):
    total = self.p_commanded + self.p_future + self.p_random
    if min(self.p_commanded, self.p_future, self.p_random) < 0 or abs(total - 1.0) > 1e-6:
      raise ValueError(
        f"goal probabilities must be >= 0 and sum to 1, got commanded {self.p_commanded}, "
        f"future {self.p_future}, random {self.p_random}."
      )


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig:
  """Replay and update schedule, shared by every off-policy agent (flags keep JaxGCRL's names)."""

  unroll_length: int = 62
  """Steps each env takes per training step, before the gradient updates of that step."""
  batch_size: int = 256
  """Transitions per gradient step."""
  min_replay_size: int = 1000
  """Rows (time steps per env) collected with random actions before the first update."""
  max_replay_size: int = 10000
  """Replay capacity in rows (time steps per env); memory = rows × num_envs × transition size."""
  env_steps_per_update: float = 16.0
  """Env steps per gradient step (the update-to-data ratio); 16 matches JaxGCRL's default ≈ 1:16.
  Gradient steps per training step = round(num_envs × unroll_length × action_repeat ×
  multiplier_num_sgd_steps / env_steps_per_update), at least 1."""
  multiplier_num_sgd_steps: float = 1.0
  """Multiplies the gradient steps per training step (JaxGCRL's flag)."""

  def validate_replay(self, num_envs: int) -> None:
    """Raises ConfigError with one sentence naming the flag when a value cannot work."""
    require_positive(
      self,
      "unroll_length",
      "batch_size",
      "min_replay_size",
      "max_replay_size",
      "env_steps_per_update",
      "multiplier_num_sgd_steps",
    )
    if self.min_replay_size > self.max_replay_size:
      raise ConfigError(
        f"--min_replay_size ({self.min_replay_size}) must not exceed --max_replay_size "
        f"({self.max_replay_size}); e.g. --min_replay_size {self.max_replay_size // 10}."
      )
    if self.unroll_length > self.max_replay_size:
      raise ConfigError(
        f"--unroll_length ({self.unroll_length}) must not exceed --max_replay_size "
        f"({self.max_replay_size}): one unroll has to fit in the buffer."
      )
    if self.min_replay_size < 2:
      raise ConfigError(
        f"--min_replay_size must be at least 2 (a transition and a later state), "
        f"got {self.min_replay_size}."
      )
    if self.batch_size > self.min_replay_size * num_envs:
      raise ConfigError(
        f"--batch_size ({self.batch_size}) is larger than the buffer holds when updates start "
        f"(--min_replay_size {self.min_replay_size} × --num_envs {num_envs} = "
        f"{self.min_replay_size * num_envs} transitions); lower --batch_size or raise "
        f"--min_replay_size to at least {math.ceil(self.batch_size / num_envs)}."
      )


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  """Width, depth and layers of every network of an agent."""

  h_dim: int = 256
  """Hidden width of every network (JaxGCRL ``h_dim``)."""
  n_hidden: int = 2
  """Hidden depth of every network (JaxGCRL ``n_hidden``); a multiple of 4 when ``residual``."""
  use_layer_norm: bool = True
  """LayerNorm before every hidden activation, in all networks."""
  activation: Literal["swish", "relu"] = "swish"
  """Hidden activation (JaxGCRL: swish unless ``use_relu``)."""
  residual: bool = False
  """Residual blocks of 4 layers (Wang et al. 2025); requires ``n_hidden % 4 == 0``."""

  def validate_network(self) -> None:
    require_positive(self, "h_dim", "n_hidden")

  def trunk(self) -> dict[str, Any]:
    """Keyword arguments of :class:`goalax.networks.MLP` for these settings."""
    return dict(
      hidden_dim=self.h_dim,
      num_hidden=self.n_hidden,
      use_layer_norm=self.use_layer_norm,
      activation=self.activation,
      residual=self.residual,
    )


@dataclasses.dataclass(frozen=True)
class TDConfig:
  """Settings shared by the agents that learn a Q-function by temporal differences (SAC, TD3),
  including hindsight relabelling (``--use_her``)."""

  discounting: float = 0.99
  """Discount γ of the TD target. JaxGCRL's SAC and TD3 use 0.9; goalax uses 0.99 because a
  sparse goal-reaching reward must propagate over tens to hundreds of steps (with γ = 0.9 a goal
  50 steps away is worth 0.005)."""
  critic_lr: float = 3e-4
  """Adam learning rate of the Q networks."""
  actor_lr: float = 3e-4
  """Adam learning rate of the actor."""
  tau: float = 0.005
  """Polyak rate of the target networks: ``target <- (1 - tau) target + tau online``."""
  use_her: bool = False
  """Hindsight experience replay (JaxGCRL's flag): relabel goals through the goal sampler with
  the mix below; rewards are recomputed with the env's own success rule."""
  her_p_future: float = 0.8
  """With --use_her: fraction of goals taken from later states of the same trajectory (HER's
  "future" strategy with k = 4 gives 0.8)."""
  her_p_random: float = 0.0
  """With --use_her: fraction of goals taken from random states in the buffer; the rest
  (1 - her_p_future - her_p_random) keep the commanded goal."""
  her_future: Literal["geometric", "uniform"] = "uniform"
  """With --use_her: law of the offset of a future goal: ``uniform`` over the rest of the
  episode (HER's "future") or ``geometric`` with ``discounting``."""

  def validate_td(self) -> None:
    require_positive(self, "critic_lr", "actor_lr")
    require_in_unit_interval(self, "discounting")
    require_in_unit_interval(self, "tau")
    require_in_unit_interval(self, "her_p_future", include_zero=True)
    require_in_unit_interval(self, "her_p_random", include_zero=True)
    if self.her_p_future + self.her_p_random > 1.0:
      raise ConfigError(
        f"--her_p_future ({self.her_p_future}) + --her_p_random ({self.her_p_random}) must not "
        f"exceed 1 (the rest keeps the commanded goal)."
      )

  def goal_sampling(self) -> GoalSampling:
    """Commanded goals; with --use_her the future / random / commanded mix above."""
    if not self.use_her:
      return GoalSampling(p_commanded=1.0, p_future=0.0, td=True)
    return GoalSampling(
      p_commanded=max(0.0, 1.0 - self.her_p_future - self.her_p_random),
      p_future=self.her_p_future,
      p_random=self.her_p_random,
      future=self.her_future,
      discount=self.discounting,
      td=True,
    )


@dataclasses.dataclass(frozen=True)
class MaxEntActorConfig:
  """A tanh-Gaussian actor with SAC's learned entropy temperature (CRL and SAC)."""

  alpha_lr: float = 3e-4
  """Adam learning rate of ``log_alpha`` (JaxGCRL's and Brax SAC's)."""
  target_entropy: float | None = None
  """Entropy target; ``None`` means ``-action_size`` (the SAC heuristic; JaxGCRL's CRL uses
  ``-0.5 * action_size``)."""
  initial_log_alpha: float = 0.0
  """Initial ``log(alpha)`` (alpha = 1, as in JaxGCRL and Brax SAC)."""
  log_std_min: float = networks.LOG_STD_MIN
  """Lower soft bound of the actor's log-std."""
  log_std_max: float = networks.LOG_STD_MAX
  """Upper soft bound of the actor's log-std."""

  def actor_bounds(self) -> dict[str, float]:
    """Keyword arguments of :class:`goalax.networks.TanhGaussianActor` for these settings."""
    return dict(log_std_min=self.log_std_min, log_std_max=self.log_std_max)


class ActorCriticParams:
  """``policy_params`` and ``saved_params`` of an agent whose state holds ``actor_params`` and
  ``critic_params`` (mixed into the agents' function bundles)."""

  @staticmethod
  def policy_params(agent_state) -> Params:
    return agent_state.actor_params

  @staticmethod
  def saved_params(agent_state) -> dict[str, Params]:
    return {"actor_params": agent_state.actor_params, "critic_params": agent_state.critic_params}


class Agent(Protocol):
  """What the loops, evaluation, saving and the CLI may rely on. Every function is pure and can
  be ``jit``-ed and ``vmap``-ed (one agent state per seed)."""

  config: Any
  """The agent's config (one of the registered config classes)."""
  sampling: GoalSampling
  """What a training batch holds and where its goals come from."""
  headline_metrics: tuple[str, ...]
  """Training metrics shown on the progress line (keys of ``update``'s metrics)."""
  init: Callable[[Array], AgentState]
  """``key -> agent_state``."""
  policy_params: Callable[[AgentState], Params]
  """``agent_state -> params`` that ``act`` needs: what evaluation and saved policies use."""
  act: Callable[..., Array]
  """``(policy_params, obs [..., obs_size], key, deterministic) -> action [..., action_size]``,
  actions in [-1, 1]. ``deterministic`` gives the evaluation action; otherwise the exploration
  action. ``obs = concat(state, goal)``."""
  update: Callable[[AgentState, Batch, Array], tuple[AgentState, Metrics]]
  """``(agent_state, batch, key) -> (agent_state, metrics)``: one gradient step."""
  saved_params: Callable[[AgentState], dict[str, Params]]
  """``agent_state -> {name: params}`` written to ``params.msgpack`` at the end of a run."""
