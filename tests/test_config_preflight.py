"""Every config error is refused before any job: in ``validate_config`` (naming the field) and at ``snakemake -n``
(one message, no traceback). Model overrides are checked by building the model on the meta device; the zoo's answers
are cached so that a warm dry run never imports torch."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from convrnn.workflow.code_deps import code_index
from convrnn.workflow.overlays import load_config
from convrnn.workflow.preflight import validate_config
from convrnn.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    return load_config(REPO / "config/config.yaml")


def _override(model, **kw):
    return lambda c: c["models"][model]["overrides"].update(kw)


# (mutation, field the message must name, a phrase of the reason)
BAD = [
    (_override("rgc_m", width=-0.5), "models.rgc_m.overrides", "width must be > 0"),
    (_override("timedecay_m", times=0), "models.timedecay_m.overrides", "times must be an int >= 1"),
    (_override("ff", widht=0.5), "models.ff.overrides", "widht"),
    (_override("rgc_m", edges=[["conv9", "conv3"]]), "models.rgc_m.overrides", "conv9"),
    (_override("rgc_m", cell={"no_such_key": 1}), "models.rgc_m.overrides", "no_such_key"),
    (lambda c: c["search"].update(overrides={"times": -1}), "search.overrides", "times"),
    (lambda c: c["features"].update(layers=["conv4", "conv9"]), "features.layers", "'conv9' is not a layer of"),
    (lambda c: c["features"].update(layers="conv4"), "features.layers", "a list of layer names"),
    (lambda c: c["behavior"].update(conventions=["kar"]), "behavior.conventions.0", "'kar' is not one of"),
    (lambda c: c["presentation"].update(graded_layers=6), "presentation.graded_layers", "models.ff records only 5"),
    (lambda c: c["neural"].update(window_ms=[70]), "neural.window_ms", "is too short"),
    (lambda c: c["behavior"].update(ceiling=1.3), "behavior.ceiling", "maximum of 1"),
    (lambda c: c["behavior"].update(ceiling=0), "behavior.ceiling", "less than or equal to the minimum of 0"),
    (lambda c: c["models"]["rgc_m"].update(arch="rgc_huge"), "models.rgc_m.arch", "unknown model"),
    (lambda c: c["search"].update(base_arch="nope"), "search.base_arch", "unknown model"),
    (lambda c: c["training"].update(momentum=1.0), "training", "momentum must be < 1"),
    (lambda c: c["models"]["ff"].update(training={"lr_milestones": [3, 2]}), "models.ff.training",
     "strictly increasing"),
    (lambda c: c["search"]["trial_training"].update(loss_steps=[]), "search.trial_training", "loss_steps"),
    (lambda c: c["search"].update(space="defualt"), "search.space", "'default' or a mapping"),
    (lambda c: c["search"].update(space={"tau_filter_size": {"type": "int", "low": 5, "high": 3}}), "search.space",
     "must be <= high"),
]


@pytest.mark.parametrize("mutate, field, reason", BAD, ids=[f"{b[1]}:{b[2][:20]}" for b in BAD])
def test_semantic_errors_name_the_field(mutate, field, reason):
    cfg = default_config()
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"'{field}'" in str(err.value) and reason in str(err.value), str(err.value)


def test_brainscore_identifiers_are_checked_against_the_catalog():
    cfg = load_config(REPO / "config/paper.yaml")
    cfg["data"]["brainscore"]["behavior_stimulus_set"] = "Kar2091"
    with pytest.raises(ConfigError, match=r"'data.brainscore.behavior_stimulus_set': no csv 'Kar2091'"):
        validate_config(cfg)


def test_features_layers_must_exist_in_every_model():
    """A layer list that fits the shallow models but not a ResNet is refused, naming the ResNet's field."""
    cfg = default_config()
    cfg["features"]["layers"] = ["conv4", "conv5"]
    with pytest.raises(ConfigError, match=r"'presentation.graded_layers': 3 preferred layers, but models.ff records only 2"):
        validate_config(copy.deepcopy(cfg))   # a feed-forward model placed graded needs 3 recorded layers
    cfg["presentation"]["graded_layers"] = 2
    validate_config(cfg)  # every demo model has conv4 and conv5
    cfg["models"]["resnet"] = {"arch": "resnet18", "overrides": {"times": 4}}
    with pytest.raises(ConfigError, match=r"'features.layers': 'conv4' is not a layer of models.resnet"):
        validate_config(cfg)


def test_zoo_answers_are_cached_and_a_warm_check_never_imports_torch(tmp_path):
    code = f"""
import sys
from convrnn.workflow.overlays import load_config
from convrnn.workflow.preflight import validate_config
validate_config(load_config({str(REPO / 'config/paper.yaml')!r}), cache_dir={str(tmp_path)!r})
print("torch" in sys.modules)
"""
    run = lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert run().strip() == "True"  # cold: the models were built on the meta device
    assert len(list(tmp_path.glob("zoo-*.json"))) == 1
    assert run().strip() == "False"  # warm: answered from the cache


def test_cache_key_covers_the_code_that_builds_models():
    files = {str(f.relative_to(REPO / "src")) for f in code_index().files_for_import("convrnn.models", ("build", "names"))}
    assert {"convrnn/models/registry.py", "convrnn/models/cells/base.py", "convrnn/models/graph.py"} <= files, files
    assert not any(f.startswith(("convrnn/neural", "convrnn/figures")) for f in files), files


def test_cached_error_is_still_an_error(tmp_path):
    for _ in range(2):  # cold, then from the cache
        cfg = default_config()
        cfg["models"]["rgc_m"]["overrides"]["times"] = 0
        with pytest.raises(ConfigError, match="models.rgc_m.overrides"):
            validate_config(cfg, cache_dir=tmp_path)


def test_dry_run_refuses_bad_configs_without_traceback(tmp_path):
    """`snakemake -n` stops at parse time with one line per problem naming the key; no job, no traceback."""
    for name in ("Snakefile", "rules", "workflow", "config", "envs"):
        src = REPO / name
        subprocess.run(["cp", "-r", str(src), str(tmp_path / name)], check=True)
    cases = [BAD[0], BAD[2], BAD[6], BAD[9]]
    for mutate, field, reason in cases:
        cfg = default_config()
        mutate(cfg)
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "bad.yaml"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-2000:]
        assert f"'{field}'" in out and reason in out, out[-2000:]
        assert "Traceback" not in out and 'File "' not in out, out[-2000:]
    assert not (tmp_path / "results").exists()
