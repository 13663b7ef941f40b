"""Rule table_models: one row per trained model: size, accuracy, the authors' reported accuracy, Pareto membership."""
from convrnn.data.pretrained_catalog import RELEASED_ACCURACY
from convrnn.figures import model_family, model_kind
from convrnn.io import read_parquet
from convrnn.tables import model_table, write_table
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
p = snakemake.params
kinds = {m: (model_family(a), "minunroll" if a.endswith("_minunroll") else model_kind(m, a)) for m, a in p.arches.items()}
models = model_table(read_parquet(snakemake.input.training), kinds, RELEASED_ACCURACY, imagenet=p.imagenet)
write_table(models, snakemake.output.models)
log.info("\n%s", models.to_string(index=False))
