"""The released zoo's recipe (docs/models.md, Readouts and Training recipe): temporal decoders on planted logits,
per-position peepholes, kernel clipping, weight-decay groups, initial statistics, the no-cell gate, TF-SAME conv1."""
import pytest
import torch
import torch.nn.functional as F

from convrnn.models import MEDIAN_RGC, ReciprocalGatedCell, build, count_params
from convrnn.training import TrainConfig
from convrnn.training.loop import _decay_groups

torch.set_num_threads(1)


def _layer(m):
    """The Conv2d of a cell conv (odd kernels: bare; even or clipped-even kernels: pad + conv)."""
    return m[-1] if isinstance(m, torch.nn.Sequential) else m


def _planted(T=17, B=3, K=5):
    """Logits whose confidence we control: image b is confident in class b at the steps we choose."""
    logits = torch.zeros(T, B, K)
    logits[12, 0, 0] = 2.0      # image 0: moderately confident at 12 (max softmax 0.65 < 0.9) ...
    logits[15, 0, 1] = 4.0      # ... most confident at 15 (0.93): thresh crosses 0.9 there first
    logits[13, 1, 2] = 6.0      # image 1: crosses 0.9 at 13 ...
    logits[16, 1, 2] = 9.0      # ... and peaks later at 16
    logits[14, 2, 3] = 1.0      # image 2: never crosses 0.9; its peak is 14
    logits[5, :, 4] = 50.0      # before the window [N, T) = [11, 17): must be ignored by both decoders
    return logits


def test_thresh_reads_the_first_confident_step_else_the_peak():
    m = build("rgc_intermediate_dthresh", width=0.125, num_classes=5, image_size=32)
    logits = _planted()
    out = m.read(logits)
    torch.testing.assert_close(out, torch.stack([logits[15, 0], logits[13, 1], logits[14, 2]]))
    assert m.threshold.item() == pytest.approx(0.9) and "threshold" in m.state_dict()
    with pytest.raises(ValueError, match="needs times > 11"):
        m.read(logits[:11])


def test_max_conf_reads_the_most_confident_step_with_its_beta():
    m = build("rgc_intermediate_tmaxconf", width=0.125, num_classes=5, image_size=32)
    logits = _planted()
    with torch.no_grad():
        m.softmax_beta.fill_(1.0)
    torch.testing.assert_close(m.read(logits), torch.stack([logits[15, 0], logits[16, 1], logits[14, 2]]))
    # beta rescales the logits inside the softmax only: with a tiny beta all steps look alike except in the
    # ranking of max softmax, which is monotone in the logit gap, so the choice is unchanged here
    with torch.no_grad():
        m.softmax_beta.fill_(1e-3)
    torch.testing.assert_close(m.read(logits), torch.stack([logits[15, 0], logits[16, 1], logits[14, 2]]))
    assert [n for n, p in m.named_parameters() if p.numel() == 1] == ["softmax_beta"]


def test_decoder_models_run_the_reference_window_on_real_unrolls():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    base = build("ugrnn_intermediate_t30", width=0.125, num_classes=7, image_size=32)
    dec = build("ugrnn_intermediate_t30_dthresh", width=0.125, num_classes=7, image_size=32)
    dec.load_state_dict(base.state_dict(), strict=False)
    logits = base.unroll(x).logits                     # (30, 2, 7): constant image for 30 steps
    assert dec.times == 30 and dec.image_off == 30
    conf = torch.softmax(logits, -1).amax(-1)[11:]    # the reference window: t in [11, 30)
    assert (conf < 0.9).all()                          # untrained: no step reaches the threshold, the most confident
    out = dec(x)
    assert all(torch.equal(out[b], logits[11 + int(conf[:, b].argmax()), b]) for b in range(2))
    # on the same unroll, confident steps planted before the window (5, 10) and inside it (15, 20): the first
    # in-window step past 0.9 is read, the earlier ones never
    planted = logits.detach().clone()
    planted[5, :, 1] = planted[10, :, 0] = planted[20, :, 2] = planted[15, :, 3] = 50.0
    assert torch.equal(dec.read(planted), planted[15])
    planted[15, :, 3] = 0.0                            # 15 no longer confident: 20 is the first
    assert torch.equal(dec.read(planted), planted[20])


def test_lstm_shallow_peepholes_are_per_position_and_size_checked():
    m = build("lstm_shallow")
    peep = m.nodes[3].cell.peep
    assert tuple(peep.shape) == (3, 256, 14, 14)       # reference w_{i,f,o}_diag [14, 14, 256]
    assert count_params(m) == 21_126_248
    small = build("lstm_shallow", width=0.125, num_classes=4, image_size=32)
    assert small(torch.randn(1, 3, 32, 32)).shape == (1, 4)
    with pytest.raises(ValueError, match=r"per-position peepholes are for a \(2, 2\) map, got \(4, 4\)"):
        small(torch.randn(1, 3, 64, 64))


def test_rgc_kernels_clip_to_small_maps_as_tf():
    full, low = build("rgc_intermediate"), build("rgc_intermediate", image_size=128)
    assert count_params(full) == 15_445_800
    # 128 px: conv8-10 run on 4x4 maps, so their 7x7 depthwise gates (and nothing at 224 px) shrink to 4x4
    for i, node in enumerate(low.nodes):
        if node.cell is None:
            continue
        k = _layer(node.cell.tau_h[0]).kernel_size
        assert k == ((4, 4) if node.spec.name in ("conv8", "conv9", "conv10") else (7, 7)), node.spec.name
        assert _layer(full.nodes[i].cell.tau_h[0]).kernel_size == (7, 7)
    assert count_params(low) < count_params(full)
    torch.manual_seed(0)
    assert torch.isfinite(build("rgc_intermediate", width=0.125, num_classes=3, image_size=40)(
        torch.randn(1, 3, 40, 40))).all()


def test_weight_decay_groups_follow_the_reference():
    m = build("rgc_intermediate")
    wd = m.weight_decays(1e-4)
    assert set(wd) == {n for n, _ in m.named_parameters()}
    cell = "nodes.5.cell."   # conv6: median cell with a residual projection and feedback
    assert wd[cell + "conv_io.weight"] == pytest.approx(2.034e-4, rel=1e-3)
    assert wd[cell + "tau_c.0.weight"] == wd[cell + "tau_c.1.weight"] == wd[cell + "conv_fb.weight"] == \
        wd[cell + "conv_ff.1.weight"] == wd[cell + "conv_io.weight"]
    assert wd[cell + "conv_io.bias"] == wd[cell + "tau_c.1.bias"] == wd[cell + "conv_fb.bias"] == 0.0
    assert wd[cell + "proj.weight"] == 0.0
    assert wd["nodes.5.conv.weight"] == wd["nodes.5.conv.bias"] == wd["head.layer.weight"] == 1e-4
    lstm = build("lstm_shallow").weight_decays(1e-4)
    assert lstm["nodes.3.cell.conv.weight"] == lstm["nodes.3.cell.conv.bias"] == pytest.approx(7.613e-6)
    assert lstm["nodes.3.cell.peep"] == lstm["nodes.3.cell.gate_norms.0.weight"] == 0.0
    assert build("timedecay_shallow").weight_decays(1e-4)["nodes.2.cell.decay"] == 0.0
    # the optimizer gets one group per coefficient, covering every trainable parameter once
    groups = _decay_groups(m, TrainConfig.from_dict({"epochs": 1, "batch_size": 1}))
    assert sorted(g["weight_decay"] for g in groups) == pytest.approx([0.0, 1e-4, 2.034e-4], rel=1e-3)
    assert sum(len(g["params"]) for g in groups) == len(list(m.parameters()))
    uniform = _decay_groups(m, TrainConfig.from_dict({"epochs": 1, "batch_size": 1, "weight_decay_groups": "uniform"}))
    assert [g["weight_decay"] for g in uniform] == [1e-4]


def test_initial_statistics_match_the_reference_median_model():
    """Reference std of conv6 (D=256, C=64, fb 768 channels) under TF's variance_scaling(0.6393, fan_in,
    truncated normal) with TF fans: sqrt(0.6393 / fan_in); depthwise [7, 7, C, 1] has fan_in 49*C. Residual
    projection: Glorot, sqrt(2 / (128 + 256)). Readout: N(0, 0.01), bias 1."""
    torch.manual_seed(0)
    m = build("rgc_intermediate")
    c = m.nodes[5].cell
    s = 0.6393378386273998
    expect = {
        "conv_ff": (_layer(c.conv_ff).weight, (s / (4 * 256)) ** 0.5),
        "conv_io": (c.conv_io.weight, (s / (9 * 256)) ** 0.5),
        "conv_fb": (c.conv_fb.weight, (s / 768) ** 0.5),
        "tau_c dw": (_layer(c.tau_c[0]).weight, (s / (49 * 64)) ** 0.5),
        "tau_c pw": (c.tau_c[1].weight, (s / 64) ** 0.5),
        "gate_c dw": (_layer(c.gate_c[0]).weight, (s / (49 * 256)) ** 0.5),
        "gate_h pw": (c.gate_h[1].weight, (s / 64) ** 0.5),
        "proj": (c.proj.weight, (2 / (128 + 256)) ** 0.5),
        "readout": (m.head.layer.weight, 0.01),
    }
    for name, (w, std) in expect.items():
        assert w.std().item() == pytest.approx(std, rel=0.05), name
    biases = [p for n, p in c.named_parameters() if n.endswith("bias")]
    assert biases and all(torch.count_nonzero(b) == 0 for b in biases)
    assert torch.all(m.head.layer.bias == 1.0)
    assert torch.all(build("rgc_shallow").head.layer.bias == 0.0)


def test_no_cell_memory_gives_a_constant_zero_out_gate():
    torch.manual_seed(0)
    cfg = dict(MEDIAN_RGC, cell_depth=8, gate_filter_size=0, out_residual=False, input_to_out=False)
    cell = ReciprocalGatedCell(in_ch=16, res_ch=16, **cfg)
    assert cell.gate_h is None and not hasattr(cell, "gate_c")
    x, h0 = torch.randn(2, 16, 6, 6), torch.randn(2, 16, 6, 6)
    h, (c, _) = cell(x, (None, h0))
    k = cell.cfg
    tau = k["tau_offset"] + k["tau_multiplier"] * torch.sigmoid(cell.tau_h(h0))
    gate = k["gate_offset"] + k["gate_multiplier"] * torch.tanh(torch.zeros(()))
    torch.testing.assert_close(h, F.elu(tau * h0 + gate * F.elu(x)))
    assert c is None


def test_conv1_pads_tf_same():
    torch.manual_seed(0)
    m = build("ff_shallow", width=0.125, num_classes=3)
    x = torch.randn(1, 3, 224, 224)
    conv = m.nodes[0].conv
    ref = F.conv2d(F.pad(x, (2, 3, 2, 3)), conv.weight, conv.bias, stride=2)   # TF SAME at 224: (2, 3)
    out, _ = m.nodes[0](x, [], None)
    torch.testing.assert_close(out, F.max_pool2d(F.elu(ref), 2, 2, ceil_mode=True))
