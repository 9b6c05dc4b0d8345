"""The package's layout holds: no import circle between mmnet's modules, counting the imports inside functions too
(a lazy import keeps torch off the inference path; it must not hide a circle), and no module over MAX_LINES."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mmnet"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_main_block(node: ast.AST) -> bool:
    """`if __name__ == "__main__":`: it runs only as a program (`python -m`), never when imported, so its imports
    cannot close a circle."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators))


def imported(path: Path, modules: set[str]) -> set[str]:
    """The mmnet modules that `path` imports anywhere in it (a name imported from a package that is a module of
    its own counts as that module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    nodes = [ast.parse(path.read_text(), str(path))]
    while nodes:
        node = nodes.pop()
        nodes.extend(child for child in ast.iter_child_nodes(node) if not is_main_block(child))
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *filter(None, [base])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported(path, modules) for path in paths}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_as_python_imports_it():
    graph = import_graph()
    assert "mmnet.training.checkpoint" in graph["mmnet.export.formats"]  # a module-level import
    assert "mmnet.export.formats" in graph["mmnet.runtime.weights"]  # the runtime's one door, inside a function
    assert "mmnet.cli.train" in graph["mmnet.cli"]  # `from mmnet.cli import train`: the module, not the package
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_runtime_and_training_are_siblings():
    """Training reaches no runtime module; what both use lives below them (data, manifest, files, ...)."""
    graph = import_graph()
    training = {name for name in graph if name.startswith("mmnet.training")}
    assert not {target for name in training for target in graph[name] if target.startswith("mmnet.runtime")}


def test_no_module_is_over_the_line_limit():
    lengths = {str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines())
               for path in PACKAGE.rglob("*.py")}
    assert {path: lines for path, lines in lengths.items() if lines > MAX_LINES} == {}
