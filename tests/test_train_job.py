"""The multi-process training path of the train_model rule: torchrun (gloo on CPU) running convrnn.workflow.train_job."""
import json
import os
import subprocess
import sys

import pandas as pd

from convrnn.data.stimuli import generate_stimuli, save_stimuli
from convrnn.workflow.train_job import launcher_command


def test_launcher_command_prefers_the_profile_launcher():
    assert launcher_command("srun --kill-on-bad-exit=1", gpus=4) == ["srun", "--kill-on-bad-exit=1"]
    torchrun = launcher_command("", gpus=4)
    assert torchrun[1:4] == ["-m", "torch.distributed.run", "--standalone"] and "--nproc_per_node=4" in torchrun
    assert launcher_command(None, gpus=1) is None and launcher_command("", gpus=0) is None


def _stimuli(tmp_path) -> dict[str, str]:
    inputs = {}
    for split, seed in (("train", 1), ("val", 2)):
        images, meta = generate_stimuli(n_categories=2, objects_per_category=2, images_per_object={"V0": 8},
                                        image_size=16, seed=seed, id_prefix=split)
        inputs[f"{split}_images"], inputs[f"{split}_meta"] = str(tmp_path / f"{split}.st"), str(tmp_path / f"{split}.pq")
        save_stimuli(images, meta, inputs[f"{split}_images"], inputs[f"{split}_meta"])
    return inputs


def _job(inputs, out, seed=0, arch="ff_shallow"):
    return {"spec": {"arch": arch, "overrides": {"width": 0.125, "times": 6, "image_off": 6}},
            "inputs": inputs, "imagenet": None, "image_size": 16,
            "training": {"epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 1e-3, "device": "cpu", "seed": seed},
            "out_dir": str(out), "result_path": str(out / "result.json")}


def test_same_seed_same_weights_from_initialisation_to_the_end(tmp_path):
    """A rerun of a train_model job reproduces its weights bitwise (init, augmentation and order are seeded)."""
    from convrnn.io import load_tensors
    from convrnn.workflow.train_job import run

    inputs = _stimuli(tmp_path)
    weights = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        run(_job(inputs, tmp_path / name, seed, arch="rgc_shallow"))
        weights[name] = load_tensors(tmp_path / name / "weights.safetensors")
    assert all((weights["a"][k] == weights["b"][k]).all() for k in weights["a"])
    assert any((weights["a"][k] != weights["c"][k]).any() for k in weights["a"])


def test_two_ranks_under_torchrun_train_and_only_rank0_writes(tmp_path):
    out = tmp_path / "model"
    job = _job(_stimuli(tmp_path), out)
    (tmp_path / "job.json").write_text(json.dumps(job))
    cmd = [*launcher_command("", gpus=2), sys.executable, "-m", "convrnn.workflow.train_job", str(tmp_path / "job.json")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["steps"] == 4 and 0 <= result["val_top1"] <= 1   # 32 images / global batch 8
    assert (out / "weights.safetensors").stat().st_size > 0
    assert len(pd.read_parquet(out / "metrics.parquet")) == 1
