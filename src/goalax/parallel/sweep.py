"""Sweeps: several configurations of one agent in one invocation (``--sweep NAME=V1,V2,...``).

Continuous hyperparameters (learning rates, loss coefficients, discounts, the entropy target:
each agent config's ``SWEEPABLE`` fields) become leaves of the agent's state, so every
combination of their values, times ``--num_seeds``, trains as one member of the run's member
axis in ONE compiled program (vmapped like seeds; ``--devices`` splits members as it splits
seeds). Member ``(values, seed)`` starts from ``PRNGKey(seed)``, so it computes what the run of
those values alone with that seed computes. Discrete choices (energy, loss, network sizes, ...)
change the program: each combination of them is a run of its own, one after the other in the same
invocation (``<name>_<flag>=<value>`` folders).

Rows of ``metrics.csv`` carry a ``config`` column (``critic_lr=0.0001 discounting=0.9``) with a
mean row per configuration; ``curves.png`` draws one line per configuration and ``goalax plot``
groups by it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from goalax.agents import spec_of
from goalax.config import current_name
from goalax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Member:
  """One member of a run's member axis: a seed and the continuous values it trains with."""

  seed: int
  values: dict[str, float]  # empty without a continuous sweep

  @property
  def label(self) -> str:
    return " ".join(f"{k}={v:g}" for k, v in self.values.items())


def _parse_value(name: str, text: str, default: Any):
  kind = type(default) if default is not None else float
  try:
    if kind is bool:
      if text.lower() not in ("true", "false"):
        raise ValueError
      return text.lower() == "true"
    return kind(text)
  except ValueError:
    raise ConfigError(
      f"--sweep {name}: {text!r} is not a {kind.__name__} (the flag's type)."
    ) from None


def parse(config) -> tuple[dict[str, tuple], dict[str, tuple]]:
  """``(continuous, discrete)``: ``{flag: values}`` of ``config.sweep`` (a flag given by an old
  name under its current one), or ConfigError naming the entry and what would work."""

  fields = {f.name: f for f in dataclasses.fields(config.agent)}
  sweepable = getattr(type(config.agent), "SWEEPABLE", ())
  continuous, discrete = {}, {}
  for entry in config.sweep:
    name, eq, values = entry.partition("=")
    name = current_name(type(config.agent), name)
    if not eq or not values:
      raise ConfigError(f"--sweep {entry!r}: write NAME=V1,V2,... (e.g. critic_lr=1e-4,3e-4).")
    if name not in fields:
      raise ConfigError(
        f"--sweep {name}: not a flag of this agent; its flags: {', '.join(sorted(fields))}."
      )
    if name in continuous or name in discrete:
      raise ConfigError(f"--sweep {name} is given twice; give all its values in one entry.")
    default = getattr(config.agent, name)
    parsed = tuple(_parse_value(name, v.strip(), default) for v in values.split(","))
    if len(set(parsed)) != len(parsed):
      raise ConfigError(f"--sweep {name}: the values {values} repeat one.")
    (continuous if name in sweepable else discrete)[name] = parsed
  return continuous, discrete


def members(config, continuous: dict[str, tuple]) -> list[Member]:
  """The run's members: every combination of the ``continuous`` sweep's values (:func:`parse`;
  in the order given, the last flag changing fastest) times the seeds ``seed .. seed +
  num_seeds - 1``."""
  combos = [dict(zip(continuous, v)) for v in itertools.product(*continuous.values())]
  seeds = [config.seed + k for k in range(config.num_seeds)]
  return [Member(seed, combo) for combo in combos for seed in seeds]


def runs(config, algo: str) -> list[tuple[str, Any]]:
  """``[(tag, config)]``: one run per combination of the discrete sweep's values, named
  ``<exp_name or env_algo_sSEED>_<flag>=<value>`` (``algo``: the registered name) and keeping
  only the continuous part of the sweep; ``[("", config)]`` without a discrete sweep."""
  continuous, discrete = parse(config)
  if not discrete:
    return [("", config)]
  kept = tuple(f"{k}={','.join(f'{v:g}' for v in vs)}" for k, vs in continuous.items())
  base = config.exp_name or f"{config.env}_{algo}_s{config.seed}"
  out = []
  for combo in itertools.product(*discrete.values()):
    values = dict(zip(discrete, combo))
    tag = "_".join(f"{k}={v}" for k, v in values.items())
    agent = dataclasses.replace(config.agent, **values)
    out.append(
      (tag, dataclasses.replace(config, agent=agent, sweep=kept, exp_name=f"{base}_{tag}"))
    )
  return out


def validate(config, parsed: tuple[dict, dict] | None = None) -> None:
  """Every configuration's agent config must be valid, the discrete values' included (so that
  none fails after others have trained): ConfigError naming the values otherwise. ``parsed``:
  :func:`parse`'s result when the caller has it."""
  continuous, discrete = parsed or parse(config)
  group = members(config, continuous)
  for combo in itertools.product(*discrete.values()):
    fixed = dict(zip(discrete, combo))
    for member in group[:: config.num_seeds]:
      try:
        dataclasses.replace(config.agent, **fixed, **member.values).validate(config.num_envs)
      except ConfigError as e:
        label = " ".join([*(f"{k}={v}" for k, v in fixed.items()), member.label]).strip()
        raise ConfigError(f"--sweep {label}: {e}") from None


def member_values(group: list[Member]) -> dict[str, jax.Array]:
  """``{flag: [num_members] float32}``: each member's continuous values (empty without)."""
  names = list(group[0].values)
  return {n: jnp.asarray([m.values[n] for m in group], jnp.float32) for n in names}


@dataclasses.dataclass(frozen=True)
class SweptAgent:
  """An agent whose swept hyperparameters are leaves of its state.

  ``state = {"hparams": {flag: scalar}, "inner": the agent's own state}``. Every function that
  depends on them builds the agent from ``dataclasses.replace(config, **hparams)`` while it is
  traced (optax takes array learning rates; the goal sampler an array discount), so one compiled
  program serves every member. ``act``, ``policy_params`` and ``saved_params`` do not depend on
  them and are the base agent's."""

  base: Any  # the agent built from the config's own values
  config: Any
  sizes: tuple[int, int, int]
  names: tuple[str, ...]
  make: Any  # the registered constructor, make(config, state_size, goal_size, action_size)

  def _agent(self, hparams: Mapping[str, jax.Array]):
    return self.make(dataclasses.replace(self.config, **hparams), *self.sizes)

  @property
  def headline_metrics(self):
    return self.base.headline_metrics

  @property
  def sampling(self):
    return self.base.sampling

  def sampling_of(self, state):
    """The goal sampling of the member whose state this is (its discount may be swept)."""
    return self._agent(state["hparams"]).sampling

  def init(self, key):
    values = {n: jnp.asarray(getattr(self.config, n), jnp.float32) for n in self.names}
    return {"hparams": values, "inner": self.base.init(key)}

  def update(self, state, batch, key):
    inner, metrics = self._agent(state["hparams"]).update(state["inner"], batch, key)
    return {"hparams": state["hparams"], "inner": inner}, metrics

  def policy_params(self, state):
    return self.base.policy_params(state["inner"])

  def saved_params(self, state):
    return self.base.saved_params(state["inner"])

  def act(self, *args, **kwargs):
    return self.base.act(*args, **kwargs)

  def __getattr__(self, name):  # the base agent's other functions (explore, q_values, ...)
    return getattr(self.base, name)


def agent_for(agent_config, sizes: tuple[int, int, int], swept: tuple[str, ...]):
  """The agent a run trains: the registered agent of ``agent_config`` for ``sizes`` (state,
  goal, action), wrapped as a :class:`SweptAgent` when the run sweeps the continuous flags
  ``swept``."""
  make = spec_of(agent_config).make
  base = make(agent_config, *sizes)
  return SweptAgent(base, agent_config, sizes, swept, make) if swept else base


def with_member_values(state, values: Mapping[str, jax.Array]):
  """The loop's state (one member) with its agent's swept values set."""
  if not values:
    return state
  return state.replace(agent={**state.agent, "hparams": dict(values)})
