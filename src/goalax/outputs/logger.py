"""What a run logs at every evaluation: metrics.csv / metrics.jsonl, curves.png, TensorBoard and
wandb (the run directory itself and its files are :mod:`goalax.run.runfiles`)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from goalax.run.runfiles import output_error, read_rows, replace_file


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


def metric_rows(
  metrics: dict[str, Any],
  seeds: list[int],
  env_steps: int,
  epoch: int,
  configs: list[str] | None = None,
  gradient_steps: int | None = None,
):
  """``(per_seed, means)``: one row per member of ``metrics`` (each value ``[num_members]``:
  seeds, or seeds times a sweep's configurations) and the mean rows (``seed = "mean"``, plus the
  spread ``eval/..._std`` with more than one seed): one over every seed, or with ``configs`` (a
  sweep: each member's configuration, put in a ``config`` column) one per configuration. An
  offline run gives ``gradient_steps`` (its x axis, a column after ``env_steps``, which stays
  0); online rows have no such column."""
  arrays = {k: np.asarray(v) for k, v in metrics.items()}
  tag = (lambda i: {}) if configs is None else (lambda i: {"config": configs[i]})
  steps = dict(env_steps=env_steps)
  if gradient_steps is not None:
    steps["gradient_steps"] = gradient_steps
  per_seed = [
    dict(
      epoch=epoch,
      **steps,
      seed=s,
      **tag(i),
      **{k: float(v[i]) for k, v in arrays.items()},
    )
    for i, s in enumerate(seeds)
  ]
  groups = {None: list(range(len(seeds)))}
  if configs is not None:
    groups = {c: [i for i, own in enumerate(configs) if own == c] for c in dict.fromkeys(configs)}
  means = []
  for config, members in groups.items():
    mean = dict(
      epoch=epoch,
      **steps,
      seed="mean",
      **({} if config is None else {"config": config}),
      **{k: float(np.mean(v[members])) for k, v in arrays.items()},
    )
    if len(members) > 1:
      mean.update(
        {
          f"{k}_std": float(np.std(v[members]))
          for k, v in arrays.items()
          if k.startswith(("eval/", "eval_tasks/"))
        }
      )
    means.append(mean)
  return per_seed, means


STEP_COLUMNS = ("env_steps", "gradient_steps")


def step_of(row: dict[str, Any]) -> int:
  """A row's x axis (TensorBoard's and wandb's step): gradient steps offline, else env steps."""
  return row["gradient_steps"] if "gradient_steps" in row else row["env_steps"]


def scalars(row: dict[str, Any]) -> dict[str, float]:
  """The finite metric values of a row (no epoch, step counts or seed)."""
  skip = ("epoch", *STEP_COLUMNS, "seed")
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
      mode=config.wandb_mode,  # None: WANDB_MODE, else online
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


def check_wandb(config) -> None:
  """``--log_wandb`` needs the wandb package: a UsageError naming its extra otherwise, to be
  raised before the run directory is made."""
  from goalax.errors import require_module

  if config.log_wandb:
    require_module("wandb", "wandb", "--log_wandb")


def _tagged(row: dict[str, Any]) -> dict[str, Any]:
  """A mean row as logged: a sweep configuration's metrics under ``<config>/<metric>``."""
  if "config" not in row:
    return row
  keep = ("epoch", *STEP_COLUMNS, "seed")
  return {k if k in keep else f"{row['config']}/{k}": v for k, v in row.items() if k != "config"}


class BackgroundCurves:
  """Draws curves.png in one thread while training goes on (a drawing takes about half a second
  of the training loop's time on a CPU otherwise): ``draw(rows)`` starts drawing a snapshot of
  the rows once the drawing before it has ended; ``wait()`` waits for the last one. An OSError of
  a drawing (a full disk) is raised by the next ``draw`` or ``wait``; the file stays whole."""

  def __init__(self, path: str, title: str):
    self.path, self.title = path, title
    self._thread: threading.Thread | None = None
    self._error: OSError | None = None

  def draw(self, rows: list[dict[str, Any]]) -> None:
    self.wait()
    snapshot = list(rows)

    def run():
      from goalax.outputs.plotting import plot_run

      try:
        plot_run(snapshot, self.path, self.title)
      except OSError as e:  # raised in the training loop's thread by the next draw or wait
        self._error = e

    self._thread = threading.Thread(target=run, name="goalax-curves", daemon=True)
    self._thread.start()

  def wait(self) -> None:
    if self._thread is not None:
      self._thread.join()
      self._thread = None
    if self._error is not None:
      error, self._error = self._error, None
      raise error


class RunOutputs:
  """What a run writes at every evaluation: metrics.csv / metrics.jsonl, curves.png (with
  --plot_curves, drawn in a thread: :class:`BackgroundCurves`; ``close`` waits for it),
  TensorBoard event files (--log_tensorboard) and wandb (--log_wandb).

  ``metrics`` is a fresh or reopened :class:`MetricsWriter`; ``title`` names the run on
  curves.png (:func:`goalax.outputs.plotting.run_title`); ``purge_step`` the first step (env steps, gradient
  steps offline) a resumed run writes again. A write that fails (full disk, unwritable folder) raises
  OutputError; the files stay whole.
  """

  def __init__(
    self, run_dir: str, config, metrics: MetricsWriter, title: str, purge_step: int | None = None
  ):
    self.run_dir, self.config, self.metrics, self.title = run_dir, config, metrics, title
    self.tensorboard = TensorBoardLogger(run_dir, purge_step) if config.log_tensorboard else None
    # wandb names the run as asked: a repeated --exp_name (JaxGCRL's sweep loops) keeps its name
    # there, while its folder got a suffix
    name = config.exp_name or os.path.basename(os.path.normpath(run_dir))
    self.wandb = WandbLogger(config, name, run_dir) if config.log_wandb else None
    curves_path = os.path.join(run_dir, "curves.png")
    self.curves = BackgroundCurves(curves_path, title) if config.plot_curves else None

  def _guard(self, what: str, write) -> None:
    try:
      write()
    except OSError as e:
      raise output_error(e, f"{what} in {self.run_dir}", self.run_dir) from None

  def write(self, per_seed: list[dict[str, Any]], means: list[dict[str, Any]]) -> None:
    """Writes an evaluation's rows; TensorBoard and wandb get the mean rows (a sweep's under
    ``<config>/<metric>``)."""
    self._guard("metrics.csv / metrics.jsonl", lambda: self.metrics.write(per_seed + means))
    if self.curves:
      self._guard("curves.png", lambda: self.curves.draw(self.metrics.rows))
    for mean in means:
      row, step = _tagged(mean), step_of(mean)
      if self.tensorboard:
        self._guard("TensorBoard events", lambda: self.tensorboard.log(row, step))
      if self.wandb:
        self.wandb.log(row, step)

  def log_video(self, path: str, step: int) -> None:
    if self.wandb:
      self.wandb.log_video(path, step)

  def close(self) -> None:
    """Waits for curves.png's last drawing and closes the loggers."""
    try:
      if self.curves:
        self._guard("curves.png", self.curves.wait)
    finally:
      self._close_loggers()

  def _close_loggers(self) -> None:
    if self.tensorboard:
      self.tensorboard.close()
    if self.wandb:
      self.wandb.finish()
