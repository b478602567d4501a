"""Compile time of a whole run, measured the same way for goalax and the reference.

JAX reports the duration of every trace, lowering and XLA compilation as a monitoring event. The
events of nested ``jit`` calls overlap (tracing an outer function traces the inner ones), so the
clock keeps each event as a time interval and reports the length of their union: wall-clock time
during which this process was compiling. Works with jax 0.4.25 (the reference as released) and
with goalax's jax.
"""

from __future__ import annotations

import time

EVENTS = (
  "/jax/core/compile/jaxpr_trace_duration",
  "/jax/core/compile/jaxpr_to_mlir_module_duration",
  "/jax/core/compile/backend_compile_duration",
)


class CompileClock:
  """``CompileClock()`` starts listening; ``.seconds`` is the compile time so far."""

  def __init__(self):
    from jax._src import monitoring

    self._intervals: list[tuple[float, float]] = []
    monitoring.register_event_duration_secs_listener(self._on_event)

  def _on_event(self, event, duration, **_):
    if event in EVENTS:
      end = time.perf_counter()
      self._intervals.append((end - duration, end))

  @property
  def seconds(self) -> float:
    total, covered_until = 0.0, float("-inf")
    for start, end in sorted(self._intervals):
      start = max(start, covered_until)
      if end > start:
        total += end - start
        covered_until = end
    return total
