"""What a run says while it trains: the progress line of every epoch and the closing line. The
x axis is the run's step count: env steps online, gradient steps offline (no env steps)."""

from __future__ import annotations

from goalax.evaluation import headline
from goalax.loops.settings import Schedule


def format_seconds(s: float) -> str:
  s = int(round(s))
  return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def steps_of(schedule: Schedule, env_steps: int, gradient_steps: int) -> tuple[int, int, str]:
  """``(steps done, steps of the whole run, their name)``: gradient steps offline, else env
  steps."""
  if schedule.offline:
    return gradient_steps, schedule.total_gradient_steps, "gradient steps"
  return env_steps, schedule.total_env_steps, "env steps"


def of_config(row: dict) -> str:
  """`` | critic_lr=0.0001``: the configuration of a sweep's mean row, else nothing."""
  return f" | {row['config']}" if "config" in row else ""


def epoch_line(
  epoch: int,
  num_evals: int,
  counts: tuple[int, int, str],
  since_resume: tuple[int, float],
  row: dict,
  headline_metrics: tuple[str, ...],
) -> str:
  """``[epoch/num_evals] done/total steps | speed | ETA | metrics``; ``counts`` from
  :func:`steps_of`, ``since_resume`` the steps and training seconds of this process."""
  done, total, name = counts
  steps, seconds = since_resume
  speed = steps / max(seconds, 1e-9)
  eta = (total - done) / max(speed, 1e-9)
  unit = "steps" if name == "env steps" else name  # online lines keep their words
  return (
    f"  [{epoch}/{num_evals}] {done:,}/{total:,} {unit} | {speed:,.0f} {unit}/s | "
    f"ETA {format_seconds(eta)} | {headline(row)}"
    + "".join(f" | {m.replace('_', ' ')} {row[f'train/{m}']:.3f}" for m in headline_metrics)
    + of_config(row)
  )


def done_line(
  counts: tuple[int, int, str], seconds: float, num_seeds: int, compile_s: float
) -> str:
  """The closing line: steps per seed, training time, speed over all seeds, compile time."""
  done, _, name = counts
  return (
    f"  done: {done:,} {name} per seed in {format_seconds(seconds)} of training "
    f"({done * num_seeds / max(seconds, 1e-9):,.0f} {name}/s over all seeds) "
    f"+ {compile_s:.1f} s compile"
  )
