"""The package's layout: each stage in its own subpackage, imports only going down the stages, no circle."""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# stage of each top-level module or subpackage: an import may only reach a lower stage (or its own)
STAGES = {"errors": 0, "io": 0, "devices": 0, "checks": 0, "data": 1, "models": 2, "features": 2, "neural": 3,
          "training": 3, "search": 4, "tables": 4, "figures": 5, "export": 5, "workflow": 6, "cli": 7}


def _modules():
    out = {}
    for path in (SRC / "convrnn").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _edges(modules):
    """module -> the package modules it imports anywhere (a name imported from a package counts the package,
    unless the name is one of its submodules)."""
    edges = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                subs = {f"{mod}.{a.name}" for a in node.names} & set(modules)
                found |= subs if len(subs) == len(node.names) else subs | {mod}
        edges[name] = {m for m in found if m in modules and m != name}
    return edges


def _stage(module: str) -> str:
    return module.split(".")[1] if "." in module else "convrnn"


def test_every_module_belongs_to_a_stage():
    assert {_stage(m) for m in _modules()} - {"convrnn"} == set(STAGES)


def test_imports_only_go_down_the_stages():
    up = [f"{a} -> {b}" for a, bs in _edges(_modules()).items() for b in bs
          if _stage(a) != _stage(b) and _stage(b) != "convrnn" and STAGES[_stage(b)] >= STAGES[_stage(a)]]
    assert not up, up


def test_no_import_circle():
    edges = _edges(_modules())
    state, cycles = {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def _table(text: str, header: str) -> dict[str, str]:
    """First column -> second column of the Markdown table whose header row starts with ``| header |``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1]
    return rows


def test_architecture_contracts_match_the_code():
    """docs/architecture.md's build overrides, readouts and cell keys are the code's, no more and no less."""
    from convrnn.models import graph, registry
    from convrnn.models.cells import CELLS, COMMON

    text = (SRC.parent / "docs" / "architecture.md").read_text()
    assert list(_table(text, "override")) == list(registry.OVERRIDES)
    assert list(_table(text, "readout")) == list(graph.READOUTS)
    cells = {name: sorted(k.strip() for k in keys.split(",")) for name, keys in _table(text, "cell").items()}
    assert cells == {name: sorted(set(cls.defaults) - set(COMMON)) for name, cls in sorted(CELLS.items())}
    assert "every cell also takes `kernel_init_scale` and `weight_decay`" in text and set(COMMON) == {
        "kernel_init_scale", "weight_decay"}
