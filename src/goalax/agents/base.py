"""What every agent provides, what each family adds, and the settings agents share.

Evaluation, saving, the host loop and the command line use an agent only through :class:`Agent`
(init, act, policy parameters, saved parameters, headline metrics); they never look inside its
state. Each family adds what its loop needs (:mod:`goalax.loops`):

- :class:`OffPolicyAgent`: a :class:`GoalSampling` and an update on one replay batch. The agent
  never sees the replay buffer: the off-policy loop hands it batches built by the goal sampler
  (:mod:`goalax.replay.sampler`) as its ``sampling`` describes.
- :class:`OnPolicyAgent`: an exploring action that also returns what the update needs (e.g.
  log-probabilities and values), and an update on a whole rollout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Protocol, runtime_checkable

import jax

from goalax import networks
from goalax.errors import ConfigError, require_in_unit_interval, require_positive
from goalax.helptext import default_is
from goalax.replay.goals import GoalMix, GoalSampling

Array = jax.Array
Params = Any
AgentState = Any
Batch = Mapping[str, Array]
Metrics = dict[str, Array]


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
  """Discount γ of the TD target (and of the hindsight offset law with --use_her --her_future
  geometric). JaxGCRL's SAC and TD3 use 0.9; goalax uses 0.99 because a sparse goal-reaching
  reward must propagate over tens to hundreds of steps (with γ = 0.9 a goal 50 steps away is
  worth 0.005)."""
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
  """With --use_her: law of a hindsight goal's offset k >= 1: uniform over the rest of the
  episode (HER's "future") or geometric, P(k) ∝ discounting^(k−1)."""

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
    """Commanded goals; with --use_her the future / random / commanded mix above. Critic and
    actor learn on the same goals."""
    if not self.use_her:
      return GoalSampling(GoalMix(p_commanded=1.0, p_future=0.0), td=True)
    her = GoalMix(
      p_commanded=max(0.0, 1.0 - self.her_p_future - self.her_p_random),
      p_future=self.her_p_future,
      p_random=self.her_p_random,
      future=self.her_future,
      discount=self.discounting,
    )
    return GoalSampling(her, td=True)


@dataclasses.dataclass(frozen=True)
class MaxEntActorConfig:
  """A tanh-Gaussian actor with SAC's learned entropy temperature (CRL and SAC)."""

  alpha_lr: float = 3e-4
  """Adam learning rate of ``log_alpha`` (JaxGCRL's and Brax SAC's)."""
  target_entropy: Annotated[float | None, default_is("-action_size")] = None
  """Entropy target of the learned temperature (the default is the SAC heuristic; JaxGCRL's CRL
  uses -0.5 × action_size)."""
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
  """What every agent gives: the host loop, evaluation, saving and the CLI rely on this alone.
  Every function is pure and can be ``jit``-ed and ``vmap``-ed (one agent state per seed)."""

  config: Any
  """The agent's config (one of the registered config classes)."""
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
  saved_params: Callable[[AgentState], dict[str, Params]]
  """``agent_state -> {name: params}`` written to ``params.msgpack`` at the end of a run."""


class OffPolicyAgent(Agent, Protocol):
  """An agent of the off-policy loop (:mod:`goalax.loops.off_policy`)."""

  sampling: GoalSampling
  """What a training batch holds and where its goals come from."""
  update: Callable[[AgentState, Batch, Array], tuple[AgentState, Metrics]]
  """``(agent_state, batch, key) -> (agent_state, metrics)``: one gradient step."""


class OnPolicyAgent(Agent, Protocol):
  """An agent of the on-policy loop (:mod:`goalax.loops.on_policy`)."""

  explore: Callable[[AgentState, Array, Array], tuple[Array, dict[str, Array]]]
  """``(agent_state, obs [N, obs_size], key) -> (action [N, action_size], extras)``: the
  exploration action and what the update needs of that step (each ``[N, ...]``, e.g. the
  log-probability of the action and the value of ``obs``), stored in the rollout beside it. It
  takes the agent's whole state, not only ``policy_params``, because what the update needs may
  come from other networks than the policy (PPO's value network)."""
  update: Callable[[AgentState, Mapping[str, Array], Array], tuple[AgentState, Metrics]]
  """``(agent_state, rollout, key) -> (agent_state, metrics)``: every gradient step taken on one
  rollout (leaves ``[unroll_length, num_envs, ...]``, see :mod:`goalax.loops.on_policy`)."""


@runtime_checkable
class AgentConfig(Protocol):
  """What every agent's config class offers: the config class of a registry entry
  (:data:`goalax.agents.REGISTRY`) is a frozen dataclass whose fields are the agent's flags
  (``goalax train <algo> --help``, ``config.yaml``), and has at least these members. Each family
  adds its loop's settings (:class:`OffPolicyAgentConfig`, :class:`OnPolicyAgentConfig`), as its
  loop's config class does (:mod:`goalax.loops`). ``tests/test_agent_contract.py`` checks every
  registry entry against these. Optional: ``RENAMED = {old flag: current field}``
  (:func:`goalax.config.current_name`)."""

  h_dim: int
  """Hidden width of every network (:class:`NetworkConfig`)."""
  n_hidden: int
  """Hidden depth of every network (:class:`NetworkConfig`)."""
  unroll_length: int
  """Steps each env takes per training step (both loops)."""

  def validate(self, num_envs: int) -> None:
    """Raises :class:`goalax.errors.ConfigError`, one sentence naming the flag, when a value
    cannot work with ``num_envs`` training envs."""
    ...


@runtime_checkable
class OffPolicyAgentConfig(AgentConfig, Protocol):
  """The config of an agent of the off-policy loop (:class:`goalax.loops.off_policy.OffPolicyConfig`
  gives the replay settings)."""

  SWEEPABLE: ClassVar[tuple[str, ...]]
  """Fields that ``--sweep`` trains as leaves of the agent's state in one program
  (:mod:`goalax.parallel.sweep`); every other swept field is a run of its own. Only the off-policy loop
  builds swept agents, so only its configs name these."""
  batch_size: int
  min_replay_size: int
  max_replay_size: int
  env_steps_per_update: float
  multiplier_num_sgd_steps: float

  def goal_sampling(self) -> GoalSampling:
    """What a training batch holds and where its goals come from (the agent's ``sampling``)."""
    ...


@runtime_checkable
class OnPolicyAgentConfig(AgentConfig, Protocol):
  """The config of an agent of the on-policy loop (:class:`goalax.loops.on_policy.OnPolicyConfig`
  gives the rollout settings)."""

  num_minibatches: int
  num_updates_per_batch: int
  dense_reward: bool
