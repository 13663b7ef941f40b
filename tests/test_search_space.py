"""Search space: config round-trip, validation errors that name the key, sampling."""
import optuna
import pytest

from convrnn.search import SearchSpace, default_space

SMALL = {
    "tau_filter_size": {"type": "int", "low": 1, "high": 7, "step": 2, "log": False},
    "tau_offset": {"type": "float", "low": 0.25, "high": 1.5, "log": False},
    "tau_multiplier": {"type": "tied", "to": "tau_offset", "scale": -1.0},
    "gate_nonlinearity": {"type": "categorical", "choices": ["sigmoid", "tanh"]},
    "input_to_cell": {"type": "fixed", "value": True},
    "edges": {"candidate_edges": [["conv5", "conv3"], ["conv4", "conv3"], ["conv5", "conv4"]], "p_edge": [0.5, 1.0, 0.0]},
}


@pytest.mark.parametrize("backbone", ["shallow", "intermediate"])
def test_round_trip(backbone):
    space = default_space(backbone)
    assert SearchSpace.from_config(space.to_config()) == space
    assert SearchSpace.from_config(SMALL).to_config() == SMALL


def test_default_space_contains_the_paper_median_edges():
    edges = set(default_space("intermediate").candidate_edges)
    assert {("conv8", "conv5"), ("conv9", "conv6"), ("conv10", "conv7"), ("conv7", "conv6"), ("conv10", "conv9")} <= edges
    assert all(int(s[4:]) > int(d[4:]) for s, d in edges)  # top-down only
    assert set(default_space("shallow").candidate_edges) == {("conv4", "conv3"), ("conv5", "conv4"), ("conv5", "conv3")}


def _bad(path, **change):
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in SMALL.items()}
    d[path].update(change)
    return d


@pytest.mark.parametrize("config, message", [
    (_bad("tau_filter_size", low=5, high=3), "search.space.tau_filter_size.low must be <= high"),
    (_bad("tau_filter_size", low=1.5), "search.space.tau_filter_size.low must be a finite integer"),
    (_bad("tau_filter_size", step=0), "search.space.tau_filter_size.step"),
    (_bad("tau_offset", log=True, low=0.0), "search.space.tau_offset.low must be > 0"),
    (_bad("tau_offset", type="gaussian"), "search.space.tau_offset.type must be one of"),
    (_bad("tau_offset", choices=[1]), "search.space.tau_offset: unknown key(s) ['choices']"),
    (_bad("gate_nonlinearity", choices=[]), "search.space.gate_nonlinearity.choices must be a non-empty list"),
    (_bad("gate_nonlinearity", choices=["tanh", "tanh"]), "search.space.gate_nonlinearity.choices has duplicates"),
    (_bad("input_to_cell", value=None), "search.space.input_to_cell.value"),
    (_bad("tau_multiplier", to="gate_nonlinearity"), "search.space.tau_multiplier.to must name a numeric"),
    ({**SMALL, "tau_filtersize": {"type": "fixed", "value": 3}}, "search.space.tau_filtersize: unknown cell hyperparameter"),
    ({**SMALL, "edges": {"candidate_edges": [["conv5"]]}}, "search.space.edges.candidate_edges[0] must be a [src, dst] pair"),
    ({**SMALL, "edges": {"candidate_edges": [["conv5", "conv3"], ["conv5", "conv3"]]}}, "candidate_edges[1] duplicates"),
    ({**SMALL, "edges": {"candidate_edges": [["conv5", "conv3"]], "p_edge": 1.5}}, "search.space.edges.p_edge must be a probability"),
    ({**SMALL, "edges": {"candidate_edges": [["conv5", "conv3"]], "p_edge": [0.5, 0.5]}}, "p_edge has 2 entries for 1"),
])
def test_bad_specs_name_the_key(config, message):
    with pytest.raises(ValueError) as err:
        SearchSpace.from_config(config)
    assert message in str(err.value)


def test_sample_respects_specs_ties_and_edge_priors():
    space = SearchSpace.from_config(SMALL)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen_filters = set()
    for _ in range(30):
        trial = study.ask()
        cell, edges = space.sample(trial)
        study.tell(trial, 0.0)
        assert list(cell) == ["tau_filter_size", "tau_offset", "tau_multiplier", "gate_nonlinearity", "input_to_cell"]
        assert cell["tau_multiplier"] == -cell["tau_offset"] and 0.25 <= cell["tau_offset"] <= 1.5
        assert cell["input_to_cell"] is True and cell["gate_nonlinearity"] in ("sigmoid", "tanh")
        seen_filters.add(cell["tau_filter_size"])
        assert ["conv4", "conv3"] in edges and ["conv5", "conv4"] not in edges  # p = 1 and p = 0
        # only the uncertain edge is a search parameter
        assert set(trial.params) == {"tau_filter_size", "tau_offset", "gate_nonlinearity", "edge_conv5_conv3"}
    assert seen_filters == {1, 3, 5, 7}


def test_docs_show_the_default_space():
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[1] / "docs" / "search.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    assert yaml.safe_load(block)["search"]["space"] == default_space("intermediate").to_config()
