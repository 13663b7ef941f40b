"""benchmarks/train_throughput.py: measures a stand-in model and reports the ratios (zoo build stubbed for speed)."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

torch.set_num_threads(1)
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"


def _load():
    spec = importlib.util.spec_from_file_location("train_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stand_in(width):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1000))


def test_measure_counts_flops_and_speed():
    r = _load().measure(_stand_in(8), image_size=16, batch=4, steps=2, warmup=1)
    conv_fwd = 2 * 3 * 9 * 8 * 16 * 16  # multiply-adds x2 per output element
    assert r["train_flops_per_image"] >= 2 * conv_fwd and r["images_per_s"] > 0 and r["params"] > 0


def test_cli_reports_ratio_of_first_two_models(monkeypatch, capsys):
    import convrnn.models

    monkeypatch.setattr(convrnn.models, "build", lambda name: _stand_in({"a": 16, "b": 4}[name]))
    out = _load().main(["--models", "a", "b", "--image-size", "16", "--batch", "4", "--steps", "1", "--device", "cpu", "--channels-last"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["models"].keys() == {"a", "b"} and printed["flop_ratio"] == pytest.approx(out["flop_ratio"])
    a, b = out["models"]["a"], out["models"]["b"]
    assert out["flop_ratio"] == pytest.approx(a["train_flops_per_image"] / b["train_flops_per_image"]) and out["flop_ratio"] > 3
    assert out["slowdown"] == pytest.approx(b["images_per_s"] / a["images_per_s"])
