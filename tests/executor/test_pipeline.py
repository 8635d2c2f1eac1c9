"""Pipelines, ported from Taskflow's unittests/test_pipelines.cpp (1 to 3 pipes of every
serial/parallel mix, 1 to 4 lines, each run three times), on every executor."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfnn.executor import (
    Executor,
    GraphError,
    Pipe,
    Pipeflow,
    Pipeline,
    PipeType,
    TaskError,
    Taskflow,
)

pytestmark = pytest.mark.timeout(60)

S, P = PipeType.SERIAL, PipeType.PARALLEL
SHAPES = ["S", "SS", "SP", "SSS", "SSP", "SPS", "SPP"]
TOKENS = [0, 1, 2, 3, 5, 17, 64]


class Recorder:
    """Pipes that pass each token's value down its line and record what they saw."""

    def __init__(self, shape: str, lines: int, n: int) -> None:
        self.types = [S if c == "S" else P for c in shape]
        self.lines, self.n = lines, n
        self.buffer = [[None] * len(shape) for _ in range(lines)]
        self.seen: list[list[int]] = [[] for _ in shape]
        self.in_flight: set[int] = set()
        self.most_in_flight = 0
        self.lock = threading.Lock()
        self.produced = 0

    def pipes(self) -> list[Pipe]:
        return [Pipe(t, self._stage) for t in self.types]

    def _stage(self, pf: Pipeflow) -> None:
        line, pipe, token = pf.line(), pf.pipe(), pf.token()
        assert token % self.lines == line
        if pipe == 0:
            if self.produced == self.n:
                pf.stop()
                return
            self.produced += 1
            with self.lock:
                self.in_flight.add(token)
                self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        else:
            # The previous pipe of this line left this token's value.
            assert self.buffer[line][pipe - 1] == (token, pipe - 1)
        self.buffer[line][pipe] = (token, pipe)
        with self.lock:
            self.seen[pipe].append(token)
            if pipe == len(self.types) - 1:
                self.in_flight.discard(token)

    def check(self, first_token: int) -> None:
        expected = list(range(first_token, first_token + self.n))
        for t, seen in zip(self.types, self.seen):
            # Serial pipes see tokens in order; parallel ones see each token once.
            assert (seen if t is S else sorted(seen)) == expected
        assert self.most_in_flight <= self.lines
        assert not self.in_flight

    def restart(self) -> None:
        self.produced = 0
        self.seen = [[] for _ in self.types]
        self.most_in_flight = 0


class TestPipeline:
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("lines", [1, 2, 3, 4])
    def test_tokens_flow_in_order_through_every_pipe(self, executor, shape, lines):
        for n in TOKENS:
            rec = Recorder(shape, lines, n)
            pl = Pipeline(lines, *rec.pipes())
            runs = [0]

            def test(rec=rec, pl=pl, n=n, runs=runs):
                rec.check(first_token=runs[0] * n)
                runs[0] += 1
                assert pl.num_tokens() == runs[0] * n
                rec.restart()

            # module_of_pipeline -> test, three runs: tokens continue across runs.
            tf = Taskflow()
            tf.composed_of(pl).precede(tf.emplace(test, name="test"))
            executor.run_n(tf, 3).result()
            assert runs == [3]

    def test_reset_starts_tokens_from_zero(self, executor):
        rec = Recorder("SPS", 3, 10)
        pl = Pipeline(3, *rec.pipes())
        executor.run(pl).result()
        rec.check(0)
        rec.restart()
        pl.reset()
        executor.run(pl).result()
        rec.check(0)
        assert pl.num_tokens() == 10

    def test_stop_in_a_later_pipe_is_an_error(self, executor):
        def first(pf):
            if pf.token() == 3:
                pf.stop()

        pl = Pipeline(2, Pipe(S, first), Pipe(P, lambda pf: pf.stop()))
        with pytest.raises(TaskError) as info:
            executor.run(pl).result()
        assert isinstance(info.value.__cause__, GraphError)
        assert "first pipe" in str(info.value.__cause__)

    def test_pipeline_orders_with_the_tasks_around_it(self, executor):
        log: list[object] = []

        def produce(pf):
            if pf.token() == 4:
                pf.stop()
            else:
                log.append(pf.token())

        pl = Pipeline(2, Pipe(S, produce), Pipe(P, lambda pf: None))
        tf = Taskflow()
        before = tf.emplace(lambda: log.append("before"))
        module = tf.composed_of(pl)
        after = tf.emplace(lambda: log.append("after"))
        before.precede(module)
        module.precede(after)
        executor.run(tf).result()
        assert log == ["before", 0, 1, 2, 3, "after"]

    def test_a_failing_pipe_fails_the_run(self, executor):
        def first(pf):
            if pf.token() == 2:
                raise ValueError("boom")

        pl = Pipeline(2, Pipe(S, first))
        with pytest.raises(TaskError, match="boom"):
            executor.run(pl).result()

    def test_a_run_that_failed_mid_token_asks_for_reset(self, executor):
        fail = [True]
        seen: list[int] = []

        def first(pf):
            if pf.token() == 6:
                pf.stop()

        def second(pf):
            if pf.token() == 3 and fail[0]:
                raise ValueError("boom")
            seen.append(pf.token())

        pl = Pipeline(2, Pipe(S, first), Pipe(S, second))
        with pytest.raises(TaskError, match="boom"):
            executor.run(pl).result()
        with pytest.raises(TaskError, match="reset") as info:
            executor.run(pl).result()
        assert isinstance(info.value.__cause__, GraphError)
        fail[0] = False
        seen.clear()
        pl.reset()
        executor.run(pl).result()
        assert seen == list(range(6))


@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_pipe_runs_tokens_of_different_lines_at_once(workers):
    # Tokens 0 and 1 must meet inside the parallel pipe: a barrier that only two
    # concurrent pipe calls pass (it raises BrokenBarrierError after the timeout).
    barrier = threading.Barrier(2, timeout=10)

    def first(pf):
        if pf.token() == 2:
            pf.stop()

    pl = Pipeline(2, Pipe(S, first), Pipe(P, lambda pf: barrier.wait()))
    with Executor(workers=workers) as ex:
        ex.run(pl).result()
    assert pl.num_tokens() == 2


def test_construction_errors():
    with pytest.raises(GraphError, match="SERIAL"):
        Pipeline(2, Pipe(P, print))
    with pytest.raises(GraphError, match="num_lines"):
        Pipeline(0, Pipe(S, print))
    with pytest.raises(GraphError, match="at least one"):
        Pipeline(1)
    with pytest.raises(GraphError, match="Pipe objects"):
        Pipeline(1, print)
    with pytest.raises(GraphError, match="PipeType"):
        Pipe("serial", print)
    with pytest.raises(GraphError, match="callable"):
        Pipe(S, 3)


def test_shape_queries_and_graph():
    pl = Pipeline(3, Pipe(S, print), Pipe(P, print), name="loader")
    assert (pl.num_lines(), pl.num_pipes(), pl.num_tokens()) == (3, 2, 0)
    assert [t.name for t in pl.tasks] == ["cond", "line-0", "line-1", "line-2"]
    assert pl.check() == []
    assert repr(pl) == "Pipeline('loader', lines=3, pipes=2)"


def test_loader_benchmark_hands_out_the_same_batches(tmp_path):
    # bench/loader_pipeline.py checks every contender's batches against Batches' before
    # timing; one quick repetition keeps the script (and that check) from rotting.
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "loader.json"
    env = {**os.environ, "PYTHONPATH": str(root)}
    args = ["--repeats", "1", "--batch", "1024", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "loader_pipeline.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report["results"]["none"]["median_seconds"]) == {
        "batches",
        "loop",
        "pipeline-2x1",
        "pipeline-2x2",
        "pipeline-4x2",
    }


@settings(max_examples=40, deadline=None)
@given(
    later=st.text(alphabet="SP", max_size=4),
    lines=st.integers(1, 5),
    n=st.integers(0, 40),
    workers=st.sampled_from([1, 2, 3, 8]),
)
def test_property_any_shape_keeps_serial_order_and_line_bound(later, lines, n, workers):
    rec = Recorder("S" + later, lines, n)
    pl = Pipeline(lines, *rec.pipes())
    with Executor(workers=workers) as ex:
        ex.run(pl).result()
    rec.check(first_token=0)
    assert pl.num_tokens() == n
