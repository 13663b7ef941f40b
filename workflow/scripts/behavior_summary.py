"""Rule behavior_summary: OST consistency (Spearman rho with the primate OSTs) per model, with a noise ceiling."""
import pandas as pd

from convrnn.io import read_parquet, write_parquet
from convrnn.neural.behavior import ost_consistency
from convrnn.workflow import setup_script

log = setup_script(snakemake)
rows = []
for path in snakemake.input.ost:
    t = read_parquet(path, required=["model", "model_ost_ms", "target_ost_ms"])
    c = ost_consistency(t["model_ost_ms"].to_numpy(), t["target_ost_ms"].to_numpy(), ceiling=snakemake.params.ceiling)
    rows.append({"model": t["model"].iloc[0], **c})
summary = pd.DataFrame(rows)
write_parquet(summary, snakemake.output[0])
log.info("\n%s", summary.to_string(index=False))
