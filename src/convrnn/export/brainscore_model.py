"""Brain-Score's temporal ``BrainModel`` interface over an exported model (``convrnn.export.brainscore``).

Imported only by an exported plugin's ``model.py``, inside a brainscore_vision environment (it needs
brainscore_vision and brainscore_core; the project's own environment has neither: their pins conflict with ours).

What Brain-Score's benchmarks call: ``start_recording(region, time_bins)`` then ``look_at(stimuli)``, which returns a
``NeuroidAssembly`` (presentation x neuroid x time_bin) carrying every column of the stimulus set on the presentation
dimension (the Kar2019 OST metric reads the images' ``image_label`` from there) and ``time_bin_start`` /
``time_bin_end`` on the bins asked for. ``visual_degrees`` is 8, the papers' stimuli. The model is deterministic:
``number_of_trials`` does not change its answer. Only passive fixation is committed (no behavioural task readout).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
from brainscore_vision.model_interface import BrainModel

from .brainscore import ExportedModel, load_image_files

#: the torch device the plugin runs on: cpu unless CONVRNN_DEVICE says otherwise (auto | cpu | cuda)
DEVICE_ENV = "CONVRNN_DEVICE"


class ConvRNNBrainModel(BrainModel):
    def __init__(self, identifier: str, plugin_dir: str | os.PathLike):
        self._identifier = identifier
        self._model = ExportedModel(plugin_dir, device=os.environ.get(DEVICE_ENV, "cpu"))
        self._region = None
        self._time_bins = None

    @property
    def identifier(self) -> str:
        return self._identifier

    def visual_degrees(self) -> float:
        return self._model.visual_degrees

    def start_task(self, task, *args, **kwargs) -> None:
        if task != BrainModel.Task.passive:
            raise NotImplementedError(f"{self._identifier}: commits neural recordings ({sorted(self._model.regions)}) "
                                      f"under passive fixation, no behavioural task ({task!r})")

    def start_recording(self, recording_target, time_bins) -> None:
        self._model.check_region(recording_target)
        bins = [tuple(np.asarray(b).tolist()) for b in time_bins]
        self._model.plan(str(recording_target), bins)      # a malformed bin is refused here, not at look_at
        self._region, self._time_bins = str(recording_target), bins

    def look_at(self, stimuli, number_of_trials: int = 1) -> NeuroidAssembly:
        if self._region is None:
            raise RuntimeError(f"{self._identifier}: start_recording(region, time_bins) before look_at")
        if hasattr(stimuli, "get_stimulus"):          # a StimulusSet: its columns go along with the recordings
            paths = [Path(stimuli.get_stimulus(s)) for s in stimuli["stimulus_id"]]
            coords = {c: ("presentation", stimuli[c].to_numpy()) for c in stimuli.columns}
            coords["stimulus_path"] = ("presentation", [str(p) for p in paths])
        else:                                          # a list of image paths
            paths = [Path(p) for p in stimuli]
            ids = [str(p) for p in paths]
            coords = {"stimulus_id": ("presentation", ids), "stimulus_path": ("presentation", ids)}
        images = load_image_files(paths, self._model.image_size)
        values, layers = self._model.record(images, self._region, self._time_bins)   # (N, B, D)
        n_neuroids = values.shape[2]
        coords.update({
            "neuroid_id": ("neuroid", [f"{self._region}.{i}" for i in range(n_neuroids)]),
            "neuroid_num": ("neuroid", np.arange(n_neuroids)),
            "region": ("neuroid", [self._region] * n_neuroids),
            "layer": ("neuroid", [",".join(dict.fromkeys(layers))] * n_neuroids),
            "time_bin_start": ("time_bin", [b[0] for b in self._time_bins]),
            "time_bin_end": ("time_bin", [b[1] for b in self._time_bins]),
        })
        return NeuroidAssembly(values.transpose(0, 2, 1), coords=coords,
                               dims=["presentation", "neuroid", "time_bin"])
