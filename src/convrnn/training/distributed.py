"""Process-group setup from the launcher's environment (torchrun or SLURM srun), nothing home-made.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT. ``srun`` sets SLURM_PROCID,
SLURM_STEP_NUM_TASKS (SLURM_NTASKS in older versions), SLURM_LOCALID and SLURM_NODELIST; the rendezvous host
is the first node of the list and the port is derived from the job id so concurrent jobs sharing a node do
not collide. Without either, the run is a single process (world size 1) and no process group is created.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    launcher: str = "none"  # "torchrun" | "slurm" | "none"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Read rank / world size from torchrun's or srun's variables (torchrun wins if both are present)."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(
            rank=_int(env, "RANK"), world_size=_int(env, "WORLD_SIZE"), local_rank=int(env.get("LOCAL_RANK", 0)),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"), master_port=int(env.get("MASTER_PORT", 29500)),
            launcher="torchrun",
        )
    ntasks_key = "SLURM_STEP_NUM_TASKS" if "SLURM_STEP_NUM_TASKS" in env else "SLURM_NTASKS"
    if "SLURM_PROCID" in env and ntasks_key in env and _int(env, ntasks_key) > 1:
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_NODELIST") or env.get("SLURM_JOB_NODELIST")
        if not nodelist and "MASTER_ADDR" not in env:
            raise ValueError("SLURM_NODELIST is not set: cannot choose the rendezvous host (or set MASTER_ADDR)")
        return DistEnv(
            rank=_int(env, "SLURM_PROCID"), world_size=_int(env, ntasks_key), local_rank=int(env.get("SLURM_LOCALID", 0)),
            master_addr=env.get("MASTER_ADDR") or first_host(nodelist),
            master_port=int(env.get("MASTER_PORT", 20000 + int(env.get("SLURM_JOB_ID", 0)) % 20000)),
            launcher="slurm",
        )
    return DistEnv()


def first_host(nodelist: str) -> str:
    """First host of a SLURM hostlist: 'gpu[03-05,09],cpu1' -> 'gpu03' (zero padding kept)."""
    m = re.match(r"\s*([^,\[\s]+)(?:\[([^\]]+)\])?", nodelist)
    if not m:
        raise ValueError(f"SLURM_NODELIST: cannot parse {nodelist!r}")
    prefix, ranges = m.groups()
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def resolve_device(requested: str, env: DistEnv) -> torch.device:
    """This rank's device (``convrnn.devices.resolve_device`` on its local rank)."""
    from convrnn.devices import resolve_device as resolve

    return resolve(requested, env.local_rank)


def init_process_group(env: DistEnv, device: torch.device) -> bool:
    """Create the default group if the launch is multi-process; returns True if this call created it."""
    if env.world_size == 1 or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    os.environ.setdefault("MASTER_ADDR", env.master_addr)
    os.environ.setdefault("MASTER_PORT", str(env.master_port))
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo", init_method="env://",
        rank=env.rank, world_size=env.world_size,
    )
    return True


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks; a no-op in a single process."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def _int(env, key) -> int:
    try:
        return int(env[key])
    except ValueError:
        raise ValueError(f"environment variable {key}={env[key]!r} is not an integer") from None
