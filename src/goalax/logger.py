"""Run outputs: a fresh run directory, config.yaml, metrics.csv / metrics.jsonl, TensorBoard,
wandb."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import yaml

from goalax.errors import ConfigError, OutputError


def _check_run_name(name: str) -> None:
  if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
    raise ConfigError(
      f"--exp_name {name!r} must be a plain folder name (no '{os.sep}'); the parent folder is "
      "--run_dir."
    )


def new_run_dir(parent: str, name: str, explicit: bool = False) -> str:
  """Creates ``parent/name`` and returns it; an existing run is never touched.

  A default name that exists already (two runs started in the same second) becomes ``name-2``,
  ``name-3``, ...; an explicit ``--exp_name`` that exists is a ConfigError, so a script that
  names its runs never writes to a folder it does not expect. An unwritable or invalid
  ``--run_dir`` is an OutputError naming the flag.
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
      break
    except FileExistsError:
      if explicit:
        raise ConfigError(
          f"--exp_name {name}: {candidate} already exists; choose another name, or continue "
          f"that run with 'goalax resume {candidate}'."
        ) from None
      n += 1
      candidate = os.path.join(parent, f"{name}-{n}")
    except OSError as e:
      raise OutputError(
        f"--run_dir {parent} is not writable ({e.strerror}); choose a folder you can write to."
      ) from None
  return candidate


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


def default_run_name(env: str, algo: str, seed: int) -> str:
  return f"{env}_{algo}_s{seed}_{datetime.datetime.now():%Y%m%d-%H%M%S}"


def write_config(run_dir: str, config: Any, derived: dict[str, Any]) -> None:
  data = {"config": dataclasses.asdict(config), "derived": derived}
  with open(os.path.join(run_dir, "config.yaml"), "w") as f:
    yaml.safe_dump(data, f, sort_keys=False)


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


def read_rows(run_dir: str) -> list[dict[str, Any]]:
  """The rows of ``RUN_DIR/metrics.jsonl`` (per seed and ``seed = "mean"``), in order."""
  path = os.path.join(run_dir, "metrics.jsonl")
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _clean(value):
  if isinstance(value, (str, int)):
    return value
  value = float(value)
  return value if math.isfinite(value) else str(value)


class MetricsWriter:
  """Appends one row per (evaluation, seed) plus one aggregated row (seed = "mean").

  metrics.jsonl is appended to; metrics.csv is rewritten (atomically) whenever a row brings new
  columns (the evaluation before training has no training metrics yet), so no value is ever
  dropped. ``rows`` are rows already written, when a resumed run continues the files.
  """

  def __init__(self, run_dir: str, rows: Iterable[dict[str, Any]] = ()):
    self.csv_path = os.path.join(run_dir, "metrics.csv")
    self.jsonl_path = os.path.join(run_dir, "metrics.jsonl")
    self._rows: list[dict[str, Any]] = list(rows)
    self._columns: list[str] = list(dict.fromkeys(k for row in self._rows for k in row))

  @classmethod
  def reopen(cls, run_dir: str, last_epoch: int) -> MetricsWriter:
    """Continues a run's files from its rows up to ``last_epoch`` (later rows, written after
    the checkpoint a run resumes from, are dropped: the resumed run writes them again)."""
    writer = cls(run_dir, [row for row in read_rows(run_dir) if row["epoch"] <= last_epoch])
    replace_file(
      writer.jsonl_path, lambda f: f.writelines(json.dumps(r) + "\n" for r in writer._rows)
    )
    replace_file(writer.csv_path, writer.write_csv)
    return writer

  @property
  def rows(self) -> list[dict[str, Any]]:
    return list(self._rows)

  def write_csv(self, f) -> None:
    """Writes every row so far, with a header, to the open file ``f``."""
    writer = csv.DictWriter(f, self._columns)
    writer.writeheader()
    writer.writerows(self._rows)

  def write(self, rows: Iterable[dict[str, Any]]) -> None:
    rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
    with open(self.jsonl_path, "a") as f:
      for row in rows:
        f.write(json.dumps(row) + "\n")
    self._rows.extend(rows)
    new_columns = [k for row in rows for k in row if k not in self._columns]
    if new_columns:
      self._columns.extend(dict.fromkeys(new_columns))
      replace_file(self.csv_path, self.write_csv)
    else:
      with open(self.csv_path, "a", newline="") as f:
        csv.DictWriter(f, self._columns).writerows(rows)


def metric_rows(metrics: dict[str, Any], seeds: list[int], env_steps: int, epoch: int):
  """``(per_seed, mean)``: one row per seed of ``metrics`` (each value ``[num_seeds]``) and their
  mean (plus the spread ``eval/..._std`` over seeds, with more than one seed)."""
  arrays = {k: np.asarray(v) for k, v in metrics.items()}
  per_seed = [
    dict(epoch=epoch, env_steps=env_steps, seed=s, **{k: float(v[i]) for k, v in arrays.items()})
    for i, s in enumerate(seeds)
  ]
  mean = dict(
    epoch=epoch,
    env_steps=env_steps,
    seed="mean",
    **{k: float(np.mean(v)) for k, v in arrays.items()},
  )
  if len(seeds) > 1:
    mean.update({f"{k}_std": float(np.std(v)) for k, v in arrays.items() if k.startswith("eval/")})
  return per_seed, mean


def scalars(row: dict[str, Any]) -> dict[str, float]:
  """The finite metric values of a row (no epoch, env_steps or seed)."""
  skip = ("epoch", "env_steps", "seed")
  return {
    k: float(v)
    for k, v in row.items()
    if k not in skip and isinstance(v, (int, float)) and math.isfinite(v)
  }


class TensorBoardLogger:
  """Writes the aggregated row of every evaluation to ``RUN_DIR/tensorboard/`` (tensorboardX,
  which writes event files itself: no TensorFlow). A resumed run passes ``purge_step``, the
  first env step it writes again, so TensorBoard drops the old values from there on."""

  def __init__(self, run_dir: str, purge_step: int | None = None):
    from tensorboardX import SummaryWriter

    self.writer = SummaryWriter(os.path.join(run_dir, "tensorboard"), purge_step=purge_step)

  def log(self, row: dict[str, Any], step: int) -> None:
    for key, value in scalars(row).items():
      self.writer.add_scalar(key, value, step)
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()


class WandbLogger:
  """Logs the aggregated row of every evaluation, and videos; imported only with --log_wandb.

  The wandb run id is kept in ``RUN_DIR/wandb_run_id``, so a resumed run logs to the same run.
  """

  def __init__(self, config, run_name: str, run_dir: str):
    import wandb

    self._wandb = wandb
    id_path = os.path.join(run_dir, "wandb_run_id")
    run_id = None
    if os.path.isfile(id_path):
      with open(id_path) as f:
        run_id = f.read().strip()
    self.run = wandb.init(
      project=config.project_name,
      group=config.group_name,
      name=run_name,
      config=dataclasses.asdict(config),
      dir=run_dir,
      id=run_id,
      resume="allow" if run_id else None,
    )
    if run_id is None:
      with open(id_path, "w") as f:
        f.write(self.run.id)

  def log(self, row: dict[str, Any], step: int) -> None:
    self.run.log({k: v for k, v in row.items() if k != "seed"}, step=step)

  def log_video(self, path: str, step: int) -> None:
    self.run.log(
      {"video": self._wandb.Video(path, format=os.path.splitext(path)[1][1:])}, step=step
    )

  def finish(self) -> None:
    self.run.finish()


class RunOutputs:
  """What a run writes at every evaluation: metrics.csv / metrics.jsonl, curves.png (with
  --plot_curves), TensorBoard event files (--log_tensorboard) and wandb (--log_wandb).

  ``metrics`` is a fresh or reopened :class:`MetricsWriter`; ``purge_step`` the first env step a
  resumed run writes again. A write that fails (full disk, unwritable folder) raises
  OutputError; the files stay whole.
  """

  def __init__(self, run_dir: str, config, metrics: MetricsWriter, purge_step: int | None = None):
    self.run_dir, self.config, self.metrics = run_dir, config, metrics
    self.title = f"{os.path.basename(os.path.normpath(run_dir))} ({config.env})"
    self.tensorboard = TensorBoardLogger(run_dir, purge_step) if config.log_tensorboard else None
    self.wandb = (
      WandbLogger(config, os.path.basename(run_dir), run_dir) if config.log_wandb else None
    )

  def _guard(self, what: str, write) -> None:
    from goalax.checkpoint import output_error

    try:
      write()
    except OSError as e:
      raise output_error(e, f"{what} in {self.run_dir}", self.run_dir) from None

  def write(self, per_seed: list[dict[str, Any]], mean: dict[str, Any]) -> None:
    self._guard("metrics.csv / metrics.jsonl", lambda: self.metrics.write(per_seed + [mean]))
    if self.config.plot_curves:
      from goalax.plotting import plot_run

      path = os.path.join(self.run_dir, "curves.png")
      self._guard("curves.png", lambda: plot_run(self.metrics.rows, path, self.title))
    if self.tensorboard:
      self._guard("TensorBoard events", lambda: self.tensorboard.log(mean, mean["env_steps"]))
    if self.wandb:
      self.wandb.log(mean, mean["env_steps"])

  def log_video(self, path: str, step: int) -> None:
    if self.wandb:
      self.wandb.log_video(path, step)

  def close(self) -> None:
    if self.tensorboard:
      self.tensorboard.close()
    if self.wandb:
      self.wandb.finish()
