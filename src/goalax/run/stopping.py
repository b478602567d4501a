"""Stopping a run at a safe point: Ctrl-C (SIGINT) and SIGTERM during training.

The first signal asks the run to stop: the host loop finishes what it is doing (or drops the
epoch in flight when its start is already checkpointed and it would take more than a few seconds),
writes a checkpoint and raises :class:`RunInterrupted`, which the command line turns into one
line on how to resume and exit code 128 + signal (130 for SIGINT, 143 for SIGTERM). A second
signal stops at once, keeping the checkpoints already written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
  """The run stopped on request. ``exit_code`` is 128 + the signal; ``in_flight`` is true when
  compiled work was still running (the process should exit without waiting for it)."""

  def __init__(self, message: str, exit_code: int = 130, in_flight: bool = False):
    super().__init__(message)
    self.exit_code = exit_code
    self.in_flight = in_flight


class StopNow(Exception):
  """Raised by the handler of a second signal: stop without reaching a safe point."""


class StopRequest:
  """Set by a stop signal (or by ``request()`` from code, e.g. a test or a progress callback)."""

  def __init__(self):
    self.signum: int | None = None
    self.requested = False

  def request(self, signum: int = signal.SIGINT) -> None:
    self.signum, self.requested = signum, True

  @property
  def name(self) -> str:
    return signal.Signals(self.signum or signal.SIGINT).name

  @property
  def exit_code(self) -> int:
    return 128 + int(self.signum or signal.SIGINT)


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[None]:
  """Within the block, SIGINT and SIGTERM set ``stop`` (a second one raises :class:`StopNow`).

  Signals can only be caught in the main thread; elsewhere (a run in a worker thread) the block
  runs with the handlers untouched."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return

  def handler(signum, frame):
    if stop.requested:
      raise StopNow()
    stop.request(signum)

  previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
  try:
    yield
  finally:
    for s, old in previous.items():
      signal.signal(s, old)


def wait_until_ready(
  tree: Any,
  stop: StopRequest,
  may_abandon: Callable[[], bool],
  on_wait: Callable[[], None] = lambda: None,
) -> bool:
  """Waits for the arrays of ``tree`` (dispatched asynchronously). Returns False as soon as a
  stop is requested and ``may_abandon()`` says the work in flight may be dropped; when it may
  not, calls ``on_wait()`` once and waits on."""
  leaves = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
  told = False
  while not all(x.is_ready() for x in leaves):
    if stop.requested:
      if may_abandon():
        return False
      if not told:
        on_wait()
        told = True
    time.sleep(0.01)
  return True


def run_in_thread(fn: Callable[[], Any], stop: StopRequest) -> Any:
  """``fn()`` in a worker thread, so that a stop signal is handled while it runs (compiling
  can take a minute); returns its result, or None when a stop was requested first."""
  result: dict[str, Any] = {}

  def target():
    try:
      result["value"] = fn()
    except BaseException as e:  # re-raised in the caller's thread
      result["error"] = e

  thread = threading.Thread(target=target, daemon=True)
  thread.start()
  while thread.is_alive():
    if stop.requested:
      return None
    thread.join(0.05)
  if "error" in result:
    raise result["error"]
  return result["value"]
