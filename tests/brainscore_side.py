"""The Brain-Score half of tests/test_brainscore_plugin.py: run by that test in the Brain-Score venv
(``.venv-brainscore``, built by ``.ci/brainscore_venv.sh``), never collected by pytest itself.

Everything here is brainscore_vision's and brainscore_core's own code; this file only wires it up offline:

- ``package``: writes a stimulus set (csv + zip) and a MajajHong2015.temporal.public-like neural assembly (.nc) with
  Brain-Score's local packaging functions (``package_stimulus_set_locally``, ``package_data_assembly_locally``).
- ``score``: links an exported plugin into ``brainscore_vision/models/``, loads it with ``load_model``, points the
  data registry's ``MajajHong2015.temporal.public`` at the local files (loaded as ``load_assembly_from_s3`` loads a
  downloaded file: ``StimulusSetLoader`` + ``StimulusMergeAssemblyLoader``), scores the registered temporal benchmarks
  ``MajajHong2015public.{V4,IT}-temporal-pls`` and records what the Kar2019 OST benchmark asks of a model (IT, 70-250
  ms). Then runs the plugin's tests the way brainscore_core's plugin runner (``test_plugin.sh``) does: pytest on
  brainscore_vision's generic model tests with ``--plugin_directory``, then pytest on the plugin's ``test.py``, both
  with its marker expression ``not slow`` (the runner's conda environment and pip installs are this venv).
"""
import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

os.environ["BS_INSTALL_DEPENDENCIES"] = "no"   # else every load_* pip-installs the plugin's requirements
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

KAR2019_BINS = [(t, t + 10) for t in range(70, 250, 10)]   # brainscore_vision benchmarks/kar2019 TIME_BINS
STIMULUS_SET = "convrnn.test-hvm-public"
ASSEMBLY = "dicarlo.MajajHong2015.temporal.public"


def package(args):
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    from brainscore_core.supported_data_standards.brainio.packaging import (package_data_assembly_locally,
                                                                          package_stimulus_set_locally)
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    d = np.load(args.arrays)                              # plain arrays (no pickle): see the test
    ids, objects = d["stimulus_id"].astype(str), d["object_name"].astype(str)
    stimuli = StimulusSet({"stimulus_id": ids, "object_name": objects, "image_label": objects})
    stimuli.stimulus_paths = dict(zip(ids, d["image_path"].astype(str)))
    stimuli.name = STIMULUS_SET
    out = Path(args.out)
    files = package_stimulus_set_locally(stimuli, STIMULUS_SET, downloads_path=out)
    trials = d["trials"]                                  # (repetition, stimulus, neuroid, time_bin)
    R, N, S, B = trials.shape
    values = trials.transpose(2, 0, 1, 3).reshape(S, R * N, B)   # neuroid x presentation x time_bin, as stored
    assembly = NeuroidAssembly(values, dims=["neuroid", "presentation", "time_bin"], coords={
        "stimulus_id": ("presentation", np.tile(ids, R)), "repetition": ("presentation", np.repeat(np.arange(R), N)),
        "neuroid_id": ("neuroid", d["neuroid_id"].astype(str)), "region": ("neuroid", d["region"].astype(str)),
        # a third neuroid level, as the real assembly has (animal, arr, ...): with region and neuroid_id alone,
        # xarray 2022.3's .sel(region=...) in the benchmark's loader leaves the neuroid dimension without an index
        "animal": ("neuroid", np.where(np.arange(S) % 2, "Chabo", "Tito")),
        "time_bin_start": ("time_bin", d["time_bin_start"]), "time_bin_end": ("time_bin", d["time_bin_end"])})
    # packaging knows no NeuronRecordingAssembly class; the data plugin loads the file back as one
    nc = package_data_assembly_locally(assembly, ASSEMBLY, STIMULUS_SET, assembly_class_name="NeuroidAssembly",
                                       downloads_path=out)
    Path(args.result).write_text(json.dumps({"csv": files["csv_path"], "zip": files["zip_path"], "nc": nc["path"]}))


def _local_assembly(files):
    """The assembly as ``load_assembly_from_s3`` returns a downloaded one, from the local files."""
    from brainscore_core.supported_data_standards.brainio.assemblies import (NeuronRecordingAssembly,
                                                                           StimulusMergeAssemblyLoader)
    from brainscore_core.supported_data_standards.brainio.fetch import unzip
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet, StimulusSetLoader

    stimulus_set = StimulusSetLoader(cls=StimulusSet, csv_path=files["csv"],
                                     stimuli_directory=unzip(files["zip"])).load()
    stimulus_set.identifier = STIMULUS_SET
    assembly = StimulusMergeAssemblyLoader(cls=NeuronRecordingAssembly, file_path=files["nc"],
                                           stimulus_set_identifier=STIMULUS_SET, stimulus_set=stimulus_set).load()
    assembly.attrs["identifier"] = ASSEMBLY
    return assembly


def _link_plugin(plugin: Path, name: str) -> Path:
    import brainscore_vision

    link = Path(brainscore_vision.__file__).parent / "models" / name
    if link.is_symlink():
        link.unlink()                                     # left by an interrupted run
    elif link.exists():
        raise SystemExit(f"{link}: a real plugin of that name exists; not replacing it")
    link.symlink_to(plugin.resolve(), target_is_directory=True)
    return link


def score(args):
    import brainscore_vision
    import brainscore_vision.data.majajhong2015  # noqa: F401  (its registrations first, then ours over them)
    from brainscore_vision import data_registry, load_benchmark, load_model

    files = json.loads(Path(args.data).read_text())
    data_registry["MajajHong2015.temporal.public"] = lambda: _local_assembly(files)
    link = _link_plugin(Path(args.plugin), args.identifier)
    out = {"benchmarks": {}}
    try:
        model = load_model(args.identifier)
        out["identifier"], out["visual_degrees"] = model.identifier, model.visual_degrees()
        for region in ("V4", "IT"):
            benchmark = load_benchmark(f"MajajHong2015public.{region}-temporal-pls")
            s = benchmark(model)
            # the ceiled score is a bare array over the bins (explained_variance works on .values); raw and
            # ceiling keep the time_bin coordinates
            raw, ceiling = s.attrs["raw"], s.attrs["ceiling"]
            out["benchmarks"][region] = {
                "identifier": benchmark.identifier,
                "time_bin_start": [int(v) for v in raw["time_bin_start"].values],
                "time_bin_end": [int(v) for v in raw["time_bin_end"].values],
                "ceiling_time_bin_start": [int(v) for v in ceiling["time_bin_start"].values],
                "score": [float(v) for v in s.values], "raw": [float(v) for v in raw.values],
                "ceiling": [float(v) for v in ceiling.values]}
        # what Kar2019-ost asks: IT at 70-250 ms, on the benchmark's stimulus set (all of its columns)
        stimuli = brainscore_vision.load_dataset("MajajHong2015.temporal.public").stimulus_set
        model.start_recording("IT", time_bins=KAR2019_BINS)
        rec = model.look_at(stimuli, number_of_trials=44).transpose("presentation", "time_bin", "neuroid")
        np.savez(args.kar, values=rec.values, stimulus_id=rec["stimulus_id"].values.astype(str),
                 image_label=rec["image_label"].values.astype(str),
                 time_bin_start=rec["time_bin_start"].values, time_bin_end=rec["time_bin_end"].values)
        out["plugin_tests"] = _plugin_tests(link)
    finally:
        link.unlink()
    Path(args.result).write_text(json.dumps(out))


def _plugin_tests(plugin_dir: Path) -> dict:
    """brainscore_core's test_plugin.sh, minus its conda/pip set-up: generic tests, then the plugin's own."""
    import brainscore_vision

    library = Path(brainscore_vision.__file__).parent
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow"]
    runs = {"generic": base + [str(library / "model_helpers" / "generic_plugin_tests.py"),
                               "--plugin_directory", str(plugin_dir)],
            "plugin": base + [str(plugin_dir / "test.py")]}
    out = {}
    for name, cmd in runs.items():
        p = subprocess.run(cmd, cwd=library.parent, capture_output=True, text=True)
        out[name] = {"returncode": p.returncode, "tail": (p.stdout + p.stderr)[-3000:]}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("package")
    p.add_argument("--arrays", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--result", required=True)
    p = sub.add_parser("score")
    p.add_argument("--plugin", required=True)
    p.add_argument("--identifier", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--kar", required=True)
    p.add_argument("--result", required=True)
    a = parser.parse_args()
    {"package": package, "score": score}[a.command](a)
