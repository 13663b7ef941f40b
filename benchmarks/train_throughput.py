"""Training throughput (forward + backward + SGD step) of zoo models, next to their FLOP ratio.

    python benchmarks/train_throughput.py --image-size 224 --batch 64 --steps 20 --device cuda --bf16 --channels-last

Prints one JSON object. The default pair is the median ConvRNN (rgc_intermediate) and ResNet-34; the
``slowdown`` (how many times fewer images/s the first model trains than the second) next to ``flop_ratio``
(training FLOPs per image, first / second) says whether recurrence costs more than its arithmetic.
FLOPs are counted with torch.utils.flop_counter on one fwd+bwd (matmul/conv only, as that counter does).
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _batch(model_batch: int, image_size: int, num_classes: int, device, channels_last: bool):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(model_batch, 3, image_size, image_size, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, num_classes, (model_batch,), generator=g).to(device)


def train_flops_per_image(model: nn.Module, image_size: int, device, num_classes: int) -> float:
    """FLOPs of one forward + backward, per image (counted on a batch of 2 so BatchNorm has statistics)."""
    x, y = _batch(2, image_size, num_classes, device, False)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def measure(model: nn.Module, *, image_size: int, batch: int, steps: int, warmup: int = 2, device="cpu",
            bf16: bool = False, channels_last: bool = False, num_classes: int = 1000) -> dict:
    """images/s of full training steps (fwd + bwd + SGD update) on random data."""
    device = torch.device(device)
    model.to(device).train()
    flops = train_flops_per_image(model, image_size, device, num_classes)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    x, y = _batch(batch, image_size, num_classes, device, channels_last)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        F.cross_entropy(logits.float(), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    dt = time.perf_counter() - t0
    return {
        "images_per_s": batch * steps / dt, "step_ms": 1e3 * dt / steps,
        "train_flops_per_image": flops, "params": sum(p.numel() for p in model.parameters()),
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["rgc_intermediate", "resnet34"], help="convrnn.models names; ratios use the first two")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels

    from convrnn.models import build

    out = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "image_size": a.image_size,
           "batch": a.batch, "steps": a.steps, "bf16": a.bf16, "channels_last": a.channels_last, "models": {}}
    for name in a.models:
        torch.manual_seed(0)
        out["models"][name] = measure(build(name), image_size=a.image_size, batch=a.batch, steps=a.steps, warmup=a.warmup,
                                      device=device, bf16=a.bf16, channels_last=a.channels_last)
        if device == "cuda":
            torch.cuda.empty_cache()
    if len(a.models) >= 2:
        first, second = (out["models"][n] for n in a.models[:2])
        out["slowdown"] = second["images_per_s"] / first["images_per_s"]
        out["flop_ratio"] = first["train_flops_per_image"] / second["train_flops_per_image"]
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
