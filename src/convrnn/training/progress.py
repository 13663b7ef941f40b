"""tqdm bars on a terminal; periodic plain lines otherwise (SLURM logs would otherwise fill with \\r)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool, log_every_steps: int, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.use_tqdm = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.log_every = log_every_steps
        self.bar = None
        self._t = time.perf_counter()

    def start_epoch(self, epoch: int, n_batches: int, done: int) -> None:
        if self.use_tqdm:
            from tqdm import tqdm

            self.bar = tqdm(total=n_batches, initial=done, desc=f"epoch {epoch}", file=self.stream, leave=False)

    def step(self, step: int, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.3g}", refresh=False)
        elif self.enabled and step % self.log_every == 0:
            self._line(f"step {step} loss {loss:.4f} lr {lr:.4g}")

    def end_epoch(self, row: dict) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            self._line(
                f"epoch {row['epoch']} step {row['step']} train_loss {row['train_loss']:.4f} train_top1 {row['train_top1']:.3f} "
                f"val_loss {row['val_loss']:.4f} val_top1 {row['val_top1']:.3f} {row['train_images_per_s']:.0f} img/s"
            )

    def message(self, text: str) -> None:
        if self.enabled:
            self._line(text)

    def _line(self, text: str) -> None:
        print(f"[train {time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)
