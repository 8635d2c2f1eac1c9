"""Device tasks on the simulated asynchronous device: the stream and event rules."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tfnn.executor import Executor, SyncExecutor, TaskError, Taskflow
from tfnn.executor.simulated import SimulatedDevice
from tfnn.executor.streams import assign_streams

pytestmark = pytest.mark.timeout(60)

DEV = "sim:0"


@pytest.fixture
def device():
    with SimulatedDevice(streams=4, max_delay=0.002, seed=7) as d:
        yield d


@pytest.fixture(params=[None, 1, 2, 4], ids=["sync", "workers-1", "workers-2", "workers-4"])
def make_executor(request, device):
    made = []

    def make(dev=device):
        ex = (
            SyncExecutor(devices={DEV: dev})
            if request.param is None
            else Executor(workers=request.param, devices={DEV: dev})
        )
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.shutdown()


def test_chain_keeps_its_stream_and_siblings_get_their_own(device):
    #   h -> a -> b -> c      (chain on one stream)
    #        a -> x           (sibling of b: another stream)
    #   y                     (independent source: another stream)
    tf = Taskflow()
    h = tf.emplace(lambda: None, name="h")
    a, b, c, x, y = (tf.emplace(lambda: None, name=n, device=DEV) for n in "abcxy")
    h.precede(a)
    a.precede(b, x)
    b.precede(c)
    assign_streams(tf._graph, {DEV: device})
    assert h._stream is None
    assert a._stream is b._stream is c._stream
    assert x._stream is not a._stream and y._stream is not a._stream
    assert x._stream is not y._stream


def test_chain_needs_no_events(make_executor, device):
    tf = Taskflow()
    tasks = [tf.emplace(lambda: None, name=f"t{i}", device=DEV) for i in range(6)]
    for p, q in itertools.pairwise(tasks):
        p.precede(q)
    make_executor().run(tf).result()
    assert sum(s.waits for s in device.streams) == 0
    assert sum(s.launches for s in device.streams) == 6


def test_consumer_on_another_stream_never_sees_a_result_early(make_executor):
    #   src -> p1 (stream A), p2 (stream B) -> join (stream A) -> host check
    outputs: dict[str, int] = {}
    seen: list[tuple] = []
    tf = Taskflow("fan-in")
    src = tf.emplace(outputs.clear, name="src")

    def produce(key, value):
        def body():
            time.sleep(0.001)
            outputs[key] = value

        return body

    p1 = tf.emplace(produce("p1", 1), name="p1", device=DEV)
    p2 = tf.emplace(produce("p2", 2), name="p2", device=DEV)
    join = tf.emplace(
        lambda: outputs.__setitem__("sum", outputs.get("p1", 0) + outputs.get("p2", 0)),
        name="join",
        device=DEV,
    )
    check = tf.emplace(lambda: seen.append((outputs.get("sum"),)), name="check")
    src.precede(p1, p2)
    join.succeed(p1, p2)
    join.precede(check)
    make_executor().run_n(tf, 15).result()
    assert seen == [(3,)] * 15
    assert p1._stream is not p2._stream


def test_host_is_not_blocked_by_device_tasks(make_executor):
    marks: dict[str, float] = {}
    tf = Taskflow()

    def slow():
        time.sleep(0.3)
        marks["device-done"] = time.perf_counter()

    tf.emplace(slow, name="slow-kernel", device=DEV)
    tf.emplace(lambda: marks.__setitem__("host", time.perf_counter()), name="host")
    start = time.perf_counter()
    make_executor().run(tf).result()
    assert marks["host"] - start < 0.2  # ran while the device was still busy
    assert marks["device-done"] > marks["host"]  # and result() waited for the device


def test_failure_inside_device_task_surfaces_at_result(make_executor, device):
    tf = Taskflow("faulty-device")

    def bad():
        raise FloatingPointError("nan in kernel")

    a = tf.emplace(bad, name="bad-kernel", device=DEV)
    b = tf.emplace(lambda: None, name="after", device=DEV)
    a.precede(b)
    ex = make_executor()
    with pytest.raises(TaskError, match="'bad-kernel'") as info:
        ex.run(tf).result()
    assert isinstance(info.value.__cause__, FloatingPointError)
    ok = Taskflow()
    ok.emplace(lambda: None, device=DEV)
    ex.run(ok).result()  # executor and device are reusable


def test_host_consumer_reading_a_failed_result_names_the_device_task(make_executor):
    tf = Taskflow()
    g = tf.emplace(lambda: 1 / 0, name="divide", device=DEV)
    cond = tf.condition(lambda: 0, name="read-loss")
    g.precede(cond)
    cond.precede(tf.placeholder())
    with pytest.raises(TaskError, match="'divide'"):
        make_executor().run(tf).result()


def test_loop_does_not_synchronise_the_host_per_step(make_executor):
    #   init -> forward -> update -> step? --0--> forward
    #                                      --1--> done
    # The condition only counts steps (reads_device=False): it runs ahead of the device,
    # while the device still sees every step's update before the next forward.
    steps, device_log, host = 20, [], {"step": 0}
    with SimulatedDevice(streams=2, max_delay=0.003, seed=3) as slow_device:
        tf = Taskflow("loop")
        init = tf.emplace(lambda: device_log.clear(), name="init")

        def forward():
            assert len(device_log) % 2 == 0, "forward ran before the previous update"
            device_log.append("f")

        def update():
            device_log.append("u")

        def next_step():
            host["step"] += 1
            if host["step"] == steps:
                host["device-steps-at-host-end"] = len(device_log) // 2
            return 0 if host["step"] < steps else 1

        f = tf.emplace(forward, name="forward", device=DEV)
        u = tf.emplace(update, name="update", device=DEV)
        cond = tf.condition(next_step, name="step?")
        cond.reads_device = False
        done = tf.placeholder(name="done")
        init.precede(f)
        f.precede(u)
        u.precede(cond)
        cond.precede(f, done)
        make_executor(slow_device).run(tf).result()
    assert device_log == ["f", "u"] * steps
    assert host["device-steps-at-host-end"] < steps


def test_arrays_read_on_another_stream_are_kept_alive_until_that_stream_passes(
    make_executor, device
):
    gate = threading.Event()
    tf = Taskflow()
    src = tf.emplace(lambda: None, name="src")
    producer = tf.emplace(lambda: bytearray(1024), name="producer", device=DEV)
    other = tf.emplace(lambda: None, name="other", device=DEV)  # takes producer's stream
    consumer = tf.emplace(lambda: gate.wait(10), name="consumer", device=DEV)
    src.precede(producer)
    producer.precede(other, consumer)
    ex = make_executor()
    if isinstance(ex, SyncExecutor):
        gate.set()
    future = ex.run(tf)
    assert consumer._stream is not producer._stream
    if not isinstance(ex, SyncExecutor):
        deadline = time.monotonic() + 5
        while consumer._stream.held == 0 and time.monotonic() < deadline:
            time.sleep(0.001)  # the worker launches the consumer soon after run()
        assert consumer._stream.held == 1  # the gate keeps the consumer's event open
    gate.set()
    future.result()
    assert consumer._stream.held == 0


def test_module_and_subflow_tasks_hand_device_events_on(make_executor):
    log = []
    module = Taskflow("device-module")
    module.emplace(lambda: (time.sleep(0.01), log.append("module")), name="m", device=DEV)
    tf = Taskflow()
    mod = tf.composed_of(module)
    sub = tf.subflow(
        lambda sf: sf.emplace(lambda: log.append("sub"), name="s", device=DEV), name="S"
    )
    read = tf.emplace(lambda: log.append("read"), name="read")
    mod.precede(sub)
    sub.precede(read)
    make_executor().run(tf).result()
    assert log == ["module", "sub", "read"]


def test_pool_without_streams_is_refused():
    with pytest.raises(ValueError, match="stream pool"):
        Executor(workers=1, devices={"cuda:0": object()})


@pytest.mark.parametrize("second", ["sync", "workers-2"])
def test_taskflow_run_on_another_executor_uses_that_executors_streams(second):
    # The stream assignment is cached on the graph; a second executor with its own pool
    # must not send work to the first pool's streams (its result() would return early).
    tf = Taskflow("reused")
    done: list[str] = []
    a = tf.emplace(lambda: done.append("a"), name="a", device=DEV)
    b = tf.emplace(lambda: done.append("b"), name="b", device=DEV)
    a.precede(b)
    with SimulatedDevice(streams=2, seed=1) as first, SimulatedDevice(streams=2, seed=2) as other:
        ex = Executor(workers=1, devices={DEV: first})
        ex.run(tf).result()
        ex.shutdown()
        ex = (
            SyncExecutor(devices={DEV: other})
            if second == "sync"
            else Executor(workers=2, devices={DEV: other})
        )
        ex.run(tf).result()
        ex.shutdown()
        assert sum(s.launches for s in first.streams) == 2
        assert sum(s.launches for s in other.streams) == 2
        assert done == ["a", "b", "a", "b"]
