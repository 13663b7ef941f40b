"""Fake resumable training for the SLURM fault tests: the resume contract of train_model, without torch.

Every step updates `--checkpoint` atomically; SIGTERM/SIGUSR1 (scancel, `--signal=USR1@...`) write it and exit 143.
A restart logs `resumed from <checkpoint> at step <n>` (the line tests/test_slurm_cluster.py looks for) and
continues from there. It also logs the job's attempt-scaled runtime so the tests can see the retry's resources.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path


def save(path: Path, step: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"step": step}))
    os.replace(tmp, path)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--step-seconds", type=float, required=True)
    p.add_argument("--runtime", required=True)
    a = p.parse_args()

    a.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    step = 0
    if a.checkpoint.exists():
        step = json.loads(a.checkpoint.read_text())["step"]
        print(f"resumed from {a.checkpoint} at step {step}", flush=True)
    print(f"start step={step} runtime={a.runtime} slurm_job={os.environ.get('SLURM_JOB_ID')}", flush=True)

    def stop(signum, frame):
        save(a.checkpoint, step)
        print(f"signal {signum}: checkpointed at step {step}", flush=True)
        sys.exit(143)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, stop)
    while step < a.steps:
        time.sleep(a.step_seconds)
        step += 1
        save(a.checkpoint, step)
        print(f"step {step}", flush=True)
    a.output.write_text(f"trained {step} steps\n")


if __name__ == "__main__":
    main()
