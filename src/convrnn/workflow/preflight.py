"""Every check of the workflow config that can run before any job (``snakemake -n`` included).

The JSON schema checks types and ranges; the semantic checks below check what only the code knows: model names,
build overrides (each configured model is built on torch's ``meta`` device, which allocates nothing and takes
milliseconds; a pretrained one must keep the released parameters), layer names asked for by ``features.layers``
(and enough of them for ``presentation.graded_layers``), the training blocks each job would get (``TrainConfig``),
the search (its base arch built at every end of its space), Brain-Score identifiers, and the sizes the jobs depend on: batches against the training
set, loss steps against the unroll, enough late-training records for the dynamics fit, what the stimulus generator
and the neural simulator accept, images per object for the neural splits. No number may be NaN or infinite.
Errors are ``ConfigError``s that name the config field. What the config points at on disk: ``preflight_files``.

That code imports torch, whose import is most of a dry run's time. So its answers are cached in a JSON file keyed on
a digest of the sources that give them and of torch's version: only the first parse after a change to that code
pays the import.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from convrnn.data.brainscore_catalog import check_time_bins
from convrnn.data.brainscore_catalog import brainscore_filename
from convrnn.errors import ConfigError
from convrnn.workflow.config import SEARCH_PREFIX, num_classes, training_config

SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"
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
    _check_numbers(config)

    search = config["search"]
    if search["enabled"]:
        for key in ("base_arch", "n_workers", "trials_per_worker", "top_k", "trial_training"):
            if key not in search:
                raise ConfigError(f"config field 'search.{key}': required when search.enabled is true")
        for sel in search.get("train_selected", []):
            if sel.startswith("top") and int(sel[3:]) > search["top_k"]:
                raise ConfigError(f"config field 'search.train_selected': {sel!r} exceeds search.top_k={search['top_k']}")
        _check_search_settings(search)
    pres = config["presentation"]
    if pres["neural_image_off"] > pres["neural_times"]:
        raise ConfigError("config field 'presentation.neural_image_off': must be <= presentation.neural_times")
    _check_neural_bins(config)
    _check_neural_settings(config)
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
    specs = _model_specs(config)
    questions = [("model", arch, overrides, n_classes) for arch, overrides in specs.values()]
    questions += [("model", *_released_spec(config, m), n_classes) for m in _pretrained_ids(config)]
    questions += [("training", t) for t in trainings.values()]
    questions += [("space", space)] if isinstance(space, Mapping) else []
    questions += [("search", *specs["search"], n_classes, space)] if search["enabled"] else []
    questions += list(_data_questions(config).values())
    zoo = zoo_facts(questions, cache_dir)
    _check_data(config, zoo)
    _check_models(config, zoo)
    for where, training in trainings.items():
        if "error" in zoo.answer("training", training):
            raise ConfigError(f"config field '{where}': {zoo.answer('training', training)['error']}")
    if isinstance(space, Mapping) and "error" in zoo.answer("space", space):
        raise ConfigError(f"config field 'search.space': {zoo.answer('space', space)['error']}")
    if search["enabled"] and "error" in zoo.answer("search", *specs["search"], n_classes, space):
        found = zoo.answer("search", *specs["search"], n_classes, space)
        raise ConfigError(f"config field '{found.get('field', 'search.space')}': {found['error']}")
    _check_pretrained_overrides(config, zoo)
    _check_run_lengths(config, zoo)
    return config


# --- values ----------------------------------------------------------------------------------------------------------

def _check_numbers(node: Any, path: tuple = ()) -> None:
    """``.nan`` and ``.inf`` are YAML floats that pass every schema bound (any comparison with NaN is false)."""
    if isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"config field '{_field(path)}': {node} is not a finite number")
    if isinstance(node, Mapping):
        for key, value in node.items():
            _check_numbers(value, (*path, key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _check_numbers(value, (*path, i))


# --- search ----------------------------------------------------------------------------------------------------------

def _check_search_settings(search: Mapping) -> None:
    total = search["n_workers"] * search["trials_per_worker"]
    if search["top_k"] > total:
        raise ConfigError(f"config field 'search.top_k': selects {search['top_k']} architectures from a search of "
                          f"{total} trials (search.n_workers x search.trials_per_worker)")
    sampled = sorted({"cell", "edges"} & set(search.get("overrides") or {}))
    if sampled:
        raise ConfigError(f"config field 'search.overrides': {sampled} are what the search samples: give their "
                          "ranges and candidate edges in search.space (docs/search.md), not fixed overrides")


def _search_backbone(base_arch: str) -> str:
    """The backbone whose default space the search uses (as workflow/scripts/search_worker.py picks it)."""
    return "intermediate" if "intermediate" in base_arch else "shallow"


def _space_points(space) -> list[tuple[dict, list]]:
    """One-change variants of the base architecture that together cover a search space's ends: each parameter at
    its low end, its high end and every choice (a tied one with its reference), each candidate edge alone. A
    sampled trial combines them, and some combinations may fail as trials do; a value that fails on its own would
    fail every trial that draws it."""
    points = []
    for name, p in space.params.items():
        if p.type in ("int", "float"):
            values = [p.low, p.high - ((p.high - p.low) % p.step if p.type == "int" else 0)]
        else:
            values = list(p.choices) if p.type == "categorical" else [p.value] if p.type == "fixed" else []
        for v in values:
            tied = {n: q.scale * v for n, q in space.params.items() if q.type == "tied" and q.to == name}
            points.append(({name: v, **tied}, []))
    return points + [({}, [list(e)]) for e in space.candidate_edges]


# --- data sizes and counts -------------------------------------------------------------------------------------------

STIMULUS_SETS = ("train", "val", "neural")
#: ILSVRC2012 training images: the task set whenever data.imagenet.require_complete holds.
IMAGENET_TRAIN_IMAGES = 1_281_167
#: Brain-Score's neural splits: StratifiedShuffleSplit by object, train_size 0.9 (convrnn.neural.splits).
BRAINSCORE_TRAIN_SIZE = 0.9


def _set_size(stimuli: Mapping, name: str) -> int:
    per_object = sum(stimuli[f"{name}_images_per_object"].values())
    return stimuli["n_categories"] * stimuli["objects_per_category"] * per_object


def _data_questions(config: Mapping) -> dict[str, tuple]:
    """Synthetic data: config block -> the question that checks what the generator or the simulator makes of it."""
    data = config["data"]
    if data["source"] != "synthetic":
        return {}
    stimuli = data["stimuli"]
    out = {f"data.stimuli.{name}_images_per_object": (
        "stimuli", stimuli["n_categories"], stimuli["objects_per_category"], stimuli[f"{name}_images_per_object"],
        data["image_size"]) for name in STIMULUS_SETS}
    return out | {"data.synthetic_neural": ("synthetic", data.get("synthetic_neural") or {}, data["image_size"])}


def _data_field(block: str, message: str) -> str:
    """The config field an error of the generator or the simulator is about: its messages start with the argument."""
    arg = re.match(r"\w+", message).group(0)
    if arg == "image_size":
        return "data.image_size"
    if block == "data.synthetic_neural":
        return f"{block}.{arg}"
    return block if arg == "images_per_object" else f"data.stimuli.{arg}"


def _check_data(config: Mapping, zoo: "ZooFacts") -> None:
    """What the stimulus generator and the neural simulator accept, and the sizes the neural splits need."""
    for block, question in _data_questions(config).items():
        found = zoo.answer(*question)
        if "error" in found:
            raise ConfigError(f"config field '{_data_field(block, found['error'])}': {found['error']}")
    if config["data"]["source"] != "synthetic":
        return
    stimuli = config["data"]["stimuli"]
    n_images, n_objects = _set_size(stimuli, "neural"), stimuli["n_categories"] * stimuli["objects_per_category"]
    per_object = sum(stimuli["neural_images_per_object"].values())
    n_test = n_images - math.floor(BRAINSCORE_TRAIN_SIZE * n_images)
    if config["neural"].get("convention", "brainscore") == "brainscore" and (per_object < 2 or n_test < n_objects):
        raise ConfigError(
            f"config field 'data.stimuli.neural_images_per_object': neural.convention brainscore holds out 10% of the "
            f"{n_images} neural images stratified by object, {n_test} images for {n_objects} objects; every object "
            f"needs a test image (and two images in all): ask for >= 10 images per object over the levels, got "
            f"{per_object}")


def _check_neural_settings(config: Mapping) -> None:
    neural = config["neural"]
    if neural.get("regression") == "span_time" and neural.get("pairing") == "all":
        raise ConfigError("config field 'neural.regression': span_time fits one regression shared by the bins each "
                          "step is matched to, so it needs neural.pairing: matched (pairing all scores every step "
                          "against every bin)")


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
    brainscore_files(config)


def brainscore_files(config: Mapping) -> dict[str, str]:
    """Real data: config field (``data.brainscore.stimulus_set:zip``) -> catalog file name of every Brain-Score file
    the DAG reads; ``{}`` for synthetic data."""
    if config["data"]["source"] != "real":
        return {}
    bs = config["data"]["brainscore"]
    return {f"data.brainscore.{key}" + (f":{kind}" if len(kinds) > 1 else ""):
            brainscore_filename(bs[key], kind, field=f"data.brainscore.{key}")
            for key, kinds in BRAINSCORE_FILES.items() if key in bs for kind in kinds}


def _fill_defaults(node: Any, schema: Mapping) -> None:
    if not isinstance(node, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = json.loads(json.dumps(sub["default"]))
        if key in node:
            _fill_defaults(node[key], sub)


# --- pretrained models -----------------------------------------------------------------------------------------------

def _pretrained_ids(config: Mapping) -> list[str]:
    return [m for m, spec in config["models"].items() if spec.get("pretrained")]


def _released_spec(config: Mapping, model_id: str) -> tuple[str, dict]:
    """(arch, overrides) of the released model a pretrained entry loads: its arch as the zoo builds it."""
    return config["models"][model_id]["arch"], {"image_size": config["data"]["image_size"]}


def _check_pretrained_overrides(config: Mapping, zoo: "ZooFacts") -> None:
    """A released checkpoint only loads into a model with its parameters: no override may change their shapes."""
    n_classes = num_classes(config)
    for model_id in _pretrained_ids(config):
        arch, overrides = _model_specs(config)[f"models.{model_id}"]
        released = zoo.answer("model", *_released_spec(config, model_id), n_classes)
        built = zoo.answer("model", arch, overrides, n_classes)
        if "error" not in released and built.get("params") != released.get("params"):
            changed = sorted(set(overrides) - {"image_size"})
            source = config["models"][model_id]["pretrained"]
            raise ConfigError(f"config field 'models.{model_id}.overrides': {changed} change the parameters of "
                              f"{arch}, so its released checkpoint (pretrained: {source}) cannot be loaded; drop "
                              "them, or train the model instead")


# --- training lengths ------------------------------------------------------------------------------------------------

def _task_images(config: Mapping, trial: bool) -> int | None:
    """Training images a job sees (None: only known once ImageNet is read)."""
    data = config["data"]
    if data["source"] == "synthetic":
        return _set_size(data["stimuli"], "train")
    imagenet = data.get("imagenet") or {}
    if trial and {"subset_classes", "subset_per_class"} <= set(imagenet):
        return imagenet["subset_classes"] * imagenet["subset_per_class"]  # at most: a class may hold fewer
    return IMAGENET_TRAIN_IMAGES if imagenet.get("require_complete") and not trial else None


def _trained_blocks(config: Mapping) -> list[tuple[str, str, dict]]:
    """(model field, training field, training block) of every training job: configured models that are not
    pretrained, the searched models trained after the search, the search trials."""
    out = [(f"models.{m}", f"models.{m}.training" if spec.get("training") else "training", training_config(config, m))
           for m, spec in config["models"].items() if not spec.get("pretrained")]
    search = config["search"]
    if search["enabled"]:
        out += [("search", "training", dict(config["training"]))] if search.get("train_selected") else []
        out.append(("search", "search.trial_training", dict(search["trial_training"])))
    return out


def _check_run_lengths(config: Mapping, zoo: "ZooFacts") -> None:
    """Batches that fit the training set, loss steps within the unroll, and enough late-training records for the
    weight-diffusion fit (convrnn.training.loop, analyze_dynamics)."""
    specs, n_classes = _model_specs(config), num_classes(config)
    for model_field, where, block in _trained_blocks(config):
        trial = where == "search.trial_training"
        who = model_field if model_field != "search" else "each search trial" if trial else "the searched models"
        n_train = _task_images(config, trial)
        batch = block["batch_size"]
        if n_train is not None and batch > n_train:
            raise ConfigError(f"config field '{_own(config, model_field, where, 'batch_size')}': batch_size={batch} "
                              f"is larger than the training set of {who} ({n_train} images)")
        times = zoo.answer("model", *specs[model_field], n_classes).get("times")
        steps = block.get("loss_steps", "readout")
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            if times is not None and not -times <= step < times:
                raise ConfigError(f"config field '{_own(config, model_field, where, 'loss_steps')}': loss_steps[{i}]="
                                  f"{step} is not one of the {times} steps {who} is unrolled for")
        if trial or n_train is None:
            continue  # trials are not analysed; an ImageNet subset's size is known once it is read
        parsed = zoo.answer("training", block)
        if "error" in parsed:
            continue  # reported with the training blocks
        total = block["epochs"] * (n_train // batch)
        total = min(total, block["max_steps"]) if block.get("max_steps") else total
        every, fraction = parsed["record_every_steps"], parsed["reference_fraction"]
        points = (total - round(fraction * total)) // every
        if points < 2:
            field = f"{_own(config, model_field, where, 'dynamics')}.record_every_steps"
            raise ConfigError(
                f"config field '{field}': {who} trains {total} steps and records its weights' distance every {every} "
                f"steps after step {round(fraction * total)} (dynamics.reference_fraction={fraction}): {points} "
                "record(s), where analyze_dynamics needs >= 2; record more often or earlier, or train longer")


def _own(config: Mapping, model_field: str, where: str, key: str) -> str:
    """The field that set ``key`` of a model's training: its own training block if it sets it, else the global one."""
    if where.startswith("models.") and key not in config["models"][model_field.split(".", 1)[1]]["training"]:
        return f"training.{key}"
    return f"{where}.{key}"


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
    layers_of, static_of = {}, {}
    for where, (arch, overrides) in _model_specs(config).items():
        arch_field = "search.base_arch" if where == "search" else f"{where}.arch"
        if arch not in zoo.names:
            raise ConfigError(f"config field '{arch_field}': unknown model {arch!r}; choose one of {zoo.names}")
        built = zoo.answer("model", arch, overrides, num_classes(config))
        if "error" in built:
            raise ConfigError(f"config field '{where}.overrides': {arch} cannot be built with {overrides}: {built['error']}")
        layers_of[where] = built["layers"]
        static_of[where] = built.get("static", False)

    wanted = config["features"].get("layers", "all")
    if isinstance(wanted, str) and wanted != "all":
        raise ConfigError(f"config field 'features.layers': 'all' or a list of layer names, got {wanted!r}")
    for layer in [] if wanted == "all" else wanted:
        lacking = [w for w, layers in layers_of.items() if layer not in layers]
        if lacking:
            raise ConfigError(f"config field 'features.layers': {layer!r} is not a layer of {', '.join(lacking)} "
                              f"(layers: {layers_of[lacking[0]]})")
    for where, layers in layers_of.items():
        recorded = layers if wanted == "all" else [l for l in layers if l in wanted]
        if not [l for l in recorded if l != READOUT]:
            raise ConfigError(f"config field 'features.layers': the neural fits and the OST decoder need a recorded "
                              f"layer other than the readout; it records only {recorded} of {where}")
    graded = config["presentation"]["graded_layers"]
    for where, layers in layers_of.items():
        recorded = [l for l in (layers if wanted == "all" else [l for l in layers if l in wanted]) if l != READOUT]
        if static_of[where] and config["presentation"]["feedforward"] == "graded" and graded > len(recorded):
            raise ConfigError(f"config field 'presentation.graded_layers': {graded} preferred layers, but {where} "
                              f"records only {len(recorded)} ({recorded})")


class ZooFacts:
    """The code's answers to the questions only it can answer, from a cache file or, for what it lacks, from the
    code itself. Questions: ``("model", arch, overrides, n_classes)`` -> ``{"layers": [...], "times": T,
    "params": digest of the parameter names and shapes}``; ``("training", mapping)`` -> its dynamics recording
    (``record_every_steps``, ``reference_fraction``); ``("space", mapping)``, ``("search", arch, overrides,
    n_classes, space)`` (the base arch built at the corners of the space), ``("stimuli", n_categories,
    objects_per_category, images_per_object, image_size)`` (the generator's arguments) and ``("synthetic", settings,
    image_size)`` (the simulator's) -> ``{}``; any of them -> ``{"error": message}`` (search: and the ``field``)."""

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

    from convrnn.data.stimuli import check_generator_args
    from convrnn.data.synthetic_neural import check_settings
    from convrnn.models import build, names
    from convrnn.search.space import SearchSpace
    from convrnn.training.config import TrainConfig

    zoo_names = names()
    answers = dict(facts.answers)
    for q in questions:
        kind, *args = q
        if kind in ("model", "search") and args[0] not in zoo_names:
            continue  # reported as an unknown arch
        try:
            if kind == "model":
                arch, overrides, n_classes = args
                with torch.device("meta"):  # allocates nothing: a build costs milliseconds
                    model = build(arch, **{"num_classes": n_classes, **overrides})
                shapes = sorted((name, list(t.shape)) for name, t in model.state_dict().items())
                answer = {"layers": list(model.layer_names), "times": int(model.times),
                          "static": bool(getattr(model, "static", False)),
                          "params": hashlib.sha1(json.dumps(shapes).encode()).hexdigest()}
            elif kind == "search":
                answer = _search_answer(build, SearchSpace, *args)
            elif kind == "space":
                SearchSpace.from_config(args[0])
                answer = {}
            elif kind == "stimuli":
                check_generator_args(*args)
                answer = {}
            elif kind == "synthetic":
                check_settings(image_size=args[1], **args[0])
                answer = {}
            else:
                dynamics = TrainConfig.from_dict(args[0]).dynamics
                answer = {"record_every_steps": dynamics.record_every_steps,
                          "reference_fraction": dynamics.reference_fraction}
        except Exception as e:  # noqa: BLE001 - any failure is a config error of this value
            answer = {"error": f"{type(e).__name__}: {e}" if kind == "model" else str(e)}
        answers[ZooFacts.key(q)] = answer
    return ZooFacts(zoo_names, answers)


def _search_answer(build, search_space, arch: str, overrides: Mapping, n_classes: int, space) -> dict:
    """Whether ``arch`` takes searched cells and feedback edges at all (else: search.base_arch), and at every corner
    of the space (else: search.space). Built on the meta device."""
    import torch

    from convrnn.search.space import default_space

    space = default_space(_search_backbone(arch)) if space == "default" else search_space.from_config(space)
    kwargs = {"num_classes": n_classes, **overrides}
    with torch.device("meta"):
        try:
            build(arch, cell={}, edges=[], **kwargs)
        except ValueError as e:
            return {"field": "search.base_arch", "error": f"{arch} cannot be searched: it takes no searched cell "
                                                           f"hyperparameters or feedback edges ({e})"}
        for cell, edges in _space_points(space):
            try:
                build(arch, cell=cell, edges=edges, **kwargs)
            except ValueError as e:
                return {"field": "search.space", "error": f"a trial of this space would fail: {arch} with cell "
                                                          f"{cell} and edges {edges}: {e}"}
    return {}


def _store(cache: Path, facts: ZooFacts) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    for old in cache.parent.glob("zoo-*.json"):
        if old != cache:
            old.unlink(missing_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"names": facts.names, "answers": facts.answers}, sort_keys=True))
    os.replace(tmp, cache)


def _zoo_digest(cache_dir: str | os.PathLike | None = None) -> str:
    """Digest of what decides the answers: the sources that build models, check search spaces, training blocks and
    the synthetic data's settings, this module (which asks them), and torch's version."""
    from convrnn.workflow.code_deps import code_index, package_root

    src_root = package_root()
    h = hashlib.sha1(metadata.version("torch").encode())
    index = code_index(cache_dir=cache_dir)
    files = index.files_for_import("convrnn.models", ("build", "names"))
    files += index.files_for_import("convrnn.search.space", ("SearchSpace", "default_space"))
    files += index.files_for_import("convrnn.training.config", ("TrainConfig",))
    files += index.files_for_import("convrnn.data.stimuli", ("check_generator_args",))
    files += index.files_for_import("convrnn.data.synthetic_neural", ("check_settings",))
    files.append(Path(__file__).resolve())
    for f in sorted(set(files)):
        h.update(str(f.relative_to(src_root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]
