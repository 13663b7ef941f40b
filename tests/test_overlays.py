"""Config files as overlays (convrnn.workflow.overlays): a file holds only the keys it changes on top of its base; the
shipped variants resolve to what they stand for; every mistake in a chain is one line naming the file. The
Snakemake side (a two-line overlay's jobs, errors at `snakemake -n`): tests/test_workflow.py."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from convrnn.errors import ConfigError
from convrnn.workflow.overlays import default_config_path, load_config, resolve_config_files
from convrnn.workflow.preflight_files import check_config_files

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config"


def raw(name: str) -> dict:
    return yaml.safe_load((CONFIG / f"{name}.yaml").read_text())


def without(cfg: dict, *keys: str) -> dict:
    return {k: v for k, v in cfg.items() if k not in keys}


def write(folder: Path, **files: str) -> None:
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)


def test_standalone_configs_are_themselves_without_the_overlay_keys():
    for name in ("config", "paper"):
        assert raw(name)["base"] is None  # a copy of either stays standalone too
        assert load_config(CONFIG / f"{name}.yaml") == without(raw(name), "base")


def test_public_is_paper_with_its_own_assembly_and_time_alignment():
    paper, public = load_config(CONFIG / "paper.yaml"), load_config(CONFIG / "public.yaml")
    bsc = public["data"]["brainscore"]
    assert bsc["neural_assembly"] == "dicarlo.MajajHong2015.temporal.public" and bsc["stimulus_set"] == "hvm-public"
    assert public["neural"] == {**paper["neural"], "time_align": "portion"}
    # everything else is paper.yaml's, merged under the two changed mappings (e.g. the behaviour assembly, ImageNet)
    assert bsc["behavior_assembly"] == paper["data"]["brainscore"]["behavior_assembly"]
    assert without(public["data"], "brainscore") == without(paper["data"], "brainscore")
    assert without(public, "data", "neural") == without(paper, "data", "neural")


def test_pretrained_replaces_the_paper_models_and_keeps_everything_else():
    paper, pretrained = load_config(CONFIG / "paper.yaml"), load_config(CONFIG / "pretrained.yaml")
    models = pretrained["models"]
    assert len(models) == 20 and all(spec == {"arch": m, "pretrained": "convrnns"} for m, spec in models.items())
    # replaced, not merged: none of paper.yaml's trained-only models (ResNets, feed-forward) and no `overrides` key
    assert "resnet18" not in models and "ff_shallow" not in models
    assert without(pretrained, "models") == without(paper, "models")


def test_a_file_without_base_overlays_the_default(tmp_path):
    write(tmp_path, mine="models:\n  extra: {arch: gru_shallow}\ntraining:\n  epochs: 1\nfigures: {formats: [svg]}\n")
    default = load_config(CONFIG / "config.yaml")
    cfg = load_config(tmp_path / "mine.yaml", default=CONFIG / "config.yaml")
    assert list(cfg["models"]) == [*default["models"], "extra"]           # mappings merge, order kept
    assert cfg["training"] == {**default["training"], "epochs": 1}       # the overlay's value wins
    assert cfg["figures"]["formats"] == ["svg"]                           # lists replace lists
    assert without(cfg, "models", "training", "figures") == without(default, "models", "training", "figures")


def test_the_default_is_the_workflow_s_own(tmp_path):
    assert default_config_path(CONFIG / "public.yaml") == CONFIG / "config.yaml"
    (tmp_path / "config").mkdir()
    (tmp_path / "Snakefile").write_text("")
    write(tmp_path / "config", config="base: null\nseed: 7\n")
    write(tmp_path, mine="threads: 3\n")
    assert default_config_path(tmp_path / "mine.yaml") == tmp_path / "config/config.yaml"
    assert load_config(tmp_path / "mine.yaml") == {"seed": 7, "threads": 3}


def test_chain_order_replace_of_a_nested_field_and_config_overrides_last(tmp_path):
    write(tmp_path,
          root="base: null\nseed: 0\nsearch: {space: {a: 1, b: 2}, trial_training: {epochs: 5, bf16: true}}\n",
          mid="base: root.yaml\nsearch: {space: {c: 3}}\n",
          top="base: mid.yaml\nreplace: [search.trial_training]\nsearch: {trial_training: {epochs: 1}}\n",
          later="seed: 2\n")
    cfg, files = resolve_config_files([tmp_path / "top.yaml", tmp_path / "later.yaml"], default=None,
                                      overrides={"seed": 9, "search": {"space": {"d": 4}}})
    assert files == [tmp_path / f"{n}.yaml" for n in ("root", "mid", "top", "later")]   # bases first
    assert cfg["search"] == {"space": {"a": 1, "b": 2, "c": 3, "d": 4}, "trial_training": {"epochs": 1}}
    assert cfg["seed"] == 9 and "base" not in cfg and "replace" not in cfg


def test_resolved_configs_share_no_nodes(tmp_path):
    """The schema fills defaults in place: one resolved config must not change its base's next resolution."""
    write(tmp_path, root="base: null\nneural: {window_ms: [70, 260]}\n", top="base: root.yaml\nseed: 1\n")
    cfg = load_config(tmp_path / "top.yaml")
    cfg["neural"]["window_ms"].append(0)
    assert load_config(tmp_path / "top.yaml")["neural"]["window_ms"] == [70, 260]


@pytest.mark.parametrize("files, start, message", [
    ({"x": "base: nope.yaml\n"}, "x", r"x.yaml: base 'nope.yaml' is not a file \(looked for .*nope.yaml\)"),
    ({"x": "base: y.yaml\n", "y": "base: z.yaml\n", "z": "base: y.yaml\n"}, "x",
     r"x.yaml: its chain of bases loops: .*x.yaml -> .*y.yaml -> .*z.yaml -> .*y.yaml$"),
    ({"x": "base: x.yaml\n"}, "x", r"x.yaml: its chain of bases loops"),
    ({"x": "base: [a]\n"}, "x", r"x.yaml: base must be a path relative to this file, or null"),
    ({"x": "base: null\nreplace: [models]\nseed: 1\n"}, "x", r"x.yaml: replace names 'models', which this file "
                                                             "does not set"),
    ({"x": "base: null\nreplace: [search.spcae]\nsearch: {space: {}}\n"}, "x", r"replace names 'search.spcae'"),
    ({"x": "base: null\nreplace: models\nmodels: {}\n"}, "x", r"x.yaml: replace must be a list of config fields"),
    ({"x": "base: y.yaml\n", "y": "seed: [1\n"}, "x", r"y.yaml: not valid YAML \(line 2\)"),
    ({"x": "- seed\n"}, "x", r"x.yaml: a config file is a mapping of fields, not a list"),
], ids=["missing base", "loop", "self", "base type", "replace unset", "replace nested typo", "replace not a list",
        "bad yaml in a base", "not a mapping"])
def test_errors_are_one_line_naming_the_file(tmp_path, files, start, message):
    write(tmp_path, **files)
    with pytest.raises(ConfigError, match=message) as err:
        resolve_config_files([tmp_path / f"{start}.yaml"], default=None)
    assert "\n" not in str(err.value)


def test_only_the_first_file_names_a_base(tmp_path):
    write(tmp_path, first="base: null\nseed: 1\n", second="base: first.yaml\nseed: 2\n")
    with pytest.raises(ConfigError, match=r"second.yaml: 'base' is read only from the first config file"):
        resolve_config_files([tmp_path / "first.yaml", tmp_path / "second.yaml"], default=None)


def test_without_a_default_a_file_without_base_stands_alone(tmp_path):
    """What the Snakefile asks under Snakemake's --replace-workflow-config."""
    write(tmp_path, mine="seed: 1\n")
    assert resolve_config_files([tmp_path / "mine.yaml"], default=None)[0] == {"seed": 1}
    assert load_config(tmp_path / "mine.yaml", default=CONFIG / "config.yaml")["models"]  # with it: the demo's


def test_a_missing_default_is_named_with_the_overlay(tmp_path):
    write(tmp_path, mine="seed: 1\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: has no 'base', so it overlays the default .*absent.yaml"):
        resolve_config_files([tmp_path / "mine.yaml"], default=tmp_path / "absent.yaml")


def test_duplicate_keys_are_found_in_every_file_of_the_chain(tmp_path):
    write(tmp_path, root="base: null\nseed: 0\nseed: 1\n", top="base: root.yaml\nthreads: 2\n")
    _, files = resolve_config_files([tmp_path / "top.yaml"], default=None)
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'root.yaml'}: config field 'seed' \(lines 2 and 3\)"):
        check_config_files(files)
