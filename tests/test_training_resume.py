"""Kill -9 at random points and resume: final weights are bitwise those of an uninterrupted run.

The training subprocess uses dropout (torch RNG) and a dataset that draws from torch, numpy and python
RNGs in the main process, so any RNG or data-order state not restored exactly would show up here.
"""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import torch

from convrnn.io import load_tensors
from convrnn.training import PREEMPTED_EXIT_CODE

SCRIPT = textwrap.dedent('''
    import random, sys, time
    import numpy as np, torch
    from torch import nn
    from torch.utils.data import Dataset, TensorDataset
    torch.set_num_threads(1)
    from convrnn.training import TrainConfig, fit

    out_dir, delay = sys.argv[1], float(sys.argv[2])
    K = 4

    def data(n, seed):
        g = torch.Generator().manual_seed(1234)
        protos = torch.randn(K, 3, 8, 8, generator=g)
        g.manual_seed(seed)
        y = torch.randint(0, K, (n,), generator=g)
        return protos[y] + 1.5 * torch.randn(n, 3, 8, 8, generator=g), y

    class Augmented(Dataset):
        """Random flip (python RNG), gain (numpy RNG), noise (torch RNG); ``delay`` only slows it down."""
        def __init__(self, x, y): self.x, self.y = x, y
        def __len__(self): return len(self.y)
        def __getitem__(self, i):
            time.sleep(delay)
            x = self.x[i].flip(-1) if random.random() < 0.5 else self.x[i]
            return x * float(np.random.uniform(0.8, 1.2)) + 0.1 * torch.randn_like(x), self.y[i]

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, K))
    cfg = TrainConfig.from_dict({"epochs": 4, "batch_size": 16, "lr": 0.05, "seed": 3, "device": "cpu",
                                 "checkpoint_every_steps": 4, "dynamics": {"record_every_steps": 3},
                                 "num_workers": int(sys.argv[3]) if len(sys.argv) > 3 else 0})
    fit(model, Augmented(*data(512, 1)), TensorDataset(*data(64, 2)), cfg, out_dir)
''')


def _launch(script, out_dir, delay, *extra, **popen):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), str(out_dir), str(delay), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def _mtime(path):
    return path.stat().st_mtime_ns if path.exists() else None


def _wait_for_new_checkpoint(path, before, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while _mtime(path) == before:
        assert proc.poll() is None, f"training exited early: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.005)


def test_sigkill_and_sigterm_resume_bitwise(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ref = _launch(script, tmp_path / "ref", 0.0)
    assert ref.wait(120) == 0, ref.stderr.read().decode()[-2000:]

    out, ckpt = tmp_path / "interrupted", tmp_path / "interrupted" / "checkpoint.pt"
    rng = random.Random(0)
    steps_seen = []
    for sig in (signal.SIGKILL, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL):
        before = _mtime(ckpt)
        proc = _launch(script, out, 0.0005)
        _wait_for_new_checkpoint(ckpt, before, proc)  # each restart must make progress before it dies
        time.sleep(rng.uniform(0.0, 0.15))
        assert proc.poll() is None, "training finished before it could be interrupted"
        at_signal = _mtime(ckpt)
        proc.send_signal(sig)
        rc = proc.wait(60)
        step = torch.load(ckpt, weights_only=True)["step"]
        if sig == signal.SIGTERM:
            assert rc == PREEMPTED_EXIT_CODE, proc.stderr.read().decode()[-2000:]
            assert _mtime(ckpt) != at_signal  # a checkpoint was written at the step boundary after the signal
        else:
            assert rc == -signal.SIGKILL
        steps_seen.append(step)
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] < 4 * 32
    final = _launch(script, out, 0.0)
    assert final.wait(120) == 0, final.stderr.read().decode()[-2000:]

    want, got = load_tensors(tmp_path / "ref" / "weights.safetensors"), load_tensors(out / "weights.safetensors")
    assert want.keys() == got.keys()
    for k in want:
        assert np.array_equal(want[k], got[k]), k  # bitwise, not approximately
    deterministic = ["epoch", "step", "lr", "train_loss", "train_top1", "val_loss", "val_top1"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ref" / "metrics.parquet")[deterministic],
                                  pd.read_parquet(out / "metrics.parquet")[deterministic])
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ref" / "dynamics.parquet"), pd.read_parquet(out / "dynamics.parquet"))


def test_sigterm_to_whole_process_group_with_loader_workers(tmp_path):
    """SLURM signals every process of the step, DataLoader workers included: still a clean checkpoint + exit 75."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ckpt = tmp_path / "out" / "checkpoint.pt"
    proc = _launch(script, tmp_path / "out", 0.001, "1", start_new_session=True)
    _wait_for_new_checkpoint(ckpt, None, proc)
    os.killpg(proc.pid, signal.SIGUSR1)
    assert proc.wait(60) == PREEMPTED_EXIT_CODE, proc.stderr.read().decode()[-2000:]
    assert torch.load(ckpt, weights_only=True)["step"] > 0
