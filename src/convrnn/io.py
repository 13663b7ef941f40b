"""Atomic, pickle-free persistence shared by every stage.

Every output is written to a temporary sibling and renamed into place, so a killed job never
leaves a half-written file that Snakemake (or a resumed run) would mistake for a finished one.
Tensors go to safetensors (no pickle, memory-mappable); tables go to Parquet.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the destination's folder; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_parquet(path: str | os.PathLike, required: Iterable[str] = (), columns=None) -> pd.DataFrame:
    """Read a Parquet table and fail with the file name if expected columns are missing."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Parquet file")
    df = pd.read_parquet(path, columns=columns)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    return df


def write_json(obj, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))
    return Path(path)


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_tensors(tensors: Mapping, path: str | os.PathLike, metadata: Mapping[str, str] | None = None) -> Path:
    """Save a dict of numpy arrays / torch tensors as safetensors, atomically."""
    from safetensors.numpy import save_file

    arrays = {k: _to_numpy(v) for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
    return Path(path)


def load_tensors(path: str | os.PathLike, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    with _open_tensors(path) as f:
        wanted = list(f.keys()) if keys is None else list(keys)
        missing = [k for k in wanted if k not in f.keys()]
        if missing:
            raise KeyError(f"{path}: missing tensor(s) {missing}")
        return {k: f.get_tensor(k) for k in wanted}


def tensor_metadata(path: str | os.PathLike) -> dict[str, str]:
    with _open_tensors(path) as f:
        return dict(f.metadata() or {})


def _open_tensors(path: str | os.PathLike):
    """safe_open that names the file when it is missing or corrupt (safetensors' own errors do not)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such safetensors file")
    try:
        return safe_open(str(path), framework="numpy")
    except SafetensorError as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e


def _to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu()
        if str(v.dtype) == "torch.bfloat16":
            v = v.float()
        v = v.numpy()
    return np.ascontiguousarray(v)
