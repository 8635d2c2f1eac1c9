"""Training graphs: the tasks of one step, and the five strategies built from them.

One step as tasks (layer i of L; ``F`` forward, ``BI`` input gradient, ``BW`` weight
gradient, ``U`` update; parameterless layers have no BW/U)::

    start -> F0 -> F1 -> ... -> F(L-1) -> loss -> BI(L-1) -> ... -> BI1
      |                                     |          |              |
      v                                     v          v              v
    prefetch                            BW(L-1)     BW(L-2)   ...    BW0
                                            |          |              |
                                            v          v              v
                                          U(L-1)     U(L-2)   ...    U0

``BI(i)`` and ``BW(i)`` run in parallel; ``U(i)`` overlaps the rest of the backward pass;
``prefetch`` loads the next step's batch while this one computes.

Strategies (all call ``StepWork``'s pieces with the same data flow):

- ``sequential``: the pieces in a plain Python loop (reference and overhead baseline);
- ``two-graph``: per step, run a forward graph (start, prefetch, F, loss) and wait, then
  a backward graph (BI, BW, U) and wait;
- ``condition``: one graph for the whole training (below); ``step?`` counts the step and
  loops, or goes to ``evaluate``, whose ``go on?`` loops or stops::

      prefetch-first -> start -> ... step tasks ... -> step? --0--> start
                                                         --1--> evaluate -> go on? --0--> start
                                                                                   --1--> done

- ``pipelined``: the condition graph, with the weight gradient and update of every layer
  above the first (``BW(i)'``, ``U(i)'``) moved to the start of the *next* step, beside
  its forward pass and before its ``F(i)``, and the prefetch beside ``BW0``; ``finish
  updates`` (``BW(i)''``, ``U(i)''``) runs the deferred pairs before every evaluation, so
  evaluations and checkpoints see current weights::

      start -> F0 -> ...                 step? --1--> finish updates -> BW'' -> U'' -> evaluate
        +-> BW(i)' -> U(i)' -> F(i)
      ... BI1 -> BW0 -> U0 ;  BI1 -> prefetch

  Why: in CPython two workers share one GIL. The first layer's matmuls are the longest
  calls in a step that release it, so a second worker's Python-heavy work (small matmuls,
  optimizer ufuncs, the batch gather) fits inside them; run beside the backward chain
  instead, it fights the critical path for the GIL at every small numpy call (traced on a
  2-core machine: each small task 2-4x slower, two workers slower than one).

- ``unrolled``: Taskflow's MNIST benchmark shape: every step of an epoch spelled out,
  each ending in a condition ``next@s`` that goes on to the next step or, when an
  evaluation is due, to ``evaluate@s`` and its ``go on@s`` (go on or stop); the graph
  is run once per epoch.

Data parallel (``work.reducer`` set, see ``tfnn.parallel``): each step's backward gets
allreduce tasks ``BW(i) -> AR(b) -> U(i)`` (``tfnn.parallel.graph.wire_allreduce``; on a
CPU rank ``AR(b) -> AW(b) -> U(i)``, a start and a wait), with each weight gradient listed
before its input gradient, so the worker starts the upper layers' exchange first and
computes the rest of the backward pass while it runs;
``sequential`` reduces all buckets after the backward pass; ``pipelined`` does not
support it (its deferred updates would need their own exchange order).

Device tasks (F, loss, BI, BW, U) go to ``device``; ``start``, ``prefetch`` and the
conditions run on the host, and the conditions (``step?``, ``go on?``, ``next@s``) read no
device data, so a GPU run synchronises the host only in ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tfnn.executor import Executor, Task, Taskflow
from tfnn.executor.graph import FlowBuilder
from tfnn.parallel.graph import wire_allreduce
from tfnn.train.control import Control
from tfnn.train.step import StepWork


def add_step(
    flow: FlowBuilder, work: StepWork, device: str, suffix: str = ""
) -> tuple[Task, list[Task]]:
    """Add one step's tasks to ``flow``; return its ``start`` task and its sinks."""
    start, prefetch, _, loss = add_forward(flow, work, device, suffix)
    sinks, _ = add_backward(flow, work, device, loss, suffix)
    return start, [prefetch, *sinks]


def add_forward(
    flow: FlowBuilder,
    work: StepWork,
    device: str,
    suffix: str = "",
    deferred_layers: tuple[int, ...] = (),
    prefetch_after_start: bool = True,
) -> tuple[Task, Task, list[Task], Task]:
    """Add start, prefetch, the forward chain and the loss; return them.

    ``start`` and ``prefetch`` run on ``device`` too: they move the buffers device tasks
    read, so they must be ordered with them in device order, not host order. Without
    ``prefetch_after_start`` the caller orders ``prefetch`` (after ``start``).
    """
    start = flow.emplace(work.start, name=f"start{suffix}", device=device)
    prefetch = flow.emplace(work.prefetch, name=f"prefetch{suffix}", device=device)
    forward = []
    previous = start
    for i in range(work.depth):
        task = flow.emplace(partial(work.forward, i), name=f"F{i}{suffix}", device=device)
        previous.precede(task)
        forward.append(task)
        previous = task
    # The executor runs a task's first successor inline and hands the rest to other
    # workers: the forward chain (critical path) comes first, the prefetch second.
    if prefetch_after_start:
        start.precede(prefetch)
    loss = flow.emplace(partial(work.loss, deferred_layers), name=f"loss{suffix}", device=device)
    previous.precede(loss)
    return start, prefetch, forward, loss


def add_backward(
    flow: FlowBuilder,
    work: StepWork,
    device: str,
    after: Task | None,
    suffix: str = "",
    deferred_layers: tuple[int, ...] = (),
) -> tuple[list[Task], Task | None]:
    """Add the backward tasks, after ``after`` (the loss) if given.

    Returns the sinks and the last input-gradient task (``after`` when there is none).
    Layers in ``deferred_layers`` get no weight-gradient or update task here (see
    ``add_deferred``).
    """
    sinks = []
    dy_from = after
    weights: dict[int, Task] = {}
    updates: dict[int, Task] = {}
    for i in reversed(range(work.depth)):
        # The input-gradient chain is the critical path: list it first (run inline);
        # in a data-parallel run the exchange is, so the weight gradient goes first.
        consumers = []
        if i > 0:
            grad = flow.emplace(
                partial(work.backward_input, i), name=f"BI{i}{suffix}", device=device
            )
            consumers.append(grad)
        if i in work.trainable and i not in deferred_layers:
            weight = flow.emplace(
                partial(work.backward_weight, i), name=f"BW{i}{suffix}", device=device
            )
            update = flow.emplace(partial(work.update, i), name=f"U{i}{suffix}", device=device)
            if work.reducer is None:
                weight.precede(update)
                consumers.append(weight)
            else:
                consumers.insert(0, weight)
            weights[i], updates[i] = weight, update
            sinks.append(update)
        if dy_from is not None:
            dy_from.precede(*consumers)
        if i > 0:
            dy_from = grad
    if work.reducer is not None and weights:
        wire_allreduce(
            flow, work.reducer, weights, updates, work.reduce_device, suffix, work.reduce_split
        )
    if dy_from is not None and dy_from is not after and not dy_from.successors:
        sinks.append(dy_from)
    return sinks, dy_from


def _join(tasks: list[Task], target: Task) -> None:
    for t in tasks:
        t.precede(target)


def _count_and_evaluate(control: Control) -> None:
    """After a step: count it, and evaluate when an evaluation is due."""
    control.count_step()
    if control.evaluation_due:
        control.evaluate()


def _evaluation_due(control: Control) -> int:
    """``step?``: count the step; 1 (evaluate) when an evaluation is due, else 0 (loop)."""
    control.count_step()
    return 1 if control.evaluation_due else 0


def _stop(control: Control) -> int:
    """``go on?``: 1 (stop) when training should stop, else 0 (loop)."""
    return 1 if control.stopped else 0


def _evaluation_next(control: Control) -> int:
    """``next@s``: count the step; 0 (evaluate) when an evaluation is due, else 1 (next)."""
    control.count_step()
    return 0 if control.evaluation_due else 1


# -- strategies ---------------------------------------------------------------------------


def run_sequential(work: StepWork, control: Control, executor: Executor, device: str) -> None:
    """The plain loop: the same pieces, one after another, on the calling thread."""
    work.prefetch()
    while not control.finished:
        work.start()
        work.prefetch()
        for i in range(work.depth):
            work.forward(i)
        work.loss()
        for i in reversed(range(work.depth)):
            if i in work.trainable:
                work.backward_weight(i)
                if work.reducer is None:
                    work.update(i)
            if i > 0:
                work.backward_input(i)
        if work.reducer is not None:
            work.reducer.reduce_all()
            for i in work.trainable:
                work.update(i)
        _count_and_evaluate(control)


def two_graphs(work: StepWork, device: str) -> tuple[Taskflow, Taskflow]:
    forward = Taskflow("forward")
    add_forward(forward, work, device)
    backward = Taskflow("backward")
    add_backward(backward, work, device, None)
    return forward, backward


def run_two_graph(work: StepWork, control: Control, executor: Executor, device: str) -> None:
    """Per step: the forward graph, wait; the backward graph, wait."""
    forward, backward = two_graphs(work, device)
    work.prefetch()
    while not control.finished:
        executor.run(forward).result()
        executor.run(backward).result()
        _count_and_evaluate(control)


def add_deferred(
    flow: FlowBuilder, work: StepWork, device: str, layers: tuple[int, ...], name: str
) -> list[tuple[Task, Task]]:
    """Add (weight-gradient, update) task pairs for the deferred ``layers``."""
    pairs = []
    for i in layers:
        weight = flow.emplace(partial(work.deferred_weight, i), name=f"BW{i}{name}", device=device)
        update = flow.emplace(partial(work.deferred_update, i), name=f"U{i}{name}", device=device)
        weight.precede(update)
        pairs.append((weight, update))
    return pairs


def condition_graph(
    work: StepWork, control: Control, device: str, pipelined: bool = False
) -> Taskflow:
    """The whole training as one Taskflow (see the module docstring).

    ``pipelined`` moves the upper layers' weight gradients and updates into the next step
    and the prefetch beside the first layer's weight gradient (the ``pipelined`` strategy).
    """
    deferred_layers = tuple(i for i in work.trainable if i > 0) if pipelined else ()
    tf = Taskflow("train")
    first = tf.emplace(work.prefetch, name="prefetch-first")
    start, prefetch, forward, loss = add_forward(
        tf, work, device, deferred_layers=deferred_layers, prefetch_after_start=not pipelined
    )
    sinks, last_input_grad = add_backward(tf, work, device, loss, deferred_layers=deferred_layers)
    first.precede(start)
    if pipelined:
        # A second worker gathers the next batch while the first layer's weight-gradient
        # matmul holds no GIL; the deferred pairs fill the same window in the next step's
        # first forward matmul, and each update still precedes its layer's next forward.
        (last_input_grad or start).precede(prefetch)
        for (weight, update), i in zip(
            add_deferred(tf, work, device, deferred_layers, "'"), deferred_layers, strict=True
        ):
            start.precede(weight)
            update.precede(forward[i])
    step = tf.condition(partial(_evaluation_due, control), name="step?")
    _join([prefetch, *sinks], step)
    evaluate = tf.emplace(control.evaluate, name="evaluate")
    if pipelined:
        finish = tf.placeholder(name="finish updates")
        for weight, update in add_deferred(tf, work, device, deferred_layers, "''"):
            finish.precede(weight)
            update.precede(evaluate)
        if not deferred_layers:
            finish.precede(evaluate)
        step.precede(start, finish)
    else:
        step.precede(start, evaluate)
    go_on = tf.condition(partial(_stop, control), name="go on?")
    done = tf.placeholder(name="done")
    evaluate.precede(go_on)
    go_on.precede(start, done)
    # Counting steps and reading the stop flag need no device result: no host sync.
    step.reads_device = False
    go_on.reads_device = False
    return tf


def run_condition(work: StepWork, control: Control, executor: Executor, device: str) -> None:
    """One run of the condition graph trains to the end."""
    if not control.finished:
        executor.run(condition_graph(work, control, device)).result()


def run_pipelined(work: StepWork, control: Control, executor: Executor, device: str) -> None:
    """One run of the pipelined condition graph trains to the end."""
    if not control.finished:
        executor.run(condition_graph(work, control, device, pipelined=True)).result()


def unrolled_graph(work: StepWork, control: Control, device: str, steps: range) -> Taskflow:
    """Every step in ``steps`` of one epoch spelled out as tasks.

    After step ``s``, ``next@s`` counts it and goes to ``evaluate@s`` (0) when an
    evaluation is due, else to the next step's ``start`` (1); ``go on@s`` then goes to
    the next step (0) or stops (1). Only ``evaluate@s`` reads the loss on the host, so a
    GPU run synchronises at evaluations only.
    """
    tf = Taskflow(f"epoch-steps-{steps.start}-{steps.stop}")
    go_to_next: list[Task] = []
    for s in steps:
        start, sinks = add_step(tf, work, device, suffix=f"@{s}")
        for condition in go_to_next:
            condition.precede(start)
        counted = tf.condition(partial(_evaluation_next, control), name=f"next@{s}")
        _join(sinks, counted)
        evaluate = tf.emplace(control.evaluate, name=f"evaluate@{s}")
        go_on = tf.condition(partial(_stop, control), name=f"go on@{s}")
        counted.precede(evaluate)
        evaluate.precede(go_on)
        # Counting steps and reading the stop flag need no device result: no host sync.
        counted.reads_device = False
        go_on.reads_device = False
        go_to_next = [counted, go_on]
    return tf


def run_unrolled(work: StepWork, control: Control, executor: Executor, device: str) -> None:
    """Run the spelled-out epoch graph once per epoch (a partial one first on resume)."""
    full: Taskflow | None = None
    work.prefetch()
    while not control.finished:
        if control.step:
            graph = unrolled_graph(work, control, device, range(control.step, work.steps_per_epoch))
        else:
            full = full or unrolled_graph(work, control, device, range(work.steps_per_epoch))
            graph = full
        executor.run(graph).result()


Runner = Callable[[StepWork, Control, Executor, str], None]

STRATEGIES: dict[str, Runner] = {
    "sequential": run_sequential,
    "two-graph": run_two_graph,
    "condition": run_condition,
    "pipelined": run_pipelined,
    "unrolled": run_unrolled,
}
