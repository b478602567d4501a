"""JaxGCRL-compatible entry point: ``python training.py --env_name ant --num_envs 16 ...``.

Accepts the classic JaxGCRL flags verbatim and runs ``goalax train <agent>`` with them;
``--agent crl|sac|td3|ppo`` picks the algorithm (default crl). See ``goalax.jaxgcrl_compat``.
"""

import sys

from goalax.jaxgcrl_compat import training_py_main, translate  # noqa: F401  (tests use translate)

if __name__ == "__main__":
  training_py_main(sys.argv[1:])
