"""One code style: the formatter and linter configured in pyproject.toml run clean."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("command", [["format", "--check"], ["check"]])
def test_ruff_is_clean(command):
  proc = subprocess.run(
    [sys.executable, "-m", "ruff", *command, "."], cwd=REPO, capture_output=True, text=True
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr
