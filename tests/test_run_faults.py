"""Faults and bad input around a run: one sentence naming the flag or path, exit code 2, nothing
already saved lost. Atomic checkpoints (a kill or a full disk mid-save), stop signals (SIGINT in a
subprocess, SIGTERM's exit code), the memory estimate, the budget check, --config and --resume."""

import collections
import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from test_training import TINY, TINY_JAXGCRL_FLAGS

from goalax.cli import main, parse_train_args
from goalax.config import ConfigError, Derived
from goalax.errors import OutputError
from goalax.jaxgcrl_compat import translate
from goalax.policy import load_policy_params
from goalax.run import checkpoint, host_loop, plan, runfiles
from goalax.run.stopping import RunInterrupted, StopNow, StopRequest, stop_on_signals

TINY_FLAGS = translate(TINY_JAXGCRL_FLAGS)  # goalax train crl flags of TINY (seed 1)


def _exit_2(args, capsys) -> str:
  """Runs ``goalax <args>``; asserts exit code 2 and one sentence on stderr; returns it."""
  with pytest.raises(SystemExit) as exit_info:
    main(args)
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
  return err


@pytest.mark.parametrize(
  "flags, phrases",
  [
    (
      ["--num_envs", "100000000"],
      ["needs about 54.6 TiB of memory (replay buffer 54.6 TiB", "--num_envs (100,000,000)"],
    ),
    (["--num_timesteps", "10"], ["--num_timesteps 10 is less than the prefill alone", "128,000"]),
    (["--keep_checkpoints", "0"], ["--keep_checkpoints must be positive"]),
    (["--video_every", "-1"], ["--video_every must be 0 or positive"]),
    (["--exp_name", "a/b"], ["--exp_name 'a/b' must be a plain folder name"]),
    (["--config", "/nonexistent/run.yaml"], ["cannot read --config /nonexistent/run.yaml"]),
    (["--resume", "/"], ["/ (--resume) is not a goalax run directory"]),
  ],
)
def test_bad_run_flags_are_one_sentence_and_exit_code_2(flags, phrases, capsys, monkeypatch):
  monkeypatch.setattr(host_loop.HostLoop, "run", lambda self: pytest.fail("accepted: it trains"))
  err = _exit_2(["train", "crl", *flags], capsys)
  for phrase in phrases:
    assert phrase in err


def test_memory_estimate_is_the_state_s_exact_size():
  """The estimate comes from ``jax.eval_shape`` of init: the buffer is rows × envs × one
  transition (obs and action float32, trajectory id and time in episode int32) and one entry of
  the episode-end table (int32, for hindsight goals), plus its three counters."""
  from goalax.run.plan import make_plan

  setup = make_plan(TINY)
  obs, act = setup.env.observation_size, setup.env.action_size
  rows, envs = TINY.agent.max_replay_size, TINY.num_envs
  assert setup.estimate.parts["replay buffer"] == rows * envs * (obs + act + 3) * 4 + 3 * 4
  assert setup.estimate.parts["evaluation envs"] > 0 and setup.estimate.parts["agent"] > 0


def test_budget_below_the_prefill_is_refused_and_a_large_overshoot_warned():
  with pytest.raises(ConfigError, match="less than the prefill"):
    plan.check_budget(dataclasses.replace(TINY, num_timesteps=100))  # prefill: 20 × 7 = 140
  note = plan.check_budget(dataclasses.replace(TINY, num_timesteps=150, num_evals=20))
  assert "each of the --num_evals 20 epochs takes at least one training step" in note
  assert plan.check_budget(TINY) is None


def test_an_unwritable_run_dir_is_named(tmp_path, capsys):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  err = _exit_2(["train", "crl", *TINY_FLAGS, "--run_dir", str(blocker / "runs")], capsys)
  assert f"--run_dir {blocker / 'runs'} cannot be created (Not a directory)" in err


def test_an_existing_run_name_is_left_alone_and_the_new_run_goes_beside_it(tmp_path):
  taken = tmp_path / "taken"
  taken.mkdir()
  (taken / "metrics.csv").write_text("precious")
  assert runfiles.new_run_dir(str(tmp_path), "taken") == str(tmp_path / "taken-2")
  assert runfiles.new_run_dir(str(tmp_path), "taken") == str(tmp_path / "taken-3")
  assert (taken / "metrics.csv").read_text() == "precious" and os.listdir(taken) == ["metrics.csv"]


def test_a_full_disk_at_the_start_is_exit_code_2(tmp_path, capsys, monkeypatch):
  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(runfiles, "write_config", full)
  err = _exit_2(["train", "crl", *TINY_FLAGS, "--run_dir", str(tmp_path)], capsys)
  assert "the disk is full" in err and str(tmp_path) in err


# ---- checkpoints: atomic, and nothing lost on a full disk -----------------------------------
def _tree(offset: float):
  return {
    "w": np.arange(1000, dtype=np.float32) + offset,
    "key": np.array([7, 8], np.uint32),
    "step": np.array(3, np.int32),
    "empty": np.zeros((2, 0), np.float32),  # MJX states hold such arrays; orbax refuses them
  }


def _restored(run_dir, epoch):
  found = {c.epoch: c for c in runfiles.list_checkpoints(run_dir)}
  abstract = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in _tree(0.0).items()}
  return checkpoint.restore_state(found[epoch], abstract)


def _partials(run_dir):
  return [n for n in os.listdir(checkpoint.checkpoint_root(run_dir)) if n.startswith(".partial")]


def test_a_relative_run_dir_saves_and_restores(tmp_path, monkeypatch):
  """The default --run_dir is relative (runs/...); orbax itself accepts only absolute paths."""
  monkeypatch.chdir(tmp_path)
  saved = checkpoint.save("runs/rel", 1, _tree(1.0), {"p": np.ones(2)}, {"env_steps": 10}, keep=2)
  assert os.path.isdir(tmp_path / "runs" / "rel") and saved.epoch == 1
  restored = _restored("runs/rel", 1)
  np.testing.assert_array_equal(restored["w"], _tree(1.0)["w"])


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
  run_dir = str(tmp_path)
  checkpoint.save(run_dir, 1, _tree(1.0), {"p": np.ones(2)}, {"env_steps": 10}, keep=2)

  def disk_fills_up(path, data):  # the arrays were written; the disk fills before the rest
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(checkpoint, "_write_json", disk_fills_up)
  with pytest.raises(OutputError) as error:
    checkpoint.save(run_dir, 2, _tree(2.0), {"p": np.ones(2)}, {"env_steps": 20}, keep=1)
  message = str(error.value)
  assert "the disk is full" in message and "epoch_000002" in message
  assert f"the last complete checkpoint, {runfiles.latest_checkpoint(run_dir).path}" in message
  assert [c.epoch for c in runfiles.list_checkpoints(run_dir)] == [1] and not _partials(run_dir)
  restored = _restored(run_dir, 1)
  np.testing.assert_array_equal(restored["w"], _tree(1.0)["w"])
  assert restored["empty"].shape == (2, 0) and restored["empty"].dtype == np.float32
  # too little free space is seen before anything is written
  monkeypatch.undo()
  usage = collections.namedtuple("usage", "total used free")
  monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
  with pytest.raises(OutputError, match="the disk is full"):
    checkpoint.save(run_dir, 2, _tree(2.0), {"p": np.ones(2)}, {"env_steps": 20}, keep=1)
  assert [c.epoch for c in runfiles.list_checkpoints(run_dir)] == [1] and not _partials(run_dir)


def test_a_background_save_holds_the_state_it_was_given_and_reports_a_full_disk_later(
  tmp_path, monkeypatch
):
  """The training loop saves in a thread while the next epoch reuses (donates) the state's
  buffers: the checkpoint holds the arrays as they were when the save was asked for."""
  import threading

  run_dir, release, real_save = str(tmp_path), threading.Event(), checkpoint.save

  def slow_save(*args, **kwargs):
    release.wait(timeout=60)
    return real_save(*args, **kwargs)

  monkeypatch.setattr(checkpoint, "save", slow_save)
  saver = checkpoint.BackgroundSaver()
  state = _tree(1.0)
  saver.submit(run_dir, 1, state, {"p": np.ones(2)}, {"env_steps": 10}, keep=2)
  assert saver.newest_epoch == 1 and saver.completed is None  # still being written
  state["w"][:] = -5.0  # the next epoch overwrites the buffers
  release.set()
  assert saver.wait().epoch == 1
  np.testing.assert_array_equal(_restored(run_dir, 1)["w"], _tree(1.0)["w"])

  def full(*args, **kwargs):
    raise OutputError("the disk is full: could not write checkpoint epoch_000002")

  monkeypatch.setattr(checkpoint, "save", full)
  saver.submit(run_dir, 2, _tree(2.0), {"p": np.ones(2)}, {"env_steps": 20}, keep=2)
  with pytest.raises(OutputError, match="the disk is full"):
    saver.wait()
  assert saver.completed.epoch == 1 and [c.epoch for c in runfiles.list_checkpoints(run_dir)] == [1]


KILLED_MID_SAVE = """
import os, signal, sys
import numpy as np
from goalax.run import checkpoint

run_dir = sys.argv[1]
tree = lambda offset: {"w": np.arange(1000, dtype=np.float32) + offset,
                       "key": np.array([7, 8], np.uint32), "step": np.array(3, np.int32),
                       "empty": np.zeros((2, 0), np.float32)}
checkpoint.save(run_dir, 1, tree(1.0), {"p": np.ones(2)}, {"env_steps": 10}, keep=2)
def killed(path, data):  # SIGKILL once checkpoint 2's arrays are on disk, before it is complete
    os.kill(os.getpid(), signal.SIGKILL)
checkpoint._write_json = killed
checkpoint.save(run_dir, 2, tree(2.0), {"p": np.ones(2)}, {"env_steps": 20}, keep=2)
"""


def test_a_kill_during_a_save_leaves_the_previous_checkpoint_loadable(tmp_path):
  run_dir = str(tmp_path)
  proc = subprocess.run(
    [sys.executable, "-c", KILLED_MID_SAVE, run_dir], capture_output=True, timeout=300
  )
  assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
  (partial,) = _partials(run_dir)  # checkpoint 2 was half written...
  written = os.listdir(os.path.join(checkpoint.checkpoint_root(run_dir), partial))
  assert sorted(written) == ["policy", "state"]  # its arrays, not its meta.json
  assert [c.epoch for c in runfiles.list_checkpoints(run_dir)] == [1]  # ...and is never read
  np.testing.assert_array_equal(_restored(run_dir, 1)["w"], _tree(1.0)["w"])
  checkpoint.save(run_dir, 3, _tree(3.0), {"p": np.ones(2)}, {"env_steps": 30}, keep=2)
  assert [c.epoch for c in runfiles.list_checkpoints(run_dir)] == [1, 3] and not _partials(run_dir)


def test_metrics_files_are_replaced_whole_or_not_at_all(tmp_path):
  path = str(tmp_path / "metrics.csv")
  runfiles.replace_file(path, lambda f: f.write("epoch,seed\n0,0\n"))

  def half_then_full_disk(f):
    f.write("epoch,seed,new_column\n")
    raise OSError(errno.ENOSPC, "No space left on device")

  with pytest.raises(OSError):
    runfiles.replace_file(path, half_then_full_disk)
  assert open(path).read() == "epoch,seed\n0,0\n" and os.listdir(tmp_path) == ["metrics.csv"]


# ---- stop signals ---------------------------------------------------------------------------
def test_sigint_stops_a_run_with_a_checkpoint_and_one_line_on_how_to_resume(tmp_path):
  """A long tiny run (200 epochs of TINY's size) gets SIGINT once its first epoch is logged."""
  flags = list(TINY_FLAGS)
  flags[flags.index("--num_evals") + 1] = "200"
  flags[flags.index("--num_timesteps") + 1] = str(140 + 200 * 23 * 63)  # 23 steps per epoch
  proc = subprocess.Popen(
    [sys.executable, "-m", "goalax.cli", "train", "crl", *flags, "--progress"]
    + ["--run_dir", str(tmp_path), "--exp_name", "stopped"],
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  for line in proc.stdout:
    if line.strip().startswith("[1/200]"):
      proc.send_signal(signal.SIGINT)
      break
  _, err = proc.communicate(timeout=120)
  run_dir = str(tmp_path / "stopped")
  assert proc.returncode == 130, err
  assert "Traceback" not in err
  lines = err.strip().splitlines()
  assert lines[-1].startswith("goalax: stopped by SIGINT") and len(lines) <= 2, err
  assert lines[-1].endswith(f"continue with: goalax resume {run_dir}")
  saved = runfiles.latest_checkpoint(run_dir)
  assert f"checkpoint of epoch {saved.epoch} in {saved.path}" in lines[-1]
  assert 1 <= saved.epoch < 200
  rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
  assert max(r["epoch"] for r in rows) == saved.epoch  # nothing recorded past the checkpoint
  _, params, *_ = load_policy_params(run_dir)
  assert np.all(np.isfinite(np.asarray(params["params"]["MLP_0"]["Dense_0"]["kernel"])))


def test_sigterm_asks_to_stop_with_exit_code_143_and_a_second_signal_stops_at_once():
  stop = StopRequest()
  with stop_on_signals(stop):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler runs between bytecodes of the main thread
    assert stop.requested and stop.exit_code == 143 and stop.name == "SIGTERM"
    with pytest.raises(StopNow):
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(0.05)
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_an_interrupted_run_exits_with_its_signal_s_code_and_one_line(monkeypatch, capsys):
  from goalax import cli
  from goalax.run import host_loop

  def interrupted(config):
    raise RunInterrupted("stopped by SIGTERM after epoch 3 of 9; ...", exit_code=143)

  monkeypatch.setattr(host_loop, "train", interrupted)
  with pytest.raises(SystemExit) as exit_info:
    cli.run_config(TINY)
  assert exit_info.value.code == 143
  assert capsys.readouterr().err.strip() == "goalax: stopped by SIGTERM after epoch 3 of 9; ..."


# ---- --config and --resume ------------------------------------------------------------------
@pytest.fixture
def saved_run(tmp_path):
  """A run directory holding only TINY's config.yaml (nothing trained)."""
  run_dir = tmp_path / "saved"
  run_dir.mkdir()
  counts = dict.fromkeys(
    (
      "gradient_steps_per_train_step",
      "env_steps_per_train_step",
      "train_steps_per_epoch",
      "epochs",
    ),
    1,
  )
  derived = Derived(
    episode_length=23, algo="crl", env_backend="spring", state_size=10, goal_size=2,
    action_size=2, prefill_env_steps=0, total_env_steps=1, gradient_steps_per_env_step=1.0,
    seeds=[0], state_bytes=0, jax_backend="cpu", jax_version="0", **counts,
  )  # fmt: skip
  runfiles.write_config(str(run_dir), dataclasses.replace(TINY, exp_name="saved"), derived)
  return str(run_dir)


def test_config_file_gives_the_defaults_and_flags_override_it(saved_run, tmp_path):
  path = os.path.join(saved_run, "config.yaml")
  config = parse_train_args("crl", ["--config", path, "--num_evals", "7", "--h_dim", "32"])
  expected = dataclasses.replace(
    TINY, num_evals=7, agent=dataclasses.replace(TINY.agent, h_dim=32), config_file=path
  )
  assert config == expected  # exp_name 'saved' is not taken from the file
  flat = tmp_path / "flat.yaml"
  flat.write_text("env: ant\nnum_envs: 16\nh_dim: 64\n")
  config = parse_train_args("crl", ["--config", str(flat)])
  assert (config.env, config.num_envs, config.agent.h_dim) == ("ant", 16, 64)
  flat.write_text("num_envz: 16\n")
  with pytest.raises(ConfigError, match="unknown setting"):
    parse_train_args("crl", ["--config", str(flat)])


def test_resume_takes_the_run_s_config_and_refuses_changes_that_alter_results(saved_run, capsys):
  config = parse_train_args("crl", ["--resume", saved_run, "--no-progress", "--video_every", "3"])
  assert config == dataclasses.replace(TINY, resume=saved_run, video_every=3)
  err = _exit_2(["train", "crl", "--resume", saved_run, "--num_envs", "9"], capsys)
  assert f"--num_envs cannot change when resuming {saved_run} (the run has 7, not 9)" in err
  err = _exit_2(["resume", saved_run, "--h_dim", "8"], capsys)
  assert "--h_dim cannot change when resuming" in err
  err = _exit_2(["resume", saved_run, "--bogus"], capsys)
  assert "--bogus is not a flag of goalax resume; 'goalax resume --help' lists its flags." in err


def test_a_run_directory_in_use_is_refused(saved_run, capsys):
  holder = runfiles.RunLock(saved_run)  # as if another process were training in it
  try:
    err = _exit_2(["resume", saved_run], capsys)
  finally:
    holder.release()
  assert f"{saved_run} is being written by another goalax process (pid {os.getpid()})" in err
