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
# ImageNet validation top-1 / top-5 of each released model as its authors report them (neuroailab/convrnns README,
# "ImageNet validation set accuracy"), as fractions; rule evaluate_pretrained puts our measurement beside them.
RELEASED_ACCURACY = {
    "timedecay_shallow": (0.5006, 0.7297), "simplernn_shallow": (0.6111, 0.8315), "gru_shallow": (0.6216, 0.8402),
    "lstm_shallow": (0.6343, 0.8489), "intersectionrnn_shallow": (0.6542, 0.8602), "ugrnn_shallow": (0.6082, 0.8323),
    "rgc_shallow": (0.6697, 0.8702), "timedecay_intermediate": (0.6752, 0.8780),
    "simplernn_intermediate": (0.7047, 0.8948), "gru_intermediate": (0.6981, 0.8925),
    "lstm_intermediate": (0.6957, 0.8918), "intersectionrnn_intermediate": (0.6898, 0.8867),
    "ugrnn_intermediate": (0.6978, 0.8921), "ugrnn_intermediate_t30": (0.7009, 0.8929),
    "ugrnn_intermediate_t30_dthresh": (0.6930, 0.8897), "ugrnn_intermediate_t30_tmaxconf": (0.7004, 0.8929),
    "rgc_intermediate": (0.73, 0.9116), "rgc_intermediate_dthresh": (0.7181, 0.9016),
    "rgc_intermediate_tmaxconf": (0.7229, 0.9052), "rgc_intermediate_t22_tmaxconf": (0.7298, 0.9080),
}
