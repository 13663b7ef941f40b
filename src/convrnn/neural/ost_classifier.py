"""Per-time-bin object decoders for the OST metric: Brain-Score's TF classifier ported to torch, and sklearn ones.

Every decoder is a callable ``(train_x, train_y, test_x) -> probabilities``: ``train_x`` (B, n, D) and ``test_x``
(B, m, D) hold B independent problems (time bins) over the same images, ``train_y`` (n,) class indices 0..K-1
(every class present), and the result is (B, m, K) choice probabilities with columns in class order.
torch and sklearn are imported inside the calls, so a job that only summarises never loads them.
"""
from __future__ import annotations

import numpy as np

from .tf_random import variance_scaling_kernel

BRAINSCORE_WEIGHT_DECAY = 0.463   # TFProbabilitiesClassifier: 1 / (C * n) with C = 1e-3, n = 2160 objectome images


def _check(train_x, train_y, test_x) -> int:
    if train_x.ndim != 3 or test_x.ndim != 3 or train_x.shape[0] != test_x.shape[0] \
            or train_x.shape[2] != test_x.shape[2] or train_y.shape != (train_x.shape[1],):
        raise ValueError(f"decoder inputs must be train_x (B, n, D), train_y (n,), test_x (B, m, D); got "
                         f"{train_x.shape}, {train_y.shape}, {test_x.shape}")
    classes = np.unique(train_y)
    if not np.array_equal(classes, np.arange(len(classes))):
        raise ValueError(f"train_y must hold every class index 0..K-1 (a class missing from a training split "
                         f"has no decoder output), got {classes.tolist()}")
    return len(classes)


def zscore(train_x: np.ndarray, test_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per problem, sklearn ``StandardScaler`` fitted on the training images (Brain-Score's choice, so constant
    features and dtype are handled exactly as there)."""
    from sklearn.preprocessing import StandardScaler

    out_train, out_test = np.empty_like(train_x), np.empty_like(test_x)
    for b in range(len(train_x)):
        scaler = StandardScaler().fit(train_x[b])
        out_train[b], out_test[b] = scaler.transform(train_x[b]), scaler.transform(test_x[b])
    return out_train, out_test


class TFSoftmaxClassifier:
    """Brain-Score's ``TFProbabilitiesClassifier`` (brainscore_vision/metrics/ost/metric.py) re-implemented in torch.

    Same as there: z-scored features fed as float32; a dense softmax layer whose kernel is Keras VarianceScaling
    (seed 0, i.e. TF's own draw, see ``tf_random``) and bias 1; loss = mean cross-entropy over the batch
    + ``weight_decay`` / 2 * (|W|^2 + |b|^2); TF1 Adam (lr 1e-4, beta 0.9/0.999, epsilon 1e-8 added to sqrt(v));
    batches of 64 in an order reshuffled every epoch by ``RandomState(seed).shuffle``; up to 40 epochs, stopping
    after an epoch whose last batch has cross-entropy < ``tol``. Output columns follow the order in which
    classes first appear among the training images, as Brain-Score's label mapping does, and are put back in
    class order on return. All B problems train together (one batched matmul per step); each stops on its own.
    """

    def __init__(self, *, lr: float = 1e-4, max_epochs: int = 40, batch_size: int = 64,
                 weight_decay: float = BRAINSCORE_WEIGHT_DECAY, tol: float = 1e-4, seed: int = 0,
                 device: str = "cpu"):
        if max_epochs < 1 or batch_size < 1 or lr <= 0 or weight_decay < 0:
            raise ValueError(f"TFSoftmaxClassifier: need max_epochs, batch_size >= 1, lr > 0, weight_decay >= 0; "
                             f"got {max_epochs}, {batch_size}, {lr}, {weight_decay}")
        self.lr, self.max_epochs, self.batch_size = lr, max_epochs, batch_size
        self.weight_decay, self.tol, self.seed, self.device = weight_decay, tol, seed, device

    def __call__(self, train_x, train_y, test_x) -> np.ndarray:
        import torch

        train_x, test_x, train_y = np.asarray(train_x), np.asarray(test_x), np.asarray(train_y)
        k = _check(train_x, train_y, test_x)
        train_z, test_z = zscore(train_x, test_x)
        # Brain-Score numbers classes by first appearance; column j of the kernel belongs to that class.
        first_seen = train_y[np.sort(np.unique(train_y, return_index=True)[1])]
        column_of = np.empty(k, np.int64)
        column_of[first_seen] = np.arange(k)
        y_col = column_of[train_y]

        dev, f32 = torch.device(self.device), torch.float32
        x = torch.as_tensor(train_z, dtype=f32, device=dev)                       # (B, n, D)
        onehot = torch.nn.functional.one_hot(torch.as_tensor(y_col, device=dev), k).to(f32)
        w0 = torch.as_tensor(variance_scaling_kernel(x.shape[2], k, seed=self.seed), device=dev)
        with torch.no_grad():
            w, bias = self._train(x, onehot, w0)
            logits = torch.baddbmm(bias[:, None, :], torch.as_tensor(test_z, dtype=f32, device=dev), w)
            proba = torch.softmax(logits, dim=-1)
        return proba.cpu().numpy().astype(np.float64)[:, :, column_of]

    def _train(self, x, onehot, w0):
        """Adam on B problems at once: (B, n, D) features, (n, K) one-hot labels, (D, K) initial kernel."""
        import torch

        b_problems, n, d = x.shape
        dev, f32 = x.device, torch.float32
        w = w0.expand(b_problems, *w0.shape).contiguous()
        bias = torch.ones(b_problems, w0.shape[1], dtype=f32, device=dev)
        params = [w, bias]
        moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        # Constants as TF forms them, in float32 (e.g. 1 - beta1 is 1.0f - 0.9f, not float32(0.1)).
        one, beta1, beta2 = (torch.tensor(c, dtype=f32, device=dev) for c in (1.0, 0.9, 0.999))
        lr, eps, decay = (torch.tensor(c, dtype=f32, device=dev) for c in (self.lr, 1e-8, self.weight_decay))
        # TF keeps beta^t in float32 variables, multiplied once per applied step (per problem here).
        beta1_power, beta2_power = beta1.repeat(b_problems), beta2.repeat(b_problems)
        active = torch.ones(b_problems, dtype=torch.bool, device=dev)
        rng = np.random.RandomState(self.seed)
        for _ in range(self.max_epochs):
            order = np.arange(n)
            rng.shuffle(order)
            perm = torch.as_tensor(order, device=dev)
            x_epoch, y_epoch = x[:, perm], onehot[perm]                          # batches become views
            all_active = bool(active.all())
            for start in range(0, n, self.batch_size):
                xb, yb = x_epoch[:, start:start + self.batch_size], y_epoch[start:start + self.batch_size]
                log_p = torch.log_softmax(torch.baddbmm(bias[:, None, :], xb, w), dim=-1)
                g_logits = (log_p.exp() - yb) * (one / xb.shape[1])            # mean's gradient: 1/n in float32
                grads = [torch.bmm(xb.transpose(1, 2), g_logits) + decay * w, g_logits.sum(1) + decay * bias]
                alpha = lr * torch.sqrt(one - beta2_power) / (one - beta1_power)  # (B,)
                for p, g, (m, v) in zip(params, grads, moments):
                    shape = (-1,) + (1,) * (p.dim() - 1)
                    step_m, step_v = (g - m) * (one - beta1), (g * g - v) * (one - beta2)
                    if not all_active:                                        # stopped problems stay put
                        on = active.view(shape).to(f32)
                        step_m, step_v = step_m * on, step_v * on
                    m.add_(step_m)
                    v.add_(step_v)
                    step = (m * alpha.view(shape)) / (v.sqrt() + eps)
                    p.sub_(step if all_active else step * active.view(shape).to(f32))
                beta1_power = torch.where(active, beta1_power * beta1, beta1_power)
                beta2_power = torch.where(active, beta2_power * beta2, beta2_power)
            last_ce = -(log_p * yb).sum(-1).mean(-1)                             # the epoch's last batch
            active &= ~(last_ce < self.tol)
            if not bool(active.any()):
                break
        return w, bias


class LogisticClassifier:
    """sklearn multinomial ``LogisticRegression`` fitted to convergence on z-scored features, with the same
    objective as the TF classifier: sklearn minimises C * sum(CE) + |W|^2 / 2, i.e. n*C * (mean CE +
    |W|^2 / (2 n C)), so C = 1 / (weight_decay * n_train). Unlike TF, the intercept is not penalised."""

    def __init__(self, *, weight_decay: float = BRAINSCORE_WEIGHT_DECAY, max_iter: int = 1000, tol: float = 1e-4):
        if weight_decay <= 0:
            raise ValueError(f"LogisticClassifier: weight_decay must be > 0, got {weight_decay}")
        self.weight_decay, self.max_iter, self.tol = weight_decay, max_iter, tol

    def __call__(self, train_x, train_y, test_x) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        train_x, test_x, train_y = np.asarray(train_x), np.asarray(test_x), np.asarray(train_y)
        _check(train_x, train_y, test_x)
        train_z, test_z = zscore(train_x, test_x)
        c = 1.0 / (self.weight_decay * train_x.shape[1])
        out = []
        for b in range(len(train_z)):
            clf = LogisticRegression(C=c, max_iter=self.max_iter, tol=self.tol).fit(train_z[b], train_y)
            out.append(clf.predict_proba(test_z[b]))
        return np.stack(out)


class LinearSVMClassifier:
    """A linear SVM per bin with probabilities: sklearn ``SVC(kernel='linear')`` (one-vs-one, libsvm) on z-scored
    features, its class scores Platt-scaled one-vs-rest and normalised by ``CalibratedClassifierCV(method=
    'sigmoid', cv=5, ensemble=False)`` (sklearn's replacement for ``SVC(probability=True)``; deterministic). The NC
    2022 OSTs used "a linear SVM at each 10 ms model time bin"; C, the scaling and the probability route are our
    choice (docs/references.md, "Behaviour"). ~2 s per bin at 1188 x 1000 on one core."""

    def __init__(self, *, C: float = 1.0, calibration_folds: int = 5):
        if C <= 0 or calibration_folds < 2:
            raise ValueError(f"LinearSVMClassifier: need C > 0 and calibration_folds >= 2, got {C}, "
                             f"{calibration_folds}")
        self.C, self.calibration_folds = C, calibration_folds

    def __call__(self, train_x, train_y, test_x) -> np.ndarray:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        train_x, test_x, train_y = np.asarray(train_x), np.asarray(test_x), np.asarray(train_y)
        _check(train_x, train_y, test_x)
        train_z, test_z = zscore(train_x, test_x)
        out = []
        for b in range(len(train_z)):
            clf = CalibratedClassifierCV(SVC(kernel="linear", C=self.C), method="sigmoid",
                                         cv=self.calibration_folds, ensemble=False).fit(train_z[b], train_y)
            out.append(clf.predict_proba(test_z[b]))
        return np.stack(out)


CLASSIFIERS = {"torch": TFSoftmaxClassifier, "sklearn": LogisticClassifier, "svm": LinearSVMClassifier}


def make_classifier(name: str, **kwargs):
    """A decoder by its config name: ``torch`` (the TF port, Brain-Score's), ``sklearn`` (converged logistic),
    ``svm`` (NC 2022's linear SVM)."""
    if name not in CLASSIFIERS:
        raise ValueError(f"behavior.classifier: {name!r} is not one of {sorted(CLASSIFIERS)}")
    return CLASSIFIERS[name](**kwargs)
