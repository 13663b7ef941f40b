"""Validated training configuration.

Defaults follow the only training settings found in the released code (the ``lstm_shallow`` npz, see
docs/references.md, Models: SGD, Nesterov momentum 0.9, batch 64). The LR schedule, epoch count and
warmup of the full-length runs are **not verified**; the defaults below are our choice (cosine decay, no
warmup) and are documented as such in ``docs/training.md``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from convrnn.checks import check_int, check_number

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "constant")
WEIGHT_DECAY_GROUPS = ("reference", "uniform")
DEVICES = ("auto", "cpu", "cuda")
GRAD_CLIP_MODES = ("value", "norm")
LOSS_STEP_NAMES = ("readout", "all_after_first_readable")

# Fields that change nothing about the optimisation trajectory: a resumed run may change them freely.
RESUME_FREE_FIELDS = frozenset(
    {"checkpoint_every_steps", "num_workers", "device", "compile", "log_every_steps", "eval_batch_size"}
)


@dataclass(frozen=True)
class DynamicsConfig:
    """Weight-diffusion recording (Kunin et al.): ||theta_k - theta_k0|| for k >= k0.

    record_every_steps: record the distance every this many updates after k0.
    reference_fraction: k0 = round(reference_fraction * total_steps); a late point (after the loss has
        plateaued) is what the limiting-dynamics analysis needs, hence the default 0.5.
    """

    record_every_steps: int = 10
    reference_fraction: float = 0.5

    def __post_init__(self):
        check_int("dynamics.record_every_steps", self.record_every_steps, minimum=1)
        check_number("dynamics.reference_fraction", self.reference_fraction)
        if not 0.0 <= self.reference_fraction < 1.0:
            raise ValueError(f"dynamics.reference_fraction must be in [0, 1), got {self.reference_fraction}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Build with ``TrainConfig.from_dict``.

    epochs: passes over the training set (last incomplete batch of each epoch is dropped).
    batch_size: *global* batch size; with W processes each takes batch_size / W (must divide).
    optimizer: "sgd" | "adam" | "adamw"; momentum/nesterov apply to SGD only.
    lr: peak learning rate (after warmup). Our default 0.01 ~ the npz's 7.59e-3 / the paper's "~0.01".
    weight_decay: L2 coefficient of the feed-forward convs and the readout (decoupled for adamw).
    weight_decay_groups: "reference" (default): every parameter gets the reference's own coefficient
        (``model.weight_decays``: cells their configured ``weight_decay``, e.g. 2.034e-4 on the median cell's
        kernels; biases of the median cell, norms, peepholes, residual projections and scalars none);
        "uniform": ``weight_decay`` on every parameter (our earlier behaviour, a documented option).
    schedule: "cosine" (to 0 at the last step), "step" (x lr_gamma at each epoch in lr_milestones),
        "constant". The paper's schedule is unverified (reportedly step decay on plateau).
    warmup_epochs: linear warmup from ~0 to lr (fractional epochs allowed).
    grad_clip: None, or a threshold. grad_clip_mode="value" (default) clamps every gradient element to
        [-grad_clip, grad_clip], which is what we read the npz's "+-0.3237" as (TF clip_by_value style;
        unverified whether it was value or norm clipping); "norm" rescales the global L2 norm instead.
    label_smoothing: passed to cross-entropy.
    seed: seeds torch/numpy/python RNGs at the start of a fresh run and the per-epoch data order.
    checkpoint_every_steps: also checkpointed at each epoch end, at the end and on SIGTERM/SIGUSR1.
    num_workers: DataLoader workers (0 = load in the main process; exact resume of *random*
        augmentations mid-epoch is only guaranteed with 0).
    device: "auto" (cuda:LOCAL_RANK if available, else cpu) | "cpu" | "cuda".
    bf16: bfloat16 autocast for forward passes (CUDA, and CPU too so that the path is testable without a GPU;
        CPUs without native bf16 run it slower than float32).
    channels_last: NHWC memory format for model and inputs.
    compile: wrap the training forward in torch.compile.
    loss_steps: "readout" (loss on model(x)), a list of time-step indices into model.unroll(x).logits,
        or "all_after_first_readable" (every step from the first whose logits depend on the image).
        The loss is the mean of the per-step cross-entropies.
    max_steps: optional cap on optimiser updates (search trials); the LR schedule spans the capped length.
    log_every_steps: plain log line period when stderr is not a TTY.
    eval_batch_size: validation batch size (default: batch_size).
    dynamics: DynamicsConfig (or a dict of its fields).
    """

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    weight_decay_groups: str = "reference"
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    grad_clip_mode: str = "value"
    label_smoothing: float = 0.0
    seed: int = 0
    checkpoint_every_steps: int = 500
    num_workers: int = 0
    device: str = "auto"
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    loss_steps: Any = "readout"
    max_steps: int | None = None
    log_every_steps: int = 100
    eval_batch_size: int | None = None
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)

    def __post_init__(self):
        if isinstance(self.dynamics, Mapping):
            object.__setattr__(self, "dynamics", _dynamics_from_dict(self.dynamics))
        elif not isinstance(self.dynamics, DynamicsConfig):
            raise ValueError(f"dynamics must be a dict or DynamicsConfig, got {type(self.dynamics).__name__}")
        if isinstance(self.lr_milestones, (list, tuple)):
            object.__setattr__(self, "lr_milestones", tuple(self.lr_milestones))
        if isinstance(self.loss_steps, (list, tuple)):
            object.__setattr__(self, "loss_steps", tuple(self.loss_steps))
        self._validate()

    def _validate(self):
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("lr", self.lr, minimum=0.0, strict=True)
        check_number("momentum", self.momentum, minimum=0.0)
        if self.momentum >= 1:
            raise ValueError(f"momentum must be < 1, got {self.momentum}")
        _check_bool("nesterov", self.nesterov)
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        _check_choice("weight_decay_groups", self.weight_decay_groups, WEIGHT_DECAY_GROUPS)
        _check_choice("schedule", self.schedule, SCHEDULES)
        check_number("warmup_epochs", self.warmup_epochs, minimum=0.0)
        for i, m in enumerate(self.lr_milestones):
            check_int(f"lr_milestones[{i}]", m, minimum=1)
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
            raise ValueError(f"lr_milestones must be strictly increasing, got {list(self.lr_milestones)}")
        check_number("lr_gamma", self.lr_gamma, minimum=0.0, strict=True)
        if self.grad_clip is not None:
            check_number("grad_clip", self.grad_clip, minimum=0.0, strict=True)
        _check_choice("grad_clip_mode", self.grad_clip_mode, GRAD_CLIP_MODES)
        check_number("label_smoothing", self.label_smoothing, minimum=0.0)
        if self.label_smoothing >= 1:
            raise ValueError(f"label_smoothing must be < 1, got {self.label_smoothing}")
        check_int("seed", self.seed, minimum=0)
        check_int("checkpoint_every_steps", self.checkpoint_every_steps, minimum=1)
        check_int("num_workers", self.num_workers, minimum=0)
        _check_choice("device", self.device, DEVICES)
        for name in ("bf16", "channels_last", "compile"):
            _check_bool(name, getattr(self, name))
        if isinstance(self.loss_steps, tuple):
            if not self.loss_steps:
                raise ValueError("loss_steps must not be an empty list")
            for i, s in enumerate(self.loss_steps):
                check_int(f"loss_steps[{i}]", s)
        else:
            _check_choice("loss_steps", self.loss_steps, LOSS_STEP_NAMES)
        if self.max_steps is not None:
            check_int("max_steps", self.max_steps, minimum=1)
        check_int("log_every_steps", self.log_every_steps, minimum=1)
        if self.eval_batch_size is not None:
            check_int("eval_batch_size", self.eval_batch_size, minimum=1)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        """Build from plain data (YAML/JSON); unknown keys raise ValueError naming the key."""
        if not isinstance(d, Mapping):
            raise ValueError(f"training config must be a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training config key(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(d))

    def to_dict(self) -> dict[str, Any]:
        """Primitives only (lists, not tuples), so it round-trips through torch.load(weights_only=True)."""
        d = dataclasses.asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        if isinstance(self.loss_steps, tuple):
            d["loss_steps"] = list(self.loss_steps)
        return d

    def resume_mismatches(self, saved: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
        """(field, saved value, current value) for every trajectory-relevant field that differs."""
        current = self.to_dict()
        out = []
        for key in sorted(set(current) | set(saved)):
            if key in RESUME_FREE_FIELDS:
                continue
            if saved.get(key) != current.get(key):
                out.append((key, saved.get(key), current.get(key)))
        return out


def _dynamics_from_dict(d: Mapping[str, Any]) -> DynamicsConfig:
    known = {f.name for f in dataclasses.fields(DynamicsConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown dynamics config key(s) {['dynamics.' + k for k in unknown]}; known: {sorted(known)}")
    return DynamicsConfig(**dict(d))


def _check_bool(name, v):
    if not isinstance(v, bool):
        raise ValueError(f"{name} must be true or false, got {v!r}")


def _check_choice(name, v, choices):
    if v not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {v!r}")
