"""Rule convert_stimuli: a Brain-Score stimulus set (csv + zip) -> images (safetensors) + metadata (Parquet)."""
import tempfile
from pathlib import Path

from convrnn.data.brainscore import convert_stimulus_set, load_images
from convrnn.data.staged import check_cache_file
from convrnn.data.stimuli import save_stimuli
from convrnn.io import read_parquet
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
for staged in (snakemake.input.csv, snakemake.input.zip):  # either may have been replaced since the DAG was planned
    check_cache_file(staged, snakemake.params.sha1_memo)
with tempfile.TemporaryDirectory() as tmp:
    meta_path = Path(tmp) / "meta.parquet"
    convert_stimulus_set(snakemake.input.csv, snakemake.input.zip, meta_path, snakemake.params.images_dir)
    meta = read_parquet(meta_path)
images = load_images(meta, snakemake.params.image_size)
save_stimuli(images, meta, snakemake.output.images, snakemake.output.meta)
log.info("%d images at %d px", len(meta), snakemake.params.image_size)
