"""Every flag of the reference's two entry points, tried through goalax's: JaxGCRL 0.1's
``training.py`` (its utils.py parser) and JaxGCRL 0.2's ``run.py`` (its RunConfig and each agent's
config, as tyro exposes them). Each is accepted with its meaning (the parsed config holds it) or
refused with exit code 2 and one sentence naming what to use instead. Then goalax's own renamed
flags: the old spellings work on the command line, in --sweep, in --config files and in the
config.yaml of an old run being resumed, and --help reads as plain text.

Nothing here trains: ``goalax.cli.run_config`` is replaced by a function that keeps the parsed
config, and the two subprocess tests end at the refusal (under a timeout).
"""

import dataclasses
import os
import subprocess
import sys

import pytest
import yaml
from test_run_faults import saved_run  # noqa: F401  (fixture: TINY's config.yaml, nothing trained)
from test_training import REPO, TINY

from goalax import agents, cli
from goalax.agents.contrastive import (
  binary_loss,
  infonce_backward_loss,
  infonce_loss,
  l2_energy,
  resolve_contrastive_loss,
  resolve_energy_fn,
  symmetric_infonce_loss,
)
from goalax.cli import run_py_main, training_py_main
from goalax.config import ConfigError, load_config_file, load_run_config
from goalax.parallel import sweep
from goalax.run.resume import resume_config

ENTRY = {"training.py": training_py_main, "run.py": run_py_main}


def _flags_id(value):
  """A test id from a parameter that is a list of flags; pytest's own for the others."""
  return " ".join(value) if isinstance(value, list) else None


def _value(config, path: str):
  """``config.agent.actor_lr`` for ``path = "agent.actor_lr"``."""
  for name in path.split("."):
    config = getattr(config, name)
  return config


@pytest.fixture
def parse(monkeypatch, capsys):
  """``parse(entry, argv) -> (config, stderr)``: the entry point's whole path (translation,
  notes, goalax's parser) with ``run_config`` replaced, so nothing trains."""

  def run(entry: str, argv: list[str]):
    parsed = []
    monkeypatch.setattr(cli, "run_config", parsed.append)
    ENTRY[entry](argv)
    assert len(parsed) == 1
    return parsed[0], capsys.readouterr().err

  return run


@pytest.fixture
def refused(monkeypatch, capsys):
  """``refused(entry, argv) -> sentence``: asserts exit code 2, one line ``goalax: error: ...``
  naming the first flag of ``argv`` that is refused, and that nothing reached training."""

  def run(entry: str, argv: list[str], flag: str) -> str:
    monkeypatch.setattr(cli, "run_config", lambda config: pytest.fail(f"{argv} was accepted"))
    with pytest.raises(SystemExit) as exit_info:
      ENTRY[entry](argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"goalax: error: {flag}") and lines[0].endswith("."), err
    return lines[0]

  return run


# ---- JaxGCRL 0.1: python training.py ... (CRL) ----------------------------------------------
# Every argument of its utils.py create_parser (the two versions its README links: one with
# --multiplier_num_sgd_steps, --normalize_observations, --use_c_target and --exploration_coef,
# the later one with --train_step_multiplier, --num_eval_envs and --visualization_interval).
# (flags, {config path: value}); a value None: the flag is accepted and changes nothing.
TRAINING_PY_ACCEPTED = [
  (["--exp_name", "e"], {"exp_name": "e"}),
  (["--group_name", "g"], {"group_name": "g"}),
  (["--project_name", "p"], {"project_name": "p"}),
  (["--num_timesteps", "5000"], {"num_timesteps": 5000}),
  (["--max_replay_size", "2000"], {"agent.max_replay_size": 2000}),
  (["--min_replay_size", "100"], {"agent.min_replay_size": 100}),
  (["--num_evals", "7"], {"num_evals": 7}),
  (["--episode_length", "40"], {"episode_length": 40}),
  (["--action_repeat", "2"], {"action_repeat": 2}),
  (["--discounting", "0.97"], {"agent.discounting": 0.97}),
  (["--num_envs", "16"], {"num_envs": 16}),
  (["--num_eval_envs", "32"], {"num_eval_envs": 32}),
  (["--batch_size", "64"], {"agent.batch_size": 64}),
  (["--seed", "3"], {"seed": 3}),
  (["--unroll_length", "31"], {"agent.unroll_length": 31}),
  (["--train_step_multiplier", "2"], {"agent.multiplier_num_sgd_steps": 2}),
  (["--multiplier_num_sgd_steps", "3"], {"agent.multiplier_num_sgd_steps": 3}),
  (["--env_name", "ant"], {"env": "ant"}),
  (["--log_wandb"], {"log_wandb": True}),
  (["--policy_lr", "1e-3"], {"agent.actor_lr": 1e-3}),
  (["--alpha_lr", "2e-4"], {"agent.alpha_lr": 2e-4}),
  (["--critic_lr", "5e-4"], {"agent.critic_lr": 5e-4}),
  (
    ["--contrastive_loss_fn", "symmetric_infonce"],
    {"agent.contrastive_loss_fn": "symmetric_infonce"},
  ),
  (["--energy_fn", "l2"], {"agent.energy_fn": "l2"}),  # 0.1's l2 is the distance: goalax's l2
  (["--energy_fn", "l2_no_sqrt"], {"agent.energy_fn": "l2_sq"}),
  (["--energy_fn", "cos"], {"agent.energy_fn": "cosine"}),
  (["--backend", "mjx"], {"backend": "mjx"}),
  (["--use_ln", "--no_use_layer_norm", "--use_ln"], {"agent.use_layer_norm": True}),
  (["--logsumexp_penalty", "0.3"], {"agent.logsumexp_penalty_coeff": 0.3}),
  (["--l2_penalty", "0"], None),
  (["--exploration_coef", "0.0"], None),
  (["--random_goals", "0.5"], {"agent.actor_p_random": 0.5}),
  (["--disable_entropy_actor"], {"agent.disable_entropy_actor": True}),
  (["--eval_env", "ant"], {"eval_env": "ant"}),
  (["--h_dim", "128"], {"agent.h_dim": 128}),
  (["--n_hidden", "3"], {"agent.n_hidden": 3}),
  (["--repr_dim", "32"], {"agent.repr_dim": 32}),
  (["--use_dense_reward"], None),  # CRL learns from no reward (as in the reference)
  (["--use_her"], None),  # CRL's goals are relabelled always
  (["--visualization_interval", "5"], {"video_every": 5}),
]
TRAINING_PY_REFUSED = [
  (["--normalize_observations"], "ppo has --normalize_observations"),
  (["--no_resubs"], "resubstitution"),
  (["--use_c_target"], "--learn_energy_temperature"),
  (["--l2_penalty", "0.1"], "no L2 penalty"),
  (["--exploration_coef", "0.1"], "no exploration bonus"),
]
NOTED = {"--use_dense_reward": "it learns from no reward", "--use_her": "relabelled goals"}


@pytest.mark.parametrize("flags, expected", TRAINING_PY_ACCEPTED, ids=_flags_id)
def test_every_training_py_flag_is_taken_with_its_meaning(flags, expected, parse):
  config, err = parse("training.py", flags)
  default = cli.parse_train_args("crl", [])
  if expected is None:
    assert config == default  # accepted, and nothing changes (as in the reference's CRL)
  else:
    for path, value in expected.items():
      assert _value(config, path) == value, path
  notes = [line for line in err.splitlines() if line.startswith("goalax: note: ")]
  if flags[0] in NOTED:
    assert len(notes) == 1 and notes[0].startswith(f"goalax: note: {flags[0]} has no effect")
    assert NOTED[flags[0]] in notes[0]
  else:
    assert notes == [], err


@pytest.mark.parametrize("flags, says", TRAINING_PY_REFUSED, ids=_flags_id)
def test_training_py_flags_goalax_cannot_honour_are_refused_in_one_sentence(flags, says, refused):
  assert says in refused("training.py", flags, flags[0])


@pytest.mark.parametrize(
  "agent, flags, expected",
  [
    ("ppo", ["--use_dense_reward"], {"agent.dense_reward": True}),
    ("ppo", ["--normalize_observations"], {"agent.normalize_observations": True}),
    ("sac", ["--use_her", "--policy_lr", "1e-3"], {"agent.use_her": True, "agent.actor_lr": 1e-3}),
    ("qrl", ["--random_goals", "0.2"], {"agent.actor_p_random": 0.2}),
    ("td_infonce", ["--random_goals", "0.2"], {"agent.actor_p_random": 0.2}),
  ],
)
def test_training_py_flags_reach_the_algorithms_that_have_them(agent, flags, expected, parse):
  config, _ = parse("training.py", ["--agent", agent, *flags])
  assert agents.name_of(config.agent) == agent
  for path, value in expected.items():
    assert _value(config, path) == value, path


@pytest.mark.parametrize(
  "agent, flags, says",
  [
    ("sac", ["--use_dense_reward"], "sparse success reward only (ppo has --dense_reward)"),
    ("ppo", ["--use_her"], "relabels no goals"),
    ("ppo", ["--policy_lr", "1e-3"], "--learning_rate"),
    ("sac", ["--random_goals", "0.5"], "--actor_p_random"),
    ("sac", ["--contrastive_loss_fn", "infonce"], "crl's flag"),
    ("td3", ["--energy_fn", "l2"], "crl and td_infonce have --energy_fn"),
  ],
)
def test_training_py_flags_of_other_algorithms_are_refused(agent, flags, says, refused):
  assert says in refused("training.py", ["--agent", agent, *flags], flags[0])


# ---- JaxGCRL 0.2: python run.py <agent> ... --------------------------------------------------
# Every field of its RunConfig, for each of its agents (crl, ppo, sac, td3).
RUN_CONFIG_ACCEPTED = [
  (["--env", "ant"], {"env": "ant"}),
  (["--total_env_steps", "5000"], {"num_timesteps": 5000}),
  (["--total-env-steps", "6000"], {"num_timesteps": 6000}),
  (["--episode_length", "40"], {"episode_length": 40}),
  (["--eval_env", "ant"], {"eval_env": "ant"}),
  (["--num_envs", "16"], {"num_envs": 16}),
  (["--num_eval_envs", "32"], {"num_eval_envs": 32}),
  (["--action_repeat", "2"], {"action_repeat": 2}),
  (["--num_evals", "7"], {"num_evals": 7}),
  (["--seed", "3"], {"seed": 3}),
  (["--backend", "generalized"], {"backend": "generalized"}),
  (["--exp_name", "e"], {"exp_name": "e"}),
  (["--log_wandb"], {"log_wandb": True}),
  (["--no-log-wandb"], {"log_wandb": False}),
  (["--wandb_project_name", "p"], {"project_name": "p"}),
  (["--wandb_group", "g"], {"group_name": "g"}),
  (["--wandb_mode", "offline"], {"wandb_mode": "offline"}),
  (["--visualization_interval", "5"], {"video_every": 5}),
  (["--vis_length", "100"], None),  # read by nothing in the reference either
  (["--checkpoint_logdir", "/tmp/ckpts"], {"run_dir": "/tmp/ckpts"}),
  (["--max_devices_per_host", "2"], {"devices": 2}),
  (["--cuda"], None),
  (["--no-cuda"], None),  # read by nothing in the reference either; the note says JAX_PLATFORMS
]


@pytest.mark.parametrize("agent", ["crl", "ppo", "sac", "td3"])
@pytest.mark.parametrize("flags, expected", RUN_CONFIG_ACCEPTED, ids=_flags_id)
def test_every_run_py_run_flag_is_taken_with_its_meaning(agent, flags, expected, parse):
  config, err = parse("run.py", [agent, *flags])
  if expected is None:
    assert config == cli.parse_train_args(agent, [])
  else:
    for path, value in expected.items():
      assert _value(config, path) == value, path
  assert ("goalax: note:" in err) == (flags[0] in ("--vis_length", "--no-cuda")), err
  if flags[0] == "--no-cuda":
    assert "JAX_PLATFORMS=cpu" in err


# Every field of each of its agents' configs: (agent, flags, {config path: value}) or None.
RUN_PY_AGENT_ACCEPTED = [
  ("crl", ["--policy_lr", "1e-3"], {"agent.actor_lr": 1e-3}),
  ("crl", ["--critic_lr", "5e-4"], {"agent.critic_lr": 5e-4}),
  ("crl", ["--alpha_lr", "2e-4"], {"agent.alpha_lr": 2e-4}),
  ("crl", ["--batch_size", "64"], {"agent.batch_size": 64}),
  ("crl", ["--discounting", "0.97"], {"agent.discounting": 0.97}),
  ("crl", ["--logsumexp_penalty_coeff", "0.3"], {"agent.logsumexp_penalty_coeff": 0.3}),
  ("crl", ["--train_step_multiplier", "2"], {"agent.multiplier_num_sgd_steps": 2}),
  ("crl", ["--disable_entropy_actor"], {"agent.disable_entropy_actor": True}),
  ("crl", ["--no-disable-entropy-actor"], {"agent.disable_entropy_actor": False}),
  ("crl", ["--max_replay_size", "2000"], {"agent.max_replay_size": 2000}),
  ("crl", ["--min_replay_size", "100"], {"agent.min_replay_size": 100}),
  ("crl", ["--unroll_length", "31"], {"agent.unroll_length": 31}),
  ("crl", ["--h_dim", "128"], {"agent.h_dim": 128}),
  ("crl", ["--n_hidden", "3"], {"agent.n_hidden": 3}),
  ("crl", ["--skip_connections", "4"], None),  # no layer after the 4th of 2: no skip
  ("crl", ["--skip_connections", "4", "--n_hidden", "4"], {"agent.residual": False}),
  ("crl", ["--skip_connections", "0", "--n_hidden", "8"], {"agent.residual": False}),
  ("crl", ["--use_relu"], {"agent.activation": "relu"}),
  ("crl", ["--no-use-relu"], {"agent.activation": "swish"}),
  ("crl", ["--repr_dim", "32"], {"agent.repr_dim": 32}),
  ("crl", ["--use_ln"], {"agent.use_layer_norm": True}),
  ("crl", ["--no-use-ln"], {"agent.use_layer_norm": False}),
  ("crl", ["--no_use_ln"], {"agent.use_layer_norm": False}),
  ("crl", ["--contrastive_loss_fn", "fwd_infonce"], {"loss": infonce_loss}),
  ("crl", ["--contrastive_loss_fn", "bwd_infonce"], {"loss": infonce_backward_loss}),
  ("crl", ["--contrastive_loss_fn", "sym_infonce"], {"loss": symmetric_infonce_loss}),
  ("crl", ["--contrastive_loss_fn", "binary_nce"], {"loss": binary_loss}),
  ("crl", ["--energy_fn", "norm"], {"energy": l2_energy}),  # 0.2's norm: the distance
  ("crl", ["--energy_fn", "l2"], {"agent.energy_fn": "l2_sq"}),  # 0.2's l2: its square
  ("crl", ["--energy_fn", "dot"], {"agent.energy_fn": "dot"}),
  ("crl", ["--energy_fn", "cosine"], {"agent.energy_fn": "cosine"}),
  ("ppo", ["--learning_rate", "1e-4"], {"agent.learning_rate": 1e-4}),
  ("ppo", ["--entropy_cost", "1e-3"], {"agent.entropy_cost": 1e-3}),
  ("ppo", ["--discounting", "0.9"], {"agent.discounting": 0.9}),
  ("ppo", ["--unroll_length", "20"], {"agent.unroll_length": 20}),
  ("ppo", ["--num_minibatches", "8"], {"agent.num_minibatches": 8}),
  ("ppo", ["--num_updates_per_batch", "2"], {"agent.num_updates_per_batch": 2}),
  ("ppo", ["--num_resets_per_eval", "0"], None),
  ("ppo", ["--normalize_observations"], {"agent.normalize_observations": True}),
  ("ppo", ["--no-normalize-observations"], {"agent.normalize_observations": False}),
  ("ppo", ["--reward_scaling", "2"], {"agent.reward_scaling": 2.0}),
  ("ppo", ["--clipping_epsilon", "0.2"], {"agent.clipping_epsilon": 0.2}),
  ("ppo", ["--gae_lambda", "0.9"], {"agent.gae_lambda": 0.9}),
  ("ppo", ["--deterministic_eval"], None),  # goalax evaluates the deterministic action
  ("ppo", ["--normalize_advantage"], {"agent.normalize_advantage": True}),
  ("ppo", ["--no-normalize-advantage"], {"agent.normalize_advantage": False}),
  ("sac", ["--learning_rate", "1e-4"], {"agent.actor_lr": 1e-4, "agent.critic_lr": 1e-4}),
  ("sac", ["--discounting", "0.9"], {"agent.discounting": 0.9}),
  ("sac", ["--batch_size", "64"], {"agent.batch_size": 64}),
  ("sac", ["--no-normalize-observations"], None),
  ("sac", ["--reward_scaling", "1.0"], None),
  ("sac", ["--tau", "0.01"], {"agent.tau": 0.01}),
  ("sac", ["--min_replay_size", "100"], {"agent.min_replay_size": 100}),
  ("sac", ["--max_replay_size", "2000"], {"agent.max_replay_size": 2000}),
  ("sac", ["--deterministic_eval"], None),
  ("sac", ["--train_step_multiplier", "2"], {"agent.multiplier_num_sgd_steps": 2}),
  ("sac", ["--unroll_length", "50"], {"agent.unroll_length": 50}),
  ("sac", ["--h_dim", "128"], {"agent.h_dim": 128}),
  ("sac", ["--n_hidden", "3"], {"agent.n_hidden": 3}),
  ("sac", ["--no-use-ln"], {"agent.use_layer_norm": False}),
  ("sac", ["--use_her"], {"agent.use_her": True}),
  ("sac", ["--no-use-her"], {"agent.use_her": False}),
  ("td3", ["--learning_rate", "1e-4"], {"agent.actor_lr": 1e-4, "agent.critic_lr": 1e-4}),
  ("td3", ["--discounting", "0.9"], {"agent.discounting": 0.9}),
  ("td3", ["--batch_size", "64"], {"agent.batch_size": 64}),
  ("td3", ["--no-normalize-observations"], None),
  ("td3", ["--reward_scaling", "1"], None),
  ("td3", ["--tau", "0.01"], {"agent.tau": 0.01}),
  ("td3", ["--min_replay_size", "100"], {"agent.min_replay_size": 100}),
  ("td3", ["--max_replay_size", "2000"], {"agent.max_replay_size": 2000}),
  ("td3", ["--deterministic_eval"], None),
  ("td3", ["--train_step_multiplier", "2"], {"agent.multiplier_num_sgd_steps": 2}),
  ("td3", ["--unroll_length", "50"], {"agent.unroll_length": 50}),
  ("td3", ["--policy_delay", "3"], {"agent.policy_delay": 3}),
  ("td3", ["--noise_clip", "0.4"], {"agent.noise_clip": 0.4}),
  ("td3", ["--smoothing_noise", "0.1"], {"agent.smoothing_noise": 0.1}),
  ("td3", ["--exploration_noise", "0.4"], {"agent.exploration_noise": 0.4}),
  ("td3", ["--use_her"], {"agent.use_her": True}),
]
RESOLVED = {
  "loss": lambda config: resolve_contrastive_loss(config.agent.contrastive_loss_fn),
  "energy": lambda config: resolve_energy_fn(config.agent.energy_fn),
}


@pytest.mark.parametrize("agent, flags, expected", RUN_PY_AGENT_ACCEPTED, ids=str)
def test_every_run_py_agent_flag_is_taken_with_its_meaning(agent, flags, expected, parse):
  config, err = parse("run.py", [agent, "--env", "reacher", *flags])
  if expected is None:
    assert config == cli.parse_train_args(agent, ["--env", "reacher"])
  else:
    for path, value in expected.items():
      got = RESOLVED[path](config) if path in RESOLVED else _value(config, path)
      assert got == value, path
  assert "note" not in err, err


RUN_PY_AGENT_REFUSED = [
  ("crl", ["--skip_connections", "4", "--n_hidden", "9"], "--residual --n_hidden 8"),
  ("crl", ["--skip_connections", "2", "--n_hidden", "6"], "--residual"),
  ("ppo", ["--batch_size", "32"], "--num_minibatches"),
  ("ppo", ["--num_resets_per_eval", "2"], "every episode end"),
  ("ppo", ["--no-deterministic-eval"], "deterministic action"),
  ("ppo", ["--restore_checkpoint_path", "/tmp/x"], "--resume RUN_DIR"),
  ("sac", ["--normalize_observations"], "ppo has --normalize_observations"),
  ("sac", ["--reward_scaling", "2"], "unscaled reward"),
  ("sac", ["--no-deterministic-eval"], "deterministic action"),
  ("td3", ["--normalize_observations"], "ppo has --normalize_observations"),
  ("td3", ["--reward_scaling", "0.5"], "unscaled reward"),
  ("td3", ["--no_deterministic_eval"], "deterministic action"),
]


@pytest.mark.parametrize("agent, flags, says", RUN_PY_AGENT_REFUSED, ids=str)
def test_run_py_flags_goalax_cannot_honour_are_refused_in_one_sentence(agent, flags, says, refused):
  assert says in refused("run.py", [agent, "--env", "reacher", *flags], flags[0])  # as typed


def test_a_refusal_from_the_shell_is_one_line_and_exit_code_2():
  for script, argv, line in [
    (
      "run.py",
      ["ppo", "--env", "reacher", "--batch_size", "32"],
      "goalax: error: --batch_size 32: goalax's ppo keeps no replay buffer",
    ),
    ("training.py", ["--env_name", "reacher", "--no_resubs"], "goalax: error: --no_resubs: "),
  ]:
    proc = subprocess.run(
      [sys.executable, os.path.join(REPO, script), *argv],
      capture_output=True,
      text=True,
      timeout=120,
      stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), proc.stderr


# ---- goalax's own renamed flags: old spellings stay ------------------------------------------
@pytest.mark.parametrize(
  "algo, old, new, value",
  [
    ("crl", "random_actor_goals", "actor_p_random", 0.25),
    ("td_infonce", "random_actor_goals", "actor_p_random", 0.25),
    ("gcsl", "goal_future", "her_future", "geometric"),
  ],
)
def test_old_flag_spellings_set_the_renamed_field(algo, old, new, value, tmp_path):
  expected = dataclasses.replace(agents.REGISTRY[algo].config_class(), **{new: value})
  for argv in (
    [f"--{old}", str(value)],
    [f"--{old.replace('_', '-')}={value}"],
    [f"--{new}", str(value)],
  ):
    assert cli.parse_train_args(algo, argv).agent == expected, argv
  # the same computation: the goal sampler of the old spelling's config is the new one's
  assert cli.parse_train_args(algo, [f"--{old}", str(value)]).agent.goal_sampling() == (
    expected.goal_sampling()
  )
  # --sweep takes the old name too, under the new one
  default = getattr(agents.REGISTRY[algo].config_class(), new)
  swept = cli.parse_train_args(algo, ["--sweep", f"{old}={value},{default}"])
  continuous, discrete = sweep.parse(swept)
  assert new in {**continuous, **discrete} and old not in {**continuous, **discrete}
  # a --config file with the old key, flat or under agent:
  for text in (f"{old}: {value}\n", f"agent:\n  {old}: {value}\n"):
    path = tmp_path / "flags.yaml"
    path.write_text(text)
    assert load_config_file(str(path), algo).agent == expected, text
  path.write_text(f"{old}: {value}\n{new}: {value}\n")
  with pytest.raises(ConfigError, match=f"gives {new} twice"):
    load_config_file(str(path), algo)


def test_an_old_run_whose_config_yaml_has_an_old_key_loads_and_resumes(saved_run):  # noqa: F811
  """A run saved before the rename (its config.yaml says random_actor_goals) is read back with
  the value under the new name: ``goalax resume``, ``--config`` and ``goalax eval`` read it."""
  path = os.path.join(saved_run, "config.yaml")
  data = yaml.safe_load(open(path))
  data["config"]["agent"].pop("actor_p_random")
  data["config"]["agent"]["random_actor_goals"] = 0.5
  yaml.safe_dump(data, open(path, "w"))
  config, derived = load_run_config(saved_run)
  assert config.agent.actor_p_random == 0.5 and derived.algo == "crl"
  given = cli.parse_train_args("crl", ["--resume", saved_run])
  resumed = resume_config(given, "crl")  # no 'cannot change' refusal: the same config
  assert resumed == dataclasses.replace(
    TINY, agent=dataclasses.replace(TINY.agent, actor_p_random=0.5), resume=saved_run
  )
  assert cli.parse_train_args("crl", ["--config", path]).agent == resumed.agent


def test_a_run_saved_now_writes_the_new_names(saved_run):  # noqa: F811
  saved = yaml.safe_load(open(os.path.join(saved_run, "config.yaml")))["config"]
  assert "actor_p_random" in saved["agent"] and "random_actor_goals" not in saved["agent"]
  assert "wandb_mode" in saved


# ---- --help ----------------------------------------------------------------------------------
def _help(algo: str, capsys, monkeypatch) -> str:
  """``goalax train <algo> --help`` on a terminal of 129 columns (tyro's widest with one column
  of boxes)."""
  monkeypatch.setenv("COLUMNS", "129")
  with pytest.raises(SystemExit):
    cli.parse_train_args(algo, ["--help"])
  return capsys.readouterr().out


def _squeezed(text: str) -> str:
  """The help text without box drawing and whitespace (rich wraps long metavars anywhere)."""
  return "".join(text.replace("│", "").split())


@pytest.mark.parametrize("algo", list(agents.REGISTRY))
def test_help_is_plain_text_with_readable_defaults(algo, capsys, monkeypatch):
  text = _help(algo, capsys, monkeypatch)
  for markup in ("``", ":class:", ":func:", ":mod:", ":data:", ":attr:", ":meth:"):
    assert markup not in text, (algo, markup)
  squeezed = _squeezed(text)
  assert "(default:None)" not in squeezed and "(default:)" not in squeezed
  assert "Time limit per episode. (default: the env's recommended length)" in text
  # a docstring's own line breaks are gone: on this terminal none falls after 'tasks',
  assert "(metrics eval/...); 'tasks', the env's" in text


@pytest.mark.parametrize("algo", ["crl", "td_infonce"])
def test_help_lists_the_valid_energies_and_losses(algo, capsys, monkeypatch):
  squeezed = _squeezed(_help(algo, capsys, monkeypatch))
  assert "--energy-fn{l2,l2_sq,l1,dot,cosine,mrn}" in squeezed
  losses = (
    "{infonce,infonce_backward,symmetric_infonce,binary,flatnce,flatnce_backward,fb,dp,ipo,sppo}"
  )
  assert (f"--contrastive-loss-fn{losses}" in squeezed) == (algo == "crl")


@pytest.mark.parametrize(
  "algo, says",
  [
    ("crl", "Thegoalsampler'sγ,notaTDdiscount"),
    ("gcsl", "Thegoalsampler'sγ,notaTDdiscount"),
    ("qrl", "Thegoalsampler'sγ,notaTDdiscount"),
    ("sac", "DiscountγoftheTDtarget"),
    ("td3", "DiscountγoftheTDtarget"),
    ("td_infonce", "DiscountγoftheTDtarget"),
    ("ppo", "DiscountγofthereturnsandofGAE'sTDerrors"),
  ],
)
def test_help_says_what_discounting_discounts(algo, says, capsys, monkeypatch):
  squeezed = _squeezed(_help(algo, capsys, monkeypatch))
  assert "--discountingFLOAT" + says in squeezed
