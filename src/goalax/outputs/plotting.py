"""Learning curves: ``RUN_DIR/curves.png`` of one run, and ``goalax plot`` comparing runs.

A run's metrics come from its ``metrics.jsonl`` (one row per evaluation and seed). ``goalax plot``
draws, for each run (or each label, pooling runs that share it), the interquartile mean (IQM)
over seeds at every evaluation and its 95% stratified-bootstrap confidence interval, both from
rliable (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice").

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no
global backend change).
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np

from goalax.errors import UsageError
from goalax.run.runfiles import read_rows, replace_file

CURVE_METRICS = ("eval/success", "eval/time_near_goal", "eval/final_dist")
# the same metrics on the env's fixed evaluation tasks (--eval_goals tasks), averaged over tasks
TASK_CURVE_METRICS = tuple(m.replace("eval/", "eval_tasks/") for m in CURVE_METRICS)
TITLES = {
  "eval/success": "success (episodes reaching the goal)",
  "eval/time_near_goal": "time near goal (fraction of steps)",
  "eval/final_dist": "final distance to goal",
  "eval_tasks/success": "success on the fixed tasks",
  "eval_tasks/time_near_goal": "time near goal, fixed tasks",
  "eval_tasks/final_dist": "final distance, fixed tasks",
}


def run_title(algo_label: str, env: str, run_dir: str) -> str:
  """The title of a run's figures: its algorithm, env and name (``CRL on reacher · my_run``)."""
  return f"{algo_label} on {env} · {os.path.basename(os.path.normpath(run_dir))}"


def describe_run(run_dir: str) -> tuple[str, str] | None:
  """``(algorithm label, env)`` of a run from its config.yaml (``("SAC+HER", "reacher")``), or
  None when the folder has no config.yaml; a config.yaml goalax cannot read is a ConfigError."""
  from goalax.agents import label_of
  from goalax.config import load_run_config

  if not os.path.isfile(os.path.join(run_dir, "config.yaml")):
    return None
  config, _ = load_run_config(run_dir)
  return label_of(config.agent), config.env


COMPARISON_STATISTIC = "IQM over seeds, 95% stratified bootstrap CI (rliable)"


def comparison_title(described: list[tuple[str, str] | None]) -> str:
  """The title of ``goalax plot``: the algorithms and envs of the runs (from
  :func:`describe_run`; None for a run without config.yaml), then the statistic drawn:
  ``CRL vs SAC+HER on ant · IQM over seeds, ...``."""
  known = [d for d in described if d is not None]
  if not known:
    return COMPARISON_STATISTIC
  algos = " vs ".join(dict.fromkeys(algo for algo, _ in known))
  envs = ", ".join(dict.fromkeys(env for _, env in known))
  return f"{algos} on {envs} · {COMPARISON_STATISTIC}"


@dataclasses.dataclass(frozen=True)
class Curves:
  """One run's (or several pooled runs') metric at every evaluation, for every seed."""

  label: str
  env_steps: np.ndarray  # [T] the x axis: env steps, or gradient steps offline (x_label)
  scores: dict[str, np.ndarray]  # metric -> [num_seeds, T]
  x_label: str = "env steps per seed"


def step_column(rows: list[dict]) -> str:
  """The rows' x axis: ``gradient_steps`` for an offline run's rows (which have that column; their
  env steps stay 0), else ``env_steps``."""
  return "gradient_steps" if any("gradient_steps" in row for row in rows) else "env_steps"


def curves_from_rows(rows: list[dict], label: str, metrics=CURVE_METRICS) -> Curves:
  """Per-seed rows of metrics.jsonl -> :class:`Curves` (seeds sorted, evaluations in order).

  Rows of evaluations that not every seed has are left out; non-finite values become NaN."""
  per_seed, x = {}, step_column(rows)
  for row in rows:
    if row["seed"] != "mean":
      per_seed.setdefault(row["seed"], {})[row[x]] = row
  if not per_seed:
    raise UsageError(f"{label} has no evaluations yet (metrics.jsonl has no rows).")
  steps = sorted(set.intersection(*(set(r) for r in per_seed.values())))
  value = lambda row, key: float(row[key]) if isinstance(row.get(key), (int, float)) else np.nan
  scores = {
    key: np.array([[value(per_seed[s][t], key) for t in steps] for s in sorted(per_seed)])
    for key in metrics
  }
  return Curves(label, np.array(steps), scores, x.replace("_", " ") + " per seed")


def load_curves(run_dir: str, label: str | None = None, metrics=CURVE_METRICS) -> Curves:
  if not os.path.isfile(os.path.join(run_dir, "metrics.jsonl")):
    raise UsageError(f"{run_dir} is not a goalax run directory (no metrics.jsonl).")
  return curves_from_rows(
    read_rows(run_dir), label or os.path.basename(os.path.normpath(run_dir)), metrics
  )


def by_config(rows: list[dict]) -> dict[str | None, list[dict]]:
  """A run's rows by the configuration of a sweep (``config`` column), in order of first
  appearance; ``{None: rows}`` for a run without a sweep."""
  groups: dict[str | None, list[dict]] = {}
  for row in rows:
    groups.setdefault(row.get("config"), []).append(row)
  return groups


def load_run_curves(run_dir: str, label: str | None = None, metrics=CURVE_METRICS) -> list[Curves]:
  """:func:`load_curves`, one :class:`Curves` per configuration of a sweep (labelled
  ``<label> · <config>``)."""
  curves = load_curves(run_dir, label, metrics)
  groups = by_config(read_rows(run_dir))
  if list(groups) == [None]:
    return [curves]
  return [curves_from_rows(rows, f"{curves.label} · {c}", metrics) for c, rows in groups.items()]


def pool(curves: list[Curves]) -> Curves:
  """Runs of one label as one set of seeds; they must share their evaluation steps."""
  first = curves[0]
  for other in curves[1:]:
    if not np.array_equal(other.env_steps, first.env_steps):
      raise UsageError(
        f"runs labelled {first.label!r} evaluated at different env steps; give them different "
        "--labels (or compare runs of one configuration)."
      )
  return Curves(
    first.label,
    first.env_steps,
    {k: np.concatenate([c.scores[k] for c in curves]) for k in first.scores},
    first.x_label,
  )


def iqm_with_ci(scores: np.ndarray, reps: int = 2000, seed: int = 0):
  """``scores [num_seeds, T]`` -> ``(iqm [T], low [T], high [T])``: the interquartile mean over
  seeds at each evaluation and its 95% stratified-bootstrap confidence interval (rliable)."""
  from rliable import library as rly
  from rliable import metrics

  per_step = lambda s: np.array([metrics.aggregate_iqm(s[..., t]) for t in range(s.shape[-1])])
  with warnings.catch_warnings():  # rliable hands arch a RandomState, which arch deprecates
    warnings.simplefilter("ignore", FutureWarning)
    point, interval = rly.get_interval_estimates(
      {"run": scores[:, None, :]}, per_step, reps=reps, random_state=np.random.RandomState(seed)
    )
  return point["run"], interval["run"][0], interval["run"][1]


def _figure(num_panels: int):
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  fig = Figure(figsize=(4.2 * num_panels, 3.4))
  FigureCanvasAgg(fig)
  axes = fig.subplots(1, num_panels, squeeze=False)[0]
  # fixed margins: half the drawing time of matplotlib's constrained layout (redrawn each eval)
  fig.subplots_adjust(left=0.3 / num_panels, right=0.98, bottom=0.15, top=0.85, wspace=0.25)
  return fig, axes


def _label_axis(ax, metric: str, x_label: str) -> None:
  ax.set_title(TITLES.get(metric, metric), fontsize=10)
  ax.set_xlabel(x_label)
  ax.grid(alpha=0.3)
  if metric in ("eval/success", "eval/time_near_goal"):
    ax.set_ylim(-0.02, 1.02)


def _save(fig, path: str) -> str:
  """Saves a figure atomically (a reader never sees half a PNG); the format is the extension's."""
  os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
  fmt = os.path.splitext(path)[1][1:] or "png"
  replace_file(path, lambda f: fig.savefig(f, format=fmt, dpi=100), binary=True)
  return path


def plot_run(rows: list[dict], path: str, title: str, metrics=CURVE_METRICS) -> str:
  """``curves.png`` of one run: each metric against env steps (gradient steps offline), the mean over seeds and the
  range (min to max) across seeds; one line per configuration of a sweep. A run evaluated on
  the fixed tasks alone (``--eval_goals tasks``) shows their averages."""
  if metrics == CURVE_METRICS and not any(CURVE_METRICS[0] in row for row in rows):
    metrics = TASK_CURVE_METRICS
  groups = by_config(rows)
  fig, axes = _figure(len(metrics))
  for config, group in groups.items():
    curves = curves_from_rows(group, title, metrics)
    for ax, metric in zip(axes, metrics):
      scores = curves.scores[metric]
      seeds = f"{len(scores)} seeds"
      mean_label = "mean" if config is None else f"{config} (mean, range of {seeds})"
      (line,) = ax.plot(
        curves.env_steps, np.nanmean(scores, axis=0), marker="o", ms=3, label=mean_label
      )
      if len(scores) > 1:
        low, high = np.nanmin(scores, axis=0), np.nanmax(scores, axis=0)
        range_label = f"range, {seeds}" if config is None else None
        ax.fill_between(
          curves.env_steps, low, high, alpha=0.25, color=line.get_color(), label=range_label
        )
  for ax, metric in zip(axes, metrics):
    _label_axis(ax, metric, curves.x_label)
  if len(groups) > 1 or len(curves.scores[metrics[0]]) > 1:
    axes[0].legend(fontsize=8)
  fig.suptitle(title, fontsize=10)
  return _save(fig, path)


def plot_comparison(
  curves: list[Curves], path: str, reps: int = 2000, title: str = COMPARISON_STATISTIC
) -> str:
  """Overlays runs: for each, the IQM over seeds and its 95% bootstrap CI at every evaluation."""
  metrics = list(curves[0].scores)
  fig, axes = _figure(len(metrics))
  for run in curves:
    for ax, metric in zip(axes, metrics):
      iqm, low, high = iqm_with_ci(run.scores[metric], reps)
      seeds = len(run.scores[metric])
      label = f"{run.label} ({seeds} seed{'s' if seeds > 1 else ''})"
      (line,) = ax.plot(run.env_steps, iqm, marker="o", ms=3, label=label)
      ax.fill_between(run.env_steps, low, high, color=line.get_color(), alpha=0.2)
  for ax, metric in zip(axes, metrics):
    _label_axis(ax, metric, curves[0].x_label)
  axes[0].legend(fontsize=8)
  fig.suptitle(title, fontsize=10)
  return _save(fig, path)
