"""The package's layers import downwards only, and no module imports itself in a circle.

    scenario  <-  model  <-  runs  <-  studies  <-  report  <-  cli

`scenario` is the model's description as data; `model` the society, the
day's modules, the rulebook and the backends; `runs` the run folder (its
layout, atomic writers, checkpoints, the registry); `studies` what is made of
many runs or of one run's files (compare, sweep, calibrate, explain);
`report` the HTML reports; `cli` the command line. Every import counts,
including one inside a function: an import written there to dodge a circle is
still a circle. Only `if TYPE_CHECKING:` blocks (annotations) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import scoresim

PACKAGE = Path(scoresim.__file__).parent
LAYERS = ["scenario", "model", "runs", "studies", "report", "cli"]
# below every layer: read by all, importing nothing of scoresim
BOTTOM = {"scoresim._version", "scoresim._kernel_cache"}
# above every layer: the package's front door
TOP = {"scoresim", "scoresim.__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The scoresim modules `name` imports, wherever in the file (TYPE_CHECKING aside)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]

    def resolve(target: str) -> str | None:
        while target and target not in MODULES:
            if "." not in target:
                return None
            target = target.rsplit(".", 1)[0]
        return target or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            targets = []
        for t in targets:
            if t.startswith("scoresim"):
                m = resolve(t)
                if m is not None and m != name:
                    found.add(m)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> float:
    if name in BOTTOM:
        return -1
    if name in TOP:
        return len(LAYERS)
    return LAYERS.index(name.split(".")[1])


def test_every_module_belongs_to_a_layer() -> None:
    for name in MODULES:
        assert name in BOTTOM | TOP or name.split(".")[1] in LAYERS, name


def test_imports_go_downwards_only() -> None:
    upward = [f"{a} imports {b}" for a, deps in GRAPH.items() for b in deps
              if _layer(b) > _layer(a) and b != "scoresim._version"]
    assert not upward, "imports up the layers:\n" + "\n".join(sorted(upward))


def test_the_bottom_imports_nothing_of_scoresim() -> None:
    for name in BOTTOM:
        assert not GRAPH[name], f"{name} imports {GRAPH[name]}"


def test_no_import_cycle() -> None:
    # the package front door imports its submodules; they never import it
    graph = {a: {b for b in deps if b not in TOP} for a, deps in GRAPH.items()}
    for a, deps in GRAPH.items():
        assert a in TOP or not deps & TOP, f"{a} imports the package front door"
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
