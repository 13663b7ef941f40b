"""One model's training from a JSON job, the same in-process and under a distributed launcher.

The `train_model` rule runs it in-process for one device. For several GPUs the rule starts one process per GPU with
the cluster's or PyTorch's own launcher, and every rank runs this module (only rank 0 writes files):

    srun python -m convrnn.workflow.train_job JOB.json                         # SLURM: profile resource mpi="srun"
    torchrun --standalone --nproc_per_node 4 --no-python python -m convrnn.workflow.train_job JOB.json

JOB keys: spec ({"arch", "overrides"}), inputs (task data paths, may be empty), imagenet, image_size, training
(TrainConfig fields), out_dir, result_path (JSON written by rank 0).
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Mapping


def run(job: Mapping) -> dict:
    from convrnn.data.tasks import task_datasets
    from convrnn.models import build
    from convrnn.training import TrainConfig, fit

    import torch

    cfg = TrainConfig.from_dict(job["training"])
    train_set, val_set, num_classes = task_datasets(job["inputs"], imagenet=job.get("imagenet"), image_size=job["image_size"])
    torch.manual_seed(cfg.seed)  # the initial weights too are a function of the seed (same on every rank)
    model = build(job["spec"], num_classes=num_classes)
    return fit(model, train_set, val_set, cfg, Path(job["out_dir"]))


def launcher_command(mpi: str | None, gpus: int) -> list[str] | None:
    """The prefix that starts the ranks of ``python -m convrnn.workflow.train_job JOB``, or None to train in-process.

    ``mpi`` is the SLURM profile's launcher resource (e.g. "srun"); otherwise several local GPUs use torchrun.
    """
    if mpi:
        return shlex.split(mpi)
    if gpus > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}", "--no-python"]
    return None


def main(argv: list[str] | None = None) -> None:
    from convrnn.io import write_json
    from convrnn.training.distributed import detect_env

    (job_path,) = argv if argv is not None else sys.argv[1:]
    job = json.loads(Path(job_path).read_text())
    result = run(job)
    if detect_env().is_main and job.get("result_path"):
        write_json(result, job["result_path"])


if __name__ == "__main__":
    main()
