"""Exceptions, cancellation, bad use and Taskflow's documented pitfalls."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tfnn.executor import CancelledError, Executor, GraphError, TaskError, Taskflow

pytestmark = pytest.mark.timeout(30)


def _boom():
    raise ValueError("boom")


class TestExceptions:
    def test_result_names_the_task_and_keeps_the_cause(self, executor):
        tf = Taskflow("faulty")
        a = tf.emplace(lambda: None, name="ok")
        b = tf.emplace(_boom, name="exploder")
        a.precede(b)
        with pytest.raises(TaskError, match="'exploder'") as info:
            executor.run(tf).result()
        assert isinstance(info.value.__cause__, ValueError)
        assert info.value.task == "exploder"

    def test_first_exception_cancels_the_rest(self, executor):
        ran = []
        tf = Taskflow()
        first = tf.emplace(_boom, name="first")
        chain = [tf.emplace(lambda i=i: ran.append(i)) for i in range(20)]
        first.precede(chain[0])
        for x, y in itertools.pairwise(chain):
            x.precede(y)
        with pytest.raises(TaskError):
            executor.run(tf).result()
        assert ran == []

    def test_executor_and_taskflow_stay_usable(self, executor):
        fail = [True]
        runs = []

        def maybe():
            if fail[0]:
                raise RuntimeError("once")
            runs.append(1)

        tf = Taskflow()
        a, b = tf.emplace(maybe, lambda: runs.append(2))
        a.precede(b)
        with pytest.raises(TaskError):
            executor.run(tf).result()
        fail[0] = False
        executor.run(tf).result()
        assert runs == [1, 2]

    def test_failure_inside_subflow_and_module(self, executor):
        tf = Taskflow()
        tf.subflow(lambda sf: sf.emplace(_boom, name="inner"), name="S")
        with pytest.raises(TaskError, match="'inner'"):
            executor.run(tf).result()
        module = Taskflow("m")
        module.emplace(_boom, name="in-module")
        outer = Taskflow()
        outer.composed_of(module)
        with pytest.raises(TaskError, match="'in-module'"):
            executor.run(outer).result()
        with pytest.raises(TaskError, match="'in-module'"):
            executor.run(outer).result()

    def test_failing_predicate_is_reported(self, executor):
        tf = Taskflow()
        tf.emplace(lambda: None)

        def predicate():
            raise KeyError("pred")

        with pytest.raises(KeyError):
            executor.run_until(tf, predicate).result()

    def test_condition_returning_non_integer_names_the_task(self, executor):
        tf = Taskflow()
        cond = tf.condition(lambda: "left", name="chooser")
        cond.precede(tf.emplace(lambda: None))
        with pytest.raises(TaskError, match="'chooser'") as info:
            executor.run(tf).result()
        assert "integer index" in str(info.value)

    def test_multi_condition_returning_non_list(self, executor):
        tf = Taskflow()
        m = tf.multi_condition(lambda: 3, name="mc")
        m.precede(tf.emplace(lambda: None))
        with pytest.raises(TaskError, match="'mc'"):
            executor.run(tf).result()


class TestCancellation:
    def test_cancel_is_cooperative(self):
        started, release = threading.Event(), threading.Event()
        after = []
        tf = Taskflow()
        a = tf.emplace(lambda: (started.set(), release.wait(5)), name="running")
        b = tf.emplace(lambda: after.append("b"), name="never")
        a.precede(b)
        with Executor(workers=2) as ex:
            future = ex.run(tf)
            assert started.wait(5)
            assert future.cancel()
            release.set()
            with pytest.raises(CancelledError):
                future.result(timeout=5)
            assert after == []
            assert not future.cancel()
            ex.run(tf).result(timeout=5)
            assert after == ["b"]

    def test_cancel_a_queued_run(self):
        release = threading.Event()
        runs = []
        tf = Taskflow()
        tf.emplace(lambda: (release.wait(5), runs.append(1)))
        with Executor(workers=2) as ex:
            first = ex.run(tf)
            queued = ex.run(tf)
            queued.cancel()
            release.set()
            first.result(timeout=5)
            with pytest.raises(CancelledError):
                queued.result(timeout=5)
            assert runs == [1]

    def test_cancel_stops_an_endless_loop(self):
        tf = Taskflow()
        start = tf.emplace(lambda: None, name="start")
        body = tf.emplace(lambda: time.sleep(0.0001), name="body")
        loop = tf.condition(lambda: 0, name="forever")
        start.precede(body)
        body.precede(loop)
        loop.precede(body)
        with Executor(workers=2) as ex:
            future = ex.run(tf)
            time.sleep(0.05)
            future.cancel()
            with pytest.raises(CancelledError):
                future.result(timeout=5)


class TestBadUse:
    def test_precede_across_taskflows(self):
        a = Taskflow("one").emplace(lambda: None, name="a")
        b = Taskflow("two").emplace(lambda: None, name="b")
        with pytest.raises(GraphError, match="composed_of"):
            a.precede(b)

    @pytest.mark.parametrize("workers", [0, -1, 1.5, True])
    def test_bad_worker_count(self, workers):
        with pytest.raises(ValueError, match="workers >= 1"):
            Executor(workers=workers)

    def test_bad_run_arguments(self, executor):
        with pytest.raises(TypeError, match="Taskflow"):
            executor.run(lambda: None)
        with pytest.raises(ValueError, match="count >= 0"):
            executor.run_n(Taskflow(), -1)

    def test_non_callable_task(self):
        with pytest.raises(GraphError, match="callable"):
            Taskflow().emplace(42)

    def test_module_of_itself(self):
        tf = Taskflow("self")
        with pytest.raises(GraphError, match="module of itself"):
            tf.composed_of(tf)

    def test_module_running_twice_at_once_is_an_error(self):
        gate = threading.Event()
        module = Taskflow("shared")
        module.emplace(lambda: gate.wait(2))
        tf = Taskflow()
        tf.composed_of(module, name="m1")
        tf.composed_of(module, name="m2")
        with Executor(workers=2) as ex:
            future = ex.run(tf)
            time.sleep(0.05)
            gate.set()
            with pytest.raises(TaskError, match="already running"):
                future.result(timeout=5)

    def test_initializer_fails_loudly_at_construction(self):
        def broken():
            raise ValueError("no such setting")

        before = threading.active_count()
        with pytest.raises(RuntimeError, match="initializer") as info:
            Executor(workers=2, initializer=broken)
        assert isinstance(info.value.__cause__, ValueError)
        assert threading.active_count() == before

    def test_shut_down_executor_refuses_runs(self):
        ex = Executor(workers=1)
        ex.shutdown()
        with pytest.raises(RuntimeError, match="shut down"):
            ex.run(Taskflow())


class TestPitfalls:
    def test_no_source_task_runs_nothing_and_is_reported(self, executor, record):
        tf = Taskflow("sourceless")
        a = tf.emplace(record("a"), name="a")
        cond = tf.condition(lambda: 0, name="cond")
        a.precede(cond)
        cond.precede(a)
        executor.run(tf).result()
        assert record.order == []
        assert any("no source" in p for p in tf.check())

    def test_strong_back_edge_is_detected_before_it_deadlocks(self, executor, record):
        #   init -> a -> b -> a  (strong back-edge: a and b wait on each other)
        tf = Taskflow("deadlock")
        init = tf.emplace(record("init"), name="init")
        a = tf.emplace(record("a"), name="a")
        b = tf.emplace(record("b"), name="b")
        init.precede(a)
        a.precede(b)
        b.precede(a)
        with pytest.raises(GraphError, match=r"strong cycle (a -> b -> a|b -> a -> b)"):
            executor.run(tf).result()
        assert record.order == []
        assert any("strong cycle" in p for p in tf.check())

    def test_switch_cases_that_are_not_conditions_never_join(self, executor, record):
        # Taskflow's pitfall: static cases joined with strong edges; only one case runs,
        # so the join's counter never empties and the join task never runs.
        tf = Taskflow("bad-switch")
        switch = tf.condition(lambda: 1, name="switch")
        cases = [tf.emplace(record(f"case{i}"), name=f"case{i}") for i in range(3)]
        join = tf.emplace(record("join"), name="join")
        switch.precede(*cases)
        join.succeed(*cases)
        executor.run(tf).result()
        assert record.order == ["case1"]
        assert any("condition cases" in p and "'join'" in p for p in tf.check())

    def test_clean_graph_has_no_pitfalls(self):
        tf = Taskflow()
        a, b = tf.emplace(lambda: None, lambda: None)
        a.precede(b)
        assert tf.check() == []
