"""Device tasks: stream assignment, the event rules and the keep-alive rule, against a
duck-typed protocol.

A device is registered with the executor as a *stream pool*: an object whose
``streams`` list holds streams with

- ``launch(fn)``: run ``fn`` so that its device work is enqueued on this stream (a GPU
  stream: on the host, with the stream current; the simulated device: later, on the
  stream's own thread, which it says with ``runs_later = True``); returns at once with
  whatever handle or value it has;
- ``record() -> event``, ``wait(event)`` (device-side: later work on this stream runs
  after ``event``), ``keep_alive(obj, event)``, ``synchronize()``;

and events with ``synchronize()`` (host waits) and ``query()``. tfnn's backends
(``stream_pool()``) and ``tfnn.executor.simulated.SimulatedDevice`` implement it.

Assignment (``assign_streams``, pure, once per graph change and per set of stream pools,
so a Taskflow run on another executor gets that executor's streams). Per device, over the
strong edges: a task's *height* is the number of tasks on its longest path to a sink,
and a task's *heir* is its same-device successor of greatest height (the first listed on
a tie: the builders list the critical successor first).

- The *critical path* starts at the highest task with no same-device predecessor and
  follows heirs; where it ends, it goes on through host tasks and condition edges to the
  next such task not yet on it (an unrolled graph's next step). It has the pool's first
  stream to itself, so nothing queues in front of it.
- Any other task continues the stream of a predecessor whose heir it is (a chain keeps
  its stream and needs no event); otherwise it takes the next of the other streams, round
  robin (independent branches, such as each layer's weight gradient and update, land on
  different streams). A pool of one stream puts everything on it.

Event rules (``before_launch`` / ``after_launch``), with ``task._events`` the
``(stream, event)`` pairs a task's successors must order after:

- a device task waits, on its stream, for the events of its predecessors that come from
  other streams, launches, and records one event; its ``_events`` is that one event (CUDA
  orders transitively: work after a ``wait`` completes after the waited event);
- a host task with ``reads_device`` (the default) synchronises the host on its
  predecessors' events only; one without it (a loop counter's condition) runs at once
  and hands the events on to its successors, so a loop needs no host synchronisation
  per step.

Keep-alive rule. A GPU memory pool hands a freed block to the next allocation on the
stream that allocated it (CuPy's pool is per stream, torch's caching allocator too unless
``record_stream`` says otherwise), at the host moment the last reference is dropped, even
while another stream's queued work still reads it. So: *an array a task on stream B reads
that was made on stream A stays referenced until B's event for that task completes.* The
executor applies it to what it can see and the task body declares the rest:

- values passed by return: a device task's return value is handed to its successors; each
  successor on another stream keeps it alive until its own event completes, and the
  producer lets go of it once its last successor has launched (not at the next run);
- values passed through closures (the usual Taskflow pattern): the body calls
  ``hold(*arrays)`` on what it read from other streams; they stay alive until the task's
  event completes.

Released references go at the stream's next ``keep_alive`` or ``synchronize`` after the
event completes. Graphs whose every iteration starts after a join of the previous one (the
training graphs: ``step?`` joins every sink and ``start`` waits on it) need no ``hold``:
every stream's work of iteration k+1 is ordered after all of iteration k, so a block freed
by an overwrite in iteration k+1 is reused only after its readers in iteration k.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from tfnn.executor.graph import Graph
from tfnn.executor.task import KINDS_WITH_WEAK_OUT_EDGES, Task
from tfnn.executor.transitions import strong_order

_local = threading.local()


def hold(*objs: Any) -> None:
    """Keep ``objs`` alive until the running device task's work on its stream is done.

    Call it inside a device task's body on arrays made on another stream (see the module
    docstring); outside a device task it does nothing (host work is done when it returns).

    Example::

        def consume():
            hold(shared["x"])            # made by a task on another stream
            shared["y"] = shared["x"] @ W
    """
    held = getattr(_local, "held", None)
    if held is not None:
        held.extend(objs)


class _Handoff:
    """A device task's return value and one token per successor that still has to take it."""

    __slots__ = ("tokens", "value")

    def __init__(self, value: Any, successors: int) -> None:
        self.value = value
        self.tokens = [True] * successors

    def taken(self) -> None:
        try:
            self.tokens.pop()
        except IndexError:
            return
        if not self.tokens:
            self.value = None


def assign_streams(graph: Graph, devices: Mapping[str, Any]) -> None:
    """Set ``task._stream`` for every task of ``graph`` (None for host tasks)."""
    if graph.streams_version == graph.version and graph.streams_devices is devices:
        return
    order, _ = strong_order(graph)
    height = _heights(order)
    heir = {id(t): _heir(t, height) for t in order}
    for t in order:
        t._stream = None
    for name, pool in devices.items():
        critical = _critical_path(order, name, height, heir)
        for t in critical:
            t._stream = pool.streams[0]
        _assign_branches(order, name, pool.streams, critical, heir)
    graph.streams_version = graph.version
    graph.streams_devices = devices


def _assign_branches(
    order: list[Task],
    device: str,
    streams: list[Any],
    critical: list[Task],
    heir: dict[int, Task | None],
) -> None:
    """Give the tasks of ``device`` off the critical path the other streams.

    A branch is a chain of heirs; its head takes the next stream, round robin, with
    heads ordered by where they leave the critical path, so that branches leaving it
    close together (neighbouring layers' weight gradients) get different streams.
    """
    others = streams[1:] or streams
    position = {id(t): i for i, t in enumerate(critical)}
    root: dict[int, Task] = {}
    heads: list[Task] = []
    for t in order:
        if t.device != device or id(t) in position:
            continue
        p = next((p for p in t._preds if heir.get(id(p)) is t and id(p) in root), None)
        root[id(t)] = root[id(p)] if p is not None else t
        if p is None:
            heads.append(t)
    leave = {id(h): max((position.get(id(p), -1) for p in h._preds), default=-1) for h in heads}
    # Heads that leave the path nowhere (independent work) come after, in graph order.
    heads.sort(key=lambda h: leave[id(h)] if leave[id(h)] >= 0 else len(critical))
    stream_of = {id(h): others[i % len(others)] for i, h in enumerate(heads)}
    for t in order:
        if id(t) in root:
            t._stream = stream_of[id(root[id(t)])]


def _strong_succ(t: Task) -> list[Task]:
    return [] if t.kind in KINDS_WITH_WEAK_OUT_EDGES else t._succ


def _heights(order: list[Task]) -> dict[int, int]:
    height: dict[int, int] = {}
    for t in reversed(order):
        height[id(t)] = 1 + max((height.get(id(s), 0) for s in _strong_succ(t)), default=0)
    return height


def _heir(t: Task, height: dict[int, int]) -> Task | None:
    best: Task | None = None
    for s in _strong_succ(t):
        if s.device == t.device and (best is None or height[id(s)] > height[id(best)]):
            best = s
    return best


def _critical_path(
    order: list[Task], device: str, height: dict[int, int], heir: dict[int, Task | None]
) -> list[Task]:
    """The tasks on ``device``'s critical path, in path order (see the module docstring)."""
    heads = [
        t
        for t in order
        if t.device == device
        and not any(
            p.device == device and p.kind not in KINDS_WITH_WEAK_OUT_EDGES for p in t._preds
        )
    ]
    path: list[Task] = []
    on_path: set[int] = set()
    task = max(heads, key=lambda t: height[id(t)], default=None)
    while task is not None and id(task) not in on_path:
        path.append(task)
        on_path.add(id(task))
        task = heir[id(task)] or _next_head(task, device, on_path)
    return path


def _next_head(tail: Task, device: str, on_path: set[int]) -> Task | None:
    """The first task on ``device`` reached from ``tail`` through host tasks (any edges)."""
    seen = {id(tail)}
    frontier = list(tail._succ)
    while frontier:
        t = frontier.pop(0)
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.device == device:
            if id(t) not in on_path:
                return t
            continue
        frontier.extend(t._succ)
    return None


def incoming_events(task: Task) -> list[tuple[Any, Any]]:
    """The (stream, event) pairs ``task`` must order after."""
    return [pair for p in task._preds for pair in p._events]


def run_on_device(task: Task, call: Callable[[], Any]) -> Any:
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
        _take_values(task, None, None)
        return call()
    for s, event in events:
        if s is not stream:
            stream.wait(event)
    held: list[Any] = []
    value = stream.launch(_holding(call, held))
    done = stream.record()
    task._value = _Handoff(value, len(task._succ)) if value is not None and task._succ else None
    task._events = [(stream, done)]
    if held or getattr(stream, "runs_later", False):
        stream.keep_alive(held, done)
    _take_values(task, stream, done)
    return value


def _holding(call: Callable[[], Any], held: list[Any]) -> Callable[[], Any]:
    def body() -> Any:
        previous = getattr(_local, "held", None)
        _local.held = held
        try:
            return call()
        finally:
            _local.held = previous

    return body


def _take_values(task: Task, stream: Any, done: Any) -> None:
    """Take the predecessors' handed-off values; keep those from other streams alive."""
    for p in task._preds:
        handoff = p._value
        if handoff is None:
            continue
        value = handoff.value  # read once: another successor may let go of it meanwhile
        if stream is not None and p._stream is not stream and value is not None:
            stream.keep_alive(value, done)
        handoff.taken()
