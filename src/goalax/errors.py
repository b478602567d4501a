"""Errors that mean "a flag has a value that cannot work": the CLI prints them as one sentence
on stderr and exits with code 2; from Python they are ValueErrors."""


class UsageError(ValueError):
  """A bad command-line or config value; the message names the flag and what would work."""
