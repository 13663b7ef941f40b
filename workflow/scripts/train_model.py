"""Rule train_model: train one model (resumes from results/models/{model}/checkpoint.pt after a kill)."""
import json
from pathlib import Path

import pandas as pd

from convrnn.io import write_parquet
from convrnn.pipeline import build_from_spec, task_datasets
from convrnn.training import TrainConfig, fit
from convrnn.workflow import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
spec = json.loads(p.spec)
train_set, val_set, num_classes = task_datasets(dict(snakemake.input), imagenet=p.imagenet, image_size=p.image_size)
model = build_from_spec(spec, num_classes)
cfg = TrainConfig.from_dict({"seed": p.seed, "device": p.device, **p.training})
out_dir = Path(snakemake.output.weights).parent
log.info("training %s (%s) on %d images", snakemake.wildcards.model, spec["arch"], len(train_set))
result = fit(model, train_set, val_set, cfg, out_dir)
row = {"model": snakemake.wildcards.model, "arch": spec["arch"], "spec": p.spec, **result}
write_parquet(pd.DataFrame([row]), snakemake.output.result)
(out_dir / "checkpoint.pt").unlink(missing_ok=True)  # finished: a rerun must start fresh, not resume
