"""Fixed evaluation tasks: the maze tasks as data, the seeded set, the per-task evaluation on a
probe whose answers are known, and a tiny point-maze run with --eval_goals both (two seeds)
evaluated again by 'goalax eval --goals tasks'."""

import csv
import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_training import TINY

from goalax.cli import main
from goalax.config import ConfigError
from goalax.envs import make_env, mazes
from goalax.envs.core import NUM_SEEDED_TASKS
from goalax.envs.probes import ReachProbe
from goalax.evaluation import (
  episodes_per_task,
  make_evaluator,
  make_run_evaluator,
  make_task_evaluator,
)
from goalax.run.host_loop import train

NAMES = tuple(f"task{k + 1}" for k in range(5))
KEYS = jax.random.split(jax.random.PRNGKey(7), 4)  # four episodes' noise keys


def _neighbours(cell):
  r, c = cell
  return {(r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)}


def _diameter(layout):
  return max(max(layout.path_length_cells(s).values()) for s in layout.path_length_cells())


# ---- the maze tasks as data ---------------------------------------------------------------------
@pytest.mark.parametrize("name", list(mazes.LAYOUTS))
def test_maze_tasks_are_named_valid_and_spread_over_path_lengths(name):
  layout = mazes.LAYOUTS[name]
  assert tuple(t.name for t in layout.tasks) == NAMES
  lengths = []
  for task in layout.tasks:
    (sr, sc), (gr, gc) = task.start, task.goal
    assert layout.grid[sr][sc] != "1" and layout.grid[gr][gc] in "GF"  # free; a training goal
    assert task.start != task.goal
    lengths.append(layout.path_length_cells(task.start)[task.goal])
  # short to long: strictly increasing, from at most 3 cells to the maze's diameter
  assert lengths == sorted(set(lengths)) and lengths[0] <= 3 and lengths[-1] == _diameter(layout)
  assert len({t.start for t in layout.tasks}) >= 3  # not all from the training start
  starts, goals = layout.task_cells_xy()
  np.testing.assert_array_equal(layout.cell_of(starts), [t.start for t in layout.tasks])
  np.testing.assert_array_equal(layout.cell_of(goals), [t.goal for t in layout.tasks])
  # the ant-soccer ball cell: a neighbour of the start, one step closer to the goal
  for task in layout.tasks:
    ball = layout.next_cell_towards(task.start, task.goal)
    to_goal = layout.path_length_cells(task.goal)
    assert ball in _neighbours(task.start) and to_goal[ball] == to_goal[task.start] - 1
    assert ball != task.goal


@pytest.mark.parametrize(
  "tasks,message",
  [
    ([mazes.MazeTask("a", (1, 1), (0, 0))], "outside the free cells"),
    ([mazes.MazeTask("a", (1, 1), (1, 1))], "starts in its goal cell"),
    ([mazes.MazeTask("a", (1, 1), (1, 2)), mazes.MazeTask("a", (1, 2), (1, 1))], "distinct"),
  ],
)
def test_invalid_maze_tasks_are_refused(tasks, message):
  with pytest.raises(ValueError, match=message):
    mazes.MazeLayout(grid=("1111", "1RG1", "1111"), tasks=tuple(tasks))


# ---- episodes of a task: fixed start and goal, only the documented noise ------------------------
def _episodes(env, keys=KEYS):
  """``(q, goal)`` of every task (axis 0) for every key (axis 1)."""
  per_task = lambda k: jax.vmap(lambda key: env._sample_eval_task(k, key))(keys)
  q, _, goal = jax.jit(jax.vmap(per_task))(jnp.arange(len(env.eval_tasks)))
  return np.asarray(q), np.asarray(goal)


@pytest.mark.parametrize("name,start_noise", [("point_u_maze", 0.1)])
def test_maze_task_episodes_start_and_end_in_their_cells(name, start_noise):
  env = make_env(name)
  layout = env.layout
  assert env.eval_tasks == NAMES and env.eval_task_noise
  q, goal = _episodes(env)
  starts, goals = (np.asarray(a)[:, None] for a in layout.task_cells_xy())
  assert np.abs(q[..., :2] - starts).max() <= start_noise + 1e-5
  quarter = layout.cell_size / 4
  assert np.abs(goal - goals).max() <= quarter + 1e-5
  assert np.all(np.ptp(goal, axis=1) > 0)  # the goal noise differs between episodes


@pytest.mark.parametrize(
  "name,body_noise", [("ant_big_maze", True), ("humanoid_hardest_maze", False)]
)
def test_reference_maze_tasks_start_and_end_at_their_cell_centres(name, body_noise):
  """Under the reference's names (JaxGCRL's frame, starts and goals): the torso exactly at the
  task's start cell's centre, the goal exactly at its goal cell's centre; only the rest of the
  body's start varies between episodes (the ant's reset noise; none for the humanoid)."""
  env = make_env(name)
  layout = env.layout
  assert env.eval_tasks == NAMES and env.eval_task_noise == body_noise
  q, goal = _episodes(env)
  starts, goals = layout.task_cells_xy()
  np.testing.assert_array_equal(goals, layout.cell_size * np.array([t.goal for t in layout.tasks]))
  np.testing.assert_array_equal(
    q[..., :2], np.broadcast_to(np.asarray(starts)[:, None], q[..., :2].shape)
  )
  np.testing.assert_array_equal(goal, np.broadcast_to(np.asarray(goals)[:, None], goal.shape))
  assert (np.ptp(q[..., 2:], axis=1).max() > 0) == body_noise


def test_ant_soccer_tasks_put_the_ball_on_the_way():
  env = make_env("ant_ball_u_maze")
  layout = env.layout
  q, goal = _episodes(env)
  ball_cells = [layout.next_cell_towards(t.start, t.goal) for t in layout.tasks]
  ball_xy = layout.cells_to_xy(ball_cells)[:, None]
  starts, goals = (np.asarray(a)[:, None] for a in layout.task_cells_xy())
  quarter = layout.cell_size / 4
  assert np.abs(q[..., :2] - starts).max() <= 0.1 + 1e-5
  assert np.abs(q[..., 15:17] - ball_xy).max() <= quarter + 1e-5  # the ball's x, y joints
  assert np.abs(goal - goals).max() <= quarter + 1e-5


# Goals of reacher's seeded tasks (fold_in(PRNGKey(2421), k)), as drawn when the set was made:
# a change of seed, of the sampler or of the key scheme changes the set and fails here.
REACHER_TASK_GOALS = [
  [-0.04853663, -0.12094931],
  [-0.03005331, 0.15811506],
  [-0.02719779, -0.01838695],
  [-0.12216295, -0.12492006],
  [0.06714469, 0.04008703],
]


def test_seeded_tasks_are_the_same_in_every_run_with_the_start_noise_per_episode():
  env = make_env("reacher")
  assert env.eval_tasks == NAMES and env.eval_task_noise
  q, goal = _episodes(env)
  other_q, other_goal = _episodes(env, jax.random.split(jax.random.PRNGKey(123), 4))
  np.testing.assert_allclose(goal, np.repeat(np.array(REACHER_TASK_GOALS)[:, None], 4, 1), 1e-6)
  np.testing.assert_array_equal(goal, other_goal)  # whatever the evaluation key
  assert np.all(np.ptp(q, axis=1) > 0) and np.abs(q).max() <= 0.1  # reset noise ±0.1 rad
  assert not np.array_equal(q, other_q)
  fresh = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), 2))
  assert not np.array_equal(*np.asarray(env.split_obs(fresh.obs)[1]))  # reset: fresh goals


@pytest.mark.parametrize("name", ["ant_ball", "ant_soccer"])
def test_seeded_tasks_with_objects_placed_with_the_goal_repeat_exactly(name):
  env = make_env(name)
  assert len(env.eval_tasks) == NUM_SEEDED_TASKS and not env.eval_task_noise
  assert episodes_per_task(env, 128) == 1
  q, goal = _episodes(env)
  assert np.all(np.ptp(q, axis=1) == 0) and np.all(np.ptp(goal, axis=1) == 0)
  assert len({tuple(g) for g in goal[:, 0].round(4)}) == NUM_SEEDED_TASKS


# ---- the evaluation, on a probe whose answers are known -----------------------------------------
PROBE = ReachProbe()
# The probe's tasks: the goals U[-0.8, 0.8] of its seeded keys, |g| < 0.2 for task3 only.
PROBE_GOALS = np.array([0.67976344, 0.65999967, -0.18371812, -0.6450712, 0.66846544])


def _oracle(params, obs, key, deterministic):
  return obs[..., 1:]  # the action sets the position: a = g reaches every goal


def _still(params, obs, key, deterministic):
  return jnp.zeros(obs.shape[:-1] + (1,))  # the position stays 0: reached iff |g| < 0.2


def test_probe_tasks_give_the_numbers_worked_out_by_hand():
  assert episodes_per_task(PROBE, 8) == 1  # every episode of a probe task is the same
  still = jax.jit(make_task_evaluator(PROBE, _still, 3, 1))(None, jax.random.PRNGKey(0))
  oracle = jax.jit(make_task_evaluator(PROBE, _oracle, 3, 1))(None, jax.random.PRNGKey(1))
  reached = (np.abs(PROBE_GOALS) < 0.2).astype(float)
  np.testing.assert_array_equal(reached, [0, 0, 1, 0, 0])
  for k, name in enumerate(NAMES):
    assert still[f"eval_tasks/{name}/success"] == reached[k]
    assert still[f"eval_tasks/{name}/time_near_goal"] == reached[k]  # the one step
    np.testing.assert_allclose(still[f"eval_tasks/{name}/final_dist"], abs(PROBE_GOALS[k]), 1e-6)
    np.testing.assert_allclose(still[f"eval_tasks/{name}/min_dist"], abs(PROBE_GOALS[k]), 1e-6)
    assert oracle[f"eval_tasks/{name}/success"] == 1.0
    assert oracle[f"eval_tasks/{name}/final_dist"] == 0.0
  np.testing.assert_allclose(still["eval_tasks/success"], 0.2, 1e-6)
  np.testing.assert_allclose(still["eval_tasks/final_dist"], np.abs(PROBE_GOALS).mean(), 1e-6)
  assert oracle["eval_tasks/success"] == 1.0


def test_eval_goals_modes_and_their_keys():
  key = jax.random.PRNGKey(3)
  run = lambda goals: jax.jit(make_run_evaluator(PROBE, _still, goals, 64, 1))(None, key)
  random_only, tasks_only, both = run("random"), run("tasks"), run("both")
  assert set(random_only) == set(jax.jit(make_evaluator(PROBE, _still, 64, 1))(None, key))
  assert all(k.startswith("eval/") for k in random_only)
  assert all(k.startswith("eval_tasks/") for k in tasks_only) and len(tasks_only) == 4 + 5 * 4
  assert set(both) == set(random_only) | set(tasks_only)
  for k, v in {**random_only, **tasks_only}.items():
    np.testing.assert_allclose(both[k], v, err_msg=k)
  # random goals: about a quarter of U[-0.8, 0.8] lies within 0.2 of 0
  assert 0.1 < random_only["eval/success"] < 0.45
  np.testing.assert_allclose(tasks_only["eval_tasks/success"], 0.2, 1e-6)


# ---- a tiny run with --eval_goals both, and goalax eval --goals tasks ---------------------------
MAZE = dataclasses.replace(
  TINY, env="point_u_maze", episode_length=40, eval_goals="both", num_seeds=2, seed=3
)


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory):
  """The tiny maze run, two seeds, random goals and the tasks at every evaluation."""
  root = tmp_path_factory.mktemp("eval_tasks")
  return train(dataclasses.replace(MAZE, run_dir=str(root), exp_name="full"))


def _jsonl(run_dir):
  with open(os.path.join(run_dir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def test_tiny_run_writes_per_task_metrics_and_their_average_for_every_seed(maze_run):
  full = maze_run
  rows = _jsonl(full.run_dir)
  assert [r["seed"] for r in rows] == [3, 4, "mean"] * (MAZE.num_evals + 1)
  per_task = episodes_per_task(make_env(MAZE.env), MAZE.num_eval_envs)
  assert per_task == 2  # 8 episodes shared among 5 tasks, rounded up
  for row in rows:
    assert 0.0 <= row["eval/success"] <= 1.0  # the random goals are still there
    for metric in ("success", "time_near_goal", "final_dist", "min_dist"):
      values = [row[f"eval_tasks/{name}/{metric}"] for name in NAMES]
      np.testing.assert_allclose(row[f"eval_tasks/{metric}"], np.mean(values), 1e-6)
    for n in NAMES:
      assert row[f"eval_tasks/{n}/min_dist"] <= row[f"eval_tasks/{n}/final_dist"]
      assert row[f"eval_tasks/{n}/time_near_goal"] <= row[f"eval_tasks/{n}/success"]
      if row["seed"] != "mean":  # a task's success: a count of its 2 episodes
        assert row[f"eval_tasks/{n}/success"] * per_task % 1 == 0
  header = open(os.path.join(full.run_dir, "metrics.csv")).readline().strip().split(",")
  assert {f"eval_tasks/{n}/success" for n in NAMES} | {"eval_tasks/success"} <= set(header)


def test_eval_command_reports_the_tasks(maze_run, tmp_path, capsys):
  full = maze_run
  out = tmp_path / "tasks.csv"
  main(["eval", full.run_dir, "--goals", "tasks", "--num_episodes", "8", "--out", str(out)])
  with open(out) as f:
    rows = list(csv.DictReader(f))
  assert [r["seed"] for r in rows] == ["3", "4", "mean"]
  assert not any(k.startswith("eval/") for k in rows[0])
  for row in rows:
    values = [float(row[f"eval_tasks/{n}/success"]) for n in NAMES]
    np.testing.assert_allclose(float(row["eval_tasks/success"]), np.mean(values), 1e-6)
  printed = capsys.readouterr().out
  assert "tasks success" in printed and "seed mean" in printed
  # the run's own setting (both) by default, into RUN_DIR/eval/<env>_both_...
  main(["eval", full.run_dir, "--num_episodes", "8"])
  written = os.path.join(full.run_dir, "eval", "point_u_maze_both_epoch0002_seed0.csv")
  with open(written) as f:
    header = f.readline().strip().split(",")
  assert "eval/success" in header and "eval_tasks/task5/success" in header


def test_bad_eval_goals_is_one_sentence_naming_the_flag(capsys):
  with pytest.raises(ConfigError, match="--eval_goals must be random, tasks or both"):
    train(dataclasses.replace(TINY, eval_goals="fixed", run_dir="unused"))
  with pytest.raises(SystemExit) as exit_info:
    main(["eval", "no_such_dir", "--goals", "fixed"])
  assert exit_info.value.code == 2 and "--goals" in capsys.readouterr().err
