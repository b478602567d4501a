"""Offline datasets in OGBench's file format (goalax.datasets): written and read back, found by
``ogbench:NAME``, every bad file refused in one sentence, sizes read from the headers alone, and
our files read by OGBench's own ``load_dataset`` as the trajectories we wrote.

No test downloads anything: the files are written here, in OGBench's layout."""

import io
import zipfile

import numpy as np
import pytest

from goalax import datasets
from goalax.errors import ConfigError

STATE, ACTION = 5, 3
LENGTHS = (4, 1, 7)  # transitions per trajectory: one of a single transition


def _episodes(lengths=LENGTHS, seed=0):
  """``[(states [L + 1, STATE], actions [L, ACTION])]``, one per trajectory length."""
  rng = np.random.default_rng(seed)
  return [(rng.normal(size=(n + 1, STATE)), rng.uniform(-1, 1, size=(n, ACTION))) for n in lengths]


def _layout(episodes) -> datasets.Trajectories:
  """The episodes in OGBench's layout: states one after the other, a zero action beside each
  trajectory's last state, terminals 1 there."""
  obs = np.concatenate([s for s, _ in episodes])
  actions = np.concatenate([np.concatenate([a, np.zeros((1, ACTION))]) for _, a in episodes])
  terminals = np.concatenate([np.eye(1, len(s), len(s) - 1)[0] for s, _ in episodes])
  return datasets.Trajectories(*(x.astype(np.float32) for x in (obs, actions, terminals)))


def _savez(path, **arrays):
  np.savez(path, **arrays)
  return str(path)


def test_a_written_dataset_loads_back_the_same(tmp_path):
  written = _layout(_episodes())
  path = datasets.write(tmp_path / "sub" / "data", written)  # folder made, .npz added
  assert path == tmp_path / "sub" / "data.npz" and path == datasets.output_path(
    tmp_path / "sub" / "data"
  )
  assert sorted(p.name for p in path.parent.iterdir()) == ["data.npz"]  # no partial left
  loaded = datasets.load(str(path), state_size=STATE, action_size=ACTION)
  for key in datasets.REQUIRED_KEYS:
    np.testing.assert_array_equal(getattr(loaded, key), getattr(written, key))
    assert getattr(loaded, key).dtype == np.float32
  assert loaded.num_trajectories == len(LENGTHS)
  assert loaded.num_transitions == sum(LENGTHS) == len(loaded.transition_rows())
  assert loaded.num_states == sum(LENGTHS) + len(LENGTHS)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
  def full_disk(*args, **kwargs):
    open(args[0], "wb").write(b"half")
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(np, "savez", full_disk)
  with pytest.raises(OSError):
    datasets.write(tmp_path / "data.npz", _layout(_episodes()))
  assert list(tmp_path.iterdir()) == []


def test_ogbench_names_are_files_in_ogbench_s_data_folder(tmp_path, monkeypatch):
  written = _layout(_episodes())
  monkeypatch.setenv("OGBENCH_DATA_DIR", str(tmp_path))
  datasets.write(tmp_path / "antmaze-medium-navigate-v0.npz", written)
  loaded = datasets.load("ogbench:antmaze-medium-navigate-v0")
  np.testing.assert_array_equal(loaded.observations, written.observations)

  monkeypatch.delenv("OGBENCH_DATA_DIR")
  monkeypatch.setenv("HOME", str(tmp_path))
  expected = tmp_path / ".ogbench" / "data" / "pointmaze-v0.npz"
  with pytest.raises(ConfigError) as error:
    datasets.resolve("ogbench:pointmaze-v0")
  message = str(error.value)
  assert f"--dataset ogbench:pointmaze-v0: no {expected};" in message
  assert "ogbench.download_datasets(['pointmaze-v0'])" in message
  assert "OGBENCH_DATA_DIR" in message and "\n" not in message
  datasets.write(expected, written)
  assert datasets.resolve("ogbench:pointmaze-v0") == expected


def test_a_missing_file_names_the_flag(tmp_path):
  with pytest.raises(ConfigError, match=r"^--offline .*nope.npz: no such file; .*goalax collect"):
    datasets.load(str(tmp_path / "nope.npz"), flag="offline")


def _good():
  layout = _layout(_episodes())
  return dict(observations=layout.observations, actions=layout.actions, terminals=layout.terminals)


def _with(**changes):
  arrays = _good()
  arrays.update(changes)
  return {k: v for k, v in arrays.items() if v is not None}


BAD = {
  "missing key": (_with(terminals=None), "has no terminals (it has actions, observations)"),
  "rows disagree": (_with(actions=np.zeros((3, ACTION))), "have 15, 3 and 15 rows"),
  "1-d observations": (_with(observations=np.zeros(15)), "must be [N, state], [N, action] and [N]"),
  "state size": (
    _with(observations=np.zeros((15, STATE + 1))),
    f"observations of size {STATE + 1}",
  ),
  "action size": (_with(actions=np.zeros((15, 2))), "actions of size 2, but the env's actions"),
  "object array": (
    _with(actions=np.full((15, ACTION), None)),
    "actions (object) must hold numbers",
  ),
  "text": (_with(observations=np.full((15, STATE), "a")), "observations (<U1) must hold numbers"),
  "nan": (
    _with(observations=np.where(np.arange(15)[:, None] == 7, np.nan, _good()["observations"])),
    "holds NaN or infinite",
  ),
  "infinite action": (_with(actions=np.full((15, ACTION), np.inf)), "holds NaN or infinite"),
  "terminal of 2": (_with(terminals=2 * _good()["terminals"]), "terminals must be 0 or 1"),
  "no terminal at the end": (
    _with(terminals=np.eye(1, 15, 4)[0]),
    "with 1 at each trajectory's last state (so the last row is 1)",
  ),
  "one-state trajectory": (
    _with(terminals=np.concatenate([np.eye(1, 5, 4)[0], [1.0], np.eye(1, 9, 8)[0]])),
    "has a trajectory of a single state (at row 5)",
  ),
  "a single state": (
    dict(observations=np.zeros((1, STATE)), actions=np.zeros((1, ACTION)), terminals=np.ones(1)),
    "holds 1 states; a dataset needs at least one transition",
  ),
}


@pytest.mark.parametrize("name", list(BAD))
def test_each_bad_dataset_is_refused_in_one_sentence(name, tmp_path):
  arrays, fragment = BAD[name]
  path = _savez(tmp_path / "bad.npz", **arrays)
  with pytest.raises(ConfigError) as error:
    datasets.load(path, state_size=STATE, action_size=ACTION)
  message = str(error.value)
  assert fragment in message, message
  assert message.startswith(f"--dataset {path}") and message.endswith(".") and "\n" not in message


@pytest.mark.parametrize("content", [b"not a zip file", None])
def test_a_file_that_is_not_an_npz_is_refused(content, tmp_path):
  path = tmp_path / "data.npz"
  if content is None:  # an .npy (one array), not an .npz
    np.save(open(path, "wb"), np.zeros((4, 2)))
  else:
    path.write_bytes(content)
  with pytest.raises(ConfigError, match=r"^--dataset .*data.npz: not an .npz dataset \(.*\)\.$"):
    datasets.load(str(path))


def _header_only_npz(path, arrays):
  """An .npz whose members hold only their .npy headers: ``{name: (shape, dtype)}``; the values
  are absent (a file of those sizes would not fit here)."""
  with zipfile.ZipFile(path, "w") as archive:
    for name, (shape, dtype) in arrays.items():
      header = io.BytesIO()
      np.lib.format.write_array_header_2_0(
        header, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
      )
      archive.writestr(name + ".npy", header.getvalue())


def test_file_shapes_reads_the_headers_without_loading_the_arrays(tmp_path, monkeypatch):
  n = 10**9  # 116 GB of float32 observations: only the headers exist
  path = tmp_path / "huge.npz"
  shapes = {
    "observations": ((n, 29), "<f4"),
    "actions": ((n, 8), "<f8"),
    "terminals": ((n,), "|b1"),
  }
  _header_only_npz(path, shapes)
  monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("file_shapes loaded the file"))
  read = datasets.file_shapes(path)
  assert read == {k: (shape, np.dtype(dtype)) for k, (shape, dtype) in shapes.items()}
  assert datasets.device_bytes(read) == n * (29 + 8 + 1) * 4  # as float32 on the device


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_file_shapes_agrees_with_np_load(save, tmp_path):
  path = tmp_path / "data.npz"
  arrays = dict(_good(), qpos=np.zeros((15, 9), np.float64), button_states=np.ones((15, 2), bool))
  save(path, **arrays)
  with np.load(path) as file:
    expected = {k: (file[k].shape, file[k].dtype) for k in file.files}
  assert datasets.file_shapes(path) == expected


def test_an_ogbench_file_with_extra_keys_and_other_dtypes_loads(tmp_path):
  """OGBench's own files also hold qpos / qvel (not read); values come back as float32."""
  arrays = _good()
  path = _savez(
    tmp_path / "ogb.npz",
    observations=arrays["observations"].astype(np.float64),
    actions=arrays["actions"].astype(np.float64),
    terminals=arrays["terminals"].astype(bool),
    qpos=np.zeros((15, 15)),
    qvel=np.zeros((15, 14)),
  )
  loaded = datasets.load(path)
  np.testing.assert_array_equal(loaded.terminals, arrays["terminals"])
  assert loaded.observations.dtype == loaded.actions.dtype == loaded.terminals.dtype == np.float32


# ---- read by OGBench ---------------------------------------------------------------------------
def _ogbench_regular(path):
  """OGBench's ``load_dataset(path)`` (regular mode, with ``next_observations``) as its source
  and docstring describe it (ogbench/utils.py): the rows of the states that are not a
  trajectory's last, each with the state after it; terminals 1 on each trajectory's last
  transition."""
  file = np.load(path)
  obs, actions, terminals = (file[k].astype(np.float32) for k in datasets.REQUIRED_KEYS)
  ob_mask = (1.0 - terminals).astype(bool)
  next_ob_mask = np.concatenate([[False], ob_mask[:-1]])
  return dict(
    observations=obs[ob_mask],
    actions=actions[ob_mask],
    next_observations=obs[next_ob_mask],
    terminals=np.concatenate([terminals[1:], [1.0]])[ob_mask],
  )


def _expected_transitions(episodes):
  """The ``(s_t, a_t, s_{t+1})`` of every episode, and 1 at each episode's last transition."""
  return dict(
    observations=np.concatenate([s[:-1] for s, _ in episodes]),
    actions=np.concatenate([a for _, a in episodes]),
    next_observations=np.concatenate([s[1:] for s, _ in episodes]),
    terminals=np.concatenate([np.eye(1, len(a), len(a) - 1)[0] for _, a in episodes]),
  )


def _assert_same_transitions(read, episodes):
  expected = _expected_transitions(episodes)
  assert set(expected) <= set(read)
  for key, value in expected.items():
    np.testing.assert_allclose(read[key], value, rtol=1e-6, err_msg=key)


def test_ogbench_s_layout_reads_our_file_as_the_transitions_we_wrote(tmp_path):
  episodes = _episodes()
  path = datasets.write(tmp_path / "data.npz", _layout(episodes))
  _assert_same_transitions(_ogbench_regular(path), episodes)
  ours = datasets.load(str(path))
  rows = ours.transition_rows()
  np.testing.assert_array_equal(
    ours.observations[rows + 1], _ogbench_regular(path)["next_observations"]
  )


def test_ogbench_s_own_load_dataset_reads_our_file_as_the_transitions_we_wrote(tmp_path):
  utils = pytest.importorskip("ogbench.utils", reason="the ogbench package is not installed")
  episodes = _episodes()
  path = str(datasets.write(tmp_path / "data.npz", _layout(episodes)))
  _assert_same_transitions(utils.load_dataset(path), episodes)
  compact = utils.load_dataset(path, compact_dataset=True)
  valid = compact["valids"] > 0
  np.testing.assert_array_equal(np.flatnonzero(valid), datasets.load(path).transition_rows())
  np.testing.assert_allclose(
    compact["observations"], np.concatenate([s for s, _ in episodes]), rtol=1e-6
  )
