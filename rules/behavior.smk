# Stage 6: behaviour: object solution times (Kar et al. 2019) from a decoder per model time step on the top layer.


rule object_solution_times:
    input:
        features=f"results/features/{{model}}/{BEHAVIOR_SET}.safetensors",
        index=f"results/features/{{model}}/{BEHAVIOR_SET}.parquet",
        meta=stim(BEHAVIOR_SET, "meta"),
        behavior="results/data/neural/behavior.parquet",
        code=code("object_solution_times"),
    output:
        "results/behavior/{model}.parquet",
    log:
        "results/logs/object_solution_times/{model}.log",
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    params:
        behavior=config["behavior"],
        step_ms=config["presentation"]["step_ms"],
        latency_offset_ms=config["presentation"]["latency_offset_ms"],
        seed=config["seed"],
    script:
        "../workflow/scripts/object_solution_times.py"


rule behavior_summary:
    input:
        ost=lambda wc: expand("results/behavior/{model}.parquet", model=all_models()),
        behavior="results/data/neural/behavior.parquet",
        code=code("behavior_summary"),
    output:
        "results/behavior/summary.parquet",
    log:
        "results/logs/behavior_summary.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        models=lambda wc: all_models(),
        ceiling=config["behavior"]["ceiling"],
    script:
        "../workflow/scripts/behavior_summary.py"
