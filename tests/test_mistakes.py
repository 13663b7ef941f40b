"""Plausible mistakes are caught before the job that would trip on them, each as one line naming the config field or
the file: sizes and counts the jobs cannot work with, search settings, pretrained overrides, data roots, names,
duplicate YAML keys (``validate_config`` and ``convrnn.preflight_files``, and at ``snakemake -n``), and corrupt or
swapped intermediates (in the readers of the jobs). The SLURM profile's settings: tests/test_slurm_profile.py."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convrnn.workflow.overlays import load_config
from convrnn.workflow.preflight import validate_config
from convrnn.workflow.preflight_files import (IMAGENET_PLACEHOLDER, check_config_files, check_imagenet_root,
                                     check_model_ids)
from convrnn.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def config(name: str = "config") -> dict:
    return load_config(REPO / "config" / f"{name}.yaml")


def _set(path: str, value):
    """A mutation that sets the dotted config field ``path``."""
    def mutate(cfg):
        *parents, key = path.split(".")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    return mutate


# (mutation of config/config.yaml, the field the message must name, a phrase of the reason)
SIZES = [
    (_set("training.batch_size", 5000), "training.batch_size", "larger than the training set of models.rgc_s"),
    (_set("models.ff.training", {"batch_size": 4096}), "models.ff.training.batch_size", "(2048 images)"),
    (_set("search.trial_training.batch_size", 4096), "search.trial_training.batch_size", "each search trial"),
    (_set("training.loss_steps", [2, 8]), "training.loss_steps", "loss_steps[1]=8 is not one of the 8 steps"),
    (_set("search.trial_training.loss_steps", [-9]), "search.trial_training.loss_steps", "loss_steps[0]=-9"),
    (_set("training.dynamics.record_every_steps", 20), "training.dynamics.record_every_steps", "1 record(s)"),
    (_set("data.image_size", 36), "data.image_size", "multiple of 8"),
    (_set("data.stimuli.n_categories", 12), "data.stimuli.n_categories", "[2, 10]"),
    (_set("data.stimuli.val_images_per_object", {"V0": 0}), "data.stimuli.val_images_per_object", "0 images"),
    (_set("data.stimuli.neural_images_per_object", {"V0": 1, "V3": 4, "V6": 4}),
     "data.stimuli.neural_images_per_object", "29 images for 32 objects"),
    (_set("data.synthetic_neural.n_sites", {"V4": 1, "IT": 32}), "data.synthetic_neural.n_sites", ">= max(n_probes"),
    (_set("data.synthetic_neural.t_stop_ms", 80), "data.synthetic_neural.t_stop_ms", "respond from 90 ms on"),
    (_set("data.synthetic_neural.t_stop_ms", 205), "data.synthetic_neural.t_stop_ms", "multiple of bin_ms"),
    (lambda c: c["neural"].update(regression="span_time", pairing="all"), "neural.regression", "pairing: matched"),
    (_set("behavior.ceiling", math.nan), "behavior.ceiling", "nan is not a finite number"),
    (_set("training.lr", math.inf), "training.lr", "inf is not a finite number"),
]
SEARCH = [
    (_set("search.base_arch", "ff_shallow"), "search.base_arch", "has no recurrent cell"),
    (_set("search.space", {"edges": {"candidate_edges": [["conv9", "conv3"]]}}), "search.space", "conv9"),
    (_set("search.space", {"edges": {"candidate_edges": [["conv3", "conv5"]]}}), "search.space", "is not feedback"),
    (_set("search.space", {"tau_filter_size": {"type": "int", "low": 0, "high": 3}}), "search.space",
     "tau_filter_size must be an int >= 1, got 0"),
    (_set("search.overrides.edges", [["conv5", "conv3"]]), "search.overrides", "give their ranges and candidate edges"),
    (_set("search.overrides.cell", {"tau_filter_size": 3}), "search.overrides", "['cell'] are what the search samples"),
    (_set("search.top_k", 7), "search.top_k", "from a search of 6 trials"),
]
NAMES = [
    (lambda c: c["models"].update({"rgc_x\n": {"arch": "rgc_shallow"}}), "models", "does not match"),
    (_set("search.train_selected", ["median\n"]), "search.train_selected.0", "does not match"),
]


@pytest.mark.parametrize("mutate, field, reason", SIZES + SEARCH + NAMES,
                         ids=[f"{c[1]}:{c[2][:24]}" for c in SIZES + SEARCH + NAMES])
def test_mistake_is_refused_naming_the_field(mutate, field, reason, tmp_path):
    cfg = config()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, cache_dir=tmp_path)
    message = str(err.value)
    assert f"config field '{field}'" in message and reason in message, message
    assert "\n" not in message.replace("\\n", ""), message  # one line


def test_shipped_configs_and_their_search_spaces_pass(tmp_path):
    for name in ("config", "paper", "public", "pretrained"):
        validate_config(config(name), cache_dir=tmp_path)
    cfg = config()
    cfg["search"]["space"] = {"gate_filter_size": {"type": "int", "low": 0, "high": 3},  # 0: no cell memory, allowed
                              "edges": {"candidate_edges": [["conv5", "conv3"], ["conv4", "conv3"]]}}
    validate_config(cfg, cache_dir=tmp_path)


def test_pretrained_model_with_width_override_is_refused(tmp_path):
    cfg = config("pretrained")
    model = next(m for m, spec in cfg["models"].items() if spec.get("pretrained"))
    cfg["models"][model]["overrides"] = {"times": 20}  # the unroll does not change the parameters
    validate_config(cfg, cache_dir=tmp_path)
    cfg["models"][model]["overrides"] = {"width": 0.5}
    with pytest.raises(ConfigError, match=rf"'models.{model}.overrides': \['width'\] change the parameters .* "
                                          "released checkpoint"):
        validate_config(cfg, cache_dir=tmp_path)


# --- files the config points at, the config files themselves ---------------------------------------------------------

def test_imagenet_root_must_be_a_folder_while_a_job_reads_it(tmp_path):
    cfg = config("paper")
    assert check_imagenet_root(cfg, needed=True).startswith(f"Note: data.imagenet.root is still the placeholder "
                                                            f"{IMAGENET_PLACEHOLDER}")
    tar = tmp_path / "ILSVRC2012_img_train.tar"
    tar.write_bytes(b"\0" * 512)
    for root, reason in [(tar, "is a file (an archive?), not a folder"), (tmp_path / "nope", "does not exist")]:
        cfg["data"]["imagenet"]["root"] = str(root)
        with pytest.raises(ConfigError, match=re.escape(f"'data.imagenet.root': {root} {reason}")):
            check_imagenet_root(cfg, needed=True)
        assert check_imagenet_root(cfg, needed=False) is None  # a finished run no longer reads it
    cfg["data"]["imagenet"]["root"] = str(tmp_path)
    assert check_imagenet_root(cfg, needed=True) is None


def test_model_id_equal_to_a_file_of_the_dag_is_refused():
    paths = ["results/behavior/{model}.parquet", "results/behavior/summary.parquet", "results/neural/ceiling.parquet",
             "results/neural/fits/{model}.parquet", "results/logs/train_model/{model}.log"]
    check_model_ids(["rgc_m", "ceiling"], paths)  # results/neural/fits/ceiling.parquet is no file of its own
    with pytest.raises(ConfigError, match=r"'models.summary': model id 'summary' would make "
                                          r"results/behavior/\{model\}.parquet the DAG's own "
                                          r"results/behavior/summary.parquet"):
        check_model_ids(["rgc_m", "summary"], paths)


def test_duplicate_yaml_keys_are_refused_naming_file_field_and_lines(tmp_path):
    check_config_files([REPO / "config" / f"{n}.yaml" for n in ("config", "paper", "public", "pretrained")])
    text = (REPO / "config/config.yaml").read_text()
    twice_lr = tmp_path / "lr.yaml"
    twice_lr.write_text(text.replace("  lr: 0.003\n", "  lr: 0.003\n  lr: 0.03\n", 1))
    with pytest.raises(ConfigError, match=rf"{twice_lr}: config field 'training.lr' \(lines \d+ and \d+\) is given "
                                          "twice"):
        check_config_files([twice_lr])
    twice_model = tmp_path / "model.yaml"
    twice_model.write_text(text.replace("  ff: {arch: ff_shallow", "  rgc_m: {arch: ff_shallow", 1))
    with pytest.raises(ConfigError, match=r"'models.rgc_m'"):
        check_config_files([twice_model])
    flow = tmp_path / "flow.json"  # JSON is read as YAML too
    flow.write_text('{"training": {"lr": 1, "lr": 2}}')
    with pytest.raises(ConfigError, match=r"'training.lr' \(lines 1 and 1\)"):
        check_config_files([flow])


def test_dry_run_refuses_these_mistakes_before_any_job(tmp_path):
    """`snakemake -n` stops with one line naming the field or file (no traceback), and writes no results."""
    for name in ("Snakefile", "rules", "workflow", "config", "envs"):
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, tmp_path / name)
    tar = tmp_path / "ILSVRC2012.tar"
    tar.write_bytes(b"\0" * 512)
    text = (REPO / "config/config.yaml").read_text()
    cases = {
        "nan.yaml": (text.replace("ceiling: 0.79", "ceiling: .nan"), "'behavior.ceiling'", "not a finite number"),
        "twice.yaml": (text.replace("  lr: 0.003\n", "  lr: 0.003\n  lr: 0.03\n", 1), "twice.yaml: config field "
                       "'training.lr'", "given twice"),
        "summary.yaml": (text.replace("  ff: {arch", "  summary: {arch"), "'models.summary'",
                         "results/behavior/summary.parquet"),
        "ffsearch.yaml": (text.replace("base_arch: rgc_shallow", "base_arch: ff_shallow"), "'search.base_arch'",
                          "cannot be searched"),
        "tar.yaml": ((REPO / "config/paper.yaml").read_text().replace(IMAGENET_PLACEHOLDER, str(tar)),
                     "'data.imagenet.root'", "is a file"),
    }
    for name, (body, named, reason) in cases.items():
        (tmp_path / name).write_text(body)
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, (name, out[-2000:])
        lines = [line for line in out.splitlines() if named in line]
        assert len(lines) == 1 and reason in lines[0], (name, out[-2000:])
        assert "Traceback" not in out and 'File "' not in out, (name, out[-2000:])
    assert not (tmp_path / "results").exists()


# --- corrupt or swapped intermediates ---------------------------------------------------------------------------------

def _responses(tmp_path, nan_stimulus=None) -> Path:
    from convrnn.data.responses import write_responses

    rows = [(f"img{i}", f"site{j}", "IT", 10 * k, 10 * k + 10, rep, float(i + j + k + rep))
            for i in range(4) for j in range(2) for k in range(2) for rep in range(2)]
    df = pd.DataFrame(rows, columns=["stimulus_id", "site", "region", "time_bin_start_ms", "time_bin_end_ms",
                                     "repetition", "response"])
    if nan_stimulus:
        df.loc[(df.stimulus_id == nan_stimulus) & (df.time_bin_start_ms == 10), "response"] = np.nan
    return write_responses(tmp_path / "responses.parquet", df)


def test_corrupt_response_table_is_named(tmp_path):
    from convrnn.data.responses import NeuralData

    path = _responses(tmp_path)
    assert NeuralData.from_parquet(path).trials.shape == (2, 4, 2, 2)
    path.write_bytes(path.read_bytes()[:-20])  # a cut-off copy: no footer
    with pytest.raises(ValueError, match=rf"^{path}: not a readable Parquet file"):
        NeuralData.from_parquet(path)
    path = _responses(tmp_path, nan_stimulus="img2")
    with pytest.raises(ValueError, match=rf"^{path}: stimulus_id\(s\) \['img2'\] have rows but no finite response in "
                                         r"time bin \(10, 20\)"):
        NeuralData.from_parquet(path)
    pd.read_parquet(path).drop(columns="repetition").to_parquet(path)
    with pytest.raises(ValueError, match=rf"^{path}: missing column\(s\) \['repetition'\]"):
        NeuralData.from_parquet(path)


def test_empty_stimulus_set_is_named(tmp_path):
    from convrnn.data.stimuli import load_stimuli, save_stimuli

    meta = pd.DataFrame({c: pd.Series(dtype="int64" if c.endswith("_id") and c != "stimulus_id" else object)
                         for c in ["stimulus_id", "object", "object_id", "category", "category_id"]})
    save_stimuli(np.zeros((0, 16, 16, 3), np.uint8), meta, tmp_path / "x_images.safetensors",
                 tmp_path / "x_meta.parquet")
    with pytest.raises(ValueError, match=r"x_images.safetensors: an empty stimulus set"):
        load_stimuli(tmp_path / "x_images.safetensors", tmp_path / "x_meta.parquet")


def _features(tmp_path, model="rgc_m", n_images=3, n_listed=3):
    from convrnn.io import save_tensors, write_parquet

    ids = [f"img{i}" for i in range(n_listed)]
    rng = np.random.default_rng(0)
    tensors, index = tmp_path / f"{model}.safetensors", tmp_path / f"{model}.parquet"
    save_tensors({"conv5": rng.normal(size=(2, n_images, 4)).astype(np.float32),
                  "logits": rng.normal(size=(2, n_images, 8)).astype(np.float32)},
                 tensors, metadata={"model": model, "stimulus_ids": json.dumps(ids)})
    write_parquet(pd.DataFrame({"layer": ["conv5"] * 2, "layer_index": [4, 4], "model_step": [0, 1],
                                "n_features": [4, 4], "model": model}), index)
    return tensors, index


def test_features_of_another_model_or_of_fewer_images_are_refused(tmp_path):
    from convrnn.features.store import load_feature_set
    from convrnn.neural.ost_job import object_solution_times_job

    tensors, index = _features(tmp_path)
    assert load_feature_set(tensors, index, model="rgc_m").stimulus_ids == ["img0", "img1", "img2"]
    with pytest.raises(ValueError, match=rf"^{tensors}: holds the features of model 'rgc_m', not of 'ff'"):
        load_feature_set(tensors, index, model="ff")
    out = tmp_path / "ost.parquet"
    with pytest.raises(ValueError, match=rf"^{tensors}: holds the features of model 'rgc_m', not of 'ff'"):
        object_solution_times_job(tensors, index, tmp_path / "meta.parquet", tmp_path / "behavior.parquet",
                                  tmp_path / "selection.parquet", out, scores_out=tmp_path / "scores.parquet",
                                  model="ff")
    assert not out.exists()
    (tmp_path / "short").mkdir()
    short, short_index = _features(tmp_path / "short", n_images=2, n_listed=3)
    with pytest.raises(ValueError, match=rf"^{short}: tensor 'conv5' of shape \(2, 2, 4\) does not hold the 3 images"):
        load_feature_set(short, short_index, model="rgc_m")


def test_neural_fit_refuses_another_models_features_before_reading_the_rest(tmp_path):
    from convrnn.neural.jobs import neural_fit_job

    tensors, index = _features(tmp_path)
    out = tmp_path / "fits.parquet"
    with pytest.raises(ValueError, match=rf"^{tensors}: holds the features of model 'rgc_m', not of 'ff'"):
        neural_fit_job(tensors, index, tmp_path / "none.parquet", tmp_path / "none.parquet", out, model="ff",
                       selection_out=tmp_path / "selection.parquet")
    assert not out.exists()


def test_truncated_or_foreign_weights_are_named(tmp_path):
    import torch

    from convrnn.io import save_tensors
    from convrnn.models import build
    from convrnn.models.weights import load_weights

    def load_trained(spec, num_classes, path):
        return load_weights(build(spec, num_classes=num_classes), path)

    spec = {"arch": "ff_shallow", "overrides": {"width": 0.0625, "times": 2, "image_off": 1, "image_size": 16}}
    weights = tmp_path / "weights.safetensors"
    torch.manual_seed(0)
    save_tensors(build("ff_shallow", num_classes=4, **spec["overrides"]).state_dict(), weights)
    load_trained(spec, 4, weights)
    other = tmp_path / "other.safetensors"
    save_tensors(build("ff_shallow", num_classes=4, **{**spec["overrides"], "width": 0.125}).state_dict(), other)
    with pytest.raises(ValueError, match=rf"^{other}: the weights of another model, not of ff_shallow"):
        load_trained(spec, 4, other)
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"^{weights}: not a readable safetensors file"):
        load_trained(spec, 4, weights)
