"""Fault tests of the `slurm` profile against a live SLURM cluster (`.ci/slurm_cluster.sh start`).

Run:  sudo .ci/slurm_cluster.sh start && CONVRNN_SLURM_TESTS=1 .venv/bin/pytest -m slurm tests/test_slurm_cluster.py
Each test runs the real workflow (repo-root Snakefile) copied into tmp_path through `snakemake --profile slurm` plus
the CI overrides below, on a smaller copy of the default config (SMALLER_DEMO): about 8 minutes on 2 cores, most of
it the executor's status polling (its interval backs off by 10 s while no job finishes). Every snakemake call is
wrapped in `timeout -k`. (The stand-in workflow tests/slurm_standin/ only serves the profile's dry-run tests.)

The CI cluster has no accounting DB, so jobs are polled with squeue (the profile keeps sacct for real clusters),
it has no GPU, and its one node is smaller than the paper-sized requests: resources are replaced for CI.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
GPU_RULES = ("train_model", "search_worker", "extract_features", "neural_fit")
CI_ARGS = [
    "--slurm-status-command", "squeue",  # no slurmdbd: sacct fails and the plugin would poll forever
    "--slurm-init-seconds-before-status-checks", "2",
    "--latency-wait", "5",
    # Replace the paper-sized resources (the CLI replaces the profile's whole mapping): no GPUs, small jobs.
    "--default-resources", "mem_mb=500", "runtime=10*attempt", "cpus_per_task=1",
    "--set-resources", "train_model:runtime=5*attempt", *(f"{rule}:gpu=0" for rule in GPU_RULES),
]
RESUMED = re.compile(r"resumed from \S+ at step (\d+)", re.IGNORECASE)  # the train_model log contract


def _cluster_reason() -> str | None:
    if os.environ.get("CONVRNN_SLURM_TESTS") != "1":
        return "set CONVRNN_SLURM_TESTS=1 to run tests against a live SLURM cluster (.ci/slurm_cluster.sh start)"
    if shutil.which("sinfo") is None:
        return "sinfo not on PATH: no SLURM client installed (.ci/slurm_cluster.sh start)"
    try:
        subprocess.run(["sinfo", "-h"], check=True, capture_output=True, timeout=10)
    except (subprocess.SubprocessError, OSError) as e:
        return f"sinfo fails, is the cluster up? (.ci/slurm_cluster.sh start): {e}"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.skipif(_cluster_reason() is not None, reason=str(_cluster_reason()))]


@dataclass(frozen=True)
class Workflow:
    name: str
    source: Path
    configfile: str
    dag_limit: int                  # seconds for the whole DAG through SLURM
    smaller: dict                   # changes to the default config written to `configfile` (same DAG, less compute)

    def copy_to(self, dest: Path) -> Path:
        """The workflow with the profile under test (./slurm) and the smaller config, minus outputs and tests."""
        skip = shutil.ignore_patterns(".git", ".venv", "results", "logs", ".snakemake", "tests", "__pycache__")
        shutil.copytree(self.source, dest, ignore=skip)
        config = _merged(yaml.safe_load((dest / "config/config.yaml").read_text()), self.smaller)
        (dest / self.configfile).write_text(yaml.safe_dump(config, sort_keys=False))
        return dest


def _merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and key != "models" else value
    return out


# The real DAG through SLURM exercises every rule and the profile, not the demo's science (tests/test_workflow.py
# checks that on the full default config): two configured models plus the searched median (which the default does not
# retrain), shorter training/search.
SMALLER_DEMO = {
    "models": {name: spec for name, spec in yaml.safe_load((REPO / "config/config.yaml").read_text())["models"].items()
               if name in ("rgc_m", "ff")},
    "training": {"epochs": 2, "checkpoint_every_steps": 5},
    "search": {"trials_per_worker": 2, "n_startup_trials": 2, "trial_training": {"max_steps": 6},
               "train_selected": ["median"]},
    "neural": {"n_splits": 4},
}

# 28 jobs of 5-25 s on a 2-CPU node plus SLURM polling: ~5 min (the full default config: ~7 min).
WORKFLOWS = [Workflow("real", REPO, "config/ci_smaller.yaml", dag_limit=900, smaller=SMALLER_DEMO)]


def smk(workdir: Path, wf: Workflow, *args: str, limit: int = 240) -> subprocess.CompletedProcess:
    """`snakemake --profile slurm` + CI overrides in workdir; killed after `limit` s (SIGKILL 10 s later)."""
    return subprocess.run(_cmd(wf, *args, limit=limit), cwd=workdir, env=_env(), capture_output=True, text=True)


def _cmd(wf: Workflow, *args: str, limit: int) -> list[str]:
    # args (targets) first: --configfile and --set-resources take lists and would swallow a trailing target.
    return ["timeout", "-k", "10", str(limit), SNAKEMAKE, *args, "--profile", "slurm",
            "--configfile", wf.configfile, *CI_ARGS]  # fmt: skip


def _env() -> dict[str, str]:
    # The CI cluster is described by the CI args alone, never by the developer's site settings.
    return {k: v for k, v in os.environ.items() if not k.startswith("CONVRNN_SLURM_")}


def summary(workdir: Path, wf: Workflow) -> list[dict[str, str]]:
    """`snakemake --detailed-summary`: one dict per output file (output_file, rule, log-file(s), input-file(s), ...)."""
    out = subprocess.run([SNAKEMAKE, "--configfile", wf.configfile, "--detailed-summary", "--quiet", "all"],
                         cwd=workdir, capture_output=True, text=True, check=True, timeout=120).stdout  # fmt: skip
    lines = [line.split("\t") for line in out.splitlines() if "\t" in line]
    return [dict(zip(lines[0], row)) for row in lines[1:]]


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from the first 'Job stats' table of a snakemake run or dry run."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.MULTILINE)}


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"


@pytest.fixture(scope="module", params=WORKFLOWS, ids=lambda wf: wf.name)
def workflow(request) -> Workflow:
    return request.param


@pytest.fixture(scope="module")
def completed(workflow, tmp_path_factory) -> Path:
    """The DAG (smaller default config) run to completion through SLURM (shared by the later tests)."""
    workdir = workflow.copy_to(tmp_path_factory.mktemp(workflow.name) / "wf")
    proc = smk(workdir, workflow, limit=workflow.dag_limit)
    assert proc.returncode == 0, explain(proc)
    return workdir


def test_default_dag_completes_through_slurm(completed, workflow):
    dry = smk(completed, workflow, "-n", limit=120)
    assert dry.returncode == 0, explain(dry)
    assert "Nothing to be done" in dry.stdout + dry.stderr, explain(dry)
    assert any(row["rule"] == "train_model" for row in summary(completed, workflow))


def test_failing_rule_fails_workflow_naming_its_log(completed, workflow):
    rows = summary(completed, workflow)
    # one row per output file: a job's fits table stands for the job (neural_fit writes three files)
    fits = [row for row in rows
            if row["rule"] == "neural_fit" and row["output_file"].startswith("results/neural/fits/")]
    victim, other = fits[0], fits[1]
    # Corrupt an input of the victim alone (its features), not one every fit shares (the neural responses).
    shared = {f for row in fits[1:] for f in row["input-file(s)"].split(",")}
    bad_input = completed / sorted(set(victim["input-file(s)"].split(",")) - shared)[0]
    (completed / other["output_file"]).unlink()  # an independent branch that must still be built (keep-going)
    for row in rows:  # as in a first run: the final outputs do not exist yet
        if row["rule"].startswith("figure_"):
            (completed / row["output_file"]).unlink(missing_ok=True)
    shutil.copy2(bad_input, bad_input.with_name(bad_input.name + ".good"))
    bad_input.write_bytes(b"\x00corrupt\x00")

    proc = smk(completed, workflow, "--retries", "0", limit=240)  # retries: exercised by the scancel test
    assert proc.returncode != 0, explain(proc)
    log = victim["log-file(s)"].split(",")[0]
    assert "Error in rule neural_fit" in proc.stderr and log in proc.stderr, explain(proc)
    assert bad_input.name in (completed / log).read_text(), f"{log} does not name the corrupt input {bad_input}"
    assert (completed / other["output_file"]).exists(), "keep-going: the independent branch was not built"


def test_rerun_after_partial_failure_redoes_only_the_rest(completed, workflow):
    rows = summary(completed, workflow)
    bad_inputs = list(completed.glob("results/**/*.good"))
    assert bad_inputs, "run test_failing_rule_fails_workflow_naming_its_log first (same module)"
    for good in bad_inputs:
        shutil.copyfile(good, good.with_suffix(""))  # the fix: good content, new mtime
        good.unlink()
    upstream = [row["output_file"] for row in rows if row["rule"] in ("train_model", "generate_stimuli")]
    before = {f: (completed / f).stat().st_mtime_ns for f in upstream}

    dry = smk(completed, workflow, "-n", limit=120)
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts.get("neural_fit") == 1 and not {"train_model", "generate_stimuli"} & set(counts), explain(dry)
    proc = smk(completed, workflow, limit=240)
    assert proc.returncode == 0, explain(proc)
    assert job_counts(proc.stdout + proc.stderr) == counts
    assert before == {f: (completed / f).stat().st_mtime_ns for f in upstream}, "upstream outputs were rebuilt"


def test_scancel_mid_training_is_retried_and_resumes(completed, workflow, tmp_path):
    """Last in the module: it retrains one model of the completed DAG (no need to rebuild the data first)."""
    workdir = completed
    target = next(row["output_file"] for row in summary(workdir, workflow)
                  if row["rule"] == "train_model" and row["output_file"].endswith("weights.safetensors"))  # fmt: skip
    model_dir = (workdir / target).parent
    log_path = tmp_path / "snakemake.out"
    with log_path.open("w") as log_file:
        run = subprocess.Popen(_cmd(workflow, target, "--forcerun", target, limit=300), cwd=workdir,
                               env=_env(), stdout=log_file, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            subprocess.run(["scancel", _wait_for_checkpointed_training(run, model_dir, limit=150)], check=True, timeout=30)
            run.wait(timeout=330)
        finally:
            if run.poll() is None:
                run.kill()
    out = log_path.read_text()
    assert run.returncode == 0, out[-8000:]
    assert "CANCELLED" in out, out[-8000:]
    # The retry (attempt 2) runs with the attempt-scaled runtime, 2 x 5 min.
    assert re.search(r"rule train_model:(?:\n\s+\w+:.*)*\n\s+resources:.*runtime=10\b", out), out[-8000:]
    log = next(row for row in summary(workdir, workflow) if row["output_file"] == target)["log-file(s)"]
    resumed = RESUMED.findall((workdir / log.split(",")[0]).read_text())
    assert resumed and int(resumed[-1]) >= 1, f"{log} shows no resume from a checkpoint"


def _wait_for_checkpointed_training(run: subprocess.Popen, model_dir: Path, limit: float) -> str:
    """SLURM id of the running train_model job once it has written a checkpoint into model_dir."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and run.poll() is None:
        if list(model_dir.glob("checkpoint*")):
            jobs = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"],
                                  capture_output=True, text=True, timeout=30).stdout.split("\n")  # fmt: skip
            ids = [line.split()[0] for line in jobs if "rule_train_model" in line]
            if ids:
                return ids[0]
        time.sleep(1)
    raise AssertionError(f"no running train_model job with a checkpoint in {model_dir} (snakemake rc={run.poll()})")
