"""Property tests: random DAGs, random condition loops, random faults."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfnn.executor import Executor, SyncExecutor, TaskError, Taskflow

pytestmark = pytest.mark.timeout(60)

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def dags(draw, max_tasks=30):
    """(n, edges) with edges i -> j only for i < j: acyclic by construction."""
    n = draw(st.integers(1, max_tasks))
    pairs = [(i, j) for j in range(n) for i in range(j)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3 * n)) if pairs else []
    return n, edges


def _build_dag(n, edges, body):
    tf = Taskflow("random-dag")
    tasks = [tf.emplace(body(i), name=str(i)) for i in range(n)]
    for i, j in edges:
        tasks[i].precede(tasks[j])
    return tf


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
@SETTINGS
@given(dag=dags())
def test_random_dag_runs_each_task_once_after_its_predecessors(workers, dag):
    n, edges = dag
    position: dict[int, int] = {}
    counter = iter(range(10**9))
    lock = threading.Lock()

    def body(i):
        def run():
            with lock:
                assert i not in position, f"task {i} ran twice"
                position[i] = next(counter)

        return run

    tf = _build_dag(n, edges, body)
    with Executor(workers=workers) as ex:
        ex.run(tf).result(timeout=30)
    assert sorted(position) == list(range(n))
    for i, j in edges:
        assert position[i] < position[j]


@st.composite
def looping_graphs(draw):
    """A chain of static tasks with condition tasks that jump back a bounded number of
    times and may skip forward; returns (n, [(position, back_target, loops, skip)])."""
    n = draw(st.integers(2, 12))
    conditions = []
    for position in sorted(draw(st.sets(st.integers(1, n - 1), max_size=3))):
        target = draw(st.integers(0, position - 1))
        loops = draw(st.integers(0, 4))
        skip = draw(st.booleans())
        conditions.append((position, target, loops, skip))
    return n, conditions


def _build_loops(n, conditions, trace):
    """Chain 0 -> 1 -> ... -> n-1 where a condition after task p returns 0 (back to
    task t) ``loops`` times, then 1 (go on) or 2 (jump to the end)."""
    tf = Taskflow("loops")
    start = tf.emplace(lambda: trace.append("start"), name="start")
    tasks = [tf.emplace(lambda i=i: trace.append(str(i)), name=str(i)) for i in range(n)]
    start.precede(tasks[0])
    end = tf.emplace(lambda: trace.append("end"), name="end")
    by_position = {p: (t, k, s) for p, t, k, s in conditions}
    for i in range(n):
        nxt = tasks[i + 1] if i + 1 < n else end
        if i not in by_position:
            tasks[i].precede(nxt)
            continue
        target, loops, skip = by_position[i]
        left = [loops]

        def decide(left=left, loops=loops, skip=skip, i=i):
            trace.append(f"c{i}")
            if left[0] > 0:
                left[0] -= 1
                return 0
            left[0] = loops  # re-armed for the next pass through an outer loop
            return 2 if skip else 1

        cond = tf.condition(decide, name=f"c{i}")
        tasks[i].precede(cond)
        cond.precede(tasks[target], nxt, end)
    return tf


@SETTINGS
@given(graph=looping_graphs())
def test_condition_loops_match_the_reference_trace(graph):
    n, conditions = graph
    reference: list[str] = []
    SyncExecutor().run(_build_loops(n, conditions, reference)).result()
    threaded: list[str] = []
    with Executor(workers=1) as ex:
        ex.run(_build_loops(n, conditions, threaded)).result(timeout=30)
    assert threaded == reference
    assert reference[-1] == "end"


@pytest.mark.parametrize("workers", [1, 2, 4])
@SETTINGS
@given(dag=dags(max_tasks=25), data=st.data())
def test_random_faults_never_hang_and_executor_recovers(workers, dag, data):
    n, edges = dag
    faulty = data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3))

    def body(i):
        def run():
            if i in faulty:
                raise RuntimeError(f"fault {i}")

        return run

    tf = _build_dag(n, edges, body)
    with Executor(workers=workers) as ex:
        with pytest.raises(TaskError) as info:
            ex.run(tf).result(timeout=20)
        assert int(info.value.task) in faulty
        faulty.clear()
        ex.run(tf).result(timeout=20)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_stress_thousand_randomized_faulty_runs():
    import random

    rng = random.Random(1234)
    with Executor(workers=4) as ex:
        for _ in range(1000):
            n = rng.randint(1, 60)
            edges = [(i, j) for j in range(n) for i in range(j) if rng.random() < 0.1]
            faulty = {rng.randrange(n) for _ in range(rng.randint(0, 2))}

            def body(i, faulty=faulty):
                def run():
                    if i in faulty:
                        raise RuntimeError(str(i))

                return run

            future = ex.run(_build_dag(n, edges, body))
            if faulty:
                with pytest.raises(TaskError):
                    future.result(timeout=20)
            else:
                future.result(timeout=20)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("workers", [2, 3, 8])
def test_stress_concurrent_runs_with_subflows_and_loops(workers):
    # Several Taskflows in flight at once on one executor, each a random DAG whose middle
    # task spawns a subflow fan-out and whose end loops a few times through a condition:
    # every task runs exactly as often as it should and nothing hangs (the executor's
    # hot path is lock-free; this is its race test).
    import random

    rng = random.Random(workers)
    lock = threading.Lock()
    with Executor(workers=workers) as ex:
        for _ in range(1000):
            flows, expected, counts = [], [], []
            for _flow in range(rng.randint(1, 6)):
                n = rng.randint(1, 40)
                edges = [(i, j) for j in range(n) for i in range(j) if rng.random() < 0.1]
                loops, width = rng.randint(1, 4), rng.randint(0, 30)
                count = {"tasks": 0, "children": 0, "turns": 0}

                def body(i, count=count):
                    def run():
                        with lock:
                            count["tasks"] += 1

                    return run

                def spawn(sf, count=count, width=width):
                    def child():
                        with lock:
                            count["children"] += 1

                    for _ in range(width):
                        sf.emplace(child)

                def again(count=count, loops=loops):
                    count["turns"] += 1
                    return 0 if count["turns"] < loops else 1

                tf = _build_dag(n, edges, body)
                head = tf.subflow(spawn, name="spawn")
                cond = tf.condition(again, name="again")
                for t in tf._graph.tasks:
                    if t is not head and t is not cond and not t._preds:
                        head.precede(t)
                for t in list(tf._graph.tasks):
                    if t is not cond and not t._succ:
                        t.precede(cond)
                cond.precede(head, tf.placeholder(name="out"))
                tf.placeholder(name="init").precede(head)  # head has a weak predecessor
                flows.append(tf)
                counts.append(count)
                expected.append({"tasks": n * loops, "children": width * loops, "turns": loops})
            futures = [ex.run(tf) for tf in flows]
            for f in futures:
                f.result(timeout=20)
            assert counts == expected
