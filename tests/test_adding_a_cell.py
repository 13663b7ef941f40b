"""docs/models.md, "Adding a cell or an edge set", walked as a new contributor would: a convolutional MGU cell is one
module file in ``src/convrnn/models/cells/`` and nothing else. It gets its zoo names, passes the workflow's preflight,
is counted, trains a step, has its own figure colour, and the workflow's code dependencies (the preflight's cache
key, the rules' inputs) see the new file."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.colors as mcolors
import pytest
import torch
from torch.utils.data import TensorDataset

from convrnn.errors import ConfigError
from convrnn.figures import model_styles
from convrnn.models import CELLS, build, count_params, count_units, names, unregister_cell
from convrnn.training import TrainConfig, fit
from convrnn.workflow.code_deps import CodeIndex
from convrnn.workflow.overlays import load_config
from convrnn.workflow.preflight import validate_config

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

# The whole contribution: src/convrnn/models/cells/mgu.py (minimal gated unit, Zhou et al. 2016, convolutional).
MGU_MODULE = '''"""Convolutional minimal gated unit (MGU)."""
import torch

from .base import GatedCell, register_cell, zero_state


@register_cell("mgu")
class MGUCell(GatedCell):
    """f = sigmoid(conv([x, h])); h~ = tanh(conv([x, f*h])); h' = (1-f)*h + f*h~."""

    defaults = {"out_depth": None, "filter_size": 3}   # channel_keys ("out_depth",): GatedCell's
    state_convs = {"forget": 1, "cand": 1}             # convs over [x, h] with 1 x out_depth maps each

    def forward(self, x, state, res=None, fb=None):
        h = zero_state(x, self.out_ch) if state is None else state
        f = torch.sigmoid(self.forget(torch.cat([x, h], 1)))
        h = (1 - f) * h + f * torch.tanh(self.cand(torch.cat([x, f * h], 1)))
        return h, h
'''
CELL_FILE = "convrnn/models/cells/mgu.py"


@pytest.fixture(scope="module")
def mgu(tmp_path_factory):
    """The module imported as the package would import it (``convrnn.models.cells.mgu``), unregistered afterwards so
    that no other test sees it."""
    path = tmp_path_factory.mktemp("cell") / "mgu.py"
    path.write_text(MGU_MODULE)
    spec = importlib.util.spec_from_file_location("convrnn.models.cells.mgu", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module.MGUCell
    finally:
        if "mgu" in CELLS:
            unregister_cell("mgu")
        sys.modules.pop(spec.name, None)
    assert "mgu_shallow" not in names()


def test_the_cell_is_in_the_zoo_and_passes_the_preflight(mgu):
    assert {"mgu_shallow", "mgu_intermediate"} <= set(names())
    cfg = load_config(REPO / "config/config.yaml")
    cfg["models"]["mgu_m"] = {"arch": "mgu_shallow", "overrides": {"width": 0.125, "times": 8, "image_off": 6}}
    validate_config(cfg, cache_dir=None)
    cfg["models"]["mgu_m"]["overrides"]["cell"] = {"filter_size": 0}
    with pytest.raises(ConfigError, match=r"models\.mgu_m\.overrides.*filter_size must be an int >= 1"):
        validate_config(cfg, cache_dir=None)


def test_the_cell_is_counted_and_placed_as_declared(mgu):
    with torch.device("meta"):
        shallow, ff = build("mgu_shallow"), build("ff_shallow")
        intermediate = build("mgu_intermediate")
    # conv3-5 (256, 256, 512 channels) each gain two 3x3 convs [x, h] (2C) -> C with biases
    cells = sum(2 * (9 * 2 * c * c + c) for c in (256, 256, 512))
    assert count_params(shallow) == count_params(ff) + cells
    assert count_units(shallow, 224) == count_units(ff, 224) == 372_968   # the cell keeps its node's depth
    # the placement a cell gets without declaring one: the reference's plan for its non-RGC cells
    assert [n.spec.act for n in shallow.nodes] == [True, True, False, False, False]
    assert all(n.spec.block and n.spec.act for n in intermediate.nodes[3:]) and not intermediate.spec.edges
    # the block's residual projection (conv4: 64 -> 128 channels) is declared unregularised where the node makes it
    decays = intermediate.weight_decays(1e-4)
    assert decays["nodes.3.proj.weight"] == 0.0 and decays["nodes.3.post.weight"] == decays["nodes.3.cell.cand.weight"]
    # width scales the declared channel key with the nodes
    m = build("mgu_shallow", width=0.5, num_classes=3, image_size=32, cell={"out_depth": 100})
    assert [n.cell.out_ch for n in m.nodes[2:]] == [50, 50, 50] and m.nodes[3].conv.in_channels == 50
    decays = m.weight_decays(1e-4)
    assert decays["nodes.2.cell.forget.weight"] == decays["nodes.2.cell.cand.bias"] == 1e-4


def test_the_cell_trains_one_step(mgu, tmp_path):
    torch.manual_seed(0)
    # 7 steps: the image reaches conv5 (node 5) at t=4, the readout at t=5
    model = build("mgu_shallow", width=0.0625, num_classes=4, times=7, image_off=7, image_size=16)
    before = {k: v.clone() for k, v in model.state_dict().items() if ".cell." in k}
    data = TensorDataset(torch.randn(16, 3, 16, 16), torch.arange(16) % 4)
    cfg = TrainConfig.from_dict({"epochs": 1, "batch_size": 8, "max_steps": 1, "lr": 0.1, "device": "cpu",
                                 "seed": 0})
    result = fit(model, data, data, cfg, tmp_path)
    assert result["steps"] == 1 and not result["diverged"]
    after = model.state_dict()
    unchanged = [k for k in before if k.endswith("weight") and torch.equal(before[k], after[k])]
    assert not unchanged, f"cell convs that did not learn: {unchanged}"


def test_the_cell_gets_its_own_figure_colour(mgu):
    families = ["rgc", "ugrnn", "gru", "lstm", "intersectionrnn", "simplernn", "timedecay", "mgu"]
    arches = {f"{f}_m": f"{f}_shallow" for f in families} | {"ff": "ff_shallow", "r18": "resnet18"}
    styles = model_styles(arches)
    colour = styles["mgu_m"]["color"]
    assert styles["mgu_m"]["family"] == "mgu"
    r, g, b = colour
    assert max(r, g, b) - min(r, g, b) > 0.2, f"{colour} is a grey"
    others = [mcolors.to_hex(s["color"]) for m, s in styles.items() if m != "mgu_m"]
    assert mcolors.to_hex(colour) not in others


def test_a_new_cell_module_is_one_file_the_workflow_sees(tmp_path):
    """A copy of the package with the module added: the zoo has the cell (nothing else was edited), and the code
    dependencies of model building (the preflight's cache key, the rules that build models) include the new file."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "src/convrnn", src / "convrnn", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(src)}
    ask = ("import json; from convrnn.workflow.preflight import _zoo_digest; out = {'digest': _zoo_digest()}\n"
           "if 'names' in __import__('sys').argv:\n"
           "    from convrnn.models import names; out['names'] = names()\n"
           "print(json.dumps(out))")
    run = lambda *a: json.loads(subprocess.run([sys.executable, "-c", ask, *a], env=env, capture_output=True,
                                               text=True, check=True).stdout)
    before = run()
    (src / CELL_FILE).write_text(MGU_MODULE)
    after = run("names")
    assert {"mgu_shallow", "mgu_intermediate"} <= set(after["names"])
    assert after["digest"] != before["digest"]   # the preflight's cached answers are asked again
    rel = lambda paths: {str(p.relative_to(src)) for p in paths}
    index = CodeIndex(src)
    assert CELL_FILE in rel(index.files_for_import("convrnn.models", ("build", "names")))
    for script in ("train_model", "extract_features"):
        assert CELL_FILE in rel(index.files_for_script(REPO / "workflow/scripts" / f"{script}.py")), script


def test_code_index_counts_a_package_importing_its_modules_by_name_as_all_of_them(tmp_path):
    """A package whose ``__init__`` imports its modules by computed name (as ``models/cells`` does) cannot be traced
    statically: importing it counts every module of it, also one added later; a package that only imports by name
    inside a function nobody calls at import stays precise."""
    pkg = tmp_path / "src" / "convrnn"
    (pkg / "plugins").mkdir(parents=True)
    (pkg / "quiet").mkdir()
    files = {"__init__.py": "",
             "plugins/__init__.py": "import importlib\nimport pkgutil\nfrom .base import REGISTRY\n"
                                    "def _load():\n    for m in pkgutil.iter_modules(__path__):\n"
                                    "        importlib.import_module(f'{__name__}.{m.name}')\n_load()\n",
             "plugins/base.py": "REGISTRY = {}\n", "plugins/a.py": "from .base import REGISTRY\nREGISTRY['a'] = 1\n",
             "quiet/__init__.py": "import importlib\nfrom .base import f\n"
                                  "def plugin(name):\n    return importlib.import_module(name)\n",
             "quiet/base.py": "def f():\n    return 1\n", "quiet/other.py": ""}
    for name, text in files.items():
        (pkg / name).write_text(text)
    rel = lambda paths: {str(p.relative_to(pkg)) for p in paths}
    (tmp_path / "s.py").write_text("from convrnn.plugins import REGISTRY\nfrom convrnn.quiet import f\n")
    expected = {"__init__.py", "plugins/__init__.py", "plugins/base.py", "plugins/a.py", "quiet/__init__.py",
                "quiet/base.py"}
    assert rel(CodeIndex(tmp_path / "src").files_for_script(tmp_path / "s.py")) == expected
    (pkg / "plugins/b.py").write_text("")
    assert rel(CodeIndex(tmp_path / "src").files_for_script(tmp_path / "s.py")) == expected | {"plugins/b.py"}
