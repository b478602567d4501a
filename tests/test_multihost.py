"""A run over two processes (hosts) on one machine, talking over localhost with JAX's CPU
collectives: it ends as one process with the same global configuration does (two devices, one
seed each), writes its files from process 0 only, stops on a signal that reached only one
process, and resumes to the same end, bit for bit."""

import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = """
import dataclasses, os, sys
sys.path.insert(0, sys.argv[1])
import conftest  # the suite's persistent compilation cache: the resumed processes compile nothing
from test_training import TINY
from goalax.run.host_loop import train
from goalax.run.stopping import RunInterrupted, StopRequest

run_dir, name, mode, *launch = sys.argv[2:]
config = dataclasses.replace(TINY, num_seeds=2, devices=0, num_evals=3, run_dir=run_dir,
                             exp_name=name, plot_curves=True)
if launch:  # coordinator address, this process's id: one of two processes
  config = dataclasses.replace(config, coordinator_address=launch[0], num_processes=2,
                               process_id=int(launch[1]))
if mode == "resume":
  config = dataclasses.replace(config, resume=os.path.join(run_dir, name))
stop = StopRequest()

def stop_after_epoch_1_in_process_1(row):  # as if only this process got SIGINT
  if mode == "stop" and row["epoch"] == 1 and launch and launch[1] == "1":
    stop.request()

try:
  train(config, progress_fn=stop_after_epoch_1_in_process_1, stop=stop)
except RunInterrupted as e:
  print("STOPPED", e)
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _communicate(proc: subprocess.Popen) -> tuple[str, str]:
  try:
    return proc.communicate(timeout=900)
  except subprocess.TimeoutExpired:
    proc.kill()
    return proc.communicate()


def _two_processes(run_dir, name: str, mode: str) -> list[str]:
  address = f"127.0.0.1:{_free_port()}"
  procs = [
    subprocess.Popen(
      [sys.executable, "-c", RUN, HERE, str(run_dir), name, mode, address, str(index)],
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for index in (0, 1)
  ]
  # Both read at once: a process that fails writes a long traceback, and one left unread blocks on
  # its full pipe while the other waits for it in a collective.
  with ThreadPoolExecutor(len(procs)) as pool:
    outputs = list(pool.map(_communicate, procs))
  for proc, (_, err) in zip(procs, outputs):
    assert proc.returncode == 0, err[-3000:]
  return [out for out, _ in outputs]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("multihost")
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  one = subprocess.Popen(  # beside the two processes' first part: each compiles on one core
    [sys.executable, "-c", RUN, HERE, str(root), "one_process", "full"],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
    env=env,
  )
  stopped = _two_processes(root, "two_processes", "stop")
  _, err = one.communicate(timeout=900)
  assert one.returncode == 0, err[-3000:]
  resumed = _two_processes(root, "two_processes", "resume")
  return root, stopped, resumed


def _read(path):
  with open(path, "rb") as f:
    return f.read()


def test_a_stop_reaching_one_process_stops_both_after_the_same_epoch(runs):
  root, stopped, _ = runs
  for out in stopped:
    assert "STOPPED stopped by SIGINT after epoch 1 of 3; checkpoint of epoch 1" in out
  checkpoints = sorted(os.listdir(root / "two_processes" / "checkpoints"))
  assert checkpoints == ["epoch_000002", "epoch_000003"]  # after the resume: the newest two


def test_two_processes_resumed_end_as_one_process_bit_for_bit(runs):
  root, _, resumed = runs
  for name in ("metrics.jsonl", "params.msgpack"):
    assert _read(root / "two_processes" / name) == _read(root / "one_process" / name), name


def test_only_process_0_writes_the_run_s_files(runs):
  root, _, _ = runs
  assert sorted(os.listdir(root)) == ["one_process", "two_processes"]  # one folder, not two
  files = set(os.listdir(root / "two_processes"))
  assert {"config.yaml", "metrics.csv", "metrics.jsonl", "params.msgpack", "curves.png"} <= files
