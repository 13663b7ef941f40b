"""The package modules a workflow script runs, read from the imports with ``ast`` (nothing is imported).

Each rule lists these files as inputs (``rules/common.smk::code``), so an edit to the package reruns exactly the
rules whose scripts run the edited module, and everything downstream of them.

Edges are followed per imported name, files are whole modules:
- a module's top-level imports run whenever the module is imported, so they are always followed;
- an import inside a function or class counts only for the names that need it: ``from m import f`` follows the
  imports inside ``f`` and inside the module functions ``f`` refers to, not those of every function of ``m``
  (so importing ``convrnn.workflow.setup_script`` does not pull in the model zoo that config validation uses);
- a name imported through a package's ``__init__`` (``from convrnn.neural import score_features``) leads to the
  module that defines it; the ``__init__`` file itself is a dependency, its other re-exports are not;
- a name a package provides on first use (a module-level ``__getattr__``, PEP 562: ``convrnn.neural``) cannot be
  traced statically, so it counts as every module of that package: an edit reruns too much rather than too little;
- likewise a package whose ``__init__`` imports modules by computed name when it is imported
  (``importlib.import_module`` or ``__import__`` at its top level or in a function its top level calls:
  ``convrnn.models.cells`` imports every module it holds): importing it counts as every module of the package, so a
  module added there is a dependency.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PACKAGE = "convrnn"
_TOP = "<top level>"  # pseudo-name: the module's own top-level statements


@dataclass(frozen=True)
class _Import:
    module: str  # absolute dotted module name
    names: tuple[str, ...]  # names taken from it; () = the module object itself


@dataclass
class _Module:
    path: Path
    is_package: bool
    top_imports: list[_Import] = field(default_factory=list)
    local_imports: dict[str, list[_Import]] = field(default_factory=dict)  # top-level def/class -> imports inside it
    references: dict[str, set[str]] = field(default_factory=dict)  # top-level def/class -> names it mentions
    bound_by_import: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (module, attr)
    imports_by_name: set[str] = field(default_factory=set)  # top-level def/class (or _TOP) importing a computed name


def _absolute(module: str | None, level: int, current: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports(nodes, current: str, is_package: bool) -> list[_Import]:
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [_Import(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _absolute(node.module, node.level, current, is_package)
            out.append(_Import(mod, tuple(a.name for a in node.names)))
    return [i for i in out if i.module == PACKAGE or i.module.startswith(PACKAGE + ".")]


def _imports_by_name(nodes) -> bool:
    """Whether these nodes call ``importlib.import_module`` / ``__import__``: a module named at run time."""
    for node in nodes:
        if isinstance(node, ast.Call):
            f = node.func
            if (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)) in ("import_module", "__import__"):
                return True
    return False


def _walk_no_defs(stmts):
    """Nodes of these statements, not descending into function or class bodies."""
    stack = list(stmts)
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


class CodeIndex:
    """Import graph of the package under ``src_root`` (the directory that holds ``convrnn/``).

    With a ``cache_dir``, answers are kept in ``code-deps.json`` there for as long as no package file changes
    (size and mtime of every module) and the package stays where it is: a dry run then parses nothing. Answers are
    stored relative to ``src_root``, so a cache copied along with a run (``cp -a``) never hands out another
    checkout's paths.
    """

    def __init__(self, src_root: str | Path, cache_dir: str | Path | None = None):
        self.src_root = Path(src_root).resolve()
        self.cache_dir = cache_dir
        self._modules: dict[str, _Module | None] = {}
        self._memo: dict | None = None

    def _signature(self) -> str:
        h = hashlib.sha1(f"{self.src_root}\0".encode())
        for path in sorted((self.src_root / PACKAGE).rglob("*.py")):
            st = path.stat()
            h.update(f"{path.relative_to(self.src_root)}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
        return h.hexdigest()

    def _cached(self, key: str, compute) -> list[Path]:
        if self.cache_dir is None:
            return compute()
        cache = Path(self.cache_dir) / "code-deps.json"
        if self._memo is None:
            signature = self._signature()
            stored = json.loads(cache.read_text()) if cache.is_file() else {}
            self._memo = stored if stored.get("signature") == signature else {"signature": signature, "answers": {}}
        if key not in self._memo["answers"]:
            self._memo["answers"][key] = [str(f.relative_to(self.src_root)) for f in compute()]
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(self._memo))
            os.replace(tmp, cache)
        return [self.src_root / f for f in self._memo["answers"][key]]

    @lru_cache(maxsize=None)
    def _file(self, module: str) -> tuple[Path, bool] | None:
        base = self.src_root.joinpath(*module.split("."))
        if (base / "__init__.py").is_file():
            return base / "__init__.py", True
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), False
        return None

    def module(self, name: str) -> _Module | None:
        if name not in self._modules:
            self._modules[name] = self._parse(name)
        return self._modules[name]

    def _parse(self, name: str) -> _Module | None:
        found = self._file(name)
        if found is None:
            return None
        path, is_package = found
        text = path.read_text()
        tree = ast.parse(text, filename=str(path))
        lines = text.splitlines()
        mod = _Module(path, is_package)
        mod.top_imports = _imports(_walk_no_defs(tree.body), name, is_package)
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for node in defs:  # walking every body is the slow part: only those that mention an import
            if any("import" in line for line in lines[node.lineno - 1: node.end_lineno]):
                mod.local_imports[node.name] = _imports(ast.walk(node), name, is_package)
        if mod.local_imports or is_package:  # references lead to local imports and to re-exported names
            for node in defs:
                mod.references[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            top = [n for n in tree.body if n not in defs]
            mod.references[_TOP] = {n.id for node in top for n in ast.walk(node) if isinstance(n, ast.Name)}
        if is_package:
            mod.imports_by_name = {node.name for node in defs if _imports_by_name(ast.walk(node))}
            if _imports_by_name(_walk_no_defs(tree.body)):
                mod.imports_by_name.add(_TOP)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                src = _absolute(node.module, node.level, name, is_package)
                for a in node.names:
                    mod.bound_by_import[a.asname or a.name] = (src, a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    mod.bound_by_import[a.asname or a.name.split(".")[0]] = (a.name if a.asname else a.name.split(".")[0], None)
        return mod

    def files_for_script(self, script: str | Path) -> list[Path]:
        """Package files the script at ``script`` runs (sorted)."""
        st = Path(script).stat()
        key = f"script {Path(script).resolve()} {st.st_mtime_ns} {st.st_size}"
        return self._cached(key, lambda: self._files_for_script(script))

    def _files_for_script(self, script: str | Path) -> list[Path]:
        tree = ast.parse(Path(script).read_text(), filename=str(script))
        seen: set[tuple[str, str | None]] = set()
        files: set[Path] = set()
        for imp in _imports(ast.walk(tree), "__main__", False):
            self._follow(imp, seen, files)
        return sorted(files)

    def files_for_import(self, module: str, names: tuple[str, ...] = ()) -> list[Path]:
        """Package files that ``from module import names`` runs (``import module`` when ``names`` is empty)."""
        return self._cached(f"import {module} {' '.join(names)}", lambda: self._files_for_import(module, names))

    def _files_for_import(self, module: str, names: tuple[str, ...]) -> list[Path]:
        seen: set[tuple[str, str | None]] = set()
        files: set[Path] = set()
        self._follow(_Import(module, tuple(names)), seen, files)
        return sorted(files)

    def _follow(self, imp: _Import, seen, files) -> None:
        if not imp.names:
            self._use(imp.module, None, seen, files)
        for name in imp.names:
            if self._file(f"{imp.module}.{name}") is not None:
                self._use(f"{imp.module}.{name}", None, seen, files)
            else:
                self._use(imp.module, name, seen, files)

    def _use(self, module: str, name: str | None, seen, files) -> None:
        """Record that ``module`` (or only its top-level ``name``; None = all of it) runs."""
        if (module, name) in seen:
            return
        seen.add((module, name))
        mod = self.module(module)
        if mod is None:
            return
        # Importing a module runs its parent packages' __init__ files and its own top level.
        parts = module.split(".")
        for i in range(1, len(parts)):
            self._use(".".join(parts[:i]), "", seen, files)
        files.add(mod.path)
        for imp in mod.top_imports:
            # A package's re-exports run too, but only the names actually used count (followed below).
            if not (mod.is_package and name is not None and self._reexport(mod, imp)):
                self._follow(imp, seen, files)
        # a package that imports modules by computed name as it is imported: any of its modules may be among them
        if mod.imports_by_name & self._closure(mod, {_TOP}):
            self._use_every_submodule(module, mod, seen, files)
        if name is None:
            for imps in mod.local_imports.values():
                for imp in imps:
                    self._follow(imp, seen, files)
            return
        # The top level runs on import (with the functions it calls); then the name itself (a parent package on
        # the way, name "", contributes only its top level).
        for ref in self._closure(mod, {_TOP, name} if name else {_TOP}):
            for imp in mod.local_imports.get(ref, []):
                self._follow(imp, seen, files)
            if ref in mod.bound_by_import:
                src, attr = mod.bound_by_import[ref]
                self._follow(_Import(src, (attr,) if attr else ()), seen, files)
        if (name and mod.is_package and "__getattr__" in mod.references and name not in mod.references
                and name not in mod.bound_by_import):
            self._use_every_submodule(module, mod, seen, files)   # a lazily provided name: any module may hold it

    def _use_every_submodule(self, module: str, mod: _Module, seen, files) -> None:
        """Every module and subpackage of the package ``module``, whole."""
        for sub in sorted(mod.path.parent.iterdir()):
            if sub.suffix == ".py" and sub.name != "__init__.py":
                self._use(f"{module}.{sub.stem}", None, seen, files)
            elif sub.is_dir() and (sub / "__init__.py").is_file():
                self._use(f"{module}.{sub.name}", None, seen, files)

    @staticmethod
    def _reexport(mod: _Module, imp: _Import) -> bool:
        return bool(imp.names) and all(n in mod.bound_by_import for n in imp.names)

    @staticmethod
    def _closure(mod: _Module, names: set[str]) -> set[str]:
        """``names`` and the module's top-level names they mention, transitively (defs are followed further)."""
        todo, done = list(names), set()
        while todo:
            n = todo.pop()
            if n in done:
                continue
            done.add(n)
            todo.extend(mod.references.get(n, set()) - done)
        return done


@lru_cache(maxsize=None)
def _index(src_root: str) -> CodeIndex:
    return CodeIndex(src_root)


def package_root() -> Path:
    """The directory holding the imported ``convrnn`` package (``src/`` of an editable install): its sources are
    the code the jobs run."""
    return Path(__file__).resolve().parents[2]


def code_index(src_root: str | Path | None = None, cache_dir: str | Path | None = None) -> CodeIndex:
    """The import graph of the package under ``src_root`` (default: ``package_root()``), parsed once per process;
    ``cache_dir`` (once given, kept): where to keep its answers between processes."""
    index = _index(str(Path(src_root or package_root()).resolve()))
    if cache_dir is not None:
        index.cache_dir = cache_dir
    return index


def script_modules(script: str | Path, src_root: str | Path | None = None, cache_dir: str | Path | None = None
                   ) -> list[Path]:
    """Package files (absolute paths) that the workflow script ``script`` runs."""
    return code_index(src_root, cache_dir).files_for_script(script)
