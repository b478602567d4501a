"""JaxGCRL-compatible entry point: ``python training.py --env_name ant --num_envs 16 ...``.

Takes every flag of JaxGCRL 0.1's training.py with its meaning (or refuses it in one sentence
naming goalax's alternative) and runs ``goalax train <agent>``; ``--agent crl|sac|td3|ppo|...``
picks the algorithm (default crl). See ``goalax.jaxgcrl_compat`` and docs/reference_flags.md.
"""

import sys

from goalax.cli import training_py_main
from goalax.jaxgcrl_compat import translate  # noqa: F401  (tests use translate)

if __name__ == "__main__":
  training_py_main(sys.argv[1:])
