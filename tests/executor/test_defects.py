"""Defects found by porting Taskflow's own tests (issue 15) and by misuse (issue 11).

Each test here failed (hung, crashed a worker, or raised the wrong error) before the fix.
"""

from __future__ import annotations

import threading

import pytest

from tfnn.executor import Executor, GraphError, SyncExecutor, TaskError, Taskflow
from tfnn.executor.executor import MAX_WORKERS

pytestmark = pytest.mark.timeout(60)


def _nested_chain(depth: int, reached: list[int]) -> Taskflow:
    """A subflow that spawns a subflow that spawns ... ``depth`` levels deep."""

    def level(sf, i=0):
        reached.append(i)
        if i + 1 < depth:
            sf.subflow(lambda inner: level(inner, i + 1), name=f"level-{i + 1}")

    tf = Taskflow("nested")
    tf.subflow(level, name="level-0")
    return tf


class _Node:
    def __init__(self, index: int) -> None:
        self.index = index
        self.level = 0
        self.visited = False
        self.dependents = 0
        self.successors: list[_Node] = []


def _make_dag(num_nodes: int, max_degree: int) -> list[_Node]:
    """Taskflow's ``make_dag``: node i precedes up to ``max_degree`` odd nodes after it."""
    nodes = [_Node(i) for i in range(num_nodes)]
    for i, node in enumerate(nodes):
        for j in range(i + 1, num_nodes):
            if len(node.successors) == max_degree:
                break
            if j % 2 == 1:
                node.successors.append(nodes[j])
                nodes[j].dependents += 1
    return nodes


class TestDefects:
    def test_deeply_nested_subflows_unwind_without_recursion(self, executor):
        reached: list[int] = []
        executor.run(_nested_chain(600, reached)).result(timeout=30)
        assert reached == list(range(600))

    def test_dynamic_traversal(self, executor):
        # Taskflow's test_traversals DynamicTraversal: each visit spawns, in its subflow,
        # a visit of every successor whose last dependency it was (about 500 deep).
        nodes = _make_dag(1000, 4)
        lock = threading.Lock()
        level = [0]

        def traverse(node, sf):
            assert not node.visited
            node.visited = True
            for s in node.successors:
                with lock:
                    s.dependents -= 1
                    last = s.dependents == 0
                    if last:
                        level[0] += 1
                        s.level = level[0]
                if last:
                    sf.subflow(lambda inner, s=s: traverse(s, inner))

        tf = Taskflow("dynamic-traversal")
        for node in nodes:
            if node.dependents == 0:
                tf.subflow(lambda sf, node=node: traverse(node, sf))
        executor.run(tf).result(timeout=30)
        for node in nodes:
            assert node.visited and node.dependents == 0
            assert all(node.level < s.level for s in node.successors)

    def test_join_counter_is_restored_when_the_task_runs(self, executor, record):
        #   S -> P1 -> X -> C2 --0--> P2 -> X
        #        P1 -> C1 --0--> X
        # C1 schedules X (weak edge); X's counter is restored to 2 when X runs, so P2
        # leaves it at 1 and X runs once, as in Taskflow.
        tf = Taskflow("restore")
        s, p1, x, p2 = (tf.emplace(record(n), name=n) for n in ("S", "P1", "X", "P2"))
        c1 = tf.condition(lambda: 0, name="C1")
        c2 = tf.condition(lambda: 0, name="C2")
        s.precede(p1)
        p1.precede(x, c1)
        c1.precede(x)
        x.precede(c2)
        c2.precede(p2)
        p2.precede(x)
        executor.run(tf).result(timeout=10)
        assert record.order.count("X") == 1
        assert record.order[-1] == "P2"

    def test_run_until_on_an_empty_graph_returns_at_once(self, executor):
        executor.run_until(Taskflow(), lambda: False).result(timeout=5)
        executor.run_n(Taskflow(), 3).result(timeout=5)

    def test_a_graph_without_sources_finishes_instead_of_spinning(self, executor):
        tf = Taskflow()
        a = tf.emplace(lambda: None)
        cond = tf.condition(lambda: 0)
        a.precede(cond)
        cond.precede(a)
        executor.run_until(tf, lambda: False).result(timeout=5)


def test_an_internal_error_fails_the_run_and_the_executor_stays_usable(monkeypatch):
    from tfnn.executor import scheduler

    broken = [True]
    original = scheduler.release

    def release(task):
        if broken[0] and task.name == "victim":
            broken[0] = False
            raise AssertionError("scheduler bug")
        return original(task)

    monkeypatch.setattr(scheduler, "release", release)
    tf = Taskflow()
    tf.subflow(lambda sf: sf.emplace(lambda: None), name="victim").precede(tf.emplace(print))
    with Executor(workers=1) as ex:
        with pytest.raises(AssertionError, match="scheduler bug"):
            ex.run(tf).result(timeout=10)
        ok = Taskflow()
        ok.emplace(lambda: None)
        ex.run(ok).result(timeout=10)


class TestMisuse:
    def test_one_taskflow_on_two_executors_shuts_both_down(self):
        gate = threading.Event()
        runs = []
        tf = Taskflow()
        tf.emplace(lambda: (gate.wait(5), runs.append(1)))
        first, second = Executor(workers=1), Executor(workers=1)
        f1, f2 = first.run(tf), second.run(tf)
        gate.set()
        f1.result(timeout=10)
        f2.result(timeout=10)
        done = threading.Event()

        def close():
            first.shutdown()
            second.shutdown()
            done.set()

        threading.Thread(target=close, daemon=True).start()
        assert done.wait(10), "the second executor's shutdown() hung"
        assert runs == [1, 1]

    def test_adding_to_a_running_taskflow_is_refused_at_the_call(self, executor):
        tf = Taskflow("busy")
        seen: list[BaseException] = []

        def grow():
            try:
                tf.emplace(lambda: None, name="late")
            except GraphError as e:
                seen.append(e)

        a = tf.emplace(grow, name="grow")
        b = tf.emplace(lambda: None, name="b")

        def link():
            try:
                a.precede(b)
            except GraphError as e:
                seen.append(e)

        tf.emplace(link)
        executor.run(tf).result(timeout=10)
        assert len(seen) == 2 and all("running" in str(e) for e in seen)
        assert tf.num_tasks() == 3

    def test_shutdown_inside_a_task_raises(self, executor):
        tf = Taskflow()
        tf.emplace(executor.shutdown, name="closer")
        with pytest.raises(TaskError, match="from inside a task"):
            executor.run(tf).result(timeout=10)

    def test_wait_for_all_inside_a_task_raises(self, executor):
        tf = Taskflow()
        tf.emplace(executor.wait_for_all, name="waiter")
        with pytest.raises(TaskError, match="from inside a task"):
            executor.run(tf).result(timeout=10)

    def test_result_of_another_run_inside_a_task_does_not_deadlock(self, executor):
        inner = Taskflow("inner")
        inner.emplace(lambda: None)
        ran = []
        tf = Taskflow("outer")
        tf.emplace(lambda: (executor.run(inner).result(timeout=10), ran.append(1)))
        executor.run(tf).result(timeout=10)
        assert ran == [1]

    def test_waiting_inside_a_task_for_a_run_of_its_own_taskflow_raises(self, executor):
        tf = Taskflow("self")
        first = [True]

        def wait_for_self():
            if first.pop() if first else False:
                executor.run(tf).result(timeout=10)

        tf.emplace(wait_for_self, name="self-wait")
        with pytest.raises(TaskError, match="its own Taskflow"):
            executor.run(tf).result(timeout=10)
        executor.wait_for_all()  # the queued run runs afterwards, and waits for nothing

    def test_absurd_worker_count_is_refused(self):
        with pytest.raises(ValueError, match="at most"):
            Executor(workers=99_999_999)
        with pytest.raises(ValueError, match="at most"):
            Executor(workers=MAX_WORKERS + 1)


def test_sync_executor_refuses_shutdown_from_a_task():
    ex = SyncExecutor()
    tf = Taskflow()
    tf.emplace(ex.shutdown)
    with pytest.raises(TaskError, match="from inside a task"):
        ex.run(tf).result()
