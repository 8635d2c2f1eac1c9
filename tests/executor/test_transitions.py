"""The scheduler's transitions, step by step, without threads."""

from __future__ import annotations

import pytest

from tfnn.executor import Taskflow
from tfnn.executor.transitions import advance, arm, sources, strong_cycle


def _graph():
    #   a -> c <- b ; c -> cond --0--> a, --1--> d
    tf = Taskflow("t")
    a, b, c, d = (tf.emplace(lambda: None, name=n) for n in "abcd")
    cond = tf.condition(lambda: 0, name="cond")
    a.precede(c)
    b.precede(c)
    c.precede(cond)
    cond.precede(a, d)
    return tf, a, b, c, d, cond


def test_join_counter_releases_on_last_strong_predecessor_and_is_restored_when_it_runs():
    tf, a, b, c, d, cond = _graph()
    arm(tf._graph)
    assert sources(tf._graph) == [b]  # a has a weak predecessor, so it is no source
    assert advance(a, None) == []
    assert advance(b, None) == [c]
    assert c._join == []  # released and not finished: a late predecessor pops nothing
    assert advance(a, None) == []
    assert advance(c, None) == [cond]
    # restored when c finished: the loop's next pass needs both predecessors again
    assert len(c._join) == 2
    assert advance(b, None) == []
    assert advance(a, None) == [c]


def test_counter_popped_before_a_weak_edge_scheduled_the_task_is_restored():
    # Taskflow's rule: P1 popped X's counter, C1 then scheduled X through a weak edge;
    # when X finishes its counter is full again, so P2 alone does not release it.
    tf = Taskflow()
    p1, x, p2 = (tf.emplace(lambda: None, name=n) for n in ("P1", "X", "P2"))
    c1 = tf.condition(lambda: 0, name="C1")
    p1.precede(x, c1)
    c1.precede(x)
    p2.precede(x)
    arm(tf._graph)
    assert advance(p1, None) == [c1]
    assert advance(c1, 0) == [x]
    advance(x, None)
    assert advance(p2, None) == []


def test_condition_schedules_chosen_successor_directly():
    tf, a, b, c, d, cond = _graph()
    arm(tf._graph)
    assert advance(cond, 0) == [a]
    assert advance(cond, 1) == [d]
    assert advance(cond, 2) == [] and advance(cond, -1) == []
    assert len(a._join) == len(a._arm)  # weak edges leave counters alone


def test_condition_value_must_be_an_integer():
    tf, *_, cond = _graph()
    arm(tf._graph)
    for bad in ["0", 1.0, None, True]:
        with pytest.raises(TypeError, match="'cond'"):
            advance(cond, bad)


def test_arm_refills_counters_a_previous_run_left_half_popped():
    tf, a, b, c, *_ = _graph()
    arm(tf._graph)
    advance(b, None)  # c's counter now half popped (b finished, a never ran)
    assert len(c._join) == 1
    arm(tf._graph)
    assert len(c._join) == 2


def test_strong_cycle_names_the_cycle():
    tf = Taskflow()
    x, y, z = (tf.emplace(lambda: None, name=n) for n in "xyz")
    x.precede(y)
    y.precede(z)
    z.precede(y)
    cycle = strong_cycle(tf._graph)
    assert cycle is not None and {t.name for t in cycle} == {"y", "z"}
    tf2, *_ = _graph()
    assert strong_cycle(tf2._graph) is None  # the loop closes with a weak edge
