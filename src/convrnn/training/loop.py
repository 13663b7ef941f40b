"""fit(): deterministic, resumable, DDP-ready supervised training.

State that defines the trajectory lives in one checkpoint (model, optimiser, RNGs, step / epoch / batch
counters, metric accumulators, dynamics reference). The data order is a pure function of (seed, epoch)
and the LR a pure function of the step, so a restart that loads the checkpoint continues bit-for-bit.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from convrnn.io import save_tensors, write_parquet

from . import distributed as D
from .checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from .config import TrainConfig
from .dynamics import DYNAMICS_COLUMNS, DistanceTracker
from .evaluate import classification_sums, topk_correct
from .preemption import Preempted, StopFlag, ignore_stop_signals
from .progress import Progress
from .sampler import epoch_batches
from .schedule import lr_at

METRIC_COLUMNS = [
    "epoch", "step", "lr",
    "train_loss", "train_top1", "train_top5", "train_images_per_s", "train_wall_s",
    "val_loss", "val_top1", "val_top5", "val_images_per_s", "val_wall_s",
    "diverged",
]
CHECKPOINT, WEIGHTS, METRICS, DYNAMICS = "checkpoint.pt", "weights.safetensors", "metrics.parquet", "dynamics.parquet"


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset, cfg: TrainConfig, out_dir) -> dict[str, Any]:
    """Train ``model`` in place; resume from ``out_dir/checkpoint.pt`` if it exists.

    Returns val_top1, val_top5, val_loss (final validation), epochs (float, updates / steps per epoch),
    steps, images_per_s (training throughput over all ranks), diverged, wall_s (summed over restarts).
    Raises ``Preempted`` (a SystemExit with code 75) after checkpointing on SIGTERM / SIGUSR1.
    """
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig (use TrainConfig.from_dict), got {type(cfg).__name__}")
    env = D.detect_env()
    device = D.resolve_device(cfg.device, env)
    created = D.init_process_group(env, device)
    try:
        return _Run(model, train_set, val_set, cfg, Path(out_dir), env, device).train()
    finally:
        if created:
            torch.distributed.destroy_process_group()


class _StepLogits(nn.Module):
    """The forward that the loss sees, as one module so DDP's gradient hooks also cover ``unroll``."""

    def __init__(self, model: nn.Module, steps: list[int] | None):
        super().__init__()
        self.model, self.steps = model, steps

    def forward(self, x):
        if self.steps is None:
            return self.model(x).unsqueeze(0)
        return self.model.unroll(x).logits[self.steps]


class _Run:
    def __init__(self, model, train_set, val_set, cfg: TrainConfig, out_dir: Path, env: D.DistEnv, device):
        self.cfg, self.out_dir, self.env, self.device = cfg, out_dir, env, device
        self.model, self.train_set, self.val_set = model, train_set, val_set
        if cfg.batch_size % env.world_size:
            raise ValueError(f"batch_size={cfg.batch_size} is not divisible by the world size {env.world_size}")
        self.n_train = len(train_set)
        self.steps_per_epoch = self.n_train // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(f"train_set has {self.n_train} items, fewer than batch_size={cfg.batch_size}")
        if len(val_set) == 0:
            raise ValueError("val_set is empty")
        self.total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.ref_step = round(cfg.dynamics.reference_fraction * self.total_steps)

        model.to(device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        self.autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
        self.loss_steps = self._resolve_loss_steps()  # before any RNG seeding/restoring: it uses no randomness
        net: nn.Module = _StepLogits(model, self.loss_steps)
        if env.world_size > 1:
            net = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        self.net = torch.compile(net) if cfg.compile else net
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = _make_optimizer(cfg, _decay_groups(model, cfg))
        self.tracker = DistanceTracker(self.params)
        self.progress = Progress(env.is_main, cfg.log_every_steps)
        self.stop = StopFlag()
        self._stop_agreed = False
        self._last_loss = float("nan")

    # ---------------------------------------------------------------- state
    def _fresh_state(self):
        self.step = self.epoch = self.batch_in_epoch = 0
        self.rows: list[dict] = []
        self.dyn_rows: list[list] = []
        self.diverged = self.finished = False
        self.wall_s = self.train_time_s = 0.0
        self.train_images = 0
        self._reset_epoch_accum()
        # Library code normally avoids global RNGs, but dropout / augmentation in user modules use them:
        # seeding here (and restoring them on resume) is what makes a run reproducible end to end.
        torch.manual_seed(self.cfg.seed)
        np.random.seed(self.cfg.seed)
        random.seed(self.cfg.seed)

    def _reset_epoch_accum(self):
        self.acc = {"loss": 0.0, "top1": 0.0, "top5": 0.0, "n": 0, "time": 0.0}

    def _load(self, ck: dict):
        path = self.out_dir / CHECKPOINT
        bad = self.cfg.resume_mismatches(ck["config"])
        if bad:
            field, old, new = bad[0]
            raise ValueError(
                f"{path}: checkpoint was trained with {field}={old!r} but the config has {field}={new!r} "
                f"(all differing fields: {[b[0] for b in bad]}); use a new out_dir or the original config"
            )
        if ck["loss_steps"] != self.loss_steps:
            raise ValueError(f"{path}: checkpoint used loss steps {ck['loss_steps']}, this model resolves to {self.loss_steps}")
        try:
            self.model.load_state_dict(ck["model"])
        except RuntimeError as e:
            raise ValueError(f"{path}: model state does not match this model: {e}") from e
        self.optimizer.load_state_dict(ck["optimizer"])
        for k in ("step", "epoch", "batch_in_epoch", "rows", "dyn_rows", "diverged", "finished",
                  "wall_s", "train_time_s", "train_images", "acc"):
            setattr(self, k, ck[k])
        if ck["dynamics_reference"] is not None:
            self.tracker.reference = ck["dynamics_reference"].to(self.device)
        restore_rng_state(ck["rng"])

    def _save(self):
        self.wall_s += time.perf_counter() - self._t_wall
        self._t_wall = time.perf_counter()
        if not self.env.is_main:
            return
        ref = self.tracker.reference
        save_checkpoint({
            "config": self.cfg.to_dict(), "world_size": self.env.world_size, "loss_steps": self.loss_steps,
            "step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "rng": capture_rng_state(),
            "rows": self.rows, "dyn_rows": self.dyn_rows, "acc": self.acc,
            "diverged": self.diverged, "finished": self.finished,
            "wall_s": self.wall_s, "train_time_s": self.train_time_s, "train_images": self.train_images,
            "dynamics_reference": None if ref is None else ref.cpu(),
        }, self.out_dir / CHECKPOINT)

    # ---------------------------------------------------------------- main loop
    def train(self) -> dict[str, Any]:
        self._t_wall = time.perf_counter()
        ck = load_checkpoint(self.out_dir / CHECKPOINT)
        if ck is None:
            self._fresh_state()
            self._maybe_record_dynamics()
        else:
            self._load(ck)
            self.progress.message(f"resumed from {self.out_dir / CHECKPOINT} at step {self.step} (epoch {self.epoch})")
        self.model.train()
        with self.stop.installed():
            while not self.finished:
                if self.batch_in_epoch < self.steps_per_epoch and self.step < self.total_steps:
                    self._train_epoch()
                self._end_epoch()
        self._write_outputs()
        D.barrier()
        return self._result()

    def _train_epoch(self):
        cfg = self.cfg
        batches = epoch_batches(self.n_train, cfg.batch_size, cfg.seed, self.epoch, self.batch_in_epoch,
                                self.env.rank, self.env.world_size)
        batches = batches[: self.total_steps - self.step]
        loader = DataLoader(
            self.train_set, batch_sampler=batches, num_workers=cfg.num_workers, pin_memory=self.device.type == "cuda",
            worker_init_fn=ignore_stop_signals,
            # A private generator: otherwise creating the iterator draws from the global torch RNG.
            generator=torch.Generator().manual_seed(cfg.seed + 7919 * (self.epoch + 1)),
        )
        self.progress.start_epoch(self.epoch, self.steps_per_epoch, self.batch_in_epoch)
        t0 = time.perf_counter()
        for x, y in loader:
            lr = lr_at(cfg, self.step, self.steps_per_epoch, self.total_steps)
            if not self._train_step(x, y, lr):
                break
            self.progress.step(self.step, self._last_loss, lr)
            self._maybe_record_dynamics()
            if self._stop_agreed:  # agreed over ranks, so every rank checkpoints/exits at the same step
                self._account_time(t0)
                self._save()
                D.barrier()
                raise Preempted(self.stop.signum or 0, self.step)
            if self.step % cfg.checkpoint_every_steps == 0 and self.batch_in_epoch < self.steps_per_epoch:
                self._account_time(t0)
                self._save()
                t0 = time.perf_counter()
        self._account_time(t0)

    def _account_time(self, t0):
        dt = time.perf_counter() - t0
        self.acc["time"] += dt
        self.train_time_s += dt

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last and x.dim() == 4 else x

    def _train_step(self, x, y, lr) -> bool:
        """One update; False (and no update) if the loss is not finite on any rank."""
        x, y = self._to_device(x), y.to(self.device, non_blocking=True).long()
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(**self.autocast):
            logits = self.net(x)
        logits = logits.float()  # (S, B, K)
        s = logits.shape[0]
        loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(s), label_smoothing=self.cfg.label_smoothing)
        # One small collective per step: the mean loss (divergence must stop every rank together) + stop flag.
        sync = torch.stack([loss.detach(), torch.tensor(float(self.stop.signum is not None), device=loss.device)])
        sync = D.all_reduce_sum(sync).tolist()
        self._stop_agreed = sync[1] > 0
        self._last_loss = sync[0] / self.env.world_size
        if not np.isfinite(self._last_loss):
            self.diverged = True
            self.progress.message(f"non-finite loss at step {self.step}: stopping (diverged)")
            return False
        loss.backward()
        if self.cfg.grad_clip is not None:
            if self.cfg.grad_clip_mode == "value":
                nn.utils.clip_grad_value_(self.params, self.cfg.grad_clip)
            else:
                nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.optimizer.step()
        self.step += 1
        self.batch_in_epoch += 1
        n = y.shape[0]
        top1, top5 = topk_correct(logits[-1].detach(), y)
        self.acc["loss"] += loss.item() * n
        self.acc["top1"] += top1
        self.acc["top5"] += top5
        self.acc["n"] += n
        self.train_images += n * self.env.world_size
        return True

    def _maybe_record_dynamics(self):
        if self.step == self.ref_step and self.tracker.reference is None:
            self.tracker.set_reference()
        since = self.step - self.ref_step
        if since >= 0 and since % self.cfg.dynamics.record_every_steps == 0 and self.env.is_main:
            self.dyn_rows.append([self.step, since, self.tracker.distance()])

    def _end_epoch(self):
        acc = D.all_reduce_sum(torch.tensor(
            [self.acc["loss"], self.acc["top1"], self.acc["top5"], self.acc["n"]], dtype=torch.float64, device=self.device
        )).tolist()
        n = max(acc[3], 1)
        val = self._evaluate()
        row = {
            "epoch": self.epoch, "step": self.step,
            "lr": lr_at(self.cfg, max(self.step - 1, 0), self.steps_per_epoch, self.total_steps),
            "train_loss": acc[0] / n, "train_top1": acc[1] / n, "train_top5": acc[2] / n,
            "train_images_per_s": acc[3] / self.acc["time"] if self.acc["time"] > 0 else float("nan"),
            "train_wall_s": self.acc["time"], **val, "diverged": self.diverged,
        }
        self.rows.append(row)
        self.progress.end_epoch(row)
        self.epoch += 1
        self.batch_in_epoch = 0
        self._reset_epoch_accum()
        self.finished = self.diverged or self.step >= self.total_steps
        self._save()
        if self.env.is_main:
            write_parquet(pd.DataFrame(self.rows, columns=METRIC_COLUMNS), self.out_dir / METRICS)

    @torch.no_grad()
    def _evaluate(self) -> dict[str, float]:
        t0 = time.perf_counter()
        self.model.eval()
        shard = Subset(self.val_set, range(self.env.rank, len(self.val_set), self.env.world_size))
        loader = DataLoader(shard, batch_size=self.cfg.eval_batch_size or self.cfg.batch_size,
                            num_workers=self.cfg.num_workers, pin_memory=self.device.type == "cuda",
                            worker_init_fn=ignore_stop_signals,
                            generator=torch.Generator().manual_seed(self.cfg.seed))
        sums = classification_sums(self.model, loader, self.device, to_device=self._to_device, autocast=self.autocast)
        self.model.train()
        loss, top1, top5, n = D.all_reduce_sum(sums).tolist()
        dt = time.perf_counter() - t0
        return {"val_loss": loss / n, "val_top1": top1 / n, "val_top5": top5 / n,
                "val_images_per_s": n / dt if dt > 0 else float("nan"), "val_wall_s": dt}

    def _write_outputs(self):
        if not self.env.is_main:
            return
        save_tensors(self.model.state_dict(), self.out_dir / WEIGHTS)
        write_parquet(pd.DataFrame(self.rows, columns=METRIC_COLUMNS), self.out_dir / METRICS)
        write_parquet(pd.DataFrame(self.dyn_rows, columns=DYNAMICS_COLUMNS).astype(
            {"step": "int64", "steps_since_ref": "int64", "distance": "float64"}), self.out_dir / DYNAMICS)

    def _result(self) -> dict[str, Any]:
        last = self.rows[-1]
        return {
            "val_top1": last["val_top1"], "val_top5": last["val_top5"], "val_loss": last["val_loss"],
            "epochs": self.step / self.steps_per_epoch, "steps": self.step,
            "images_per_s": self.train_images / self.train_time_s if self.train_time_s > 0 else float("nan"),
            "diverged": self.diverged, "wall_s": self.wall_s,
        }

    # ---------------------------------------------------------------- setup helpers
    def _resolve_loss_steps(self) -> list[int] | None:
        spec = self.cfg.loss_steps
        if spec == "readout":
            return None
        if not hasattr(self.model, "unroll"):
            raise ValueError(f"loss_steps={spec!r} needs model.unroll(), which {type(self.model).__name__} lacks")
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad(), torch.autocast(**self.autocast):
            probe = self._to_device(torch.stack([self.train_set[i][0] for i in range(min(2, self.n_train))]))
            logits = self.model.unroll(probe).logits.float()
        self.model.train(was_training)
        t = logits.shape[0]
        if isinstance(spec, tuple):
            for i, s in enumerate(spec):
                if not -t <= s < t:
                    raise ValueError(f"loss_steps[{i}]={s} is out of range for a model unrolled for {t} steps")
            return [s % t for s in spec]
        first = getattr(self.model, "first_readable_step", None)
        if first is None:
            # The first step whose logits differ between two images: before it, only biases reach the readout.
            varies = (logits[:, 0] - logits[:, -1]).abs().amax(-1) > 0
            if not varies.any():
                raise ValueError("loss_steps='all_after_first_readable': no time step's logits depend on the input")
            first = int(varies.nonzero()[0])
        return list(range(int(first), t))


def _decay_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Optimizer parameter groups, one per L2 coefficient (``TrainConfig.weight_decay_groups``)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.weight_decay_groups == "uniform" or not hasattr(model, "weight_decays"):
        return [{"params": [p for _, p in named], "weight_decay": cfg.weight_decay}]
    coeff = model.weight_decays(cfg.weight_decay)
    missing = [n for n, _ in named if n not in coeff]
    if missing:
        raise ValueError(f"{type(model).__name__}.weight_decays has no coefficient for {missing[:5]}")
    groups: dict[float, list] = {}
    for n, p in named:
        groups.setdefault(coeff[n], []).append(p)
    return [{"params": ps, "weight_decay": wd} for wd, ps in sorted(groups.items())]


def _make_optimizer(cfg: TrainConfig, groups: list[dict]) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)

