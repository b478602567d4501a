"""Sweeps (goalax.parallel.sweep): continuous values trained together in one program give what their
separate runs give; rows, curves and goalax plot carry the configuration; discrete values become
runs of their own; bad entries are one sentence; the wandb route of JaxGCRL's README works."""

import dataclasses
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_training import TINY

from goalax.cli import parse_train_args
from goalax.config import ConfigError
from goalax.jaxgcrl_compat import translate
from goalax.outputs import plotting
from goalax.parallel import sweep
from goalax.run.host_loop import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATES = (1e-3, 3e-4)  # TINY's own critic_lr is 3e-4: that run's programs are TINY's


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  config = dataclasses.replace(
    TINY,
    sweep=(f"critic_lr={RATES[0]},{RATES[1]}",),
    run_dir=str(tmp_path_factory.mktemp("sweep")),
    exp_name="lr",
    plot_curves=True,
  )
  with ThreadPoolExecutor(max_workers=3) as pool:  # mostly compilation, one core each
    swept_run = pool.submit(train, config)
    alone = [
      pool.submit(
        train, dataclasses.replace(TINY, agent=dataclasses.replace(TINY.agent, critic_lr=lr)), False
      )
      for lr in RATES
    ]
    return swept_run.result(), [run.result() for run in alone]


def test_a_two_value_sweep_gives_the_metrics_of_the_two_separate_runs(swept):
  """One program, the values as leaves of the state, vmapped as seeds are: the same numbers up
  to vmap's float rounding (as seed k of --num_seeds against seed k alone); an argmax count like
  categorical_accuracy may differ by one in a few thousand."""
  result, alone = swept
  for member, single in zip(result.per_seed, alone):
    assert len(member) == len(single.per_seed[0]) == TINY.num_evals + 1
    for row, other in zip(member, single.per_seed[0]):
      assert row["seed"] == other["seed"] == TINY.seed
      for key, value in other.items():
        if key in ("seed", "config") or not isinstance(value, float):
          continue
        if key in ("eval/success", "eval/episode_success", "eval/episode_success_any"):
          assert row[key] == value, key
        elif "accuracy" in key:
          assert row[key] == pytest.approx(value, abs=2e-3), key
        else:
          assert row[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key
  # ...and the two configurations learned differently
  assert result.per_seed[0][-1]["train/critic_loss"] != result.per_seed[1][-1]["train/critic_loss"]


def test_rows_curves_and_plot_carry_the_configuration(swept, tmp_path):
  result, _ = swept
  labels = [f"critic_lr={RATES[0]:g}", f"critic_lr={RATES[1]:g}"]
  assert [rows[0]["config"] for rows in result.per_seed] == labels
  means = [row for row in result.history if row["epoch"] == TINY.num_evals]
  assert [row["config"] for row in means] == labels and all(r["seed"] == "mean" for r in means)
  curves = plotting.load_run_curves(result.run_dir, "lr")
  assert [c.label for c in curves] == [f"lr · {label}" for label in labels]
  assert os.path.getsize(os.path.join(result.run_dir, "curves.png")) > 1000


def test_discrete_values_are_runs_of_their_own_and_bad_entries_one_sentence():
  config = dataclasses.replace(TINY, sweep=("energy_fn=l2,cosine", "actor_lr=1e-4,3e-4"))
  runs = sweep.runs(config, "crl")
  assert [tag for tag, _ in runs] == ["energy_fn=l2", "energy_fn=cosine"]
  assert [one.agent.energy_fn for _, one in runs] == ["l2", "cosine"]
  assert all(one.sweep == ("actor_lr=0.0001,0.0003",) for _, one in runs)
  assert len(sweep.members(runs[0][1], sweep.parse(runs[0][1])[0])) == 2 * TINY.num_seeds
  for entry, message in [
    ("critic_lr", "write NAME=V1,V2,..."),
    ("critc_lr=1e-4,3e-4", "--sweep critc_lr: not a flag of this agent"),
    ("critic_lr=fast,1e-4", "'fast' is not a float"),
    ("critic_lr=1e-4,1e-4", "repeat one"),
    ("critic_lr=-1,1e-4", "--sweep critic_lr=-1: --critic_lr must be positive"),
  ]:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
      sweep.validate(dataclasses.replace(TINY, sweep=(entry,)))


# Run in a child process: importing wandb here would put it in this process's sys.modules, where
# test_training checks that training without --log_wandb never imports it.
WANDB_AGENT_EXPANSION = """
import json, sys, yaml
from wandb.sdk.launch.sweeps import utils as sweep_utils

spec = yaml.safe_load(open(sys.argv[1]))
sampled = {"discounting": 0.97, "contrastive_loss_fn": "bwd_infonce", "seed": 42}
sampled["env_name"] = spec["parameters"]["env_name"]["value"]
command = {"args": {k: {"value": v} for k, v in sampled.items()}, "program": spec["program"]}
filled = sweep_utils.create_sweep_command(list(spec["command"]))
values = sweep_utils.create_sweep_command_args(command)
values.update(env=["/usr/bin/env"], program=[command["program"]], interpreter=["python"])
argv = []
for chunk in map(str, filled):  # wandb_agent.Agent._command_run's expansion
  argv += values.get(chunk[2:-1], []) if chunk.startswith("${") else [chunk]
print(json.dumps(argv))
"""


def test_the_wandb_sweep_of_jaxgcrl_s_readme_gives_commands_goalax_accepts():
  """scripts/sweep.yml's command, expanded as wandb's agent does (its own argument builder), for
  a sampled set of values: run.py's arguments parse into the sampled config."""
  env = {k: v for k, v in os.environ.items() if k != "WANDB_SWEEP_ID"}
  sweep_yml = os.path.join(REPO, "scripts", "sweep.yml")
  child = [sys.executable, "-c", WANDB_AGENT_EXPANSION, sweep_yml]
  argv = json.loads(subprocess.run(child, env=env, capture_output=True, check=True).stdout)
  assert argv[:4] == ["/usr/bin/env", "python", "run.py", "crl"]
  assert argv[-4:] == [
    "--discounting=0.97",
    "--contrastive_loss_fn=bwd_infonce",
    "--seed=42",
    "--env_name=ant",
  ]
  config = parse_train_args(argv[3], translate(argv[4:]))
  assert (config.env, config.seed, config.num_envs, config.num_timesteps) == (
    "ant",
    42,
    1024,
    50_000_000,
  )
  assert config.agent.discounting == 0.97 and config.agent.contrastive_loss_fn == "bwd_infonce"
  assert config.log_wandb and config.agent.multiplier_num_sgd_steps == 1
