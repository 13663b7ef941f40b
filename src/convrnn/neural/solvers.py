"""Batched cross-validated linear maps in torch: ridge (all alphas, all targets) and PLS.

Everything is solved in the span of the training images, so one decomposition per fold serves
every alpha and every target (sites x bins stacked as columns of Y):

* ridge: with Xc the centred training features and Kc = Xc Xc^T = V diag(lam) V^T,
  ``Yhat_test(alpha) = A diag(1/(lam+alpha)) V^T Yc + mean(Y)`` where A = Xtest_c Xc^T V, and the hat
  matrix is ``11^T/n + V diag(lam/(lam+alpha)) V^T`` (unpenalised intercept). When features outnumber
  training images we eigendecompose the n x n kernel (taken from one N x N Gram matrix per feature
  matrix); otherwise X^T X (P x P). Alpha is chosen per target by GCV (closed form from V^T Yc) or by an
  inner K-fold CV over the training images.
* PLS: sklearn's NIPALS ``PLSRegression(scale=False)`` rewritten in kernel form (scores t = K_k u,
  deflation by projecting out previous scores) so the per-component power iteration runs on the
  S x S matrix Y_k^T K_k Y_k, batched over folds and independent target blocks (time bins). The
  convergence test reproduces sklearn's ||w_i - w_{i-1}||^2 < tol exactly, so predictions agree with
  sklearn to float64 round-off.

float64 throughout: eigenvalues of a Gram matrix span many decades and the PLS convergence test
compares against 1e-6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold

DEFAULT_ALPHAS = np.logspace(-2, 8, 21)
PLS_COMPONENTS = 25     # Brain-Score's pls_regression; the workflow sets it from neural.pls_components
_DT = torch.float64


def default_device(device=None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _t(a, device):
    return torch.as_tensor(np.asarray(a), device=device).to(_DT)


# ----------------------------------------------------------------------------------------- ridge
class _FoldBases:
    """Per-fold (V, lam, A) for one feature matrix, via the dual kernel or the primal covariance."""

    def __init__(self, X: torch.Tensor):
        self.X = X
        self._K = None

    def gram(self):
        if self._K is None:  # one N x N product serves every fold (centring is done per fold below)
            self._K = self.X @ self.X.T
        return self._K

    def __call__(self, train: torch.Tensor, test: torch.Tensor):
        n, p = len(train), self.X.shape[1]
        if p > n:
            kc, kte = centred_kernel(self.gram(), train, test)
            lam, V = torch.linalg.eigh(kc)
            keep = lam > lam[-1].clamp_min(0) * 1e-12
            lam, V = lam[keep], V[:, keep]
            A = kte @ V
        else:
            xtr = self.X[train]
            mu = xtr.mean(0)
            xc, xte = xtr - mu, self.X[test] - mu
            lam, W = torch.linalg.eigh(xc.T @ xc)
            keep = lam > lam[-1].clamp_min(0) * 1e-12
            lam, W = lam[keep], W[:, keep]
            s = lam.sqrt()
            V = (xc @ W) / s
            A = (xte @ W) * s
        return V, lam, A


def centred_kernel(K: torch.Tensor, train: torch.Tensor, test: torch.Tensor):
    """Kernel blocks of features centred on the training mean, from the uncentred Gram matrix."""
    k_all_tr = K[:, train]                       # (N, n)
    row = k_all_tr.mean(1)                       # <x_i, mean_train>
    grand = row[train].mean()
    ktr = k_all_tr[train] - row[train, None] - row[None, train] + grand
    kte = k_all_tr[test] - row[test, None] - row[None, train] + grand
    return ktr, kte


def _predict_all_alphas(V, lam, A, Yc, ymean, alphas):
    B = V.T @ Yc                                             # (r, Q)
    scale = 1.0 / (lam[None, :] + alphas[:, None])           # (n_alpha, r)
    return torch.einsum("mr,ar,rq->amq", A, scale, B) + ymean


def _gcv_errors(V, lam, Yc, alphas):
    """GCV(alpha, target) = n ||(I - H) y||^2 / (n - tr H)^2 (intercept counted in tr H)."""
    n = Yc.shape[0]
    B = V.T @ Yc
    outside = (Yc**2).sum(0) - (B**2).sum(0)                 # part of y outside span(V): never fitted
    shrink = alphas[:, None] / (lam[None, :] + alphas[:, None])
    rss = (shrink**2) @ (B**2) + outside.clamp_min(0)        # (n_alpha, Q)
    dof = 1.0 + (lam[None, :] / (lam[None, :] + alphas[:, None])).sum(1)
    return n * rss / (n - dof)[:, None] ** 2


@dataclass
class RidgeResult:
    predictions: list   # per split: (n_test, Q) float64 numpy
    alphas: np.ndarray  # (n_splits, Q) the alpha selected per split and target


def ridge_path(X, Y, train, test, alphas, *, device=None) -> np.ndarray:
    """Test predictions (n_alpha, n_test, Q) of ridge (with intercept) for every alpha; one decomposition."""
    dev = default_device(device)
    X, Y, al = _t(X, dev), _t(_2d(Y), dev), _t(np.atleast_1d(alphas), dev)
    tr, te = torch.as_tensor(np.asarray(train), device=dev), torch.as_tensor(np.asarray(test), device=dev)
    V, lam, A = _FoldBases(X)(tr, te)
    ym = Y[tr].mean(0)
    return _predict_all_alphas(V, lam, A, Y[tr] - ym, ym, al).cpu().numpy()


def ridge_cv(X, Y, splits, alphas=DEFAULT_ALPHAS, *, alpha_selection: str = "gcv", inner_folds: int = 5,
             seed: int = 0, device=None) -> RidgeResult:
    """Cross-validated ridge predictions for every target column of ``Y`` (N, Q).

    Per outer split, alpha is chosen per target on the training images only: ``"gcv"`` (closed form,
    no extra decomposition) or ``"cv"`` (``inner_folds``-fold CV, mean squared error).
    """
    if alpha_selection not in ("gcv", "cv"):
        raise ValueError(f"alpha_selection must be 'gcv' or 'cv', got {alpha_selection!r}")
    dev = default_device(device)
    X, Y = _t(X, dev), _t(_2d(Y), dev)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} stimuli but Y has {Y.shape[0]}")
    al = _t(np.atleast_1d(alphas), dev)
    bases = _FoldBases(X)
    preds, chosen = [], []
    for train, test in splits:
        tr = torch.as_tensor(np.asarray(train), device=dev)
        te = torch.as_tensor(np.asarray(test), device=dev)
        ytr = Y[tr]
        ym = ytr.mean(0)
        V, lam, A = bases(tr, te)
        if alpha_selection == "gcv":
            err = _gcv_errors(V, lam, ytr - ym, al)
        else:
            err = torch.zeros(len(al), Y.shape[1], dtype=_DT, device=dev)
            for itr, ite in KFold(inner_folds, shuffle=True, random_state=seed).split(np.zeros(len(tr))):
                a, b = tr[torch.as_tensor(itr, device=dev)], tr[torch.as_tensor(ite, device=dev)]
                Vi, li, Ai = bases(a, b)
                yi = Y[a].mean(0)
                err += ((_predict_all_alphas(Vi, li, Ai, Y[a] - yi, yi, al) - Y[b]) ** 2).sum(1)
        best = err.argmin(0)                                          # (Q,)
        coef = (V.T @ (ytr - ym)) / (lam[:, None] + al[best][None, :])  # per-target alpha
        preds.append((A @ coef + ym).cpu().numpy())
        chosen.append(al[best].cpu().numpy())
    return RidgeResult(preds, np.stack(chosen))


# ------------------------------------------------------------------------------------------- PLS
def pls_cv(X, Y, splits, n_components: int = PLS_COMPONENTS, *, max_iter: int = 500, tol: float = 1e-6, device=None,
           max_batch_bytes: float = 2**30):
    """Cross-validated PLSRegression(n_components, scale=False) predictions.

    ``Y`` is (G, N, S): G independent multi-output PLS problems (e.g. one per time bin, as Brain-Score
    fits) sharing the features X (N, P). Returns a list over splits of (G, n_test, S) numpy arrays.
    Splits of equal sizes are solved as one batch (in chunks of about ``max_batch_bytes``).

    The kernel K = Xc Xc^T is formed only when it is no larger than X (P >= N / 2); otherwise every product
    with K goes through the centred features (Xc (Xc^T v)), so many stacked rows (time bins x images, as in
    Brain-Score's span-time regression) never need an N x N matrix.
    """
    dev = default_device(device)
    X, Y = _t(X, dev), _t(Y, dev)
    if Y.ndim == 2:
        Y = Y[None]
    if Y.ndim != 3 or Y.shape[1] != X.shape[0]:
        raise ValueError(f"Y must be (G, N, S) with N = {X.shape[0]} stimuli, got {tuple(Y.shape)}")
    N, P = X.shape
    use_kernel = 2 * P >= N
    K = X @ X.T if use_kernel else None
    out = [None] * len(splits)
    by_size: dict = {}
    for i, (tr, te) in enumerate(splits):
        by_size.setdefault((len(tr), len(te)), []).append(i)
    for (n, _), idx in by_size.items():
        if not 1 <= n_components <= min(n, P):
            raise ValueError(f"n_components must be in [1, min(n_train={n}, n_features={P})], got {n_components}")
        per_fold = 8 * (n * (n if use_kernel else P) + Y.shape[0] * n * (Y.shape[2] + 4 * n_components))
        step = max(1, int(max_batch_bytes // per_fold))
        for lo in range(0, len(idx), step):
            chunk = idx[lo:lo + step]
            folds = [(torch.as_tensor(np.asarray(splits[i][0]), device=dev),
                      torch.as_tensor(np.asarray(splits[i][1]), device=dev)) for i in chunk]
            ys = torch.stack([Y[:, tr] for tr, _ in folds])
            if use_kernel:
                ktr, kte = map(torch.stack, zip(*(centred_kernel(K, tr, te) for tr, te in folds)))
                kmul = lambda V, k=ktr: k[:, None] @ V                       # noqa: E731
                temul = lambda V, k=kte: k[:, None] @ V                      # noqa: E731
            else:
                mus = [X[tr].mean(0) for tr, _ in folds]
                xtr = torch.stack([X[tr] - mu for (tr, _), mu in zip(folds, mus)])[:, None]
                xte = torch.stack([X[te] - mu for (_, te), mu in zip(folds, mus)])[:, None]
                kmul = lambda V, a=xtr: a @ (a.transpose(-1, -2) @ V)       # noqa: E731
                temul = lambda V, a=xtr, b=xte: b @ (a.transpose(-1, -2) @ V)  # noqa: E731
            pred = _kernel_pls(kmul, temul, ys, n_components, max_iter, tol)
            for j, i in enumerate(chunk):
                out[i] = pred[j].cpu().numpy()
    return out


def _kernel_pls(kmul, temul, Y, k, max_iter, tol):
    """NIPALS PLS in kernel form. ``kmul(V)``: K V with K (F, n, n) the centred train kernel, broadcast over G;
    ``temul(V)``: K_test,train V. Y (F, G, n, S) -> predictions (F, G, m, S)."""
    F, G, n, S = Y.shape
    eps = torch.finfo(_DT).eps
    ym = Y.mean(2, keepdim=True)
    Yc = Y - ym
    KY = kmul(Yc)                                       # (F, G, n, S)
    That = Y.new_zeros(F, G, n, k)                      # orthonormal x-scores so far
    KThat = Y.new_zeros(F, G, n, k)
    T = Y.new_zeros(F, G, n, k)                         # x-scores t_k (sklearn scale)
    U = Y.new_zeros(F, G, n, k)                         # u~_k with w_k = X^T u~_k
    KU = Y.new_zeros(F, G, n, k)
    for comp in range(k):
        Th, KTh = That[..., :comp], KThat[..., :comp]
        proj = Th.transpose(-1, -2) @ Yc                # (F, G, comp, S)
        Yk = Yc - Th @ proj                             # deflated targets
        KYk = KY - KTh @ proj
        M = Yk.transpose(-1, -2) @ KYk                  # (F, G, S, S) = Y_k^T K_k Y_k
        live = Yk.abs().amax(2) >= 10 * eps             # sklearn zeroes columns below 10 eps
        active = live.any(-1)                           # else sklearn stops: "y residual is constant"
        c = torch.nn.functional.one_hot(live.to(torch.int8).argmax(-1), S).to(_DT)  # first non-zero column
        c = _power_iterate(M, c, active, max_iter, tol, single=(S == 1))
        Mc = (M @ c[..., None])[..., 0]
        norm = (c * Mc).sum(-1).clamp_min(1e-300).sqrt()[..., None]
        kyc = (KYk @ c[..., None])[..., 0] / norm       # K Y_k c / ||X_k^T Y_k c||
        u = (Yk @ c[..., None])[..., 0] / norm
        t = kyc - (Th @ (Th.transpose(-1, -2) @ kyc[..., None]))[..., 0]   # P_{k-1} K u~
        a = active[..., None].to(_DT)
        t, u, kyc = t * a, u * a, kyc * a
        tn = t.norm(dim=-1, keepdim=True)
        th = torch.where(tn > 0, t / tn.clamp_min(1e-300), torch.zeros_like(t))
        That[..., comp], T[..., comp], U[..., comp], KU[..., comp] = th, t, u, kyc
        KThat[..., comp] = kmul(th[..., None])[..., 0]
    d = (T**2).sum(2)                                   # (F, G, k)
    dinv = torch.where(d > 0, 1.0 / d.clamp_min(1e-300), torch.zeros_like(d))
    PtW = (T.transpose(-1, -2) @ KU) * dinv[..., None]  # x_loadings^T x_weights, unit upper triangular
    Qt = (T.transpose(-1, -2) @ Yc) * dinv[..., None]  # y_loadings^T (k, S)
    return temul(U) @ torch.linalg.pinv(PtW) @ Qt + ym


def _power_iterate(M, c, active, max_iter, tol, single):
    """Replay sklearn's power method on M = Y^T K Y in closed form; return c with w = X^T Y c sklearn's final w.

    sklearn's w_i is proportional to X^T Y c_{i-1} with c_i = M c_{i-1}; it stops at the first i >= 2 with
    ||w_i - w_{i-1}||^2 = 2 - 2 cos(w_i, w_{i-1}) < tol (or at i = 1 for a single target). With
    M = Q diag(lam) Q^T and a = Q^T c_0, c_i = Q lam^i a, so every cos_i follows from the moments
    s_k = sum_j a_j^2 (lam_j / lam_max)^k: cos_i = s_{2i-2} / sqrt(s_{2i-1} s_{2i-3}). This finds sklearn's
    stopping iteration for all batch elements at once, without a Python loop over iterations.
    """
    if single:
        return c
    lam, Q = torch.linalg.eigh(M)                                   # (..., S), (..., S, S)
    lam = lam.clamp_min(0)
    ratio = lam / lam[..., -1:].clamp_min(1e-300)
    a = (Q.transpose(-1, -2) @ c[..., None])[..., 0]
    b = (a**2)[..., None, :]
    stop = torch.full(a.shape[:-1], max_iter, dtype=torch.long, device=M.device)
    done = torch.zeros_like(stop, dtype=torch.bool)
    for lo in range(2, max_iter + 1, 64):                           # blocks of iterations; most stop early
        i = torch.arange(lo, min(lo + 64, max_iter + 1), device=M.device)
        k = torch.arange(2 * lo - 3, 2 * int(i[-1]), dtype=_DT, device=M.device)   # moments s_k needed here
        s = (b * ratio[..., None, :] ** k[:, None]).sum(-1)
        j = 2 * (i - lo)                                           # index of s_{2i-3} within the block
        cos = s[..., j + 1] / (s[..., j + 2] * s[..., j]).clamp_min(1e-300).sqrt()
        conv = (2.0 - 2.0 * cos) < tol
        first = i[conv.to(torch.int8).argmax(-1)]
        new = conv.any(-1) & ~done
        stop = torch.where(new, first, stop)
        done |= new
        if bool(done.all()):
            break
    coef = ratio ** (stop - 1).to(_DT)[..., None] * a              # c_{stop-1} in the eigenbasis
    out = (Q @ coef[..., None])[..., 0]
    out = out / out.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.where(active[..., None], out, c)


def _2d(Y):
    Y = np.asarray(Y)
    return Y[:, None] if Y.ndim == 1 else Y
