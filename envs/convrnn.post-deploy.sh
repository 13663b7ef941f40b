#!/usr/bin/env bash
# Installs this workflow's `convrnn` package (editable) into the conda env Snakemake has just created.
# Snakemake runs this from a copy under .snakemake/conda/ in the activated env, and creates the env from a copy of
# convrnn.yaml there too: neither this script's path nor a relative path in the yaml lead to the project. The Snakefile
# exports CONVRNN_WORKFLOW_DIR (its own directory) before any env is created. No dependencies and no build isolation:
# convrnn.yaml pins every dependency and setuptools, so the install needs no index.
set -euo pipefail
root="${CONVRNN_WORKFLOW_DIR:-}"
if [[ -z "$root" || ! -f "$root/pyproject.toml" ]]; then
    echo "convrnn post-deploy: CONVRNN_WORKFLOW_DIR must name the convrnn-repro checkout (the Snakefile sets it)," \
        "got '${root}'" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation --quiet --editable "$root"
