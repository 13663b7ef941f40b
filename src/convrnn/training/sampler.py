"""Deterministic, resumable, shardable data order.

Epoch e uses ``randperm(N)`` from a generator seeded with (seed, e). Global batch j is
``perm[j*B:(j+1)*B]`` (the last incomplete batch is dropped). Rank r of W takes every W-th index of
that slice, so the union over ranks of a global batch is the same set for any world size
(DistributedSampler-equivalent sharding without padding, since complete global batches need none).
Resuming mid-epoch = starting from batch ``start_batch`` of the same permutation.
"""
from __future__ import annotations

import torch


def steps_per_epoch(n_items: int, batch_size: int) -> int:
    return n_items // batch_size


def epoch_permutation(n_items: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n_items, generator=g)


def epoch_batches(
    n_items: int, batch_size: int, seed: int, epoch: int, start_batch: int = 0, rank: int = 0, world_size: int = 1
) -> list[list[int]]:
    """This rank's index lists for batches ``start_batch ..`` of ``epoch``."""
    perm = epoch_permutation(n_items, seed, epoch)
    n_batches = steps_per_epoch(n_items, batch_size)
    return [perm[j * batch_size : (j + 1) * batch_size][rank::world_size].tolist() for j in range(start_batch, n_batches)]
