"""The builder a subflow task's callable receives, and how its child graph ends.

A subflow task calls ``fn(sf)``; what ``fn`` adds to ``sf`` is its child graph. By
default the executor runs the child after ``fn`` returns and finishes the subflow task
when the child has finished (an implicit join). Inside ``fn``:

- ``sf.join()`` runs the child graph now and returns when it has finished (the calling
  worker runs tasks meanwhile, see ``Executor.corun_until``); ``fn`` goes on after it;
- ``sf.detach()``: the child runs on by itself; the subflow task finishes when ``fn``
  returns, and the run waits for the child before it ends;
- ``sf.retain(True)`` keeps the child graph on the task (``task.retained_subflow``) after
  it has run, for inspection and ``dump()``.

A subflow can be joined or detached once; after that it takes no more tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from tfnn.executor.graph import FlowBuilder, GraphError

__all__ = ["Subflow"]


class Subflow(FlowBuilder):
    """The builder a subflow task's callable receives.

    Example::

        def spawn(sf):
            a, b = sf.emplace(f, g)
            a.precede(b)
            sf.join()          # a and b have run here
            sf.retain(True)    # keep them for tf.dump()
        tf.subflow(spawn, name="S")
    """

    def __init__(self, name: str, joiner: Callable[[Subflow], None] | None = None) -> None:
        super().__init__(name)
        self._joiner = joiner
        self._state = "open"
        self._retain = False

    def join(self) -> None:
        """Run the child graph built so far and wait (cooperatively) until it is done."""
        self._close("joined")
        if self._joiner is None:
            raise GraphError(f"subflow {self.name!r} is not running; join() works inside fn")
        self._joiner(self)

    def detach(self) -> None:
        """Let the child graph run on its own once ``fn`` returns; the run waits for it."""
        self._close("detached")

    def retain(self, keep: bool = True) -> None:
        """Keep the child graph on the subflow task after it has run (for ``dump()``)."""
        self._retain = bool(keep)

    def joinable(self) -> bool:
        """Whether ``join()`` or ``detach()`` may still be called."""
        return self._state == "open"

    @property
    def detached(self) -> bool:
        return self._state == "detached"

    @property
    def joined(self) -> bool:
        return self._state == "joined"

    def _close(self, state: str) -> None:
        if self._state != "open":
            raise GraphError(
                f"subflow {self.name!r} was already {self._state}; join() or detach() once"
            )
        self._state = state

    def __repr__(self) -> str:
        return f"Subflow({self.name!r}, tasks={len(self._graph.tasks)}, {self._state})"
