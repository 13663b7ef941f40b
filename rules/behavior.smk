# Stage 6: behaviour: object solution times (Kar et al. 2019) from a decoder per 10 ms bin on each model's IT
# layer(s) (chosen in neural_fit), in Brain-Score's and NC 2022's conventions. Bodies: convrnn.neural.ost_job.


rule object_solution_times:
    input:
        features=f"results/features/{{model}}/{BEHAVIOR_SET}.safetensors",
        index=f"results/features/{{model}}/{BEHAVIOR_SET}.parquet",
        meta=stim(BEHAVIOR_SET, "meta"),
        behavior="results/data/neural/behavior.parquet",
        selection="results/neural/selection/{model}.parquet",
        code=code("object_solution_times"),
    output:
        per_image="results/behavior/{model}.parquet",
        scores="results/behavior/scores/{model}.parquet",
    log:
        "results/logs/object_solution_times/{model}.log",
    benchmark:
        "results/benchmarks/object_solution_times/{model}.tsv"
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    params:
        behavior=config["behavior"],
        placement=config["presentation"]["feedforward"],
        graded_layers=config["presentation"]["graded_layers"],
        step_ms=config["presentation"]["step_ms"],
        latency_offset_ms=config["presentation"]["latency_offset_ms"],
    script:
        "../workflow/scripts/object_solution_times.py"


rule behavior_summary:
    input:
        scores=lambda wc: expand(
            "results/behavior/scores/{model}.parquet", model=all_models()
        ),
        code=code("behavior_summary"),
    output:
        "results/behavior/summary.parquet",
    log:
        "results/logs/behavior_summary.log",
    conda:
        "../envs/convrnn.yaml"
    script:
        "../workflow/scripts/behavior_summary.py"
