"""Architecture search space as plain data (it lives in the workflow config YAML).

A space maps RGC cell hyperparameters (any key the RGC's config takes: ``cell_keys()``, read from the cell itself)
to a spec, plus one ``edges`` entry for the long-range feedback edges::

    tau_filter_size:   {type: int, low: 1, high: 7}
    gate_nonlinearity: {type: categorical, choices: [sigmoid, tanh]}
    tau_offset:        {type: float, low: 0.25, high: 1.5}
    tau_multiplier:    {type: tied, to: tau_offset, scale: -1.0}   # = -tau_offset
    input_to_cell:     {type: fixed, value: true}
    edges: {candidate_edges: [[conv5, conv3], [conv4, conv3]], p_edge: 0.5}

The cell config is shared by every recurrent layer (as in the paper's median cell, applied to conv4-conv10).
``tied`` exists because the searched median cell has offset == -multiplier exactly (docs/references.md, Models), so the
two were evidently sampled as one number; ``tied`` params are not searched.

Each candidate edge with 0 < p < 1 is one search parameter ``edge_<src>_<dst>`` ~ U(0, 1), and the edge is
present iff it is < p. The random start-up trials therefore honour the prior edge probability ``p_edge``
exactly (an optuna categorical would force p = 0.5), and TPE then models the uniform like any float.
p = 1 (0) always includes (excludes) the edge without a search parameter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping


def cell_keys() -> list[str]:
    """The searched cell's hyperparameters: every key of the RGC's config (``build(..., cell=...)``), from the cell
    class itself. A typo in the config should fail when the config is read, not in the first of a thousand jobs."""
    # imported here: the zoo brings torch, which readers of a study's tables (search.analysis) do not need
    from convrnn.models.cells.rgc import ReciprocalGatedCell

    return ReciprocalGatedCell.config_keys()


def cell_layers(backbone: str) -> list[str]:
    """The backbone's cell layers (the nodes carrying the searched cell), from the backbone itself."""
    from convrnn.models.backbones import BACKBONES

    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
    return list(BACKBONES[backbone].cell_layers)


_KEYS = {  # type -> (required keys, optional keys)
    "categorical": ({"choices"}, set()),
    "int": ({"low", "high"}, {"step", "log"}),
    "float": ({"low", "high"}, {"log"}),
    "fixed": ({"value"}, set()),
    "tied": ({"to"}, {"scale"}),
}
_SCALAR = (bool, int, float, str)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def edge_column(src: str, dst: str) -> str:
    """Name of the search parameter / table column of the feedback edge src -> dst."""
    return f"edge_{src}_{dst}"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    step: int = 1
    log: bool = False
    value: Any = None
    to: str | None = None
    scale: float = 1.0

    @classmethod
    def from_config(cls, name: str, d: Any, path: str) -> "ParamSpec":
        if not isinstance(d, Mapping):
            raise ValueError(f"{path} must be a mapping with a 'type', got {d!r}")
        kind = d.get("type")
        if not isinstance(kind, str) or kind not in _KEYS:
            raise ValueError(f"{path}.type must be one of {sorted(_KEYS)}, got {kind!r}")
        required, optional = _KEYS[kind]
        for key in sorted(required - set(d)):
            raise ValueError(f"{path}.{key} is required for type '{kind}'")
        extra = sorted(set(d) - required - optional - {"type"})
        if extra:
            raise ValueError(f"{path}: unknown key(s) {extra} for type '{kind}'")

        if kind == "categorical":
            choices = d["choices"]
            if not isinstance(choices, (list, tuple)) or not choices:
                raise ValueError(f"{path}.choices must be a non-empty list, got {choices!r}")
            for i, c in enumerate(choices):
                if not isinstance(c, _SCALAR):
                    raise ValueError(f"{path}.choices[{i}] must be a bool/int/float/str, got {c!r}")
            if len({(type(c), c) for c in choices}) != len(choices):
                raise ValueError(f"{path}.choices has duplicates: {list(choices)}")
            return cls(name, kind, choices=tuple(choices))
        if kind in ("int", "float"):
            low, high, log = d["low"], d["high"], d.get("log", False)
            ok = (lambda x: isinstance(x, int) and not isinstance(x, bool)) if kind == "int" else _is_number
            for key, x in (("low", low), ("high", high)):
                if not ok(x):
                    raise ValueError(f"{path}.{key} must be a finite {'integer' if kind == 'int' else 'number'}, got {x!r}")
            if low > high:
                raise ValueError(f"{path}.low must be <= high, got low={low}, high={high}")
            if not isinstance(log, bool):
                raise ValueError(f"{path}.log must be true or false, got {log!r}")
            if log and low <= 0:
                raise ValueError(f"{path}.low must be > 0 when log is true, got {low}")
            step = d.get("step", 1)
            if kind == "int":
                if not (isinstance(step, int) and not isinstance(step, bool) and step >= 1):
                    raise ValueError(f"{path}.step must be an integer >= 1, got {step!r}")
                if log and step != 1:
                    raise ValueError(f"{path}.step must be 1 when log is true, got {step}")
            return cls(name, kind, low=low, high=high, step=step, log=log)
        if kind == "fixed":
            if not isinstance(d["value"], _SCALAR):
                raise ValueError(f"{path}.value must be a bool/int/float/str, got {d['value']!r}")
            return cls(name, kind, value=d["value"])
        scale = d.get("scale", 1.0)
        if not _is_number(scale):
            raise ValueError(f"{path}.scale must be a finite number, got {scale!r}")
        return cls(name, kind, to=d["to"], scale=float(scale))

    def to_config(self) -> dict:
        if self.type == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        if self.type == "int":
            return {"type": "int", "low": self.low, "high": self.high, "step": self.step, "log": self.log}
        if self.type == "float":
            return {"type": "float", "low": self.low, "high": self.high, "log": self.log}
        if self.type == "fixed":
            return {"type": "fixed", "value": self.value}
        return {"type": "tied", "to": self.to, "scale": self.scale}

    @property
    def numeric(self) -> bool:
        if self.type in ("int", "float"):
            return True
        if self.type == "fixed":
            return _is_number(self.value)
        if self.type == "categorical":
            return all(_is_number(c) for c in self.choices)
        return False

    def suggest(self, trial):
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.type == "fixed":
            return self.value
        raise AssertionError("tied params are resolved by SearchSpace.sample")


@dataclass(frozen=True)
class SearchSpace:
    params: dict[str, ParamSpec]          # cell hyperparameter -> spec, in config order
    candidate_edges: tuple[tuple[str, str], ...]
    p_edge: tuple[float, ...]             # one prior probability per candidate edge

    @classmethod
    def from_config(cls, d: Mapping, path: str = "search.space") -> "SearchSpace":
        if not isinstance(d, Mapping):
            raise ValueError(f"{path} must be a mapping, got {type(d).__name__}")
        params = {}
        known = cell_keys()
        for name, spec in d.items():
            if name == "edges":
                continue
            if name not in known:
                raise ValueError(f"{path}.{name}: unknown cell hyperparameter; known: {known}")
            params[name] = ParamSpec.from_config(name, spec, f"{path}.{name}")
        for name, p in params.items():
            if p.type == "tied":
                ref = params.get(p.to)
                if ref is None or ref.type == "tied" or not ref.numeric:
                    raise ValueError(f"{path}.{name}.to must name a numeric, non-tied parameter of the space, got {p.to!r}")
        edges, p_edge = _edges_from_config(d.get("edges", {"candidate_edges": []}), f"{path}.edges")
        return cls(params, edges, p_edge)

    def to_config(self) -> dict:
        out = {name: p.to_config() for name, p in self.params.items()}
        uniform = len(set(self.p_edge)) <= 1
        out["edges"] = {
            "candidate_edges": [list(e) for e in self.candidate_edges],
            "p_edge": (self.p_edge[0] if self.p_edge else 0.5) if uniform else list(self.p_edge),
        }
        return out

    @property
    def edge_columns(self) -> list[str]:
        return [edge_column(*e) for e in self.candidate_edges]

    def sample(self, trial) -> tuple[dict, list[list[str]]]:
        """Draw one architecture with optuna's trial API -> (cell overrides, feedback edges)."""
        cell = {n: p.suggest(trial) for n, p in self.params.items() if p.type != "tied"}
        for n, p in self.params.items():
            if p.type == "tied":
                cell[n] = p.scale * cell[p.to]
        cell = {n: cell[n] for n in self.params}  # config order
        edges = []
        for (src, dst), p in zip(self.candidate_edges, self.p_edge):
            if p >= 1.0 or (p > 0.0 and trial.suggest_float(edge_column(src, dst), 0.0, 1.0) < p):
                edges.append([src, dst])
        return cell, edges


def _edges_from_config(d: Any, path: str) -> tuple[tuple[tuple[str, str], ...], tuple[float, ...]]:
    if not isinstance(d, Mapping):
        raise ValueError(f"{path} must be a mapping with 'candidate_edges' and 'p_edge'")
    extra = sorted(set(d) - {"candidate_edges", "p_edge"})
    if extra:
        raise ValueError(f"{path}: unknown key(s) {extra}")
    raw = d.get("candidate_edges", [])
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"{path}.candidate_edges must be a list of [src, dst] pairs")
    edges = []
    for i, e in enumerate(raw):
        if not (isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(s, str) and s for s in e)):
            raise ValueError(f"{path}.candidate_edges[{i}] must be a [src, dst] pair of layer names, got {e!r}")
        if e[0] == e[1]:
            raise ValueError(f"{path}.candidate_edges[{i}] is a self-loop {list(e)}")
        if "_" in e[0] + e[1]:  # keeps the column name edge_<src>_<dst> parseable
            raise ValueError(f"{path}.candidate_edges[{i}]: layer names must not contain '_', got {list(e)}")
        if tuple(e) in edges:
            raise ValueError(f"{path}.candidate_edges[{i}] duplicates {list(e)}")
        edges.append(tuple(e))
    p = d.get("p_edge", 0.5)
    ps = list(p) if isinstance(p, (list, tuple)) else [p] * len(edges)
    if len(ps) != len(edges):
        raise ValueError(f"{path}.p_edge has {len(ps)} entries for {len(edges)} candidate edges")
    for i, x in enumerate(ps):
        if not (_is_number(x) and 0.0 <= x <= 1.0):
            where = f"{path}.p_edge" + (f"[{i}]" if isinstance(p, (list, tuple)) else "")
            raise ValueError(f"{where} must be a probability in [0, 1], got {x!r}")
    return tuple(edges), tuple(float(x) for x in ps)



def default_space(backbone: str = "intermediate") -> SearchSpace:
    """Paper-like space (docs/references.md, Models and Architecture search). Ranges are ours: the paper's are unpublished.

    Every range contains the searched median cell's value (e.g. DS 7x7 tau/gate, offsets 0.92/0.70,
    biases 4.1/2.8, ff 2, in_out 3, bypass on). Candidate edges: every top-down edge between cell layers
    spanning at most 3 layers, which for the intermediate backbone contains the paper's ``edges_5``
    (8->5, 9->6, 10->7, 7->6, 10->9); prior p_edge = 0.5. The candidate edges run from a later to an earlier cell
    layer of the backbone (``cell_layers``).
    """
    layers = cell_layers(backbone)
    yes_no = {"type": "categorical", "choices": [True, False]}
    cfg = {
        "cell_depth": {"type": "categorical", "choices": [16, 32, 64, 128]},
        "tau_filter_size": {"type": "int", "low": 1, "high": 7},
        "gate_filter_size": {"type": "int", "low": 0, "high": 7},   # 0 = no cell memory (ablates gating)
        "tau_depth_separable": yes_no,
        "gate_depth_separable": yes_no,
        "tau_nonlinearity": {"type": "categorical", "choices": ["sigmoid", "tanh"]},
        "gate_nonlinearity": {"type": "categorical", "choices": ["sigmoid", "tanh"]},
        "tau_offset": {"type": "float", "low": 0.25, "high": 1.5},
        "tau_multiplier": {"type": "tied", "to": "tau_offset", "scale": -1.0},
        "gate_offset": {"type": "float", "low": 0.25, "high": 1.5},
        "gate_multiplier": {"type": "tied", "to": "gate_offset", "scale": -1.0},
        "tau_bias": {"type": "float", "low": -5.0, "high": 5.0},
        "gate_bias": {"type": "float", "low": -5.0, "high": 5.0},
        "ff_filter_size": {"type": "int", "low": 1, "high": 5},
        "in_out_filter_size": {"type": "int", "low": 1, "high": 5},
        "input_to_cell": {"type": "fixed", "value": True},   # else the cell only sees feedback/bypass
        "input_to_out": yes_no,
        "out_residual": yes_no,                               # bypass
        "cell_residual": yes_no,
        "cell_to_out": yes_no,
        "layer_norm": yes_no,
        "feedback_entry": {"type": "categorical", "choices": ["input", "cell", "out"]},
        "feedback_filter_size": {"type": "int", "low": 1, "high": 8},
        "feedback_depth_separable": yes_no,
        "feedback_activation": {"type": "categorical", "choices": ["identity", "elu"]},
        "edges": {
            "candidate_edges": [[src, dst] for i, dst in enumerate(layers) for src in layers[i + 1:i + 4]],
            "p_edge": 0.5,
        },
    }
    return SearchSpace.from_config(cfg)
