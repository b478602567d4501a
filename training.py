"""JaxGCRL-compatible entry point: ``python training.py --env_name ant --num_envs 16 ...``.

Accepts the classic JaxGCRL flags verbatim (``--env_name``, ``--num_timesteps``, ``--h_dim``,
``--contrastive_loss_fn``, ``--log_wandb``, ...) and runs ``goalax train crl`` with them.
Spellings that goalax renamed are translated here: ``--env_name`` is ``--env``.
"""

import sys

RENAMED_FLAGS = {"--env_name": "--env"}


def translate(argv):
  out = []
  for arg in argv:
    flag, eq, value = arg.partition("=")
    out.append(RENAMED_FLAGS.get(flag, flag) + eq + value)
  return out


if __name__ == "__main__":
  from goalax.cli import main

  main(["train", "crl", *translate(sys.argv[1:])])
