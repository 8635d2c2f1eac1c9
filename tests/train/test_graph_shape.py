"""The shape of the training graphs: which tasks exist, which are ordered, which may overlap.

Reachability is over strong edges only: a condition task's (weak) edges start the next
step or the evaluation, they do not order tasks within a step.
"""

from __future__ import annotations

import pytest

from tfnn.executor import Kind
from tfnn.train import graphs

from .helpers import BATCH, MODELS, step_pieces

WEAK = (Kind.CONDITION, Kind.MULTI_CONDITION)
DEVICE = "sim:0"  # any name: building a graph needs no registered device


def reaches(a, b) -> bool:
    """Whether ``b`` is reachable from ``a`` through strong edges (iterative walk)."""
    seen, stack = {id(a)}, [a]
    while stack:
        task = stack.pop()
        if task.kind in WEAK:
            continue
        for s in task.successors:
            if s is b:
                return True
            if id(s) not in seen:
                seen.add(id(s))
                stack.append(s)
    return False


def unordered(a, b) -> bool:
    return not reaches(a, b) and not reaches(b, a)


def pieces(model_name, **kwargs):
    model, optimizer = MODELS[model_name]()
    return step_pieces(model, optimizer, **kwargs)


def condition_tasks(model_name, **kwargs):
    work, control = pieces(model_name, **kwargs)
    tf = graphs.condition_graph(work, control, DEVICE)
    return work, tf, Named(tf.tasks)


class Named:
    """Tasks by name; ``t["BW2"]`` is the task so named, ``t.all("BW2")`` every copy of it
    (a graph may split a piece into primed copies such as ``BW2'``: each must obey the
    rules the piece obeys)."""

    def __init__(self, tasks) -> None:
        self.tasks = list(tasks)
        self.names = [t.name for t in self.tasks]

    def __getitem__(self, name):
        found = [t for t in self.tasks if t.name == name]
        assert len(found) == 1, f"expected one task {name!r} in {self.names}"
        return found[0]

    def all(self, name):
        found = [t for t in self.tasks if t.name.rstrip("'") == name]
        assert found, f"no task {name!r} in {self.names}"
        return found

    def bases(self):
        return {n.rstrip("'") for n in self.names}


def step_task_names(work, suffix=""):
    names = ["start", "prefetch", "loss"]
    names += [f"F{i}" for i in range(work.depth)]
    names += [f"BI{i}" for i in range(1, work.depth)]
    names += [f"{kind}{i}" for i in work.trainable for kind in ("BW", "U")]
    return {f"{n}{suffix}" for n in names}


def tasks_per_step(work) -> int:
    # start, prefetch, F per layer, loss, BI per layer but the first, BW+U per trainable
    return 2 + work.depth + 1 + (work.depth - 1) + 2 * len(work.trainable)


MODEL_LAYERS = {
    # name: (depth, trainable layers)
    "sgd-mlp": (5, [0, 2, 4]),
    "dropout-adam": (4, [0, 3]),
    "dropout-first": (4, [1, 3]),
    "single-linear": (1, [0]),
}


@pytest.mark.parametrize("model_name", list(MODEL_LAYERS))
def test_condition_graph_has_the_pieces_of_a_step_and_the_loop(model_name):
    work, tf, t = condition_tasks(model_name)
    assert (work.depth, work.trainable) == MODEL_LAYERS[model_name]
    loop = {"prefetch-first", "step?", "evaluate", "go on?", "done"}
    assert t.bases() >= step_task_names(work) | loop
    parameterless = set(range(work.depth)) - set(work.trainable)
    for i in parameterless:
        assert f"BW{i}" not in t.bases() and f"U{i}" not in t.bases()
    assert "BI0" not in t.bases()
    for name in step_task_names(work) - {"start", "prefetch"}:
        for task in t.all(name):
            assert task.device == DEVICE, task.name
    for name in loop:
        assert t[name].device == "cpu", name
    assert tf.check() == []


def test_the_conditions_loop_or_evaluate_and_stop():
    _, _, t = condition_tasks("sgd-mlp")
    step, go_on = t["step?"], t["go on?"]
    assert step.kind is Kind.CONDITION and go_on.kind is Kind.CONDITION
    assert step.successors[0] is t["start"]
    assert reaches(step.successors[1], t["evaluate"]) or step.successors[1] is t["evaluate"]
    assert t["evaluate"].successors == [go_on]
    assert go_on.successors == [t["start"], t["done"]]
    assert t["prefetch-first"].successors == [t["start"]]
    # Counting steps and reading the stop flag need no device result.
    assert not step.reads_device and not go_on.reads_device
    assert t["evaluate"].reads_device


@pytest.mark.parametrize("model_name", list(MODEL_LAYERS))
def test_no_task_of_a_step_is_left_behind(model_name):
    # Each piece of a step finishes before the next step is counted or before the
    # evaluation reads the weights and the loss.
    work, tf, t = condition_tasks(model_name)
    loop = {t[n] for n in ("prefetch-first", "step?", "evaluate", "go on?", "done")}
    for task in tf.tasks:
        if task not in loop and task.kind not in WEAK:
            assert reaches(task, t["step?"]) or reaches(task, t["evaluate"]), task.name


@pytest.mark.parametrize("model_name", list(MODEL_LAYERS))
def test_data_flow_edges(model_name):
    work, _, t = condition_tasks(model_name)
    last = work.depth - 1
    assert reaches(t["start"], t["F0"])
    for i in range(last):
        assert reaches(t[f"F{i}"], t[f"F{i + 1}"])
    assert reaches(t[f"F{last}"], t["loss"])
    for i in range(work.depth):
        # Both backward pieces of layer i read dy[i]: the loss's, or BI(i+1)'s; the
        # update reads the weight gradient.
        if i > 0:
            assert reaches(t["loss"] if i == last else t[f"BI{i + 1}"], t[f"BI{i}"])
        if i in work.trainable:
            for weight in t.all(f"BW{i}"):
                assert any(reaches(weight, update) for update in t.all(f"U{i}")), weight.name
    # The next step's batch is loaded after this step's start took the current one.
    assert reaches(t["start"], t["prefetch"])


@pytest.mark.parametrize("model_name", ["sgd-mlp", "dropout-adam", "dropout-first"])
def test_input_and_weight_gradients_may_run_in_parallel(model_name):
    work, _, t = condition_tasks(model_name)
    layers = [i for i in work.trainable if i >= 1]
    assert layers
    for i in layers:
        for weight in t.all(f"BW{i}"):
            assert unordered(t[f"BI{i}"], weight), weight.name
        # The update of W_i overlaps the rest of the backward pass (safe: a functional
        # update rebinds W_i, and BI_i's context holds the array forward used).
        for update in t.all(f"U{i}"):
            assert unordered(t[f"BI{i}"], update), update.name


@pytest.mark.parametrize("model_name", list(MODEL_LAYERS))
def test_prefetch_overlaps_the_forward_pass(model_name):
    work, _, t = condition_tasks(model_name)
    for i in range(work.depth):
        assert unordered(t["prefetch"], t[f"F{i}"]), i
    assert unordered(t["prefetch"], t["loss"])


def test_two_graphs_split_forward_and_backward():
    work, _ = pieces("sgd-mlp")
    forward, backward = graphs.two_graphs(work, DEVICE)
    names = step_task_names(work)
    forward_names = {"start", "prefetch", "loss"} | {f"F{i}" for i in range(work.depth)}
    assert {t.name for t in forward.tasks} == forward_names
    assert {t.name for t in backward.tasks} == names - forward_names
    assert forward.check() == [] and backward.check() == []


@pytest.mark.parametrize("model_name", list(MODEL_LAYERS))
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_unrolled_graph_spells_out_every_step(model_name, steps):
    work, control = pieces(model_name)
    tf = graphs.unrolled_graph(work, control, DEVICE, range(steps))
    per_step = tasks_per_step(work) + 3  # and next@s, evaluate@s, go on@s
    assert tf.num_tasks() == per_step * steps
    expected = set()
    for s in range(steps):
        expected |= step_task_names(work, f"@{s}") | {f"next@{s}", f"evaluate@{s}", f"go on@{s}"}
    by_name = {t.name: t for t in tf.tasks}
    assert set(by_name) == expected
    for s in range(steps):
        following = [by_name[f"start@{s + 1}"]] if s < steps - 1 else []
        assert by_name[f"next@{s}"].kind is Kind.CONDITION
        assert by_name[f"next@{s}"].successors == [by_name[f"evaluate@{s}"], *following]
        assert by_name[f"evaluate@{s}"].successors == [by_name[f"go on@{s}"]]
        assert by_name[f"go on@{s}"].successors == following
        # Only the evaluation reads the loss: the conditions never wait for the device.
        assert not by_name[f"next@{s}"].reads_device
        assert not by_name[f"go on@{s}"].reads_device
        assert by_name[f"evaluate@{s}"].reads_device
    assert tf.check() == []


# -- memory: the condition graph is one step whatever the length of training -------------


@pytest.mark.parametrize("model_name", ["sgd-mlp", "dropout-first"])
def test_condition_graph_size_does_not_depend_on_the_number_of_steps(model_name):
    sizes = set()
    for samples, epochs in [(BATCH, 1), (300, 2), (3000, 10)]:
        work, control = pieces(model_name, samples=samples, epochs=epochs)
        sizes.add(graphs.condition_graph(work, control, DEVICE).num_tasks())
    assert len(sizes) == 1


@pytest.mark.parametrize("model_name", ["sgd-mlp", "dropout-first"])
def test_unrolled_graph_grows_linearly_with_the_steps_of_an_epoch(model_name):
    counts = {}
    for samples in [BATCH, 10 * BATCH, 50 * BATCH - 1]:
        work, control = pieces(model_name, samples=samples)
        steps = len(work.batches)
        counts[steps] = graphs.unrolled_graph(work, control, DEVICE, range(steps)).num_tasks()
    assert sorted(counts) == [1, 10, 50]
    assert counts[10] == 10 * counts[1] and counts[50] == 50 * counts[1]


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_pipelined_graph_defers_upper_layers_before_their_next_forward(model_name):
    work, control = pieces(model_name)
    t = Named(graphs.condition_graph(work, control, DEVICE, pipelined=True).tasks)
    late = [i for i in work.trainable if i > 0]
    for i in late:
        deferred_update = t[f"U{i}'"]
        assert reaches(t["start"], t[f"BW{i}'"])
        assert reaches(deferred_update, t[f"F{i}"])  # the update precedes its next forward
        assert unordered(t[f"BW{i}'"], t["F0"])  # and runs beside the first forward
        assert reaches(t[f"U{i}''"], t["evaluate"])  # flushed before every evaluation
        assert f"BW{i}" not in t.names and f"U{i}" not in t.names
    if work.depth > 1:
        assert reaches(t["F0"], t["prefetch"])  # gathered late in the step ...
        if 0 in work.trainable:
            assert unordered(t["prefetch"], t["BW0"])  # ... beside the first layer's BW
