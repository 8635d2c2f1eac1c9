"""Task-parallel pipelines with Taskflow's ``tf::Pipeline`` semantics.

A ``Pipeline(num_lines, pipe_0, pipe_1, ...)`` pushes *tokens* 0, 1, 2, ... through its
pipes (stages). Token ``t`` travels on line ``t % num_lines``, so at most ``num_lines``
tokens are in flight. A ``SERIAL`` pipe processes tokens one at a time in token order; a
``PARALLEL`` pipe processes the tokens of different lines at once. The first pipe must be
serial: it creates tokens, and calls ``pf.stop()`` to say there are no more.

Scheduling (as Taskflow's). Cell ``(line, pipe)`` may run token ``t`` once its forward
dependency (``(line, pipe - 1)`` finished ``t``) and, for a serial pipe, its downward
dependency (``(line - 1, pipe)`` finished ``t - 1``) are met. Each cell has a join
counter of the dependencies still missing, reset to the pipe's type (``PARALLEL`` = 1,
``SERIAL`` = 2 dependencies) when the cell starts, which is before either dependency of
its next token can be met. A cell that finishes decrements the counter of the cell below
(serial pipes only) and of the next cell on its line; whoever empties a counter runs it.

Graph. A ``Pipeline`` is a ``Taskflow``: a condition task ``cond`` starts line
``num_tokens() % num_lines`` (0 on a fresh pipeline), and one multi-condition task per
line, ``line-l``, runs line ``l``'s cells for as long as its next cell is ready. When the
cell below became ready it returns that line's index, so the executor runs that line's
task (weak edges from every line task to every line task); when both are, it returns
both, and the executor continues this line on the same worker and queues the other. A
line task that stops or finds nothing ready returns no index. The run ends when every
line has stopped or is waiting; the line that ran ``stop()`` is the next run's first
line, so a pipeline run again continues the token count, as in Taskflow (``reset()``
starts it over). A run that failed or was cancelled with a token between pipes leaves
the pipeline unusable until ``reset()``: ``cond`` checks that every line waits at its
first pipe. ``tf.composed_of(pipeline)`` runs it as a module task.

State. ``_pipeflows[l]``: line ``l``'s ``Pipeflow`` (its pipe and token). ``_join[l * P + p]``:
cell ``(l, p)``'s counter as a token list (``[True]`` + ``[False] * (k - 1)`` for ``k``
missing): ``list.pop`` is atomic, and only the pop that empties it gets ``True``, so no
lock is needed. ``_num_tokens``: tokens created, written only by the first (serial) pipe.

Example (three stages, two lines; stage 0 stops after five tokens)::

    buffer = [0, 0]
    def read(pf):
        if pf.token() == 5:
            pf.stop()
        else:
            buffer[pf.line()] = pf.token()
    def square(pf):
        buffer[pf.line()] **= 2
    def emit(pf):
        print(buffer[pf.line()])              # 0 1 4 9 16, in this order

    pl = Pipeline(2, Pipe(PipeType.SERIAL, read), Pipe(PipeType.PARALLEL, square),
                  Pipe(PipeType.SERIAL, emit))
    tf = Taskflow("main")
    tf.composed_of(pl)
    Executor(workers=2).run(tf).result()      # pl.num_tokens() == 5
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

from tfnn.executor.graph import GraphError, Taskflow


class PipeType(IntEnum):
    """How a pipe takes tokens; the value is its number of dependencies per token."""

    PARALLEL = 1
    SERIAL = 2


class Pipeflow:
    """What a pipe's callable sees of the token it processes.

    ``line()``: the line (0 to ``num_lines - 1``); ``pipe()``: the pipe's index;
    ``token()``: the token's number; ``stop()``: end the pipeline (first pipe only: the
    token is then not counted and goes no further).
    """

    __slots__ = ("_line", "_pipe", "_stop", "_token")

    def __init__(self, line: int) -> None:
        self._line = line
        self._pipe = 0
        self._token = 0
        self._stop = False

    def line(self) -> int:
        return self._line

    def pipe(self) -> int:
        return self._pipe

    def token(self) -> int:
        return self._token

    def stop(self) -> None:
        if self._pipe != 0:
            raise GraphError(
                f"pf.stop() was called in pipe {self._pipe}; only the first pipe can stop "
                "a pipeline (it decides whether a token is created)"
            )
        self._stop = True

    def __repr__(self) -> str:
        return f"Pipeflow(line={self._line}, pipe={self._pipe}, token={self._token})"


class Pipe:
    """One stage of a pipeline: its type and a callable ``fn(pf: Pipeflow)``."""

    __slots__ = ("fn", "type")

    def __init__(self, pipe_type: PipeType, fn: Callable[[Pipeflow], object]) -> None:
        if not isinstance(pipe_type, PipeType):
            raise GraphError(f"Pipe needs PipeType.SERIAL or PipeType.PARALLEL, got {pipe_type!r}")
        if not callable(fn):
            raise GraphError(f"Pipe needs a callable fn(pf), got {fn!r}")
        self.type = pipe_type
        self.fn = fn

    def __repr__(self) -> str:
        return f"Pipe({self.type.name}, {self.fn!r})"


class Pipeline(Taskflow):
    """A pipeline of ``pipes`` over ``num_lines`` parallel lines (see the module docstring).

    Example::

        pl = Pipeline(4, Pipe(PipeType.SERIAL, first), Pipe(PipeType.PARALLEL, work))
        taskflow.composed_of(pl)       # or executor.run(pl)
    """

    def __init__(self, num_lines: int, *pipes: Pipe, name: str = "pipeline") -> None:
        super().__init__(name)
        if isinstance(num_lines, bool) or not isinstance(num_lines, int) or num_lines < 1:
            raise GraphError(f"Pipeline needs num_lines >= 1 (an int), got {num_lines!r}")
        if not pipes:
            raise GraphError("Pipeline needs at least one Pipe")
        for pipe in pipes:
            if not isinstance(pipe, Pipe):
                raise GraphError(f"Pipeline takes Pipe objects, got {pipe!r}")
        if pipes[0].type is not PipeType.SERIAL:
            raise GraphError("the first pipe of a Pipeline must be PipeType.SERIAL")
        self._pipes = pipes
        self._pipeflows = [Pipeflow(line) for line in range(num_lines)]
        self._join: list[list[bool]] = []
        self._num_tokens = 0
        self.reset()
        self._build()

    def num_lines(self) -> int:
        return len(self._pipeflows)

    def num_pipes(self) -> int:
        return len(self._pipes)

    def num_tokens(self) -> int:
        """Tokens created so far (over every run since construction or ``reset()``)."""
        return self._num_tokens

    def reset(self) -> None:
        """Start over: token numbers from 0, line 0 first."""
        if self._graph.busy:
            raise GraphError(f"Pipeline {self.name!r} is running; wait for it before reset()")
        lines, pipes = self.num_lines(), self.num_pipes()
        self._num_tokens = 0
        for pf in self._pipeflows:
            pf._pipe = 0
        # Token 0's cells miss only their forward dependency (nothing came before);
        # every later line's first cell waits for the line above; the rest are full.
        join = [_counter(int(self._pipes[p].type)) for _ in range(lines) for p in range(pipes)]
        for p in range(pipes):
            join[p] = _counter(1)
        for line in range(1, lines):
            join[line * pipes] = _counter(1)
        join[0] = []
        self._join = join

    def _build(self) -> None:
        lines = self.num_lines()
        cond = self.condition(self._first_line, name="cond")
        tasks = [
            self.multi_condition(self._line_task(line), name=f"line-{line}")
            for line in range(lines)
        ]
        cond.precede(*tasks)
        for task in tasks:
            task.precede(*tasks)

    def _first_line(self) -> int:
        """The line of the next token, once every line waits at its first pipe."""
        unfinished = [pf for pf in self._pipeflows if pf._pipe != 0]
        if unfinished:
            raise GraphError(
                f"Pipeline {self.name!r} stopped mid-token in an earlier run (a pipe raised "
                f"or the run was cancelled; {unfinished[0]!r}); call reset() to start over"
            )
        return self._num_tokens % len(self._pipeflows)

    def _line_task(self, line: int) -> Callable[[], list[int]]:
        return lambda: self._run_line(line)

    def _run_line(self, line: int) -> list[int]:
        """Run line ``line``'s ready cells; return the lines whose task must run next."""
        pipes, join, pf = self._pipes, self._join, self._pipeflows[line]
        num_pipes, below = len(pipes), (line + 1) % len(self._pipeflows)
        while True:
            p = pf._pipe
            pipe = pipes[p]
            join[line * num_pipes + p] = _counter(int(pipe.type))
            if p == 0:
                pf._token = self._num_tokens
                pf._stop = False
                pipe.fn(pf)
                if pf._stop:
                    return []
                self._num_tokens += 1
            else:
                pipe.fn(pf)
            following = (p + 1) % num_pipes
            pf._pipe = following
            down = pipe.type is PipeType.SERIAL and join[below * num_pipes + p].pop()
            forward = join[line * num_pipes + following].pop()
            if down:
                return [line, below] if forward else [below]
            if not forward:
                return []

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, lines={self.num_lines()}, pipes={self.num_pipes()})"


def _counter(missing: int) -> list[bool]:
    return [True] + [False] * (missing - 1)
