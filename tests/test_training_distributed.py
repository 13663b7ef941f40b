"""Launcher environments and a real 2-process (gloo, CPU) DDP run started by torchrun."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from convrnn.io import load_tensors
from convrnn.training.distributed import detect_env, first_host
from convrnn.training.sampler import epoch_batches


def test_torchrun_env():
    env = detect_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "1234"})
    assert (env.rank, env.world_size, env.local_rank, env.master_addr, env.master_port, env.launcher) == (3, 8, 1, "n1", 1234, "torchrun")


def test_srun_env_uses_first_node_and_job_port():
    env = detect_env({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
                      "SLURM_NODELIST": "gpu[07-09,12],cpu3", "SLURM_JOB_ID": "123456"})
    assert (env.rank, env.world_size, env.local_rank, env.master_addr, env.launcher) == (5, 8, 1, "gpu07", "slurm")
    assert env.master_port == 20000 + 123456 % 20000


def test_single_task_slurm_job_and_plain_process_are_world_size_one():
    assert detect_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_NODELIST": "n1"}).world_size == 1
    assert detect_env({}).world_size == 1


@pytest.mark.parametrize("nodelist, host", [("node1", "node1"), ("a[1-4]", "a1"), ("gpu-[003,010]", "gpu-003"), ("x2,y[1-2]", "x2")])
def test_first_host(nodelist, host):
    assert first_host(nodelist) == host


def test_bad_env_names_the_variable():
    with pytest.raises(ValueError, match="SLURM_PROCID"):
        detect_env({"SLURM_PROCID": "zero", "SLURM_NTASKS": "2", "SLURM_NODELIST": "n1"})


def test_shards_partition_each_global_batch_for_any_world_size():
    single = epoch_batches(100, 12, seed=1, epoch=2)
    assert len(single) == 8 and all(len(b) == 12 for b in single)
    for world in (2, 3, 4):
        shards = [epoch_batches(100, 12, seed=1, epoch=2, rank=r, world_size=world) for r in range(world)]
        for j, batch in enumerate(single):
            assert sorted(sum((s[j] for s in shards), [])) == sorted(batch)
    assert epoch_batches(100, 12, seed=1, epoch=2, start_batch=5) == single[5:]
    assert epoch_batches(100, 12, seed=1, epoch=3) != single


SCRIPT = textwrap.dedent('''
    import sys, torch
    from torch import nn
    from torch.utils.data import TensorDataset
    torch.set_num_threads(1)
    from convrnn.training import TrainConfig, fit
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(256, 3, 8, 8, generator=g), torch.randint(0, 4, (256,), generator=g)
    x[torch.arange(256), 0, y, 0] += 3.0  # learnable: a bright pixel in row y
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 4))
    cfg = TrainConfig.from_dict({"epochs": 2, "batch_size": 32, "lr": 0.05, "device": "cpu", "checkpoint_every_steps": 5})
    r = fit(model, TensorDataset(x[:192], y[:192]), TensorDataset(x[192:], y[192:]), cfg, sys.argv[1])
    sys.stdout.write(f"RESULT {r['steps']} {r['val_top1']}\\n")  # one write: the ranks share stdout
    sys.stdout.flush()
''')


def test_ddp_two_processes_match_single_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RANK", "WORLD_SIZE", "LOCAL_RANK"))}
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one")], env=env, capture_output=True, text=True, timeout=120)
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("RESULT 12 ") == 2  # both ranks ran all 2 x 192/32 steps and agree on the metric
    assert len(set(line for line in ddp.stdout.splitlines() if line.startswith("RESULT"))) == 1
    one, two = load_tensors(tmp_path / "one" / "weights.safetensors"), load_tensors(tmp_path / "two" / "weights.safetensors")
    for k in one:  # gradient averaging over two half-batches == the full-batch gradient, up to float rounding
        np.testing.assert_allclose(one[k], two[k], rtol=1e-4, atol=1e-5, err_msg=k)
