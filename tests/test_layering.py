"""The package layout: no import cycles, analysis never reaches into training or reporting,
probes never import interp, and imports inside functions are marked as lazy on purpose."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("interp", "probes")
ANALYSIS = (
    "interp.evaluate",
    "interp.attention",
    "interp.patching",
    "interp.attribution",
    "interp.circuits",
    "interp.edges",
    "interp.chance",
    "interp.claims",
    "interp.specificity",
    "interp.contrast",
    "interp.diff",
    "interp.analysis",
    "interp.inputs",
    "interp.localise",
)
ABOVE_ANALYSIS = ("interp.train", "interp.report", "interp.study", "interp.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def _in_type_checking(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _in_function(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
    return False


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, ast.AST, bool]]:
    """(imported project module, node, inside a function) for every import of a module."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if _in_type_checking(node, parents):
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the submodule when there is one
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node, _in_function(node, parents)))
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: {t for t, _, _ in imports(name, path, known)} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
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
                out.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return out


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_walker_sees_imports_and_cycles():
    edges = graph()
    assert "interp.inputs" in edges["interp.evaluate"]
    assert "probes.tasks" in edges["interp.manifest"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_there_is_no_import_cycle_in_interp_and_probes():
    assert cycles(graph()) == []


def test_analysis_modules_never_reach_training_reporting_or_the_commands():
    edges = graph()
    for module in ANALYSIS:
        assert module in edges, module
        bad = sorted(t for t in reachable(edges, module) if t.startswith(ABOVE_ANALYSIS))
        assert bad == [], f"{module} reaches {bad}"


def test_probes_are_data_and_never_import_interp():
    edges = graph()
    for module in (m for m in edges if m.startswith("probes")):
        assert not any(t.startswith("interp") for t in edges[module]), module


def _marked_lazy(lines: list[str], lineno: int) -> bool:
    """A `lazy:` comment on the import's line or above it, in the same block of imports."""
    index = lineno - 1
    while index >= 0:
        line = lines[index].strip()
        if "lazy:" in line:
            return True
        if index < lineno - 1 and not (line.startswith(("#", "import ", "from ")) or not line):
            return False
        index -= 1
    return False


def test_imports_inside_functions_are_marked_lazy():
    """An import inside a function must say why: a `lazy:` comment on its line or above it (or,
    in the command-line module, in the module docstring)."""
    unmarked = []
    for path in modules().values():
        source = path.read_text()
        lines, tree = source.splitlines(), ast.parse(source)
        module_says = "lazy:" in (ast.get_docstring(tree) or "")
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if _in_function(node, parents) and not (
                module_says or _marked_lazy(lines, node.lineno)
            ):
                unmarked.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert unmarked == [], unmarked


def test_the_results_models_sit_below_the_analysis_that_builds_them():
    """interp.results defines what analysis, study and sweep produce: it may import only the
    layers below analysis, so that every producer can build its records."""
    edges = graph()
    below = ("interp.results", "interp.io", "interp.errors", "interp.units", "interp.seeding")
    for module in (m for m in edges if m.startswith("interp.results")):
        bad = sorted(t for t in reachable(edges, module) if not t.startswith(below))
        assert bad == [], f"{module} reaches {bad}"
