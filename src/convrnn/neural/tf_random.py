"""TensorFlow's stateless truncated normal, in numpy: the initial weights of Brain-Score's OST classifier.

Brain-Score's ``TFProbabilitiesClassifier`` draws its kernel with a Keras ``VarianceScaling`` initializer seeded 0,
which is ``tf.random.stateless_truncated_normal(shape, seed=[0, 0])`` scaled by sqrt(1/fan_in) / 0.8796...
Its weights move only ~0.08 in 760 Adam steps of 1e-4 while the draw has s.d. ~0.036 at 1000 features, so the
draw shapes the probabilities it returns: a port that wants TF's numbers must start from TF's numbers.
The algorithm (Philox-4x32-10, seed scrambling, Box-Muller, 256 reserved samples per group of 4) is described
in docs/references.md, "Behaviour". float32 transcendental functions are evaluated in float64 and rounded, so a
standard draw can differ from TF's by one float32 ulp where glibc's logf/sinf/cosf round differently (measured:
156 of 10,000 values, < 4e-7 relative once scaled; never a different accept/reject decision).
"""
from __future__ import annotations

import math

import numpy as np

_MASK = np.uint64(0xFFFFFFFF)
_ROUND_MUL = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_KEY_STEP = (0x9E3779B9, 0xBB67AE85)
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)
_GROUP = 4                   # outputs per group (the Philox block size)
_RESERVED_PER_OUTPUT = 256   # TF skips 256 samples per output, i.e. 256 blocks per group of 4
_TRUNCATE = 2.0
_TRUNCATED_STD = 0.87962566103423978   # s.d. of a standard normal truncated at +-2 (Keras's constant)


def _philox(counter: np.ndarray, key: tuple[int, int]) -> np.ndarray:
    """Philox-4x32-10 of counters (..., 4) (uint32 values held in uint64) -> (..., 4) uint32 words."""
    c0, c1, c2, c3 = (counter[..., i].astype(np.uint64) for i in range(4))
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for _ in range(10):
        p0, p1 = _ROUND_MUL[0] * c0, _ROUND_MUL[1] * c2          # 32x32 -> 64-bit products
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK)
        k0, k1 = (k0 + np.uint64(_KEY_STEP[0])) & _MASK, (k1 + np.uint64(_KEY_STEP[1])) & _MASK
    return np.stack([c0, c1, c2, c3], -1)


def _advance(counter: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """128-bit counter (4,) plus each of ``steps`` (< 2**32) -> (len(steps), 4), carries propagated."""
    out = np.empty((len(steps), 4), np.uint64)
    carry = np.asarray(steps, np.uint64)
    for i in range(4):
        word = counter[i] + carry
        out[:, i], carry = word & _MASK, word >> np.uint64(32)
    return out


def _key_counter(seed: tuple[int, int]) -> tuple[tuple[int, int], np.ndarray]:
    """TF's stateless seed scrambling: one Philox call on the seed gives the key and the upper counter words."""
    s0, s1 = (int(s) & 0xFFFFFFFFFFFFFFFF for s in seed)
    words = np.array([s0 & 0xFFFFFFFF, s0 >> 32, s1 & 0xFFFFFFFF, s1 >> 32], np.uint64)
    mix = _philox(words, _SCRAMBLE_KEY)
    return (int(mix[0]), int(mix[1])), np.array([0, 0, mix[2], mix[3]], np.uint64)


def _unit_float(words: np.ndarray) -> np.ndarray:
    """uint32 -> float32 in [0, 1) from the 23 low bits (mantissa of a number in [1, 2), minus 1)."""
    bits = np.uint32(127 << 23) | (words.astype(np.uint32) & np.uint32(0x7FFFFF))
    return bits.view(np.float32) - np.float32(1.0)


def _box_muller(x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u1 = np.maximum(_unit_float(x0), np.float32(1e-7))                 # keeps log() finite
    v1 = (2.0 * math.pi * _unit_float(x1).astype(np.float64)).astype(np.float32)
    radius = np.sqrt(np.float32(-2.0) * np.log(u1.astype(np.float64)).astype(np.float32))
    sin = np.sin(v1.astype(np.float64)).astype(np.float32)
    cos = np.cos(v1.astype(np.float64)).astype(np.float32)
    return sin * radius, cos * radius


def stateless_truncated_normal(shape, seed=(0, 0), stddev: float = 1.0) -> np.ndarray:
    """float32 array equal (to float32 rounding) to ``tf.random.stateless_truncated_normal(shape, seed, stddev=stddev)``
    on CPU: standard normals with |x| < 2 kept, in Philox order, times float32(stddev)."""
    n = int(np.prod(shape))
    key, counter = _key_counter(seed)
    groups = -(-n // _GROUP)
    starts = np.arange(groups, dtype=np.uint64) * np.uint64(_RESERVED_PER_OUTPUT)
    out = np.empty((groups, _GROUP), np.float32)
    blocks = 3          # 12 words -> 12 normals; 4 accepted ones are missing with probability < 1e-3
    todo = np.arange(groups)
    while len(todo):
        steps = (starts[todo, None] + np.arange(blocks, dtype=np.uint64)).ravel()
        words = _philox(_advance(counter, steps), key).reshape(len(todo), -1)      # (G, 4 * blocks)
        f0, f1 = _box_muller(words[:, 0::2], words[:, 1::2])
        normals = np.stack([f0, f1], -1).reshape(len(todo), -1)                    # stream order per group
        keep = np.abs(normals) < _TRUNCATE
        done = keep.sum(1) >= _GROUP
        for g, row, mask in zip(todo[done], normals[done], keep[done]):
            out[g] = row[mask][:_GROUP]
        todo, blocks = todo[~done], blocks * 2
        if blocks > _RESERVED_PER_OUTPUT:
            raise RuntimeError("truncated normal: a group found fewer than 4 values within +-2 in 256 blocks")
    return (out.ravel()[:n] * np.float32(stddev)).reshape(shape)


def variance_scaling_kernel(fan_in: int, fan_out: int, seed: int = 0) -> np.ndarray:
    """The (fan_in, fan_out) float32 kernel of Keras ``VarianceScaling(scale=1, mode='fan_in',
    distribution='truncated_normal', seed=seed)``: an int seed s becomes the stateless seed (s, 0)."""
    stddev = math.sqrt(1.0 / max(1.0, fan_in)) / _TRUNCATED_STD
    return stateless_truncated_normal((fan_in, fan_out), seed=(seed, 0), stddev=stddev)
