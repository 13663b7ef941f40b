"""Search worker: TPE beats random on a planted objective, parallel workers share one exact budget,
failures are recorded and survived, and the trials table has one typed column per hyperparameter."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from convrnn.search import SearchSpace, load_space, run_worker, select_architectures, trials_table

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "tau_filter_size": {"type": "int", "low": 1, "high": 7},
    "tau_offset": {"type": "float", "low": 0.25, "high": 1.5},
    "tau_multiplier": {"type": "tied", "to": "tau_offset", "scale": -1.0},
    "gate_offset": {"type": "float", "low": 0.25, "high": 1.5},
    "gate_nonlinearity": {"type": "categorical", "choices": ["sigmoid", "tanh"]},
    "out_residual": {"type": "categorical", "choices": [True, False]},
    "feedback_entry": {"type": "categorical", "choices": ["input", "cell", "out"]},
    "edges": {"candidate_edges": [["conv5", "conv3"], ["conv4", "conv3"], ["conv5", "conv4"]], "p_edge": 0.5},
}


@pytest.fixture
def fast_tmp(tmp_path):
    """The journal fsyncs every write; on a shared disk hundreds of trials take 20 s of I/O wait.
    Use a tmpfs when there is one so the search tests time the search, not the disk."""
    if not os.path.isdir("/dev/shm"):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="convrnn-search-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def planted(trial):
    """Known optimum: tau_filter_size 5, offsets 0.92 / 0.70, tanh gate, bypass on, feedback into 'out',
    edge conv5->conv3 present and conv4->conv3 absent (conv5->conv4 irrelevant). Max = 1.2."""
    c, e = trial["cell"], trial["edges"]
    v = -((c["tau_offset"] - 0.92) / 1.25) ** 2 - ((c["gate_offset"] - 0.70) / 1.25) ** 2
    v -= ((c["tau_filter_size"] - 5) / 6) ** 2
    v += 0.3 * (c["gate_nonlinearity"] == "tanh") + 0.3 * c["out_residual"] + 0.3 * (c["feedback_entry"] == "out")
    return v + 0.3 * (["conv5", "conv3"] in e) - 0.3 * (["conv4", "conv3"] in e)


def test_tpe_beats_random_and_recovers_the_planted_optimum(fast_tmp):
    space = SearchSpace.from_config(SPACE)
    best, late, tables = {}, {}, {}
    for sampler in ("tpe", "random"):
        for seed in range(3):
            path = fast_tmp / f"{sampler}{seed}.journal"
            run_worker(space, planted, path, "p", n_trials=40, seed=seed, sampler=sampler, n_startup_trials=10)
            df = trials_table(path, "p")
            assert list(df["number"]) == list(range(40)) and (df["state"] == "COMPLETE").all()
            best.setdefault(sampler, []).append(df["value"].max())
            late.setdefault(sampler, []).append(df["value"].iloc[20:].mean())  # after TPE's start-up
            tables[sampler, seed] = df
    assert np.mean(best["tpe"]) > np.mean(best["random"])
    assert np.mean(late["tpe"]) > np.mean(late["random"]) + 0.3
    # Random start-up trials are identical for both samplers with the same seed (same per-trial seeds)...
    assert tables["tpe", 0]["value"].iloc[:10].tolist() == tables["random", 0]["value"].iloc[:10].tolist()
    # ... and the median of TPE's top set (pooled over seeds: one 40-trial run can get stuck on one
    # edge) recovers the planted optimum.
    pooled = pd.concat([tables["tpe", s] for s in range(3)], ignore_index=True)
    pooled["number"] = range(len(pooled))
    arch = json.loads(select_architectures(pooled, top_k=1, median_of_top_n=15, space=space)["overrides"].iloc[-1])
    assert arch["cell"]["gate_nonlinearity"] == "tanh" and arch["cell"]["out_residual"] is True
    assert arch["cell"]["feedback_entry"] == "out" and arch["cell"]["tau_filter_size"] == 5
    assert abs(arch["cell"]["tau_offset"] - 0.92) < 0.15 and abs(arch["cell"]["gate_offset"] - 0.70) < 0.15
    assert ["conv5", "conv3"] in arch["edges"] and ["conv4", "conv3"] not in arch["edges"]


def test_sequential_run_is_reproducible(fast_tmp):
    space = SearchSpace.from_config(SPACE)
    runs = []
    for i in range(2):
        run_worker(space, planted, fast_tmp / f"{i}.journal", "p", n_trials=15, seed=7, n_startup_trials=5)
        runs.append(trials_table(fast_tmp / f"{i}.journal", "p").drop(columns=["datetime_start", "datetime_complete",
                                                                              "duration_s"]))
    assert runs[0].equals(runs[1])


def test_failures_are_recorded_and_the_worker_goes_on(tmp_path):
    def flaky(trial):
        if trial["number"] == 1:
            raise RuntimeError("CUDA out of memory (planted)")
        if trial["number"] == 2:
            return float("nan")   # diverged
        return 0.5

    path = tmp_path / "s.journal"
    ran = run_worker(SearchSpace.from_config(SPACE), flaky, path, "s", n_trials=4, seed=0)
    assert ran == [0, 1, 2, 3]
    df = trials_table(path, "s").set_index("number")
    assert df["state"].tolist() == ["COMPLETE", "FAIL", "PRUNED", "COMPLETE"]
    assert df.loc[1, "fail_reason"] == "RuntimeError: CUDA out of memory (planted)"
    assert df.loc[2, "fail_reason"].startswith("non-finite objective: nan")
    assert df["value"].isna().tolist() == [False, True, True, False]
    assert df.loc[1, "tau_filter_size"] in range(1, 8)   # the failed architecture is still in the table


def test_table_schema_and_recorded_space(tmp_path):
    space = SearchSpace.from_config(SPACE)
    path = tmp_path / "s.journal"
    run_worker(space, planted, path, "s", n_trials=3, seed=0)
    df = trials_table(path, "s")
    assert list(df.columns[:8]) == ["number", "state", "value", "datetime_start", "datetime_complete",
                                    "duration_s", "worker", "fail_reason"]
    assert list(df.columns[8:]) == list(space.params) + ["edge_conv5_conv3", "edge_conv4_conv3", "edge_conv5_conv4"]
    assert str(df["tau_filter_size"].dtype) == "Int64" and str(df["out_residual"].dtype) == "boolean"
    assert str(df["edge_conv5_conv3"].dtype) == "boolean" and (df["tau_multiplier"] == -df["tau_offset"]).all()
    assert (df["duration_s"] >= 0).all() and df["worker"].str.contains(":").all()
    assert load_space(path, "s") == space
    other = SearchSpace.from_config({**SPACE, "input_to_cell": {"type": "fixed", "value": False}})
    with pytest.raises(ValueError, match="different search space"):
        run_worker(other, planted, path, "s", n_trials=1, seed=0)
    with pytest.raises(ValueError, match="no study named 'nope'"):
        trials_table(path, "nope")
    with pytest.raises(FileNotFoundError, match="missing.journal"):
        trials_table(tmp_path / "missing.journal", "s")


WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from convrnn.search import SearchSpace, run_worker
    space_cfg, journal, barrier = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    def objective(trial):
        # Barrier: no worker finishes its first trial until both have started, so they really overlap.
        (barrier / str(os.getpid())).touch()
        deadline = time.time() + 60
        while len(list(barrier.iterdir())) < 2:
            if time.time() > deadline:
                raise TimeoutError("the other worker never started")
            time.sleep(0.02)
        time.sleep(0.05)
        return float(trial["cell"]["tau_offset"])

    ran = run_worker(SearchSpace.from_config(space_cfg), objective, journal, "par", n_trials=10,
                     seed=int(sys.argv[4]), n_startup_trials=4, total_trials=12)
    print(json.dumps(ran))
""")


def test_two_worker_processes_share_an_exact_budget(tmp_path):
    journal, barrier = tmp_path / "par.journal", tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(SPACE), str(journal), str(barrier), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    ran = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(ran) and not set(ran[0]) & set(ran[1])            # both worked, never the same trial
    assert sorted(ran[0] + ran[1]) == list(range(12))             # exactly the budget, no gap
    df = trials_table(journal, "par")
    assert df["number"].tolist() == list(range(12)) and (df["state"] == "COMPLETE").all()
    assert df["worker"].nunique() == 2
