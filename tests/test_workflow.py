"""The workflow itself: dry runs of both configs, lint, config validation, and one end-to-end run of the embedded
default in a scratch copy of the repository (planted truths, reruns, resume after a kill, report)."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from convrnn.workflow import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "rules", "workflow", "config", "envs"]


def smk(*args, cwd=REPO, timeout=900, check=True):
    cmd = [sys.executable, "-m", "snakemake", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    proc.output = proc.stdout + proc.stderr
    return proc


def copy_workflow(dest: Path) -> Path:
    for name in WORKFLOW_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest


def planned_rules(dry_run_stdout: str) -> set[str]:
    """Rule names of the jobs a dry run would execute (from its job-stats table)."""
    rules, in_table = set(), False
    for line in dry_run_stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] != "total":
                rules.add(parts[0])
        elif in_table and parts and not set(line.strip()) <= {"-", " "}:
            in_table = False
    return rules


# --- dry runs, lint, formatting -------------------------------------------------------------------------------------

@pytest.fixture
def clean_copy(tmp_path):
    """The workflow without any results, as on a fresh clone."""
    return copy_workflow(tmp_path)


def test_dry_run_default_plans_every_stage(clean_copy):
    out = smk("-n", "--quiet", "rules", cwd=clean_copy).output
    rules = planned_rules(out)
    for rule in ["generate_stimuli", "simulate_neural", "search_worker", "select_architectures", "train_model",
                 "model_size", "extract_features", "noise_ceiling", "neural_fit", "object_solution_times", "all"]:
        assert rule in rules, f"{rule} missing from the dry run:\n{out}"
    # Aggregates and figures include the searched models, so they are planned once the checkpoint has run.
    assert "figure_task" not in rules and "DAG of jobs will be updated after completion" in out


def test_dry_run_paper_config(clean_copy):
    out = smk("-n", "--quiet", "rules", "--configfile", "config/paper.yaml", cwd=clean_copy).output
    rules = planned_rules(out)
    assert {"download_brainscore", "convert_neural", "convert_stimuli", "search_worker", "train_model"} <= rules, out
    assert "generate_stimuli" not in rules


def test_lint_is_clean():
    proc = smk("--lint", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Congratulations" in text, text[-3000:]


def test_snakefmt_clean():
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- config validation ---------------------------------------------------------------------------------------------

def default_config() -> dict:
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda c: c["training"].update(epochs=-3), "training.epochs"),
        (lambda c: c["data"].update(image_size="large"), "data.image_size"),
        (lambda c: c["models"]["rgc_demo"].update(arch="rgc_huge"), "models.rgc_demo.arch"),
        (lambda c: c["training"].update(optimiser="sgd"), "training"),
        (lambda c: c["search"].update(train_selected=["top3"]), "search.train_selected"),
        (lambda c: c["presentation"].update(neural_image_off=99), "presentation.neural_image_off"),
    ],
)
def test_validate_config_names_the_field(mutate, field):
    cfg = default_config()
    mutate(cfg)
    with pytest.raises(ConfigError, match=rf"'{field}"):
        validate_config(cfg)


def test_validate_config_accepts_both_shipped_configs():
    for name in ("config.yaml", "paper.yaml"):
        validate_config(yaml.safe_load((REPO / "config" / name).read_text()))


def test_bad_config_stops_before_any_job(tmp_path):
    copy_workflow(tmp_path)
    cfg = default_config()
    cfg["training"]["epochs"] = -3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = smk("--cores", "1", "--configfile", "bad.yaml", cwd=tmp_path, check=False)
    assert proc.returncode != 0
    assert "training.epochs" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists(), "a job ran despite the invalid config"


# --- end to end ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The embedded default DAG, run once in a scratch copy of the workflow (2 cores)."""
    root = copy_workflow(tmp_path_factory.mktemp("demo"))
    t0 = time.time()
    smk("--cores", "2", cwd=root, timeout=1200)
    root.joinpath("wall_s.txt").write_text(f"{time.time() - t0:.1f}")
    return root


@pytest.mark.slow
def test_demo_produces_every_figure_and_table(demo):
    for name in ["task", "neural", "best_layer", "behavior", "pareto", "dynamics", "search_features", "search_progress"]:
        for ext in ("png", "pdf"):
            f = demo / f"results/figures/{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 1000, f
    summary = pd.read_parquet(demo / "results/training/summary.parquet")
    assert set(summary["model"]) == {"rgc_demo", "ugrnn_demo", "ff_demo", "search_median"}
    assert {"val_top1", "val_top5", "n_params", "n_units", "arch"} <= set(summary.columns)
    assert (summary["n_params"] > 0).all() and (summary["n_units"] > 0).all()
    # 8 categories: chance is 0.125 (binomial SD over 448 images ~0.016); a few CPU epochs must clearly beat it.
    assert (summary["val_top1"] > 0.2).all(), summary[["model", "val_top1"]]


@pytest.mark.slow
def test_demo_ceiling_recovers_planted_reliability(demo):
    """The planted reliability is that of the time-averaged response; estimate it with the pipeline's ceiling code."""
    from convrnn.neural import NeuralData, split_half_reliability

    sites = pd.read_parquet(demo / "results/data/neural/sites.parquet").set_index("site")
    neural = NeuralData.from_long(pd.read_parquet(demo / "results/data/neural/responses.parquet"))
    est = split_half_reliability(neural.trials.mean(-1), n_splits=10, seed=0).ceiling
    diff = np.abs(est - sites.loc[neural.sites["site"], "reliability"].to_numpy())
    assert np.median(diff) < 0.05 and diff.max() < 0.15, diff
    per_bin = pd.read_parquet(demo / "results/neural/ceiling.parquet")
    assert len(per_bin) == len(neural.sites) * len(neural.bins) and per_bin["ceiling"].max() <= 1.0


@pytest.mark.slow
def test_demo_neural_fits_schema_and_sanity(demo):
    fits = pd.read_parquet(demo / "results/neural/fits/rgc_demo.parquet")
    for col in ["model", "layer", "layer_index", "model_step", "model_time_ms", "region", "site",
                "time_bin_start_ms", "time_bin_end_ms", "r", "ceiling", "score"]:
        assert col in fits.columns, col
    summary = pd.read_parquet(demo / "results/neural/summary.parquet")
    best = summary[summary["is_best_layer"] & summary["matched"]]
    assert set(best["region"]) == {"V4", "IT"}
    late = best[best["time_bin_start_ms"] >= 100].groupby(["model", "region"])["score"].mean()
    # Every trained model predicts the sites once they respond; the bypassed RGC does so reliably and clearly.
    assert (late > 0.02).all() and (late["rgc_demo"] > 0.1).all(), late
    assert "imnetds" not in set(fits["layer"]), "the readout logits are no candidate area"


@pytest.mark.slow
def test_demo_features_match_their_index(demo):
    from convrnn.features import load_feature_set

    fs = load_feature_set(demo / "results/features/rgc_demo/neural.safetensors",
                          demo / "results/features/rgc_demo/neural.parquet")
    meta = pd.read_parquet(demo / "results/data/stimuli/neural_meta.parquet")
    assert fs.stimulus_ids == meta["stimulus_id"].tolist()
    for layer, arr in fs.features.items():
        rows = fs.index[fs.index["layer"] == layer]
        assert arr.shape == (len(rows), len(meta), rows["n_features"].iloc[0])
        assert np.isfinite(arr).all()


@pytest.mark.slow
def test_demo_nothing_left_to_do_then_script_edit_reruns_only_dependents(demo):
    out = smk("-n", cwd=demo).output
    assert "Nothing to be done" in out, out[-2000:]
    script = demo / "workflow/scripts/neural_summary.py"
    original = script.read_text()
    try:
        script.write_text(original + "\n# edited\n")
        rules = planned_rules(smk("-n", "--quiet", "rules", cwd=demo).output)
        assert rules == {"neural_summary", "figure_neural", "figure_best_layer", "all"}, rules
    finally:
        script.write_text(original)


@pytest.mark.slow
def test_demo_training_resumes_after_kill(demo):
    target = "results/models/ff_demo/weights.safetensors"
    ckpt = demo / "results/models/ff_demo/checkpoint.pt"
    # target first: --forcerun takes a list and would swallow it (then `all` would retrain every model)
    cmd = [sys.executable, "-m", "snakemake", target, "--cores", "1", "--forcerun", "train_model"]
    proc = subprocess.Popen(cmd, cwd=demo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ckpt.exists(), "no checkpoint appeared before the kill"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    smk("--unlock", cwd=demo)  # a SIGKILLed snakemake leaves its lock behind, as after a node failure
    smk("--cores", "1", "--rerun-incomplete", target, cwd=demo)
    log = (demo / "results/logs/train_model/ff_demo.log").read_text()
    resumed = re.findall(r"resumed from \S+ at step (\d+)", log)
    assert resumed and int(resumed[-1]) >= 20, log[-2000:]  # checkpoint_every_steps: 20
    assert not ckpt.exists(), "a finished job must not leave a resumable checkpoint behind"


@pytest.mark.slow
def test_demo_report(demo):
    smk("--report", "results/report.html", cwd=demo)
    assert (demo / "results/report.html").stat().st_size > 10000


def test_schema_training_keys_are_train_config_fields():
    """The schema must not accept a training key the engine would reject (or silently drop)."""
    import dataclasses

    from convrnn.training import TrainConfig

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    keys = set(schema["$defs"]["train"]["properties"])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert keys <= fields, keys - fields
