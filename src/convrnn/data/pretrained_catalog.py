"""The released checkpoints of neuroailab/convrnns (``get_checkpoints.sh``): models, URLs, files. Torch-free, so the
workflow can import it at parse time (rules/pretrained.smk)."""
from __future__ import annotations

BASE_URL = "https://convrnnckpts.s3-us-west-1.amazonaws.com"
RELEASED = (
    "rgc_intermediate", "rgc_intermediate_tmaxconf", "rgc_intermediate_t22_tmaxconf", "rgc_intermediate_dthresh",
    "ugrnn_intermediate", "intersectionrnn_intermediate", "lstm_intermediate", "gru_intermediate",
    "simplernn_intermediate", "timedecay_intermediate", "ugrnn_intermediate_t30", "ugrnn_intermediate_t30_tmaxconf",
    "ugrnn_intermediate_t30_dthresh", "ugrnn_shallow", "rgc_shallow", "intersectionrnn_shallow", "lstm_shallow",
    "gru_shallow", "simplernn_shallow", "timedecay_shallow",
)
FILES = ("model.ckpt.data-00000-of-00001", "model.ckpt.index", "model.ckpt.meta")
PREFIX = "model.ckpt"
SOURCES = ("convrnns",)   # values of a config model's ``pretrained`` key
NUM_CLASSES = 1000        # ImageNet: the released readouts


def checkpoint_urls(name: str) -> dict[str, str]:
    """{file name: URL} of a released model's checkpoint."""
    if name not in RELEASED:
        raise ValueError(f"pretrained: no released checkpoint {name!r}; released: {list(RELEASED)}")
    return {f: f"{BASE_URL}/{name}/{f}" for f in FILES}
