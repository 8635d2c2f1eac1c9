"""Device tasks on the simulated asynchronous device: the stream and event rules."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref

import numpy as np
import pytest

from tfnn.backends.streams import KeepAlive
from tfnn.executor import Executor, SyncExecutor, TaskError, Taskflow
from tfnn.executor.simulated import SimulatedDevice
from tfnn.executor.streams import assign_streams, hold, run_on_device

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
    # The device task waits for the host task: a host task that waited for the device
    # (a host synchronisation too many) would make it time out instead.
    host_ran, marks = threading.Event(), dict[str, bool]()

    def kernel():
        marks["host-ran-first"] = host_ran.wait(10)
        marks["device-done"] = True

    tf = Taskflow()
    tf.emplace(kernel, name="slow-kernel", device=DEV)
    tf.emplace(host_ran.set, name="host")
    make_executor().run(tf).result()
    assert marks["host-ran-first"]  # the host ran while the device was still busy
    assert marks.get("device-done")  # and result() waited for the device


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
    # The device's first forward waits for the host's last count: a host that waited for
    # the device at any step would make it time out instead.
    steps, device_log, host, host_done = 20, [], {"step": 0}, threading.Event()
    with SimulatedDevice(streams=2, max_delay=0.003, seed=3) as slow_device:
        tf = Taskflow("loop")
        init = tf.emplace(lambda: device_log.clear(), name="init")

        def forward():
            assert len(device_log) % 2 == 0, "forward ran before the previous update"
            if not device_log:  # hold the device back until the host counted every step
                host["waited"] = host_done.wait(10)
            device_log.append("f")

        def update():
            device_log.append("u")

        def next_step():
            host["step"] += 1
            if host["step"] == steps:
                host["device-steps-at-host-end"] = len(device_log) // 2
                host_done.set()
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
    assert host["waited"] and host["device-steps-at-host-end"] == 0


class Buffer:
    """Device memory stand-in that a weak reference can watch."""


def _wait_until(condition, what):
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.001)


@pytest.mark.parametrize("producer_runs", ["when-launched", "after-the-consumer-launched"])
def test_returned_arrays_read_on_another_stream_live_until_that_stream_passes(
    make_executor, producer_runs
):
    # The producer's body runs later, on its stream's thread: it may run before or after
    # the worker launches the consumer (which then keeps alive a handle not yet filled).
    # "after-the-consumer-launched" forces the second order.
    gate, made = threading.Event(), []
    go, produced = threading.Event(), threading.Event()
    if producer_runs == "when-launched":
        go.set()

    def produce():
        go.wait(10)
        buffer = Buffer()
        made.append(weakref.ref(buffer))
        produced.set()
        return buffer

    tf = Taskflow()
    src = tf.emplace(lambda: None, name="src")
    producer = tf.emplace(produce, name="producer", device=DEV)
    other = tf.emplace(lambda: None, name="other", device=DEV)  # takes producer's stream
    consumer = tf.emplace(lambda: gate.wait(10), name="consumer", device=DEV)
    src.precede(producer)
    producer.precede(other, consumer)
    ex = make_executor()
    if isinstance(ex, SyncExecutor):
        gate.set()
        go.set()
    future = ex.run(tf)
    assert consumer._stream is not producer._stream
    if not isinstance(ex, SyncExecutor):
        _wait_until(lambda: consumer._stream.held == 1, "the worker launched the consumer")
        go.set()
        assert produced.wait(10), "the producer's stream never ran it"
        # Once both successors launched the producer lets go of its value: from then on
        # only the consumer's keep-alive holds it.
        _wait_until(lambda: producer._value.value is None, "both successors launched")
        gc.collect()
        assert consumer._stream.held == 1  # the gate keeps the consumer's event open
        assert made[0]() is not None
    gate.set()
    future.result()
    gc.collect()
    # Let go once the consumer's event completed, not kept until the next run.
    assert consumer._stream.held == 0 and made[0]() is None


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


class PendingEvent:
    """A stand-in CUDA event: complete only when the test says so."""

    def __init__(self) -> None:
        self.done = False

    def query(self) -> bool:
        return self.done

    def synchronize(self) -> None:
        self.done = True


class EnqueueStream:
    """A stand-in CUDA stream: ``launch`` runs the body now (it only enqueues kernels);
    the recorded events stay open until the test completes them."""

    def __init__(self) -> None:
        self.events: list[PendingEvent] = []
        self.kept = KeepAlive()

    def launch(self, fn):
        return fn()

    def record(self) -> PendingEvent:
        self.events.append(PendingEvent())
        return self.events[-1]

    def wait(self, event) -> None:
        pass

    def keep_alive(self, obj, event) -> None:
        self.kept.hold(obj, event)

    def synchronize(self) -> None:
        for event in self.events:
            event.done = True
        self.kept.release_done()


def _run_by_hand(*tasks):
    for task in tasks:
        run_on_device(task, task.work)


def test_hold_keeps_closure_arrays_alive_until_the_readers_event():
    #   producer (stream A) --shared["x"]--> consumer (stream B), which drops shared["x"]
    shared, made = {}, []

    def produce():
        shared["x"] = Buffer()
        made.append(weakref.ref(shared["x"]))

    def consume():
        hold(shared.pop("x"))  # enqueues a read of x on B, then lets go of it on the host

    tf = Taskflow()
    producer = tf.emplace(produce, name="producer", device=DEV)
    consumer = tf.emplace(consume, name="consumer", device=DEV)
    producer.precede(consumer)
    a, b = EnqueueStream(), EnqueueStream()
    producer._stream, consumer._stream = a, b
    _run_by_hand(producer, consumer)
    gc.collect()
    assert made[0]() is not None  # B's read is still queued: the block must not be reused
    b.events[-1].done = True
    b.kept.release_done()
    gc.collect()
    assert made[0]() is None  # released when the event completed, without a new run


def test_a_returned_value_outlives_only_its_readers_on_other_streams():
    made = []

    def produce():
        made.append(Buffer())
        return made[-1]

    tf = Taskflow()
    producer = tf.emplace(produce, name="producer", device=DEV)
    same = tf.emplace(lambda: None, name="same-stream", device=DEV)
    other = tf.emplace(lambda: None, name="other-stream", device=DEV)
    producer.precede(same, other)
    a, b = EnqueueStream(), EnqueueStream()
    producer._stream, same._stream, other._stream = a, a, b
    _run_by_hand(producer, same, other)
    watch = weakref.ref(made.pop())
    gc.collect()
    assert watch() is not None and len(b.kept) == 1 and len(a.kept) == 0
    b.synchronize()
    gc.collect()
    assert watch() is None


# -- stream assignment of the real training graphs ------------------------------------------

NETWORKS = {"mlp": (784, 256, 128, 10), "taskflow-mnist": (784, 64, 32, 16, 8, 10)}


def _training_graph(sizes, strategy):
    from tfnn import nn, optim
    from tfnn.data import Batches
    from tfnn.train import graphs
    from tfnn.train.control import Control, History
    from tfnn.train.step import StepWork

    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.ReLU()] if i else []
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    model = nn.Sequential(*layers)
    images = np.zeros((8, sizes[0]), dtype=np.float32)
    batches = Batches(images, np.zeros(8, dtype=np.int64), 4, normalize=False)
    sgd = optim.SGD(model.parameters(), lr=0.1)
    work = StepWork(model, nn.SoftmaxCrossEntropy(), sgd, batches, epochs=1)
    control = Control(
        work,
        epochs=1,
        eval_every=None,
        evaluate_accuracy=None,
        target_accuracy=None,
        save=None,
        history=History(),
    )
    if strategy == "unrolled":
        return graphs.unrolled_graph(work, control, DEV, range(3)), work
    return graphs.condition_graph(work, control, DEV, pipelined=strategy == "pipelined"), work


def _critical_names(work, suffix=""):
    backward = [f"BI{i}" for i in range(work.depth - 1, 0, -1)]
    names = ["start", *(f"F{i}" for i in range(work.depth)), "loss", *backward]
    return {name + suffix for name in names}


@pytest.mark.parametrize("strategy", ["condition", "pipelined", "unrolled"])
@pytest.mark.parametrize("network", NETWORKS)
def test_training_graphs_keep_the_critical_stream_to_the_critical_path(network, strategy):
    tf, work = _training_graph(NETWORKS[network], strategy)
    with SimulatedDevice(streams=4) as device:
        assign_streams(tf._graph, {DEV: device})
        first = device.streams[0]
        by_name = {t.name: t for t in tf._graph.tasks}
        suffixes = [f"@{s}" for s in range(3)] if strategy == "unrolled" else [""]
        for suffix in suffixes:
            critical = _critical_names(work, suffix)
            assert {n for n in critical if by_name[n]._stream is not first} == set()
            weight_branches = [
                (by_name[f"BW{i}{suffix}"], by_name[f"U{i}{suffix}"])
                for i in work.trainable
                if i > 0 and f"BW{i}{suffix}" in by_name
            ]
            for weight, update in weight_branches:
                assert weight._stream is not first, weight.name
                assert update._stream is weight._stream, update.name  # a chain, no event
            streams = [weight._stream for weight, _ in weight_branches]
            # Neighbouring layers' weight branches run side by side on different streams.
            assert all(s is not t for s, t in itertools.pairwise(streams))
        on_first = {t.name for t in tf._graph.tasks if t._stream is first}
        allowed = set().union(*(_critical_names(work, s) for s in suffixes))
        allowed |= {f"{n}{s}" for n in ("BW0", "U0") for s in suffixes}  # the path's tail
        if strategy == "pipelined":
            allowed |= {n for n in on_first if n.endswith("''")}  # run only to evaluate
        assert on_first <= allowed
        assert by_name[f"prefetch{suffixes[0]}"]._stream is not first


def test_one_stream_takes_everything():
    tf, _ = _training_graph(NETWORKS["mlp"], "condition")
    with SimulatedDevice(streams=1) as device:
        assign_streams(tf._graph, {DEV: device})
        assert {t._stream for t in tf._graph.tasks if t.device == DEV} == {device.streams[0]}
