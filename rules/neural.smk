# Stage 5: neural predictivity: every layer x model step x neural 10 ms bin x site of the scored window,
# cross-validated and divided by a split-half noise ceiling (Brain-Score or Nayebi convention, see config `neural`);
# each area's layer is chosen on time-averaged responses inside each split's training images (neural_fit), and the
# papers' time course assembled from those choices (neural_summary). The ceiling is computed once (noise_ceiling) and
# read by neural_fit and neural_summary. Bodies: convrnn.neural.jobs.


rule noise_ceiling:
    input:
        responses="results/data/neural/responses.parquet",
        meta=stim("neural", "meta"),
        code=code("noise_ceiling"),
    output:
        "results/neural/ceiling.parquet",
    log:
        "results/logs/noise_ceiling.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        ceiling_splits=config["neural"]["ceiling_splits"] or 10,  # Brain-Score's internal_consistency: 10 halves
        window_ms=config["neural"]["window_ms"],
    script:
        "../workflow/scripts/noise_ceiling.py"


rule neural_fit:
    input:
        features="results/features/{model}/neural.safetensors",
        index="results/features/{model}/neural.parquet",
        responses="results/data/neural/responses.parquet",
        meta=stim("neural", "meta"),
        ceiling="results/neural/ceiling.parquet",
        code=code("neural_fit"),
    output:
        fits="results/neural/fits/{model}.parquet",
        selection="results/neural/selection/{model}.parquet",
        site_layers="results/neural/site_layers/{model}.parquet",
    log:
        "results/logs/neural_fit/{model}.log",
    benchmark:
        "results/benchmarks/neural_fit/{model}.tsv"
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    params:
        neural=config["neural"],
        step_ms=config["presentation"]["step_ms"],
        latency_offset_ms=config["presentation"]["latency_offset_ms"],
        device=config["device"],
    script:
        "../workflow/scripts/neural_fit.py"


rule neural_summary:
    input:
        fits=lambda wc: expand(
            "results/neural/fits/{model}.parquet", model=all_models()
        ),
        selection=lambda wc: expand(
            "results/neural/selection/{model}.parquet", model=all_models()
        ),
        ceiling="results/neural/ceiling.parquet",
        code=code("neural_summary"),
    output:
        summary="results/neural/summary.parquet",
        layers="results/neural/layers.parquet",
        time_course="results/neural/time_course.parquet",
    log:
        "results/logs/neural_summary.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        placement=config["presentation"]["feedforward"],
        graded_layers=config["presentation"]["graded_layers"],
    script:
        "../workflow/scripts/neural_summary.py"
