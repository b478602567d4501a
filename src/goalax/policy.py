"""A trained policy without the training script: ``load_policy(run_dir)``, and the agent and
policy parameters of a saved run, rebuilt from ``RUN_DIR/config.yaml`` and a checkpoint alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from goalax.errors import UsageError
from goalax.run.checkpoint import restore_policy
from goalax.run.runfiles import find_checkpoint


def load_agent(run_dir: str):
  """``(config, agent, derived)`` of a run, rebuilt from its config.yaml alone (no env needed)."""
  from goalax import agents
  from goalax.config import load_run_config

  config, derived = load_run_config(run_dir)
  sizes = (derived.state_size, derived.goal_size, derived.action_size)
  return config, agents.make_agent(config.agent, *sizes), derived


def load_policy_params(run_dir: str, epoch: int | None = None):
  """``(agent, policy_params stacked over seeds, checkpoint, derived, config)``."""
  config, agent, derived = load_agent(run_dir)
  checkpoint = find_checkpoint(run_dir, epoch)
  if checkpoint is None:
    raise UsageError(
      f"{run_dir} has no checkpoint yet (one is written at every --checkpoint_every-th "
      "evaluation, including the first, right after the prefill)."
    )
  num_seeds = len(derived.seeds)
  abstract = jax.eval_shape(
    lambda keys: jax.vmap(lambda k: agent.policy_params(agent.init(k)))(keys),
    jax.ShapeDtypeStruct((num_seeds, 2), np.uint32),
  )
  return agent, restore_policy(checkpoint, abstract), checkpoint, derived, config


@dataclasses.dataclass(frozen=True)
class Policy:
  """A trained agent's deterministic policy: ``policy(obs [..., obs_size]) -> action``.

  ``obs = concat(state, goal)`` as the env gives it; actions are in [-1, 1]. Calls go to one
  jitted function.
  """

  act: Callable[[jax.Array], jax.Array]
  config: Any  # the run's TrainConfig
  epoch: int  # the checkpoint's epoch
  env_steps: int  # env steps per seed at that checkpoint
  observation_size: int
  action_size: int

  def __call__(self, obs: jax.Array) -> jax.Array:
    return self.act(obs)


def load_policy(run_dir: str, seed_index: int = 0, epoch: int | None = None) -> Policy:
  """The jitted deterministic policy of a run's newest checkpoint (or that of ``epoch``).

  Rebuilt from ``RUN_DIR/config.yaml`` and the checkpoint alone: no training script, flags or
  environment are needed. ``seed_index`` k picks the agent of seed ``seed + k`` of a
  ``--num_seeds`` run.
  """
  agent, params, checkpoint, derived, config = load_policy_params(run_dir, epoch)
  num_seeds = len(derived.seeds)
  if not 0 <= seed_index < num_seeds:
    raise UsageError(f"seed_index must be in [0, {num_seeds}) for {run_dir}, got {seed_index}.")
  params = jax.device_put(jax.tree.map(lambda x: x[seed_index], params))
  key = jax.random.PRNGKey(0)  # unused by the deterministic action
  act = jax.jit(lambda obs: agent.act(params, obs, key, True))
  obs_size = derived.state_size + derived.goal_size
  return Policy(act, config, checkpoint.epoch, checkpoint.env_steps, obs_size, derived.action_size)
