# Stage 1: stimuli and neural/behavioural data.
# synthetic: generated HvM-like stimuli + responses of a hidden ground-truth network (offline default).
# real: Brain-Score MajajHong2015 (10 ms bins) and Kar2019, sha1-checked downloads converted to the same schemas.


if SYNTHETIC:

    rule generate_stimuli:
        input:
            code=code("generate_stimuli"),
        output:
            **{
                f"{s}_{k}": stim(s, k)
                for s in ("train", "val", "neural")
                for k in ("images", "meta")
            },
        log:
            "results/logs/generate_stimuli.log",
        conda:
            "../envs/convrnn.yaml"
        params:
            stimuli=config["data"]["stimuli"],
            image_size=config["data"]["image_size"],
            seed=config["seed"],
        script:
            "../workflow/scripts/generate_stimuli.py"

    rule simulate_neural:
        input:
            images=stim("neural", "images"),
            meta=stim("neural", "meta"),
            code=code("simulate_neural"),
        output:
            responses="results/data/neural/responses.parquet",
            sites="results/data/neural/sites.parquet",
            behavior="results/data/neural/behavior.parquet",
        log:
            "results/logs/simulate_neural.log",
        conda:
            "../envs/convrnn.yaml"
        params:
            neural=config["data"].get("synthetic_neural", {}),
            seed=config["seed"] + 1,
        script:
            "../workflow/scripts/simulate_neural.py"

else:
    BRAINSCORE = config["data"]["brainscore"]

    localrules:
        download_brainscore,  # compute nodes often have no internet

    # Only files not yet in the cache have a producing job. One that is there (downloaded, or staged by hand with
    # an old mtime) is a plain source, sha1-checked before any job (BRAINSCORE_PRESENT, Snakefile): as the output
    # of a job, Snakemake would delete it to redo that job after any edit of its script.
    rule download_brainscore:
        output:
            f"{BRAINSCORE['cache_dir']}/{{filename}}",
        log:
            "results/logs/download_brainscore/{filename}.log",
        wildcard_constraints:
            filename=alternatives(
                set(brainscore_files(config).values()) - set(BRAINSCORE_PRESENT)
            ),
        retries: 3
        conda:
            "../envs/convrnn.yaml"
        params:
            cache_dir=lambda wc, output: str(Path(output[0]).parent),
            sha1_memo=PREFLIGHT_CACHE,
        script:
            "../workflow/scripts/download_brainscore.py"

    # One job per assembly: a failing Kar2019 conversion must not throw away the long MajajHong2015 conversion.
    rule convert_neural:
        input:
            assembly=brainscore_file(BRAINSCORE["neural_assembly"], "assembly"),
            code=code("convert_neural"),
        output:
            responses="results/data/neural/responses.parquet",
            sites="results/data/neural/sites.parquet",
        log:
            "results/logs/convert_neural.log",
        conda:
            "../envs/convrnn.yaml"
        params:
            sha1_memo=PREFLIGHT_CACHE,  # the staged file is checked again when it is read
            time_align=time_align_kwargs(config),  # neural.time_align: re-bin to the model steps, or keep the bins
        script:
            "../workflow/scripts/convert_neural.py"

    rule convert_behavior:
        input:
            assembly=brainscore_file(BRAINSCORE["behavior_assembly"], "assembly"),
            code=code("convert_behavior"),
        output:
            "results/data/neural/behavior.parquet",
        log:
            "results/logs/convert_behavior.log",
        conda:
            "../envs/convrnn.yaml"
        params:
            sha1_memo=PREFLIGHT_CACHE,
            decoder="svm",  # Brain-Score's Kar2019-ost benchmark selects the SVM-decoder OSTs
        script:
            "../workflow/scripts/convert_behavior.py"

    rule convert_stimuli:
        input:
            csv=lambda wc: brainscore_file(stimulus_set_of(wc.stimset), "csv"),
            zip=lambda wc: brainscore_file(stimulus_set_of(wc.stimset), "zip"),
            code=code("convert_stimuli"),
        output:
            images=stim("{stimset}", "images"),
            meta=stim("{stimset}", "meta"),
        log:
            "results/logs/convert_stimuli/{stimset}.log",
        wildcard_constraints:
            stimset="neural|behavior",  # the PCA images are ImageNet's (rule pca_images)
        conda:
            "../envs/convrnn.yaml"
        params:
            sha1_memo=PREFLIGHT_CACHE,
            image_size=config["data"]["image_size"],
            images_dir=lambda wc: f"{BRAINSCORE['cache_dir']}/images/{stimulus_set_of(wc.stimset)}",
        script:
            "../workflow/scripts/convert_stimuli.py"
