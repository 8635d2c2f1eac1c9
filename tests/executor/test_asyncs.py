"""Async and dependent-async tasks, ported from Taskflow's test_asyncs and
test_dependent_asyncs (sizes scaled down), run on every executor; a hypothesis property
over random dependent-async graphs."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfnn.executor import AsyncTask, Executor, SyncExecutor, Taskflow

pytestmark = pytest.mark.timeout(60)

N = 2000


class Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


class TestAsyncs:
    def test_async(self, executor):
        counter = Counter()

        def work():
            counter.add()
            return -2

        futures = [executor.async_(work) for _ in range(N // 2)]
        futures += [executor.submit(work) for _ in range(N // 2)]
        executor.wait_for_all()
        assert counter.value == N
        assert sum(f.result() for f in futures) == -2 * N

    def test_async_passes_arguments_and_keywords(self, executor):
        assert executor.async_(pow, 2, 10).result(timeout=10) == 1024
        assert executor.async_(int, "ff", base=16).result(timeout=10) == 255

    def test_nested_async(self, executor):
        counter = Counter()

        def level(depth):
            counter.add()
            if depth < 3:
                executor.async_(level, depth + 1)
            return -2

        futures = [executor.async_(level, 0) for _ in range(N // 4)]
        executor.wait_for_all()
        assert counter.value == 4 * (N // 4)
        assert sum(f.result() for f in futures) == -2 * (N // 4)

    def test_mixed_async(self, executor):
        # Taskflow's MixedAsync: diamonds of tasks that each launch an async task.
        counter = Counter()
        tf = Taskflow("mixed")
        for _ in range(N // 8):
            a, b, c, d = tf.emplace(
                lambda: executor.async_(counter.add),
                lambda: executor.async_(counter.add),
                lambda: executor.silent_async(counter.add),
                lambda: executor.silent_async(counter.add),
            )
            a.precede(b, c)
            d.succeed(b, c)
        executor.run(tf)
        executor.wait_for_all()
        assert counter.value == 4 * (N // 8)

    def test_async_error_is_raised_by_result(self, executor):
        def boom():
            raise KeyError("async")

        future = executor.async_(boom)
        with pytest.raises(KeyError, match="async"):
            future.result(timeout=10)
        assert isinstance(future.exception(), KeyError)
        executor.wait_for_all()  # the error belongs to the future, not to wait_for_all

    def test_silent_async_error_is_raised_by_wait_for_all(self, executor):
        def boom():
            raise KeyError("silent")

        executor.silent_async(boom)
        with pytest.raises(KeyError, match="silent"):
            executor.wait_for_all()
        executor.wait_for_all()  # reported once

    def test_result_inside_a_task_runs_other_work_meanwhile(self, executor):
        seen = []
        tf = Taskflow()
        tf.emplace(lambda: seen.append(executor.async_(lambda: 41 + 1).result(timeout=10)))
        executor.run(tf).result(timeout=10)
        assert seen == [42]

    def test_this_worker_id(self, executor):
        ids = []
        tf = Taskflow()
        for _ in range(20):
            tf.emplace(lambda: ids.append(executor.this_worker_id()))
        executor.run(tf).result(timeout=10)
        assert executor.this_worker_id() == -1
        assert all(0 <= i < executor.num_workers for i in ids)
        assert executor.async_(executor.this_worker_id).result(timeout=10) >= 0


@pytest.mark.parametrize("executors", [1, 2, 4])
def test_mixed_executor_async_worker_ids(executors):
    # Taskflow's MixedExecutorAsync: a task knows its own executor's worker id and is
    # -1 on every other executor.
    pool = [Executor(workers=2) for _ in range(executors)]
    bad = []

    def check(i):
        for j, ex in enumerate(pool):
            if (ex.this_worker_id() != -1) != (i == j):
                bad.append((i, j))

    try:
        for k in range(200):
            i = k % executors
            pool[i].async_(
                lambda i=i, k=k: (check(i), pool[k % executors].silent_async(check, k % executors))
            )
        for ex in pool:
            ex.wait_for_all()
        for ex in pool:  # the nested ones may land after their parent's wait
            ex.wait_for_all()
    finally:
        for ex in pool:
            ex.shutdown()
    assert bad == []


class TestDependentAsyncs:
    def test_embarrassing_parallelism(self, executor):
        counter = Counter()
        for i in range(N // 2):
            executor.silent_dependent_async(counter.add, name=str(i))
        for i in range(N // 2):
            executor.dependent_async(counter.add, name=str(i))
        executor.wait_for_all()
        assert counter.value == N

    def test_linear_chain(self, executor):
        results = [0] * N
        previous: tuple[AsyncTask, ...] = ()
        for i in range(N):

            def step(i=i):
                results[i] = (results[i - 1] if i else 0) + i + (1 if i == 0 else 0)

            previous = (executor.silent_dependent_async(step, *previous, name=str(i)),)
        executor.wait_for_all()
        assert results[0] == 1
        assert all(results[i] == results[i - 1] + i for i in range(1, N))

    def test_simple_graph(self, executor):
        #    |--> 1   |--> 4
        # 0 ----> 2 -----> 5
        #    |--> 3   |--> 6
        for k in range(20):
            r = _simple_graph(executor, k)
            assert r[0] == 100 + k
            assert r[1:4] == [r[0] * 6 + k, r[0] - 200 + k, r[0] // 9 + k]
            assert r[4:] == [r[2] + 66 + k, r[2] - 999 + k, r[2] * 9 // 13 + k]

    def test_futures_of_a_graph(self, executor):
        # Taskflow's SimpleGraph2, shortened: futures of inner tasks are ready once the
        # last task's future is.
        r = [0] * 6
        t0 = executor.silent_dependent_async(lambda: r.__setitem__(0, 100))
        t1 = executor.silent_dependent_async(lambda: r.__setitem__(1, 6))
        t2 = executor.silent_dependent_async(lambda: r.__setitem__(2, r[0] + r[1]), t0, t1)
        t3, f3 = executor.dependent_async(lambda: r[2] + 1, t2)
        t4, f4 = executor.dependent_async(lambda: r[2] + 2, t2)
        t5, f5 = executor.dependent_async(lambda: f3.result() + f4.result(), t3, t4, t0)
        assert f5.result(timeout=10) == 106 + 1 + 106 + 2
        assert f3.done() and f4.done() and t3.done() and t4.done()
        assert (f3.result(), f4.result()) == (107, 108)

    def test_complex_graph(self, executor):
        # Taskflow's ComplexGraph at 1 -> 10 -> 10 x 10 -> 10 -> 1.
        values: dict[str, int] = {}
        root = executor.silent_dependent_async(lambda: values.__setitem__("0", 1))
        level1 = [
            executor.silent_dependent_async(
                lambda i=i: values.__setitem__(f"1.{i}", values["0"] + i), root
            )
            for i in range(10)
        ]
        level2 = [
            [
                executor.silent_dependent_async(
                    lambda i=i, j=j: values.__setitem__(f"2.{i}.{j}", values[f"1.{i}"] + j),
                    level1[i],
                )
                for j in range(10)
            ]
            for i in range(10)
        ]
        level3 = [
            executor.silent_dependent_async(
                lambda i=i: values.__setitem__(
                    f"3.{i}", sum(values[f"2.{i}.{j}"] for j in range(10))
                ),
                *level2[i],
            )
            for i in range(10)
        ]
        _, total = executor.dependent_async(
            lambda: sum(values[f"3.{i}"] for i in range(10)), *level3
        )
        expected = sum(10 * (1 + i) + 45 for i in range(10))
        assert total.result(timeout=30) == expected

    def test_after_must_name_async_tasks(self, executor):
        with pytest.raises(TypeError, match="AsyncTask"):
            executor.dependent_async(lambda: None, "not a task")
        executor.wait_for_all()


def _simple_graph(executor, k):
    r = [0] * 7

    def put(i, fn):
        return lambda: r.__setitem__(i, fn())

    t0 = executor.silent_dependent_async(put(0, lambda: 100 + k))
    executor.silent_dependent_async(put(1, lambda: r[0] * 6 + k), t0)
    t2 = executor.silent_dependent_async(put(2, lambda: r[0] - 200 + k), t0)
    executor.silent_dependent_async(put(3, lambda: r[0] // 9 + k), t0)
    executor.silent_dependent_async(put(4, lambda: r[2] + 66 + k), t2)
    executor.silent_dependent_async(put(5, lambda: r[2] - 999 + k), t2)
    executor.silent_dependent_async(put(6, lambda: r[2] * 9 // 13 + k), t2)
    executor.wait_for_all()
    return r


@st.composite
def async_dags(draw):
    n = draw(st.integers(1, 30))
    after = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=min(i, 4)))) if i else []
        for i in range(n)
    ]
    return after


@pytest.mark.parametrize("workers", [None, 1, 2, 4])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(after=async_dags())
def test_random_dependent_async_graphs_run_each_task_once_after_its_dependencies(workers, after):
    order: list[int] = []
    lock = threading.Lock()

    def body(i):
        def run():
            with lock:
                assert i not in order, f"task {i} ran twice"
                order.append(i)

        return run

    executor = SyncExecutor() if workers is None else Executor(workers=workers)
    try:
        tasks: list[AsyncTask] = []
        for i, deps in enumerate(after):
            tasks.append(executor.silent_dependent_async(body(i), *(tasks[d] for d in deps)))
        executor.wait_for_all()
    finally:
        executor.shutdown()
    assert sorted(order) == list(range(len(after)))
    position = {t: k for k, t in enumerate(order)}
    for i, deps in enumerate(after):
        assert all(position[d] < position[i] for d in deps)
    assert all(t.done() for t in tasks)
