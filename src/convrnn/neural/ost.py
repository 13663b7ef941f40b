"""Object solution times (OST) of a model against the primate's, in the two conventions of ``behavior.convention``.

Both run Brain-Score's cross-validation (``splits.ost_splits``: 10 unstratified 90/10 splits over the stimuli in
stimulus_id order). Per split, one decoder per time bin is trained on the split's training images; its choice
probabilities on the test images give each test image's I1 d' (false-alarm rates pooled within the test split,
``behavior.i1_dprime``); an image's OST is the bin where its I1 first reaches the monkey's I1, interpolated
(``behavior.solution_times``). The conventions differ after that (docs/references.md, "Behaviour"):

* ``brainscore``: Brain-Score's ``OSTCorrelation``. TF softmax decoder (``ost_classifier.TFSoftmaxClassifier``),
  interpolation from the best earlier sub-threshold bin, Spearman rho per split over the test images where both
  OSTs exist, score = mean rho over splits. Brain-Score stops fitting bins once every test image is solved; all bins
  are fitted here, which leaves every number unchanged (a solved image ignores later bins).
* ``nayebi2022``: NC 2022 Fig. 3. Linear SVM decoder, interpolation from the bin before the hit, each image's OST
  averaged over the splits where it was a test image, one Spearman rho over the images solved by both model and
  IT, and the fraction of IT-solved images the model solves.

The headline numbers do not use a ceiling; ``behavior.ost_consistency`` and the benchmark's 0.79 stay the job's.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .behavior import i1_dprime, solution_times

CONVENTIONS = ("brainscore", "nayebi2022")
KAR2019_BINS_MS = np.arange(70, 250, 10)      # Brain-Score Kar2019-ost: [(t, t + 10) for t in range(70, 250, 10)]
NAYEBI2022_BINS_MS = np.arange(70, 260, 10)   # NC 2022 Fig. 3: "10 ms time bins from 70 to 260 ms"
_RULE = {"brainscore": "best_below", "nayebi2022": "previous"}


@dataclass(frozen=True)
class OSTResult:
    """Everything one model's OST analysis produced; arrays over images follow the caller's image order.

    Per split s (S splits) and image n (N images), T time bins:
      ``test[s, n]`` image n was a test image of split s; ``i1_split[s, t, n]`` / ``ost_split[s, n]`` its model I1
      and OST there (NaN off the test set; ``ost_split`` also NaN where never solved); ``rho_split[s]`` Spearman rho
      between model and target OSTs over the split's test images where both exist.
    Per image: ``n_test`` splits in which it was tested, ``n_solved`` of those that solved it, ``ost_mean`` /
      ``ost_sem`` mean and s.e.m. (ddof=1, NaN below 2 values) of its OST over the splits that solved it.
    Headline: ``rho`` is the convention's (``rho_kind``): brainscore the mean of ``rho_split`` (NaN splits skipped),
      nayebi2022 ``rho_pooled``, Spearman rho between ``ost_mean`` and the IT OST over the ``n_both`` images solved
      by both. ``rho_sem`` is Brain-Score's error bar for both: std (ddof=0) of ``rho_split`` / sqrt(S).
      ``n_target_solved``: images with an IT OST among those tested at least once; ``fraction_it_solved`` =
      n_both / n_target_solved.
    """
    convention: str
    rho_kind: str
    stimulus_ids: np.ndarray
    bin_starts_ms: np.ndarray
    target_ost: np.ndarray
    test: np.ndarray
    i1_split: np.ndarray
    ost_split: np.ndarray
    rho_split: np.ndarray
    rho: float
    rho_sem: float
    rho_pooled: float
    ost_mean: np.ndarray
    ost_sem: np.ndarray
    n_test: np.ndarray
    n_solved: np.ndarray
    n_target_solved: int
    n_both: int
    fraction_it_solved: float

    @classmethod
    def from_splits(cls, convention, stimulus_ids, bin_starts_ms, target_ost, test, i1_split, ost_split,
                    rho_split) -> "OSTResult":
        """The per-image and headline numbers from the per-split arrays (shapes as in the class docstring)."""
        n_test = test.sum(0)
        n_solved = np.isfinite(ost_split).sum(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)        # all-NaN columns: images never solved
            ost_mean = np.nanmean(ost_split, axis=0)
            ost_sem = np.where(n_solved >= 2, np.nanstd(ost_split, axis=0, ddof=1) / np.sqrt(np.maximum(n_solved, 1)),
                               np.nan)
            # Brain-Score's Split.aggregate: xarray's mean and std over splits skip NaN, and the std (ddof=0) is
            # divided by the square root of the number of splits, NaN ones included.
            split_mean = float(np.nanmean(rho_split))
            split_sem = float(np.nanstd(rho_split) / np.sqrt(len(rho_split)))
        it_solved = np.isfinite(target_ost) & (n_test > 0)
        both = it_solved & np.isfinite(ost_mean)
        rho_pooled = _spearman(np.where(both, ost_mean, np.nan), target_ost)
        if convention == "brainscore":
            rho, rho_kind = split_mean, "mean over splits"
        else:
            rho, rho_kind = rho_pooled, "pooled over images solved by model and IT"
        return cls(convention=convention, rho_kind=rho_kind, stimulus_ids=stimulus_ids, bin_starts_ms=bin_starts_ms,
                   target_ost=target_ost, test=test, i1_split=i1_split, ost_split=ost_split, rho_split=rho_split,
                   rho=rho, rho_sem=split_sem, rho_pooled=rho_pooled, ost_mean=ost_mean, ost_sem=ost_sem,
                   n_test=n_test, n_solved=n_solved, n_target_solved=int(it_solved.sum()), n_both=int(both.sum()),
                   fraction_it_solved=float(both.sum() / it_solved.sum()) if it_solved.any() else float("nan"))

    def summary(self) -> dict:
        """One row of scalars for a summary table."""
        return {"convention": self.convention, "rho": self.rho, "rho_sem": self.rho_sem, "rho_kind": self.rho_kind,
                "rho_pooled": self.rho_pooled, "n_splits": len(self.rho_split), "n_images": len(self.stimulus_ids),
                "n_model_solved": int(np.isfinite(self.ost_mean).sum()), "n_target_solved": self.n_target_solved,
                "n_both": self.n_both, "fraction_it_solved": self.fraction_it_solved}

    def per_image(self):
        """pandas table, one row per image: stimulus_id, n_test, n_solved, model_ost_ms (mean), model_ost_sem_ms,
        target_ost_ms."""
        import pandas as pd

        return pd.DataFrame({"stimulus_id": self.stimulus_ids, "n_test": self.n_test, "n_solved": self.n_solved,
                             "model_ost_ms": self.ost_mean, "model_ost_sem_ms": self.ost_sem,
                             "target_ost_ms": self.target_ost})

    def per_split(self):
        """pandas table, one row per (split, test image): split, stimulus_id, model_ost_ms, target_ost_ms."""
        import pandas as pd

        s, n = np.nonzero(self.test)
        return pd.DataFrame({"split": s, "stimulus_id": self.stimulus_ids[n], "model_ost_ms": self.ost_split[s, n],
                             "target_ost_ms": self.target_ost[n]})


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """scipy's Spearman rho over the pairs where neither value is NaN (NaN below 2 pairs or for a constant side),
    the computation Brain-Score's ``OSTCorrelation.correlate`` makes."""
    from scipy.stats import spearmanr

    both = ~np.isnan(a) & ~np.isnan(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a[both], b[both])[0]) if both.sum() >= 2 else float("nan")


def _check_inputs(features, labels, stimulus_ids, target_i1, target_ost, bin_starts_ms):
    features = np.asarray(features)
    labels, stimulus_ids = np.asarray(labels), np.asarray(stimulus_ids)
    target_i1, target_ost = np.asarray(target_i1, np.float64), np.asarray(target_ost, np.float64)
    bin_starts_ms = np.asarray(bin_starts_ms, np.float64)
    n = len(labels)
    if features.ndim != 3 or features.shape[:2] != (len(bin_starts_ms), n):
        raise ValueError(f"features must be (T={len(bin_starts_ms)} bins, N={n} images, D), got {features.shape}")
    for name, arr in (("stimulus_ids", stimulus_ids), ("target_i1", target_i1), ("target_ost", target_ost)):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have one value per image ({n},), got {arr.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be integer class indices 0..K-1")
    if np.any(np.diff(bin_starts_ms) <= 0):
        raise ValueError("bin_starts_ms must be strictly increasing")
    return features, labels, stimulus_ids, target_i1, target_ost, bin_starts_ms


def object_solution_times(features, labels, stimulus_ids, target_i1, target_ost, bin_starts_ms, *,
                          convention: str = "brainscore", classifier=None, n_splits: int = 10,
                          test_size: float = 0.1, seed: int = 1) -> OSTResult:
    """Model OSTs of N images from features (T bins, N, D) against the primate's per-image I1 and IT OST.

    ``labels`` (N,) object indices 0..K-1; ``stimulus_ids`` (N,) unique ids (they order the images for the
    splits, as Brain-Score does); ``target_i1`` the monkey's I1 per image (the threshold; NaN: never solved);
    ``target_ost`` IT OST in ms (NaN allowed); ``bin_starts_ms`` (T,) start of each bin, the time given to a bin.
    ``classifier``: a decoder ``(train_x (T, n, D), train_y, test_x (T, m, D)) -> (T, m, K)`` probabilities
    (``ost_classifier``); default the convention's (TF port for brainscore, linear SVM for nayebi2022).
    ``n_splits``, ``test_size``, ``seed``: Brain-Score's 10, 0.1 and 1.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"behavior.convention: {convention!r} is not one of {list(CONVENTIONS)}")
    features, labels, stimulus_ids, target_i1, target_ost, bins = _check_inputs(
        features, labels, stimulus_ids, target_i1, target_ost, bin_starts_ms)
    from .splits import ost_splits          # sklearn: only for the job that computes, not for summaries

    if classifier is None:
        from .ost_classifier import LinearSVMClassifier, TFSoftmaxClassifier
        classifier = TFSoftmaxClassifier() if convention == "brainscore" else LinearSVMClassifier()

    splits = ost_splits(stimulus_ids, n_splits=n_splits, test_size=test_size, seed=seed)
    t, n = len(bins), len(labels)
    test = np.zeros((n_splits, n), bool)
    i1_split = np.full((n_splits, t, n), np.nan)
    ost_split = np.full((n_splits, n), np.nan)
    rho_split = np.full(n_splits, np.nan)
    for s, (train, tested) in enumerate(splits):
        probabilities = np.asarray(classifier(features[:, train], labels[train], features[:, tested]))
        if probabilities.shape[:2] != (t, len(tested)):
            raise ValueError(f"classifier returned {probabilities.shape}, expected ({t}, {len(tested)}, K)")
        i1 = np.stack([i1_dprime(p, labels[tested]) for p in probabilities])           # (T, m)
        test[s, tested] = True
        i1_split[s][:, tested] = i1
        ost_split[s, tested] = solution_times(i1, target_i1[tested], bins, rule=_RULE[convention])
        rho_split[s] = _spearman(ost_split[s, tested], target_ost[tested])
    return OSTResult.from_splits(convention, stimulus_ids, bins, target_ost, test, i1_split, ost_split, rho_split)
