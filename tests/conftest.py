"""Shared test setup: JAX's persistent compilation cache outside the repo, small CPU settings."""

import os

import jax

import goalax  # noqa: F401  (before any test module imports mujoco: picks MuJoCo's GL platform)

CACHE_DIR = os.environ.get("GOALAX_JAX_CACHE", os.path.expanduser("~/.cache/goalax/jax"))
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_collection_modifyitems(config, items):
  """Groups tests for pytest-xdist (``-n auto --dist loadgroup``) so that nothing compiles twice.

  Contract tests of one env share a compiled probe, so they form one group per env; every other
  test goes with its module, whose module-scoped fixtures (compiled trainers, the learning runs)
  then run once. The learning tests, the longest, are moved to the front so that no worker is
  left with them at the end. Not the default: on 2 CPU cores ``-n 2`` took 11 min 31 s against
  12 min 17 s in one process, for 1.5× the CPU time; the modules that compile most now build
  their programs in two threads of the one process instead.
  """
  import pytest

  # Learning runs first (longest, and they fill both cores); the env contract tests last, so that
  # their probes compile in the background while the tests in between run.
  rank = lambda item: {"test_learning": 0, "test_envs": 2}.get(_module_name(item), 1)
  items.sort(key=rank)
  for item in items:
    if item.get_closest_marker("xdist_group"):
      continue
    module = _module_name(item)
    callspec = getattr(item, "callspec", None)
    env_name = callspec.params.get("name") if callspec else None
    group = f"{module}:{env_name}" if module == "test_envs" and env_name else module
    item.add_marker(pytest.mark.xdist_group(group))


def _module_name(item) -> str:
  module = getattr(item, "module", None)
  return module.__name__.rsplit(".", 1)[-1] if module else ""


def _env_contract_probes(session):
  """``(test_envs module, env names its selected tests use, in order)``, or ``(None, [])``."""
  module, names = None, []
  for item in getattr(session, "items", []):  # none when collection failed
    if _module_name(item) == "test_envs":
      module = item.module
      name = getattr(item, "callspec", None) and item.callspec.params.get("name")
      if name and name not in names:
        names.append(name)
  return module, names


def pytest_runtest_setup(item):
  """Once the learning runs (which fill both cores) are over, starts building the env contract
  probes in the background, so they compile while the tests before them run on the main thread.
  Not under pytest-xdist, whose workers each run only some envs and build theirs when asked."""
  session = item.session
  if (
    _module_name(item) == "test_learning"
    or getattr(session, "_goalax_probes_started", False)
    or os.environ.get("PYTEST_XDIST_WORKER")
  ):
    return
  session._goalax_probes_started = True
  module, names = _env_contract_probes(session)
  if module is not None:
    module.submit_probes(names)


def pytest_sessionfinish(session):
  module, _ = _env_contract_probes(session)
  if module is not None:
    module.cancel_pending_probes()
