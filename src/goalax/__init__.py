"""goalax: self-supervised goal-conditioned RL in JAX."""

__version__ = "0.1.0"
