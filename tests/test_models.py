"""Tests for convrnn.models: published parameter counts, RGC bypass/gates, unrolling timing, zoo smoke."""
import re
from pathlib import Path

import pytest
import torch

from convrnn.models import MEDIAN_RGC, RGC_2018, Cell, ReciprocalGatedCell, build, count_params, count_units, names

torch.set_num_threads(1)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def meta_build(name, **kw):
    with torch.device("meta"):
        return build(name, **kw)


def test_median_rgc_param_count_matches_reference():
    assert count_params(meta_build("rgc_intermediate")) == 15_445_800


def _docs_table():
    rows = re.findall(r"^\| `([\w]+)` \| ([\d,]+) \| ([\d,]+) \|", DOCS.read_text(), flags=re.M)
    return {n: (int(p.replace(",", "")), int(u.replace(",", ""))) for n, p, u in rows}


def test_docs_table_covers_zoo_and_matches_counts():
    table = _docs_table()
    assert sorted(table) == names()
    for name, (params, units) in table.items():
        m = meta_build(name)
        assert (count_params(m), count_units(m, 224)) == (params, units), name


@pytest.mark.parametrize("bb, target", [("shallow", "rgc_shallow"), ("intermediate", "rgc_intermediate")])
@pytest.mark.parametrize("kind", ["wide", "deep"])
def test_ff_controls_match_convrnn_params(bb, target, kind):
    for kw in ({}, {"width": 0.25, "num_classes": 8}):
        n, t = count_params(meta_build(f"ff_{kind}_{bb}", **kw)), count_params(meta_build(target, **kw))
        assert abs(n - t) <= 0.05 * t
    ctrl = meta_build(f"ff_{kind}_{bb}")
    assert all(node.cell is None for node in ctrl.nodes) and not ctrl.spec.edges


def test_rgc_bypass_passes_input_when_gate_open():
    torch.manual_seed(0)
    cfg = dict(RGC_2018, gate_bias=-40.0, residual_to_out_gate=False, out_activation="identity", conv_bias=True)
    cell = ReciprocalGatedCell(in_ch=8, res_ch=8, **cfg)
    x = torch.randn(2, 8, 5, 5)
    h, (c, _) = cell(x, None, res=torch.randn(2, 8, 5, 5))
    torch.testing.assert_close(h, x)
    # the closed gate (default bias 0, sigmoid) lets exactly half through from zero state
    cell = ReciprocalGatedCell(in_ch=8, res_ch=8, **dict(cfg, gate_bias=0.0, conv_bias=False))
    torch.testing.assert_close(cell(x, None, res=x)[0], 0.5 * x)


def test_median_gate_ranges():
    torch.manual_seed(0)
    cell = ReciprocalGatedCell(in_ch=16, res_ch=16, **dict(MEDIAN_RGC, cell_depth=8))
    big = 10 * torch.randn(4, 16, 6, 6)
    tau, gate = cell.tau_factor(cell.tau_h(big)), cell.gate_factor(cell.gate_h(10 * torch.randn(4, 8, 6, 6)))
    a, b = MEDIAN_RGC["tau_offset"], MEDIAN_RGC["gate_offset"]
    assert 0 <= tau.min() and tau.max() <= a        # a*(1 - sigmoid) in (0, a)
    assert 0 <= gate.min() and gate.max() <= 2 * b  # b*(1 - tanh) in (0, 2b)
    assert gate.max() > b and gate.min() < b         # tanh gate really spans both sides
    assert cell.tau_const == 0.0 and cell.gate_const == 0.0  # quirk (a): DS biases unused


def _first_diff(a, b):
    d = (a - b).flatten(1).abs().amax(1)
    idx = torch.nonzero(d > 0)
    return int(idx[0]) if len(idx) else None


def test_unrolling_timing_and_blank():
    torch.manual_seed(0)
    m = build("rgc_intermediate", width=1 / 16, num_classes=5)
    x = torch.randn(1, 3, 32, 32)
    layers = m.layer_names
    with torch.no_grad():
        a = m.unroll(x, times=16, image_off=3, record=layers)
        b = m.unroll(x, times=16, image_off=5, record=layers)
    assert a.logits.shape == (16, 1, 5) and a.features["conv4"].shape[:2] == (16, 1)
    for k, name in enumerate(layers, start=1):   # input change at t=3 reaches layer k at t=3+k-1
        assert _first_diff(a.features[name], b.features[name]) == 3 + k - 1, name
    torch.testing.assert_close(a.logits[:, :, :, None, None], a.features["imnetds"])


def test_feedback_delivers_next_step_and_blank_frame_reaches_conv1():
    torch.manual_seed(0)
    m = build("rgc_intermediate", width=1 / 16, num_classes=5)
    frames, calls = [], {"n": 0}
    m.nodes[0].register_forward_pre_hook(lambda mod, args: frames.append(args[0].clone()))

    def kick(mod, args, out):   # perturb conv8's output at step 6 only
        calls["n"] += 1
        if calls["n"] == 7:
            return out[0] + 1.0, out[1]
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a = m.unroll(x, times=10, image_off=4, record=m.layer_names)
        hook = m.nodes[7].register_forward_hook(kick)
        b = m.unroll(x, times=10, image_off=4, record=m.layer_names)
        hook.remove()
    assert _first_diff(a.features["conv8"], b.features["conv8"]) == 6
    assert _first_diff(a.features["conv5"], b.features["conv5"]) == 7   # conv8 -> conv5 feedback
    assert _first_diff(a.features["conv9"], b.features["conv9"]) == 7   # feed-forward
    assert _first_diff(a.features["conv6"], b.features["conv6"]) == 8   # via conv5 / conv9, two edges
    assert _first_diff(a.features["conv4"], b.features["conv4"]) is None
    for t, f in enumerate(frames[:10]):
        torch.testing.assert_close(f, x if t < 4 else torch.full_like(x, 0.5))


def test_record_keeps_only_requested_and_readouts():
    m = build("rgc_shallow", width=0.25, num_classes=8, times=10, image_off=6)
    x = torch.randn(2, 3, 32, 32)
    out = m.unroll(x, record=["conv4"])
    assert list(out.features) == ["conv4"] and out.features["conv4"].shape == (10, 2, 64, 1, 1)
    assert m(x).shape == (2, 8)
    torch.testing.assert_close(m(x), out.logits[-1])
    mean = build("rgc_shallow", width=0.25, num_classes=8, times=10, readout="mean")
    mean.load_state_dict(m.state_dict())
    torch.testing.assert_close(mean(x), mean.unroll(x).logits[5:].mean(0))


@pytest.mark.parametrize("name", names())
def test_zoo_forward_backward_cpu(name):
    torch.manual_seed(0)
    full = name in ("rgc_intermediate", "resnet18", "resnet34")
    kw = {} if name.startswith("resnet") else {"width": 1.0 if full else 0.125, "num_classes": 10}
    m = build(name, image_size=64, **kw)
    x = torch.randn(2, 3, 64, 64)
    y = m(x)
    y.square().mean().backward()
    assert y.shape == (2, 1000 if name.startswith("resnet") else 10) and torch.isfinite(y).all()
    assert all(g is not None and torch.isfinite(g).all() for g in _grads(m))


def _grads(m):
    # max_conf's beta only picks a step (argmax): no gradient reaches it, as in the reference
    return [p.grad for n, p in m.named_parameters() if p.requires_grad and n != "softmax_beta"]


@pytest.mark.parametrize("name", names())
def test_zoo_trains_channels_last_under_bf16_autocast_on_cpu(name):
    """The GPU training path (channels_last model + inputs, bf16 autocast) also runs on CPU for every model."""
    torch.manual_seed(0)
    kw = {"num_classes": 10} if name.startswith("resnet") else {"width": 0.125, "num_classes": 10}
    m = build(name, image_size=32, **kw).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert y.dtype == torch.bfloat16 and y.shape == (2, 10)
    torch.nn.functional.cross_entropy(y.float(), torch.tensor([1, 2])).backward()
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in _grads(m))


def test_lstm_cell_equations_with_peepholes_on_the_previous_cell_state():
    from convrnn.models.cells import CELLS, conv_bias

    torch.manual_seed(0)
    cell = CELLS["lstm"](in_ch=4, out_depth=3, filter_size=1, peephole="position", forget_bias=0.5, map_hw=(5, 5))
    with torch.no_grad():
        cell.peep.normal_()
        conv_bias(cell.conv).normal_()
    x, c0, h0 = torch.randn(2, 4, 5, 5), torch.randn(2, 3, 5, 5), torch.randn(2, 3, 5, 5)
    h, (c, h_state) = cell(x, (c0, h0))
    i, j, f, o = cell.conv(torch.cat([x, h0], 1)).chunk(4, 1)
    w = cell.peep
    c_ref = c0 * torch.sigmoid(f + 0.5 + w[1] * c0) + torch.sigmoid(i + w[0] * c0) * torch.tanh(j)
    torch.testing.assert_close(c, c_ref)
    torch.testing.assert_close(h, torch.tanh(c_ref) * torch.sigmoid(o + w[2] * c0))
    assert h_state is h
    # zero state at t=0, and layer norm keeps every gate and c' at zero mean / unit variance per image
    ln = CELLS["lstm"](in_ch=4, out_depth=3, filter_size=1, layer_norm=True)
    h, (c, _) = ln(x, None)
    torch.testing.assert_close(c.mean((1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(c.var((1, 2, 3), unbiased=False), torch.ones(2), atol=1e-3, rtol=0)


def test_resnet_unroll_constant_in_time():
    m = build("resnet18", num_classes=4, times=3)
    out = m.unroll(torch.randn(2, 3, 64, 64), record=["layer2", "avgpool"])
    assert out.logits.shape == (3, 2, 4) and out.features["layer2"].shape == (3, 2, 128, 8, 8)
    torch.testing.assert_close(out.features["avgpool"][0], out.features["avgpool"][2])


@pytest.mark.parametrize("kw, key", [
    ({"depth": 3}, "depth"), ({"readout": "max"}, "readout"), ({"width": 0}, "width"),
    ({"times": 0}, "times"), ({"edges": [["conv5", "conv9"]]}, "edges"), ({"edges": [["conv9", "conv42"]]}, "edges"),
    ({"cell": {"gate_nonlinearity": "relu"}}, "gate_nonlinearity"), ({"cell": {"bogus": 1}}, "bogus"),
    ({"cell_layers": ["conv99"]}, "cell_layers"),
])
def test_bad_overrides_name_the_key(kw, key):
    with pytest.raises(ValueError, match=key):
        meta_build("rgc_intermediate", **kw)


def test_overrides_change_the_graph():
    m = meta_build("rgc_intermediate", edges=[["conv10", "conv4"]], cell={"cell_depth": 32}, cell_layers=["conv9", "conv10"])
    assert [n.spec.name for n in m.nodes if n.cell is not None] == ["conv9", "conv10"]
    assert m.fb_src[3] == [9] and m.nodes[8].cell.cell_ch == 32
    t30 = meta_build("ugrnn_intermediate_t30", times=12)
    assert t30.times == t30.image_off == 12


def test_register_an_edge_set_variant_in_one_line():
    """docs/models.md, "Adding a cell or an edge set": a variant of a zoo model is one ``register_model`` line; a
    name the registered cells already give is refused, as is a cell name the zoo could not read back."""
    from dataclasses import replace

    from convrnn.models import MODELS, Placement, register_cell, register_model, unregister_cell
    from convrnn.models.backbones import shallow

    register_model("gru_shallow_fbtest", lambda: replace(shallow("gru"), edges=[("conv5", "conv3")]))
    try:
        assert "gru_shallow_fbtest" in names()
        m = meta_build("gru_shallow_fbtest", width=0.125, num_classes=3)
        assert m.fb_src[2] == [4] and not m.nodes[2].fb_to_cell   # a GRU node takes feedback through its conv
        assert m.nodes[2].conv.in_channels == 16 + 64   # conv2's output + conv5's fed back (width 1/8)
    finally:
        MODELS.pop("gru_shallow_fbtest")
    with pytest.raises(ValueError, match="already registered"):
        register_model("gru_shallow", lambda: shallow("gru"))
    with pytest.raises(ValueError, match="no '_'"):
        register_cell("leaky_cell")(type("Leaky", (Cell,), {}))
    with pytest.raises(ValueError, match="channel_keys: 'depth'"):
        register_cell("leaky")(type("Leaky", (Cell,), {"defaults": {"out_depth": None}, "channel_keys": ("depth",)}))
    with pytest.raises(ValueError, match=r"backbones\['shallow'\]: unknown config key\(s\) \['leak'\]"):
        register_cell("leaky")(type("Leaky", (Cell,), {"backbones": {"shallow": Placement(configs={"leak": 1})}}))
    # a placement with one config per layer must have one for each cell layer: refused when the model is built
    register_cell("twolayer")(type("TwoLayer", (Cell,), {"defaults": {"leak": 0.5},
                                                         "backbones": {"shallow": Placement(configs=({}, {}))}}))
    try:
        assert {"twolayer_shallow", "twolayer_intermediate"} <= set(names())
        with pytest.raises(ValueError, match=r"cell 'twolayer' in the shallow backbone: 2 layer configs for the 3"):
            meta_build("twolayer_shallow")
    finally:
        unregister_cell("twolayer")
    assert "twolayer_shallow" not in names()


def test_the_model_reads_its_spec():
    """The run fields are the spec's, not copies: a spec changed after the build is what the model unrolls."""
    m = build("timedecay_shallow", width=0.0625, num_classes=3, times=4, image_off=2, image_size=16)
    assert (m.times, m.image_off, m.readout, m.num_classes) == (4, 2, "last", 3)
    m.spec.times = 7
    assert m.times == 7 and m.unroll(torch.randn(1, 3, 16, 16)).logits.shape == (7, 1, 3)
    r = build("resnet18", num_classes=4, times=3)
    assert (r.times, r.num_classes, r.readout) == (r.spec.times, r.spec.num_classes, r.spec.readout) == (3, 4, "last")


def test_count_units_definition():
    m = meta_build("rgc_shallow")
    # conv1..5 outputs at 224 px: 56^2*64, 28^2*128, 14^2*256, 7^2*256, 4^2*512, plus 1000 logits; once, not per step
    per_node = 56 * 56 * 64 + 28 * 28 * 128 + 14 * 14 * 256 + 7 * 7 * 256 + 4 * 4 * 512 + 1000
    assert count_units(m, 224) == per_node
    assert count_units(meta_build("rgc_shallow", times=30), 224) == per_node
    # ResNet-18: stem 64x56x56, two blocks per stage (64x56^2, 128x28^2, 256x14^2, 512x7^2), 1000 logits
    r18 = 64 * 56 * 56 + 2 * (64 * 56 * 56 + 128 * 28 * 28 + 256 * 14 * 14 + 512 * 7 * 7) + 1000
    assert count_units(meta_build("resnet18"), 224) == r18
    # before the pools: conv1..5 maps 112^2*64, 56^2*128, 28^2*256, 14^2*256, 7^2*512; ResNet's stem 64x112^2
    assert count_units(m, 224, "pre_pool") == (112 * 112 * 64 + 56 * 56 * 128 + 28 * 28 * 256 + 14 * 14 * 256
                                               + 7 * 7 * 512 + 1000)
    assert count_units(meta_build("resnet18"), 224, "pre_pool") == r18 - 64 * 56 * 56 + 64 * 112 * 112
    # odd maps: TF 'SAME' pools round up (conv1 of 30 px: 15 -> 8 after the pool)
    tiny = meta_build("ff_shallow", width=0.0625, num_classes=8, image_size=30)
    assert tiny.unit_shapes(30)["conv1"] == (4, 8, 8) and tiny.unit_shapes(30, "pre_pool")["conv1"] == (4, 15, 15)
    with pytest.raises(ValueError, match="pre_pool"):
        count_units(m, 224, "post")
