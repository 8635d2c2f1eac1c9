"""Parallel algorithms as tasks: ``for_each``, ``for_each_index``, ``transform``, ``reduce``,
``sort`` on every ``Taskflow`` and ``Subflow`` (``FlowBuilder`` inherits this mixin).

Algorithm. Each call adds one subflow task and returns it, so it precedes and succeeds
other tasks like any task. When it runs, it reads its range (Taskflow reads iterators
at run time too: a list filled by a predecessor is seen whole, and any argument given as
a zero-argument callable is called then, as ``std::ref`` is dereferenced in Taskflow),
counts ``n`` items, and asks its partitioner (``tfnn.executor.partitioner``) for one
iterator of spans per chunk task, ``W`` of them at most, ``W`` being the executor's
worker count. The chunk tasks are spawned into the subflow, which the parent joins, so
the algorithm's successors run once every item is done. With one worker, or ``n`` no
more than one chunk, the task does the work itself, spawning nothing (as Taskflow).

State. Only per-run locals: the spans iterators (their shared claim counter, see the
partitioner), and for ``reduce`` the ``Result`` holder plus a lock that serialises the
combination of each chunk task's partial result into it. ``op`` must therefore be
associative and commutative (the order of combination depends on the schedule), as in
Taskflow. ``sort`` sorts ``W`` contiguous slices in chunk tasks and merges them in a
last task (``heapq.merge``); the result equals ``list.sort`` with the same ``key`` and
``reverse``, stable included.

Example (two algorithms in one graph)::

    data = []
    total = Result(0)
    fill = tf.emplace(lambda: data.extend(range(1000)))
    square = tf.transform(data, data, lambda x: x * x)       # in place, read at run time
    add = tf.reduce(data, total, operator.add, partitioner=StaticPartitioner())
    fill.precede(square); square.precede(add)
    Executor(workers=2).run(tf).result()                      # total.value == 332833500
"""

from __future__ import annotations

import functools
import heapq
import threading
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from tfnn.executor.partitioner import GuidedPartitioner, Partitioner, Span, graph_error

if TYPE_CHECKING:
    from tfnn.executor.subflow import Subflow
    from tfnn.executor.task import Task

T = TypeVar("T")

SORT_CUTOFF = 1024
"""``sort`` of at most this many items runs inline (a merge costs more than it saves)."""


class Result(Generic[T]):
    """A holder for a value computed by a task: ``reduce`` reads its initial value from
    ``value`` when the task runs and writes the result back (Taskflow's ``T& init``).

    Example::

        total = Result(0)
        tf.reduce(range(10), total, operator.add)
        executor.run(tf).result()      # total.value == 45; a second run adds 45 again
    """

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Result({self.value!r})"


class ExecutorInfo(Protocol):
    """What an algorithm needs to know of the executor running it."""

    num_workers: int


class _Builder(Protocol):
    executor: ExecutorInfo | None

    def subflow(
        self, fn: Callable[[Subflow], Any], name: str | None = None, data: Any = None
    ) -> Task: ...


Lazy = Callable[[], T]


def _read(value: Any) -> Any:
    """A value given either directly or as a zero-argument callable read at run time."""
    return value() if callable(value) else value


def _workers(sf: Subflow) -> int:
    executor = sf.executor
    return executor.num_workers if executor is not None else 1


def _items(iterable: Any) -> Sequence[Any]:
    items = _read(iterable)
    return items if isinstance(items, Sequence) else list(items)


def _run_spans(
    sf: Subflow, n: int, partitioner: Partitioner, body: Callable[[int, int], object]
) -> None:
    """Run ``body(begin, end)`` over ``range(n)``: inline, or in chunk tasks of ``sf``."""
    workers = _workers(sf)
    if partitioner.inline(n, workers):
        if n:
            body(0, n)
        return
    for w, spans in enumerate(partitioner.spans(n, workers)):
        sf.emplace(functools.partial(_drain, spans, body), name=f"{sf.name}-{w}")


def _drain(spans: Iterator[Span], body: Callable[[int, int], object]) -> None:
    for begin, end in spans:
        body(begin, end)


def _each(
    builder: _Builder,
    read: Callable[[], Sequence[Any]],
    fn: Callable[[Any], object],
    part: Partitioner,
    name: str,
) -> Task:
    """A subflow task that calls ``fn(x)`` for each ``x`` of ``read()`` (read when it
    runs), in spans (``for_each`` and ``for_each_index``)."""

    def spawn(sf: Subflow) -> None:
        items = read()

        def body(begin: int, end: int) -> None:
            for item in items[begin:end]:
                fn(item)

        _run_spans(sf, len(items), part, body)

    return builder.subflow(spawn, name=name)


class ParallelAlgorithms:
    """The parallel algorithms of ``Taskflow`` and ``Subflow`` (see the module docstring).

    ``executor`` is the executor running a ``Subflow`` (set by the executor when it
    spawns one), and ``None`` on a ``Taskflow`` being built.
    """

    executor: ExecutorInfo | None = None

    def for_each(
        self: _Builder,
        iterable: Iterable[T] | Lazy[Iterable[T]],
        fn: Callable[[T], object],
        partitioner: Partitioner | None = None,
        name: str | None = None,
    ) -> Task:
        """Add a task that calls ``fn(item)`` for every item, in parallel chunks.

        Example::

            seen = []
            tf.for_each(range(100), seen.append, partitioner=DynamicPartitioner(8))
        """
        part = _partitioner(partitioner)
        return _each(self, lambda: _items(iterable), fn, part, name or "for_each")

    def for_each_index(
        self: _Builder,
        first: int | Lazy[int],
        last: int | Lazy[int],
        step: int | Lazy[int],
        fn: Callable[[int], object],
        partitioner: Partitioner | None = None,
        name: str | None = None,
    ) -> Task:
        """Add a task that calls ``fn(i)`` for ``i`` in ``range(first, last, step)``.

        As in Taskflow, ``step`` 0 or a ``step`` pointing away from ``last`` (say
        ``first < last`` with ``step < 0``) is an error, not an empty loop; ``first ==
        last`` is empty. Each bound may be a zero-argument callable, read at run time.

        Example::

            tf.for_each_index(10, 0, -2, print)     # 10 8 6 4 2, in parallel chunks
        """
        part = _partitioner(partitioner)
        if not any(callable(v) for v in (first, last, step)):
            _index_range(first, last, step)

        def indices() -> range:
            return _index_range(_read(first), _read(last), _read(step))

        return _each(self, indices, fn, part, name or "for_each_index")

    def transform(
        self: _Builder,
        src: Iterable[T] | Lazy[Iterable[T]],
        dst: MutableSequence[Any],
        fn: Callable[[T], Any],
        partitioner: Partitioner | None = None,
        name: str | None = None,
    ) -> Task:
        """Add a task that sets ``dst[i] = fn(src[i])`` for every index of ``src``.

        ``dst`` must be at least as long as ``src`` when the task runs (it is not
        grown); it may be ``src`` itself.

        Example::

            out = [0] * len(xs)
            tf.transform(xs, out, lambda x: 2 * x)
        """
        part = _partitioner(partitioner)

        def spawn(sf: Subflow) -> None:
            items = _items(src)
            if len(dst) < len(items):
                raise graph_error(
                    f"transform: dst holds {len(dst)} items but src has {len(items)}; "
                    "make dst at least as long as src (e.g. [None] * len(src))"
                )

            def body(begin: int, end: int) -> None:
                dst[begin:end] = [fn(item) for item in items[begin:end]]

            _run_spans(sf, len(items), part, body)

        return self.subflow(spawn, name=name or "transform")

    def reduce(
        self: _Builder,
        iterable: Iterable[T] | Lazy[Iterable[T]],
        result: Result[Any],
        op: Callable[[Any, T], Any],
        partitioner: Partitioner | None = None,
        name: str | None = None,
    ) -> Task:
        """Add a task that folds every item into ``result.value`` with ``op``.

        ``result.value`` is the initial value, read when the task runs; the task writes
        the result there. ``op`` must be associative and commutative.

        Example::

            total = Result(0)
            tf.reduce([1, 2, 3], total, operator.add)     # total.value == 6 after a run
        """
        if not isinstance(result, Result):
            raise graph_error(
                f"reduce() writes its result into a Result holder, got {result!r}; "
                "pass Result(initial_value) and read .value after the run"
            )
        part = _partitioner(partitioner)

        def spawn(sf: Subflow) -> None:
            items = _items(iterable)
            lock = threading.Lock()

            def body(begin: int, end: int) -> None:
                partial = functools.reduce(op, items[begin:end])
                with lock:
                    result.value = op(result.value, partial)

            _run_spans(sf, len(items), part, body)

        return self.subflow(spawn, name=name or "reduce")

    def sort(
        self: _Builder,
        list_: list[Any],
        key: Callable[[Any], Any] | None = None,
        reverse: bool = False,
        less: Callable[[Any, Any], bool] | None = None,
        name: str | None = None,
    ) -> Task:
        """Add a task that sorts ``list_`` in place, as ``list_.sort(key=, reverse=)``.

        ``less(a, b)`` is Taskflow's comparator (a strict weak order, "a before b"), an
        alternative to ``key``. Lists of at most ``SORT_CUTOFF`` items sort inline.

        Example::

            tf.sort(words, key=str.lower)
            tf.sort(points, less=lambda p, q: p.x < q.x)
        """
        if not isinstance(list_, list):
            raise graph_error(
                f"sort() sorts a list in place, got {type(list_).__name__}; pass a list"
            )
        if less is not None:
            if key is not None:
                raise graph_error("sort() takes key= or less=, not both")
            key = functools.cmp_to_key(_compare(less))
        return self.subflow(
            functools.partial(_spawn_sort, list_, key, reverse), name=name or "sort"
        )


def _partitioner(partitioner: Partitioner | None) -> Partitioner:
    if partitioner is None:
        return GuidedPartitioner()
    if not isinstance(partitioner, Partitioner):
        raise graph_error(
            f"partitioner= takes StaticPartitioner, GuidedPartitioner or "
            f"DynamicPartitioner, got {partitioner!r}"
        )
    return partitioner


def _index_range(first: Any, last: Any, step: Any) -> range:
    """``range(first, last, step)``, refusing what Taskflow calls an invalid range."""
    try:
        indices = range(first, last, step)
    except (TypeError, ValueError) as e:
        raise graph_error(
            f"for_each_index needs integer bounds and a non-zero step, got "
            f"({first!r}, {last!r}, {step!r}): {e}"
        ) from None
    if (first < last and step < 0) or (first > last and step > 0):
        raise graph_error(
            f"for_each_index range [{first}, {last}) with step {step} never reaches its "
            "end; use a step of the sign of last - first"
        )
    return indices


def _compare(less: Callable[[Any, Any], bool]) -> Callable[[Any, Any], int]:
    def compare(a: Any, b: Any) -> int:
        if less(a, b):
            return -1
        return 1 if less(b, a) else 0

    return compare


def _spawn_sort(items: list[Any], key: Any, reverse: bool, sf: Subflow) -> None:
    n = len(items)
    workers = min(_workers(sf), n)
    if workers <= 1 or n <= SORT_CUTOFF:
        items.sort(key=key, reverse=reverse)
        return
    q, r = divmod(n, workers)
    starts = [w * q + min(w, r) for w in range(workers + 1)]
    parts: list[list[Any]] = [[] for _ in range(workers)]

    def sort_part(w: int) -> None:
        parts[w] = sorted(items[starts[w] : starts[w + 1]], key=key, reverse=reverse)

    def merge() -> None:
        # Ties go to the earlier part, and the parts are in list order: the merge is
        # stable, so the result equals one list.sort.
        items[:] = heapq.merge(*parts, key=key, reverse=reverse)

    merged = sf.emplace(merge, name=f"{sf.name}-merge")
    for w in range(workers):
        sf.emplace(functools.partial(sort_part, w), name=f"{sf.name}-{w}").precede(merged)
