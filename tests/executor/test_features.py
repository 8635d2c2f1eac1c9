"""Subflow join/detach/retain, semaphores, run callbacks, corun and the smaller builder
calls, ported from Taskflow's test_subflows and test_semaphores where they exist, run
on every executor (see conftest.EXECUTORS)."""

from __future__ import annotations

import threading
import time

import pytest

from tfnn.executor import Executor, GraphError, Semaphore, TaskError, Taskflow

pytestmark = pytest.mark.timeout(60)


class TestSubflows:
    def test_joined_subflow_has_run_when_join_returns(self, executor):
        counts, after_join = [0], []
        lock = threading.Lock()

        def add():
            with lock:
                counts[0] += 1

        def spawn(sf):
            for _ in range(50):
                sf.emplace(add)
            sf.join()
            after_join.append(counts[0])

        tf = Taskflow()
        s = tf.subflow(spawn, name="S")
        s.precede(tf.emplace(lambda: after_join.append(counts[0])))
        executor.run(tf).result(timeout=30)
        assert after_join == [50, 50]

    def test_nested_joins(self, executor, record):
        def inner(sf):
            sf.emplace(record("leaf"))
            sf.join()
            record("inner-joined")()

        def outer(sf):
            sf.subflow(inner)
            sf.join()
            record("outer-joined")()

        tf = Taskflow()
        tf.subflow(outer)
        executor.run_n(tf, 2).result(timeout=30)
        assert record.order == ["leaf", "inner-joined", "outer-joined"] * 2

    def test_detached_subflow_runs_on_and_the_run_waits_for_it(self, executor):
        done, gate = [], threading.Event()

        def spawn(sf):
            sf.emplace(lambda: (gate.wait(5), done.append("child")))
            sf.detach()

        tf = Taskflow()
        s = tf.subflow(spawn, name="S")
        s.precede(tf.emplace(lambda: (done.append("after"), gate.set())))
        executor.run(tf).result(timeout=30)
        assert sorted(done) == ["after", "child"]
        if executor.num_workers > 1 or type(executor) is not Executor:
            assert done[0] == "after"  # the parent's successor did not wait for the child

    def test_nested_detached_subflows(self, executor):
        counts = [0]
        lock = threading.Lock()

        def add():
            with lock:
                counts[0] += 1

        def spawn(sf, depth=0):
            for _ in range(3):
                sf.emplace(add)
            if depth < 3:
                sf.subflow(lambda inner: spawn(inner, depth + 1))
            sf.detach()

        tf = Taskflow()
        tf.subflow(spawn)
        executor.run_n(tf, 3).result(timeout=30)
        assert counts == [3 * 4 * 3]

    def test_retained_subflow_is_kept_for_inspection_and_dump(self, executor):
        def spawn(sf, keep):
            a, b = sf.emplace(lambda: None, lambda: None)
            a.name, b.name = "child-a", "child-b"
            a.precede(b)
            sf.retain(keep)

        tf = Taskflow("retain")
        kept = tf.subflow(lambda sf: spawn(sf, True), name="kept")
        dropped = tf.subflow(lambda sf: spawn(sf, False), name="dropped")
        executor.run(tf).result(timeout=30)
        assert kept.retained_subflow is not None and dropped.retained_subflow is None
        assert [t.name for t in kept.retained_subflow.tasks] == ["child-a", "child-b"]
        dot = tf.dump()
        assert 'label="subflow kept"' in dot and '"child-a"' in dot
        with pytest.raises(GraphError, match="running"):
            kept.retained_subflow.emplace(lambda: None)

    @pytest.mark.parametrize("twice", [("join", "join"), ("detach", "join"), ("join", "detach")])
    def test_join_or_detach_once(self, executor, twice):
        tf = Taskflow()
        tf.subflow(lambda sf: [getattr(sf, call)() for call in twice], name="S")
        with pytest.raises(TaskError, match="already"):
            executor.run(tf).result(timeout=10)


class TestSemaphores:
    def test_acquire_in_one_task_release_in_its_successor(self, executor):
        # Taskflow's Semaphore test: pairs f -> t, f acquires and t releases one unit, so
        # at most one pair runs at a time and the unlocked counter stays exact.
        semaphore, counter = Semaphore(1), [0]

        def bump():
            value = counter[0]
            time.sleep(0)  # invite a thread switch inside the critical section
            counter[0] = value + 1

        tf = Taskflow()
        for _ in range(100):
            f, t = tf.emplace(bump, bump)
            f.precede(t)
            f.acquire(semaphore)
            t.release(semaphore)
        executor.run(tf).result(timeout=30)
        assert counter == [200]
        assert semaphore.value == 1

    def test_conflict_graph(self, executor):
        # Taskflow's ConflictGraph: A and B conflict, B and C conflict.
        ab, bc, counter = Semaphore(1), Semaphore(1), [0]
        tf = Taskflow()
        a, b, c = (tf.emplace(lambda: counter.__setitem__(0, counter[0] + 1)) for _ in "abc")
        a.acquire(ab).release(ab)
        b.acquire(ab, bc).release(ab, bc)
        c.acquire(bc).release(bc)
        executor.run_n(tf, 10).result(timeout=30)
        assert counter == [30]
        assert (ab.value, bc.value) == (1, 1)

    def test_at_most_n_run_at_once(self, executor):
        semaphore, lock = Semaphore(2), threading.Lock()
        running, most = [0], [0]

        def hold():
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.002)
            with lock:
                running[0] -= 1

        tf = Taskflow()
        for _ in range(12):
            tf.emplace(hold).acquire(semaphore).release(semaphore)
        executor.run(tf).result(timeout=30)
        assert 1 <= most[0] <= 2

    def test_a_failing_task_gives_its_unit_back(self, executor):
        semaphore = Semaphore(1)

        def boom():
            raise ValueError("inside")

        tf = Taskflow()
        tf.emplace(boom).acquire(semaphore).release(semaphore)
        with pytest.raises(TaskError):
            executor.run(tf).result(timeout=10)
        assert semaphore.value == 1

    def test_reset_frees_every_unit(self):
        semaphore = Semaphore(2)
        tf = Taskflow()
        tf.emplace(lambda: None).acquire(semaphore)  # acquires and never releases
        with Executor(workers=1) as ex:
            ex.run(tf).result(timeout=10)
        assert semaphore.value == 1
        semaphore.reset()
        assert semaphore.value == 2
        semaphore.reset(5)
        assert (semaphore.value, semaphore.max_concurrency) == (5, 5)

    @pytest.mark.parametrize("bad", [-1, 1.5, True])
    def test_bad_limit(self, bad):
        with pytest.raises(ValueError, match="max_concurrency"):
            Semaphore(bad)


class TestRunsAndBuilders:
    def test_run_callback_runs_before_the_future_is_done(self, executor):
        seen, futures = [], []
        tf = Taskflow()
        tf.emplace(lambda: seen.append("task"))
        futures.append(executor.run(tf, lambda: seen.append(any(f.done() for f in futures))))
        futures[0].result(timeout=10)
        executor.run_n(tf, 3, lambda: seen.append("n")).result(timeout=10)
        assert seen == ["task", False, "task", "task", "task", "n"]

    def test_failing_callback_is_reported(self, executor):
        tf = Taskflow()
        tf.emplace(lambda: None)
        with pytest.raises(ZeroDivisionError):
            executor.run(tf, lambda: 1 / 0).result(timeout=10)

    def test_emplace_a_taskflow_is_a_module_task(self, executor, record):
        inner = Taskflow("inner")
        inner.emplace(record("inner"))
        tf = Taskflow("outer")
        first, module = tf.emplace(record("first"), inner)
        first.precede(module)
        assert module.module is inner and module.name == "inner"
        executor.run(tf).result(timeout=10)
        assert record.order == ["first", "inner"]

    def test_linearize(self, executor, record):
        tf = Taskflow()
        tasks = [tf.emplace(record(str(i))) for i in range(6)]
        tf.linearize(list(reversed(tasks)))
        executor.run(tf).result(timeout=10)
        assert record.order == [str(i) for i in reversed(range(6))]

    def test_remove_successors(self, executor, record):
        tf = Taskflow()
        a, b, c = (tf.emplace(record(n), name=n) for n in "abc")
        a.precede(b, c)
        b.precede(c)
        a.remove_successors(c)
        assert a.successors == [b] and c.predecessors == [b]
        executor.run(tf).result(timeout=10)
        assert record.order == ["a", "b", "c"]

    def test_corun_a_taskflow_inside_a_task(self, executor, record):
        inner = Taskflow("inner")
        x, y = inner.emplace(record("x"), record("y"))
        x.precede(y)
        tf = Taskflow("outer")
        a = tf.emplace(lambda: executor.corun(inner), name="a")
        a.precede(tf.emplace(record("after")))
        executor.run(tf).result(timeout=10)
        assert record.order == ["x", "y", "after"]

    def test_corun_until_inside_a_task(self, executor):
        done = []
        tf = Taskflow()

        def waits():
            futures = [executor.async_(lambda i=i: i * i) for i in range(10)]
            executor.corun_until(lambda: all(f.done() for f in futures))
            done.append(sum(f.result() for f in futures))

        tf.emplace(waits)
        executor.run(tf).result(timeout=10)
        assert done == [285]

    def test_corun_until_off_the_executor_is_refused(self, executor):
        with pytest.raises(RuntimeError, match="inside a task"):
            executor.corun_until(lambda: True)
