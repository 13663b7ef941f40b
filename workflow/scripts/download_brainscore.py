"""Rule download_brainscore: one catalog file, sha1-verified, into the cache (pre-staged copies are reused)."""
from convrnn.data.brainscore import fetch
from convrnn.data.staged import remember
from convrnn.data.brainscore_catalog import entry_for_file
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
entry = entry_for_file(snakemake.wildcards.filename)
path = fetch(entry, snakemake.params.cache_dir)
remember(path, entry.sha1, snakemake.params.sha1_memo)  # fetch checked it: the next dry run need not hash it again
log.info("%s -> %s (sha1 %s)", entry.url, path, entry.sha1)
