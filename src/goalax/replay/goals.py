"""Where a training batch's goals come from: the settings of the goal sampler
(:mod:`goalax.replay.sampler`), which an off-policy agent states as its ``sampling``
(:class:`goalax.agents.base.OffPolicyAgent`). They live beside the code that reads them and
import nothing of goalax.
"""

from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class GoalMix:
  """Where one learner's goals come from (OGBench's ``*_p_curgoal / *_p_trajgoal /
  *_p_randomgoal`` with ``*_geom_sample``; here the first is the commanded goal).

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

  def __post_init__(self):
    total = self.p_commanded + self.p_future + self.p_random
    if min(self.p_commanded, self.p_future, self.p_random) < 0 or abs(total - 1.0) > 1e-6:
      raise ValueError(
        f"goal probabilities must be >= 0 and sum to 1, got commanded {self.p_commanded}, "
        f"future {self.p_future}, random {self.p_random}."
      )
    if self.future not in ("geometric", "uniform"):
      raise ValueError(f"future must be 'geometric' or 'uniform', got {self.future!r}.")
    # a swept discount (goalax.parallel.sweep) is an array while the agent is traced: checked before
    if isinstance(self.discount, (int, float)) and not 0.0 <= self.discount <= 1.0:
      raise ValueError(f"discount must be in [0, 1], got {self.discount}.")

  @property
  def offset_discount(self) -> float:
    """The discount of the offset law: ``discount``, or 1 (uniform) for ``future="uniform"``."""
    return self.discount if self.future == "geometric" else 1.0


@dataclasses.dataclass(frozen=True)
class GoalSampling:
  """What a training batch holds and where its goals come from: one mix for the critic's (value)
  goals and, optionally, another for the actor's (OGBench's ``value_p_*`` / ``actor_p_*``).

  Both mixes label the same transitions ``(state, action)``. When either draws a hindsight goal
  for a transition, the transition comes from a row whose needed later states are all stored
  (see :mod:`goalax.replay.sampler`).
  """

  value: GoalMix = GoalMix()
  """The mix of ``goal``: the critic's goals (and the reward's, for TD agents)."""
  actor: GoalMix | None = None
  """The actor's own mix, drawn independently of the critic's (the batch then holds
  ``actor_goal``); None: the actor learns on the critic's goals."""
  td: bool = False
  """Whether the batch also holds ``next_state``, ``reward`` (the env's reward at the batch's
  goal) and ``terminated``, for agents that learn by temporal differences."""
  offsets: bool = False
  """Whether the batch also holds each goal's hindsight offset, ``goal_offset`` (and
  ``actor_goal_offset``) ``[B]`` int32: ``k >= 1`` for a hindsight goal k steps ahead, 0 for a
  commanded or random goal (e.g. GCSL's horizon)."""
  actor_reward: bool = False
  """With ``td``: whether the batch also holds the env's reward at ``next_state`` for the actor's
  goals, ``actor_reward [B]`` (and with subgoals ``subgoal_reward [B]`` at ``next_state`` for
  ``subgoal``, ``actor_subgoal_reward [B]`` at ``actor_subgoal_state`` for ``actor_goal``): an
  actor's advantage ``r + γ m V(s', g) − V(s, g)`` needs its goals' success."""
  subgoal_steps: int = 0
  """HIQL's subgoal horizon K (OGBench's ``subgoal_steps``); 0: no subgoals. With K > 0 the batch
  also holds ``subgoal [B, G]``, the achieved goal of the state ``min(t + K, last)`` of the
  transition's trajectory (the low-level actor's goal), and ``actor_subgoal [B, G]``, that of the
  state ``min(t + K, t + k)`` toward a hindsight actor goal ``k`` steps ahead, else ``subgoal``
  (the high-level actor's target; the actor mix's goals, or the value mix's without one), and
  their states ``subgoal_state`` and ``actor_subgoal_state [B, S]``.
  ``last`` is the real last state of a finished episode, the newest stored one of a running
  episode (:func:`goalax.replay.sampler.subgoal_offsets`)."""

  @property
  def mixes(self) -> tuple[GoalMix, ...]:
    return (self.value,) if self.actor is None else (self.value, self.actor)

  @property
  def hindsight(self) -> bool:
    """Whether any goal is a hindsight goal or a subgoal (the buffer must then keep episode
    ends)."""
    return self.subgoal_steps > 0 or any(mix.p_future > 0 for mix in self.mixes)
