"""Agents. ``crl``: contrastive RL (the default and the heart of goalax)."""
