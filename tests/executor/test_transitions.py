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


def test_join_counter_releases_on_last_strong_predecessor_and_rearms():
    tf, a, b, c, d, cond = _graph()
    arm(tf._graph)
    assert sources(tf._graph) == [b]  # a has a weak predecessor, so it is no source
    assert advance(a, None) == []
    assert advance(b, None) == [c]
    # re-armed at once: the loop's next pass needs both predecessors again
    assert advance(b, None) == []
    assert advance(a, None) == [c]


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
