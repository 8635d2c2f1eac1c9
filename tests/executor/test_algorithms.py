"""Parallel algorithms, ported from Taskflow's unittests (test_for_each, test_reduce,
test_sort), on every executor (conftest.EXECUTORS), plus the partitioners' spans as pure
functions and a hypothesis property."""

from __future__ import annotations

import itertools
import operator
import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfnn.executor import (
    DynamicPartitioner,
    Executor,
    GraphError,
    GuidedPartitioner,
    Result,
    StaticPartitioner,
    TaskError,
    Taskflow,
)
from tfnn.executor.algorithms import SORT_CUTOFF
from tfnn.executor.partitioner import guided_bounds

pytestmark = pytest.mark.timeout(60)

PARTITIONERS = [StaticPartitioner, GuidedPartitioner, DynamicPartitioner]
CHUNKS = [0, 1, 3, 7, 99]
SIZES = [0, 1, 2, 3, 5, 8, 13, 31, 64, 150]


def _drain_interleaved(iterators):
    """Every span of every iterator, taking one from each in turn (a fair schedule)."""
    spans, live = [], list(iterators)
    while live:
        for it in list(live):
            span = next(it, None)
            if span is None:
                live.remove(it)
            else:
                spans.append(span)
    return spans


# -- partitioners, without threads ---------------------------------------------------------


@pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("workers", [2, 3, 4, 8])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_spans_cover_every_index_once(kind, workers, chunk):
    for n in [*SIZES[1:], 1000, 1001]:
        iterators = kind(chunk).spans(n, workers)
        assert 1 <= len(iterators) <= min(workers, n)
        spans = _drain_interleaved(iterators)
        assert all(b < e for b, e in spans), spans
        covered = sorted(i for b, e in spans for i in range(b, e))
        assert covered == list(range(n))


def test_static_even_blocks_are_contiguous_and_balanced():
    spans = [list(it) for it in StaticPartitioner().spans(10, 3)]
    assert spans == [[(0, 4)], [(4, 7)], [(7, 10)]]


def test_static_chunks_go_round_robin():
    spans = [list(it) for it in StaticPartitioner(2).spans(11, 3)]
    assert spans == [[(0, 2), (6, 8)], [(2, 4), (8, 10)], [(4, 6), (10, 11)]]


def test_dynamic_blocks_have_the_chunk_size():
    spans = sorted(_drain_interleaved(DynamicPartitioner(4).spans(10, 2)))
    assert spans == [(0, 4), (4, 8), (8, 10)]


def test_guided_blocks_shrink_to_the_chunk_size():
    # Taskflow: q = max(c, r / (2W)) while r >= 2W(c + 1), then blocks of c.
    bounds = guided_bounds(1000, 4, 1)
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    assert sizes[0] == 1000 // 8
    assert sizes == sorted(sizes, reverse=True)
    assert 1000 - bounds[-1] < 2 * 4 * 2
    spans = sorted(_drain_interleaved(GuidedPartitioner(1).spans(1000, 4)))
    assert [e - b for b, e in spans if b >= bounds[-1]] == [1] * (1000 - bounds[-1])


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_partitioner_rejects_a_bad_chunk_size(bad):
    with pytest.raises(GraphError, match="chunk size"):
        StaticPartitioner(bad)


# -- for_each_index ------------------------------------------------------------------------


class TestForEach:
    @pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
    def test_for_each_index_visits_every_index_once(self, executor, kind):
        # Taskflow's ParallelFor: beg random, n items, steps 1..16, chunk sizes.
        rng = random.Random(0)
        for n in SIZES:
            beg = rng.randrange(-150, 150)
            for step in [1, 2, 4, 8, 16]:
                for chunk in CHUNKS:
                    visits: list[int] = []
                    tf = Taskflow()
                    tf.for_each_index(beg, beg + n, step, visits.append, kind(chunk))
                    executor.run(tf).result()
                    assert len(visits) == (n + step - 1) // step
                    assert sorted(visits) == list(range(beg, beg + n, step))

    def test_for_each_index_negative_steps(self, executor):
        # Taskflow's ForEachIndex.NegativeIndex: every (beg > end, -s), all in one graph.
        tf = Taskflow()
        cases = []
        for beg in range(10, -11, -1):
            for end in range(beg, -11, -1):
                for s in range(1, beg - end + 1):
                    visits: list[int] = []
                    tf.for_each_index(beg, end, -s, visits.append)
                    cases.append((range(beg, end, -s), visits))
        executor.run(tf).result()
        for expected, visits in cases:
            assert sorted(visits) == sorted(expected)

    @pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
    def test_for_each_visits_every_item_once(self, executor, kind):
        for n in SIZES:
            for chunk in CHUNKS:
                items = [object() for _ in range(n)]
                seen: list[object] = []
                tf = Taskflow()
                tf.for_each(items, seen.append, kind(chunk))
                executor.run(tf).result()
                assert sorted(map(id, seen)) == sorted(map(id, items))

    @pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
    def test_ranges_are_read_when_the_task_runs(self, executor, kind):
        # Taskflow's StatefulParallelFor: an init task sets the ranges (std::ref there,
        # the list object and zero-argument callables here).
        for n in [0, 1, 7, 64]:
            data: list[int] = []
            bounds = {"first": 0, "last": 0}
            marked: list[int] = []
            tf = Taskflow()

            def init(n=n, data=data, bounds=bounds):
                data.extend(range(n // 2))
                bounds.update(first=n // 2, last=n)

            start = tf.emplace(init)
            pf1 = tf.for_each(data, marked.append, kind(3))
            pf2 = tf.for_each_index(
                lambda b=bounds: b["first"], lambda b=bounds: b["last"], 1, marked.append
            )
            start.precede(pf1, pf2)
            executor.run(tf).result()
            assert sorted(marked) == list(range(n))

    def test_algorithm_tasks_order_with_other_tasks(self, executor):
        #   before -> for_each -> after
        log: list[str] = []
        lock = threading.Lock()

        def visit(i):
            with lock:
                log.append("before" in log and "after" not in log and "item")

        tf = Taskflow()
        before = tf.emplace(lambda: log.append("before"))
        loop = tf.for_each_index(0, 200, 1, visit, DynamicPartitioner(4))
        after = tf.emplace(lambda: log.append("after"))
        before.precede(loop)
        loop.precede(after)
        executor.run(tf).result()
        assert log == ["before", *["item"] * 200, "after"]

    def test_a_subflow_has_the_algorithms(self, executor):
        seen: list[int] = []
        tf = Taskflow()
        tf.subflow(lambda sf: sf.for_each_index(0, 100, 1, seen.append), name="outer")
        executor.run(tf).result()
        assert sorted(seen) == list(range(100))

    @pytest.mark.parametrize(("first", "last", "step"), [(0, 10, -1), (10, 0, 1), (0, 10, 0)])
    def test_invalid_range_is_an_error(self, executor, first, last, step):
        tf = Taskflow()
        with pytest.raises(GraphError, match="for_each_index"):
            tf.for_each_index(first, last, step, print)
        # Bounds read at run time are checked at run time.
        tf.for_each_index(lambda: first, last, step, print, name="lazy")
        with pytest.raises(TaskError, match="lazy") as info:
            executor.run(tf).result()
        assert isinstance(info.value.__cause__, GraphError)

    def test_empty_range_with_any_step_direction_is_empty(self, executor):
        seen: list[int] = []
        tf = Taskflow()
        tf.for_each_index(5, 5, 1, seen.append)
        tf.for_each_index(5, 5, -1, seen.append)
        executor.run(tf).result()
        assert seen == []

    def test_a_failing_item_fails_the_run_and_the_executor_stays_usable(self, executor):
        def visit(i):
            if i == 37:
                raise KeyError(i)

        tf = Taskflow()
        tf.for_each_index(0, 100, 1, visit, DynamicPartitioner(1), name="loop")
        with pytest.raises(TaskError, match="loop") as info:
            executor.run(tf).result()
        assert isinstance(info.value.__cause__, KeyError)
        seen: list[int] = []
        tf2 = Taskflow()
        tf2.for_each_index(0, 10, 1, seen.append)
        executor.run(tf2).result()
        assert sorted(seen) == list(range(10))

    def test_bad_partitioner_is_an_error(self):
        with pytest.raises(GraphError, match="partitioner"):
            Taskflow().for_each([1], print, partitioner="static")


@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
def test_work_is_split_into_chunk_tasks_on_several_workers(workers, kind):
    names: list[str] = []

    class Names:
        def on_entry(self, worker, task):
            names.append(task.name)

        def on_exit(self, worker, task):
            pass

    with Executor(workers=workers) as ex:
        ex.observe(Names())
        tf = Taskflow()
        tf.for_each_index(0, 1000, 1, lambda i: None, kind(8), name="loop")
        ex.run(tf).result()
    chunks = sorted(n for n in names if n != "loop")
    # The worker count comes from sf.executor: the executor must set it on every Subflow
    # it spawns (one line where it builds the Subflow), or the work runs inline.
    assert chunks == [f"loop-{w}" for w in range(workers)], "Subflow.executor was not set"


# -- transform, reduce, sort ---------------------------------------------------------------


class TestTransformReduceSort:
    @pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
    def test_transform_writes_every_index(self, executor, kind):
        for n in SIZES:
            for chunk in CHUNKS:
                src = list(range(n))
                dst = [None] * (n + 2)
                tf = Taskflow()
                tf.transform(src, dst, lambda x: 3 * x + 1, kind(chunk))
                executor.run(tf).result()
                assert dst == [3 * x + 1 for x in src] + [None, None]

    def test_transform_in_place_of_data_filled_at_run_time(self, executor):
        data: list[int] = []
        tf = Taskflow()
        fill = tf.emplace(lambda: data.extend(range(500)))
        square = tf.transform(data, data, lambda x: x * x)
        fill.precede(square)
        executor.run(tf).result()
        assert data == [x * x for x in range(500)]

    def test_transform_into_a_short_dst_is_an_error(self, executor):
        tf = Taskflow()
        tf.transform([1, 2, 3], [0, 0], abs, name="t")
        with pytest.raises(TaskError, match="t") as info:
            executor.run(tf).result()
        assert isinstance(info.value.__cause__, GraphError)

    @pytest.mark.parametrize("kind", PARTITIONERS, ids=lambda k: k.__name__)
    def test_reduce_sums(self, executor, kind):
        # Taskflow's Reduce: random data, every size and chunk size, init included.
        rng = random.Random(1)
        for n in [*SIZES, 1000]:
            for chunk in CHUNKS:
                data = [rng.randrange(-1000, 1000) for _ in range(n)]
                total = Result(17)
                tf = Taskflow()
                tf.reduce(data, total, operator.add, kind(chunk))
                executor.run(tf).result()
                assert total.value == 17 + sum(data)

    def test_reduce_min_and_rerun_starts_from_the_result(self, executor):
        data = [random.Random(2).randrange(10**6) for _ in range(3000)]
        smallest, total = Result(10**9), Result(0)
        tf = Taskflow()
        tf.reduce(data, smallest, min)
        tf.reduce(range(100), total, operator.add, StaticPartitioner(7))
        executor.run_n(tf, 2).result()
        assert smallest.value == min(data)
        assert total.value == 2 * sum(range(100))

    def test_reduce_needs_a_result_holder(self):
        with pytest.raises(GraphError, match="Result"):
            Taskflow().reduce([1], [0], operator.add)

    @pytest.mark.parametrize("n", [0, 1, 2, 3, 10, SORT_CUTOFF, SORT_CUTOFF + 1, 5000])
    def test_sort_equals_list_sort(self, executor, n):
        # Taskflow's Sort: random data with duplicates; here also key, reverse and less.
        rng = random.Random(n)
        data = [rng.randrange(-50, 50) for _ in range(n)]
        cases = [({}, None), ({"reverse": True}, None), ({"key": abs}, None)]
        for kwargs, less in [*cases, ({}, operator.gt)]:
            items = list(data)
            tf = Taskflow()
            tf.sort(items, less=less, **kwargs) if less else tf.sort(items, **kwargs)
            executor.run(tf).result()
            if less is operator.gt:
                assert items == sorted(data, reverse=True)
            else:
                assert items == sorted(data, **kwargs)

    def test_sort_is_stable(self, executor):
        rng = random.Random(3)
        pairs = [(rng.randrange(10), i) for i in range(4000)]
        items = list(pairs)
        tf = Taskflow()
        tf.sort(items, key=operator.itemgetter(0), reverse=True)
        executor.run(tf).result()
        assert items == sorted(pairs, key=operator.itemgetter(0), reverse=True)

    def test_sort_of_data_filled_at_run_time(self, executor):
        items: list[int] = []
        tf = Taskflow()
        fill = tf.emplace(lambda: items.extend(random.Random(4).sample(range(9999), 3000)))
        fill.precede(tf.sort(items))
        executor.run(tf).result()
        assert items == sorted(items) and len(items) == 3000

    def test_sort_argument_errors(self):
        tf = Taskflow()
        with pytest.raises(GraphError, match="list"):
            tf.sort((3, 1, 2))
        with pytest.raises(GraphError, match="key= or less="):
            tf.sort([1], key=abs, less=operator.lt)


# -- property ------------------------------------------------------------------------------

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def index_ranges(draw):
    first = draw(st.integers(-300, 300))
    step = draw(st.integers(1, 20)) * draw(st.sampled_from([1, -1]))
    count = draw(st.integers(0, 400))
    if count == 0:
        return first, first, step
    overshoot = draw(st.integers(1, abs(step))) * (1 if step > 0 else -1)
    return first, first + step * (count - 1) + overshoot, step


@PROPERTY
@given(
    bounds=index_ranges(),
    kind=st.sampled_from(PARTITIONERS),
    chunk=st.integers(0, 40),
    workers=st.sampled_from([1, 2, 3, 4, 8]),
)
def test_property_every_index_is_visited_exactly_once(bounds, kind, chunk, workers):
    first, last, step = bounds
    visits: list[int] = []
    with Executor(workers=workers) as ex:
        tf = Taskflow()
        tf.for_each_index(first, last, step, visits.append, kind(chunk))
        ex.run(tf).result()
    assert sorted(visits) == sorted(range(first, last, step))


@PROPERTY
@given(n=st.integers(1, 3000), kind=st.sampled_from(PARTITIONERS), chunk=st.integers(0, 50))
def test_property_spans_partition_the_range(n, kind, chunk):
    for workers in [2, 3, 5, 8]:
        spans = _drain_interleaved(kind(chunk).spans(n, workers))
        assert sorted(i for b, e in spans for i in range(b, e)) == list(range(n))


def test_result_repr():
    assert repr(Result([1])) == "Result([1])"
