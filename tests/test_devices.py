"""Runs on several devices (``--devices``), tested on CPU with forced host devices: seeds split
over devices end as they would alone, one seed split over devices (data parallel) ends as on one
device, and shapes that do not divide are refused in one sentence. Each check runs in a fresh
process, since the device count is fixed when JAX starts."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = """
import dataclasses, json, re, sys
import jax
sys.path.insert(0, sys.argv[1])
import conftest  # the suite's persistent compilation cache: seed 1 and a recompile come from it
from test_training import TINY
from goalax.run.plan import make_plan
from goalax.run.host_loop import train

# TINY with 8 envs and batch 32: both split over 2 devices.
base = dataclasses.replace(TINY, num_envs=8, agent=dataclasses.replace(TINY.agent, batch_size=32))
runs = {
  "seeds over 2 devices": dataclasses.replace(base, num_seeds=2, devices=2),
  "seed 0 alone": base,
  "seed 1 alone": dataclasses.replace(base, seed=1),
  "seed 0 data parallel over 2 devices": dataclasses.replace(base, devices=2),
}


def collectives(config):
  \"\"\"The cross-device ops of a run's compiled epoch: [op, [operand shapes]] per op, and the
  number of trainable parameters (critic and actor).\"\"\"
  setup = make_plan(config)
  hlo = setup.compile().epoch.compiled.as_text()
  ops = []
  for line in hlo.splitlines():
    found = re.search(r"= (.*?) (all-reduce|all-gather|all-to-all|reduce-scatter|collective-permute)(-start)?\\(", line)
    if found:
      ops.append([found.group(2), re.findall(r"[a-z]+[0-9]*\\[[0-9,]*\\]", found.group(1))])
  agent = setup.abstract_state.agent
  trainable = [agent.critic_params, agent.actor_params]
  return {"ops": ops, "parameters": sum(x.size for x in jax.tree.leaves(trainable))}


names = sys.argv[2:]
results = {name: train(runs[name], write_outputs=False).per_seed for name in names if name in runs}
if "data parallel collectives" in names:
  results["data parallel collectives"] = collectives(runs["seed 0 data parallel over 2 devices"])
print(json.dumps(results))
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
  split.append("data parallel collectives")
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


def _elements(shape: str) -> int:
  dims = shape[shape.index("[") + 1 : -1]
  return int(np.prod([int(d) for d in dims.split(",")])) if dims else 1


def test_data_parallel_devices_learn_from_their_own_part_and_sum_gradients(runs):
  """In the compiled epoch of a data-parallel run (CRL, batch 32 over 2 devices, replay of 200
  rows × 8 envs), each device computes the gradient of its half of the batch: float all-reduces
  of tensors without the batch axis (gradients, summed across devices; CRL's logits also
  all-gather the 32 goal representations) carry at least one value per trainable parameter. The
  replay buffer never crosses devices: no collective holds a tensor with its 200 rows."""
  found = runs["data parallel collectives"]
  batch, rows = 32, 200
  summed = 0
  for op, shapes in found["ops"]:
    assert not any(f"[{rows}," in s or f",{rows}," in s for s in shapes), (op, shapes)
    if op == "all-reduce":
      summed += sum(_elements(s) for s in shapes if s.startswith("f32[") and f"[{batch}" not in s)
  assert summed >= found["parameters"] > 0, (summed, found["parameters"])


BAD = """
import dataclasses, sys
sys.path.insert(0, sys.argv[1])
from test_training import TINY
from goalax.config import ConfigError
from goalax.parallel.devices import placement

for changes in [dict(num_seeds=3, devices=2), dict(devices=2), dict(devices=8), dict(devices=-1)]:
  try:
    config = dataclasses.replace(TINY, **changes)
    placement(config, config.num_seeds)
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
