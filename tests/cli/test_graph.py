"""``tfnn graph`` prints each strategy's training graph as DOT."""

from __future__ import annotations

from tfnn.cli import main


def test_condition_graph_is_dot_with_diamonds(capsys):
    assert main(["graph", "--strategy", "condition", "--layers", "784,64,10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph")
    assert '[label="step?" shape=diamond]' in out
    assert '[label="go on?" shape=diamond]' in out
    assert out.count('label="F') == 3


def test_two_graph_shows_forward_then_backward_modules(capsys):
    assert main(["graph", "--strategy", "two-graph"]) == 0
    out = capsys.readouterr().out
    assert 'subgraph "cluster_forward"' in out and 'subgraph "cluster_backward"' in out
    assert "shape=diamond" not in out


def test_unrolled_spells_out_the_steps_asked_for(capsys):
    assert main(["graph", "--strategy", "unrolled", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert '"start@1"' in out and '"start@2"' not in out
    assert out.count("shape=diamond") == 4  # next@s and go on@s of each step


def test_a_huge_layer_is_drawn_without_allocating_it(capsys):
    import tracemalloc

    tracemalloc.start()
    try:
        assert main(["graph", "--layers", "100000000,100000000,10"]) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert capsys.readouterr().out.startswith("digraph")
    assert peak < 50 * 2**20


def test_sequential_runs_no_graph(capsys):
    assert main(["graph", "--strategy", "sequential"]) == 2
    assert "invalid choice" in capsys.readouterr().err
