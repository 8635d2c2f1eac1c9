"""Observers, the Chrome/Perfetto trace and the DOT dump."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tfnn.executor import Executor, Taskflow, TraceObserver

pytestmark = pytest.mark.timeout(30)


def test_observer_sees_entry_and_exit_of_every_task(executor):
    seen = []

    class Log:
        def on_entry(self, worker, task):
            seen.append(("in", task.name))

        def on_exit(self, worker, task):
            seen.append(("out", task.name))

    tf = Taskflow()
    a, b = tf.emplace(lambda: None, lambda: None)
    a.name, b.name = "a", "b"
    a.precede(b)
    log = executor.observe(Log())
    executor.run(tf).result()
    assert seen == [("in", "a"), ("out", "a"), ("in", "b"), ("out", "b")]
    executor.remove_observer(log)
    executor.run(tf).result()
    assert len(seen) == 4


def test_trace_has_one_row_per_worker_and_loads_as_json(tmp_path):
    # Two of the tasks meet at a barrier, so each of the two workers must run one of them
    # (a sleep alone left it to the scheduler whether the second worker took any).
    meet = threading.Barrier(2, timeout=10)
    tf = Taskflow("wide")
    source = tf.emplace(lambda: None, name="source")
    for i in range(2):
        source.precede(tf.emplace(meet.wait, name=f"meet{i}"))
    for i in range(6):
        source.precede(tf.emplace(lambda: time.sleep(0.001), name=f"sleep{i}"))
    trace = TraceObserver()
    with Executor(workers=2) as ex:
        ex.observe(trace)
        ex.run(tf).result()
    path = trace.dump(tmp_path / "trace.json")
    events = json.loads(path.read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    expected = ["source"] + [f"meet{i}" for i in range(2)] + [f"sleep{i}" for i in range(6)]
    assert sorted(e["name"] for e in spans) == sorted(expected)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    assert {e["tid"] for e in spans if e["name"].startswith("meet")} == {0, 1}
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    assert names == {0: "worker 0", 1: "worker 1"}


def test_dump_draws_conditions_as_diamonds_and_weak_edges_dashed():
    module = Taskflow("inner")
    module.emplace(lambda: None, name="m")
    tf = Taskflow("picture")
    a = tf.emplace(lambda: None, name="A")
    cond = tf.condition(lambda: 0, name="cond")
    mod = tf.composed_of(module, name="mod")
    a.precede(cond)
    cond.precede(a, mod)
    dot = tf.dump()
    assert dot.startswith('digraph "picture" {') and dot.rstrip().endswith("}")
    assert '[label="cond" shape=diamond]' in dot
    assert dot.count("style=dashed") == 2
    assert 'label="0"' in dot and 'label="1"' in dot
    assert '[label="mod" shape=box3d]' in dot and 'subgraph "cluster_inner"' in dot
    assert '[label="m" shape=box]' in dot
