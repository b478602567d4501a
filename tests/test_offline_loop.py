"""The offline loop (``--dataset``): an off-policy agent trains on a fixed dataset, with the goal
sampler's rules inside each trajectory; resume after a stop request or SIGKILL ends bit for bit;
seeds over devices, data parallelism and sweeps work as online; the dataset is shared, never
changed and never checkpointed; bad datasets, an on-policy agent and a dataset too large for the
device are refused in one sentence.

The dataset is tiny: 10 random-action episodes of reacher (20 steps), cut into 15 trajectories of
1 to 19 transitions, written with ``goalax.datasets.write``.
"""

import dataclasses
import json
import os
import signal
import struct
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lifecycle import assert_resumed_run_ends_like_the_uninterrupted_one, run_lifecycle

from goalax import datasets
from goalax.agents.crl import CRLConfig
from goalax.agents.td3 import TD3Config
from goalax.cli import main
from goalax.config import ConfigError, TrainConfig
from goalax.loops.offline_data import dataset_buffer, layout_bytes
from goalax.loops.settings import offline_schedule
from goalax.replay.goals import GoalMix, GoalSampling
from goalax.replay.sampler import later_states, make_sampler
from goalax.run import memory
from goalax.run.host_loop import train
from goalax.run.plan import _shared_env, make_plan, make_trainer

HERE = os.path.dirname(os.path.abspath(__file__))
EPISODES, STEPS = 10, 20
CUTS = {0: 1, 2: 7, 4: 18, 6: 3, 8: 12}  # episode -> a trajectory ends at this state too


def offline_config(dataset: str, **changes) -> TrainConfig:
  """The tiny offline run of these tests: CRL, 2 seeds, 3 epochs of 40 gradient steps,
  evaluated on random goals and the env's fixed tasks."""
  config = TrainConfig(
    env="reacher",
    dataset=dataset,
    num_gradient_steps=120,
    num_evals=3,
    num_seeds=2,
    num_envs=4,
    num_eval_envs=4,
    eval_goals="both",
    episode_length=23,
    agent=CRLConfig(
      h_dim=16, n_hidden=1, repr_dim=8, batch_size=32, min_replay_size=20, max_replay_size=200
    ),
    progress=False,
    fast_compile=True,
    plot_curves=False,
  )
  return dataclasses.replace(config, **changes)


def random_episodes(env, key) -> datasets.Trajectories:
  """``EPISODES`` random-action episodes of ``STEPS`` steps of ``env``, cut at ``CUTS``."""

  def episode(key):
    k_reset, k_steps = jax.random.split(key)
    first = env.reset(k_reset)

    def step(state, k):
      action = jax.random.uniform(k, (env.action_size,), minval=-1.0, maxval=1.0)
      return env.step(state, action), (state.obs[: env.state_size], action)

    last, (states, actions) = jax.lax.scan(step, first, jax.random.split(k_steps, STEPS))
    states = jnp.concatenate([states, last.obs[None, : env.state_size]])
    return states, jnp.concatenate([actions, jnp.zeros((1, env.action_size))])

  states, actions = jax.jit(jax.vmap(episode))(jax.random.split(key, EPISODES))
  terminals = np.zeros((EPISODES, STEPS + 1), np.float32)
  terminals[:, -1] = 1
  for index, at in CUTS.items():
    terminals[index, at] = 1
  return datasets.Trajectories(
    np.asarray(states, np.float32).reshape(-1, env.state_size),
    np.asarray(actions, np.float32).reshape(-1, env.action_size),
    terminals.reshape(-1),
  )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
  env = _shared_env("reacher", None)
  path = tmp_path_factory.mktemp("data") / "reacher_random.npz"
  return str(datasets.write(path, random_episodes(env, jax.random.PRNGKey(0))))


@pytest.fixture(scope="module")
def runs(dataset, tmp_path_factory):
  """The lifecycle of the tiny run (uninterrupted with curves and TensorBoard, stopped after
  epoch 1 and resumed), and a copy SIGKILLed in a child process after epoch 1, resumed here."""
  root = tmp_path_factory.mktemp("offline")
  config = offline_config(dataset)
  runs = run_lifecycle(config, root, plot_curves=True, log_tensorboard=True)
  proc = subprocess.run(
    [sys.executable, "-c", KILLED_AFTER_EPOCH_1, HERE, dataset, str(root)],
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
  killed = os.path.join(str(root), "killed")
  runs["killed"] = train(dataclasses.replace(config, resume=killed))
  return config, runs


KILLED_AFTER_EPOCH_1 = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import conftest  # the suite's compilation cache
from test_offline_loop import offline_config
from goalax.run.host_loop import train

def kill_after_epoch_1(row):
  if row["epoch"] == 1:
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: a checkpoint may be half written

train(offline_config(sys.argv[2], run_dir=sys.argv[3], exp_name="killed"), kill_after_epoch_1)
"""


def test_a_stopped_or_killed_offline_run_resumes_bit_for_bit(runs):
  config, runs = runs
  assert_resumed_run_ends_like_the_uninterrupted_one(runs, config.num_evals)
  killed = {"full": runs["full"], "resumed": runs["killed"], "stopped": runs["stopped"]}
  assert_resumed_run_ends_like_the_uninterrupted_one(killed, config.num_evals)


def test_gradient_steps_are_the_x_axis_and_no_env_steps_are_taken(runs):
  config, runs = runs
  full = runs["full"]
  per_epoch = 40  # 120 gradient steps over 3 epochs
  assert [r["gradient_steps"] for r in full.history] == [0, 40, 80, 120]
  assert (
    all(r["env_steps"] == 0 for rows in full.per_seed for r in rows) and full.total_env_steps == 0
  )
  assert np.asarray(full.final_state.train_steps).tolist() == [3 * per_epoch] * config.num_seeds
  # the state is the agent, a key and a counter: no dataset, no buffer, no env states
  assert [f.name for f in dataclasses.fields(full.final_state)] == ["agent", "key", "train_steps"]
  with open(os.path.join(full.run_dir, "metrics.jsonl")) as f:
    first = json.loads(f.readline())
  assert list(first)[:4] == ["epoch", "env_steps", "gradient_steps", "seed"]
  assert "eval/success" in first and "eval_tasks/success" in first  # --eval_goals both
  assert os.path.getsize(os.path.join(full.run_dir, "curves.png")) > 0
  # TensorBoard's steps are gradient steps
  from tensorboardX.proto import event_pb2

  (events,) = [
    os.path.join(folder, name)
    for folder, _, names in os.walk(os.path.join(full.run_dir, "tensorboard"))
    for name in names
  ]
  data, steps = open(events, "rb").read(), []
  while data:
    (length,) = struct.unpack("<Q", data[:8])
    event = event_pb2.Event.FromString(data[12 : 12 + length])
    data = data[12 + length + 4 :]
    steps += [event.step for value in event.summary.value if value.tag == "train/critic_loss"]
  assert steps == [40, 80, 120]
  with open(os.path.join(full.run_dir, "config.yaml")) as f:
    saved = f.read()
  assert "loop: offline" in saved and "total_gradient_steps: 120" in saved


def test_the_dataset_is_shared_read_only_and_counted_once(runs, dataset):
  """Two epochs of the compiled program (from this process's cache) change the agent and leave
  the dataset as the file holds it; the estimate counts it once for two seeds."""
  config, _ = runs
  plan = make_plan(config)
  data = plan.trainer.data
  before = jax.tree.map(np.array, data)
  trajectories = datasets.load(dataset)
  assert np.array_equal(
    before.data["obs"][:, 0, : plan.env.state_size],
    trajectories.observations[trajectories.transition_rows()],
  )
  programs = plan.compile()
  state = programs.init(*plan.init_args)
  params = np.array(jax.tree.leaves(state.agent)[0])
  for _ in range(2):
    state, _ = programs.epoch(state, data)
  jax.block_until_ready(state)
  for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(data)):
    assert np.array_equal(a, np.asarray(b))
  assert not np.array_equal(params, np.asarray(jax.tree.leaves(state.agent)[0]))
  sizes = (plan.env.state_size, plan.env.goal_size, plan.env.action_size)
  exact = layout_bytes(trajectories.num_transitions, *sizes, td=False)
  assert plan.estimate.parts["dataset"] == memory.tree_bytes(data) == exact
  assert "replay buffer" not in plan.estimate.parts


@pytest.mark.parametrize("td", [False, True])
def test_sampled_goals_stay_in_their_trajectory_and_reach_its_last_state(td):
  """Every state's features are its trajectory's index × 100 + its time, so a goal names the
  state it came from. Hindsight goals (uniform offsets) lie 1..R states later in the same
  trajectory, R reaching its last state with ``td`` (``next_state`` of the last row) and the
  last row's state without; every such last state is drawn; commanded goals are the state's own
  goal (OGBench's p_curgoal)."""
  env = _shared_env("reacher", None)
  lengths = [1, 2, 5, 9]  # transitions per trajectory
  ids = np.concatenate([100 * j + np.arange(n + 1) for j, n in enumerate(lengths)])
  terminals = np.concatenate([np.eye(n + 1)[-1] for n in lengths]).astype(np.float32)
  observations = np.repeat(ids[:, None], env.state_size, axis=1).astype(np.float32)
  actions = np.zeros((len(ids), env.action_size), np.float32)
  trajectories = datasets.Trajectories(observations, actions, terminals)
  buffer = jax.device_put(dataset_buffer(trajectories, env, td))
  sizes = (env.state_size, env.goal_size, env.action_size)
  assert memory.tree_bytes(buffer) == layout_bytes(sum(lengths), *sizes, td)
  assert np.asarray(buffer.data["steps"])[:, 0].tolist() == [t for n in lengths for t in range(n)]
  rows = jnp.arange(sum(lengths))  # the later states of each row, by the episode-end table
  later = later_states(buffer, rows, jnp.zeros_like(rows), 50, 1 if td else 0)
  assert later.tolist() == [n - t - (0 if td else 1) for n in lengths for t in range(n)]

  hindsight = GoalSampling(GoalMix(future="uniform"), td=td, offsets=True)
  batch, info = make_sampler(env, hindsight, 4096, 50)(buffer, jax.random.PRNGKey(1))
  state, goal = np.asarray(batch["state"][:, 0]), np.asarray(batch["goal"][:, 0])
  found = np.asarray(info["found"])  # without td a last row has no later row: rare fallbacks
  assert found.all() if td else found.mean() > 0.99
  assert np.array_equal(state // 100, goal // 100)  # the same trajectory
  offset = goal - state
  assert np.array_equal(offset, np.asarray(batch["goal_offset"])) and (offset[found] >= 1).all()
  last = np.array([lengths[int(j)] for j in state // 100]) - (0 if td else 1)
  assert (goal % 100 <= last).all()  # never past the trajectory's end
  reached = {(int(g) // 100, int(g) % 100) for g in goal}
  assert all((j, n - (0 if td else 1)) in reached for j, n in enumerate(lengths) if td or n > 1)
  if td:
    assert np.array_equal(np.asarray(batch["next_state"][:, 0]), state + 1)
    assert not np.asarray(batch["terminated"]).any()

  commanded = GoalSampling(GoalMix(p_commanded=1.0, p_future=0.0), td=td)
  batch, _ = make_sampler(env, commanded, 256, 50)(buffer, jax.random.PRNGKey(2))
  assert np.array_equal(np.asarray(batch["goal"]), np.asarray(env.achieved_goal(batch["state"])))


DEVICE_RUNS = """
import dataclasses, json, sys
sys.path.insert(0, sys.argv[1])
import conftest  # the suite's compilation cache
from test_offline_loop import offline_config
from goalax.run.host_loop import train

base = offline_config(sys.argv[2], num_seeds=1, eval_goals="random")
lr = lambda value: dataclasses.replace(base, agent=dataclasses.replace(base.agent, critic_lr=value))
runs = {
  "seeds over 2 devices": dataclasses.replace(base, num_seeds=2, devices=2),
  "seed 0 alone": base,
  "seed 1 alone": dataclasses.replace(base, seed=1),
  "seed 0 data parallel over 2 devices": dataclasses.replace(base, devices=2),
  "critic_lr sweep": dataclasses.replace(base, sweep=("critic_lr=1e-3,3e-4",)),
  "critic_lr 1e-3 alone": lr(1e-3),
}
print(json.dumps({name: train(config, write_outputs=False).per_seed for name, config in runs.items()}))
"""


def _assert_same_rows(rows, expected, rtol):
  assert len(rows) == len(expected) == 4
  for row, other in zip(rows, expected):
    assert row["gradient_steps"] == other["gradient_steps"]
    for key, value in other.items():
      if key.startswith(("eval/", "train/")) and "accuracy" not in key:
        assert row[key] == pytest.approx(value, rel=rtol, abs=1e-4), key


def test_seeds_over_devices_data_parallelism_and_sweeps_end_as_their_runs_alone(dataset):
  """In a child process with 2 host devices: 2 seeds split over them end as each alone, one
  seed's batches split over them end as on one device (up to the order of float sums), and a
  two-value sweep's members end as the two runs alone (up to vmap's rounding)."""
  assert CRLConfig().critic_lr == 3e-4  # the sweep's second member is the base run
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  proc = subprocess.run(
    [sys.executable, "-c", DEVICE_RUNS, HERE, dataset],
    capture_output=True,
    text=True,
    env=env,
    timeout=1200,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  runs = json.loads(proc.stdout.strip().splitlines()[-1])
  seeds = runs["seeds over 2 devices"]
  _assert_same_rows(seeds[0], runs["seed 0 alone"][0], 1e-5)
  _assert_same_rows(seeds[1], runs["seed 1 alone"][0], 1e-5)
  assert seeds[0][-1]["train/critic_loss"] != seeds[1][-1]["train/critic_loss"]
  _assert_same_rows(runs["seed 0 data parallel over 2 devices"][0], runs["seed 0 alone"][0], 1e-4)
  swept = runs["critic_lr sweep"]
  _assert_same_rows(swept[0], runs["critic_lr 1e-3 alone"][0], 1e-3)
  _assert_same_rows(swept[1], runs["seed 0 alone"][0], 1e-3)


def test_offline_schedule_budget_and_agent_defaults(dataset, monkeypatch):
  schedule = offline_schedule(1000, 3)
  assert (schedule.gradient_steps_per_epoch, schedule.total_gradient_steps) == (334, 1002)
  assert schedule.total_env_steps == 0 and schedule.gradient_steps_per_env_step == float("inf")
  assert schedule.describe().startswith("offline: 3 epochs × 334 gradient steps = 1,002")
  # the agent config's offline() gives the run's agent config (recorded as the run's own)
  resolved = lambda self: dataclasses.replace(self, batch_size=64)
  monkeypatch.setattr(CRLConfig, "offline", resolved, raising=False)
  monkeypatch.setenv("OGBENCH_DATA_DIR", os.path.dirname(dataset))  # ogbench:NAME is NAME.npz there
  plan = make_plan(offline_config("ogbench:reacher_random", num_gradient_steps=2, num_evals=5))
  assert plan.trainer.data.capacity == datasets.load(dataset).num_transitions
  assert plan.config.agent.batch_size == 64 and plan.derived.loop == "offline"
  assert "--num_gradient_steps 2" in plan.budget_note  # 5 epochs take at least 5 steps


def test_a_resumed_run_compares_its_flags_with_the_offline_defaults_resolved(runs, monkeypatch):
  """The run's config.yaml holds its agent config as offline() resolved it; the config a resume
  is given is resolved the same way before the two are compared."""
  config, runs = runs
  own = CRLConfig.offline  # OGBench's actor (ddpgbc), and here also the run's batch of 32
  resolve = lambda self: dataclasses.replace(own(self), batch_size=32)
  monkeypatch.setattr(CRLConfig, "offline", resolve, raising=False)
  given = dataclasses.replace(config, agent=dataclasses.replace(config.agent, batch_size=16))
  plan = make_plan(dataclasses.replace(given, resume=runs["full"].run_dir))
  assert plan.config.agent == resolve(config.agent)  # the run's own, as its config.yaml holds it


def _exit_2(args, capsys) -> str:
  with pytest.raises(SystemExit) as exit_info:
    main(args)
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
  return err


def test_bad_datasets_and_on_policy_agents_are_one_sentence_and_exit_code_2(
  dataset, tmp_path, capsys
):
  trajectories = datasets.load(dataset)
  no_actions = str(tmp_path / "no_actions.npz")
  np.savez(no_actions, observations=trajectories.observations, terminals=trajectories.terminals)
  short = str(tmp_path / "short.npz")
  np.savez(short, **vars(dataclasses.replace(trajectories, actions=trajectories.actions[:-1])))
  wide = str(tmp_path / "wide.npz")
  observations = np.pad(trajectories.observations, ((0, 0), (0, 1)))
  np.savez(wide, **vars(dataclasses.replace(trajectories, observations=observations)))
  for path, phrase in [
    (no_actions, "has no actions"),
    (short, "rows; they must have one row per state"),
    (wide, "the env's state has size"),
    (str(tmp_path / "missing.npz"), "no such file"),
    ("ogbench:no_such_dataset", "download it with the ogbench package"),
  ]:
    assert phrase in _exit_2(["train", "crl", "--dataset", path], capsys)
  assert "ppo is on-policy" in _exit_2(["train", "ppo", "--dataset", dataset], capsys)


def test_a_dataset_larger_than_the_device_is_refused_before_it_is_read(dataset, monkeypatch):
  monkeypatch.setattr(memory, "device_capacity", lambda: (4096, "the test device"))
  monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("the dataset was read"))
  with pytest.raises(ConfigError) as error:
    make_plan(offline_config(dataset))
  states = EPISODES * (STEPS + 1)
  assert str(error.value).startswith(f"--dataset {dataset} ({states} states) needs about ")
  assert "but the test device has 4.0 KiB" in str(error.value)


@pytest.mark.parametrize("agent", ["crl", "td3"])
def test_an_epoch_of_chunked_draws_takes_the_steps_one_at_a_time_would(dataset, agent):
  """20 gradient steps (a chunk of 16 batches drawn at once, then 4): the agent ends as with a
  batch drawn and learned from at each step, with the same keys (up to float rounding); TD3 too,
  on the TD layout (next_state, terminated)."""
  config = offline_config(dataset, num_seeds=1, num_gradient_steps=20, num_evals=1)
  if agent == "td3":
    config = dataclasses.replace(config, agent=TD3Config(h_dim=16, n_hidden=1, batch_size=32))
  trainer = make_trainer(config, _shared_env("reacher", None))
  agent, data = trainer.agent, trainer.data
  sample = make_sampler(trainer.venv.env, agent.sampling, 32, trainer.venv.episode_length)
  state = trainer.init(jax.random.PRNGKey(3))

  def step_by_step(state):
    _, k_steps = jax.random.split(state.key)

    def step(agent_state, key):
      k_sample, k_update = jax.random.split(key)
      return agent.update(agent_state, sample(data, k_sample)[0], k_update)[0], None

    return jax.lax.scan(step, state.agent, jax.random.split(k_steps, 20))[0]

  chunked = jax.jit(trainer.run_epoch)(state, data)[0].agent
  expected = jax.jit(step_by_step)(state)
  first = jax.tree.leaves(state.agent)[0]
  assert not np.array_equal(np.asarray(first), np.asarray(jax.tree.leaves(chunked)[0]))
  for a, b in zip(jax.tree.leaves(chunked), jax.tree.leaves(expected)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
