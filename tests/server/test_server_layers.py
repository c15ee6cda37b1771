"""loadtui.server's modules (server/) have no import cycle, not even one hidden behind
TYPE_CHECKING: the metrics collector takes the sources it reads, the sidecar a mapping of path ->
responder."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"


def _relative_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.partition(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_server_modules_import_each_other_without_a_cycle():
    graph = {path.stem: _relative_imports(path) for path in SERVER.glob("*.py")}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle in server/: {exc.args[1]}") from None
    assert order.index("metrics") < order.index("instrumentation")
    assert order.index("sidecar") < order.index("instrumentation")
    assert "instrumentation" not in graph["metrics"] | graph["sidecar"]
    assert "metrics" not in graph["sidecar"]
