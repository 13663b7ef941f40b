# Stage 7: figures (PNG + PDF), registered for `snakemake --report results/report.html`.


rule figure_task:
    input:
        summary="results/training/summary.parquet",
        metrics=lambda wc: expand(
            "results/models/{model}/metrics.parquet", model=trained_models()
        ),
        code=code("figure_task"),
    output:
        report(
            figure_paths("task"),
            caption="../workflow/report/task.rst",
            category="Task performance",
        ),
    log:
        "results/logs/figure_task.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_task.py"


rule figure_neural:
    input:
        time_course="results/neural/time_course.parquet",
        code=code("figure_neural"),
    output:
        report(
            figure_paths("neural"),
            caption="../workflow/report/neural.rst",
            category="Neural predictivity",
        ),
    log:
        "results/logs/figure_neural.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
        window_ms=config["neural"]["window_ms"],
        selection_window_ms=config["neural"]["layer_selection"]["window_ms"],
        placement=config["presentation"]["feedforward"],
    script:
        "../workflow/scripts/figure_neural.py"


rule figure_best_layer:
    input:
        layers="results/neural/layers.parquet",
        code=code("figure_best_layer"),
    output:
        report(
            figure_paths("best_layer"),
            caption="../workflow/report/best_layer.rst",
            category="Neural predictivity",
        ),
    log:
        "results/logs/figure_best_layer.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
        selection_window_ms=config["neural"]["layer_selection"]["window_ms"],
    script:
        "../workflow/scripts/figure_best_layer.py"


rule figure_behavior:
    input:
        summary="results/behavior/summary.parquet",
        ost=lambda wc: expand("results/behavior/{model}.parquet", model=all_models()),
        behavior="results/data/neural/behavior.parquet",
        code=code("figure_behavior"),
    output:
        report(
            figure_paths("behavior"),
            caption="../workflow/report/behavior.rst",
            category="Behaviour",
        ),
    log:
        "results/logs/figure_behavior.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_behavior.py"


rule figure_pareto:
    input:
        summary="results/training/summary.parquet",
        code=code("figure_pareto"),
    output:
        report(
            figure_paths("pareto"),
            caption="../workflow/report/pareto.rst",
            category="Network size",
        ),
    log:
        "results/logs/figure_pareto.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_pareto.py"


rule figure_dynamics:
    input:
        fits="results/training/dynamics_fits.parquet",
        dynamics=lambda wc: expand(
            "results/models/{model}/dynamics.parquet", model=trained_models()
        ),
        code=code("figure_dynamics"),
    output:
        report(
            figure_paths("dynamics"),
            caption="../workflow/report/dynamics.rst",
            category="Training dynamics",
        ),
    log:
        "results/logs/figure_dynamics.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_dynamics.py"
