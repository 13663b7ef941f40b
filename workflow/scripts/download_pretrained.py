"""Rule download_pretrained: the three checkpoint files of one released neuroailab/convrnns model.

Each file is downloaded to a temporary name and renamed (atomic); the index is parsed before it is kept, so a
truncated or non-checkpoint answer fails here, not in the conversion. Outputs persist, so each model is fetched once.
"""
import shutil
import urllib.request

from convrnn.io import atomic_path
from convrnn.models.tf_checkpoint import read_index
from convrnn.workflow.scripts import setup_script

log = setup_script(snakemake)
urls = snakemake.params.urls
outputs = {name: path for name, path in zip(snakemake.output.keys(), snakemake.output)}
for fname, url in urls.items():
    out = outputs[fname.replace(".", "_").replace("-", "_")]
    with atomic_path(out) as tmp:
        log.info("GET %s -> %s", url, out)
        with urllib.request.urlopen(url, timeout=120) as resp, open(tmp, "wb") as f:
            shutil.copyfileobj(resp, f, length=1 << 20)
        if fname.endswith(".index"):
            _, entries = read_index(tmp)
            log.info("%s: %d tensors", fname, len(entries))
