"""Graphviz DOT text for a Taskflow: its picture, in the same conventions as Taskflow's.

Condition tasks are diamonds and their (weak) out-edges dashed, labelled with the index
a condition returns to take them; subflow tasks are drawn as boxes with a fold; module
tasks as 3-D boxes, with the module's graph beside them in a cluster, once; a subflow
task that retained its child graph (``sf.retain(True)``) has it drawn in a cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfnn.executor.graph import Graph
from tfnn.executor.task import KINDS_WITH_WEAK_OUT_EDGES, MODULE, SUBFLOW, Task

if TYPE_CHECKING:
    from tfnn.executor.graph import Taskflow

_SHAPES = {SUBFLOW: "folder", MODULE: "box3d"}


def to_dot(taskflow: Taskflow) -> str:
    """The DOT text of ``taskflow`` (``dot -Tsvg`` draws it)."""
    lines = [f"digraph {_quote(taskflow.name)} {{", "  rankdir=TB;"]
    drawn: set[int] = set()
    _graph_lines(taskflow._graph, lines, drawn, "  ")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _graph_lines(graph: Graph, lines: list[str], drawn: set[int], indent: str) -> None:
    drawn.add(id(graph))
    for t in graph.tasks:
        shape = "diamond" if t.kind in KINDS_WITH_WEAK_OUT_EDGES else _SHAPES.get(t.kind, "box")
        lines.append(f"{indent}{_node(t)} [label={_quote(t.name)} shape={shape}];")
    for t in graph.tasks:
        for i, s in enumerate(t._succ):
            style = f' [style=dashed label="{i}"]' if t.kind in KINDS_WITH_WEAK_OUT_EDGES else ""
            lines.append(f"{indent}{_node(t)} -> {_node(s)}{style};")
    for t in graph.tasks:
        retained = t.retained_subflow
        if retained is not None and id(retained._graph) not in drawn:
            lines.append(f"{indent}subgraph {_quote('cluster_' + _node(t))} {{")
            lines.append(f"{indent}  label={_quote('subflow ' + t.name)};")
            _graph_lines(retained._graph, lines, drawn, indent + "  ")
            lines.append(f"{indent}}}")
        if t.kind is MODULE and t.module is not None and id(t.module._graph) not in drawn:
            module = t.module._graph
            lines.append(f"{indent}subgraph {_quote('cluster_' + module.name)} {{")
            lines.append(f"{indent}  label={_quote('module ' + module.name)};")
            _graph_lines(module, lines, drawn, indent + "  ")
            lines.append(f"{indent}}}")
        if t.kind is MODULE and t.module is not None and t.module._graph.tasks:
            first = t.module._graph.tasks[0]
            lines.append(f"{indent}{_node(t)} -> {_node(first)} [style=dotted arrowhead=none];")


def _node(task: Task) -> str:
    return f"t{id(task):x}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
