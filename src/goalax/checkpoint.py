"""Whole-state checkpoints of a run (orbax), and ``load_policy`` for inference.

A checkpoint holds everything a run needs to continue bit for bit: the ``TrainState`` of every
seed (the agent's parameters, optimiser states and targets, the replay buffer, the env states,
the RNG keys and counters), plus the policy parameters alone (what :func:`load_policy` reads) and
the host loop's counters. Layout of ``RUN_DIR/checkpoints/``::

    epoch_000004/                  a complete checkpoint (only complete ones bear this name)
      state/                       orbax: TrainState, leaves stacked over seeds
      policy/                      orbax: agent.policy_params(state.agent), stacked over seeds
      meta.json                    epoch, env_steps, train_seconds, seeds, bytes, time
    .partial-epoch_000005-<pid>/   a save in progress, or one that was killed: never read

A save writes everything into a partial directory, syncs it to disk and renames it to its final
name, which is atomic on POSIX filesystems: a crash, a kill or a full disk during a save leaves
every earlier checkpoint as it was. Old checkpoints are deleted only after a newer one is
complete.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from goalax.errors import OutputError, UsageError
from goalax.memory import tree_bytes

CHECKPOINTS = "checkpoints"
_COMPLETE = re.compile(r"^epoch_(\d+)$")
_PARTIAL_PREFIX = ".partial-"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """A complete checkpoint on disk."""

  path: str
  epoch: int
  meta: dict

  @property
  def env_steps(self) -> int:
    return int(self.meta["env_steps"])


def checkpoint_root(run_dir: str) -> str:
  return os.path.join(run_dir, CHECKPOINTS)


def list_checkpoints(run_dir: str) -> list[Checkpoint]:
  """The complete checkpoints of a run, oldest first (partial saves are never listed)."""
  root = checkpoint_root(run_dir)
  if not os.path.isdir(root):
    return []
  found = []
  for name in os.listdir(root):
    match = _COMPLETE.match(name)
    meta_path = os.path.join(root, name, "meta.json")
    if match and os.path.isfile(meta_path):
      with open(meta_path) as f:
        found.append(Checkpoint(os.path.join(root, name), int(match.group(1)), json.load(f)))
  return sorted(found, key=lambda c: c.epoch)


def latest_checkpoint(run_dir: str) -> Checkpoint | None:
  found = list_checkpoints(run_dir)
  return found[-1] if found else None


def is_disk_full(error: BaseException) -> bool:
  """Whether an exception from a write means the disk (or the user's quota) is full."""
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


def _is_empty(x) -> bool:
  """Whether an array (or ``jax.ShapeDtypeStruct``) has no elements."""
  return 0 in tuple(x.shape)


def _without_empty(tree: Any) -> Any:
  """``tree`` with zero-size arrays replaced by None (orbax refuses to save them)."""
  return jax.tree.map(lambda x: None if _is_empty(x) else x, tree)


def _with_empty(restored: Any, abstract: Any) -> Any:
  """Puts the zero-size arrays of ``abstract`` back where :func:`_without_empty` left None."""
  fill = lambda a, r: np.zeros(a.shape, a.dtype) if _is_empty(a) else r
  return jax.tree.map(fill, abstract, restored)


def _checkpointer():
  import orbax.checkpoint as ocp

  return ocp.Checkpointer(ocp.StandardCheckpointHandler())


def _write_json(path: str, data: dict) -> None:
  with open(path, "w") as f:
    json.dump(data, f, indent=1)
    f.flush()
    os.fsync(f.fileno())


def _sync_tree(path: str) -> None:
  """Flushes every file and directory under ``path`` to disk (before the atomic rename)."""
  for folder, _, files in os.walk(path):
    for name in files:
      fd = os.open(os.path.join(folder, name), os.O_RDONLY)
      try:
        os.fsync(fd)
      finally:
        os.close(fd)
    _sync_dir(folder)


def _sync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def _commit(partial: str, final: str) -> None:
  """Makes a fully written partial checkpoint visible under its final name (atomic rename)."""
  _sync_tree(partial)
  if os.path.exists(final):  # the same epoch saved again (a resumed run): same content
    shutil.rmtree(final)
  os.rename(partial, final)
  _sync_dir(os.path.dirname(final))


def _remove_partials(root: str) -> None:
  for name in os.listdir(root):
    if name.startswith(_PARTIAL_PREFIX):
      shutil.rmtree(os.path.join(root, name), ignore_errors=True)


def prune(run_dir: str, keep: int) -> None:
  """Deletes all but the newest ``keep`` complete checkpoints."""
  for old in list_checkpoints(run_dir)[:-keep]:
    shutil.rmtree(old.path, ignore_errors=True)


def save(
  run_dir: str, epoch: int, state: Any, policy_params: Any, meta: dict, keep: int
) -> Checkpoint:
  """Atomically writes checkpoint ``epoch`` of a run and keeps the newest ``keep`` checkpoints.

  ``state`` and ``policy_params`` are pytrees of arrays (batched over seeds); ``meta`` is
  JSON-serialisable. Raises :class:`OutputError` when the disk is full or the folder cannot be
  written; the partial save is removed and every earlier checkpoint stays loadable.
  """
  root = os.path.abspath(checkpoint_root(run_dir))  # orbax refuses relative paths
  host_state, host_policy = jax.device_get((state, policy_params))
  needed = tree_bytes(host_state) + tree_bytes(host_policy)
  name = f"epoch_{epoch:06d}"
  partial = os.path.join(root, f"{_PARTIAL_PREFIX}{name}-{os.getpid()}")
  try:
    os.makedirs(root, exist_ok=True)
    _remove_partials(root)
    free = shutil.disk_usage(root).free
    if free < needed + (16 << 20):
      raise OSError(errno.ENOSPC, f"{needed:,} bytes needed, {free:,} free")
    os.makedirs(partial)
    checkpointer = _checkpointer()
    checkpointer.save(os.path.join(partial, "state"), _without_empty(host_state))
    checkpointer.save(os.path.join(partial, "policy"), _without_empty(host_policy))
    meta = dict(meta, epoch=epoch, bytes=needed, saved_at=time.strftime("%Y-%m-%d %H:%M:%S"))
    _write_json(os.path.join(partial, "meta.json"), meta)
    _commit(partial, os.path.join(root, name))
  except Exception as e:
    shutil.rmtree(partial, ignore_errors=True)
    raise output_error(e, f"checkpoint {name} in {root}", run_dir) from None
  prune(run_dir, keep)
  return Checkpoint(os.path.join(root, name), epoch, meta)


def output_error(error: Exception, what: str, run_dir: str) -> OutputError:
  last = latest_checkpoint(run_dir)
  kept = f"the last complete checkpoint, {last.path}, is intact" if last else "no checkpoint yet"
  if is_disk_full(error):
    return OutputError(
      f"the disk is full: could not write {what} ({error}); everything saved before is kept "
      f"({kept}). Free some space and continue with 'goalax resume {run_dir}'."
    )
  return OutputError(f"could not write {what}: {error}; {kept}.")


def _restore(path: str, abstract: Any, what: str) -> Any:
  try:
    restored = _checkpointer().restore(os.path.abspath(path), _without_empty(abstract))
    return _with_empty(restored, abstract)
  except (ValueError, KeyError, TypeError) as e:
    raise UsageError(
      f"{what} in {os.path.dirname(path)} does not match the run's configuration ({e})."
    ) from None


def restore_state(checkpoint: Checkpoint, abstract_state: Any) -> Any:
  """The checkpoint's TrainState, as host arrays shaped like ``abstract_state``."""
  return _restore(os.path.join(checkpoint.path, "state"), abstract_state, "the training state")


def restore_policy(checkpoint: Checkpoint, abstract_policy: Any) -> Any:
  """The checkpoint's policy parameters (every seed), shaped like ``abstract_policy``."""
  return _restore(os.path.join(checkpoint.path, "policy"), abstract_policy, "the policy")


# ---- inference -----------------------------------------------------------------------------
def find_checkpoint(run_dir: str, epoch: int | None = None, flag: str = "--checkpoint"):
  """The checkpoint of ``epoch`` (default: the newest), or UsageError naming what exists."""
  found = list_checkpoints(run_dir)
  if epoch is None:
    return found[-1] if found else None
  for checkpoint in found:
    if checkpoint.epoch == epoch:
      return checkpoint
  have = ", ".join(str(c.epoch) for c in found) or "none"
  raise UsageError(f"{run_dir} has no checkpoint of epoch {epoch} ({flag}); epochs saved: {have}.")


def load_agent(run_dir: str):
  """``(config, agent, derived)`` of a run, rebuilt from its config.yaml alone (no env needed)."""
  from goalax import agents
  from goalax.config import load_run_config

  config, derived = load_run_config(run_dir)
  sizes = (derived["state_size"], derived["goal_size"], derived["action_size"])
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
  num_seeds = len(derived["seeds"])
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
  num_seeds = len(derived["seeds"])
  if not 0 <= seed_index < num_seeds:
    raise UsageError(f"seed_index must be in [0, {num_seeds}) for {run_dir}, got {seed_index}.")
  params = jax.device_put(jax.tree.map(lambda x: x[seed_index], params))
  key = jax.random.PRNGKey(0)  # unused by the deterministic action
  act = jax.jit(lambda obs: agent.act(params, obs, key, True))
  obs_size = derived["state_size"] + derived["goal_size"]
  return Policy(
    act, config, checkpoint.epoch, checkpoint.env_steps, obs_size, derived["action_size"]
  )
