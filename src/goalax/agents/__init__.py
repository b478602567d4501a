"""Agents, by name: ``REGISTRY[name] = AgentSpec(module, config class, constructor, description,
loop)``.

Every constructor has the signature ``make(config, state_size, goal_size, action_size) -> Agent``
(:class:`goalax.agents.base.Agent`), so the loops, evaluation, saving and the CLI build any agent
the same way; its config names the training loop it runs on (``LOOP``: ``off_policy`` or
``on_policy``, inherited from the loop's settings). Adding an agent: a file ``agents/<name>.py`` with its config
class and ``make_*``, and one entry here.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class AgentSpec:
  module: str
  config_class_name: str
  make_name: str
  description: str
  label: str = ""
  """How a person names the algorithm in titles (default: the registered name in capitals)."""

  @property
  def config_class(self) -> type:
    return getattr(importlib.import_module(self.module), self.config_class_name)

  @property
  def loop(self) -> str:
    """The training loop of the algorithm (:data:`goalax.loops.LOOPS`), named by its config's
    loop settings (:mod:`goalax.loops.settings`)."""
    return self.config_class.LOOP

  @property
  def make(self) -> Callable[..., Any]:
    return getattr(importlib.import_module(self.module), self.make_name)


REGISTRY: dict[str, AgentSpec] = {
  "crl": AgentSpec(
    "goalax.agents.crl", "CRLConfig", "make_crl", "contrastive RL (the default; hindsight goals)"
  ),
  "sac": AgentSpec(
    "goalax.agents.sac", "SACConfig", "make_sac", "soft actor-critic; --use_her for SAC+HER"
  ),
  "td3": AgentSpec(
    "goalax.agents.td3", "TD3Config", "make_td3", "twin delayed DDPG; --use_her for TD3+HER"
  ),
  "gcsl": AgentSpec(
    "goalax.agents.gcsl",
    "GCSLConfig",
    "make_gcsl",
    "goal-conditioned supervised learning (behaviour cloning toward hindsight goals)",
    label="GCSL",
  ),
  "td_infonce": AgentSpec(
    "goalax.agents.td_infonce",
    "TDInfoNCEConfig",
    "make_td_infonce",
    "TD InfoNCE (contrastive RL with a temporal-difference critic; random goals)",
    label="TD-InfoNCE",
  ),
  "qrl": AgentSpec(
    "goalax.agents.qrl",
    "QRLConfig",
    "make_qrl",
    "quasimetric RL (IQE or MRN distance, latent dynamics actor)",
    label="QRL",
  ),
  "gcivl": AgentSpec(
    "goalax.agents.gcivl",
    "GCIVLConfig",
    "make_gcivl",
    "goal-conditioned implicit V-learning (OGBench: expectile value, AWR actor)",
    label="GCIVL",
  ),
  "gciql": AgentSpec(
    "goalax.agents.gciql",
    "GCIQLConfig",
    "make_gciql",
    "goal-conditioned implicit Q-learning (OGBench: expectile value, TD critic, DDPG+BC actor)",
    label="GCIQL",
  ),
  "hiql": AgentSpec(
    "goalax.agents.hiql",
    "HIQLConfig",
    "make_hiql",
    "hierarchical implicit Q-learning (GCIVL's value, subgoal and action policies by AWR)",
    label="HIQL",
  ),
  "ppo": AgentSpec(
    "goalax.agents.ppo",
    "PPOConfig",
    "make_ppo",
    "proximal policy optimisation (on-policy; sparse reward, --dense_reward for -dist)",
  ),
}


def agent_names() -> list[str]:
  return list(REGISTRY)


def name_of(config: Any) -> str:
  """The registered name of an agent config's class (``CRLConfig() -> "crl"``)."""
  for name, spec in REGISTRY.items():
    if type(config) is spec.config_class:
      return name
  raise ValueError(f"{type(config).__name__} is not a registered agent config.")


def label_of(config: Any, name: str | None = None) -> str:
  """The algorithm of an agent config as a person names it: ``CRL``, ``SAC+HER``, ``TD3``
  (``name``: its registered name, when known)."""
  name = name or name_of(config)
  label = REGISTRY[name].label or name.upper()
  return f"{label}+HER" if getattr(config, "use_her", False) else label


def spec_of(config: Any) -> AgentSpec:
  """The registry entry of an agent config's class."""
  return REGISTRY[name_of(config)]


def make_agent(config: Any, state_size: int, goal_size: int, action_size: int):
  """Builds the agent whose config this is, for the given problem sizes."""
  return REGISTRY[name_of(config)].make(config, state_size, goal_size, action_size)
