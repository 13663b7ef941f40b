# Stage 2: architecture search. TPE (optuna) workers share one journal file, so on a cluster every worker is its own
# job; the `select_architectures` checkpoint closes the search and decides which searched models the DAG trains.


rule search_worker:
    input:
        unpack(task_data),
        code=code("search_worker"),
    output:
        "results/search/workers/{worker}.parquet",
    log:
        "results/logs/search_worker/{worker}.log",
    benchmark:
        "results/benchmarks/search_worker/{worker}.tsv"
    priority: 10  # on the critical path (search -> selection -> training of the selected models): first in line
    conda:
        "../envs/convrnn.yaml"
    threads: config["threads"]
    params:
        search=SEARCH,
        study=SEARCH_STUDY,
        storage="results/search/journal.log",
        image_size=config["data"].get("image_size"),
        imagenet=config["data"].get("imagenet"),
        device=config["device"],
        seed=lambda wc: config["seed"] + 1000 * int(wc.worker),
    script:
        "../workflow/scripts/search_worker.py"


checkpoint select_architectures:
    input:
        workers=expand(
            "results/search/workers/{worker}.parquet",
            worker=range(SEARCH.get("n_workers", 0)),
        ),
        code=code("select_architectures"),
    output:
        trials="results/search/trials.parquet",
        selected="results/search/selected.parquet",
    log:
        "results/logs/select_architectures.log",
    priority: 10
    conda:
        "../envs/convrnn.yaml"
    params:
        storage="results/search/journal.log",
        study=SEARCH_STUDY,
        top_k=SEARCH.get("top_k", 1),
    script:
        "../workflow/scripts/select_architectures.py"


rule plot_search:
    input:
        trials="results/search/trials.parquet",
        code=code("plot_search"),
    output:
        features=report(
            figure_paths("search_features"),
            caption="../workflow/report/search.rst",
            category="Architecture search",
        ),
        progress=report(
            figure_paths("search_progress"),
            caption="../workflow/report/search.rst",
            category="Architecture search",
        ),
    log:
        "results/logs/plot_search.log",
    conda:
        "../envs/convrnn.yaml"
    script:
        "../workflow/scripts/plot_search.py"
