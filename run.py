"""JaxGCRL 0.2's entry point, spelled the same: ``python run.py sac --env ant --use_her ...``.

Takes every field of JaxGCRL 0.2's RunConfig and agent configs with its meaning
(``--total_env_steps``, ``--wandb_project_name``, ``--use_ln``, ...) or refuses it in one sentence
naming goalax's alternative, and runs ``goalax train <agent>``. See ``goalax.jaxgcrl_compat`` and
docs/reference_flags.md.
"""

import sys

from goalax.cli import run_py_main

if __name__ == "__main__":
  run_py_main(sys.argv[1:])
