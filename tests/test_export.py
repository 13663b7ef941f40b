"""The exported Brain-Score model without Brain-Score: time bins and regions answered as the DAG pairs and places them,
the plugin directory and its refusals, and the export rule in the DAG. (Brain-Score's own code scoring an export:
tests/test_brainscore_plugin.py.)"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from convrnn.data.stimuli import generate_stimuli
from convrnn.export.brainscore import (MANIFEST, ExportedModel, bin_layers, committed_regions, export_plugin,
                                       identifier_of, step_weights)
from convrnn.features.extract import extract_features, pca_subset
from convrnn.io import save_tensors
from convrnn.models import build

ROOT = Path(__file__).resolve().parents[1]
FEATURES = {"pca_components": 24, "pca_images": 40, "batch_size": 64}
KAR2019_BINS = [(t, t + 10) for t in range(70, 250, 10)]


def presentation(offset=40.0, feedforward="graded"):
    return {"step_ms": 10, "latency_offset_ms": offset, "neural_times": 26, "neural_image_off": 10,
            "feedforward": feedforward, "graded_layers": 3}


# --------------------------------------------------------------------------------------------- time bins -> steps
def test_a_step_interval_is_that_step_alone_and_wider_bins_average_the_steps_they_cover():
    got = step_weights([(40, 50), (70, 80), (75, 85), (70, 170), (0, 10), (30, 50)], step_ms=10, latency_offset_ms=40)
    assert got[0] == {0: 1.0}                          # [40, 50) is step 0 at a 40 ms offset (the DAG's pairing)
    assert got[1] == {3: 1.0}
    assert got[2] == {3: 0.5, 4: 0.5}                  # half of each step lies in the bin
    assert got[3] == {t: 0.1 for t in range(3, 13)}    # Brain-Score's static 70-170 ms window: the mean of 10 steps
    assert got[4] == {-4: 1.0}                         # before the input reaches the model: rest
    assert got[5] == {-1: 0.5, 0: 0.5}
    assert step_weights([(70, 80)], step_ms=10, latency_offset_ms=0) == [{7: 1.0}]
    with pytest.raises(ValueError, match=r"\(80, 70\)"):
        step_weights([(80, 70)], step_ms=10, latency_offset_ms=0)


def test_graded_placement_spreads_the_committed_layers_over_the_requested_bins():
    assert bin_layers(["conv2", "conv3", "conv4"], 6, "graded") == ["conv2"] * 2 + ["conv3"] * 2 + ["conv4"] * 2
    assert bin_layers(["conv5"], 4, "unrolled") == ["conv5"] * 4
    assert bin_layers(["conv4"], 3, "uniform") == ["conv4"] * 3


# --------------------------------------------------------------------------------------------- an exported model
@pytest.fixture(scope="module")
def stimuli():
    images, _ = generate_stimuli(n_categories=4, objects_per_category=1, images_per_object={"V3": 5},
                                 image_size=32, seed=1, id_prefix="t")
    pool, _ = generate_stimuli(n_categories=4, objects_per_category=1, images_per_object={"V0": 12},
                               image_size=32, seed=2, id_prefix="p")
    return images, pool


def _run_model(tmp: Path, arch="rgc_shallow", seed=0):
    spec = {"arch": arch, "overrides": {"width": 0.0625, "times": 8, "image_off": 6, "image_size": 32}}
    torch.manual_seed(seed)
    model = build(spec, num_classes=4)
    weights = save_tensors(model.state_dict(), tmp / "weights.safetensors")
    return spec, model.eval(), weights


def _layers(model_id, committed: dict[str, list[str]], model) -> pd.DataFrame:
    rows = [{"model": model_id, "region": r, "layer": layer, "layer_index": model.layer_names.index(layer),
             "committed": layer in ls} for r, ls in committed.items() for layer in model.layer_names[:-1]]
    return pd.DataFrame(rows)


def test_unrolled_model_answers_each_bin_with_the_step_the_dag_pairs_with_it(tmp_path, stimuli):
    images, pool = stimuli
    spec, model, weights = _run_model(tmp_path)
    plugin = export_plugin(tmp_path / "plugin", model_id="m", spec=spec, num_classes=4, weights=weights,
                           layers=_layers("m", {"V4": ["conv3"], "IT": ["conv5"]}, model),
                           presentation=presentation(offset=40), features=FEATURES, image_size=32, pca_images=pool)
    runtime = ExportedModel(plugin)
    bins = [(0, 10), (40, 50), (70, 80), (75, 85), (70, 170), (290, 300)]      # (290, 300): step 25, the DAG's last
    got, layers = runtime.record(images, "IT", bins)
    assert layers == ["conv5"] * len(bins) and got.shape[:2] == (len(images), len(bins))
    # the DAG's features: extract_features with the basis fitted as the rule fits it
    dag = extract_features(model, images, [str(i) for i in range(len(images))], times=26, image_off=10,
                           layers=["conv3", "conv5"], pca_components=FEATURES["pca_components"],
                           pca_images=pca_subset(pool, FEATURES["pca_images"], 0), seed=0).features["conv5"]
    np.testing.assert_array_equal(got[:, 1], dag[0])
    np.testing.assert_array_equal(got[:, 2], dag[3])
    np.testing.assert_allclose(got[:, 3], (dag[3] + dag[4]) / 2, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[:, 4], dag[3:13].mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(got[:, 5], dag[25])
    # before the input arrives: the zero outputs the unroll starts from, through the layer's basis (the same for
    # every image)
    assert np.ptp(got[:, 0], axis=0).max() == 0
    np.testing.assert_allclose(got[0, 0], runtime.rest("conv5"), rtol=1e-6, atol=1e-6)
    # (conv5, the fifth node, first sees the image at step 4: before, it is at rest too)
    np.testing.assert_allclose(got[:, 2], got[:, 0], rtol=1e-5, atol=1e-6)
    assert np.ptp(got[:, 5], axis=0).max() > 1e-3 and not np.allclose(got[:, 0], got[:, 5])


def test_static_model_is_placed_as_the_ost_job_places_it(tmp_path, stimuli):
    from convrnn.neural.ost_job import bin_features
    from convrnn.neural.ost_job import bin_layers as ost_bin_layers
    from convrnn.neural.summary import layer_table

    images, pool = stimuli
    spec, model, weights = _run_model(tmp_path, arch="ff_shallow")
    assert model.static
    # a selection table as neural_fit writes it (split -1: all images), and the layer table neural_summary derives
    scores = {"conv1": 0.1, "conv2": 0.5, "conv3": 0.7, "conv4": 0.6, "conv5": 0.3}
    selection = pd.DataFrame([{"model": "ff", "region": "IT", "layer": layer, "layer_index": i, "responsive": True,
                               "split": -1, "score": s} for i, (layer, s) in enumerate(scores.items())])
    layers = layer_table(selection, pd.Series({"ff": True}), placement="graded", graded_layers=3)
    assert committed_regions(layers, "ff") == {"IT": ["conv2", "conv3", "conv4"]}
    plugin = export_plugin(tmp_path / "plugin", model_id="ff", spec=spec, num_classes=4, weights=weights,
                           layers=layers, presentation=presentation(), features=FEATURES, image_size=32,
                           pca_images=pool)
    runtime = ExportedModel(plugin)
    got, per_bin = runtime.record(images, "IT", KAR2019_BINS)
    assert per_bin == ost_bin_layers(selection, True, len(KAR2019_BINS), placement="graded", graded_layers=3)
    fs = extract_features(model, images, [str(i) for i in range(len(images))], times=26, image_off=10,
                          layers=list(scores), static=True, pca_components=FEATURES["pca_components"],
                          pca_images=pca_subset(pool, FEATURES["pca_images"], 0), seed=0)
    expected = bin_features(fs, np.arange(len(images)), per_bin, np.array([a for a, _ in KAR2019_BINS]))
    np.testing.assert_array_equal(got, expected.transpose(1, 0, 2).astype(np.float32))
    # Brain-Score's Kar2019 benchmark gives a model whose first image does not change over time no score
    assert not np.array_equal(got[0, 0], got[0, -1])


def test_plugin_directory_is_laid_out_as_brainscore_plugins_are(tmp_path, stimuli):
    images, pool = stimuli
    spec, model, weights = _run_model(tmp_path)
    layers = _layers("rgc", {"V4": ["conv3"], "IT": ["conv5"]}, model)
    kw = dict(model_id="rgc", spec=spec, num_classes=4, weights=weights, layers=layers,
              presentation=presentation(), features=FEATURES, image_size=32, pca_images=pool)
    plugin = export_plugin(tmp_path / "results" / "brainscore" / "rgc", **kw)
    names = {p.name for p in plugin.iterdir()}
    assert {"__init__.py", "model.py", "test.py", "requirements.txt", MANIFEST, "weights.safetensors",
            "pca.safetensors", "test_recordings.safetensors", "test_images"} <= names
    # brainscore_vision finds a plugin by this literal line in its __init__.py
    assert f"model_registry['{identifier_of('rgc')}']" in (plugin / "__init__.py").read_text()
    for code in ("__init__.py", "model.py", "test.py"):
        compile((plugin / code).read_text(), code, "exec")
    m = json.loads((plugin / MANIFEST).read_text())
    assert m["regions"] == {"IT": ["conv5"], "V4": ["conv3"]} and m["visual_degrees"] == 8
    assert m["presentation"] == {"step_ms": 10.0, "latency_offset_ms": 40.0, "image_off": 10, "neural_times": 26}
    assert m["static"] is False and m["placement"] == "unrolled" and m["pca_layers"] == ["conv3", "conv5"]
    # a second export replaces the first whole, leaving no temporary folder behind
    (plugin / "stale.txt").write_text("x")
    export_plugin(plugin, **{**kw, "layers": _layers("rgc", {"V4": ["conv4"], "IT": ["conv5"]}, model)})
    assert not (plugin / "stale.txt").exists()
    assert json.loads((plugin / MANIFEST).read_text())["regions"]["V4"] == ["conv4"]
    assert [p.name for p in plugin.parent.iterdir()] == ["rgc"]


def test_refusals_name_what_is_wrong(tmp_path, stimuli):
    images, pool = stimuli
    spec, model, weights = _run_model(tmp_path)
    kw = dict(spec=spec, num_classes=4, weights=weights, presentation=presentation(), features=FEATURES,
              image_size=32, pca_images=pool)
    layers = _layers("rgc", {"IT": ["conv5"]}, model)
    with pytest.raises(ValueError, match="no committed layer for model 'other'"):
        export_plugin(tmp_path / "a", model_id="other", layers=layers, **kw)
    bad = layers.assign(layer=layers["layer"].replace("conv5", "conv9"))
    with pytest.raises(ValueError, match=r"conv9"):
        export_plugin(tmp_path / "b", model_id="rgc", layers=bad, **kw)
    with pytest.raises(ValueError, match="PCA image pool"):
        export_plugin(tmp_path / "c", model_id="rgc", layers=layers, **{**kw, "pca_images": None})
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()
    runtime = ExportedModel(export_plugin(tmp_path / "ok", model_id="rgc", layers=layers, **kw))
    with pytest.raises(ValueError, match=r"region 'V1'; committed regions: \['IT'\]"):
        runtime.record(images, "V1", [(70, 170)])


def test_span_time_bin_with_constant_features_has_undefined_r():
    """A bin whose features are the same for every image (a layer the image has not reached yet) predicts one value
    for all of them: r is undefined there, as scipy's pearsonr gives it in Brain-Score's spantime_pls."""
    from convrnn.neural.scoring import span_time_split_r
    from convrnn.neural.splits import brainscore_splits

    rng = np.random.default_rng(0)
    n = 60
    X = rng.normal(size=(3, n, 30))
    X[0] = rng.normal(size=30)                      # bin 0: one feature vector for every image
    Y = np.einsum("gnp,ps->gns", X, rng.normal(size=(30, 4))) + rng.normal(size=(3, n, 4))
    splits = brainscore_splits(np.array([f"s{i:03d}" for i in range(n)]), np.repeat(np.arange(6), 10), 10)
    r = span_time_split_r(X, Y, splits, n_components=10)
    assert np.isnan(r[:, 0]).all() and np.isfinite(r[:, 1:]).all()


# --------------------------------------------------------------------------------------------- the rule
def test_rule_is_planned_for_the_configured_models_only(tmp_path):
    for name in ("Snakefile", "rules", "workflow", "config", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)

    def dry(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)

    default = dry()
    assert default.returncode == 0 and "export_brainscore" not in default.stdout
    (tmp_path / "export.yaml").write_text("export:\n  brainscore: [rgc_m]\n")
    planned = dry("--configfile", "export.yaml")
    assert planned.returncode == 0, planned.stderr[-2000:]
    assert "rule export_brainscore:" in planned.stdout and "results/brainscore/rgc_m" in planned.stdout
    (tmp_path / "bad.yaml").write_text("export:\n  brainscore: [nosuch]\n")
    refused = dry("--configfile", "bad.yaml")
    assert refused.returncode != 0 and "export.brainscore: ['nosuch'] are not models of this run" in refused.stderr
    # the command runs the same rule for one model
    cli = subprocess.run([sys.executable, "-m", "convrnn.cli", "export-brainscore", "rgc_s", "--directory",
                          str(tmp_path), "--dry-run"], capture_output=True, text=True, timeout=600)
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert "results/brainscore/rgc_s" in cli.stdout


def test_rule_script_writes_the_plugin(tmp_path, stimuli):
    """workflow/scripts/export_brainscore.py with the inputs and params rule export_brainscore gives it."""
    import runpy
    from types import SimpleNamespace

    from convrnn.data.stimuli import save_stimuli

    images, pool = stimuli
    spec, model, weights = _run_model(tmp_path)
    layers = _layers("rgc_m", {"V4": ["conv3"], "IT": ["conv4"]}, model).assign(model="rgc_m")
    layers.to_parquet(tmp_path / "layers.parquet")
    meta = pd.DataFrame({"stimulus_id": [f"p{i}" for i in range(len(pool))], "object": "o", "object_id": 0,
                         "category": "c"})
    save_stimuli(pool, meta, tmp_path / "train_images.safetensors", tmp_path / "train_meta.parquet")
    out = tmp_path / "results" / "brainscore" / "rgc_m"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(weights=str(weights), layers=str(tmp_path / "layers.parquet"),
                              pca_images=str(tmp_path / "train_images.safetensors"),
                              pca_meta=str(tmp_path / "train_meta.parquet")),
        output=[str(out)], log=[str(tmp_path / "log.txt")], threads=1, rule="export_brainscore",
        wildcards=SimpleNamespace(model="rgc_m"),
        params=SimpleNamespace(spec=spec, num_classes=4, presentation=presentation(), features=FEATURES,
                               image_size=32, device="cpu", seed=0))
    stderr = sys.stderr
    try:
        runpy.run_path(str(ROOT / "workflow" / "scripts" / "export_brainscore.py"),
                       init_globals={"snakemake": snakemake})
    finally:
        sys.stderr.close()
        sys.stderr = stderr
    m = json.loads((out / MANIFEST).read_text())
    assert m["identifier"] == "convrnn_rgc_m" and m["regions"] == {"IT": ["conv4"], "V4": ["conv3"]}
    assert m["source"]["rule"] == "export_brainscore" and len(m["source"]["weights_sha1"]) == 40
    assert "plugin written" in (tmp_path / "log.txt").read_text()
