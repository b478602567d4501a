"""Offline datasets in OGBench's file format: read, checked, written.

The format (the ``ogbench`` package's ``ogbench.utils.load_dataset`` reads it): one ``.npz``
file with, at least,

- ``observations [N, S]`` (float): the states of every trajectory, one after the other; a
  trajectory of ``L`` transitions holds its ``L + 1`` states ``s_0 .. s_L``;
- ``actions [N, A]`` (float, in [-1, 1]): ``a_t`` beside ``s_t``; the action beside a
  trajectory's last state is not a transition's (OGBench stores one there; nothing reads it);
- ``terminals [N]`` (0/1): 1 at each trajectory's last state ``s_L``, else 0; the file ends with
  a 1.

and, in OGBench's own files, ``qpos``/``qvel`` (and ``button_states``), which goalax does not
read. Observations here are the env's *state* (``obs[:state_size]``, without the goal): a dataset
has no commanded goals. ``ogbench:NAME`` names OGBench's file ``NAME.npz`` in its data folder
(``~/.ogbench/data``, where ``ogbench.download_datasets`` puts it; the environment variable
``OGBENCH_DATA_DIR``, goalax's own, moves it); the download is the ``ogbench`` package's job.

Every check raises :class:`goalax.errors.ConfigError` with one sentence naming the file and the
flag, so a bad dataset ends a run before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import zipfile

import numpy as np

from goalax.errors import ConfigError

REQUIRED_KEYS = ("observations", "actions", "terminals")
OGBENCH_PREFIX = "ogbench:"
OGBENCH_DATA_DIR = "~/.ogbench/data"  # ogbench.utils.DEFAULT_DATASET_DIR


@dataclasses.dataclass(frozen=True)
class Trajectories:
  """A dataset in OGBench's layout (see the module docstring): ``observations [N, S]`` float32,
  ``actions [N, A]`` float32, ``terminals [N]`` float32 (1 at each trajectory's last state)."""

  observations: np.ndarray
  actions: np.ndarray
  terminals: np.ndarray

  @property
  def num_states(self) -> int:
    return len(self.terminals)

  @property
  def num_trajectories(self) -> int:
    return int(self.terminals.sum())

  @property
  def num_transitions(self) -> int:
    """Transitions ``(s_t, a_t, s_{t+1})``: every state but each trajectory's last."""
    return self.num_states - self.num_trajectories

  def transition_rows(self) -> np.ndarray:
    """``[num_transitions]`` int: the indices of the states that start a transition."""
    return np.flatnonzero(self.terminals == 0)


def resolve(spec: str, flag: str = "dataset") -> pathlib.Path:
  """The file a ``--dataset`` value names: a path, or ``ogbench:NAME`` for ``NAME.npz`` in
  OGBench's data folder. ConfigError when it does not exist."""
  if spec.startswith(OGBENCH_PREFIX):
    name = spec[len(OGBENCH_PREFIX) :]
    folder = pathlib.Path(os.environ.get("OGBENCH_DATA_DIR", OGBENCH_DATA_DIR)).expanduser()
    path = folder / f"{name}.npz"
    if not path.is_file():
      raise ConfigError(
        f"--{flag} {spec}: no {path}; download it with the ogbench package "
        f"(python -c \"import ogbench; ogbench.download_datasets(['{name}'])\"), set "
        "OGBENCH_DATA_DIR to the folder that holds it, or pass the file's path."
      )
    return path
  path = pathlib.Path(spec).expanduser()
  if not path.is_file():
    raise ConfigError(
      f"--{flag} {spec}: no such file; pass an .npz in OGBench's format (write one with "
      "'goalax collect') or ogbench:NAME for a downloaded OGBench dataset."
    )
  return path


def file_shapes(path: pathlib.Path, flag: str = "dataset") -> dict[str, tuple[tuple, np.dtype]]:
  """``{key: (shape, dtype)}`` of every array in an ``.npz``, read from the headers without
  loading the arrays (a dataset larger than memory is measured before it is read)."""
  try:
    with zipfile.ZipFile(path) as archive:
      shapes = {}
      for name in archive.namelist():
        if not name.endswith(".npy"):
          continue
        with archive.open(name) as member:
          major, _ = np.lib.format.read_magic(member)
          read_header = {1: np.lib.format.read_array_header_1_0}.get(
            major, np.lib.format.read_array_header_2_0
          )
          shape, _, dtype = read_header(member)
        shapes[name[: -len(".npy")]] = (tuple(shape), np.dtype(dtype))
      return shapes
  except (zipfile.BadZipFile, ValueError, OSError) as e:
    raise ConfigError(f"--{flag} {path}: not an .npz dataset ({e}).") from None


def device_bytes(shapes: dict[str, tuple[tuple, np.dtype]]) -> int:
  """Bytes of the dataset once on the device as float32 (observations, actions, terminals)."""
  return sum(int(np.prod(shapes[key][0])) * 4 for key in REQUIRED_KEYS if key in shapes)


def check_shapes(
  shapes: dict[str, tuple[tuple, np.dtype]],
  path: pathlib.Path,
  state_size: int | None = None,
  action_size: int | None = None,
  flag: str = "dataset",
) -> None:
  """ConfigError, one sentence, when a key is missing or the shapes disagree with each other or
  with the env's ``state_size`` / ``action_size`` (when given)."""
  where = f"--{flag} {path}"
  missing = [key for key in REQUIRED_KEYS if key not in shapes]
  if missing:
    raise ConfigError(
      f"{where} has no {', '.join(missing)} (it has {', '.join(sorted(shapes)) or 'no arrays'}); "
      f"a dataset in OGBench's format holds {', '.join(REQUIRED_KEYS)}."
    )
  not_numbers = [
    f"{key} ({shapes[key][1]})" for key in REQUIRED_KEYS if shapes[key][1].kind not in "biuf"
  ]
  if not_numbers:
    raise ConfigError(f"{where}: {', '.join(not_numbers)} must hold numbers (bool, int or float).")
  obs, actions, terminals = (shapes[key][0] for key in REQUIRED_KEYS)
  if len(obs) != 2 or len(actions) != 2 or len(terminals) != 1:
    raise ConfigError(
      f"{where}: observations {obs}, actions {actions} and terminals {terminals} must be "
      "[N, state], [N, action] and [N]."
    )
  if not obs[0] == actions[0] == terminals[0]:
    raise ConfigError(
      f"{where}: observations, actions and terminals have {obs[0]}, {actions[0]} and "
      f"{terminals[0]} rows; they must have one row per state."
    )
  if obs[0] < 2:
    raise ConfigError(f"{where} holds {obs[0]} states; a dataset needs at least one transition.")
  if state_size is not None and obs[1] != state_size:
    raise ConfigError(
      f"{where} has observations of size {obs[1]}, but the env's state has size {state_size}; "
      "train on the env the dataset was collected on (--env)."
    )
  if action_size is not None and actions[1] != action_size:
    raise ConfigError(
      f"{where} has actions of size {actions[1]}, but the env's actions have size {action_size}; "
      "train on the env the dataset was collected on (--env)."
    )


def load(
  spec: str, state_size: int | None = None, action_size: int | None = None, flag: str = "dataset"
) -> Trajectories:
  """The dataset that ``spec`` names (:func:`resolve`), checked (:func:`check_shapes`, then its
  values: finite, terminals 0/1 ending with 1, trajectories of at least one transition)."""
  path = resolve(spec, flag)
  check_shapes(file_shapes(path, flag), path, state_size, action_size, flag)
  with np.load(path) as file:
    observations = np.asarray(file["observations"], np.float32)
    actions = np.asarray(file["actions"], np.float32)
    terminals = np.asarray(file["terminals"], np.float32)
  where = f"--{flag} {path}"
  if not (np.isfinite(observations).all() and np.isfinite(actions).all()):
    raise ConfigError(f"{where} holds NaN or infinite observations or actions.")
  if not np.isin(terminals, (0.0, 1.0)).all() or terminals[-1] != 1.0:
    raise ConfigError(
      f"{where}: terminals must be 0 or 1, with 1 at each trajectory's last state (so the last "
      "row is 1)."
    )
  ends = np.flatnonzero(terminals)
  starts = np.concatenate([[0], ends[:-1] + 1])
  if np.any(ends - starts < 1):
    raise ConfigError(
      f"{where} has a trajectory of a single state (at row {int(starts[np.argmin(ends - starts)])});"
      " each needs at least two states (one transition)."
    )
  return Trajectories(observations, actions, terminals)


def output_path(path: str | os.PathLike) -> pathlib.Path:
  """The file :func:`write` writes for ``path``: ``path`` with ``.npz`` added when missing."""
  path = pathlib.Path(path).expanduser()
  return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def write(path: str | os.PathLike, trajectories: Trajectories, **extra: np.ndarray) -> pathlib.Path:
  """Writes ``trajectories`` (and ``extra`` arrays) as an ``.npz`` in OGBench's format at
  :func:`output_path`; the file appears whole or not at all (written beside it, then renamed)."""
  path = output_path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  partial = path.with_name(path.name + ".partial.npz")
  arrays = {key: getattr(trajectories, key) for key in REQUIRED_KEYS}
  try:
    np.savez(partial, **arrays, **extra)
    os.replace(partial, path)
  except BaseException:
    partial.unlink(missing_ok=True)
    raise
  return path
