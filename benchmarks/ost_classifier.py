"""CPU time of the OST decoders at Kar2019 shape: the torch port of Brain-Score's TF classifier vs sklearn's logistic.

Brain-Score's Kar2019-ost fits one classifier per time bin and split: 10 splits x 18 bins on 1188 training images of
1320, here with 1000 features (its PCA width) and 10 objects. The torch port trains the 18 bins of a split together
(``TFSoftmaxClassifier``, 40 epochs of 19 batches); ``LogisticClassifier`` fits sklearn's multinomial logistic
regression one bin at a time. Features are synthetic (class means growing over bins plus noise), float32.
To stay within minutes, ``--splits`` splits are timed per decoder and ``--sklearn-bins`` bins of each for sklearn;
the full 10 x 18 cost is extrapolated linearly and printed with the measured part as JSON.

    .venv/bin/python benchmarks/ost_classifier.py --shape kar2019 demo --threads 1
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from convrnn.neural.ost_classifier import LogisticClassifier, TFSoftmaxClassifier
from convrnn.neural.splits import ost_splits

SHAPES = {"kar2019": dict(n_images=1320, n_features=1000, n_bins=18, n_objects=10),
          "demo": dict(n_images=320, n_features=64, n_bins=20, n_objects=32)}
N_SPLITS = 10


def synthetic(n_images, n_features, n_bins, n_objects, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_images) % n_objects)
    gain = np.linspace(0.0, 0.5, n_bins)[:, None, None]
    means = rng.normal(size=(n_objects, n_features))
    feats = gain * means[labels][None] + rng.normal(size=(n_bins, n_images, n_features))
    return feats.astype(np.float32), labels


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", nargs="+", choices=sorted(SHAPES), default=["kar2019"])
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--splits", type=int, default=1, help="splits timed per decoder (of 10)")
    parser.add_argument("--sklearn-bins", type=int, default=2, help="bins timed per split for sklearn")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    with threadpool_limits(args.threads):
        for name in args.shape:
            shape = SHAPES[name]
            feats, labels = synthetic(**shape)
            splits = ost_splits(np.array([f"{i:05d}" for i in range(len(labels))]))[:args.splits]
            t_torch = sum(timed(lambda: TFSoftmaxClassifier()(feats[:, tr], labels[tr], feats[:, te]))
                          for tr, te in splits)
            k = min(args.sklearn_bins, shape["n_bins"])
            t_sklearn = sum(timed(lambda: LogisticClassifier()(feats[:k, tr], labels[tr], feats[:k, te]))
                            for tr, te in splits)
            results.append({
                "shape": name, **shape, "threads": args.threads, "splits_timed": len(splits),
                "torch_port_s_measured": round(t_torch, 2),
                "torch_port_s_10_splits": round(t_torch * N_SPLITS / len(splits), 1),
                "sklearn_bins_timed": k, "sklearn_s_measured": round(t_sklearn, 2),
                "sklearn_s_10_splits": round(t_sklearn * N_SPLITS / len(splits) * shape["n_bins"] / k, 1)})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
