"""SIGTERM / SIGUSR1 -> checkpoint at the next step boundary -> exit with a requeue-friendly code.

SLURM sends SIGTERM at the time limit / on preemption (and SIGUSR1 ahead of it with ``--signal=USR1@120``).
The handler only sets a flag: saving from inside a signal handler could interrupt a half-done optimizer
step. fit() checks the flag between steps, writes the checkpoint and raises ``Preempted``.
"""
from __future__ import annotations

import contextlib
import signal
import threading

# EX_TEMPFAIL from sysexits.h: "temporary failure, try again" - distinct from crashes (1) and signals (128+n).
PREEMPTED_EXIT_CODE = 75
SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(SystemExit):
    """Raised by fit() after checkpointing on SIGTERM/SIGUSR1; uncaught, the process exits with code 75."""

    def __init__(self, signum: int, step: int):
        super().__init__(PREEMPTED_EXIT_CODE)
        self.signum, self.step = signum, step

    def __str__(self):
        by = signal.Signals(self.signum).name if self.signum else "a signal on another rank"
        return f"preempted by {by} at step {self.step}; checkpoint saved"


class StopFlag:
    def __init__(self):
        self.signum: int | None = None

    def _handler(self, signum, frame):
        self.signum = signum

    @contextlib.contextmanager
    def installed(self):
        """Install the handlers for the duration of training (main thread only), then restore the old ones."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handler) for s in SIGNALS}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def ignore_stop_signals(worker_id: int) -> None:
    """DataLoader worker_init_fn. SLURM signals every process of the step; a worker killed by SIGTERM would
    crash the main process before it reaches the step boundary where it checkpoints. Forked workers inherit
    the harmless flag handler, but spawn/forkserver workers (the default from Python 3.14) would die."""
    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)
