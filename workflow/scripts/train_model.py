"""Rule train_model: train one model (resumes from results/models/{model}/checkpoint.pt after a kill), and count its
size (parameters, units).

One device: in-process. Several GPUs: one rank per GPU through the launcher of the SLURM profile (`mpi`
resource, e.g. srun) or torchrun (docs/cluster.md); every rank runs convrnn.workflow.train_job on the same job file.
"""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from convrnn.devices import resolve_device
from convrnn.io import write_json, write_parquet
from convrnn.models import build
from convrnn.models.counting import SIZE_COLUMNS, size_row
from convrnn.workflow.train_job import launcher_command, run
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
out_dir = Path(snakemake.output.weights).parent
job = {
    "spec": p.spec,
    "inputs": {k: v for k, v in snakemake.input.items() if k != "selected"},
    "imagenet": p.imagenet,
    "image_size": p.image_size,
    "training": {"seed": p.seed, "device": p.device, **p.training},
    "out_dir": str(out_dir),
    "result_path": str(out_dir / "result.json"),
}
launcher = launcher_command(snakemake.resources.get("mpi", ""), int(snakemake.resources.get("gpu", 0) or 0))
log.info("training %s (%s) on %s%s", snakemake.wildcards.model, job["spec"]["arch"], resolve_device(p.device),
         f" with {' '.join(launcher)}" if launcher else "")
if launcher:
    write_json(job, out_dir / "job.json")
    subprocess.run([*launcher, sys.executable, "-m", "convrnn.workflow.train_job", str(out_dir / "job.json")],
                   check=True, stderr=sys.stderr, stdout=sys.stderr)
    result = json.loads((out_dir / "result.json").read_text())
else:
    result = run(job)
row = {"model": snakemake.wildcards.model, "arch": p.spec["arch"], "spec": json.dumps(p.spec, sort_keys=True), **result}
write_parquet(pd.DataFrame([row]), snakemake.output.result)
with torch.device("meta"):   # counting needs the shapes only
    sized = build(p.spec, num_classes=p.num_classes)
write_parquet(pd.DataFrame([size_row(snakemake.wildcards.model, sized, p.image_size)])[SIZE_COLUMNS],
              snakemake.output.size)
for leftover in ("checkpoint.pt", "job.json", "result.json"):  # finished: a rerun must start fresh, not resume
    (out_dir / leftover).unlink(missing_ok=True)
