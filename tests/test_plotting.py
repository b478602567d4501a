"""Learning curves: the interquartile mean and its bootstrap interval (rliable), pooling runs by
label, ``goalax plot`` and a run's curves.png, on metrics written by hand (no training)."""

import errno
import os
import struct

import numpy as np
import pytest

from goalax.cli import main
from goalax.outputs import plotting
from goalax.outputs.logger import BackgroundCurves, MetricsWriter, read_rows


def _write_run(run_dir, seeds, success_by_seed, steps=(0, 100, 200)):
  """A run directory whose metrics.jsonl holds ``success_by_seed[k][t]`` for seed k at steps[t]."""
  os.makedirs(run_dir)
  writer = MetricsWriter(run_dir)
  for t, step in enumerate(steps):
    rows = [
      {
        "epoch": t,
        "env_steps": step,
        "seed": seed,
        "eval/success": values[t],
        "eval/time_near_goal": values[t] / 2,
        "eval/final_dist": 1 - values[t],
      }
      for seed, values in zip(seeds, success_by_seed)
    ]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k.startswith("eval/")}
    writer.write(rows + [{"epoch": t, "env_steps": step, "seed": "mean", **mean}])
  return str(run_dir)


def test_iqm_and_interval_on_a_hand_worked_case():
  # Four seeds 0, 1, 2, 10: the IQM drops the lowest and the highest quarter -> (1 + 2) / 2.
  scores = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0], [10.0, 5.0]])  # [seeds, evaluations]
  iqm, low, high = plotting.iqm_with_ci(scores, reps=500)
  np.testing.assert_allclose(iqm, [1.5, 5.0])
  assert low[0] < 1.5 < high[0] and low[0] >= 0.0 and high[0] <= 10.0
  np.testing.assert_allclose([low[1], high[1]], [5.0, 5.0])  # no spread, no interval


def test_curves_pool_the_seeds_of_runs_sharing_a_label(tmp_path):
  a = _write_run(tmp_path / "a", [0, 1], [[0.0, 0.5, 1.0], [0.0, 0.3, 0.9]])
  b = _write_run(tmp_path / "b", [2], [[0.0, 0.1, 0.2]])
  pooled = plotting.pool([plotting.load_curves(a, "x"), plotting.load_curves(b, "x")])
  np.testing.assert_array_equal(pooled.env_steps, [0, 100, 200])
  np.testing.assert_allclose(pooled.scores["eval/success"][:, 2], [1.0, 0.9, 0.2])
  c = _write_run(tmp_path / "c", [0], [[0.0, 1.0]], steps=(0, 50))
  with pytest.raises(ValueError, match="different env steps"):
    plotting.pool([plotting.load_curves(a, "x"), plotting.load_curves(c, "x")])


def _png_size(path):
  data = open(path, "rb").read()
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  return struct.unpack(">II", data[16:24])


def test_plot_command_overlays_runs_and_says_how_many_curves(tmp_path, capsys):
  a = _write_run(tmp_path / "a", [0, 1], [[0.0, 0.5, 1.0], [0.0, 0.3, 0.9]])
  b = _write_run(tmp_path / "b", [0], [[0.0, 0.1, 0.2]])
  c = _write_run(tmp_path / "c", [1], [[0.0, 0.2, 0.4]])
  out = tmp_path / "cmp.png"
  main(["plot", a, b, c, "--labels", "crl", "sac", "sac", "--out", str(out), "--reps", "200"])
  assert "2 curve(s) from 3 run(s)" in capsys.readouterr().out
  assert _png_size(out) == (1260, 340)  # three panels of 4.2 × 3.4 inches at 100 dpi
  with pytest.raises(SystemExit) as exit_info:
    main(["plot", a, b, "--labels", "one"])
  assert exit_info.value.code == 2
  assert "--labels needs one label per run directory" in capsys.readouterr().err


def test_curves_png_of_a_run_has_a_panel_per_metric(tmp_path):
  run = _write_run(tmp_path / "a", [0, 1], [[0.0, 0.5, 1.0], [0.0, 0.3, 0.9]])
  rows = read_rows(run)
  path = plotting.plot_run(rows, str(tmp_path / "curves.png"), "a", ("eval/success",))
  assert _png_size(path) == (420, 340)


def test_a_run_s_curves_are_drawn_in_a_thread_from_the_rows_it_was_given(tmp_path, monkeypatch):
  """The rows are the ones of the evaluation that asked (a later row is not drawn into it); a
  full disk while drawing is raised by the next draw or wait, not lost."""
  run = _write_run(tmp_path / "a", [0], [[0.0, 0.5, 1.0]])
  rows = read_rows(run)
  path = str(tmp_path / "curves.png")
  drawn = []
  original = plotting.plot_run
  monkeypatch.setattr(plotting, "plot_run", lambda r, *a: (drawn.append(len(r)), original(r, *a)))
  curves = BackgroundCurves(path, "a")
  curves.draw(rows[:2])
  rows.append(rows[-1])  # the next evaluation's row, while the first drawing may still run
  curves.draw(rows)
  curves.wait()
  assert drawn == [2, len(rows)] and _png_size(path) == (1260, 340)

  def full_disk(*_):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(plotting, "plot_run", full_disk)
  curves.draw(rows)
  with pytest.raises(OSError, match="No space"):
    curves.wait()
  curves.wait()  # raised once
  assert _png_size(path) == (1260, 340)  # the previous drawing stays whole


def _write_config(run_dir, agent, env):
  """A config.yaml as a run writes it: the run's flags and its Derived record."""
  from goalax.config import Derived, TrainConfig
  from goalax.run.runfiles import write_config

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
    episode_length=10, algo=type(agent).__name__[: -len("Config")].lower(), env_backend="spring",
    state_size=10, goal_size=2, action_size=2, prefill_env_steps=0, total_env_steps=1,
    gradient_steps_per_env_step=1.0, seeds=[0], state_bytes=0, jax_backend="cpu",
    jax_version="0", **counts,
  )  # fmt: skip
  write_config(run_dir, TrainConfig(env=env, agent=agent), derived)


def test_comparison_title_names_each_algorithm_and_env_once():
  described = [("CRL", "ant"), None, ("SAC+HER", "humanoid"), ("CRL", "ant")]
  assert plotting.comparison_title(described) == (
    "CRL vs SAC+HER on ant, humanoid · IQM over seeds, 95% stratified bootstrap CI (rliable)"
  )
  assert plotting.comparison_title([None]) == plotting.COMPARISON_STATISTIC


def test_plot_names_runs_by_algorithm_and_env_from_config_yaml(tmp_path, capsys):
  import matplotlib

  from goalax.agents.crl import CRLConfig
  from goalax.agents.sac import SACConfig

  a = _write_run(tmp_path / "a", [0, 1], [[0.0, 0.5, 1.0], [0.0, 0.3, 0.9]])
  b = _write_run(tmp_path / "b", [0], [[0.0, 0.1, 0.2]])
  c = _write_run(tmp_path / "c", [0], [[0.0, 0.2, 0.4]])  # no config.yaml: named by its folder
  d = _write_run(tmp_path / "d", [0], [[0.0, 0.2, 0.3]])
  _write_config(a, SACConfig(use_her=True), "reacher")
  _write_config(b, CRLConfig(), "reacher")
  (tmp_path / "d" / "config.yaml").write_text("config: [unclosed\n")  # unreadable: folder name
  out = tmp_path / "cmp.svg"
  with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, not as paths
    main(["plot", a, b, c, d, "--out", str(out), "--reps", "50"])
  svg = out.read_text()
  assert "SAC+HER vs CRL on reacher · IQM over seeds" in svg  # the figure's title
  assert "SAC+HER on reacher · a (2 seeds)" in svg and "CRL on reacher · b (1 seed)" in svg
  assert ">c (1 seed)<" in svg and ">d (1 seed)<" in svg
  assert "is not valid YAML" in capsys.readouterr().err
