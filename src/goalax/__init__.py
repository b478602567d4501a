"""goalax: self-supervised goal-conditioned RL in JAX.

``goalax.make_env(name)`` builds an environment (the same function as ``goalax.envs.make_env``);
``goalax.train(config)`` trains a :class:`goalax.config.TrainConfig` (``goalax.run.host_loop.train``);
``goalax.load_policy(run_dir)`` returns a trained run's jitted ``policy(obs) -> action``
(``goalax.policy.load_policy``). They are imported on first use, so ``import goalax`` stays
cheap.
"""

import os as _os

# MuJoCo picks its OpenGL platform once, when it is first imported: on a machine without a
# display, EGL (software rendering through Mesa when there is no GPU) is the one that works.
if "MUJOCO_GL" not in _os.environ and not _os.environ.get("DISPLAY"):
  _os.environ["MUJOCO_GL"] = "egl"
  _os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

__version__ = "0.1.0"

_LAZY = {"make_env": "goalax.envs", "load_policy": "goalax.policy", "train": "goalax.run.host_loop"}


def __getattr__(name: str):
  if name in _LAZY:
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'goalax' has no attribute {name!r}")


__all__ = ["load_policy", "make_env", "train"]
