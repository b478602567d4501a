"""JaxGCRL's two entry points, spelled the same, for its users' scripts and sweeps.

- ``python training.py --env_name ant --num_envs 16 ...`` (JaxGCRL 0.1): ``--agent
  crl|sac|td3|ppo`` picks the algorithm (default crl), e.g. ``python training.py --agent sac
  --use_her ...``.
- ``python run.py sac --env ant --total_env_steps 1000000 ...`` (JaxGCRL 0.2).

Both run ``goalax train <agent>``; flags whose names goalax changed are translated by
:data:`RENAMED_FLAGS`, everything else passes through.
"""

from __future__ import annotations

RENAMED_FLAGS = {
  "--env_name": "--env",
  "--total_env_steps": "--num_timesteps",
  "--wandb_project_name": "--project_name",
  "--wandb_group": "--group_name",
  "--train_step_multiplier": "--multiplier_num_sgd_steps",
}


def translate(argv: list[str]) -> list[str]:
  """JaxGCRL flag spellings -> goalax's (``--env_name ant`` -> ``--env ant``)."""
  out = []
  for arg in argv:
    flag, eq, value = arg.partition("=")
    out.append(RENAMED_FLAGS.get(flag, flag) + eq + value)
  return out


def split_agent(argv: list[str]) -> tuple[str, list[str]]:
  """``(agent name, the other flags)``: ``--agent NAME`` or ``--agent=NAME``, default ``crl``."""
  agent, rest, i = "crl", [], 0
  while i < len(argv):
    flag, eq, value = argv[i].partition("=")
    if flag == "--agent" and eq:
      agent = value
    elif flag == "--agent" and i + 1 < len(argv):
      agent, i = argv[i + 1], i + 1
    else:
      rest.append(argv[i])
    i += 1
  return agent, rest


def training_py_main(argv: list[str]) -> None:
  """``python training.py [--agent NAME] [JaxGCRL flags]``."""
  from goalax.cli import main

  agent, flags = split_agent(argv)
  main(["train", agent, *translate(flags)])


def run_py_main(argv: list[str]) -> None:
  """``python run.py <agent> [JaxGCRL flags]``."""
  from goalax.cli import main

  main(["train", *translate(argv)])
