"""A model of a run as a brainscore_vision model plugin, and the recordings that plugin answers with.

``export_plugin`` writes a plugin directory (docs/brainscore.md): ``__init__.py`` registering the model in
brainscore_vision's ``model_registry``, ``model.py``, ``test.py``, ``requirements.txt``, and what the model needs:
its weights, the PCA basis of its committed layers (fitted exactly as the DAG fits it), and ``convrnn_model.json``
(build spec, region -> layer commitments, time mapping). The ``BrainModel`` that Brain-Score talks to
(``convrnn.export.brainscore_model``) is a thin face over :class:`ExportedModel` here, which needs no Brain-Score code,
so the mapping of time bins and regions is tested in the project's own environment too.

Time (docs/neural.md, "Time"): model step t stands for [t*step_ms + offset, (t+1)*step_ms + offset) ms after image
onset, the pairing the DAG scores. A requested bin that is one step's interval is answered by that step alone; a wider
or shifted bin by the mean of the steps it overlaps, each weighted by the share of the step inside the bin (a 70-170
ms bin: the mean of steps 7-16 at offset 0); a step before 0 is the model at rest, the zero outputs every unroll
starts from (graph.py). The unroll runs as long as the latest bin needs, image on for ``image_off`` steps, then gray;
steps are causal, so every step the DAG extracted is the same here. A static model (its features are its response to
the image) is placed as the DAG places it: ``graded``: its committed layers in depth order over successive equal
shares of the requested bins (as the OST job spreads them over Kar2019's bins), ``uniform``: its committed layer in
every bin.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "convrnn_model.json"
WEIGHTS = "weights.safetensors"
PCA = "pca.safetensors"
TEST_RECORDINGS = "test_recordings.safetensors"
TEST_IMAGES = "test_images"
VISUAL_DEGREES = 8               # the papers' stimuli, and Brain-Score's MajajHong2015 / Kar2019 benchmarks
#: bins the plugin's own test.py checks: single steps early and late in the papers' window, and Brain-Score's static
#: MajajHong2015 window (a time average)
TEST_BINS = [(70, 80), (150, 160), (250, 260), (70, 170)]
N_TEST_IMAGES = 3
LAYER_COLUMNS = ["model", "region", "layer", "layer_index", "committed"]


def identifier_of(model_id: str) -> str:
    """The Brain-Score identifier of a run's model: its id under the project's name."""
    return f"convrnn_{model_id}"


# ------------------------------------------------------------------------------------------------ time and layers
def step_weights(time_bins: Iterable[Sequence[float]], *, step_ms: float, latency_offset_ms: float
                 ) -> list[dict[int, float]]:
    """Per requested bin (start, end) ms: model step -> weight (summing to 1). A bin that is one step's interval is
    that step; any other bin the mean of the steps it overlaps, weighted by the overlap; negative steps lie before
    the input reaches the model (the model at rest)."""
    out = []
    for b in time_bins:
        start, end = float(b[0]), float(b[1])
        if not end > start:
            raise ValueError(f"time bin ({b[0]}, {b[1]}): the end must lie after the start")
        first = int(np.floor((start - latency_offset_ms) / step_ms))
        last = int(np.ceil((end - latency_offset_ms) / step_ms)) - 1
        weights = {}
        for t in range(first, last + 1):
            lo = max(start, t * step_ms + latency_offset_ms)
            hi = min(end, (t + 1) * step_ms + latency_offset_ms)
            if hi > lo:
                weights[t] = hi - lo
        total = sum(weights.values())
        out.append({t: w / total for t, w in weights.items()})
    return out


def bin_layers(committed: Sequence[str], n_bins: int, placement: str) -> list[str]:
    """Per requested bin, the layer that answers for a region: ``committed`` in depth order, spread by the graded
    placement (static models), else the one committed layer in every bin."""
    from convrnn.neural.placement import graded_layers

    if placement == "graded":
        return graded_layers(list(committed), n_bins)
    return [committed[0]] * n_bins


def committed_regions(layers: pd.DataFrame, model_id: str, source: str = "layer table") -> dict[str, list[str]]:
    """Region -> the layer(s) ``model_id`` commits to it (results/neural/layers.parquet ``committed``), in depth
    order."""
    missing = [c for c in LAYER_COLUMNS if c not in layers.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; has {list(layers.columns)}")
    rows = layers[(layers["model"] == model_id) & layers["committed"].astype(bool)]
    if rows.empty:
        known = sorted(layers["model"].unique())
        raise ValueError(f"{source}: no committed layer for model {model_id!r} (models there: {known})")
    return {region: g.sort_values("layer_index")["layer"].tolist()
            for region, g in rows.groupby("region", sort=True)}


# ------------------------------------------------------------------------------------------------ images
def load_image_files(paths: Sequence[str | os.PathLike], image_size: int) -> np.ndarray:
    """uint8 (N, image_size, image_size, 3) from image files, preprocessed as the DAG's real stimuli are (shorter
    side resized to ``image_size``, centre crop, RGB): ``convrnn.data.brainscore.load_images``."""
    from convrnn.data.brainscore import load_images

    return load_images(pd.DataFrame({"image_path": [str(p) for p in paths]}), image_size)


# ------------------------------------------------------------------------------------------------ the runtime
class ExportedModel:
    """An exported plugin's model: ``record`` answers a region and requested time bins for a batch of images."""

    def __init__(self, plugin_dir: str | os.PathLike, device="cpu", batch_size: int = 64):
        from convrnn.devices import resolve_device
        from convrnn.io import load_tensors
        from convrnn.models import build
        from convrnn.models.weights import load_weights

        self.dir = Path(plugin_dir)
        path = self.dir / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (not an exported convrnn plugin)")
        m = json.loads(path.read_text())
        if m.get("format") != FORMAT:
            raise ValueError(f"{path}: format {m.get('format')!r}, this convrnn reads format {FORMAT}")
        self.manifest = m
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model = load_weights(build(m["spec"], num_classes=m["num_classes"]), self.dir / WEIGHTS)
        arrays = load_tensors(self.dir / PCA) if m["pca_layers"] else {}
        self.bases = {layer: _basis(arrays, layer) for layer in m["pca_layers"]}

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])

    @property
    def visual_degrees(self) -> float:
        return self.manifest["visual_degrees"]

    @property
    def regions(self) -> dict[str, list[str]]:
        return self.manifest["regions"]

    def check_region(self, region: str) -> None:
        if str(region) not in self.regions:
            raise ValueError(f"{self.manifest['identifier']}: no layer is committed to region {region!r}; "
                             f"committed regions: {sorted(self.regions)}")

    def plan(self, region: str, time_bins) -> list[tuple[str, dict[int, float]]]:
        """Per requested bin, (layer, {step: weight}); a static model's one step is 0."""
        self.check_region(region)
        bins = [tuple(b) for b in time_bins]
        if not bins:
            raise ValueError("no time bins requested")
        m = self.manifest
        layers = bin_layers(self.regions[region], len(bins), m["placement"])
        if m["static"]:
            return [(layer, {0: 1.0}) for layer in layers]
        p = m["presentation"]
        weights = step_weights(bins, step_ms=p["step_ms"], latency_offset_ms=p["latency_offset_ms"])
        return list(zip(layers, weights))

    def record(self, images_uint8: np.ndarray, region: str, time_bins) -> tuple[np.ndarray, list[str]]:
        """(N, B, D) float32 responses of ``region`` in each requested bin, and the layer answering each bin. Layers of
        different widths (graded placement) are zero-padded to the widest, as the OST job pads them."""
        from convrnn.features.extract import extract_features

        plan = self.plan(region, time_bins)
        layers = list(dict.fromkeys(layer for layer, _ in plan))
        m = self.manifest
        steps = [t for _, w in plan for t in w]
        times = max(1, max(steps) + 1)
        fs = extract_features(self.model, images_uint8, [str(i) for i in range(len(images_uint8))],
                              times=times, image_off=m["presentation"]["image_off"], layers=layers,
                              static=m["static"], batch_size=self.batch_size, device=self.device,
                              pca_bases=self.bases)
        parts = []
        for layer, weights in plan:
            feats = fs.features[layer]
            acc = np.zeros(feats.shape[1:], np.float64)
            for t, w in weights.items():
                acc += w * (feats[t] if t >= 0 else self.rest(layer)[None])
            parts.append(acc.astype(np.float32))
        width = max(p.shape[1] for p in parts)
        out = np.zeros((len(images_uint8), len(parts), width), np.float32)
        for b, p in enumerate(parts):
            out[:, b, :p.shape[1]] = p
        return out, [layer for layer, _ in plan]

    def rest(self, layer: str) -> np.ndarray:
        """A layer's features before the input reaches the model: its zero output, through the layer's PCA basis."""
        c, h, w = self.model.layer_shapes(self.image_size)[layer]
        if layer in self.bases:
            mean, comps, _ = self.bases[layer]
            return (-(mean.double() @ comps.double())).numpy()
        return np.zeros(c * h * w)


def _basis(arrays: Mapping[str, np.ndarray], layer: str):
    import torch

    return (torch.as_tensor(arrays[f"{layer}/mean"]), torch.as_tensor(arrays[f"{layer}/components"]),
            float(arrays[f"{layer}/explained_variance"][0]))


# ------------------------------------------------------------------------------------------------ export
def export_plugin(out_dir: str | os.PathLike, *, model_id: str, spec: Mapping, num_classes: int,
                  weights: str | os.PathLike, layers: pd.DataFrame | str | os.PathLike, presentation: Mapping,
                  features: Mapping, image_size: int, pca_images: np.ndarray | None = None, seed: int = 0,
                  identifier: str | None = None, device="cpu", source: Mapping | None = None) -> Path:
    """Write ``out_dir`` as a brainscore_vision model plugin of ``model_id`` (replaced atomically: a finished
    directory, or none).

    ``spec``/``num_classes``/``weights``: the model as ``convrnn.models.build`` and ``load_weights`` take it;
    ``layers``: results/neural/layers.parquet (or its table): the committed layer(s) per region; ``presentation``:
    the config block (``step_ms``, ``latency_offset_ms``, ``neural_times``, ``neural_image_off``, ``feedforward``);
    ``features``: the config block (``pca_components``, ``pca_images``, ``batch_size``); ``pca_images``: the pool the
    DAG's extract_features draws its PCA images from (``seed`` picks them the same way); ``source``: provenance
    recorded in the manifest."""
    from convrnn.devices import resolve_device
    from convrnn.features.extract import fit_pca_bases, pca_subset
    from convrnn.io import read_parquet, save_tensors
    from convrnn.models import build
    from convrnn.models.weights import load_weights

    out_dir = Path(out_dir)
    identifier = identifier or identifier_of(model_id)
    table = layers if isinstance(layers, pd.DataFrame) else read_parquet(layers, required=LAYER_COLUMNS)
    regions = committed_regions(table, model_id, source=str(layers) if not isinstance(layers, pd.DataFrame)
                                else "layer table")
    device = resolve_device(device)
    model = load_weights(build(spec, num_classes=num_classes), weights)
    placement = presentation["feedforward"]
    # the DAG records a static model once unless it is to be unrolled like a ConvRNN (rules/features.smk)
    static = bool(getattr(model, "static", False)) and placement != "unrolled"
    unknown = sorted({layer for ls in regions.values() for layer in ls} - set(model.layer_names))
    if unknown:
        raise ValueError(f"{layers}: committed layer(s) {unknown} are not layers of {model_id} ({model.layer_names})")
    committed = list(dict.fromkeys(layer for ls in regions.values() for layer in ls))

    bases = {}
    components = int(features.get("pca_components") or 0)
    if components > 0:
        if pca_images is None or not len(pca_images):
            raise ValueError("features.pca_components > 0: the export needs the PCA image pool the DAG fits on")
        picked = pca_subset(pca_images, int(features["pca_images"]), seed)
        # fitted exactly as extract_features fits it (same images, steps, seed, batches): the DAG's own basis
        bases = fit_pca_bases(model, picked, committed, components=components,
                              times=presentation["neural_times"], image_off=presentation["neural_image_off"],
                              static=static, batch_size=int(features.get("batch_size", 64)), device=device,
                              seed=seed)

    import torch

    manifest = {
        "format": FORMAT, "identifier": identifier, "model": model_id, "spec": dict(spec),
        "num_classes": int(num_classes), "image_size": int(image_size), "visual_degrees": VISUAL_DEGREES,
        "static": static, "placement": placement if static else "unrolled",
        "presentation": {"step_ms": float(presentation["step_ms"]),
                         "latency_offset_ms": float(presentation["latency_offset_ms"]),
                         "image_off": int(presentation["neural_image_off"]),
                         "neural_times": int(presentation["neural_times"])},
        "regions": regions, "pca_components": components, "pca_layers": sorted(bases),
        "versions": {"convrnn": _version(), "torch": torch.__version__},
        "source": {**(source or {}), "weights_sha1": _sha1(weights)},
    }
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)            # mkdtemp's 0700 would keep the finished plugin from other users
    try:
        shutil.copyfile(weights, tmp / WEIGHTS)
        if bases:
            save_tensors({k: v for layer, (mean, comps, ev) in bases.items() for k, v in (
                (f"{layer}/mean", mean), (f"{layer}/components", comps),
                (f"{layer}/explained_variance", np.array([ev], np.float64)))}, tmp / PCA)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _write_test_images(tmp / TEST_IMAGES, seed)
        # what test.py expects: this code's answer now, checked wherever the plugin runs later; on the CPU, where
        # test.py runs (a GPU's TF32 convolutions would differ by more than its tolerance)
        runtime = ExportedModel(tmp, device="cpu")
        paths = sorted((tmp / TEST_IMAGES).glob("*.png"))
        images = load_image_files(paths, int(image_size))
        save_tensors({region: runtime.record(images, region, TEST_BINS)[0] for region in regions},
                     tmp / TEST_RECORDINGS, metadata={"time_bins": json.dumps(TEST_BINS)})
        _write_code(tmp, identifier, model_id, manifest)
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: Brain-Score plugin %s in %s (regions %s)", model_id, identifier, out_dir, regions)
    return out_dir


def _replace_dir(tmp: Path, target: Path) -> None:
    """Put the finished ``tmp`` at ``target``: an old plugin is moved aside first and removed after the rename, so
    ``target`` is never a half-written directory."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / "dir")
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _sha1(path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("convrnn")
    except PackageNotFoundError:
        return "unknown"


def _write_test_images(folder: Path, seed: int) -> None:
    """A few seeded images (coloured rectangles on noise) the plugin's test.py shows the model."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 25])
    for i in range(N_TEST_IMAGES):
        img = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) // 4 + 96
        y, x = rng.integers(8, 48, 2)
        img[y:y + 40, x:x + 40] = rng.integers(0, 256, 3, dtype=np.uint8)
        Image.fromarray(img).save(folder / f"test{i}.png")


BIBTEX = """@inproceedings{nayebi2018task,
  title={Task-Driven Convolutional Recurrent Models of the Visual System},
  author={Nayebi, Aran and Bear, Daniel and Kubilius, Jonas and Kar, Kohitij and Ganguli, Surya and
          Sussillo, David and DiCarlo, James J and Yamins, Daniel L K},
  booktitle={Advances in Neural Information Processing Systems},
  volume={31},
  year={2018}
}
@article{nayebi2022recurrent,
  title={Recurrent Connections in the Primate Ventral Visual Stream Mediate a Trade-Off Between Task
         Performance and Network Size During Core Object Recognition},
  author={Nayebi, Aran and Sagastuy-Brena, Javier and Bear, Daniel M and Kar, Kohitij and Kubilius, Jonas and
          Ganguli, Surya and Sussillo, David and DiCarlo, James J and Yamins, Daniel L K},
  journal={Neural Computation},
  volume={34},
  number={8},
  pages={1652--1675},
  year={2022}
}"""


def _write_code(folder: Path, identifier: str, model_id: str, manifest: Mapping) -> None:
    """The plugin's Python files, laid out as brainscore_vision's model plugins are. The registration line names the
    identifier literally: brainscore_vision finds a plugin by searching its ``__init__.py`` for
    ``model_registry['<identifier>']``."""
    regions = sorted(manifest["regions"])
    (folder / "__init__.py").write_text(
        f'"""Brain-Score model plugin: {model_id} of a convrnn-repro run (Nayebi et al. ConvRNN zoo), exported by\n'
        f'convrnn.export.brainscore."""\n'
        "from brainscore_vision import model_registry\n\n"
        "from .model import get_model\n\n"
        f"model_registry['{identifier}'] = lambda: get_model('{identifier}')\n")
    (folder / "model.py").write_text(
        f'"""The exported model {identifier}: weights, PCA basis and commitments beside this file ({MANIFEST});\n'
        'the BrainModel is convrnn.export.brainscore_model.ConvRNNBrainModel."""\n'
        "from pathlib import Path\n\n"
        "try:\n"
        "    from convrnn.export.brainscore_model import ConvRNNBrainModel\n"
        "except ModuleNotFoundError as e:  # one line saying what to install, not a traceback into brainscore\n"
        "    raise ModuleNotFoundError(f'{e}: this plugin runs on the convrnn package of convrnn-repro; install it '\n"
        "                              'without its pins: pip install --no-deps <convrnn-repro checkout>') from e\n\n"
        "PLUGIN_DIR = Path(__file__).resolve().parent\n"
        f'BIBTEX = """{BIBTEX}"""\n\n\n'
        "def get_model(identifier: str):\n"
        "    return ConvRNNBrainModel(identifier, PLUGIN_DIR)\n\n\n"
        "def get_bibtex(identifier: str) -> str:\n"
        "    return BIBTEX\n")
    (folder / "test.py").write_text(
        f'"""Plugin tests (brainscore_vision\'s plugin runner runs them with pytest): the model loads through\n'
        f'brainscore_vision, commits {", ".join(regions)}, and answers the test images as it did when exported."""\n'
        "import json\n"
        "from pathlib import Path\n\n"
        "import numpy as np\n"
        "import pytest\n"
        "from safetensors.numpy import load_file, safe_open\n\n"
        "import brainscore_vision\n"
        "from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet\n\n"
        "HERE = Path(__file__).resolve().parent\n"
        f"IDENTIFIER = '{identifier}'\n"
        f"REGIONS = {regions!r}\n\n\n"
        "def _stimuli():\n"
        f"    paths = sorted((HERE / '{TEST_IMAGES}').glob('*.png'))\n"
        "    stimuli = StimulusSet({'stimulus_id': [p.stem for p in paths], 'image_label': ['a'] * len(paths)})\n"
        "    stimuli.stimulus_paths = {p.stem: p for p in paths}\n"
        f"    stimuli.identifier = '{identifier}-test-images'\n"
        "    return stimuli\n\n\n"
        "def test_identifier_and_visual_degrees():\n"
        "    model = brainscore_vision.load_model(IDENTIFIER)\n"
        "    assert model.identifier == IDENTIFIER\n"
        f"    assert model.visual_degrees() == {VISUAL_DEGREES}\n\n\n"
        "@pytest.mark.parametrize('region', REGIONS)\n"
        "def test_recordings_as_exported(region):\n"
        f"    with safe_open(str(HERE / '{TEST_RECORDINGS}'), 'np') as f:\n"
        "        bins = [tuple(b) for b in json.loads(f.metadata()['time_bins'])]\n"
        f"    expected = load_file(str(HERE / '{TEST_RECORDINGS}'))[region]          # (images, bins, neuroids)\n"
        "    model = brainscore_vision.load_model(IDENTIFIER)\n"
        "    model.start_recording(region, time_bins=bins)\n"
        "    stimuli = _stimuli()\n"
        "    recordings = model.look_at(stimuli)\n"
        "    assert recordings.dims == ('presentation', 'neuroid', 'time_bin')\n"
        "    assert list(recordings['stimulus_id'].values) == list(stimuli['stimulus_id'])\n"
        "    assert list(recordings['image_label'].values) == ['a'] * len(stimuli)   # the stimulus set's columns\n"
        "    starts, ends = recordings['time_bin_start'].values, recordings['time_bin_end'].values\n"
        "    assert [tuple(b) for b in zip(starts, ends)] == bins\n"
        "    np.testing.assert_allclose(recordings.transpose('presentation', 'time_bin', 'neuroid').values, expected,\n"
        "                               rtol=1e-4, atol=1e-5)\n\n\n"
        "def test_uncommitted_region_is_refused():\n"
        "    model = brainscore_vision.load_model(IDENTIFIER)\n"
        "    with pytest.raises(ValueError, match='V1'):\n"
        "        model.start_recording('V1', time_bins=[(70, 170)])\n")
    (folder / "requirements.txt").write_text(
        "# The model code is the convrnn package (convrnn-repro). Install it without its own pins, which\n"
        "# conflict with brainscore-vision's (xarray, numpy): pip install --no-deps <convrnn-repro checkout>.\n"
        "# What it needs here:\n"
        "torch\nsafetensors\nnumpy\npandas\npyarrow\npillow\n")
