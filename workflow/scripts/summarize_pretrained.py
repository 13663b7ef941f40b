"""Rule summarize_pretrained: the released models' measured ImageNet accuracy beside the released table, one row each."""
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.training.evaluate import PRETRAINED_ACCURACY_COLUMNS
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
table = pd.concat([read_parquet(f, required=PRETRAINED_ACCURACY_COLUMNS) for f in snakemake.input.rows],
                  ignore_index=True)
write_parquet(table[PRETRAINED_ACCURACY_COLUMNS], snakemake.output[0])
log.info("\n%s", table.to_string(index=False))
