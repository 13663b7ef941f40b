"""Config files as overlays: a file holds only the keys it changes, on top of the file its ``base`` names.

- ``base: <path>`` (relative to the file) names the file underneath; ``base: null`` makes the file standalone (it
  sets every key itself: ``config/config.yaml``, ``config/paper.yaml``). A file without ``base`` is an overlay on the
  workflow's embedded default (``config/config.yaml``), so ``snakemake --configfile mine.yaml`` with two lines in
  ``mine.yaml`` adds one model to the default.
- Merging, base first: mappings merge key by key and the overlay's value wins; anything else (a list, a number, a
  mapping over a non-mapping) replaces what is underneath. ``replace: [models, search.space]`` lists the fields whose
  mapping the file sets whole instead of merging into (dotted paths; each must be set by the file): the only way to
  drop keys of the base, e.g. ``config/pretrained.yaml``'s own model set instead of ``config/paper.yaml``'s.
- Several files given to Snakemake (``--configfile a.yaml b.yaml``) apply in order, each an overlay on those before
  it; only the first may name a base. Snakemake's ``--config key=value`` applies last, on top of everything.

``base`` and ``replace`` are removed once resolved: the schema sees the merged config only. Every error is one line
naming the file. The Snakefile runs this on every invocation: standard library and yaml only.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from convrnn.errors import ConfigError

BASE, REPLACE = "base", "replace"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(path: str | os.PathLike, default: str | os.PathLike | None = None) -> dict:
    """The whole config the file ``path`` stands for, as ``snakemake --configfile path`` sees it (without
    ``--config``). ``default``: the base of a file without ``base`` key (None: ``default_config_path(path)``)."""
    return resolve_config_files([path], default_config_path(path) if default is None else default)[0]


def default_config_path(path: str | os.PathLike) -> Path:
    """The embedded default an overlay without ``base`` sits on: ``config/config.yaml`` of the workflow (the folder
    with a Snakefile) the file lies in, else of the checkout this package runs from."""
    for folder in Path(path).resolve().parents:
        if (folder / "Snakefile").is_file() and (folder / "config/config.yaml").is_file():
            return folder / "config/config.yaml"
    return Path(__file__).resolve().parents[3] / "config/config.yaml"


def resolve_config_files(paths: Iterable[str | os.PathLike], default: str | os.PathLike | None,
                         overrides: Mapping | None = None) -> tuple[dict, list[Path]]:
    """The config the files given to Snakemake stand for, and every file read (bases first).

    ``default`` is the base of a first file without a ``base`` key (None: such a file is standalone, as
    Snakemake's ``--replace-workflow-config`` asks); ``overrides`` (Snakemake's ``--config``) apply last.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigError("no config file: give one with --configfile")
    layers = _chain(paths[0], Path(default) if default is not None else None)
    for later in paths[1:]:
        body = _read(later)
        if BASE in body:
            # A second chain cannot go on top of the first without undoing it (its root sets every key).
            raise ConfigError(f"{later}: 'base' is read only from the first config file; give {later.name} alone, "
                              "or drop its 'base' to apply it on top of the files before it")
        layers.append((later, body))
    config: dict = {}
    for path, body in layers:
        config = _merge(config, {k: v for k, v in body.items() if k not in (BASE, REPLACE)}, _replaced(path, body))
    if overrides:
        config = _merge(config, overrides, set())
    return config, [path for path, _ in layers]


def _chain(start: Path, default: Path | None) -> list[tuple[Path, dict]]:
    """(file, its parsed body) from the standalone root up to ``start``."""
    chain: list[tuple[Path, dict]] = []
    path: Path | None = start
    while path is not None:
        if path.resolve() in [p.resolve() for p, _ in chain]:
            loop = " -> ".join(str(p) for p in [*(p for p, _ in chain), path])
            raise ConfigError(f"{start}: its chain of bases loops: {loop}")
        body = _read(path)
        chain.append((path, body))
        if BASE not in body:
            # no `base` key: an overlay on the embedded default, unless this file is that default
            path = default if default is not None and default.resolve() != path.resolve() else None
            if path is not None and not path.is_file():
                raise ConfigError(f"{chain[-1][0]}: has no 'base', so it overlays the default {path}, which is not "
                                  "a file; name its base (or base: null for a standalone config)")
        elif body[BASE] is None:
            path = None
        elif isinstance(body[BASE], str) and body[BASE]:
            path = path.parent / body[BASE]
            if not path.is_file():
                raise ConfigError(f"{chain[-1][0]}: base {body[BASE]!r} is not a file (looked for {path})")
        else:
            raise ConfigError(f"{path}: base must be a path relative to this file, or null for a standalone "
                              f"config, not {body[BASE]!r}")
    return chain[::-1]


def _read(path: Path) -> dict:
    try:
        body = yaml.load(path.read_text(), Loader=_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if body is None:
        return {}  # an empty overlay changes nothing
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: a config file is a mapping of fields, not a {type(body).__name__}")
    return body


def _replaced(path: Path, body: dict) -> set[str]:
    """The dotted fields of ``replace``, each checked to be set by the file (a misspelt one would silently merge)."""
    fields = body.get(REPLACE, [])
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise ConfigError(f"{path}: replace must be a list of config fields (dotted paths), e.g. [models], "
                          f"not {fields!r}")
    for field in fields:
        node: Any = {k: v for k, v in body.items() if k not in (BASE, REPLACE)}
        for key in field.split("."):
            if not isinstance(node, Mapping) or key not in node:
                raise ConfigError(f"{path}: replace names {field!r}, which this file does not set")
            node = node[key]
    return set(fields)


def _merge(under: Mapping, over: Mapping, replaced: set[str]) -> dict:
    """``over`` on top of a copy of ``under`` (no two configs share a node: the schema fills defaults in place)."""
    out = copy.deepcopy(dict(under))
    _merge_into(out, over, replaced, "")
    return out


def _merge_into(out: dict, over: Mapping, replaced: set[str], prefix: str) -> None:
    for key, value in over.items():
        field = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and field not in replaced:
            _merge_into(out[key], value, replaced, field + ".")
        else:
            out[key] = copy.deepcopy(value)
