"""Rule search_worker: run this worker's share of TPE trials against the shared journal storage."""
import pandas as pd

from convrnn.io import write_parquet
from convrnn.data.tasks import task_datasets
from convrnn.devices import resolve_device
from convrnn.search import SearchSpace, default_space, run_worker, training_objective
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p = snakemake.params
search = p.search
worker = int(snakemake.wildcards.worker)
backbone = "intermediate" if "intermediate" in search["base_arch"] else "shallow"
space = default_space(backbone) if search["space"] == "default" else SearchSpace.from_config(search["space"])
image_size = search.get("image_size") or p.image_size
train_set, val_set, num_classes = task_datasets(dict(snakemake.input), imagenet=p.imagenet, image_size=image_size, subset=True)
objective = training_objective(
    search["base_arch"], train_set, val_set,
    {"seed": p.seed, "device": str(resolve_device(p.device)), **search["trial_training"]},
    out_root=f"results/search/trials/{p.study}",
    model_kwargs={"num_classes": num_classes, "image_size": image_size, **search["overrides"]},
)
numbers = run_worker(
    space, objective, storage_path=p.storage, study_name=p.study, n_trials=search["trials_per_worker"],
    seed=p.seed, sampler=search["sampler"], n_startup_trials=search["n_startup_trials"],
    total_trials=search["n_workers"] * search["trials_per_worker"],
)
write_parquet(pd.DataFrame({"worker": worker, "trial": list(numbers)}, dtype="int64"), snakemake.output[0])
log.info("worker %d ran trials %s", worker, numbers)
