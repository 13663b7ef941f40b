"""Value checks shared by the readers of settings (model overrides, cell configs, training blocks).

One rule per kind of value, so that the same mistake reads the same wherever it is made: the message names the field
and the value given. ``bool`` is refused where a number is asked for (``True`` is an ``int`` to Python, never a
count or a rate in a config).
"""
from __future__ import annotations

import math


def check_int(name: str, v, minimum: int | None = None) -> int:
    """``v`` if it is an int (>= ``minimum`` when given), else ``ValueError`` naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be an int{bound}, got {v!r}")
    return v


def check_number(name: str, v, minimum: float | None = None, strict: bool = False) -> float:
    """``float(v)`` if ``v`` is a finite number (>= ``minimum``, or > with ``strict``), else ``ValueError``."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {v}")
    return float(v)
