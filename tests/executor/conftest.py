"""Every executor the conformance tests run on: the reference and 1, 2, 4, 8 workers."""

from __future__ import annotations

import pytest

from tfnn.executor import Executor, SyncExecutor

EXECUTORS = [
    pytest.param(None, id="sync"),
    pytest.param(1, id="workers-1"),
    pytest.param(2, id="workers-2"),
    pytest.param(4, id="workers-4"),
    pytest.param(8, id="workers-8"),
]


@pytest.fixture(params=EXECUTORS)
def executor(request):
    ex = SyncExecutor() if request.param is None else Executor(workers=request.param)
    yield ex
    ex.shutdown()


class Recorder:
    """Collects task names in execution order (``list.append`` is atomic)."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def __call__(self, name: str):
        return lambda: self.order.append(name)


@pytest.fixture
def record():
    return Recorder()
