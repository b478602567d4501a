"""Resuming a run: which flags may change, and the config a resumed run continues with.

A resumed run must compute exactly what the uninterrupted run would have, so it takes the run's
own ``config.yaml``; only output and logging flags (:data:`OUTPUT_FLAGS`) may be given anew.
"""

from __future__ import annotations

import dataclasses

from goalax.config import (
  ConfigError,
  TrainConfig,
  load_run_config,
  resume_fields,
)

#: Flags that may differ when a run is resumed: outputs and logging, not what is computed (the
#: fields whose role says so, goalax.config.Role).
OUTPUT_FLAGS = resume_fields(TrainConfig, "given")


def saved_run_config(run_dir: str, algo: str) -> TrainConfig:
  """The config of the run in ``run_dir``, which must be a run of ``algo``."""
  saved, derived = load_run_config(run_dir, "--resume")
  if derived.algo != algo:
    raise ConfigError(
      f"--resume {run_dir} is a {derived.algo} run, not {algo}; use 'goalax resume {run_dir}'."
    )
  return saved


def resume_config(given: TrainConfig, algo: str) -> TrainConfig:
  """The config of the run of ``algo`` in ``given.resume``, with ``given``'s output and logging
  flags.

  Any other flag that differs from the run's own is a ConfigError: a resumed run must compute
  exactly what the uninterrupted run would have."""
  run_dir = given.resume
  saved = saved_run_config(run_dir, algo)
  fixed, given_anew = resume_fields(type(given), "fixed"), resume_fields(type(given), "given")
  changed = [
    (f.name, getattr(saved, f.name), getattr(given, f.name))
    for f in dataclasses.fields(given)
    if f.name in fixed and f.name != "agent" and getattr(saved, f.name) != getattr(given, f.name)
  ] + [
    (f.name, getattr(saved.agent, f.name), getattr(given.agent, f.name))
    for f in dataclasses.fields(saved.agent)
    if getattr(saved.agent, f.name) != getattr(given.agent, f.name)
  ]
  if changed:
    flag, old, new = changed[0]
    raise ConfigError(
      f"--{flag} cannot change when resuming {run_dir} (the run has {old}, not {new}): a resumed "
      f"run continues exactly; start a new run with --config {run_dir}/config.yaml instead. "
      f"Flags that may change: {', '.join('--' + f for f in given_anew)}."
    )
  keep = {name: getattr(given, name) for name in given_anew}
  return dataclasses.replace(saved, **keep, resume=run_dir)
