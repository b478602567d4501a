"""Every user mistake is one sentence on stderr and exit code 2, and nothing is trained or written
first: bad values in --config files, bad --sweep values (discrete ones too), --log_wandb without
wandb, unknown flags and choices (named as typed, with the valid values and the nearest), replay
flags given to ppo, run folders that are no goalax run's, and 'goalax train' without an algorithm.

Nothing here can hang on a regression: in-process refusals run with ``host_loop.train`` replaced
by a failure (a command line that is wrongly accepted fails at once instead of training a million
steps), and the subprocess tests end within a timeout, with small budgets.
"""

import os
import subprocess
import sys

import pytest
import yaml
from test_run_faults import saved_run  # noqa: F401  (fixture: TINY's config.yaml, nothing trained)
from test_training import REPO, TINY_JAXGCRL_FLAGS

from goalax import cli
from goalax.agents import REGISTRY
from goalax.cli import run_py_main, training_py_main
from goalax.jaxgcrl_compat import translate
from goalax.run import host_loop

ENTRY = {"goalax": cli.main, "training.py": training_py_main, "run.py": run_py_main}
TINY_FLAGS = translate(TINY_JAXGCRL_FLAGS)


@pytest.fixture
def refused(monkeypatch, capsys):
  """``refused(argv, entry="goalax") -> sentence``: asserts exit code 2, one line
  ``goalax: error: ...`` without a traceback, and that nothing was trained."""
  monkeypatch.setattr(host_loop, "train", lambda *a, **k: pytest.fail("trained before refusing"))

  def run(argv: list[str], entry: str = "goalax") -> str:
    with pytest.raises(SystemExit) as exit_info:
      ENTRY[entry](argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("goalax: error: ") and lines[0].endswith((".", "?")), err
    return lines[0]

  return run


# ---- --config files: the config's types ---------------------------------------------------------
def test_config_file_values_are_read_as_the_numbers_they_mean(tmp_path):
  path = tmp_path / "flat.yaml"
  path.write_text("critic_lr: 3e-4\nnum_timesteps: 1e6\nnum_envs: 16.0\nuse_layer_norm: false\n")
  assert yaml.safe_load(path.read_text())["critic_lr"] == "3e-4"  # a string to YAML 1.1
  config = cli.parse_train_args("crl", ["--config", str(path)])
  assert config.agent.critic_lr == 3e-4 and isinstance(config.agent.critic_lr, float)
  assert config.num_timesteps == 1_000_000 and isinstance(config.num_timesteps, int)
  assert config.num_envs == 16 and isinstance(config.num_envs, int)
  assert config.agent.use_layer_norm is False


@pytest.mark.parametrize(
  "text, says",
  [
    ("num_envs: abc", "num_envs must be a whole number, got 'abc'"),
    ("h_dim: big", "h_dim must be a whole number, got 'big'"),
    ("num_envs: 2.5", "num_envs must be a whole number, got 2.5"),
    ('use_layer_norm: "no"', "use_layer_norm must be true or false, got 'no'"),
    ("use_layer_norm: 1", "use_layer_norm must be true or false, got 1"),
    ("critic_lr: fast", "critic_lr must be a number, got 'fast'"),
    ("backend: mjj", "backend must be one of spring, positional, generalized, mjx or reference"),
    ("video_size: [640]", "video_size must be 2 values"),
    ("num_envz: 16", "unknown setting num_envz; did you mean num_envs?"),
    ("h_dimm: 16", "unknown setting h_dimm; did you mean h_dim?"),
    ("agent: {repr_dimm: 8}", "unknown setting repr_dimm; did you mean repr_dim?"),
  ],
)
def test_a_config_file_value_its_type_cannot_take_is_refused_naming_the_key(
  text, says, tmp_path, refused
):
  path = tmp_path / "bad.yaml"
  path.write_text(text + "\n")
  assert says in refused(["train", "crl", "--config", str(path)])


# ---- flags: unknown, bad values, choices; named as typed --------------------------------------
@pytest.mark.parametrize(
  "argv, says",
  [
    (
      ["train", "crl", "--num_envz", "3"],
      "--num_envz is not a flag of goalax train crl (did you mean --num_envs?); "
      "'goalax train crl --help' lists its flags.",
    ),
    (["train", "crl", "--num-envz", "3"], "(did you mean --num-envs?)"),
    (
      ["train", "crl", "--backend", "mjj"],
      "--backend must be one of spring, positional, generalized, mjx or reference, got 'mjj' "
      "(did you mean mjx?).",
    ),
    (["train", "sac", "--eval-goals", "task"], "--eval-goals must be one of random, tasks or both"),
    (["train", "crl", "--num-envs", "abc"], "--num-envs must be a whole number, got 'abc'."),
    (["train", "crl", "--critic_lr", "fast"], "--critic_lr must be a number, got 'fast'."),
    (["train", "crl", "--video_size", "640"], "--video_size needs 2 values"),
    (["train", "crl", "--exp_name"], "--exp_name needs a value"),
    (["train", "crl", "--use_layer_norm", "false"], "--no_use_layer_norm turns it off"),
    (["train", "crl", "--env_name", "ant"], "goalax train crl takes --env ant"),
    (["train", "crl", "--num-envs", "0"], "--num-envs must be positive, got 0."),
    (["train", "crl", "--random_actor_goals", "2"], "--random_actor_goals must be in [0, 1]"),
    (["rollout", "--num-steps", "x"], "--num-steps must be a whole number"),
    (["envs", "--namez", "ant"], "(did you mean --names?)"),
    (["render", "/nonexistent", "--format", "avi"], "--format must be one of mp4, gif or html"),
    (["eval"], "goalax eval needs a RUN_DIR"),
    (["resume"], "goalax resume needs a RUN_DIR"),
    (["trian", "crl"], "Did you mean 'train'?"),
  ],
  ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_bad_flag_is_one_sentence_naming_it_as_typed(argv, says, refused):
  assert says in refused(argv)


@pytest.mark.parametrize(
  "entry, argv, says",
  [
    ("run.py", ["crl", "--total_env_steps", "abc"], "--total_env_steps must be a whole number"),
    ("run.py", ["crl", "--total-env-steps", "0"], "--total-env-steps must be positive, got 0."),
    ("run.py", ["sac", "--learning_rate", "-1"], "--learning_rate must be positive"),
    ("run.py", ["crl", "--no_use_ln", "--h-dim", "0"], "--h-dim must be positive"),
    ("training.py", ["--env_name", "ant", "--num_envs", "x"], "--num_envs must be a whole"),
    ("training.py", ["--num_timesteps", "0"], "--num_timesteps must be positive"),
  ],
)
def test_the_reference_entry_points_name_the_flag_as_typed(entry, argv, says, refused):
  sentence = refused(argv, entry)
  assert says in sentence
  assert "--num_timesteps" not in sentence or "--num_timesteps" in argv


@pytest.mark.parametrize(
  "entry, argv",
  [
    ("goalax", ["train", "ppo", "--max_replay_size", "1000"]),
    ("goalax", ["train", "ppo", "--min-replay-size", "10"]),
    ("goalax", ["train", "ppo", "--batch_size", "64"]),
    ("goalax", ["train", "ppo", "--env_steps_per_update", "4"]),
    ("run.py", ["ppo", "--batch_size", "64"]),
    ("training.py", ["--agent", "ppo", "--max_replay_size", "1000"]),
  ],
)
def test_replay_flags_given_to_ppo_say_it_keeps_no_replay_buffer(entry, argv, refused):
  sentence = refused(argv, entry)
  flag = next(a for a in argv if "replay" in a or "batch" in a or "per_update" in a)
  assert sentence.startswith(f"goalax: error: {flag}")
  assert "goalax's ppo keeps no replay buffer (it learns from each rollout, on-policy)" in sentence


def test_train_without_an_algorithm_exits_2_with_the_algorithms(refused, capsys):
  for argv in (["train"], ["train", "--env", "ant"]):
    sentence = refused(argv)
    algorithms = ", ".join(REGISTRY)  # every registered one, in the registry's order
    assert f"goalax train needs an algorithm first: {algorithms}." in sentence
    assert "crl, sac, td3" in sentence
  assert "needs an algorithm first" in refused([], "run.py")
  cli.main(["train", "--help"])  # asked for: the list, exit code 0
  assert "algorithms:" in capsys.readouterr().out


# ---- sweeps: every value before the first run ---------------------------------------------------
@pytest.mark.parametrize(
  "entry, says",
  [
    ("energy_fn=l2,bogus", "--sweep energy_fn=bogus: Unknown --energy_fn value 'bogus'"),
    ("h_dim=16,0", "--sweep h_dim=0: --h_dim must be positive"),
    ("critic_lr=1e-4,-1", "--sweep critic_lr=-1: --critic_lr must be positive"),
  ],
)
def test_every_sweep_value_is_checked_before_the_first_run(entry, says, refused, tmp_path):
  run_dir = tmp_path / "runs"
  sentence = refused(["train", "crl", *TINY_FLAGS, "--run_dir", str(run_dir), "--sweep", entry])
  assert says in sentence
  assert not run_dir.exists()


# ---- --log_wandb without wandb ------------------------------------------------------------------
def test_log_wandb_without_wandb_names_the_extra_before_the_run_dir_is_made(tmp_path):
  """wandb made unimportable in a child process (sitecustomize puts None in sys.modules)."""
  site = tmp_path / "site"
  site.mkdir()
  (site / "sitecustomize.py").write_text("import sys\nsys.modules['wandb'] = None\n")
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
  run_dir = tmp_path / "runs"
  argv = ["train", "crl", *TINY_FLAGS, "--log_wandb", "--run_dir", str(run_dir)]
  proc = subprocess.run(
    [sys.executable, "-m", "goalax.cli", *argv],
    capture_output=True,
    text=True,
    timeout=180,
    env=env,
    cwd=REPO,
    stdin=subprocess.DEVNULL,
  )
  lines = [line for line in proc.stderr.strip().splitlines() if "warp" not in line]
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert lines == [
    'goalax: error: --log_wandb needs the wandb package: pip install -e ".[wandb]".'
  ], proc.stderr
  assert not run_dir.exists()


# ---- run folders that are no goalax run's -------------------------------------------------------
RUN_FOLDERS = {
  "no config.yaml": None,
  "empty config.yaml": "",
  "a list": "- 1\n",
  "no config": "derived: {algo: crl}\n",
  "config not a mapping": "config: 3\nderived: {algo: crl}\n",
  "no derived": "config: {env: reacher}\n",
  "derived lacks keys": "config: {env: reacher}\nderived: {algo: crl}\n",
  "unknown algorithm": "config: {}\nderived: {algo: xyz}\n",
}


@pytest.mark.parametrize("command", ["eval", "render", "plot", "resume"])
@pytest.mark.parametrize("contents", RUN_FOLDERS.values(), ids=RUN_FOLDERS.keys())
def test_a_folder_that_is_no_goalax_run_is_one_sentence(command, contents, tmp_path, refused):
  folder = tmp_path / "run"
  folder.mkdir()
  if contents is not None:
    (folder / "config.yaml").write_text(contents)
  sentence = refused([command, str(folder)])
  assert str(folder) in sentence


def test_a_run_folder_with_a_bad_value_is_one_sentence_naming_the_key(saved_run, refused):  # noqa: F811
  path = os.path.join(saved_run, "config.yaml")
  data = yaml.safe_load(open(path))
  data["config"]["agent"]["h_dim"] = "big"
  with open(path, "w") as f:
    yaml.safe_dump(data, f)
  for command in ("eval", "resume"):
    assert f"{path}: h_dim must be a whole number, got 'big'." in refused([command, saved_run])
