"""A run you can stop, resume, inspect and watch: exact resume, whole-state checkpoints, NaN
detection, load_policy, goalax eval / render, training videos, curves.png and TensorBoard.

Three tiny runs of TINY's shapes (their programs come from the persistent compilation cache,
shared with test_training): one uninterrupted, with --log_tensorboard and --video_every 2
(output flags, which must not change what is computed); one stopped after epoch 1 by a stop
request, the path Ctrl-C takes; and that one resumed.
"""

import base64
import dataclasses
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pytest
from test_training import TINY

from goalax.cli import main
from goalax.run import checkpoint, runfiles
from goalax.run.health import NonFiniteError
from goalax.run.host_loop import train
from goalax.run.stopping import RunInterrupted, StopRequest


def _stopped_after_epoch_1(config):
  """Trains ``config`` and stops it (as Ctrl-C would) once epoch 1 is recorded."""
  stop = StopRequest()
  request_at_epoch_1 = lambda row: stop.request() if row["epoch"] == 1 else None
  try:
    train(config, progress_fn=request_at_epoch_1, stop=stop)
  except RunInterrupted as e:
    return e
  raise AssertionError("the run was not interrupted")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("lifecycle")
  full = dataclasses.replace(
    TINY, run_dir=str(root), exp_name="full", log_tensorboard=True, video_every=2, plot_curves=True
  )
  part = dataclasses.replace(TINY, run_dir=str(root), exp_name="part")
  with ThreadPoolExecutor(max_workers=2) as pool:
    full_future = pool.submit(train, full)
    stopped_future = pool.submit(_stopped_after_epoch_1, part)
  full_result, stopped = full_future.result(), stopped_future.result()
  part_dir = str(root / "part")
  at_stop = {
    name: open(os.path.join(part_dir, name), "rb").read()
    for name in ("metrics.csv", "metrics.jsonl")
  }
  stopped_copy = str(root / "stopped_copy")
  shutil.copytree(part_dir, stopped_copy)
  resumed = train(dataclasses.replace(TINY, resume=part_dir))
  return dict(
    full=full_result, stopped=stopped, resumed=resumed, at_stop=at_stop, stopped_copy=stopped_copy
  )


def _read(path):
  return open(path, "rb").read()


def test_resumed_run_ends_bit_for_bit_like_the_uninterrupted_one(runs):
  full, resumed = runs["full"], runs["resumed"]
  for name in ("metrics.csv", "metrics.jsonl", "params.msgpack"):
    assert _read(os.path.join(full.run_dir, name)) == _read(os.path.join(resumed.run_dir, name))
  # the whole state: every agent array, the replay buffer, env states, keys and counters
  flat_full = jax.tree.leaves_with_path(full.final_state)
  flat_resumed = jax.tree.leaves(resumed.final_state)
  assert len(flat_full) == len(flat_resumed)
  for (path, a), b in zip(flat_full, flat_resumed):
    assert np.array_equal(np.asarray(a), np.asarray(b)), jax.tree_util.keystr(path)
  assert resumed.history == full.history and resumed.per_seed == full.per_seed


def test_a_stopped_run_has_a_checkpoint_and_only_its_rows_so_far(runs):
  stopped = runs["stopped"]
  part_dir = runs["resumed"].run_dir
  assert stopped.exit_code == 130 and not stopped.in_flight
  assert "after epoch 1 of 2" in str(stopped)
  assert f"continue with: goalax resume {part_dir}" in str(stopped)
  epochs = [json.loads(line)["epoch"] for line in runs["at_stop"]["metrics.jsonl"].splitlines()]
  assert epochs == [0, 0, 1, 1]  # seed and mean rows of the evaluations before the stop
  full_csv = _read(os.path.join(runs["full"].run_dir, "metrics.csv"))
  assert full_csv.startswith(runs["at_stop"]["metrics.csv"])


def test_checkpoints_hold_the_whole_state_and_only_the_newest_are_kept(runs):
  full = runs["full"]
  saved = runfiles.list_checkpoints(full.run_dir)
  assert [c.epoch for c in saved] == [1, 2]  # --keep_checkpoints 2 (epoch 0 was deleted)
  assert saved[-1].env_steps == full.total_env_steps
  abstract = jax.eval_shape(lambda s: s, full.final_state)
  restored = checkpoint.restore_state(saved[-1], abstract)
  for a, b in zip(jax.tree.leaves(full.final_state), jax.tree.leaves(restored)):
    assert np.array_equal(np.asarray(a), np.asarray(b))
  assert not [n for n in os.listdir(checkpoint.checkpoint_root(full.run_dir)) if "partial" in n]


def test_non_finite_values_stop_the_run_and_the_last_good_checkpoint_is_kept(runs):
  """A checkpoint whose agent was set to NaN stands in for a run that diverges: resumed, its
  next epoch's metrics are NaN; nothing of that epoch is saved and the message names the
  checkpoint it came from."""
  run_dir = runs["stopped_copy"]
  good = runfiles.latest_checkpoint(run_dir)
  abstract = jax.eval_shape(lambda s: s, runs["full"].final_state)
  state = checkpoint.restore_state(good, abstract)
  poison = lambda x: x * np.nan if np.issubdtype(x.dtype, np.floating) else x
  state = state.replace(agent=jax.tree.map(poison, state.agent))
  policy = _agent().policy_params(state.agent)
  checkpoint.save(run_dir, good.epoch, state, policy, good.meta, keep=2)
  with pytest.raises(NonFiniteError) as error:
    train(dataclasses.replace(TINY, resume=run_dir))
  message = str(error.value)
  assert "non-finite values at epoch 2" in message
  assert f"the last good checkpoint, {good.path} (epoch 1), is kept" in message
  assert [c.epoch for c in runfiles.list_checkpoints(run_dir)] == [0, 1]
  assert not os.path.exists(os.path.join(run_dir, "params.msgpack"))


LOAD_POLICY = """
import json, sys
import numpy as np
import goalax
policy = goalax.load_policy(sys.argv[1])
actions = policy(np.load(sys.argv[2]))
print(json.dumps({"actions": np.asarray(actions).tolist(), "epoch": policy.epoch,
                  "training_imported": "goalax.run.host_loop" in sys.modules}))
"""


def test_load_policy_in_a_fresh_process_acts_like_the_trained_agent(runs, tmp_path):
  full = runs["full"]
  env = goalax_env()
  obs = np.stack(
    [np.asarray(env.reset(jax.random.PRNGKey(i)).obs) for i in range(5)]
  )  # [5, obs_size]
  np.save(tmp_path / "obs.npy", obs)
  proc = subprocess.run(
    [sys.executable, "-c", LOAD_POLICY, full.run_dir, str(tmp_path / "obs.npy")],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["epoch"] == TINY.num_evals and not out["training_imported"]
  agent = _agent()
  params = jax.tree.map(lambda x: x[0], agent.policy_params(full.final_state.agent))
  expected = jax.jit(lambda o: agent.act(params, o, jax.random.PRNGKey(0), True))(obs)
  np.testing.assert_allclose(np.array(out["actions"]), np.asarray(expected), atol=1e-6)
  assert np.array(out["actions"]).shape == (5, env.action_size)


def goalax_env():
  from goalax import make_env

  return make_env(TINY.env)


def _agent():
  from goalax.agents import make_agent

  env = goalax_env()
  return make_agent(TINY.agent, env.state_size, env.goal_size, env.action_size)


def _csv_rows(path):
  import csv

  with open(path) as f:
    return list(csv.DictReader(f))


def test_eval_command_writes_the_training_metrics_for_every_seed(runs, tmp_path, capsys):
  run_dir = runs["full"].run_dir
  outs = [tmp_path / f"eval{i}.csv" for i in range(2)]
  for out, seed in zip(outs, (0, 1)):
    main(["eval", run_dir, "--num_episodes", "8", "--seed", str(seed), "--out", str(out)])
  rows = _csv_rows(outs[0])
  assert [r["seed"] for r in rows] == ["0", "mean"]
  header = open(outs[0]).readline().strip().split(",")
  training_header = open(os.path.join(run_dir, "metrics.csv")).readline().strip().split(",")
  assert {h for h in training_header if h.startswith("eval/")} <= set(header)
  assert 0.0 <= float(rows[0]["eval/success"]) <= 1.0 and float(rows[0]["eval/final_dist"]) > 0
  assert int(rows[0]["epoch"]) == 2 and int(rows[0]["env_steps"]) == runs["full"].total_env_steps
  assert rows[0]["eval/final_dist"] != _csv_rows(outs[1])[0]["eval/final_dist"]  # other goals
  assert "checkpoint of epoch 2" in capsys.readouterr().out


def _html_system(path):
  """The system JSON that brax's viewer page carries (zlib-compressed, base64)."""
  page = open(path).read()
  assert page.lstrip().lower().startswith("<html") or "<html" in page.lower()
  blob = page.split('var system = "', 1)[1].split('"', 1)[0]
  return json.loads(zlib.decompress(base64.b64decode(blob)))


def test_render_writes_mp4_gif_and_html_of_the_policy(runs, tmp_path):
  import imageio.v3 as iio
  import imageio_ffmpeg

  run_dir = runs["full"].run_dir
  frames = TINY.episode_length + 1  # the start, then every step (reacher never terminates)
  mp4, gif, html = tmp_path / "a.mp4", tmp_path / "b.gif", tmp_path / "c.html"
  main(["render", run_dir, "--out", str(mp4)])
  main(["render", run_dir, "--format", "gif", "--episodes", "2", "--out", str(gif)])
  main(["render", run_dir, "--format", "html", "--out", str(html)])
  assert _read(mp4)[4:8] == b"ftyp" and os.path.getsize(mp4) > 1000
  assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == frames
  assert iio.imread(gif).shape == (2 * frames, 480, 640, 3)  # the default --size 640 480
  system = _html_system(html)
  assert len(system["states"]["x"]) == frames
  goal_link = system["geoms"]["goal"][0]["link_idx"]
  goal_track = {tuple(x["pos"][goal_link]) for x in system["states"]["x"]}
  assert len(goal_track) == 1  # one episode: the marker sits on its goal the whole time


def test_render_without_a_checkpoint_shows_a_random_policy(runs, tmp_path, capsys):
  fresh = tmp_path / "fresh"
  fresh.mkdir()
  shutil.copy(os.path.join(runs["full"].run_dir, "config.yaml"), fresh / "config.yaml")
  main(["render", str(fresh)])
  assert "random policy" in capsys.readouterr().out
  video = fresh / "videos" / "render_random.mp4"
  assert _read(video)[4:8] == b"ftyp" and os.path.getsize(video) > 1000


def _png_size(path):
  data = _read(path)
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  return struct.unpack(">II", data[16:24])


def test_training_writes_curves_videos_and_tensorboard_events(runs):
  run_dir = runs["full"].run_dir
  assert _png_size(os.path.join(run_dir, "curves.png")) == (1260, 340)  # 3 panels of 4.2 × 3.4 in
  videos = sorted(os.listdir(os.path.join(run_dir, "videos")))
  assert videos == ["epoch_0000.mp4", "epoch_0002.mp4"]  # --video_every 2 of 2 evaluations
  assert _read(os.path.join(run_dir, "videos", videos[-1]))[4:8] == b"ftyp"
  # TensorBoard: the mean rows' scalars at their env steps
  from tensorboardX.proto import event_pb2

  (events,) = [
    os.path.join(folder, name)
    for folder, _, names in os.walk(os.path.join(run_dir, "tensorboard"))
    for name in names
  ]
  data, scalars = _read(events), {}
  while data:
    (length,) = struct.unpack("<Q", data[:8])
    event = event_pb2.Event.FromString(data[12 : 12 + length])
    data = data[12 + length + 4 :]
    for value in event.summary.value:
      scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
  means = list(runs["full"].history)
  assert scalars["eval/success"] == [
    (r["env_steps"], pytest.approx(r["eval/success"])) for r in means
  ]
  assert [s for s, _ in scalars["train/critic_loss"]] == [r["env_steps"] for r in means[1:]]
