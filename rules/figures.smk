# Stage 7: figures (PNG + PDF), registered for `snakemake --report results/report.html`, and the tables beside them
# (results/tables/: Parquet + CSV + Markdown).


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


rule table_models:
    input:
        training="results/training/summary.parquet",
        code=code("table_models"),
    output:
        **table_outputs(["models"]),
    log:
        "results/logs/table_models.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
        imagenet=not SYNTHETIC and NUM_CLASSES == 1000,
    script:
        "../workflow/scripts/table_models.py"


# apart from table_models, so that a neural or behavioural edit does not redraw the task figures
rule tables:
    input:
        unpack(search_tables),
        models=table_path("models"),
        layers="results/neural/layers.parquet",
        time_course="results/neural/time_course.parquet",
        behavior="results/behavior/summary.parquet",
        code=code("tables"),
    output:
        **table_outputs(
            ["areas", "behavior", "brain_vs_task"] + (["search"] if SEARCH_ON else [])
        ),
    log:
        "results/logs/tables.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        top_k=SEARCH.get("top_k", 0),
    script:
        "../workflow/scripts/tables.py"


rule figure_cells:
    input:
        models=table_path("models"),
        code=code("figure_cells"),
    output:
        report(
            figure_paths("cells"),
            caption="../workflow/report/cells.rst",
            category="Task performance",
        ),
    log:
        "results/logs/figure_cells.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_cells.py"


rule figure_controls:
    input:
        models=table_path("models"),
        code=code("figure_controls"),
    output:
        report(
            figure_paths("controls"),
            caption="../workflow/report/controls.rst",
            category="Task performance",
        ),
    log:
        "results/logs/figure_controls.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_controls.py"


rule figure_site_layers:
    input:
        site_layers=lambda wc: expand(
            "results/neural/site_layers/{model}.parquet", model=all_models()
        ),
        layers="results/neural/layers.parquet",
        sites="results/data/neural/sites.parquet",
        code=code("figure_site_layers"),
    output:
        report(
            figure_paths("site_layers"),
            caption="../workflow/report/site_layers.rst",
            category="Neural predictivity",
        ),
    log:
        "results/logs/figure_site_layers.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_site_layers.py"


rule figure_task_vs_brain:
    input:
        models=table_path("models"),
        areas=table_path("areas"),
        behavior=table_path("behavior"),
        correlations=table_path("brain_vs_task"),
        code=code("figure_task_vs_brain"),
    output:
        report(
            figure_paths("task_vs_brain"),
            caption="../workflow/report/task_vs_brain.rst",
            category="Network size",
        ),
    log:
        "results/logs/figure_task_vs_brain.log",
    conda:
        "../envs/convrnn.yaml"
    params:
        arches=model_arches(),
    script:
        "../workflow/scripts/figure_task_vs_brain.py"
