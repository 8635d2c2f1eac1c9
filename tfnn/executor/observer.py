"""Observers see every task start and end; ``TraceObserver`` writes a Chrome trace.

The trace is the Trace Event Format's JSON array of complete events (``"ph": "X"``),
one row (``tid``) per worker, loadable in Perfetto (ui.perfetto.dev) and
chrome://tracing. Each worker appends to its own list, so recording takes no lock.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tfnn.executor.task import Task


class Observer(Protocol):
    """Called by the executor around every task body, on the worker that runs it."""

    def on_entry(self, worker: int, task: Task) -> None: ...
    def on_exit(self, worker: int, task: Task) -> None: ...


class TraceObserver:
    """Record task spans per worker; ``dump(path)`` writes Chrome/Perfetto JSON.

    Example::

        trace = TraceObserver()
        executor.observe(trace)
        executor.run(tf).result()
        trace.dump("trace.json")      # open in ui.perfetto.dev
    """

    def __init__(self) -> None:
        self._origin = time.perf_counter_ns()
        self._open: dict[int, list[int]] = {}
        self._spans: dict[int, list[tuple[str, str, int, int]]] = {}

    def on_entry(self, worker: int, task: Task) -> None:
        self._open.setdefault(worker, []).append(time.perf_counter_ns())

    def on_exit(self, worker: int, task: Task) -> None:
        end = time.perf_counter_ns()
        start = self._open[worker].pop()
        category = getattr(task, "device", "cpu")
        self._spans.setdefault(worker, []).append((task.name, category, start, end))

    def events(self) -> list[dict[str, Any]]:
        """The trace events recorded so far (timestamps in microseconds)."""
        events: list[dict[str, Any]] = [
            {
                "name": "thread_name",
                "ph": "M",
                "pid": os.getpid(),
                "tid": w,
                "args": {"name": f"worker {w}"},
            }
            for w in sorted(self._spans)
        ]
        for worker, spans in sorted(self._spans.items()):
            for name, category, start, end in spans:
                events.append(
                    {
                        "name": name,
                        "cat": category,
                        "ph": "X",
                        "pid": os.getpid(),
                        "tid": worker,
                        "ts": (start - self._origin) / 1000,
                        "dur": (end - start) / 1000,
                    }
                )
        return events

    def dump(self, path: str | os.PathLike[str]) -> Path:
        """Write the trace as JSON to ``path`` and return the path."""
        path = Path(path)
        path.write_text(json.dumps({"traceEvents": self.events(), "displayTimeUnit": "ms"}))
        return path

    def clear(self) -> None:
        self._open.clear()
        self._spans.clear()
