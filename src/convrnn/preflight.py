"""Every check of the workflow config that can run before any job (``snakemake -n`` included).

The JSON schema checks types and ranges; the semantic checks below check what only the code knows: model names,
build overrides (each configured model is built on torch's ``meta`` device, which allocates nothing and takes
milliseconds), layer names asked for by ``features.layers`` and ``behavior.layer``, the training blocks each job
would get (``TrainConfig``), a search space mapping, Brain-Score identifiers. Errors are ``ConfigError``s that name
the config field.

That code imports torch, whose import is most of a dry run's time. So its answers are cached in a JSON file keyed on
a digest of the sources that give them and of torch's version: only the first parse after a change to that code
pays the import.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from convrnn.data.brainscore_catalog import check_time_bins
from convrnn.workflow import SEARCH_PREFIX, ConfigError, brainscore_filename, num_classes, training_config

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
READOUT = "imnetds"  # the ConvRNNs' readout node: recordable, but no candidate for a cortical area


def _field(path) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def validate_config(config: dict, schema_path: str | os.PathLike = SCHEMA, cache_dir: str | os.PathLike | None = None
                    ) -> dict:
    """Validate ``config`` in place against the JSON schema plus semantic checks; fill schema defaults.

    Raises ConfigError naming the offending field (e.g. ``training.epochs``). ``cache_dir``: where to keep the zoo's
    answers between calls (the Snakefile uses ``.snakemake/``; None: ask the zoo every time).
    """
    import jsonschema

    # libyaml when present: the pure-Python loader spends ~0.1 s of every dry run on this schema
    schema = yaml.load(Path(schema_path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        lines = [f"config field '{_field(e.absolute_path)}': {e.message}" for e in errors[:10]]
        raise ConfigError("\n  ".join(lines))
    _fill_defaults(config, schema)

    search = config["search"]
    if search["enabled"]:
        for key in ("base_arch", "n_workers", "trials_per_worker", "top_k", "trial_training"):
            if key not in search:
                raise ConfigError(f"config field 'search.{key}': required when search.enabled is true")
        for sel in search.get("train_selected", []):
            if sel.startswith("top") and int(sel[3:]) > search["top_k"]:
                raise ConfigError(f"config field 'search.train_selected': {sel!r} exceeds search.top_k={search['top_k']}")
    pres = config["presentation"]
    if pres["neural_image_off"] > pres["neural_times"]:
        raise ConfigError("config field 'presentation.neural_image_off': must be <= presentation.neural_times")
    _check_neural_bins(config)
    _check_brainscore(config)
    check_time_bins(config)
    _check_pretrained(config)
    for model_id in config["models"]:
        if model_id.startswith(SEARCH_PREFIX):
            raise ConfigError(f"config field 'models.{model_id}': ids starting with '{SEARCH_PREFIX}' are reserved for searched models")
    space = search.get("space", "default") if search["enabled"] else "default"
    if isinstance(space, str) and space != "default":
        raise ConfigError(f"config field 'search.space': 'default' or a mapping (docs/search.md), got {space!r}")
    n_classes = num_classes(config)
    trainings = _training_blocks(config)
    questions = [("model", arch, overrides, n_classes) for arch, overrides in _model_specs(config).values()]
    questions += [("training", t) for t in trainings.values()]
    questions += [("space", space)] if isinstance(space, Mapping) else []
    zoo = zoo_facts(questions, cache_dir)
    _check_models(config, zoo)
    for where, training in trainings.items():
        if "error" in zoo.answer("training", training):
            raise ConfigError(f"config field '{where}': {zoo.answer('training', training)['error']}")
    if isinstance(space, Mapping) and "error" in zoo.answer("space", space):
        raise ConfigError(f"config field 'search.space': {zoo.answer('space', space)['error']}")
    return config


def _check_neural_bins(config: Mapping) -> None:
    """Synthetic data: the simulated bins [t_start + k bin, ...) must each be one model step's interval
    [t step + offset, (t+1) step + offset) ms (the same rule convrnn.neural.scoring.check_bins_pair applies to
    real data when neural_fit starts), and some must lie within the model's steps."""
    syn, pres = config["data"].get("synthetic_neural"), config["presentation"]
    if config["data"]["source"] != "synthetic" or not syn or config["neural"].get("pairing") != "matched":
        return
    step, offset, t0 = pres["step_ms"], pres["latency_offset_ms"], syn.get("t_start_ms", 0)
    if syn.get("bin_ms", 10) != step or (t0 - offset) % step:
        raise ConfigError(
            f"config field 'data.synthetic_neural.bin_ms': bins start at t_start_ms={t0} ms every bin_ms="
            f"{syn.get('bin_ms', 10)} ms, but model steps are [t*{step} + {offset}, (t+1)*{step} + {offset}) ms "
            "(presentation.step_ms, presentation.latency_offset_ms); each bin must be one step's interval")
    if syn.get("t_stop_ms", 200) <= offset or t0 >= offset + pres["neural_times"] * step:
        raise ConfigError(
            f"config field 'data.synthetic_neural.t_start_ms': no bin of [{t0}, {syn.get('t_stop_ms', 200)}) ms lies "
            f"within the model's steps [{offset}, {offset + pres['neural_times'] * step}) ms")


# Brain-Score identifiers in the config and the catalog files each one needs.
BRAINSCORE_FILES = {"neural_assembly": ["assembly"], "behavior_assembly": ["assembly"],
                    "stimulus_set": ["csv", "zip"], "behavior_stimulus_set": ["csv", "zip"]}


def _check_pretrained(config: Mapping) -> None:
    """``models.<id>.pretrained``: only released checkpoints exist, at their own number of classes."""
    from convrnn.data.pretrained_catalog import NUM_CLASSES, RELEASED

    for model_id, spec in config["models"].items():
        if not spec.get("pretrained"):
            continue
        if spec["arch"] not in RELEASED:
            raise ConfigError(f"config field 'models.{model_id}.pretrained': no released checkpoint for arch "
                              f"{spec['arch']!r}; released: {list(RELEASED)}")
        if num_classes(config) != NUM_CLASSES:
            raise ConfigError(f"config field 'models.{model_id}.pretrained': released readouts have {NUM_CLASSES} "
                              f"classes, this config's task has {num_classes(config)} (pretrained needs real data)")


def _check_brainscore(config: Mapping) -> None:
    """Real data: every identifier must be in the catalog (the rules derive their download paths from it)."""
    if config["data"]["source"] != "real":
        return
    bs = config["data"]["brainscore"]
    for key, kinds in BRAINSCORE_FILES.items():
        for kind in kinds if key in bs else []:
            brainscore_filename(bs[key], kind, field=f"data.brainscore.{key}")


def _fill_defaults(node: Any, schema: Mapping) -> None:
    if not isinstance(node, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = json.loads(json.dumps(sub["default"]))
        if key in node:
            _fill_defaults(node[key], sub)


# --- models ----------------------------------------------------------------------------------------------------------

def _model_specs(config: Mapping) -> dict[str, tuple[str, dict]]:
    """Config field of each model the DAG builds -> (arch, overrides). Searched models: the base, before the trials'
    own overrides (those come from the search space)."""
    size = config["data"]["image_size"]
    specs = {f"models.{m}": (s["arch"], {"image_size": size, **(s.get("overrides") or {})})
             for m, s in config["models"].items()}
    search = config["search"]
    if search["enabled"]:
        specs["search"] = (search["base_arch"],
                           {"image_size": search.get("image_size") or size, **(search.get("overrides") or {})})
    return specs


def _training_blocks(config: Mapping) -> dict[str, dict]:
    """Config field to name -> the training config a job would get (global block plus a model's own changes)."""
    blocks = {"training": dict(config["training"])}
    for model_id, spec in config["models"].items():
        if spec.get("training"):
            blocks[f"models.{model_id}.training"] = training_config(config, model_id)
    if config["search"]["enabled"]:
        blocks["search.trial_training"] = dict(config["search"]["trial_training"])
    return blocks


def _check_models(config: Mapping, zoo: "ZooFacts") -> None:
    layers_of = {}
    for where, (arch, overrides) in _model_specs(config).items():
        arch_field = "search.base_arch" if where == "search" else f"{where}.arch"
        if arch not in zoo.names:
            raise ConfigError(f"config field '{arch_field}': unknown model {arch!r}; choose one of {zoo.names}")
        built = zoo.answer("model", arch, overrides, num_classes(config))
        if "error" in built:
            raise ConfigError(f"config field '{where}.overrides': {arch} cannot be built with {overrides}: {built['error']}")
        layers_of[where] = built["layers"]

    wanted = config["features"].get("layers", "all")
    if isinstance(wanted, str) and wanted != "all":
        raise ConfigError(f"config field 'features.layers': 'all' or a list of layer names, got {wanted!r}")
    for layer in [] if wanted == "all" else wanted:
        lacking = [w for w, layers in layers_of.items() if layer not in layers]
        if lacking:
            raise ConfigError(f"config field 'features.layers': {layer!r} is not a layer of {', '.join(lacking)} "
                              f"(layers: {layers_of[lacking[0]]})")
    behavior_layer = config["behavior"].get("layer", "top")
    for where, layers in layers_of.items():
        recorded = layers if wanted == "all" else [l for l in layers if l in wanted]
        if behavior_layer == "top" and not [l for l in recorded if l != READOUT]:
            raise ConfigError(f"config field 'behavior.layer': 'top' needs a recorded layer other than the readout; "
                              f"features.layers records only {recorded} of {where}")
        if behavior_layer != "top" and behavior_layer not in recorded:
            raise ConfigError(f"config field 'behavior.layer': {behavior_layer!r} is not a recorded layer of {where} "
                              f"(recorded: {recorded})")


class ZooFacts:
    """The code's answers to the questions only it can answer, from a cache file or, for what it lacks, from the
    code itself. Questions: ``("model", arch, overrides, n_classes)`` -> ``{"layers": [...]}``;
    ``("space", mapping)`` and ``("training", mapping)`` -> ``{}``; any of them -> ``{"error": message}``."""

    def __init__(self, names: Iterable[str], answers: Mapping[str, dict] | None = None):
        self.names = sorted(names)
        self.answers = dict(answers or {})

    @staticmethod
    def key(question: tuple) -> str:
        return json.dumps(question, sort_keys=True, default=str)

    def answer(self, *question) -> dict:
        return self.answers[self.key(question)]


def zoo_facts(questions: Iterable[tuple], cache_dir: str | os.PathLike | None) -> ZooFacts:
    cache = Path(cache_dir) / f"zoo-{_zoo_digest(cache_dir)}.json" if cache_dir is not None else None
    facts = ZooFacts([])
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        facts = ZooFacts(stored["names"], stored["answers"])
    missing = {ZooFacts.key(q): q for q in questions if ZooFacts.key(q) not in facts.answers}
    if facts.names and not missing:
        return facts
    facts = _ask_code(facts, missing.values())
    if cache is not None:
        _store(cache, facts)
    return facts


def _ask_code(facts: ZooFacts, questions: Iterable[tuple]) -> ZooFacts:
    import torch

    from convrnn.models import build, names
    from convrnn.search.space import SearchSpace
    from convrnn.training.config import TrainConfig

    zoo_names = names()
    answers = dict(facts.answers)
    for q in questions:
        kind, *args = q
        if kind == "model" and args[0] not in zoo_names:
            continue  # reported as an unknown arch
        try:
            if kind == "model":
                arch, overrides, n_classes = args
                with torch.device("meta"):  # allocates nothing: a build costs milliseconds
                    model = build(arch, **{"num_classes": n_classes, **overrides})
                answer = {"layers": list(model.layer_names)}
            elif kind == "space":
                SearchSpace.from_config(args[0])
                answer = {}
            else:
                TrainConfig.from_dict(args[0])
                answer = {}
        except Exception as e:  # noqa: BLE001 - any failure is a config error of this value
            answer = {"error": f"{type(e).__name__}: {e}" if kind == "model" else str(e)}
        answers[ZooFacts.key(q)] = answer
    return ZooFacts(zoo_names, answers)


def _store(cache: Path, facts: ZooFacts) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    for old in cache.parent.glob("zoo-*.json"):
        if old != cache:
            old.unlink(missing_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"names": facts.names, "answers": facts.answers}, sort_keys=True))
    os.replace(tmp, cache)


def _zoo_digest(cache_dir: str | os.PathLike | None = None) -> str:
    """Digest of what decides the answers: the sources that build models and check search spaces and training
    blocks, and torch's version."""
    from convrnn.code_deps import code_index, package_root

    src_root = package_root()
    h = hashlib.sha1(metadata.version("torch").encode())
    index = code_index(cache_dir=cache_dir)
    files = index.files_for_import("convrnn.models", ("build", "names"))
    files += index.files_for_import("convrnn.search.space", ("SearchSpace",))
    files += index.files_for_import("convrnn.training.config", ("TrainConfig",))
    for f in sorted(set(files)):
        h.update(str(f.relative_to(src_root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]
