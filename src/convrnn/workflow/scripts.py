"""The set-up every rule script runs first."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup_script(snakemake, use_torch: bool = False) -> logging.Logger:
    """Send stderr (progress lines, warnings, tracebacks) and logging to the rule's log file, as Snakemake
    workflows do; cap BLAS/torch threads to the job's share."""
    if len(snakemake.log):
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(snakemake.log[0], "w", buffering=1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        stream=sys.stderr, force=True)
    n = max(1, int(snakemake.threads or 1))
    if use_torch:
        import torch

        torch.set_num_threads(n)
    return logging.getLogger(f"convrnn.{snakemake.rule}")
