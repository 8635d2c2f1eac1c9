"""Device tasks: stream assignment and the event rules, against a duck-typed protocol.

A device is registered with the executor as a *stream pool*: an object whose
``streams`` list holds streams with

- ``launch(fn)``: run ``fn`` so that its device work is enqueued on this stream (a GPU
  stream: on the host, with the stream current; the simulated device: later, on the
  stream's own thread); returns at once with whatever handle or value it has;
- ``record() -> event``, ``wait(event)`` (device-side: later work on this stream runs
  after ``event``), ``keep_alive(obj, event)``, ``synchronize()``;

and events with ``synchronize()`` (host waits) and ``query()``. tfnn's backends
(``stream_pool()``) and ``tfnn.executor.simulated.SimulatedDevice`` implement it.

Assignment (``assign_streams``, pure, once per graph change and per set of stream pools,
so a Taskflow run on another executor gets that executor's streams): tasks are visited in
topological order of strong edges; a device task continues the stream of its first
same-device strong predecessor whose stream no other successor has continued yet (a
chain keeps its stream, so it needs no event); otherwise it takes the device's next
stream, round robin (independent siblings land on different streams).

Event rules (``before_launch`` / ``after_launch``), with ``task._events`` the
``(stream, event)`` pairs a task's successors must order after:

- a device task waits, on its stream, for the events of its predecessors that come from
  other streams, launches, records one event and keeps the other streams' results alive
  until that event; its ``_events`` is that one event (CUDA orders transitively: work
  after a ``wait`` completes after the waited event);
- a host task with ``reads_device`` (the default) synchronises the host on its
  predecessors' events only; one without it (a loop counter's condition) runs at once
  and hands the events on to its successors, so a loop needs no host synchronisation
  per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfnn.executor.graph import Graph
from tfnn.executor.task import KINDS_WITH_WEAK_OUT_EDGES, Task
from tfnn.executor.transitions import strong_order


def assign_streams(graph: Graph, devices: Mapping[str, Any]) -> None:
    """Set ``task._stream`` for every task of ``graph`` (None for host tasks)."""
    if graph.streams_version == graph.version and graph.streams_devices is devices:
        return
    visited, _ = strong_order(graph)
    turn = dict.fromkeys(devices, 0)
    continued: set[int] = set()
    for t in visited:
        pool = devices.get(t.device)
        if pool is None:
            t._stream = None
            continue
        t._stream = None
        for p in t._preds:
            if (
                p.kind not in KINDS_WITH_WEAK_OUT_EDGES
                and p.device == t.device
                and p._stream is not None
                and id(p) not in continued
            ):
                continued.add(id(p))
                t._stream = p._stream
                break
        if t._stream is None:
            t._stream = pool.streams[turn[t.device] % len(pool.streams)]
            turn[t.device] += 1
    graph.streams_version = graph.version
    graph.streams_devices = devices


def incoming_events(task: Task) -> list[tuple[Any, Any]]:
    """The (stream, event) pairs ``task`` must order after."""
    return [pair for p in task._preds for pair in p._events]


def run_on_device(task: Task, call: Any) -> Any:
    """Run ``task`` by the event rules above; ``call()`` runs its body."""
    events = incoming_events(task)
    stream = task._stream
    if stream is None:
        if task.reads_device:
            for _, event in events:
                event.synchronize()
            task._events = []
        else:
            task._events = events
        return call()
    foreign = [(s, e) for s, e in events if s is not stream]
    for _, event in foreign:
        stream.wait(event)
    value = stream.launch(call)
    done = stream.record()
    task._value = value
    task._events = [(stream, done)]
    for p in task._preds:
        if p._stream is not None and p._stream is not stream and p._value is not None:
            # cupy has no record_stream: what this stream reads must outlive its work here
            stream.keep_alive(p._value, done)
    return value
