"""A run directory's files: where a run writes, the lock while it does, atomic replacement, what
is read back (metrics rows, the list of complete checkpoints), and the one-sentence errors when a
write fails.

Layout of ``RUN_DIR`` (see the README): ``config.yaml`` (the config and its
:class:`~goalax.config.Derived` record), ``metrics.csv`` / ``metrics.jsonl``, ``curves.png``,
``checkpoints/epoch_NNNNNN/`` (complete checkpoints only; ``meta.json`` inside), ``params.msgpack``,
``videos/``, ``tensorboard/``, and ``.lock`` while a process writes. Nothing here imports the
modules that write these files (:mod:`goalax.outputs.logger`, :mod:`goalax.outputs.plotting`,
:mod:`goalax.run.checkpoint`); they import this.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import json
import os
import re
from typing import Any

import yaml

from goalax.errors import ConfigError, OutputError, UsageError

CHECKPOINTS = "checkpoints"
_COMPLETE = re.compile(r"^epoch_(\d+)$")


# ---- the run directory ---------------------------------------------------------------------
def _check_run_name(name: str) -> None:
  if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
    raise ConfigError(
      f"--exp_name {name!r} must be a plain folder name (no '{os.sep}'); the parent folder is "
      "--run_dir."
    )


def default_run_name(env: str, algo: str, seed: int) -> str:
  return f"{env}_{algo}_s{seed}_{datetime.datetime.now():%Y%m%d-%H%M%S}"


def new_run_dir(parent: str, name: str) -> str:
  """Creates ``parent/name`` and returns it; an existing run is never touched.

  A name that exists already (a script that repeats ``--exp_name``, as JaxGCRL's README loop
  does, or two runs started in the same second) becomes ``name-2``, ``name-3``, ...: the caller
  says so when the path is not ``parent/name``. An unwritable or invalid ``--run_dir`` is an
  OutputError naming the flag.
  """
  _check_run_name(name)
  try:
    os.makedirs(parent, exist_ok=True)
  except OSError as e:
    raise OutputError(
      f"--run_dir {parent} cannot be created ({e.strerror}); choose a folder you can write to."
    ) from None
  if not os.path.isdir(parent):
    raise OutputError(f"--run_dir {parent} is a file, not a folder; choose a folder.")
  candidate, n = os.path.join(parent, name), 1
  while True:
    try:
      os.makedirs(candidate)
      return candidate
    except FileExistsError:
      n += 1
      candidate = os.path.join(parent, f"{name}-{n}")
    except OSError as e:
      raise OutputError(
        f"--run_dir {parent} is not writable ({e.strerror}); choose a folder you can write to."
      ) from None


class RunLock:
  """An exclusive lock on a run directory while a process writes to it: ``flock`` on
  ``RUN_DIR/.lock``, which the system releases when the process ends, however it ends. A second
  process (a resume started twice, a requeued job whose first copy still runs) gets a
  ConfigError naming the holder's pid."""

  def __init__(self, run_dir: str):
    import fcntl

    self.fd = os.open(os.path.join(run_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.read(self.fd, 32).decode(errors="replace").strip() or "unknown"
      os.close(self.fd)
      raise ConfigError(
        f"{run_dir} is being written by another goalax process (pid {holder}); wait for it to "
        "end or stop it first."
      ) from None
    os.ftruncate(self.fd, 0)
    os.write(self.fd, str(os.getpid()).encode())

  def release(self) -> None:
    if self.fd is not None:
      os.close(self.fd)  # closing the descriptor releases the lock
      self.fd = None


# ---- writing and reading files -------------------------------------------------------------
def replace_file(path: str, write: Any, binary: bool = False) -> None:
  """Writes ``path`` through ``write(file)`` into a temporary file, then renames it over
  ``path``: a crash or a full disk mid-write leaves the old file whole."""
  tmp = f"{path}.tmp-{os.getpid()}"
  try:
    with open(tmp, "wb") if binary else open(tmp, "w", newline="") as f:
      write(f)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_config(run_dir: str, config: Any, derived: Any) -> None:
  """``RUN_DIR/config.yaml``: ``{config: every flag, derived: the Derived record}``."""
  data = {"config": dataclasses.asdict(config), "derived": derived.as_mapping()}
  with open(os.path.join(run_dir, "config.yaml"), "w") as f:
    yaml.safe_dump(data, f, sort_keys=False)


def read_rows(run_dir: str) -> list[dict[str, Any]]:
  """The rows of ``RUN_DIR/metrics.jsonl`` (per seed and ``seed = "mean"``), in order."""
  path = os.path.join(run_dir, "metrics.jsonl")
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# ---- checkpoints on disk -------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """A complete checkpoint on disk."""

  path: str
  epoch: int
  meta: dict

  @property
  def env_steps(self) -> int:
    return int(self.meta["env_steps"])

  @property
  def steps_done(self) -> str:
    """``"N env steps"``, or ``"N gradient steps"`` for an offline run's checkpoint."""
    if self.meta.get("gradient_steps"):
      return f"{int(self.meta['gradient_steps']):,} gradient steps"
    return f"{self.env_steps:,} env steps"


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


def find_checkpoint(run_dir: str, epoch: int | None = None, flag: str = "--checkpoint"):
  """The checkpoint of ``epoch`` (default: the newest, or None), or UsageError naming what
  exists."""
  found = list_checkpoints(run_dir)
  if epoch is None:
    return found[-1] if found else None
  for checkpoint in found:
    if checkpoint.epoch == epoch:
      return checkpoint
  have = ", ".join(str(c.epoch) for c in found) or "none"
  raise UsageError(f"{run_dir} has no checkpoint of epoch {epoch} ({flag}); epochs saved: {have}.")


# ---- when a write fails --------------------------------------------------------------------
def is_disk_full(error: BaseException) -> bool:
  """Whether an exception from a write means the disk (or the user's quota) is full."""
  if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


def output_error(error: Exception, what: str, run_dir: str) -> OutputError:
  """One sentence for a failed write of ``what``: the cause, and what is kept on disk."""
  last = latest_checkpoint(run_dir)
  kept = f"the last complete checkpoint, {last.path}, is intact" if last else "no checkpoint yet"
  if is_disk_full(error):
    return OutputError(
      f"the disk is full: could not write {what} ({error}); everything saved before is kept "
      f"({kept}). Free some space and continue with 'goalax resume {run_dir}'."
    )
  return OutputError(f"could not write {what}: {error}; {kept}.")
