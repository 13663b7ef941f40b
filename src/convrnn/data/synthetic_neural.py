"""Synthetic V4 / IT recordings and monkey-like behaviour from a hidden ground-truth network.

The pipeline is validated on data whose generating process is known. A small recurrent network
(:class:`GroundTruthNetwork`, deliberately *not* one of the ``convrnn.models`` architectures) stands in
for the ventral stream; recording sites are readouts of its layers at a planted latency, plus trial
noise whose level is set to hit a planted split-half reliability. Behaviour (per-image I1 and object
solution times, Kar et al. 2019) comes from decoding the network's IT layer.

Output tables use the same schema as the converted Brain-Score data (``docs/architecture.md``).
"""
from __future__ import annotations

import inspect
import math
from typing import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from convrnn.data.stimuli import check_image_set, normalize

REGION_LAYER = {"V4": "gt_v4", "IT": "gt_it"}  # which ground-truth layer each region reads


class GroundTruthNetwork:
    """Three conv stages with leaky integration, lateral recurrence and adaptation, fixed random weights.

    - ``gt_v1``: fixed 5x5 Gabor (4 orientations x 2 phases) and colour-opponent filters, both signs,
      stride 2, 20 channels.
    - ``gt_v4``: random 3x3 conv, stride 2, 32 channels. ``gt_it``: random 3x3 conv, stride 2, 64 channels.

    One step is ``step_ms`` (default 10 ms). Per layer and step (h: membrane, a: adaptation, r: rate)::

        h <- h + (step_ms / tau) * (W_ff * input + W_rec * r - h)
        a <- a + (step_ms / 100 ms) * (r - a)
        r  = relu(h - threshold - 0.5 * a)

    where ``input`` is the image for ``gt_v1`` (blank = 0 after ``image_off``) and the layer below's rate
    *at the previous step* for the others (one step of conduction delay per stage); tau = 20 / 30 / 40 ms.
    The network is at rest (all zeros) before stimulus onset.
    """

    layer_names = ("gt_v1", "gt_v4", "gt_it")
    _channels = (20, 32, 64)
    _tau_ms = (20.0, 30.0, 40.0)

    def __init__(self, seed: int = 0, image_size: int = 32, step_ms: float = 10.0):
        _check_image_size(image_size)
        self.image_size, self.step_ms = image_size, float(step_ms)
        g = torch.Generator().manual_seed(seed)
        self.w_ff = [_v1_filters()]
        for c_in, c_out in zip(self._channels[:-1], self._channels[1:]):
            self.w_ff.append(torch.randn(c_out, c_in, 3, 3, generator=g) * math.sqrt(2 / (9 * c_in)))
        # Lateral weights with gain 0.6 < 1 keep the recurrent loop stable.
        self.w_rec = [torch.randn(c, c, 3, 3, generator=g) * 0.6 / math.sqrt(9 * c) for c in self._channels]
        self.threshold = [0.05, 0.1, 0.1]
        self.shapes = {}
        size = image_size
        for name, c in zip(self.layer_names, self._channels):
            size //= 2
            self.shapes[name] = (c, size, size)

    def features(self, images_uint8: np.ndarray, times: int, image_off: int,
                 layers=None, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Rates of ``layers`` (default all) over ``times`` steps: {layer: float32 (T, N, C*H*W)}.

        Step ``t`` covers ``[t, t+1) * step_ms`` after stimulus onset; the image is shown for steps
        ``< image_off``. Units are flattened in (channel, row, column) order.
        """
        if images_uint8.shape[1:3] != (self.image_size, self.image_size):
            raise ValueError(f"images_uint8: expected {self.image_size}x{self.image_size} images, "
                             f"got {tuple(images_uint8.shape[1:3])}")
        layers = list(self.layer_names if layers is None else layers)
        unknown = [l for l in layers if l not in self.layer_names]
        if unknown:
            raise ValueError(f"layers: unknown {unknown}; expected some of {list(self.layer_names)}")
        n = len(images_uint8)
        out = {l: np.empty((times, n, math.prod(self.shapes[l])), np.float32) for l in layers}
        with torch.no_grad():
            for i in range(0, n, batch_size):
                x = normalize(images_uint8[i:i + batch_size])
                for t, rates in enumerate(self._run(x, times, image_off)):
                    for l in layers:
                        out[l][t, i:i + len(x)] = rates[self.layer_names.index(l)].flatten(1).numpy()
        return out

    def _run(self, x: torch.Tensor, times: int, image_off: int):
        b = len(x)
        h = [torch.zeros(b, *self.shapes[l]) for l in self.layer_names]
        a = [torch.zeros_like(v) for v in h]
        r = [torch.zeros_like(v) for v in h]
        blank = torch.zeros_like(x)
        for t in range(times):
            inputs = [x if t < image_off else blank] + r[:-1]  # r[:-1]: rates from the previous step
            new_r = []
            for k in range(3):
                pad = self.w_ff[k].shape[-1] // 2
                drive = F.conv2d(inputs[k], self.w_ff[k], stride=2, padding=pad)
                drive = drive + F.conv2d(r[k], self.w_rec[k], padding=1)
                h[k] = h[k] + (self.step_ms / self._tau_ms[k]) * (drive - h[k])
                a[k] = a[k] + (self.step_ms / 100.0) * (r[k] - a[k])
                new_r.append(torch.relu(h[k] - self.threshold[k] - 0.5 * a[k]))
            r = new_r
            yield r


def _v1_filters() -> torch.Tensor:
    """(20, 3, 5, 5): 8 zero-mean luminance Gabors (4 orientations x even/odd) in both signs, and
    red-green / blue-yellow centre-surround filters in both signs; unit L2 norm each."""
    c = torch.arange(5.0) - 2
    y, x = torch.meshgrid(c, c, indexing="ij")
    env = torch.exp(-(x ** 2 + y ** 2) / (2 * 1.3 ** 2))
    gabors = []
    for ori in torch.arange(4) * math.pi / 4:
        u = x * torch.cos(ori) + y * torch.sin(ori)
        for phase in (0.0, math.pi / 2):
            k = env * torch.cos(2 * math.pi * u / 4.0 + phase)
            gabors.append((k - k.mean()) * torch.ones(3, 1, 1) / 3)  # luminance: equal RGB weights
    centre = torch.exp(-(x ** 2 + y ** 2) / 2)
    for colour in (torch.tensor([1.0, -1.0, 0.0]), torch.tensor([-0.5, -0.5, 1.0])):
        gabors.append(colour.view(3, 1, 1) * centre)
    k = torch.stack(gabors)
    k = torch.cat([k, -k])
    return k / k.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


# ------------------------------------------------------------------------------------ recordings
def simulate_neural(images: np.ndarray, meta: pd.DataFrame, *,
                    n_sites: Mapping[str, int] = {"V4": 24, "IT": 32},  # noqa: B006 (read only)
                    n_probes: int = 2, n_reps: int = 10, bin_ms: int = 10, t_start_ms: int = 0,
                    t_stop_ms: int = 200, image_off_ms: int = 100,
                    latency_ms: Mapping[str, float | tuple[float, float]] = {"V4": (30, 50), "IT": (50, 70)},  # noqa
                    reliability_range: tuple[float, float] = (0.6, 0.95), seed: int = 0,
                    ) -> dict[str, pd.DataFrame]:
    """Simulate trial-by-trial V4/IT responses to ``images`` and monkey-like behaviour.

    Returns ``{"responses", "sites", "behavior"}``:

    ``responses`` (long; one row per stimulus x site x time bin x repetition, in that nesting order):
        ``stimulus_id, site, region`` (categorical strings), ``time_bin_start_ms, time_bin_end_ms,
        repetition`` (int64), ``response`` (float32, arbitrary units).
    ``sites``: ``site, region, source_layer, latency_ms, probe, noise_sd, signal_sd, reliability,
        reliability_peak_bin``.
    ``behavior``: ``stimulus_id, i1, ost_ms`` from decoding ``category_id`` from the noise-free
        ``gt_it`` layer read at the midpoint of ``latency_ms["IT"]`` (required even without IT sites);
        see :func:`decode_behavior`. ``ost_ms`` may be NaN.

    The network is untrained, so its IT layer is only weakly category-selective: I1 is above chance
    and falls from V0 to V6, but is lower than a monkey's.

    Sites. A site of region R reads ``REGION_LAYER[R]`` through a Gaussian spatial receptive field
    times sparse random channel weights, ``u(t) = w . f_layer(t - latency)`` (the layer is at rest
    before onset), standardised over stimuli and bins to ``z``. The first ``n_probes`` sites of each
    region are exactly ``z`` (affine in the layer: planted-truth tests), with the midpoint latency
    and the top of ``reliability_range``; the others are rate-like, ``softplus(z + b)``. Latencies are
    drawn uniformly from ``latency_ms[R]`` (a number or a (lo, hi) range) and rounded to the
    ``bin_ms`` grid, because the network runs one step per bin. Trial noise is independent Gaussian
    (sd ``noise_sd``) per bin.

    Planted reliability (per site, of the response averaged over all ``B`` bins of the table)::

        S = signal_sd**2 = Var_stimuli( mean_bins(signal) )
        reliability = S / (S + noise_sd**2 / (B * n_reps))

    which is the Spearman-Brown (n=2) corrected correlation between two halves of the repetitions,
    ``SB(r) = 2r / (1 + r)`` with ``r = S / (S + 2 noise_sd**2 / (B * n_reps))``. The target is drawn
    per site from ``reliability_range`` and ``noise_sd`` solved from it. ``reliability_peak_bin`` is
    the same quantity for the single bin where the site's stimulus-driven variance peaks
    (``V / (V + noise_sd**2 / n_reps)``); 10-ms bins are far less reliable than the time average.
    """
    _check_simulation_args(images, meta, n_sites, n_probes, n_reps, bin_ms, t_start_ms, t_stop_ms,
                           image_off_ms, latency_ms, reliability_range)
    rng = np.random.default_rng([seed, 1])
    net = GroundTruthNetwork(seed, images.shape[1], step_ms=bin_ms)
    starts = np.arange(t_start_ms, t_stop_ms, bin_ms)
    n_img, n_bins = len(images), len(starts)

    lat = {}  # region -> latency per site (ms, on the bin grid)
    for region, count in n_sites.items():
        lo, hi = _as_range(latency_ms[region])
        drawn = np.r_[np.full(n_probes, (lo + hi) / 2), rng.uniform(lo, hi, count - n_probes)]
        lat[region] = np.round(drawn / bin_ms).astype(int) * bin_ms
    min_lat = min(v.min() for v in lat.values())
    times = max(1, (t_stop_ms - bin_ms - min_lat) // bin_ms + 1)
    layers = sorted({REGION_LAYER[r] for r in n_sites} | {"gt_it"})  # gt_it also drives behaviour
    feats = net.features(images, times, image_off_ms // bin_ms, layers=layers)

    site_rows, signals = [], []
    for region, count in n_sites.items():
        layer = REGION_LAYER[region]
        c, h, w = net.shapes[layer]
        rf_sd = 0.35 if region == "V4" else 0.8  # in units of the layer's half-width: IT RFs are larger
        weights = np.stack([_readout_weights(rng, c, h, w, rf_sd) for _ in range(count)], 1)
        u_all = feats[layer] @ weights  # (T, N, count): every site's readout at every network step
        u_all = np.concatenate([np.zeros((1,) + u_all.shape[1:], np.float32), u_all])  # row 0: at rest
        offsets = rng.uniform(-1, 0.5, count)
        for i in range(count):
            steps = np.clip((starts - lat[region][i]) // bin_ms, -1, times - 1) + 1
            u = u_all[steps, :, i]  # (B, N)
            z = (u - u.mean()) / max(u.std(), 1e-12)
            probe = i < n_probes
            sig = z if probe else np.logaddexp(0, z + offsets[i])  # softplus: rate-like
            signals.append(sig.T.astype(np.float32))  # (N, B)
            site_rows.append({"site": f"{region}_{i:03d}", "region": region, "source_layer": layer,
                              "latency_ms": int(lat[region][i]), "probe": probe})
    signal = np.stack(signals, 1)  # (N, S, B)
    sites = pd.DataFrame(site_rows)
    target = rng.uniform(*reliability_range, len(sites))
    target[sites.probe.to_numpy()] = reliability_range[1]  # well-determined planted-truth regressions
    signal_var = signal.mean(2, dtype=np.float64).var(0)
    silent = sites.site[signal_var <= 1e-12 * signal_var.max(initial=0) + 1e-30].tolist()
    if silent:
        raise ValueError(f"latency_ms / t_stop_ms: site(s) {silent} carry no stimulus-driven signal in "
                         f"[{t_start_ms}, {t_stop_ms}) ms; shorten the latencies or extend the window")
    noise_sd = np.sqrt(signal_var * n_bins * n_reps * (1 - target) / target)
    peak_var = signal.var(0, dtype=np.float64).max(1)
    sites["noise_sd"] = noise_sd
    sites["signal_sd"] = np.sqrt(signal_var)
    sites["reliability"] = signal_var / (signal_var + noise_sd ** 2 / (n_bins * n_reps))
    sites["reliability_peak_bin"] = peak_var / (peak_var + noise_sd ** 2 / n_reps)

    noise = rng.standard_normal((n_img, len(sites), n_bins, n_reps), dtype=np.float32)
    trials = signal[..., None] + noise * noise_sd.astype(np.float32)[None, :, None, None]
    responses = _long_table(trials, meta["stimulus_id"].to_numpy(), sites, starts, bin_ms)

    behavior = decode_behavior(feats["gt_it"], meta["category_id"].to_numpy(), step_ms=bin_ms,
                               offset_ms=sum(_as_range(latency_ms["IT"])) / 2, t_start_ms=t_start_ms,
                               t_stop_ms=t_stop_ms, seed=seed)
    behavior.insert(0, "stimulus_id", meta["stimulus_id"].to_numpy())
    return {"responses": responses, "sites": sites, "behavior": behavior}


def _readout_weights(rng, c, h, w, rf_sd):
    """(C*H*W,) weights: a Gaussian spatial RF at a random position times sparse random channel weights."""
    grid = (np.arange(h) + 0.5) / h * 2 - 1
    cy, cx = rng.uniform(-0.5, 0.5, 2)
    rf = np.exp(-((grid[:, None] - cy) ** 2 + (grid[None, :] - cx) ** 2) / (2 * rf_sd ** 2))
    chan = rng.standard_normal(c) * (rng.uniform(size=c) < 0.5)
    return (chan[:, None, None] * rf[None]).reshape(-1).astype(np.float32)


def _long_table(trials, stimulus_ids, sites, starts, bin_ms) -> pd.DataFrame:
    n, s, b, r = trials.shape
    idx = np.indices((n, s, b, r)).reshape(4, -1)
    region_codes, regions = pd.factorize(sites["region"])
    return pd.DataFrame({
        "stimulus_id": pd.Categorical.from_codes(idx[0], categories=pd.Index(stimulus_ids, dtype=object)),
        "site": pd.Categorical.from_codes(idx[1], categories=pd.Index(sites["site"], dtype=object)),
        "region": pd.Categorical.from_codes(region_codes[idx[1]], categories=regions),
        "time_bin_start_ms": starts[idx[2]].astype(np.int64),
        "time_bin_end_ms": (starts[idx[2]] + bin_ms).astype(np.int64),
        "repetition": idx[3].astype(np.int64),
        "response": trials.reshape(-1),
    })


def _as_range(v) -> tuple[float, float]:
    return (float(v), float(v)) if np.isscalar(v) else (float(v[0]), float(v[1]))


def _check_image_size(image_size: int) -> None:
    if image_size < 8 or image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8 (three stride-2 stages), got {image_size}")


def check_settings(image_size: int | None = None, **settings) -> None:
    """Raise ValueError, starting with the name of the setting at fault, unless ``simulate_neural`` can run with
    these keyword arguments (its defaults for the others) on images of ``image_size`` px; needs no images, so a
    config is checked before any job."""
    args = inspect.signature(simulate_neural).bind(None, None, **settings)
    args.apply_defaults()
    a = args.arguments
    if image_size is not None:
        _check_image_size(image_size)
    _check_settings(a["n_sites"], a["n_probes"], a["n_reps"], a["bin_ms"], a["t_start_ms"], a["t_stop_ms"],
                    a["image_off_ms"], a["latency_ms"], a["reliability_range"])


def _check_simulation_args(images, meta, *settings):
    if not isinstance(images, np.ndarray):
        raise ValueError(f"images: expected a numpy uint8 array (N, H, W, 3), got {type(images).__name__}")
    check_image_set(images, meta, ("stimulus_id", "category_id"))
    _check_settings(*settings)


def _check_settings(n_sites, n_probes, n_reps, bin_ms, t_start_ms, t_stop_ms, image_off_ms, latency_ms,
                    reliability_range):
    if not n_sites or any(r not in REGION_LAYER for r in n_sites):
        raise ValueError(f"n_sites: regions must be among {list(REGION_LAYER)}, got {dict(n_sites)}")
    if any(int(k) < max(n_probes, 1) for k in n_sites.values()):
        raise ValueError(f"n_sites: each region needs >= max(n_probes, 1) = {max(n_probes, 1)} sites, "
                         f"got {dict(n_sites)}")
    if n_reps < 2:
        raise ValueError(f"n_reps must be >= 2 (split halves), got {n_reps}")
    if bin_ms <= 0 or t_stop_ms <= t_start_ms or (t_stop_ms - t_start_ms) % bin_ms:
        raise ValueError(f"t_stop_ms - t_start_ms must be a positive multiple of bin_ms, got "
                         f"{t_start_ms}..{t_stop_ms} in {bin_ms} ms bins")
    if image_off_ms <= 0 or image_off_ms % bin_ms:
        raise ValueError(f"image_off_ms must be a positive multiple of bin_ms={bin_ms}, got {image_off_ms}")
    for region in {*n_sites, "IT"}:
        if region not in latency_ms:
            raise ValueError(f"latency_ms: no entry for region {region!r}")
        lo, hi = _as_range(latency_ms[region])
        if not 0 <= lo <= hi:
            raise ValueError(f"latency_ms[{region!r}] must be >= 0 and lo <= hi, got {latency_ms[region]}")
    lo, hi = reliability_range
    if not 0 < lo <= hi < 1:
        raise ValueError(f"reliability_range must satisfy 0 < lo <= hi < 1, got {reliability_range}")
    for region in n_sites:
        # a site reads its layer, which the image reaches one step per stage after the site's latency (rounded to
        # the bin grid): the window must reach that step for the latest latency a site may draw
        stage = GroundTruthNetwork.layer_names.index(REGION_LAYER[region])
        first = round(_as_range(latency_ms[region])[1] / bin_ms) * bin_ms + stage * bin_ms
        if t_stop_ms - bin_ms < first:
            raise ValueError(f"t_stop_ms={t_stop_ms} / latency_ms[{region!r}]={latency_ms[region]}: {region} sites "
                             f"(then {stage} step(s) to reach {REGION_LAYER[region]}) respond from {first} ms on; a "
                             f"window ending before the bin [{first}, {first + bin_ms}) ms leaves some of them "
                             "without a stimulus-driven bin")


# ------------------------------------------------------------------------------------- behaviour
def decode_behavior(population: np.ndarray, labels: np.ndarray, *, step_ms: float, offset_ms: float,
                    t_start_ms: float, t_stop_ms: float, seed: int = 0, n_components: int = 32) -> pd.DataFrame:
    """Per-image I1 and object solution time (OST) from a population's (T, N, D) time course.

    Step ``k`` of ``population`` is read out at ``offset_ms + k * step_ms`` (the region's latency);
    only times in ``[t_start_ms, t_stop_ms)`` are used. Features are reduced to the top PCs of the
    time-averaged population, z-scored, and decoded with a multinomial ``LogisticRegression``;
    every image's choice probabilities come from stratified k-fold cross-validation (k <= 5).

    - ``i1`` (Rajalingham et al. 2018, as in Brain-Score's ``i1i2``): for each distractor class d,
      hit = p_true / (p_true + p_d); false-alarm rate = mean over images of class d of
      p_true / (p_true + p_d); d' = Phi^-1(hit) - Phi^-1(FA), rates clipped to [1e-4, 1 - 1e-4],
      d' clipped to +-5, averaged over distractors. "Behaviour" is the decoder on the time-averaged
      population.
    - ``ost_ms`` (Kar et al. 2019): the first time at which the per-time-step decoder's I1 reaches
      the image's behavioural ``i1``, linearly interpolated from the previous step; the first step's
      time if it is already reached there; NaN if never reached.
    """
    from scipy.stats import norm
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    _, classes = np.unique(labels, return_inverse=True)
    counts = np.bincount(classes)
    if len(counts) < 2 or counts.min() < 2:
        raise ValueError(f"labels: need >= 2 classes with >= 2 images each, got counts {counts.tolist()}")
    t = offset_ms + step_ms * np.arange(population.shape[0])
    keep = (t >= t_start_ms) & (t < t_stop_ms)
    t, population = t[keep], population[keep]
    if not len(t):
        raise ValueError(f"t_start_ms / t_stop_ms: no population time step (offset {offset_ms} ms) falls in "
                         f"[{t_start_ms}, {t_stop_ms}) ms")

    pca = PCA(min(n_components, *population.shape[1:]) - 1, random_state=seed).fit(population.mean(0))
    cv = StratifiedKFold(min(5, counts.min()), shuffle=True, random_state=seed)
    decoder = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, tol=1e-3, max_iter=500))
    onehot = np.eye(len(counts), dtype=bool)[classes]

    def i1(x):
        p = cross_val_predict(decoder, pca.transform(x), classes, cv=cv, method="predict_proba")
        p_true = p[onehot][:, None]
        hit = p_true / (p_true + p)  # (N, K): column d = trials "true vs d"
        fa = np.empty((len(counts), len(counts)))  # fa[t, d]: on images of d, choosing t over d
        for d in range(len(counts)):
            q = p[classes == d]
            fa[:, d] = (q / (q + q[:, [d]])).mean(0)
        z = lambda q: norm.ppf(np.clip(q, 1e-4, 1 - 1e-4))
        d = np.clip(z(hit) - z(fa[classes]), -5, 5)
        d[onehot] = np.nan
        return np.nanmean(d, 1)

    # Hundreds of tiny fits: BLAS threads only add contention (measured 3x slower on 2 busy cores).
    with threadpool_limits(1):
        target = i1(population.mean(0))
        per_time = np.stack([i1(x) for x in population])  # (T, N)
    return pd.DataFrame({"i1": target, "ost_ms": _first_crossing(per_time, target, t)})


def _first_crossing(values: np.ndarray, target: np.ndarray, t: np.ndarray) -> np.ndarray:
    """For each column, the first time ``values`` >= ``target``, interpolated linearly; NaN if never."""
    hit = values >= target
    first = hit.argmax(0)
    out = np.full(values.shape[1], np.nan)
    for j in np.flatnonzero(hit.any(0)):
        k = first[j]
        if k == 0:
            out[j] = t[0]
        else:
            v0, v1 = values[k - 1, j], values[k, j]
            out[j] = t[k - 1] + (t[k] - t[k - 1]) * (target[j] - v0) / (v1 - v0)
    return out
