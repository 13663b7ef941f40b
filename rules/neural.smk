# Stage 5: neural predictivity: every layer x model step x neural 10 ms bin x site, cross-validated and
# divided by a split-half noise ceiling (Brain-Score or Nayebi convention, see config `neural`).


rule noise_ceiling:
    input:
        responses="results/data/neural/responses.parquet",
        meta=stim("neural", "meta"),
    output:
        "results/neural/ceiling.parquet",
    log:
        "results/logs/noise_ceiling.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        n_splits=config["neural"]["n_splits"],
        seed=config["seed"],
    script:
        "../workflow/scripts/noise_ceiling.py"


rule neural_fit:
    input:
        features="results/features/{model}/neural.safetensors",
        index="results/features/{model}/neural.parquet",
        responses="results/data/neural/responses.parquet",
        meta=stim("neural", "meta"),
    output:
        "results/neural/fits/{model}.parquet",
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
        seed=config["seed"],
    script:
        "../workflow/scripts/neural_fit.py"


rule neural_summary:
    input:
        fits=lambda wc: expand(
            "results/neural/fits/{model}.parquet", model=all_models()
        ),
        ceiling="results/neural/ceiling.parquet",
    output:
        "results/neural/summary.parquet",
    log:
        "results/logs/neural_summary.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        models=lambda wc: all_models(),
    script:
        "../workflow/scripts/neural_summary.py"
