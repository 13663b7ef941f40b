"""Training engine: resumable, DDP-ready supervised training plus weight-diffusion analysis.

    from convrnn.training import TrainConfig, fit
    cfg = TrainConfig.from_dict({"epochs": 3, "batch_size": 64, "optimizer": "sgd", "lr": 0.05})
    result = fit(model, train_set, val_set, cfg, out_dir)

See docs/training.md for the files written and the SLURM / torchrun usage.
"""
from .config import DynamicsConfig, TrainConfig
from .dynamics import anomalous_diffusion_summary, fit_diffusion_exponent
from .loop import CHECKPOINT, DYNAMICS, METRIC_COLUMNS, METRICS, WEIGHTS, fit
from .preemption import PREEMPTED_EXIT_CODE, Preempted

__all__ = [
    "TrainConfig", "DynamicsConfig", "fit", "Preempted", "PREEMPTED_EXIT_CODE",
    "fit_diffusion_exponent", "anomalous_diffusion_summary",
    "METRIC_COLUMNS", "CHECKPOINT", "WEIGHTS", "METRICS", "DYNAMICS",
]
