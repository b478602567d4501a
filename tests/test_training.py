"""The trainer, end to end: accounting, seeds in one process, outputs, CLI errors, learning."""

import dataclasses
import glob
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import yaml

from goalax.agents import REGISTRY
from goalax.agents.crl import CRLConfig
from goalax.agents.sac import SACConfig
from goalax.cli import parse_train_args
from goalax.config import ConfigError, TrainConfig
from goalax.loops.settings import schedule_of
from goalax.run import host_loop, programs
from goalax.run.host_loop import train
from goalax.run.programs import program_key

# Odd sizes that JaxGCRL rejects (num_envs·(episode_length−1) % batch_size = 7·22 % 33 != 0):
# every run here is also a check that there are no divisibility traps. --fast_compile: these
# runs are mostly compilation. No curves.png (matplotlib, ~0.5 s a run): the tests that look at it
# turn it on.
TINY = TrainConfig(
  env="reacher",
  num_envs=7,
  num_timesteps=3000,
  num_evals=2,
  num_eval_envs=8,
  episode_length=23,
  agent=CRLConfig(
    h_dim=16,
    n_hidden=2,
    repr_dim=8,
    unroll_length=9,
    batch_size=33,
    min_replay_size=20,
    max_replay_size=200,
  ),
  progress=False,
  fast_compile=True,
  plot_curves=False,
)
# The seed-1 run through JaxGCRL's entry point, its flags derived from TINY: the same shapes, so
# the compiled programs come from the persistent compilation cache.
TINY_JAXGCRL_FLAGS = (
  ["--env_name", TINY.env, "--seed", "1"]
  + [
    token
    for obj, names in [
      (
        TINY,
        ("num_envs", "num_timesteps", "num_evals", "num_eval_envs", "episode_length"),
      ),
      (
        TINY.agent,
        (
          "unroll_length",
          "batch_size",
          "min_replay_size",
          "max_replay_size",
          "h_dim",
          "n_hidden",
          "repr_dim",
        ),
      ),
    ]
    for name in names
    for token in (f"--{name}", str(getattr(obj, name)))
  ]
  + ["--fast_compile"]
)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
  """Seed 1 alone and seeds 0, 1 together (``--num_seeds 2``), trained side by side in two
  threads (each is mostly compilation, which runs on one core)."""
  alone = dataclasses.replace(
    TINY, seed=1, run_dir=str(tmp_path_factory.mktemp("runs")), exp_name="tiny"
  )
  pair = dataclasses.replace(
    TINY, seed=0, num_seeds=2, run_dir=str(tmp_path_factory.mktemp("runs2"))
  )
  with ThreadPoolExecutor(max_workers=2) as pool:
    futures = [pool.submit(train, cfg) for cfg in (alone, pair)]
  return [(cfg, future.result()) for cfg, future in zip((alone, pair), futures)]


@pytest.fixture(scope="module")
def single_run(tiny_runs):
  return tiny_runs[0]


@pytest.fixture(scope="module")
def two_seed_run(tiny_runs):
  return tiny_runs[1]


def test_runs_differing_only_in_seed_names_and_outputs_share_compiled_programs():
  """A process compiles a config's programs once (programs.compile_programs): the key leaves
  out only fields that change no program, and every other difference changes it."""
  outputs = dict(seed=5, run_dir="elsewhere", exp_name="x", progress=True, checkpoint_every=0)
  outputs.update(plot_curves=True, resume="runs/x", video_every=1, log_tensorboard=True)
  assert program_key(dataclasses.replace(TINY, **outputs)) == program_key(TINY)
  changed = [
    dict(num_envs=8),
    dict(num_seeds=2),
    dict(num_evals=3),
    dict(fast_compile=False),
    dict(eval_goals="tasks"),
    dict(devices=2),
    dict(agent=dataclasses.replace(TINY.agent, critic_lr=1e-3)),
    dict(agent=SACConfig(h_dim=16, unroll_length=9, batch_size=33, min_replay_size=20)),
  ]
  keys = {program_key(dataclasses.replace(TINY, **change)) for change in changed}
  assert len(keys) == len(changed) and program_key(TINY) not in keys


def test_programs_that_run_once_take_the_cheapest_compile_on_cpu_unless_they_run_long():
  """init always, the prefill up to FAST_PREFILL_ENV_STEPS env steps (a compile saved is worth
  more than its slower run there); --fast_compile gives every program the cheapest."""
  default = dataclasses.replace(TINY, fast_compile=False)
  limit = programs.FAST_PREFILL_ENV_STEPS
  fast = programs.FAST_COMPILE_OPTIONS
  assert programs.run_once_options(default, 0) == fast
  assert programs.run_once_options(default, limit) == fast
  assert programs.run_once_options(default, limit + 1) is None
  assert programs.run_once_options(TINY, limit + 1) == fast


def test_exact_accounting(single_run):
  cfg, result = single_run
  assert result.total_env_steps == schedule_of(cfg).total_env_steps >= cfg.num_timesteps
  expected = (
    cfg.agent.min_replay_size * cfg.num_envs
    + cfg.num_evals
    * schedule_of(cfg).train_steps_per_epoch
    * cfg.num_envs
    * cfg.agent.unroll_length
  )
  assert result.total_env_steps == expected
  assert [row["env_steps"] for row in result.history][-1] == result.total_env_steps
  assert len(result.history) == cfg.num_evals + 1  # one evaluation before training


def test_update_ratio_defaults_to_one_per_sixteen_env_steps():
  cfg = TrainConfig(num_envs=256, agent=CRLConfig(unroll_length=62))
  assert schedule_of(cfg).gradient_steps_per_train_step == 992  # 256 * 62 / 16
  # never zero
  small = TrainConfig(num_envs=3, agent=CRLConfig(unroll_length=5))
  assert schedule_of(small).gradient_steps_per_train_step == 1


def test_no_divisibility_traps(single_run):
  """Odd sizes that JaxGCRL rejects (num_envs·(episode_length−1) % batch_size != 0) just work."""
  cfg, result = single_run
  assert cfg.num_envs * (cfg.episode_length - 1) % cfg.agent.batch_size != 0
  assert result.total_env_steps >= cfg.num_timesteps
  assert np.isfinite(result.history[-1]["train/critic_loss"])


def test_outputs_written(single_run):
  cfg, result = single_run
  assert os.path.basename(result.run_dir) == "tiny"
  saved = yaml.safe_load(open(os.path.join(result.run_dir, "config.yaml")))
  assert saved["config"]["env"] == "reacher" and saved["config"]["agent"]["h_dim"] == 16
  assert saved["derived"]["total_env_steps"] == result.total_env_steps
  rows = [json.loads(line) for line in open(os.path.join(result.run_dir, "metrics.jsonl"))]
  assert len(rows) == 2 * (cfg.num_evals + 1)  # per seed + mean, per evaluation
  assert {r["seed"] for r in rows} == {1, "mean"}
  header = open(os.path.join(result.run_dir, "metrics.csv")).readline().strip().split(",")
  for col in (
    "eval/success",
    "eval/time_near_goal",
    "eval/final_dist",
    "eval/min_dist",
    "eval/episode_success_any",
    "eval/episode_success",
    "train/critic_loss",
  ):
    assert col in header
  assert os.path.getsize(os.path.join(result.run_dir, "params.msgpack")) > 1000


def test_run_directory_is_never_overwritten(single_run):
  cfg, result = single_run
  from goalax.run.runfiles import new_run_dir

  again = new_run_dir(cfg.run_dir, "tiny")
  assert again != result.run_dir and os.path.basename(again) == "tiny-2"
  assert os.path.exists(os.path.join(result.run_dir, "metrics.csv"))


def test_seed_k_of_multi_seed_run_matches_single_run(single_run, two_seed_run):
  """Seed 1 trained alone and seed 1 trained beside seed 0 (vmap) give the same metrics.

  Tolerance: 1e-3 relative on losses and distances. vmap batches the matmuls differently, so
  float32 results may differ in the last bits; success rates are counts over 8 episodes and must
  match exactly. The critic's accuracies are counts over the epoch's batches, where such a
  last-bit difference can flip the argmax of a batch element: up to two flips are allowed.
  """
  _, alone = single_run
  _, pair = two_seed_run
  schedule = schedule_of(TINY)
  batches = schedule.train_steps_per_epoch * schedule.gradient_steps_per_train_step
  two_flips = 2.0 / (TINY.agent.batch_size * batches)
  for a, b in zip(alone.per_seed[0], pair.per_seed[1]):
    assert a["seed"] == b["seed"] == 1
    for key in ("eval/success", "eval/episode_success"):
      assert a[key] == b[key], key
    for key in ("eval/final_dist", "eval/min_dist"):
      np.testing.assert_allclose(a[key], b[key], rtol=1e-3, atol=1e-4)
    for key in a:
      if key.endswith("_accuracy"):
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=two_flips, err_msg=key)
      elif key.startswith("train/"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-3, atol=1e-4, err_msg=key)
  # ...and seed 0 is a different agent.
  assert pair.per_seed[0][-1]["train/critic_loss"] != pair.per_seed[1][-1]["train/critic_loss"]


def test_wandb_is_never_imported_without_the_flag(single_run):
  assert "wandb" not in sys.modules


@pytest.mark.parametrize(
  "flags, message",
  [
    (["--batch_size", "0"], "--batch_size must be positive"),
    (["--num_envs", "-3"], "--num_envs must be positive"),
    (
      ["--num_envs", "4", "--min_replay_size", "10", "--batch_size", "100"],
      "--batch_size (100) is larger than the buffer holds",
    ),
    (["--energy_fn", "l3"], "--energy_fn"),
    (["--contrastive_loss_fn", "infonse"], "--contrastive_loss_fn"),
    (["--env", "antt"], "Did you mean 'ant'"),
    (["--min_replay_size", "5000", "--max_replay_size", "1000"], "--min_replay_size (5000)"),
  ],
)
def test_cli_bad_input_is_one_clear_sentence_and_exit_code_2(flags, message, capsys, monkeypatch):
  from goalax.cli import main

  monkeypatch.setattr(host_loop.HostLoop, "run", lambda self: pytest.fail("accepted: it trains"))
  with pytest.raises(SystemExit) as exit_info:
    main(["train", "crl", *flags])
  stderr = capsys.readouterr().err
  assert exit_info.value.code == 2, stderr
  assert message in stderr
  assert "Traceback" not in stderr


@pytest.mark.parametrize(
  "argv, message",
  [
    (["sacc"], "unknown algorithm 'sacc'. Did you mean 'sac'?"),
    (["sac", "--use_her", "--her_p_future", "0.9", "--her_p_random", "0.3"], "must not exceed 1"),
    (["td3", "--discounting", "0"], "--discounting must be in (0, 1], got 0.0."),
    (["td3", "--exploration_noise", "-0.1"], "--exploration_noise must be >= 0"),
    (["sac", "--tau", "1.5"], "--tau must be in (0, 1]"),
    (["crl", "--random_actor_goals", "2"], "--random_actor_goals must be in [0, 1]"),  # as typed
  ],
)
def test_cli_bad_agent_flags_are_one_clear_sentence(argv, message, capsys, monkeypatch):
  from goalax.cli import main

  monkeypatch.setattr(host_loop.HostLoop, "run", lambda self: pytest.fail("accepted: it trains"))
  with pytest.raises(SystemExit) as exit_info:
    main(["train", *argv])
  stderr = capsys.readouterr().err
  assert exit_info.value.code == 2, stderr
  assert message in stderr and "Traceback" not in stderr


def _flags_of(algo: str) -> set[str]:
  return {f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(REGISTRY[algo].config_class)}


@pytest.mark.parametrize("algo", list(REGISTRY))
def test_each_algorithm_help_lists_only_its_own_flags(algo, capsys):
  """Every registered algorithm's --help lists each of its config's flags and none that only
  another algorithm has (the run's flags are everyone's)."""
  with pytest.raises(SystemExit):
    parse_train_args(algo, ["--help"])
  listed = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", capsys.readouterr().out))
  own = _flags_of(algo)
  others = set().union(*(_flags_of(name) for name in REGISTRY)) - own
  assert own <= listed, sorted(own - listed)
  assert not (others & listed) - {"--" + n for n in ("help",)}, sorted(others & listed)
  for shared in ("--num-envs", "--h-dim", "--num-seeds", "--sweep"):
    assert shared in listed


def test_jaxgcrl_entry_points_reach_every_algorithm():
  from goalax.jaxgcrl_compat import run_py_argv, split_agent, training_py_argv

  taken = training_py_argv(["--env_name", "reacher", "--agent", "sac", "--use_her"])
  argv = taken.argv
  config = parse_train_args(argv[1], argv[2:])
  assert argv[:2] == ["train", "sac"] and not taken.notes
  assert taken.typed["env"] == "--env_name"  # messages name --env as the user typed it
  assert config.env == "reacher" and config.agent.use_her
  assert config.agent.goal_sampling().value.p_future == 0.8
  assert split_agent(["--agent=td3"]) == ("td3", []) and split_agent([]) == ("crl", [])
  argv = run_py_argv(["td3", "--total_env_steps", "5000", "--wandb_project_name", "p"]).argv
  config = parse_train_args(argv[1], argv[2:])
  assert config.num_timesteps == 5000 and config.project_name == "p"


def test_cli_bad_input_exits_2_from_the_shell():
  proc = subprocess.run(
    [sys.executable, "-m", "goalax.cli", "train", "crl", "--batch_size", "0"],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.strip().splitlines() == [
    "goalax: error: --batch_size must be positive, got 0."
  ], proc.stderr


def test_jaxgcrl_flags_parse_verbatim():

  sys.path.insert(0, REPO)
  try:
    from training import translate
  finally:
    sys.path.remove(REPO)
  sweep = (
    "--env_name ant --project_name p --group_name g --exp_name e --seed 3 "
    "--num_timesteps 1000 --num_evals 4 --batch_size 16 --num_envs 16 --discounting 0.98 "
    "--action_repeat 1 --episode_length 500 --unroll_length 31 --min_replay_size 100 "
    "--max_replay_size 1000 --contrastive_loss_fn fwd_infonce --energy_fn norm "
    "--multiplier_num_sgd_steps 2 --log_wandb --h_dim 128 --n_hidden 3 --repr_dim 32"
  )
  cfg = parse_train_args("crl", translate(sweep.split()))
  assert (cfg.env, cfg.seed, cfg.num_envs, cfg.agent.batch_size, cfg.episode_length) == (
    "ant",
    3,
    16,
    16,
    500,
  )
  assert (cfg.agent.h_dim, cfg.agent.n_hidden, cfg.agent.repr_dim) == (128, 3, 32)
  assert cfg.agent.energy_fn == "norm" and cfg.agent.contrastive_loss_fn == "fwd_infonce"
  assert cfg.log_wandb and cfg.agent.multiplier_num_sgd_steps == 2 and cfg.group_name == "g"


def test_training_py_runs_a_tiny_job_and_logs_to_wandb_offline(tmp_path):
  """JaxGCRL's entry point with its flags; --log_wandb with WANDB_MODE=offline needs no account
  and never prompts (stdin is closed)."""
  env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
  proc = subprocess.run(
    [
      sys.executable,
      os.path.join(REPO, "training.py"),
      *TINY_JAXGCRL_FLAGS,
      "--run_dir",
      str(tmp_path),
      "--exp_name",
      "wb",
      "--log_wandb",
    ],
    capture_output=True,
    text=True,
    timeout=300,
    env=env,
    stdin=subprocess.DEVNULL,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "[2/2]" in proc.stdout and "done:" in proc.stdout
  logs = glob.glob(str(tmp_path / "wb" / "wandb" / "offline-run-*" / "run-*.wandb"))
  assert logs, os.listdir(tmp_path / "wb")
  assert b"eval/success" in open(logs[0], "rb").read()


# JaxGCRL's README sweeps contrastive losses with one --exp_name for every run (shortened here to
# one loss and three seeds, with TINY's sizes, so that every run's programs come from the cache;
# its other flags as written).
REFERENCE_LOSS_LOOP = """
for c_loss in infonce_backward; do
	for seed in 1 2 3; do
		"$PYTHON" "$REPO/training.py" --project_name crl --group_name contrastive_loss_experiments \\
		--exp_name c_loss --seed ${seed} --num_timesteps 3000 --num_evals 2 \\
		--batch_size 33 --num_envs 7 --discounting 0.99 --action_repeat 1 \\
		--episode_length 23 --unroll_length 9  --min_replay_size 20 \\
		--max_replay_size 200 --contrastive_loss_fn ${c_loss} --energy_fn l2 \\
		--multiplier_num_sgd_steps 1 --log_wandb $TINY_NETWORKS || exit 1
	done
done
"""


def test_the_reference_s_loss_loop_repeating_exp_name_runs_every_run(tmp_path):
  """Every run of the loop trains (none stops on the repeated name); each gets its own folder,
  said on its first line, and nothing is overwritten."""
  env = {
    **os.environ,
    "PYTHON": sys.executable,
    "REPO": REPO,
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    # TINY's networks and evaluation: the runs reuse its compiled programs
    "TINY_NETWORKS": (
      f"--h_dim {TINY.agent.h_dim} --repr_dim {TINY.agent.repr_dim} "
      f"--num_eval_envs {TINY.num_eval_envs} --fast_compile"
    ),
  }
  proc = subprocess.run(
    ["bash", "-c", REFERENCE_LOSS_LOOP],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    timeout=600,
    env=env,
    stdin=subprocess.DEVNULL,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  first_lines = [line for line in proc.stdout.splitlines() if line.startswith("goalax | ")]
  names = ["c_loss", "c_loss-2", "c_loss-3"]
  assert len(first_lines) == 3
  for line, name in zip(first_lines, names):
    assert f"run dir runs/{name}" in line
    assert ("(runs/c_loss exists: a new run beside it)" in line) == (name != "c_loss")
  runs = [yaml.safe_load(open(tmp_path / "runs" / n / "config.yaml"))["config"] for n in names]
  assert [(r["agent"]["contrastive_loss_fn"], r["seed"]) for r in runs] == [
    ("infonce_backward", 1),
    ("infonce_backward", 2),
    ("infonce_backward", 3),
  ]
  for name in names:
    rows = [json.loads(line) for line in open(tmp_path / "runs" / name / "metrics.jsonl")]
    assert [r["epoch"] for r in rows if r["seed"] == "mean"] == [0, 1, 2]


def test_impossible_values_raise_config_error_from_python():
  with pytest.raises(ConfigError, match="--discounting"):
    train(dataclasses.replace(TINY, agent=dataclasses.replace(TINY.agent, discounting=1.5)))


def test_make_env_at_the_package_top_level():
  import goalax
  import goalax.envs

  assert goalax.make_env is goalax.envs.make_env
  assert goalax.make_env("reacher").name == "reacher"
