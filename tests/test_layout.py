"""The layout of `models/` (ARCHITECTURE.md): rooms along the data flow, imports that only point
back up the flow, nothing in models/ reaching training/ or the CLI by any chain of imports, bench/
built on the package alone (never on tests/), no import circles anywhere in the project, and no
module over ~300 lines unless its docstring says why. Read from the source with `ast`, so
function-level imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "tokenization", "profiles", "diffusion", "training", "mapperator_cli", "bench", "tests")
SHIPPED = ("models", "tokenization", "profiles", "diffusion", "training", "mapperator_cli")  # the package
# the data flow: audio -> frames -> tokens -> model -> events -> beatmap -> files; a room may import
# from its own rank and lower ones only
ROOM_RANK = {"audio": 0, "model": 1, "decoding": 2, "timing": 2, "generation": 3, "postprocess": 4,
             "pipeline": 5, "evaluation": 6}
LONG_MODULE_LINES = 330
LONG_MODULE_REASON = "Over 300 lines"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules `path` imports (a `from package import module` counts as the module)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if node.level:  # relative
                base = name.split(".") if is_package else name.split(".")[:-1]
                module = ".".join(base[:len(base) - node.level + 1] + [node.module])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in known)
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "models" or len(parts) == 1:
        return None
    return parts[1] if parts[1] in ROOM_RANK else "model"


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module `start` imports directly or through others, each with the module it was reached from."""
    came_from, todo = {}, [start]
    while todo:
        module = todo.pop()
        for target in graph[module]:
            if target not in came_from and target != start:
                came_from[target] = module
                todo.append(target)
    return came_from


def _chain(came_from: dict[str, str], start: str, end: str) -> str:
    steps = [end]
    while steps[-1] != start:
        steps.append(came_from[steps[-1]])
    return " -> ".join(reversed(steps))


def _top(module: str) -> str:
    return module.split(".")[0]


def test_models_imports_only_point_back_up_the_flow():
    wrong = []
    for module, imported in _graph().items():
        if _top(module) in ("bench", "tests"):
            continue
        room = _room(module)
        if room is None:
            continue
        for target in imported:
            if target.split(".")[0] in ("training", "mapperator_cli"):
                wrong.append(f"{module} -> {target} (models/ is below training and the CLI)")
            other = _room(target)
            if other is not None and ROOM_RANK[other] > ROOM_RANK[room]:
                wrong.append(f"{module} ({room}) -> {target} ({other})")
    assert not wrong, "\n".join(sorted(wrong))


def test_models_reach_no_training_or_cli_through_any_chain():
    """Not through another package either: models -> diffusion -> training is as much a tie upward
    as models -> training."""
    graph = _graph()
    wrong = []
    for module in sorted(graph):
        if _top(module) != "models":
            continue
        came_from = _reachable(graph, module)
        wrong += [_chain(came_from, module, target) for target in sorted(came_from)
                  if _top(target) in ("training", "mapperator_cli") and _top(came_from[target]) != _top(target)]
    assert not wrong, "\n".join(wrong)


def test_bench_and_the_package_never_import_tests():
    """Benchmarks measure the package and use only what it owns (its synthetic data builders
    included); nothing shipped imports bench/ or tests/."""
    graph = _graph()
    wrong = [f"{module} -> {target}" for module, imported in sorted(graph.items()) if _top(module) != "tests"
             for target in sorted(imported) if _top(target) == "tests"
             or (_top(target) == "bench" and _top(module) in SHIPPED)]
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    graph = _graph()
    index, low, on_stack, stack, circles = {}, {}, set(), [], []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, circles


def test_long_modules_say_why_they_are_long():
    unexplained = []
    for name, path in _modules().items():
        if _top(name) == "tests":
            continue
        text = path.read_text()
        if len(text.splitlines()) > LONG_MODULE_LINES and LONG_MODULE_REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{name}: {len(text.splitlines())} lines")
    assert not unexplained, "\n".join(unexplained)
