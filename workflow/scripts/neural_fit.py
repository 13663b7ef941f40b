"""Rule neural_fit: cross-validated predictivity per layer x model step x neural bin x site, and the layer selection
on time-averaged responses nested in the same splits (with each site's preferred layer)."""
from convrnn.devices import resolve_device
from convrnn.neural.jobs import neural_fit_job
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake, use_torch=True)
p, cfg, inp, out = snakemake.params, snakemake.params.neural, snakemake.input, snakemake.output
fits = neural_fit_job(
    inp.features, inp.index, inp.responses, inp.meta, out.fits, model=snakemake.wildcards.model,
    selection_out=out.selection, site_layers_out=out.site_layers, ceiling=inp.ceiling, convention=cfg["convention"],
    regression=cfg["regression"], pairing=cfg["pairing"], n_splits=cfg["n_splits"],
    ceiling_splits=cfg["ceiling_splits"], pls_components=cfg["pls_components"], ridge_alpha=cfg["ridge_alpha"],
    step_ms=p.step_ms, latency_offset_ms=p.latency_offset_ms, window_ms=cfg["window_ms"],
    selection_window_ms=cfg["layer_selection"]["window_ms"], selection_folds=cfg["layer_selection"]["folds"],
    device=resolve_device(p.device),
)
log.info("%d rows", len(fits))
