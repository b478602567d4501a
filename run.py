"""JaxGCRL 0.2's entry point, spelled the same: ``python run.py sac --env ant --use_her ...``.

Runs ``goalax train <agent>`` with the reference's flag names translated (``--total_env_steps``,
``--wandb_project_name``, ...). See ``goalax.jaxgcrl_compat``.
"""

import sys

from goalax.jaxgcrl_compat import run_py_main

if __name__ == "__main__":
  run_py_main(sys.argv[1:])
