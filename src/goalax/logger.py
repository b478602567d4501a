"""Run outputs: a fresh run directory, config.yaml, metrics.csv / metrics.jsonl, wandb."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import os
from collections.abc import Iterable
from typing import Any

import yaml


def new_run_dir(parent: str, name: str) -> str:
  """Creates ``parent/name`` (or ``name-2``, ``name-3``, ...): an existing run is never touched."""
  os.makedirs(parent, exist_ok=True)
  candidate, n = os.path.join(parent, name), 1
  while True:
    try:
      os.makedirs(candidate)
      return candidate
    except FileExistsError:
      n += 1
      candidate = os.path.join(parent, f"{name}-{n}")


def default_run_name(env: str, algo: str, seed: int) -> str:
  return f"{env}_{algo}_s{seed}_{datetime.datetime.now():%Y%m%d-%H%M%S}"


def write_config(run_dir: str, config: Any, derived: dict[str, Any]) -> None:
  data = {"config": dataclasses.asdict(config), "derived": derived}
  with open(os.path.join(run_dir, "config.yaml"), "w") as f:
    yaml.safe_dump(data, f, sort_keys=False)


def _clean(value):
  if isinstance(value, (str, int)):
    return value
  value = float(value)
  return value if math.isfinite(value) else str(value)


class MetricsWriter:
  """Appends one row per (evaluation, seed) plus one aggregated row (seed = "mean").

  metrics.jsonl is appended to; metrics.csv is rewritten whenever a row brings new columns (the
  evaluation before training has no training metrics yet), so no value is ever dropped.
  """

  def __init__(self, run_dir: str):
    self.csv_path = os.path.join(run_dir, "metrics.csv")
    self.jsonl_path = os.path.join(run_dir, "metrics.jsonl")
    self._rows: list[dict[str, Any]] = []
    self._columns: list[str] = []

  def write(self, rows: Iterable[dict[str, Any]]) -> None:
    rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
    with open(self.jsonl_path, "a") as f:
      for row in rows:
        f.write(json.dumps(row) + "\n")
    self._rows.extend(rows)
    new_columns = [k for row in rows for k in row if k not in self._columns]
    if new_columns:
      self._columns.extend(dict.fromkeys(new_columns))
      with open(self.csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, self._columns)
        writer.writeheader()
        writer.writerows(self._rows)
    else:
      with open(self.csv_path, "a", newline="") as f:
        csv.DictWriter(f, self._columns).writerows(rows)


class WandbLogger:
  """Logs the aggregated row of every evaluation; imported only when --log_wandb is set."""

  def __init__(self, config, run_name: str, run_dir: str):
    import wandb

    self._wandb = wandb
    self.run = wandb.init(
      project=config.project_name,
      group=config.group_name,
      name=run_name,
      config=dataclasses.asdict(config),
      dir=run_dir,
    )

  def log(self, row: dict[str, Any], step: int) -> None:
    self.run.log({k: v for k, v in row.items() if k != "seed"}, step=step)

  def finish(self) -> None:
    self.run.finish()
