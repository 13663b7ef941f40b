"""The package's layout: each stage in its own subpackage, imports only going down the stages, no circle."""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# stage of each top-level module or subpackage: an import may only reach a lower stage (or its own)
STAGES = {"errors": 0, "io": 0, "devices": 0, "data": 1, "models": 2, "features": 2, "figures": 2, "neural": 3,
          "training": 3, "search": 4, "workflow": 5}


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
