"""NaN-aware column-wise correlation and the Spearman-Brown correction."""
from __future__ import annotations

import numpy as np


def pearson(a: np.ndarray, b: np.ndarray, axis: int = 0) -> np.ndarray:
    """Pearson r between ``a`` and ``b`` along ``axis`` for every other index.

    Pairs where either value is NaN are dropped per column (unequal repetition counts leave
    NaN half-means). Columns with fewer than 3 valid pairs or a constant side give NaN (as scipy's pearsonr does;
    the rounding of a constant column's mean would otherwise leave an arbitrary r).
    """
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis)
    constant = np.zeros(n.shape, bool)
    for v in (a, b):
        constant |= np.where(ok, v, np.inf).min(axis) == np.where(ok, v, -np.inf).max(axis)
    a = np.where(ok, a, 0.0)
    b = np.where(ok, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a.sum(axis, keepdims=True) / np.expand_dims(n, axis)
        mb = b.sum(axis, keepdims=True) / np.expand_dims(n, axis)
        da = np.where(ok, a - ma, 0.0)
        db = np.where(ok, b - mb, 0.0)
        r = (da * db).sum(axis) / np.sqrt((da**2).sum(axis) * (db**2).sum(axis))
    return np.where((n >= 3) & ~constant, r, np.nan)


def spearman_brown(r, n: float = 2.0):
    """Reliability of an ``n``-times longer measurement: n r / (1 + (n - 1) r)."""
    r = np.asarray(r, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return n * r / (1.0 + (n - 1.0) * r)
