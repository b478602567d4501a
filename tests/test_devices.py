"""Runs on several devices (``--devices``), tested on CPU with forced host devices: seeds split
over devices end as they would alone, one seed split over devices (data parallel) ends as on one
device, and shapes that do not divide are refused in one sentence. Each check runs in a fresh
process, since the device count is fixed when JAX starts."""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = """
import dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
from test_training import TINY
from goalax.host_loop import train

# TINY with 8 envs and batch 32: both split over 2 devices.
base = dataclasses.replace(TINY, num_envs=8, agent=dataclasses.replace(TINY.agent, batch_size=32))
runs = {
  "seeds over 2 devices": dataclasses.replace(base, num_seeds=2, devices=2),
  "seed 0 alone": base,
  "seed 1 alone": dataclasses.replace(base, seed=1),
  "seed 0 data parallel over 2 devices": dataclasses.replace(base, devices=2),
}
names = sys.argv[2:]
print(json.dumps({name: train(runs[name], write_outputs=False).per_seed for name in names}))
"""


def _start_with_devices(code: str, count: int, *args: str) -> subprocess.Popen:
  env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
  command = [sys.executable, "-c", code, *args]
  return subprocess.Popen(
    command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
  )


def _output(proc: subprocess.Popen) -> str:
  out, err = proc.communicate(timeout=1200)
  assert proc.returncode == 0, err[-3000:]
  return out


@pytest.fixture(scope="module")
def runs():
  """The device runs in one process and the single-device ones in another, side by side (each
  compiles mostly on one core)."""
  split = ["seeds over 2 devices", "seed 0 data parallel over 2 devices"]
  alone = ["seed 0 alone", "seed 1 alone"]
  procs = [_start_with_devices(RUNS, 2, HERE, *names) for names in (split, alone)]
  results = {}
  for proc in procs:
    results.update(json.loads(_output(proc).strip().splitlines()[-1]))
  return results


def _assert_same_rows(rows, expected, rtol):
  assert len(rows) == len(expected)
  for row, other in zip(rows, expected):
    assert row["seed"] == other["seed"] and row["env_steps"] == other["env_steps"]
    for key in ("eval/success", "eval/episode_success"):  # counts over 8 episodes: exact
      assert row[key] == other[key], key
    for key, value in row.items():
      if key.startswith(("eval/", "train/")):
        assert value == pytest.approx(other[key], rel=rtol, abs=1e-5), key


def test_seeds_split_over_devices_end_as_they_would_alone(runs):
  """Nothing crosses devices, so each seed runs the one-seed program; XLA may fuse it a little
  differently under shard_map (measured: at most 5e-7 apart), hence rtol 1e-5."""
  sharded = runs["seeds over 2 devices"]
  _assert_same_rows(sharded[0], runs["seed 0 alone"][0], rtol=1e-5)
  _assert_same_rows(sharded[1], runs["seed 1 alone"][0], rtol=1e-5)


def test_one_seed_split_over_devices_ends_as_on_one_device(runs):
  """The same program partitioned over 2 devices: only the order of float sums differs."""
  _assert_same_rows(runs["seed 0 data parallel over 2 devices"][0], runs["seed 0 alone"][0], 1e-4)


BAD = """
import dataclasses, sys
sys.path.insert(0, sys.argv[1])
from test_training import TINY
from goalax.config import ConfigError
from goalax.devices import placement

for changes in [dict(num_seeds=3, devices=2), dict(devices=2), dict(devices=8), dict(devices=-1)]:
  try:
    placement(dataclasses.replace(TINY, **changes))
    print("accepted", changes)
  except ConfigError as e:
    print(e)
"""


def test_shapes_that_do_not_divide_are_refused_naming_values_that_work():
  lines = _output(_start_with_devices(BAD, 4, HERE)).strip().splitlines()
  assert lines == [
    "--num_seeds 3 does not split over 2 devices (seeds split over devices); use a multiple of "
    "2, e.g. --num_seeds 2 or 4, or --devices that divides it.",
    "--num_envs 7 does not split over 2 devices (each device steps its own envs); use a "
    "multiple of 2, e.g. --num_envs 6 or 8, or --devices that divides it.",
    "--devices 8: JAX sees 4 device(s) (cpu); use 1 to 4, or 0 for all of them.",
    "--devices -1: JAX sees 4 device(s) (cpu); use 1 to 4, or 0 for all of them.",
  ]
