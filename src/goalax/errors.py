"""Errors that mean "a flag has a value that cannot work": the CLI prints them as one sentence
on stderr and exits with code 2; from Python they are ValueErrors."""


class UsageError(ValueError):
  """A bad command-line or config value; the message names the flag and what would work."""


class ConfigError(UsageError):
  """An impossible flag value; the message names the flag and what would work."""


class OutputError(UsageError):
  """An output cannot be written (unwritable path, full disk); the message names the flag or
  path, and everything saved before is kept."""


def require_positive(obj, *flags: str) -> None:
  """Raises ConfigError ``--flag must be positive, got value.`` for the first non-positive one."""
  for flag in flags:
    value = getattr(obj, flag)
    if not value > 0:
      raise ConfigError(f"--{flag} must be positive, got {value}.")


def require_in_unit_interval(obj, flag: str, *, include_zero: bool = False) -> None:
  """Raises ConfigError unless ``0 < value <= 1`` (``0 <= value <= 1`` with ``include_zero``)."""
  value = getattr(obj, flag)
  low_ok = value >= 0.0 if include_zero else value > 0.0
  if not (low_ok and value <= 1.0):
    interval = "[0, 1]" if include_zero else "(0, 1]"
    raise ConfigError(f"--{flag} must be in {interval}, got {value}.")


def require_module(module: str, extra: str, feature: str) -> None:
  """Raises UsageError naming the pip extra to install when an optional package is missing."""
  import importlib.util

  if importlib.util.find_spec(module) is None:
    raise UsageError(f'{feature} needs the {module} package: pip install -e ".[{extra}]".')
