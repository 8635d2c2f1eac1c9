"""Taskflow's cookbook cases, run on every executor (see conftest.EXECUTORS)."""

from __future__ import annotations

import threading

import pytest

from tfnn.executor import Executor, SyncExecutor, Taskflow

pytestmark = pytest.mark.timeout(30)


class TestConformance:
    def test_static_dag_respects_edges(self, executor, record):
        #   A -> B -> D
        #   A -> C -> D
        tf = Taskflow("diamond")
        a, b, c, d = (tf.emplace(record(n), name=n) for n in "ABCD")
        a.precede(b, c)
        d.succeed(b, c)
        executor.run(tf).result()
        assert record.order[0] == "A" and record.order[-1] == "D"
        assert sorted(record.order[1:3]) == ["B", "C"]

    def test_emplace_several_returns_tuple(self, executor, record):
        tf = Taskflow()
        tasks = tf.emplace(record("x"), record("y"), record("z"))
        assert isinstance(tasks, tuple) and len(tasks) == 3
        executor.run(tf).result()
        assert sorted(record.order) == ["x", "y", "z"]

    def test_do_while_counts_to_n(self, executor):
        #   init -> body -> cond --0--> body
        #                        --1--> done
        n, counter, done = 50, [0], []
        tf = Taskflow("do-while")
        init = tf.emplace(lambda: counter.__setitem__(0, 0), name="init")
        body = tf.emplace(lambda: counter.__setitem__(0, counter[0] + 1), name="body")
        cond = tf.condition(lambda: 0 if counter[0] < n else 1, name="cond")
        stop = tf.emplace(lambda: done.append(counter[0]), name="done")
        init.precede(body)
        body.precede(cond)
        cond.precede(body, stop)
        executor.run(tf).result()
        assert done == [n]

    @pytest.mark.parametrize(("limit", "expected"), [(0, 0), (7, 7)])
    def test_while_loop_may_run_zero_times(self, executor, limit, expected):
        #   init -> cond --0--> body -> back --0--> cond ; cond --1--> done
        i, body_runs = [0], [0]
        tf = Taskflow("while")
        init = tf.emplace(lambda: i.__setitem__(0, 0), name="init")
        cond = tf.condition(lambda: 0 if i[0] < limit else 1, name="cond")

        def step():
            body_runs[0] += 1
            i[0] += 1

        body = tf.emplace(step, name="body")
        back = tf.condition(lambda: 0, name="back")
        done = tf.placeholder(name="done")
        init.precede(cond)
        cond.precede(body, done)
        body.precede(back)
        back.precede(cond)
        executor.run(tf).result()
        assert body_runs == [expected]

    @pytest.mark.parametrize("branch", [0, 1])
    def test_if_else(self, executor, record, branch):
        tf = Taskflow("if-else")
        cond = tf.condition(lambda: branch, name="cond")
        yes, no = tf.emplace(record("yes"), name="yes"), tf.emplace(record("no"), name="no")
        after = tf.emplace(record("after"), name="after")
        cond.precede(yes, no)
        # cases join with weak edges: each case is a condition returning 0
        yes_join = tf.condition(lambda: 0, name="yes-join")
        no_join = tf.condition(lambda: 0, name="no-join")
        yes.precede(yes_join)
        no.precede(no_join)
        yes_join.precede(after)
        no_join.precede(after)
        executor.run(tf).result()
        assert record.order == [["yes", "no"][branch], "after"]

    @pytest.mark.parametrize("case", [0, 1, 2, 7])
    def test_switch(self, executor, record, case):
        #   source -> switch --i--> case_i --0--> target
        tf = Taskflow("switch")
        source = tf.emplace(record("source"), name="source")
        switch = tf.condition(lambda: case, name="switch")
        target = tf.emplace(record("target"), name="target")
        source.precede(switch)
        for i in range(3):

            def body(i=i):
                record(f"case{i}")()
                return 0

            switch.precede(tf.condition(body, name=f"case{i}"))
        for c in switch.successors:
            c.precede(target)
        executor.run(tf).result()
        expected = ["source", f"case{case}", "target"] if case < 3 else ["source"]
        assert record.order == expected

    def test_nested_loops(self, executor):
        #   outer loop of 4, inner loop of 3: inner body runs 12 times
        i, j, inner_runs = [0], [0], [0]
        tf = Taskflow("nested")
        init = tf.emplace(lambda: i.__setitem__(0, 0), name="init")
        inner_init = tf.emplace(lambda: j.__setitem__(0, 0), name="inner-init")

        def inner():
            inner_runs[0] += 1
            j[0] += 1

        inner_body = tf.emplace(inner, name="inner-body")
        inner_cond = tf.condition(lambda: 0 if j[0] < 3 else 1, name="inner-cond")
        outer_step = tf.emplace(lambda: i.__setitem__(0, i[0] + 1), name="outer-step")
        outer_cond = tf.condition(lambda: 0 if i[0] < 4 else 1, name="outer-cond")
        done = tf.placeholder(name="done")
        init.precede(inner_init)
        inner_init.precede(inner_body)
        inner_body.precede(inner_cond)
        inner_cond.precede(inner_body, outer_step)
        outer_step.precede(outer_cond)
        outer_cond.precede(inner_init, done)
        executor.run(tf).result()
        assert (i[0], inner_runs[0]) == (4, 12)

    def test_multi_condition_fans_out(self, executor, record):
        tf = Taskflow("multi")
        m = tf.multi_condition(lambda: [0, 2, 9], name="m")
        a, b, c = (tf.emplace(record(n), name=n) for n in "abc")
        m.precede(a, b, c)
        executor.run(tf).result()
        assert sorted(record.order) == ["a", "c"]

    def test_out_of_range_condition_runs_nothing(self, executor, record):
        tf = Taskflow()
        cond = tf.condition(lambda: 5, name="cond")
        cond.precede(tf.emplace(record("a")), tf.emplace(record("b")))
        executor.run(tf).result()
        assert record.order == []

    def test_subflow_joins_before_successors(self, executor, record):
        #   A -> S{ s1 -> s2, s3, nested{n1} } -> B
        def spawn(sf):
            s1 = sf.emplace(record("s1"), name="s1")
            s2 = sf.emplace(record("s2"), name="s2")
            s1.precede(s2)
            sf.emplace(record("s3"), name="s3")
            sf.subflow(lambda inner: inner.emplace(record("n1"), name="n1"), name="nested")

        tf = Taskflow("subflow")
        a = tf.emplace(record("A"), name="A")
        s = tf.subflow(spawn, name="S")
        b = tf.emplace(record("B"), name="B")
        a.precede(s)
        s.precede(b)
        executor.run(tf).result()
        assert record.order[0] == "A" and record.order[-1] == "B"
        assert sorted(record.order[1:-1]) == ["n1", "s1", "s2", "s3"]
        assert record.order.index("s1") < record.order.index("s2")

    def test_subflow_is_rebuilt_each_run(self, executor, record):
        tf = Taskflow()
        tf.subflow(lambda sf: sf.emplace(record("child")), name="S")
        executor.run_n(tf, 3).result()
        assert record.order == ["child"] * 3

    def test_empty_subflow_still_releases_successors(self, executor, record):
        tf = Taskflow()
        s = tf.subflow(lambda sf: None, name="S")
        s.precede(tf.emplace(record("after")))
        executor.run(tf).result()
        assert record.order == ["after"]

    def test_module_reused_twice(self, executor, record):
        module = Taskflow("module")
        m1, m2 = module.emplace(record("m1"), record("m2"))
        m1.precede(m2)
        tf = Taskflow("outer")
        first = tf.composed_of(module, name="first")
        second = tf.composed_of(module, name="second")
        end = tf.emplace(record("end"), name="end")
        first.precede(second)
        second.precede(end)
        executor.run(tf).result()
        assert record.order == ["m1", "m2", "m1", "m2", "end"]

    def test_run_n_counts_runs(self, executor):
        runs = [0]
        tf = Taskflow()
        tf.emplace(lambda: runs.__setitem__(0, runs[0] + 1))
        executor.run_n(tf, 17).result()
        executor.run_n(tf, 0).result()
        assert runs == [17]

    def test_run_until_predicate(self, executor):
        runs = [0]
        tf = Taskflow()
        tf.emplace(lambda: runs.__setitem__(0, runs[0] + 1))
        executor.run_until(tf, lambda: runs[0] >= 5).result()
        assert runs == [5]

    def test_runs_of_a_busy_taskflow_queue_in_order(self, executor):
        gate = threading.Event()
        if isinstance(executor, SyncExecutor):
            gate.set()  # the reference runs each run to its end inside run()
        log = []
        tf = Taskflow()
        tf.emplace(lambda: (gate.wait(5), log.append("run")))
        other = Taskflow()
        other.emplace(lambda: log.append("other"))
        first = executor.run(tf)
        second = executor.run(tf)
        gate.set()
        first.result(timeout=10)
        second.result(timeout=10)
        executor.run(other).result()
        assert log == ["run", "run", "other"]

    def test_wait_for_all(self, executor):
        runs = [0]
        tf = Taskflow()
        tf.emplace(lambda: runs.__setitem__(0, runs[0] + 1))
        futures = [executor.run(tf) for _ in range(5)]
        executor.wait_for_all()
        assert all(f.done() for f in futures) and runs == [5]

    def test_placeholder_takes_work_later(self, executor, record):
        tf = Taskflow()
        p = tf.placeholder(name="p")
        p.work = record("filled")
        executor.run(tf).result()
        assert record.order == ["filled"]

    def test_task_options_are_kept(self):
        tf = Taskflow()
        t = tf.emplace(lambda: None, name="gpu-task", device="cuda:0", data={"layer": 2})
        assert (t.name, t.device, t.data) == ("gpu-task", "cuda:0", {"layer": 2})
        assert tf.emplace(lambda: None).device == "cpu"


@pytest.mark.parametrize("workers", [1, 3])
def test_initializer_runs_once_on_each_worker_before_any_task(workers):
    local = threading.local()
    started: list[int] = []

    def initializer():
        local.ready = True
        started.append(threading.get_ident())

    seen: list[bool] = []
    tf = Taskflow()
    for _ in range(50):
        tf.emplace(lambda: seen.append(getattr(local, "ready", False)))
    with Executor(workers=workers, initializer=initializer) as ex:
        assert len(started) == len(set(started)) == workers
        ex.run(tf).result()
    assert len(seen) == 50 and all(seen)
