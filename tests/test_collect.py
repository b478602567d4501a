"""``goalax collect``: OGBench-format datasets from a goalax env, by a random policy or a saved
run's noisy policy. The file's trajectories are the env's episodes (replayed here step by step
from the same reset key), a policy's actions are its own plus the asked-for noise, and every
user mistake is one sentence with exit code 2.

Tiny: point U-maze (no early ends), 4 envs, episodes of 25 steps (10 for the policy runs), a few
hundred transitions; the saved run is written by hand (config.yaml and a checkpoint of freshly
initialised CRL networks), not trained.
"""

import contextlib
import dataclasses
import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fast_compile import fast_jit

from goalax import collect, datasets
from goalax.cli import main
from goalax.envs import VectorGoalEnv, make_env
from goalax.run.programs import FAST_COMPILE_OPTIONS

ENV, NUM_ENVS, LENGTH, TRANSITIONS, SEED = "point_u_maze", 4, 25, 300, 3
POLICY_LENGTH, POLICY_TRANSITIONS = 10, 400
FLAGS = ["--env", ENV, "--num_envs", str(NUM_ENVS), "--fast_compile"]


def _collect_cli(out, *flags):
  main(["collect", *FLAGS, "--out", str(out), *flags])
  return datasets.load(str(out))


RANDOM_FLAGS = ["--num_transitions", str(TRANSITIONS), "--episode_length", str(LENGTH)]


@pytest.fixture(scope="module")
def random_file(tmp_path_factory):
  """``(path, dataset, the line the command printed)`` of a random policy's collection."""
  out, printed = tmp_path_factory.mktemp("collect") / "random.npz", io.StringIO()
  with contextlib.redirect_stdout(printed):
    data = _collect_cli(out, *RANDOM_FLAGS, "--seed", str(SEED))
  return out, data, printed.getvalue()


def _replay(env_name, actions, seed, episode_length):
  """``(obs [T, n, O], terminal_obs [T, n, O], done [T, n])`` of ``VectorGoalEnv`` stepped one
  step at a time from the collection's reset key with ``actions [T, n, A]``."""
  venv = VectorGoalEnv(make_env(env_name), actions.shape[1], episode_length)
  reset_key, _ = collect.collection_keys(seed)

  @fast_jit
  def run(actions):
    def step(state, action):
      nxt = venv.step(state, action)
      return nxt, (state.obs, nxt.info["terminal_obs"], nxt.done)

    return jax.lax.scan(step, venv.reset(reset_key), actions)[1]

  return jax.device_get(run(jnp.asarray(actions)))


def _split(trajectories):
  """``[(states [L + 1, S], actions [L, A])]`` of a dataset, in its order."""
  ends = np.flatnonzero(trajectories.terminals) + 1
  starts = np.concatenate([[0], ends[:-1]])
  return [
    (trajectories.observations[a:b], trajectories.actions[a : b - 1]) for a, b in zip(starts, ends)
  ]


def test_the_file_holds_whole_episodes_of_the_env_as_it_steps(random_file):
  _, data, _ = random_file
  state_size = make_env(ENV).state_size
  episodes = _split(data)
  assert data.num_transitions >= TRANSITIONS and data.observations.shape[1] == state_size
  assert [len(a) for _, a in episodes] == [LENGTH] * (TRANSITIONS // LENGTH)  # no early ends here
  # In the order they end (all envs together here): trajectory k is env k % n's (k // n)-th.
  rounds = len(episodes) // NUM_ENVS
  actions = np.stack(
    [
      np.concatenate([episodes[r * NUM_ENVS + e][1] for r in range(rounds)])
      for e in range(NUM_ENVS)
    ],
    axis=1,
  )  # [T, n, A]
  obs, terminal_obs, done = _replay(ENV, actions, SEED, LENGTH)
  np.testing.assert_array_equal(
    done > 0, (np.arange(rounds * LENGTH) % LENGTH == LENGTH - 1)[:, None].repeat(NUM_ENVS, 1)
  )
  for k, (states, _) in enumerate(episodes):
    env, first = k % NUM_ENVS, (k // NUM_ENVS) * LENGTH
    seen, last = (
      obs[first : first + LENGTH, env, :state_size],
      terminal_obs[first + LENGTH - 1, env],
    )
    # s_0 .. s_{L-1}: the states the env showed, s_0 the reset's; s_L: the state it ended in
    np.testing.assert_allclose(states[:-1], seen, atol=1e-5)
    np.testing.assert_allclose(states[-1], last[:state_size], atol=1e-5)
    assert np.all(np.abs(np.diff(states, axis=0)).max(axis=1) > 0)  # it moves every step


def test_random_actions_are_uniform_in_the_box_and_the_last_action_is_zero(random_file):
  _, data, _ = random_file
  actions = data.actions[data.transition_rows()]
  assert np.abs(actions).max() <= 1.0 and abs(np.abs(actions).mean() - 0.5) < 0.05
  np.testing.assert_array_equal(data.actions[data.terminals > 0], 0.0)


def test_the_command_prints_one_line_and_refuses_to_overwrite(random_file, capsys, monkeypatch):
  out, data, printed = random_file
  size = out.stat().st_size
  assert printed.startswith(
    f"goalax collect | {out} | 300 transitions | 12 trajectories | {size:,} bytes | "
  )
  assert printed.endswith(" s\n") and printed.count("\n") == 1
  argv = ["collect", *FLAGS, *RANDOM_FLAGS, "--out", str(out).removesuffix(".npz")]
  with pytest.raises(SystemExit) as exit_info:
    main(argv)  # .npz added: the same file
  assert exit_info.value.code == 2
  assert (
    capsys.readouterr().err
    == f"goalax: error: --out {out} exists; pass --overwrite to replace it, or another --out.\n"
  )
  np.testing.assert_array_equal(datasets.load(str(out)).observations, data.observations)
  other = dataclasses.replace(data, observations=data.observations + 1)  # no second collection
  made = collect.Collected(other, np.zeros((12, 2)), np.ones(12, bool), 0.0, 0.0)
  monkeypatch.setattr(collect, "collect", lambda *args: made)
  main([*argv, "--overwrite"])
  np.testing.assert_array_equal(datasets.load(str(out)).observations, other.observations)


# ---- a saved run's policy ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
  """A run folder as training writes it: config.yaml and one checkpoint, here of freshly
  initialised CRL networks (2 seeds), on the env of these tests."""
  from goalax import agents
  from goalax.agents.crl import CRLConfig
  from goalax.config import TrainConfig
  from goalax.run import checkpoint
  from goalax.run.derived import Derived
  from goalax.run.runfiles import write_config

  run_dir = str(tmp_path_factory.mktemp("run"))
  env, agent_config = make_env(ENV), CRLConfig(h_dim=16, n_hidden=1, repr_dim=8)
  sizes = dict(state_size=env.state_size, goal_size=env.goal_size, action_size=env.action_size)
  counts = dict.fromkeys(
    ("gradient_steps_per_train_step", "env_steps_per_train_step", "train_steps_per_epoch"), 1
  )
  derived = Derived(
    episode_length=LENGTH, algo="crl", env_backend=env.backend, **sizes, **counts, epochs=1,
    prefill_env_steps=0, total_env_steps=1, gradient_steps_per_env_step=1.0, seeds=[0, 1],
    state_bytes=0, jax_backend="cpu", jax_version=jax.__version__,
  )  # fmt: skip
  write_config(run_dir, TrainConfig(env=ENV, agent=agent_config), derived)
  agent = agents.make_agent(agent_config, *sizes.values())
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  params = jax.vmap(lambda k: agent.policy_params(agent.init(k)))(keys)
  checkpoint.save(run_dir, 1, {"unused": np.zeros(1)}, params, {"env_steps": 0}, keep=1)
  return run_dir, agent, jax.tree.map(lambda x: x[1], params)  # the agent of seed index 1


@pytest.fixture(scope="module")
def policy_collected(saved_run):
  """Half the episodes random, the others the policy's deterministic action without noise."""
  _, agent, params = saved_run
  behaviour = collect.Behaviour(agent.act, params, action_noise=0.0, random_fraction=0.5)
  venv = VectorGoalEnv(make_env(ENV), NUM_ENVS, POLICY_LENGTH)
  return collect.collect(venv, behaviour, POLICY_TRANSITIONS, SEED, False, FAST_COMPILE_OPTIONS)


def _policy_actions(agent, params, episodes, goals):
  """The policy's deterministic action at every state but each trajectory's last."""
  obs = np.concatenate(
    [np.concatenate([s[:-1], np.tile(g, (len(a), 1))], 1) for (s, a), g in zip(episodes, goals)]
  )
  return np.asarray(agent.act(params, jnp.asarray(obs), jax.random.PRNGKey(0), True))


def test_policy_episodes_take_the_policy_s_action_and_random_ones_do_not(
  saved_run, policy_collected
):
  _, agent, params = saved_run
  collected = policy_collected
  episodes = _split(collected.trajectories)
  assert len(episodes) == POLICY_TRANSITIONS // POLICY_LENGTH == len(collected.random)
  assert 10 <= collected.random.sum() <= 30  # --random_fraction 0.5 of 40 episodes
  taken = np.concatenate([a for _, a in episodes])
  policy = _policy_actions(agent, params, episodes, collected.goals)
  per_step_random = np.repeat(collected.random, [len(a) for _, a in episodes])
  np.testing.assert_allclose(taken[~per_step_random], policy[~per_step_random], atol=1e-5)
  assert np.abs(taken[per_step_random] - policy[per_step_random]).mean() > 0.3
  assert np.abs(taken[per_step_random]).mean() > 2 * np.abs(policy[per_step_random]).mean()


def test_the_command_adds_gaussian_noise_to_the_policy_s_actions(
  saved_run, policy_collected, tmp_path
):
  """The same collection through the command with --action_noise 0.2: the same episodes random
  (drawn from the same keys), the same goals (the resets' keys do not depend on the actions), and
  the policy's actions off by N(0, 0.2²)."""
  run_dir, agent, params = saved_run
  flags = ["--policy", run_dir, "--seed_index", "1", "--seed", str(SEED)]
  flags += ["--random_fraction", "0.5", "--num_transitions", str(POLICY_TRANSITIONS)]
  flags += ["--episode_length", str(POLICY_LENGTH), "--action_noise", "0.2"]
  noisy = _split(_collect_cli(tmp_path / "noisy.npz", *flags))
  quiet = _split(policy_collected.trajectories)
  random = policy_collected.random
  assert len(noisy) == len(quiet)
  for k in np.flatnonzero(random):
    np.testing.assert_array_equal(noisy[k][1], quiet[k][1])
  taken = np.concatenate([a for k, (_, a) in enumerate(noisy) if not random[k]])
  goals = policy_collected.goals[~random]
  policy = _policy_actions(agent, params, [e for k, e in enumerate(noisy) if not random[k]], goals)
  noise = taken - policy
  assert abs(noise.std() - 0.2) < 0.03 and abs(noise.mean()) < 0.03 and np.abs(taken).max() <= 1


def test_cutting_keeps_episodes_across_chunks_and_orders_them_by_their_end():
  """Two chunks of 3 steps of 2 envs; env 0 ends at steps 1 and 4, env 1 at step 4 only."""
  done = np.array([[0, 0], [1, 0], [0, 0], [0, 0], [1, 1], [0, 0]], bool)
  steps = collect.Steps(
    states=np.arange(12, dtype=np.float32).reshape(6, 2, 1),
    actions=-np.arange(12, dtype=np.float32).reshape(6, 2, 1),
    next_states=100 + np.arange(12, dtype=np.float32).reshape(6, 2, 1),
    goals=np.zeros((6, 2, 1)),
    random=np.zeros((6, 2), bool),
    done=done,
  )
  chunk = lambda a, b: collect.Steps(*(x[a:b] for x in steps))
  first, still_open = collect.cut_episodes(chunk(0, 3), 0, [[], []])
  second, still_open = collect.cut_episodes(chunk(3, 6), 3, still_open)
  assert [e.end for e in first] == [(1, 0)] and [e.end for e in second] == [(4, 0), (4, 1)]
  env0_second, env1_first = second
  np.testing.assert_array_equal(env0_second.states[:, 0], [4, 6, 8, 108])  # steps 2..4, last state
  np.testing.assert_array_equal(env0_second.actions[:, 0], [-4, -6, -8])
  np.testing.assert_array_equal(env1_first.states[:, 0], [1, 3, 5, 7, 9, 109])
  assert [len(p) for p in still_open] == [1, 1]  # step 5 of both envs: their next episodes
  data = collect.to_trajectories(first + second)
  assert data.num_trajectories == 3 and data.num_transitions == 2 + 3 + 5


# ---- user mistakes -----------------------------------------------------------------------------
MISTAKES = {
  "unknown env": (["--env", "point_u_mase"], "Unknown environment 'point_u_mase'. Did you mean"),
  "no env": (["--env", None], "--policy random needs --env"),
  "no out": (["--out", None], "goalax collect needs --out, the .npz file to write."),
  "no transitions": (
    ["--num_transitions", "0"],
    "--num_transitions must be a positive integer, got 0.",
  ),
  "no envs": (["--num_envs", "0"], "--num_envs must be a positive integer"),
  "episode length": (["--episode_length", "0"], "--episode_length must be a positive integer"),
  "noise": (["--action_noise", "-0.1"], "--action_noise must be 0 or more"),
  "fraction": (["--random_fraction", "1.5"], "--random_fraction must be in [0, 1], got 1.5."),
  "not a run": (["--policy", "no_such_run"], "--policy no_such_run is neither 'random' nor a run"),
  "no config": (["--policy", "{empty}"], "(--policy) is not a goalax run directory"),
  "no checkpoint": (["--policy", "{fresh}"], "has no checkpoint yet, so no saved policy"),
  "sizes": (["--policy", "{run}", "--env", "reacher"], "--env reacher has state/goal/action sizes"),
  "seed index": (["--policy", "{run}", "--seed_index", "2"], "--seed_index must be in [0, 2)"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_mistake_is_one_sentence_with_exit_code_2(name, saved_run, tmp_path, capsys):
  import shutil

  argv, message = MISTAKES[name]
  fresh = tmp_path / "fresh"
  shutil.copytree(saved_run[0], fresh, ignore=shutil.ignore_patterns("checkpoints"))
  (tmp_path / "empty").mkdir()
  folders = dict(run=saved_run[0], fresh=str(fresh), empty=str(tmp_path / "empty"))
  flags = {"--env": ENV, "--num_envs": "4", "--num_transitions": "20", "--out": str(tmp_path / "d")}
  flags.update((k, v.format(**folders) if v else v) for k, v in zip(argv[::2], argv[1::2]))
  with pytest.raises(SystemExit) as exit_info:
    main(["collect", *(t for k, v in flags.items() if v is not None for t in (k, v))])
  err = capsys.readouterr().err
  assert exit_info.value.code == 2, err
  assert message in err and "Traceback" not in err and err.count("\n") == 1, err
  assert not (tmp_path / "d.npz").exists()


def test_help_explains_every_flag_and_goalax_lists_the_command(capsys):
  main(["--help"])
  assert "  collect   write an offline dataset" in capsys.readouterr().out
  with pytest.raises(SystemExit) as exit_info:
    main(["collect", "--help"])
  text = capsys.readouterr().out
  assert exit_info.value.code == 0
  for field in dataclasses.fields(collect.CollectArgs):
    assert f"--{field.name.replace('_', '-')}" in text, field.name
  assert "(default: the run's --env)" in text
