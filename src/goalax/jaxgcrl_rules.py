"""How goalax takes each flag of JaxGCRL's two entry points that it does not take verbatim: the
rule table :data:`RULES` (flag name -> :class:`Rule`) and the rules it is made of. A rule
translates a flag (``--env_name`` -> ``--env``), accepts it without effect where it changes
nothing in goalax (with a note where it asks for something goalax does not do), or refuses it
with one sentence naming what to use instead. :mod:`goalax.jaxgcrl_compat` applies them to a
command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, NoReturn

from goalax.errors import UsageError
from goalax.flags import flag_value

Reference = Literal["0.1", "0.2"]


@dataclasses.dataclass(frozen=True)
class Flag:
  """One reference flag as given: its name (underscores, no ``--``), its value (None for a
  boolean), whether it is a boolean's negation (``--no_use_ln``) and how it was typed
  (``--no-use-ln``; empty: as its name)."""

  name: str
  value: str | None = None
  negated: bool = False
  typed: str = ""

  @property
  def given(self) -> str:
    """The flag as the user wrote it, for messages: ``--l2_penalty 0.1``, ``--no-cuda``."""
    name = self.typed or (f"--no_{self.name}" if self.negated else f"--{self.name}")
    return name if self.value is None else f"{name} {self.value}"

  def as_flag(self, name: str) -> list[str]:
    """The same setting under goalax's ``name``: ``["--name", value]``, ``["--no_name"]``."""
    if self.value is not None:
      return [f"--{name}", self.value]
    return [f"--no_{name}" if self.negated else f"--{name}"]


@dataclasses.dataclass(frozen=True)
class Context:
  """What a flag's translation may depend on: the algorithm, the goalax flags its run has, which
  reference the command comes from, and the whole command line."""

  agent: str
  fields: frozenset[str]
  reference: Reference
  argv: tuple[str, ...] = ()

  @property
  def on_policy(self) -> bool:
    from goalax import agents

    return agents.REGISTRY[self.agent].loop == "on_policy"


@dataclasses.dataclass(frozen=True)
class Taken:
  """A reference flag as goalax takes it: goalax's flags (none: no effect) and a note for stderr
  (empty: nothing to say)."""

  flags: tuple[str, ...] = ()
  note: str = ""


@dataclasses.dataclass(frozen=True)
class Rule:
  """How goalax takes one reference flag: ``take(flag, context) -> Taken``, or a UsageError
  refusing it. ``boolean``: the flag takes no value (``--use_ln``, ``--no_use_ln``)."""

  take: Callable[[Flag, Context], Taken]
  boolean: bool = False


def refuse(flag: Flag, what_instead: str) -> NoReturn:
  """Ends the translation with one sentence: the flag as given, then what to use instead."""
  raise UsageError(f"{flag.given}: {what_instead}.")


def _has_no(context: Context, name: str) -> str:
  """The sentence's end for a flag the agent has no counterpart of."""
  return (
    f"goalax's {context.agent} has no --{name} ('goalax train {context.agent} --help' lists "
    f"its flags)"
  )


def rename(name: str, missing: str = "") -> Rule:
  """The flag under goalax's ``name`` (the same name where goalax kept it) where the agent or the
  run has it; otherwise refused with ``missing`` (default: that the agent has no such flag)."""

  def take(flag: Flag, context: Context) -> Taken:
    if name not in context.fields:
      refuse(flag, missing.format(agent=context.agent) or _has_no(context, name))
    return Taken(tuple(flag.as_flag(name)))

  return Rule(take)


def rename_boolean(name: str, missing: str = "") -> Rule:
  """:func:`rename` for a boolean flag."""
  return Rule(rename(name, missing).take, boolean=True)


def accept_value(no_op: float, instead: str) -> Rule:
  """A numeric flag goalax has no counterpart for: accepted when its value ``no_op`` changes
  nothing, otherwise refused with ``instead``."""

  def take(flag: Flag, context: Context) -> Taken:
    try:
      if float(flag.value) == no_op:
        return Taken()
    except ValueError:
      pass
    refuse(flag, instead.format(agent=context.agent))

  return Rule(take)


def accept_boolean(goalax_does: bool, instead: str) -> Rule:
  """A boolean goalax has no flag for because it always does one thing (``goalax_does``): the
  spelling that asks for that thing is accepted, the other refused with ``instead``."""

  def take(flag: Flag, context: Context) -> Taken:
    if flag.negated != goalax_does:
      return Taken()
    refuse(flag, instead.format(agent=context.agent))

  return Rule(take, boolean=True)


def refused(instead: str, boolean: bool = False) -> Rule:
  """A flag goalax cannot take at all: refused with ``instead``."""

  def take(flag: Flag, context: Context) -> Taken:
    refuse(flag, instead.format(agent=context.agent))

  return Rule(take, boolean=boolean)


def unless_field(name: str, rule: Rule) -> Rule:
  """The flag under its own name where the agent has ``name``, else as ``rule`` takes it."""

  def take(flag: Flag, context: Context) -> Taken:
    if name in context.fields:
      return Taken(tuple(flag.as_flag(name)))
    return rule.take(flag, context)

  return Rule(take, boolean=rule.boolean)


# ---- flags whose meaning depends on the algorithm or another flag ----------------------------
LEARN_FROM_REWARD = ("sac", "td3", "ppo")
"""Algorithms that learn from the env's reward; the others learn from goals alone."""

ENERGY_NAMES: dict[Reference, dict[str, str]] = {
  "0.1": {"l2_no_sqrt": "l2_sq", "cos": "cosine"},  # 0.1's l2 is the distance, goalax's l2
  "0.2": {"l2": "l2_sq"},  # 0.2's l2 is the squared distance; its norm is goalax's l2 (an alias)
}
"""The reference's energy names whose goalax name differs, per version."""


def _learning_rate(flag: Flag, context: Context) -> Taken:
  """JaxGCRL 0.2's SAC and TD3 train actor and critics with one ``--learning_rate`` (SAC's
  temperature keeps 3e-4, goalax's --alpha_lr default); PPO has the same flag."""
  if "learning_rate" in context.fields:
    return Taken(tuple(flag.as_flag("learning_rate")))
  if {"actor_lr", "critic_lr"} <= context.fields:
    return Taken(tuple(flag.as_flag("actor_lr") + flag.as_flag("critic_lr")))
  refuse(flag, _has_no(context, "learning_rate"))


def _dense_reward(flag: Flag, context: Context) -> Taken:
  """JaxGCRL's env flag: the env's dense reward instead of the sparse one."""
  if "dense_reward" in context.fields:
    return Taken(tuple(flag.as_flag("dense_reward")))
  if flag.negated:  # the sparse reward: what every goalax agent that learns from reward uses
    return Taken()
  if context.agent not in LEARN_FROM_REWARD:
    return Taken(
      note=f"--use_dense_reward has no effect on {context.agent}: it learns from no reward"
    )
  refuse(
    flag,
    f"goalax's {context.agent} learns from the env's sparse success reward only (ppo has "
    f"--dense_reward); drop the flag",
  )


def _use_her(flag: Flag, context: Context) -> Taken:
  """Hindsight relabelling: SAC's and TD3's flag; the goal-learning agents relabel always."""
  if "use_her" in context.fields:
    return Taken(tuple(flag.as_flag("use_her")))
  if context.on_policy:
    refuse(
      flag, f"goalax's {context.agent} learns on-policy from whole rollouts and relabels no goals"
    )
  if flag.negated:
    return Taken()
  return Taken(
    note=f"--use_her has no effect on {context.agent}: it always learns from relabelled goals"
  )


def _use_relu(flag: Flag, context: Context) -> Taken:
  """JaxGCRL: swish unless ``--use_relu``."""
  return Taken(("--activation", "swish" if flag.negated else "relu"))


def _skip_connections(flag: Flag, context: Context) -> Taken:
  """JaxGCRL 0.2's CRL adds a skip connection after every K-th of its ``n_hidden`` layers
  (counting from the first); goalax's ``--residual`` is the case K = 4 with ``n_hidden = 4m + 1``
  (an input layer, then m blocks of 4 layers, each wrapped as ``x + block(x)``)."""
  from goalax import agents

  try:
    every = int(flag.value)
    given = flag_value(context.argv, "n_hidden")
    default = agents.REGISTRY[context.agent].config_class().n_hidden
    depth = int(given) if given is not None else default
  except ValueError:
    refuse(flag, "give the skip period as a whole number of layers, e.g. --skip_connections 4")
  if every <= 0 or depth <= every:  # no layer after the first skip point: no skip at all
    return Taken()
  if every == 4 and (depth - 1) % 4 == 0:
    refuse(flag, f"goalax's --residual --n_hidden {depth - 1} is this network; use those flags")
  refuse(
    flag,
    "goalax's residual networks skip every 4 layers after an input layer (--residual with "
    "--n_hidden 4m is the reference's --skip_connections 4 with --n_hidden 4m + 1); use those "
    "or drop the flag",
  )


def _energy_fn(flag: Flag, context: Context) -> Taken:
  """The reference's energy names, per version, as goalax's (:data:`ENERGY_NAMES`)."""
  if "energy_fn" not in context.fields:
    refuse(flag, f"goalax's {context.agent} has no energy (crl and td_infonce have --energy_fn)")
  name = ENERGY_NAMES[context.reference].get(flag.value, flag.value)
  return Taken(("--energy_fn", name))


def _vis_length(flag: Flag, context: Context) -> Taken:
  """JaxGCRL 0.2's ``--vis_length`` (the length of a final rendering) is read by nothing there."""
  return Taken(
    note="--vis_length has no effect (the reference reads it nowhere either); goalax's videos "
    "(--video_every) are whole evaluation episodes, 'goalax render RUN_DIR' renders more"
  )


def _cuda(flag: Flag, context: Context) -> Taken:
  """JaxGCRL 0.2's ``--cuda`` (default on) is read by nothing there; goalax runs on the device
  JAX picks (a GPU when JAX sees one)."""
  if not flag.negated:
    return Taken()
  return Taken(
    note="--no_cuda has no effect (the reference reads it nowhere either); goalax runs "
    "where JAX runs: set JAX_PLATFORMS=cpu for the CPU"
  )


# ---- every reference flag goalax does not take verbatim ----------------------------------------
NO_REPLAY = "goalax's {agent} keeps no replay buffer (it learns from each rollout, on-policy)"
"""Why an on-policy agent refuses the replay flags of the off-policy ones."""
_NOT_CRL = "goalax's {agent} has no contrastive critic; it is crl's flag"

RULES: dict[str, Rule] = {
  # run (0.1 and 0.2)
  "env_name": rename("env"),
  "total_env_steps": rename("num_timesteps"),
  "wandb_project_name": rename("project_name"),
  "wandb_group": rename("group_name"),
  "visualization_interval": rename("video_every"),
  "checkpoint_logdir": rename("run_dir"),
  "max_devices_per_host": rename("devices"),
  "vis_length": Rule(_vis_length),
  "cuda": Rule(_cuda, boolean=True),
  # replay and updates
  "train_step_multiplier": rename(
    "multiplier_num_sgd_steps",
    "goalax's {agent} takes --num_updates_per_batch × --num_minibatches gradient steps per "
    "rollout; set those",
  ),
  "multiplier_num_sgd_steps": rename(
    "multiplier_num_sgd_steps",
    "goalax's {agent} takes --num_updates_per_batch × --num_minibatches gradient steps per "
    "rollout; set those",
  ),
  "batch_size": rename(
    "batch_size",
    NO_REPLAY + "; it splits each rollout (--num_envs × --unroll_length transitions) into "
    "--num_minibatches minibatches: set --num_minibatches",
  ),
  "min_replay_size": rename("min_replay_size", NO_REPLAY),
  "max_replay_size": rename("max_replay_size", NO_REPLAY),
  # learning rates
  "policy_lr": rename(
    "actor_lr", "goalax's {agent} has one learning rate for both networks, --learning_rate"
  ),
  "learning_rate": Rule(_learning_rate),
  # networks
  "use_ln": rename_boolean("use_layer_norm"),
  "use_relu": Rule(_use_relu, boolean=True),
  "skip_connections": Rule(_skip_connections),
  # CRL's losses
  "energy_fn": Rule(_energy_fn),
  "contrastive_loss_fn": rename("contrastive_loss_fn", _NOT_CRL),
  "logsumexp_penalty": rename("logsumexp_penalty_coeff", _NOT_CRL),
  "no_resubs": accept_boolean(
    False,
    "goalax's contrastive losses always keep the positive pair in the logsumexp "
    "(resubstitution); drop the flag",
  ),
  "use_c_target": accept_boolean(
    False,
    "goalax has no c_target; its nearest is --learn_energy_temperature, a learned scale of the "
    "logits that the actor's objective uses too",
  ),
  "l2_penalty": accept_value(0.0, "goalax has no L2 penalty on the representations; drop the flag"),
  "exploration_coef": accept_value(
    0.0, "goalax has no exploration bonus on the representation norm; drop the flag"
  ),
  "random_goals": rename(
    "actor_p_random",
    "goalax's {agent} draws no random actor goals (crl, td_infonce and qrl have --actor_p_random)",
  ),
  # rewards, relabelling, observations, evaluation
  "use_dense_reward": Rule(_dense_reward, boolean=True),
  "use_her": Rule(_use_her, boolean=True),
  "normalize_observations": unless_field(
    "normalize_observations",
    accept_boolean(
      False, "goalax's {agent} feeds the raw observations (ppo has --normalize_observations)"
    ),
  ),
  "reward_scaling": unless_field(
    "reward_scaling",
    accept_value(1.0, "goalax's {agent} learns from the unscaled reward; drop the flag"),
  ),
  "deterministic_eval": accept_boolean(
    True, "goalax evaluates the deterministic action (the policy's mean) only"
  ),
  "num_resets_per_eval": accept_value(
    0.0,
    "goalax's envs reset at every episode end (time limit or termination), never on a schedule; "
    "drop the flag",
  ),
  "restore_checkpoint_path": refused(
    "goalax continues a stopped run with --resume RUN_DIR ('goalax resume RUN_DIR') and does not "
    "start from another run's parameters"
  ),
}
"""Every reference flag goalax does not take verbatim, by name; all others pass through."""
