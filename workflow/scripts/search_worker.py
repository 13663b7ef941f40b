"""Rule search_worker: run this worker's share of TPE trials against the shared journal storage."""
import pandas as pd

from convrnn.io import write_parquet
from convrnn.pipeline import task_datasets, trial_objective
from convrnn.search import SearchSpace, default_space, run_worker
from convrnn.workflow import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
search = p.search
backbone = "intermediate" if "intermediate" in search["base_arch"] else "shallow"
space = default_space(backbone) if search["space"] == "default" else SearchSpace.from_config(search["space"])
train_set, val_set, num_classes = task_datasets(
    dict(snakemake.input), imagenet=p.imagenet, image_size=search.get("image_size", p.image_size), subset=True
)
objective = trial_objective(
    base_arch=search["base_arch"], overrides=search["overrides"], num_classes=num_classes,
    train_set=train_set, val_set=val_set, training=search["trial_training"], device=p.device,
    workdir=f"results/search/trials/worker{snakemake.wildcards.worker}",
)
numbers = run_worker(
    space, objective, storage_path=p.storage, study_name=p.study, n_trials=search["trials_per_worker"],
    seed=p.seed, sampler=search["sampler"], max_total_trials=search["n_workers"] * search["trials_per_worker"],
)
write_parquet(pd.DataFrame({"worker": int(snakemake.wildcards.worker), "trial": list(numbers)}), snakemake.output[0])
log.info("worker %s ran trials %s", snakemake.wildcards.worker, list(numbers))
