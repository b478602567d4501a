"""The package's shape holds: no import circle, light settings, modules of one idea, and run
fields classified where they are declared."""

import dataclasses
import os
import subprocess
import sys

import import_graph

from goalax import config as config_module
from goalax.agents.crl import CRLConfig
from goalax.config import OUTPUT, SETTING, Derived, TrainConfig, role
from goalax.run.programs import program_key
from goalax.run.resume import OUTPUT_FLAGS

MAX_LINES = 400


def test_no_import_circle_counting_imports_inside_functions():
  """Every goalax -> goalax import, at the top of a file or inside a function, runs one way, so
  no function-local import is there to dodge a cycle."""
  assert import_graph.cycles(import_graph.edges()) == []


def test_settings_modules_import_nothing_of_goalax():
  edges = import_graph.edges()
  for light in ("goalax.loops.settings", "goalax.replay.goals", "goalax.errors"):
    assert [e.target for e in edges if e.source == light] == [], light


def test_importing_the_config_loads_no_agent_network_or_jax():
  code = (
    "import sys, goalax.config\n"
    "print(sorted(m for m in sys.modules if m.startswith(('goalax', 'jax', 'flax', 'brax'))))"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert (
    out.stdout.strip()
    == "['goalax', 'goalax.config', 'goalax.errors', 'goalax.helptext', 'goalax.run', 'goalax.run.derived']"
  )


def test_no_module_outside_envs_is_longer_than_400_lines():
  long = {}
  for name, path in import_graph.modules().items():
    if not name.startswith("goalax.envs"):
      with open(path) as f:
        lines = sum(1 for _ in f)
      if lines > MAX_LINES:
        long[name] = lines
  assert long == {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _WithNewFields(TrainConfig):
  new_setting: int = 3
  """A flag that changes what a run computes (no role given: a SETTING)."""
  new_output: bool = role(OUTPUT, False)
  """A flag that changes only what is written."""


def test_a_new_field_is_classified_by_its_declaration():
  """The compile-cache key, the resume check and the fields read from files come from the
  fields' roles: a field added to the config is in the right lists without editing them."""
  assert "new_setting" in config_module.program_fields(_WithNewFields)
  assert "new_output" not in config_module.program_fields(_WithNewFields)
  assert "new_setting" in config_module.resume_fields(_WithNewFields, "fixed")
  assert "new_output" in config_module.resume_fields(_WithNewFields, "given")
  assert "new_output" not in config_module.launch_fields(_WithNewFields)
  base = _WithNewFields(agent=CRLConfig())
  key = program_key(base)
  assert program_key(dataclasses.replace(base, new_output=True)) == key
  assert program_key(dataclasses.replace(base, new_setting=4)) != key
  assert program_key(dataclasses.replace(base, seed=5, exp_name="x", plot_curves=False)) == key


def test_the_roles_of_today_s_run_fields():
  fields = {f.name: config_module.role_of(f) for f in dataclasses.fields(TrainConfig)}
  assert fields["num_envs"] is SETTING and fields["agent"] is SETTING
  assert set(OUTPUT_FLAGS) == {name for name, r in fields.items() if r is OUTPUT}
  assert "video_every" in OUTPUT_FLAGS and "env" not in OUTPUT_FLAGS
  assert set(config_module.launch_fields(TrainConfig)) == {
    "config_file", "resume", "exp_name", "coordinator_address", "num_processes", "process_id"
  }  # fmt: skip


def test_runs_saved_under_the_old_name_of_the_gradient_step_count_still_load():
  values = dict(
    episode_length=10, algo="crl", env_backend="spring", state_size=1, goal_size=1,
    action_size=1, updates_per_train_step=7, env_steps_per_train_step=1,
    train_steps_per_epoch=1, epochs=1, prefill_env_steps=0, total_env_steps=1,
    gradient_steps_per_env_step=1.0, seeds=[0], state_bytes=0, jax_backend="cpu",
    jax_version="0",
  )  # fmt: skip
  assert Derived.from_mapping(values, "old.yaml").gradient_steps_per_train_step == 7


def test_the_import_graph_reader_sees_imports_inside_functions(tmp_path):
  """The circle test would pass vacuously if the reader missed imports: it must find the
  function-local imports the CLI keeps for a fast start."""
  local = [e for e in import_graph.edges() if e.source == "goalax.cli" and e.local]
  assert any(e.target == "goalax.run.host_loop" for e in local)
  assert os.path.exists(import_graph.modules()["goalax.cli"])
