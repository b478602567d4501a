"""goalax: self-supervised goal-conditioned RL in JAX.

``goalax.make_env(name)`` builds an environment (the same function as ``goalax.envs.make_env``);
it is imported on first use, so ``import goalax`` stays cheap.
"""

__version__ = "0.1.0"

_LAZY = {"make_env": "goalax.envs"}


def __getattr__(name: str):
  if name in _LAZY:
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
  raise AttributeError(f"module 'goalax' has no attribute {name!r}")


__all__ = ["make_env"]
