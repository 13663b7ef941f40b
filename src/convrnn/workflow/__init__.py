"""Glue between the Snakemake workflow and the package: the config (model ids and specs), the checks that run before
any job (``preflight``, ``preflight_files``), the package modules each rule depends on (``code_deps``), the rule
scripts' set-up (``scripts``) and the training job's entry point (``train_job``).

The Snakefile imports these modules on every invocation: nothing here imports torch at module level.
"""
