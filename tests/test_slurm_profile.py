"""The `slurm` profile parses and maps resources as documented, without a cluster (`snakemake -n` only).

`snakemake --profile slurm -n` dry-runs the executor without sbatch/sinfo. The site-settings tests use the small
stand-in workflow (tests/slurm_standin/: the real rule names, trivial scripts; a dry run in ~1 s instead of ~7 s);
one test dry-runs the real workflow's GPU requests.
10 s idle, ~45 s on a busy machine (the real DAG dry run dominates).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GPU_RULES = {"train_model", "search_worker", "extract_features", "neural_fit"}


def dry_run(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONVRNN_SLURM_")}
    return subprocess.run([SNAKEMAKE, "--profile", "slurm", "-n", *args], cwd=workdir, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def job_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """Rule -> one {resource: value} dict per job, from the job blocks of a dry run."""
    jobs: dict[str, list[dict[str, str]]] = {}
    for rule, res in re.findall(r"^(?:local)?rule (\w+):\n(?:\s+\w+:.*\n)*?\s+resources: (.*)$", output, re.M):
        jobs.setdefault(rule, []).append(dict(kv.split("=", 1) for kv in res.split(", ")))
    return jobs


@pytest.fixture
def standin(tmp_path) -> Path:
    workdir = tmp_path / "wf"
    shutil.copytree(REPO / "tests/slurm_standin", workdir)
    shutil.copytree(REPO / "slurm", workdir / "slurm")
    return workdir


def test_profile_maps_site_settings_to_gpu_and_cpu_rules(standin):
    proc = dry_run(standin, "--configfile", "config/config.yaml",
                   CONVRNN_SLURM_ACCOUNT="proj42", CONVRNN_SLURM_PARTITION="cpu",
                   CONVRNN_SLURM_GPU_PARTITION="gpu", CONVRNN_SLURM_GPU_MODEL="a100")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    jobs = job_resources(proc.stdout + proc.stderr)
    train = jobs["train_model"][0]
    assert (train["gpu"], train["gpu_model"], train["slurm_partition"]) == ("1", "a100", "gpu")
    assert train["slurm_account"] == "proj42" and train["slurm_extra"] == "--signal=USR1@300"
    assert int(train["runtime"]) >= 60 and int(train["cpus_per_gpu"]) >= 1
    stimuli = jobs["generate_stimuli"][0]
    assert (stimuli["slurm_partition"], stimuli["slurm_account"]) == ("cpu", "proj42") and "gpu" not in stimuli


def test_profile_without_site_settings_leaves_account_and_partition_to_slurm(standin):
    proc = dry_run(standin, "--configfile", "config/config.yaml")
    assert proc.returncode == 0, proc.stderr
    for rule, jobs in job_resources(proc.stdout + proc.stderr).items():
        assert not {"slurm_account", "slurm_partition"} & set(jobs[0]), rule


def test_site_file_and_gres_request_style(standin):
    (standin / "slurm/site.yaml").write_text("account: fromfile\ngpu_model: h100\ngpu_request: gres\n")
    proc = dry_run(standin, "--configfile", "config/config.yaml", CONVRNN_SLURM_ACCOUNT="fromenv")
    assert proc.returncode == 0, proc.stderr
    train = job_resources(proc.stdout + proc.stderr)["train_model"][0]
    assert train["gres"] == "gpu:h100:1" and "gpu" not in train
    assert train["slurm_account"] == "fromenv"  # the environment overrides the site file


def test_site_file_with_unknown_key_is_rejected_naming_file_and_keys(standin):
    (standin / "slurm/site.yaml").write_text("acount: typo\n")
    proc = dry_run(standin, "--configfile", "config/config.yaml")
    assert proc.returncode != 0
    assert "slurm/site.yaml" in proc.stderr and "acount" in proc.stderr


@pytest.mark.skipif(not (REPO / "Snakefile").exists(), reason="real workflow (Snakefile) not there yet")
def test_real_workflow_dry_runs_with_gpu_requests_on_gpu_rules():
    proc = dry_run(REPO, CONVRNN_SLURM_GPU_PARTITION="gpu")  # config/paper.yaml, as on a cluster
    assert proc.returncode == 0, proc.stderr
    jobs = job_resources(proc.stdout + proc.stderr)
    assert "train_model" in jobs and "neural_fit" in jobs, sorted(jobs)
    for rule, rule_jobs in jobs.items():
        for res in rule_jobs:
            assert (res.get("gpu") == "1") == (rule in GPU_RULES), (rule, res)
            assert (res.get("slurm_partition") == "gpu") == (rule in GPU_RULES), (rule, res)


@pytest.mark.parametrize(
    "site_file, env, named, reason",
    [
        (None, {"CONVRNN_SLURM_GPU_MODEL": "a100:2"}, "CONVRNN_SLURM_GPU_MODEL=a100:2", "without a count"),
        ("gpu_model: a100:2\n", {}, "slurm/site.yaml: gpu_model", "without a count"),
        (None, {"CONVRNN_SLURM_GPU_REQUEST": "gress"}, "CONVRNN_SLURM_GPU_REQUEST=gress", "'gpus' or 'gres'"),
        (None, {"CONVRNN_SLURM_SITE": "slurm/x.yml"}, "CONVRNN_SLURM_SITE=slurm/x.yml", "no such site file"),
        ("account: [proj\n", {}, "slurm/site.yaml: not valid YAML (line 2)", "expected ',' or ']'"),
    ],
    ids=["gpu-model-count-env", "gpu-model-count-file", "gpu-request-env", "missing-site-file", "site-yaml-error"],
)
def test_site_setting_mistakes_name_their_source(standin, site_file, env, named, reason):
    """Each refusal names where the bad value came from: the variable, or the site file (never a file that is not
    there); a site file named by CONVRNN_SLURM_SITE must exist."""
    if site_file is not None:
        (standin / "slurm/site.yaml").write_text(site_file)
    proc = dry_run(standin, "--configfile", "config/config.yaml", **env)
    assert proc.returncode != 0
    line = next((l for l in proc.stderr.splitlines() if named in l), "")
    assert reason in line, proc.stderr[-2000:]
    if site_file is None:
        assert "slurm/site.yaml" not in proc.stderr, proc.stderr[-2000:]
