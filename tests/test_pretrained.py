"""Released TF checkpoints (neuroailab/convrnns) -> our models: the tensor-bundle reader/writer, the converter and
the workflow wiring (docs/models.md, Pretrained weights).

The checkpoints here are written in TF's format by our writer (checked once against TensorFlow itself:
tests/fixtures/tf_checkpoint_roundtrip.py) with the reference's variable names and shapes, derived in this file
from the reference's hyper-parameters (model_func.py, median_rgcell_cfg.py, utils/median_rgcell.py), not from the
converter; the median RGC step is checked against a numpy transcription of the reference equations in TF layout.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from convrnn.models import build
from convrnn.models.pretrained import convert, load_pretrained
from convrnn.models.tf_checkpoint import (CheckpointError, _crc32c_py, crc32c, list_variables, mask_crc,
                                          read_checkpoint, read_index, unmask_crc, write_checkpoint)

ROOT = Path(__file__).resolve().parents[1]
W, K, SIZE = 0.125, 10, 128


# ------------------------------------------------------------------ format
def test_crc32c_known_value_and_mask():
    assert _crc32c_py(b"123456789") == 0xE3069283          # the CRC-32C check value (RFC 3720)
    assert crc32c(b"123456789") == 0xE3069283
    for c in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert unmask_crc(mask_crc(c)) == c


def test_writer_reader_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {f"tnn_model/conv{i}/pre_0/weights_basenet": rng.standard_normal((3, 3, 2, i)).astype(np.float32)
               for i in range(1, 200)}   # several data blocks in the index
    tensors["global_step"] = np.array(7, np.int64)
    tensors["s"] = np.float32(2.5).reshape(())
    write_checkpoint(tmp_path / "model.ckpt", tensors)
    got = read_checkpoint(tmp_path / "model.ckpt")
    assert sorted(got) == sorted(tensors)
    for k, v in tensors.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and np.array_equal(got[k], v), k
    assert list_variables(tmp_path / "model.ckpt")["s"] == ()
    header, _ = read_index(tmp_path / "model.ckpt.index")
    assert header["num_shards"] == 1


def test_corrupted_tensor_is_named(tmp_path):
    a = {"x/a": np.arange(10, dtype=np.float32), "x/b": np.ones((2, 3), np.float32)}
    write_checkpoint(tmp_path / "m", a)
    _, entries = read_index(tmp_path / "m.index")
    data = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entries["x/b"].offset + 1] ^= 0x40
    data.write_bytes(bytes(raw))
    assert np.array_equal(read_checkpoint(tmp_path / "m", ["x/a"])["x/a"], a["x/a"])
    with pytest.raises(CheckpointError, match=r"crc32c mismatch for tensor 'x/b'"):
        read_checkpoint(tmp_path / "m")


def test_bad_magic_and_block_checksum(tmp_path):
    write_checkpoint(tmp_path / "m", {"v": np.zeros(3, np.float32)})
    idx = tmp_path / "m.index"
    raw = bytearray(idx.read_bytes())
    raw[2] ^= 0x01                                     # inside the first data block
    idx.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="checksum"):
        read_checkpoint(tmp_path / "m")
    idx.write_bytes(bytes(raw[:-1]) + b"\x00")
    with pytest.raises(CheckpointError, match="magic"):
        read_checkpoint(tmp_path / "m")


# ------------------------------------------------------------------ reference variables (independent of the converter)
def _d(n):
    return max(1, round(n * W))


def median_reference_shapes(num_classes=K, size=SIZE):
    """Variable name -> TF shape of the reference rgc_intermediate (width-scaled), from its hyper-parameters."""
    depths = [_d(n) for n in (64, 128, 128, 128, 128, 256, 256, 256, 512, 512)]
    C = _d(64)
    edges = [("conv8", "conv5"), ("conv9", "conv6"), ("conv10", "conv7"), ("conv7", "conv6"), ("conv10", "conv9")]
    maps, m = {}, size // 2           # conv1 7x7/2
    for i in range(1, 11):
        maps[f"conv{i}"] = m
        if i in (1, 4, 6, 7, 10):
            m = -(-m // 2)
    shapes = {}
    for i in range(1, 11):
        n, D = f"conv{i}", depths[i - 1]
        cin = 3 if i == 1 else depths[i - 2]
        k = 7 if i == 1 else 3
        s = f"tnn_model/{n}"
        shapes[f"{s}/pre_0/weights_basenet"] = (k, k, cin, D)
        shapes[f"{s}/pre_0/bias"] = (D,)
        if i < 4:
            shapes[f"{s}/memory_decay"] = (1,)
            continue
        kk = min(7, maps[n])          # _ds_conv clips depthwise kernels to the map
        c = f"{s}/ReciprocalGateCell"
        shapes.update({
            f"{c}/cell/tau/depthwise_weights": (kk, kk, C, 1), f"{c}/cell/tau/pointwise_weights": (1, 1, C, C),
            f"{c}/cell/tau/bias": (C,),
            f"{c}/cell/out_to_cell/depthwise_weights": (kk, kk, D, 1),
            f"{c}/cell/out_to_cell/pointwise_weights": (1, 1, D, C), f"{c}/cell/out_to_cell/bias": (C,),
            f"{c}/cell/input_to_cell_weights": (2, 2, D, C), f"{c}/cell/input_to_cell_bias": (C,),
            f"{c}/out/tau/depthwise_weights": (kk, kk, D, 1), f"{c}/out/tau/pointwise_weights": (1, 1, D, D),
            f"{c}/out/tau/bias": (D,),
            f"{c}/out/gate/depthwise_weights": (kk, kk, C, 1), f"{c}/out/gate/pointwise_weights": (1, 1, C, D),
            f"{c}/out/gate/bias": (D,),
            f"{c}/out/input_to_out_weights": (3, 3, D, D), f"{c}/out/input_to_out_bias": (D,),
        })
        if cin != D:
            shapes[f"{c}/out/residual_add_weights"] = (1, 1, cin, D)
        fb = sum(depths[int(src[4:]) - 1] for src, dst in edges if dst == n)
        if fb:
            shapes[f"{c}/out/feedback_to_out_weights"] = (1, 1, fb, D)
            shapes[f"{c}/out/feedback_to_out_bias"] = (D,)
    shapes["tnn_model/imnetds/pre_3/weights"] = (depths[-1], num_classes)
    shapes["tnn_model/imnetds/pre_3/bias"] = (num_classes,)
    shapes["tnn_model/imnetds/memory_decay"] = (1,)
    return shapes


def ugrnn_reference_shapes(num_classes=K):
    depths = [_d(n) for n in (64, 64, 64, 128, 128, 256, 256, 512, 512, 512)]
    shapes = {}
    for i in range(1, 11):
        s, D = f"tnn_model/conv{i}", depths[i - 1]
        cin = 3 if i == 1 else depths[i - 2]
        k = 7 if i == 1 else 3
        shapes[f"{s}/pre_0/weights_basenet"] = (k, k, cin, D)
        shapes[f"{s}/pre_0/bias"] = (D,)
        if i >= 4:
            shapes[f"{s}/ConvUGRNNCell/weights"] = (3, 3, 2 * D, 2 * D)
            shapes[f"{s}/ConvUGRNNCell/bias"] = (2 * D,)
        else:
            shapes[f"{s}/memory_decay"] = (1,)
        if i > 1:
            shapes[f"{s}/post_0/weights"] = (3, 3, D, D)
            shapes[f"{s}/post_0/bias"] = (D,)
            if cin != D:
                shapes[f"{s}/post_1/residual_add_weights"] = (1, 1, cin, D)
    shapes["tnn_model/imnetds/pre_3/weights"] = (depths[-1], num_classes)
    shapes["tnn_model/imnetds/pre_3/bias"] = (num_classes,)
    shapes["tnn_model/imnetds/memory_decay"] = (1,)
    return shapes


def random_checkpoint(path, shapes, seed=0, extra=()):
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in shapes.items():
        if name.endswith("memory_decay"):
            tensors[name] = np.zeros(shape, np.float32)
        else:
            tensors[name] = (0.3 * rng.standard_normal(shape)).astype(np.float32)
    tensors["global_step"] = np.array(1234, np.int64)
    first = next(iter(shapes))
    tensors[f"{first}/Momentum"] = np.zeros(shapes[first], np.float32)   # optimizer slot: ignored
    for name in extra:
        tensors[name] = np.zeros(1, np.float32)
    write_checkpoint(path, tensors)
    return tensors


# ------------------------------------------------------------------ numpy transcription of the reference (NHWC)
def _pad_same(x, kh, kw):
    th, tw = kh - 1, kw - 1
    return np.pad(x, ((0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2), (0, 0)))


def conv_tf(x, w, b=None):
    """tf.nn.conv2d(x, w, strides 1, 'SAME') (+ b): x NHWC, w HWIO."""
    kh, kw, _, _ = w.shape
    xp = _pad_same(x, kh, kw)
    H, Wd = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (w.shape[3],), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, i:i + H, j:j + Wd], w[i, j])
    return out if b is None else out + b


def sepconv_tf(x, dw, pw, b):
    """tf.nn.separable_conv2d (SAME) + bias: depthwise [k, k, C, 1], pointwise [1, 1, C, O]."""
    kh, kw = dw.shape[:2]
    xp = _pad_same(x, kh, kw)
    H, Wd = x.shape[1:3]
    d = np.zeros(x.shape, np.float64)
    for i in range(kh):
        for j in range(kw):
            d += xp[:, i:i + H, j:j + Wd] * dw[i, j, :, 0]
    return np.einsum("nhwc,co->nhwo", d, pw[0, 0]) + b


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def median_step_reference(t, c, x, prev_cell, prev_out, res, fb):
    """One step of median_rgcell.ReciprocalGateCell with model_func's overrides (feedback to 'out', 1x1, identity)."""
    cfg = dict(tau_offset=0.9219348064291611, tau_k=-0.9219348064291611, gate_offset=0.7006566684988862,
               gate_k=-0.7006566684988862)
    fbx = conv_tf(fb, t[f"{c}/out/feedback_to_out_weights"], t[f"{c}/out/feedback_to_out_bias"])
    inputs = elu(x)
    cell_input = conv_tf(inputs, t[f"{c}/cell/input_to_cell_weights"], t[f"{c}/cell/input_to_cell_bias"])
    cell_tau = sepconv_tf(prev_cell, t[f"{c}/cell/tau/depthwise_weights"], t[f"{c}/cell/tau/pointwise_weights"],
                          t[f"{c}/cell/tau/bias"])
    cell_gate = sepconv_tf(prev_out, t[f"{c}/cell/out_to_cell/depthwise_weights"],
                           t[f"{c}/cell/out_to_cell/pointwise_weights"], t[f"{c}/cell/out_to_cell/bias"])
    next_cell = elu((cfg["tau_offset"] + cfg["tau_k"] * sigmoid(cell_tau)) * prev_cell
                    + (cfg["gate_offset"] + cfg["gate_k"] * np.tanh(cell_gate)) * cell_input)
    out_input = conv_tf(inputs, t[f"{c}/out/input_to_out_weights"], t[f"{c}/out/input_to_out_bias"])
    if f"{c}/out/residual_add_weights" in t:
        out_input = out_input + conv_tf(res, t[f"{c}/out/residual_add_weights"])
    else:
        out_input = out_input + res
    out_input = out_input + fbx
    out_tau = sepconv_tf(prev_out, t[f"{c}/out/tau/depthwise_weights"], t[f"{c}/out/tau/pointwise_weights"],
                         t[f"{c}/out/tau/bias"])
    out_gate = sepconv_tf(prev_cell, t[f"{c}/out/gate/depthwise_weights"], t[f"{c}/out/gate/pointwise_weights"],
                          t[f"{c}/out/gate/bias"])
    next_out = elu((cfg["tau_offset"] + cfg["tau_k"] * sigmoid(out_tau)) * prev_out
                   + (cfg["gate_offset"] + cfg["gate_k"] * np.tanh(out_gate)) * out_input)
    return next_cell, next_out


def _nchw(a):
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float()


def test_median_rgc_converted_matches_reference_equations(tmp_path):
    tensors = random_checkpoint(tmp_path / "model.ckpt", median_reference_shapes())
    model = load_pretrained(build("rgc_intermediate", width=W, num_classes=K, image_size=SIZE), tmp_path / "model.ckpt")
    rng = np.random.default_rng(1)
    idx = 5                                          # conv6: depth change (projection) and two feedback sources
    node, name = model.nodes[idx], "tnn_model/conv6"
    H = 16
    cin, D, C, fbc = _d(128), _d(256), _d(64), _d(256) + _d(512)
    ff = rng.standard_normal((2, H, H, cin))
    x = conv_tf(ff, tensors[f"{name}/pre_0/weights_basenet"], tensors[f"{name}/pre_0/bias"])
    prev_cell, prev_out = rng.standard_normal((2, H, H, C)), rng.standard_normal((2, H, H, D))
    fb = rng.standard_normal((2, H, H, fbc))
    ref_c, ref_h = median_step_reference(tensors, f"{name}/ReciprocalGateCell", x, prev_cell, prev_out, ff, fb)
    with torch.no_grad():
        ours_x = node.conv(_nchw(ff))
        np.testing.assert_allclose(ours_x.numpy(), x.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)
        h, (c, _) = node.cell(_nchw(x), (_nchw(prev_cell), _nchw(prev_out)), _nchw(ff), _nchw(fb))
    np.testing.assert_allclose(c.numpy(), ref_c.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(h.numpy(), ref_h.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)
    # the readout: fc [in, K] -> Linear [K, in]
    z = rng.standard_normal((3, _d(512)))
    with torch.no_grad():
        logits = model.head.layer(torch.from_numpy(z).float()).numpy()
    np.testing.assert_allclose(logits, z @ tensors["tnn_model/imnetds/pre_3/weights"]
                               + tensors["tnn_model/imnetds/pre_3/bias"], rtol=1e-4, atol=1e-4)


def test_ugrnn_converted_matches_reference_equations(tmp_path):
    tensors = random_checkpoint(tmp_path / "model.ckpt", ugrnn_reference_shapes(), seed=3)
    model = load_pretrained(build("ugrnn_intermediate", width=W, num_classes=K, image_size=32), tmp_path / "model.ckpt")
    rng = np.random.default_rng(2)
    cell, name, D = model.nodes[4].cell, "tnn_model/conv5/ConvUGRNNCell", _d(128)
    x, h0 = rng.standard_normal((2, 4, 4, D)), rng.standard_normal((2, 4, 4, D))
    act = conv_tf(np.concatenate([x, h0], -1), tensors[f"{name}/weights"], tensors[f"{name}/bias"])
    g_act, c_act = act[..., :D], act[..., D:]
    g = sigmoid(g_act + 1.0)                       # forget_bias 1.0
    ref = g * h0 + (1 - g) * np.tanh(c_act)
    with torch.no_grad():
        h, _ = cell(_nchw(x), _nchw(h0))
    np.testing.assert_allclose(h.numpy(), ref.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-4)
    # the whole model runs on the converted weights
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(1, 3, 32, 32))).all()


def test_tmaxconf_beta_and_thresh_constants(tmp_path):
    shapes = median_reference_shapes()
    tensors = random_checkpoint(tmp_path / "a", {**shapes, "tnn_model/normalize/softmax_beta": (1,)},
                                extra=())
    model = load_pretrained(build("rgc_intermediate_tmaxconf", width=W, num_classes=K, image_size=SIZE), tmp_path / "a")
    assert model.softmax_beta.item() == pytest.approx(float(tensors["tnn_model/normalize/softmax_beta"][0]))
    # dthresh: the fixed threshold 0.9 is checked when present
    random_checkpoint(tmp_path / "b", shapes, extra=("tnn_model/decoder_threshold",))   # saved as 0, not 0.9
    with pytest.raises(ValueError, match="tnn_model/decoder_threshold"):
        convert(build("rgc_intermediate_dthresh", width=W, num_classes=K, image_size=SIZE), tmp_path / "b")


@pytest.mark.parametrize("case", ["missing", "extra", "misshaped"])
def test_mismatches_name_the_variable(tmp_path, case):
    shapes = dict(median_reference_shapes())
    target = "tnn_model/conv9/ReciprocalGateCell/out/feedback_to_out_weights"
    if case == "missing":
        del shapes[target]
    elif case == "misshaped":
        shapes[target] = (1, 1, 3, 5)
    extra = ("tnn_model/conv9/ReciprocalGateCell/out/bogus",) if case == "extra" else ()
    random_checkpoint(tmp_path / "m", shapes, extra=extra)
    model = build("rgc_intermediate", width=W, num_classes=K, image_size=SIZE)
    want = extra[0] if extra else target
    with pytest.raises(ValueError, match=want + ": " + {"missing": "missing", "extra": "in the checkpoint but not",
                                                        "misshaped": r"shape \[1, 1, 3, 5\]"}[case]):
        convert(model, tmp_path / "m")


def test_corrupted_checkpoint_fails_conversion_naming_the_variable(tmp_path):
    random_checkpoint(tmp_path / "m", median_reference_shapes())
    _, entries = read_index(tmp_path / "m.index")
    name = "tnn_model/conv7/ReciprocalGateCell/out/tau/pointwise_weights"
    data = tmp_path / "m.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entries[name].offset] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=name):
        convert(build("rgc_intermediate", width=W, num_classes=K, image_size=SIZE), tmp_path / "m")


def test_dry_run_plans_no_training_for_pretrained_models():
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "config/pretrained.yaml",
                        "--cores", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout + r.stderr
    stats = out[out.index("Job stats:"):]
    counts = {ln.split()[0]: int(ln.split()[1]) for ln in stats.splitlines()[3:] if len(ln.split()) == 2
              and ln.split()[1].isdigit()}
    assert "train_model" not in counts, counts
    assert counts["convert_pretrained"] == 20 and counts["download_pretrained"] == 20, counts   # every released model
    assert counts["evaluate_pretrained"] == 20 and counts["summarize_pretrained"] == 1, counts


def test_pretrained_accuracy_on_an_imagenet_tree_beside_the_released_table(tmp_path):
    """rule evaluate_pretrained's body: converted weights scored on an ImageNet val split, released numbers beside."""
    from PIL import Image

    from convrnn.data.pretrained_catalog import RELEASED_ACCURACY
    from convrnn.io import read_parquet, save_tensors
    from convrnn.training.evaluate import PRETRAINED_ACCURACY_COLUMNS, pretrained_accuracy_job, topk_correct

    wnids = ["n01440764", "n01443537"]
    for split, n in (("train", 2), ("val", 3)):
        for c, wnid in enumerate(wnids):
            (tmp_path / "inet" / split / wnid).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40, 40), (200 * c, 30, 90)).save(tmp_path / "inet" / split / wnid / f"{i}.JPEG")
    spec = {"arch": "rgc_intermediate", "overrides": {"width": 0.0625, "times": 6, "image_off": 6, "image_size": 32}}
    torch.manual_seed(0)
    net = build("rgc_intermediate", width=0.0625, times=6, image_off=6, image_size=32, num_classes=10).eval()
    save_tensors(net.state_dict(), tmp_path / "weights.safetensors")
    row = pretrained_accuracy_job(tmp_path / "weights.safetensors", tmp_path / "acc.parquet", model="median",
                                  arch="rgc_intermediate", spec=spec, num_classes=10,
                                  imagenet={"root": str(tmp_path / "inet")}, image_size=32, device=torch.device("cpu"),
                                  batch_size=4)
    table = read_parquet(tmp_path / "acc.parquet", required=PRETRAINED_ACCURACY_COLUMNS)
    assert len(table) == 1 and row["n_images"] == 6
    assert (row["released_top1"], row["released_top5"]) == RELEASED_ACCURACY["rgc_intermediate"] == (0.73, 0.9116)
    # the same weights scored by hand on the same images: the job's numbers are the model's, not the released ones
    from convrnn.data.tasks import task_datasets

    _, val, _ = task_datasets({}, imagenet={"root": str(tmp_path / "inet")}, image_size=32)
    x = torch.stack([val[i][0] for i in range(len(val))])
    y = torch.tensor([val[i][1] for i in range(len(val))])
    with torch.no_grad():
        logits = net(x)
    top1, top5 = topk_correct(logits, y)
    assert row["top1"] == pytest.approx(top1 / 6) and row["top5"] == pytest.approx(top5 / 6)
    assert row["loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)


def test_released_accuracy_equals_the_reference_readme_table_digit_for_digit():
    """Every number of RELEASED_ACCURACY against a verbatim copy of the authors' README table (percent strings,
    compared as exact decimals, so a transposed digit or a dropped model fails)."""
    from decimal import Decimal

    from convrnn.data.pretrained_catalog import RELEASED, RELEASED_ACCURACY

    table = (Path(__file__).parent / "fixtures" / "convrnns_readme_accuracy.md").read_text()
    rows = re.findall(r"^\| `(\w+)`\s*\| ([\d.]+)%\s*\| ([\d.]+)%\s*\|$", table, flags=re.M)
    readme = {name: (Decimal(t1) / 100, Decimal(t5) / 100) for name, t1, t5 in rows}
    assert len(readme) == len(rows) == 20 and set(readme) == set(RELEASED)
    ours = {name: (Decimal(str(t1)), Decimal(str(t5))) for name, (t1, t5) in RELEASED_ACCURACY.items()}
    assert ours == readme
