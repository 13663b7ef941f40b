"""fit() on a tiny conv net and a learnable random task: learning, files/schemas, config errors, divergence."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from convrnn.io import load_tensors, read_parquet
from convrnn.training import METRIC_COLUMNS, TrainConfig, fit
from convrnn.training.dynamics import DYNAMICS_COLUMNS

torch.set_num_threads(1)
K = 4


def toy_data(n, seed, size=8):
    """Class = which of K fixed random patterns is hidden under noise: learnable, chance = 1/K."""
    g = torch.Generator().manual_seed(1234)
    prototypes = torch.randn(K, 3, size, size, generator=g)
    g.manual_seed(seed)
    y = torch.randint(0, K, (n,), generator=g)
    x = prototypes[y] + 1.5 * torch.randn(n, 3, size, size, generator=g)
    return TensorDataset(x, y)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.head = nn.Linear(8 * 4 * 4, K)

    def forward(self, x):
        return self.head(self.features(x))


class TinyRecurrent(TinyNet):
    """unroll(x).logits (T, B, K); the image reaches the readout one step late, as in a layered ConvRNN."""

    times = 4

    def unroll(self, x, times=None):
        h = torch.zeros(x.shape[0], 8 * 4 * 4, device=x.device)
        out = []
        for _ in range(times or self.times):
            out.append(self.head(h))
            h = self.features(x) + 0.5 * h
        return SimpleNamespace(logits=torch.stack(out))

    def forward(self, x):
        return self.unroll(x).logits[-1]


def _cfg(**kw):
    base = {"epochs": 3, "batch_size": 32, "lr": 0.05, "seed": 0, "device": "cpu", "checkpoint_every_steps": 5,
            "dynamics": {"record_every_steps": 2, "reference_fraction": 0.5}}
    return TrainConfig.from_dict({**base, **kw})


def test_fit_learns_and_writes_documented_files(tmp_path):
    torch.manual_seed(0)
    model = TinyNet()
    result = fit(model, toy_data(512, 1), toy_data(256, 2), _cfg(), tmp_path)

    assert result["val_top1"] > 0.8, result  # chance is 0.25
    assert result["val_top5"] == 1.0 and not result["diverged"]
    assert result["steps"] == 3 * 16 and result["epochs"] == 3.0 and result["images_per_s"] > 0 and result["wall_s"] > 0
    metrics = read_parquet(tmp_path / "metrics.parquet", required=METRIC_COLUMNS)
    assert list(metrics["epoch"]) == [0, 1, 2] and list(metrics["step"]) == [16, 32, 48]
    assert metrics["train_loss"].iloc[-1] < metrics["train_loss"].iloc[0]
    assert metrics["val_top1"].iloc[-1] == pytest.approx(result["val_top1"])
    assert metrics["lr"].is_monotonic_decreasing  # cosine
    dyn = read_parquet(tmp_path / "dynamics.parquet", required=DYNAMICS_COLUMNS)
    assert list(dyn["step"]) == list(range(24, 49, 2)) and dyn["distance"].iloc[0] == 0.0
    assert (dyn["distance"].diff().iloc[1:] > 0).all()
    weights = load_tensors(tmp_path / "weights.safetensors")
    assert torch.equal(torch.from_numpy(weights["head.weight"]), model.head.weight.detach())

    # A finished run is not retrained: the same call returns the same result from the checkpoint.
    again = fit(TinyNet(), toy_data(512, 1), toy_data(256, 2), _cfg(), tmp_path)
    assert again["steps"] == result["steps"] and again["val_top1"] == result["val_top1"]


def test_loss_over_unrolled_steps(tmp_path):
    torch.manual_seed(0)
    cfg = _cfg(epochs=2, loss_steps="all_after_first_readable", max_steps=20)
    result = fit(TinyRecurrent(), toy_data(512, 1), toy_data(128, 2), cfg, tmp_path)
    assert result["steps"] == 20 and result["val_top1"] > 0.5
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["loss_steps"] == [1, 2, 3]  # step 0 only sees the bias
    with pytest.raises(ValueError, match=r"loss_steps\[0\]=9"):
        fit(TinyRecurrent(), toy_data(64, 1), toy_data(32, 2), _cfg(loss_steps=[9]), tmp_path / "b")
    with pytest.raises(ValueError, match="unroll"):
        fit(TinyNet(), toy_data(64, 1), toy_data(32, 2), _cfg(loss_steps=[0]), tmp_path / "c")


def test_gpu_flags_bf16_and_channels_last_train_a_convrnn_on_cpu(tmp_path):
    """The GPU configuration (bf16 autocast, NHWC) is the same code path on CPU: a zoo ConvRNN still learns."""
    from convrnn.models import build

    torch.manual_seed(0)
    model = build("rgc_shallow", width=0.125, num_classes=K, times=8, image_off=6)
    seen = []
    model.nodes[0].register_forward_hook(  # a node returns (output, state)
        lambda m, inp, out: seen.append((out[0].dtype, inp[0].is_contiguous(memory_format=torch.channels_last))))
    cfg = _cfg(epochs=2, batch_size=16, optimizer="adam", lr=3e-3, bf16=True, channels_last=True,
               loss_steps="all_after_first_readable")
    result = fit(model, toy_data(256, 1, size=16), toy_data(64, 2, size=16), cfg, tmp_path)
    assert result["val_top1"] > 0.6 and not result["diverged"], result  # chance 0.25
    assert seen and set(seen) == {(torch.bfloat16, True)}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast: float32 master weights


def test_compile_wraps_the_training_forward(tmp_path):
    import torch._dynamo

    torch._dynamo.reset()
    torch.manual_seed(0)
    result = fit(TinyNet(), toy_data(256, 1), toy_data(64, 2), _cfg(epochs=1, compile=True), tmp_path)
    assert result["val_top1"] > 0.8, result
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1


@pytest.mark.parametrize(
    "override, field",
    [({"epochs": -3}, "epochs"), ({"optimizer": "rmsprop"}, "optimizer"), ({"learning_rate": 0.1}, "learning_rate"),
     ({"lr": float("nan")}, "lr"), ({"batch_size": 0}, "batch_size"), ({"grad_clip": -1.0}, "grad_clip"),
     ({"dynamics": {"reference_fraction": 1.5}}, "dynamics.reference_fraction"), ({"dynamics": {"every": 3}}, "dynamics.every"),
     ({"lr_milestones": [20, 10]}, "lr_milestones"), ({"loss_steps": "sum"}, "loss_steps"), ({"nesterov": "yes"}, "nesterov")],
)
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.").replace("[", r"\[")):
        TrainConfig.from_dict({"epochs": 1, **override})


def test_resume_with_changed_config_names_the_field(tmp_path):
    fit(TinyNet(), toy_data(64, 1), toy_data(32, 2), _cfg(epochs=1), tmp_path)
    with pytest.raises(ValueError, match="lr=0.05.*lr=0.1"):
        fit(TinyNet(), toy_data(64, 1), toy_data(32, 2), _cfg(epochs=1, lr=0.1), tmp_path)
    fit(TinyNet(), toy_data(64, 1), toy_data(32, 2), _cfg(epochs=1, num_workers=1), tmp_path)  # irrelevant field: fine


def test_divergence_is_recorded_not_raised(tmp_path):
    torch.manual_seed(0)
    result = fit(TinyNet(), toy_data(256, 1), toy_data(64, 2), _cfg(lr=1e12, momentum=0.0, nesterov=False), tmp_path)
    assert result["diverged"] is True and result["steps"] < 3 * 8
    metrics = read_parquet(tmp_path / "metrics.parquet", required=METRIC_COLUMNS)
    assert bool(metrics["diverged"].iloc[-1])
    assert (tmp_path / "weights.safetensors").exists()


def test_schedules():
    from convrnn.training.schedule import lr_at

    step = _cfg(schedule="step", lr_milestones=[2, 3], lr_gamma=0.1, warmup_epochs=0.5)
    assert [lr_at(step, s, 10, 40) for s in (0, 4, 5, 19, 20, 30)] == pytest.approx([0.01, 0.05, 0.05, 0.05, 0.005, 0.0005])
    cos = _cfg()
    assert lr_at(cos, 0, 10, 40) == pytest.approx(0.05) and lr_at(cos, 20, 10, 40) == pytest.approx(0.025)


def test_progress_writes_plain_lines_when_not_a_tty():
    import io

    from convrnn.training.progress import Progress

    stream = io.StringIO()
    p = Progress(True, log_every_steps=2, stream=stream)
    p.start_epoch(0, 4, 0)
    for s in range(1, 5):
        p.step(s, 1.0 / s, 0.1)
    assert not p.use_tqdm and stream.getvalue().count("\n") == 2 and "step 4 loss 0.2500" in stream.getvalue()
