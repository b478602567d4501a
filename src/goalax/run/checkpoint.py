"""Whole-state checkpoints of a run (orbax): atomic save, restore, pruning.

A checkpoint holds everything a run needs to continue bit for bit: the training state of every
seed (the loop's state pytree: the agent's parameters, optimiser states and targets, the replay
buffer where the loop has one, the env states, the RNG keys and counters), plus the policy
parameters alone (what :func:`goalax.policy.load_policy` reads) and the host loop's counters.
Layout of ``RUN_DIR/checkpoints/`` (listed by :mod:`goalax.run.runfiles`)::

    epoch_000004/                  a complete checkpoint (only complete ones bear this name)
      state/                       orbax: the training state, leaves stacked over seeds
      policy/                      orbax: agent.policy_params(state.agent), stacked over seeds
      meta.json                    epoch, env_steps, train_seconds, seeds, bytes, time
    .partial-epoch_000005-<pid>/   a save in progress, or one that was killed: never read

A save writes everything into a partial directory, syncs it to disk and renames it to its final
name, which is atomic on POSIX filesystems: a crash, a kill or a full disk during a save leaves
every earlier checkpoint as it was. Old checkpoints are deleted only after a newer one is
complete. During training a :class:`BackgroundSaver` does this in a thread while the next epoch
runs, from host copies taken when the checkpoint is asked for.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from typing import Any

import jax
import numpy as np

from goalax.errors import OutputError, UsageError
from goalax.parallel import distributed
from goalax.run.memory import tree_bytes
from goalax.run.runfiles import Checkpoint, checkpoint_root, list_checkpoints, output_error

_PARTIAL_PREFIX = ".partial-"


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
  if distributed.many():
    return _save_together(run_dir, epoch, state, policy_params, meta, keep)
  root = os.path.abspath(checkpoint_root(run_dir))  # orbax refuses relative paths
  host_state, host_policy = jax.device_get((state, policy_params))
  needed = tree_bytes(host_state) + tree_bytes(host_policy)
  name = f"epoch_{epoch:06d}"
  partial = os.path.join(root, f"{_PARTIAL_PREFIX}{name}-{os.getpid()}")
  try:
    _prepare_partial(root, partial, needed)
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


def _prepare_partial(root: str, partial: str, needed: int) -> None:
  """Makes the empty partial folder of a checkpoint of ``needed`` bytes under ``root``, after
  removing earlier partial saves; OSError (ENOSPC) when the disk cannot hold it (16 MiB spare)."""
  os.makedirs(root, exist_ok=True)
  _remove_partials(root)
  free = shutil.disk_usage(root).free
  if free < needed + (16 << 20):
    raise OSError(errno.ENOSPC, f"{needed:,} bytes needed, {free:,} free")
  os.makedirs(partial)


def _save_together(
  run_dir: str, epoch: int, state: Any, policy_params: Any, meta: dict, keep: int
) -> Checkpoint:
  """:func:`save` with several processes: each writes its own shards of the global arrays into
  one partial directory (orbax's multi-host save); process 0 checks the free space before and
  commits (atomic rename) after every process has written. Every process must call it."""
  root = os.path.abspath(checkpoint_root(run_dir))
  needed = tree_bytes(state) + tree_bytes(policy_params)
  name = f"epoch_{epoch:06d}"
  partial = os.path.join(root, f"{_PARTIAL_PREFIX}{name}")  # the same name in every process
  meta = dict(meta, epoch=epoch, bytes=needed, saved_at=time.strftime("%Y-%m-%d %H:%M:%S"))

  def on_main(step) -> None:
    problem = ""
    if distributed.is_main():
      try:
        step()
      except Exception as e:
        shutil.rmtree(partial, ignore_errors=True)
        problem = str(output_error(e, f"checkpoint {name} in {root}", run_dir))
    problem = distributed.broadcast_text(problem)
    if problem:
      raise OutputError(problem)

  def commit():
    _write_json(os.path.join(partial, "meta.json"), meta)
    _commit(partial, os.path.join(root, name))
    prune(run_dir, keep)

  on_main(lambda: _prepare_partial(root, partial, needed))
  checkpointer = _checkpointer()
  checkpointer.save(os.path.join(partial, "state"), _without_empty(state))
  checkpointer.save(os.path.join(partial, "policy"), _without_empty(policy_params))
  distributed.barrier(f"goalax checkpoint {name} written")
  on_main(commit)
  return Checkpoint(os.path.join(root, name), epoch, meta)


def _restore(path: str, abstract: Any, what: str) -> Any:
  try:
    restored = _checkpointer().restore(os.path.abspath(path), _without_empty(abstract))
    return _with_empty(restored, abstract)
  except (ValueError, KeyError, TypeError) as e:
    raise UsageError(
      f"{what} in {os.path.dirname(path)} does not match the run's configuration ({e})."
    ) from None


def restore_state(checkpoint: Checkpoint, abstract_state: Any, shardings: Any = None) -> Any:
  """The checkpoint's training state, shaped like ``abstract_state``: host arrays, or with
  ``shardings`` arrays placed so (with several processes, each reads its own part)."""
  if shardings is not None:
    with_sharding = lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s)
    abstract_state = jax.tree.map(with_sharding, abstract_state, shardings)
  return _restore(os.path.join(checkpoint.path, "state"), abstract_state, "the training state")


def restore_policy(checkpoint: Checkpoint, abstract_policy: Any) -> Any:
  """The checkpoint's policy parameters (every seed), shaped like ``abstract_policy``."""
  return _restore(os.path.join(checkpoint.path, "policy"), abstract_policy, "the policy")


# ---- saving while training goes on -------------------------------------------------------
def host_copy(tree: Any) -> Any:
  """Host copies of every array of ``tree``: they stay as they are while the device buffers are
  reused (training donates its state to the next epoch)."""
  return jax.tree.map(lambda x: np.array(x, copy=True), jax.device_get(tree))


class BackgroundSaver:
  """Writes checkpoints with :func:`save` in a thread, one at a time, while training goes on.

  ``submit`` copies the arrays to the host first, in the caller's thread, so a checkpoint holds
  exactly the state it was asked for; the write itself (partial directory, sync, atomic rename,
  pruning) is :func:`save`'s, so a crash, a kill or a full disk leave every earlier checkpoint as
  it was. A failed save raises its OutputError at the next ``submit`` or ``wait``. The cost is a
  host copy of the state while a save is in flight.
  """

  def __init__(self, completed: Checkpoint | None = None):
    self.completed = completed  # the newest complete checkpoint
    self.pending_epoch: int | None = None
    self._thread: threading.Thread | None = None
    self._error: BaseException | None = None

  def submit(
    self, run_dir: str, epoch: int, state: Any, policy_params: Any, meta: dict, keep: int
  ) -> None:
    """Starts writing checkpoint ``epoch`` (after the previous save has ended). With several
    processes the save is collective and is done here, before returning."""
    self.wait()
    if distributed.many():
      self.completed = save(run_dir, epoch, state, policy_params, meta, keep)
      return
    host_state, host_policy = host_copy((state, policy_params))

    def write():
      try:
        self.completed = save(run_dir, epoch, host_state, host_policy, meta, keep)
      except BaseException as e:  # raised in the caller's thread by wait()
        self._error = e

    self.pending_epoch = epoch
    self._thread = threading.Thread(target=write, name=f"goalax-checkpoint-{epoch}")
    self._thread.start()

  @property
  def newest_epoch(self) -> int | None:
    """The epoch of the save in flight, else of the newest complete checkpoint."""
    if self.pending_epoch is not None:
      return self.pending_epoch
    return self.completed.epoch if self.completed else None

  def wait(self, raise_error: bool = True) -> Checkpoint | None:
    """Waits for the save in flight; returns the newest complete checkpoint. A save that failed
    raises its error here (or, with ``raise_error=False``, is only waited for)."""
    while self._thread is not None and self._thread.is_alive():
      self._thread.join(0.05)  # short joins: a stop signal is still handled meanwhile
    self._thread, self.pending_epoch = None, None
    if self._error is not None and raise_error:
      error, self._error = self._error, None
      raise error
    return self.completed


def save_params(run_dir: str, params: dict) -> str:
  """Writes the agent's final parameters of every seed (``agent.saved_params``, leaves stacked
  over seeds) to ``params.msgpack``."""
  from flax import serialization

  payload = jax.device_get(params)
  path = os.path.join(run_dir, "params.msgpack")
  with open(path, "wb") as f:
    f.write(serialization.to_bytes(payload))
  return path
