"""Batched cross-validated linear maps in torch: ridge (all alphas, all targets) and PLS.

Everything is solved in the span of the training images, so one decomposition per fold serves
every alpha and every target (sites x bins stacked as columns of Y):

* ridge: with Xc the centred training features and Kc = Xc Xc^T = V diag(lam) V^T,
  ``Yhat_test(alpha) = A diag(1/(lam+alpha)) V^T Yc + mean(Y)`` where A = Xtest_c Xc^T V, and the hat
  matrix is ``11^T/n + V diag(lam/(lam+alpha)) V^T`` (unpenalised intercept). When features outnumber
  training images we eigendecompose the n x n kernel (taken from one N x N Gram matrix per feature
  matrix); otherwise X^T X (P x P). Alpha is chosen per target by GCV (closed form from V^T Yc) or by an
  inner K-fold CV over the training images.
* PLS (default when features <= training images, e.g. Brain-Score's 1000 features x 2880 images): sklearn's
  NIPALS ``PLSRegression(scale=False)`` in covariance form. Each x-weight is sklearn's power iterate on the
  deflated cross-covariance C_k = X_k^T Y_k, replayed on the S x S matrix C_k^T C_k with sklearn's stopping
  test; deflation only needs the P x P Gram (G_k = G - sum t_j^T t_j p_j p_j^T, C_{k+1} = C_k - t^T t p q^T),
  and each split's Gram / cross-covariance is the full one minus that of the rows it leaves out of training (its
  test rows: G w = G_all w - Xte^T Xte w - n mu mu^T w, so no per-split P x P matrix is formed). No step touches the n training rows after the one
  Gram of all images.
* PLS (otherwise): sklearn's NIPALS ``PLSRegression(scale=False)`` rewritten in kernel form (scores t = K_k u,
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

from .defaults import DEFAULT_ALPHAS, PLS_COMPONENTS  # noqa: E402,F401 (re-exported)

_DT = torch.float64


def default_device(device=None) -> torch.device:
    """The solvers' device: the one given, else a GPU when there is one (``convrnn.devices``)."""
    from convrnn.devices import resolve_device

    return resolve_device(device)


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
    """Kernel blocks of features centred on the training mean, from the uncentred Gram matrix (..., N, N)."""
    k_all_tr = K[..., train]                     # (..., N, n)
    row = k_all_tr.mean(-1)                      # <x_i, mean_train>
    rtr = row[..., train]
    grand = rtr.mean(-1)[..., None, None]
    ktr = k_all_tr[..., train, :] - rtr[..., :, None] - rtr[..., None, :] + grand
    kte = k_all_tr[..., test, :] - row[..., test, None] - rtr[..., None, :] + grand
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
SMALL_N = 500


def pls_cv(X, Y, splits, n_components: int = PLS_COMPONENTS, *, max_iter: int = 500, tol: float = 1e-6, device=None,
           max_batch_bytes: float = 2**30, method: str = "auto"):
    """Cross-validated PLSRegression(n_components, scale=False) predictions.

    ``Y`` is (G, N, S): G independent multi-output PLS problems (e.g. one per time bin, as Brain-Score
    fits), sharing the features X (N, P) or each with its own, X (G, N, P) (e.g. a layer's model steps, each
    paired with its bin: one call instead of G). Returns a list over splits of (G, n_test, S) numpy arrays.
    Splits of equal sizes are solved as one batch (in chunks of about ``max_batch_bytes``).

    The kernel K = Xc Xc^T is formed only when it is no larger than X (P >= N / 2); otherwise every product
    with K goes through the centred features (Xc (Xc^T v)), so many stacked rows (time bins x images, as in
    Brain-Score's span-time regression) never need an N x N matrix.

    ``method``: ``"covariance"`` (P x P Gram and P x S cross-covariance per split, see the module docstring; a split
    that leaves rows out of both its training and test images, e.g. folds nested in a subset, removes those too),
    ``"kernel"`` (the n x n form above), or ``"auto"``: covariance when P <= the training-set size, except for a
    single small problem (G = 1, n < ``SMALL_N``), where the kernel form's fewer Python steps win (measured:
    320 x 64 x 32, 0.22 s vs 0.30 s for 10 splits; from 1000 images or 20 bins on, covariance wins). Both
    reproduce sklearn's iterations; a split whose target residual (or x-score) nearly vanishes, where sklearn
    zeroes columns of Y_k by their max-abs value, is re-solved in kernel form, which applies that rule exactly.
    """
    if method not in ("auto", "covariance", "kernel"):
        raise ValueError(f"method must be 'auto', 'covariance' or 'kernel', got {method!r}")
    dev = default_device(device)
    if np.ndim(X) == 3 and np.ndim(Y) == 3 and len(X) == len(Y) > 1:
        # a feature matrix per problem: as many problems per call as fit ~max_batch_bytes (X, centred X, test rows)
        per_problem = 8 * np.shape(X)[1] * (3 * np.shape(X)[2] + 2 * np.shape(Y)[2])
        g_step = max(1, int(max_batch_bytes // per_problem))
        if g_step < len(X):
            parts = [pls_cv(X[lo:lo + g_step], Y[lo:lo + g_step], splits, n_components, max_iter=max_iter, tol=tol,
                            device=device, max_batch_bytes=max_batch_bytes, method=method)
                     for lo in range(0, len(X), g_step)]
            return [np.concatenate(per_split) for per_split in zip(*parts)]
    X, Y = _t(X, dev), _t(Y, dev)
    if Y.ndim == 2:
        Y = Y[None]
    X = X[None] if X.ndim == 2 else X                    # (Gx, N, P), Gx = 1 (shared) or G
    if X.ndim != 3:
        raise ValueError(f"X must be (N, P) or (G, N, P), got {tuple(X.shape)}")
    if Y.ndim != 3 or Y.shape[1] != X.shape[1]:
        raise ValueError(f"Y must be (G, N, S) with N = {X.shape[1]} stimuli, got {tuple(Y.shape)}")
    if X.shape[0] not in (1, Y.shape[0]):
        raise ValueError(f"X (G, N, P) must have one feature matrix per problem: G = {Y.shape[0]}, got {X.shape[0]}")
    _, N, P = X.shape
    constant = (X == X[:, :1]).all(2).all(1)            # (Gx,) e.g. a layer before the image reaches it
    if bool(constant.any()):
        # nothing to regress on (sklearn divides 0 by 0: one value for every test image, or a LinAlgError in
        # recent versions): the intercept alone, the training mean; the r of a constant prediction is undefined
        const_g = constant.expand(Y.shape[0]).cpu().numpy()
        out = [np.broadcast_to(Y[:, tr].mean(1, keepdim=True).cpu().numpy(), (Y.shape[0], len(te), Y.shape[2])).copy()
               for tr, te in splits]
        live = np.flatnonzero(~const_g)
        if len(live):
            sub = pls_cv(X if X.shape[0] == 1 else X[live], Y[live], splits, n_components, max_iter=max_iter,
                         tol=tol, device=device, max_batch_bytes=max_batch_bytes, method=method)
            for o, part in zip(out, sub):
                o[live] = part
        return out
    out = [None] * len(splits)
    by_size: dict = {}
    for i, (tr, te) in enumerate(splits):
        by_size.setdefault((len(tr), len(te)), []).append(i)
    for (n, _), idx in by_size.items():
        if not 1 <= n_components <= min(n, P):
            raise ValueError(f"n_components must be in [1, min(n_train={n}, n_features={P})], got {n_components}")
    small = Y.shape[0] == 1 and N < SMALL_N
    cov = {n: method == "covariance" or (method == "auto" and P <= n and not small) for n, _ in by_size}
    kernel_idx = [i for i in range(len(splits)) if not cov[len(splits[i][0])]]
    _kernel_pls_cv(X, Y, splits, kernel_idx, n_components, max_iter, tol, max_batch_bytes, out)
    redo = _covariance_pls_cv(X, Y, splits, [i for i in range(len(splits)) if cov[len(splits[i][0])]],
                              n_components, max_iter, tol, max_batch_bytes, out)
    by_problems: dict = {}                   # only the flagged problems of a split are re-solved
    for i, flagged in redo.items():
        by_problems.setdefault(tuple(np.flatnonzero(flagged)), []).append(i)
    for gs, idx in by_problems.items():
        gs = list(gs)
        part = [None] * len(splits)
        _kernel_pls_cv(X if X.shape[0] == 1 else X[gs], Y[gs], splits, idx, n_components, max_iter, tol,
                       max_batch_bytes, part)
        for i in idx:
            out[i][gs] = part[i]
    return out


def _kernel_pls_cv(X, Y, splits, idx, k, max_iter, tol, max_batch_bytes, out):
    """Kernel-form PLS for the splits ``idx`` (writes ``out[i]``). X (Gx, N, P), Y (G, N, S)."""
    if not idx:
        return
    dev = X.device
    N, P = X.shape[1:]
    by_size: dict = {}
    for i in idx:
        by_size.setdefault((len(splits[i][0]), len(splits[i][1])), []).append(i)
    use_kernel = 2 * P >= N
    K = X @ X.transpose(1, 2) if use_kernel else None                   # (Gx, N, N)
    for (n, _), members in by_size.items():
        per_fold = 8 * (X.shape[0] * n * (n if use_kernel else P) + Y.shape[0] * n * (Y.shape[2] + 4 * k))
        step = max(1, int(max_batch_bytes // per_fold))
        for lo in range(0, len(members), step):
            chunk = members[lo:lo + step]
            folds = [(torch.as_tensor(np.asarray(splits[i][0]), device=dev),
                      torch.as_tensor(np.asarray(splits[i][1]), device=dev)) for i in chunk]
            ys = torch.stack([Y[:, tr] for tr, _ in folds])
            if use_kernel:   # (F, Gx, ., n) blocks; Gx = 1 broadcasts over the problems
                ktr, kte = map(torch.stack, zip(*(centred_kernel(K, tr, te) for tr, te in folds)))
                kmul = lambda V, k=ktr: k @ V                                # noqa: E731
                temul = lambda V, k=kte: k @ V                               # noqa: E731
            else:
                mus = [X[:, tr].mean(1, keepdim=True) for tr, _ in folds]
                xtr = torch.stack([X[:, tr] - mu for (tr, _), mu in zip(folds, mus)])
                xte = torch.stack([X[:, te] - mu for (_, te), mu in zip(folds, mus)])
                kmul = lambda V, a=xtr: a @ (a.transpose(-1, -2) @ V)       # noqa: E731
                temul = lambda V, a=xtr, b=xte: b @ (a.transpose(-1, -2) @ V)  # noqa: E731
            pred = _kernel_pls(kmul, temul, ys, k, max_iter, tol)
            for j, i in enumerate(chunk):
                out[i] = pred[j].cpu().numpy()


def _covariance_pls_cv(X, Y, splits, idx, k, max_iter, tol, max_batch_bytes, out):
    """Covariance-form PLS for the splits ``idx`` (writes ``out[i]``); returns {split: (G,) flags} of the problems
    to re-solve in kernel form.

    X (Gx, N, P) with Gx = 1 (features shared by the G problems) or G (a Gram matrix per problem)."""
    dev = X.device
    Gx, N, P = X.shape
    Gr, _, S = Y.shape
    shared = Gx == 1
    xbar, ybar = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
    X0, Y0 = X - xbar, Y - ybar                            # shift-invariant; limits cancellation below
    gram = _gram(X0)                                       # (Gx, P, P): all images, once
    cross = X0[0].T @ Y0 if shared else X0.transpose(1, 2) @ Y0   # (Gr, P, S)
    xsum, ysum, yy_all = X0.sum(1), Y0.sum(1), (Y0**2).sum(1)
    # a split's training statistics are all rows' minus those of the rows it leaves out of training: its test rows,
    # and for folds nested in a subset of the images (the layer selection) the rows outside that subset too
    left_out = {}
    for i in idx:
        tr, te = (np.asarray(a) for a in splits[i])
        partition = len(tr) + len(te) == N and len(np.union1d(tr, te)) == N
        left_out[i] = te if partition else np.setdiff1d(np.arange(N), tr)
    by_size: dict = {}
    for i in idx:
        by_size.setdefault((len(splits[i][0]), len(left_out[i])), []).append(i)
    redo = {}
    for (n, m), members in by_size.items():
        per_fold = 8 * (2 * Gx * m * P + Gr * (4 * P * S + 4 * P * k + 3 * S * S + 2 * m * S))
        step = max(1, int(max_batch_bytes // per_fold))
        for lo in range(0, len(members), step):
            chunk = members[lo:lo + step]
            rm = torch.stack([torch.as_tensor(left_out[i], device=dev) for i in chunk])   # (F, m)
            xrm = X0[:, rm].transpose(0, 1)                                 # (F, Gx, m, P)
            yrm = Y0[:, rm].transpose(0, 1)                                 # (F, Gr, m, S)
            mu = (xsum - xrm.sum(2)) / n                                    # training means (shifted): (F, Gx, P)
            ymu = (ysum - yrm.sum(2)) / n                                   # (F, Gr, S)
            gmul = _train_gram_rows(gram, xrm, mu, n)
            xy = (torch.einsum("fmp,fgms->fgps", xrm[:, 0], yrm) if shared
                  else torch.einsum("fgmp,fgms->fgps", xrm, yrm))
            C = cross - xy - n * mu[..., None] * ymu[:, :, None, :]
            yy = yy_all - (yrm**2).sum(2) - n * ymu**2
            coef, suspect = _covariance_pls(gmul, C, yy, k, max_iter, tol)
            for j, i in enumerate(chunk):
                xte = X0[:, torch.as_tensor(np.asarray(splits[i][1]), device=dev)]     # (Gx, m_te, P)
                pred = (xte - mu[j][:, None]) @ coef[j] + (ymu[j] + ybar[:, 0])[:, None]
                out[i] = pred.cpu().numpy()
                if bool(suspect[j].any()):
                    redo[i] = suspect[j].cpu().numpy()
    return redo


def _train_gram_rows(gram, xte, mu, n):
    """``w -> w^T G`` for w (F, Gr, P), with G = gram - xte^T xte - n mu mu^T the training Gram of each split,
    never formed. gram (Gx, P, P), xte (F, Gx, m, P), mu (F, Gx, P); Gx = 1 or Gr."""
    if gram.shape[0] == 1:   # one Gram for all problems: the F x Gr rows go through it as one matrix product
        xte, xteT, mu = xte[:, 0], xte[:, 0].transpose(1, 2), mu[:, 0]
        return lambda w: (w @ gram[0] - (w @ xteT) @ xte - n * (w @ mu[:, :, None]) * mu[:, None, :])
    xteT = xte.transpose(-1, -2)

    def rows(w):             # per problem: the F rows of problem g through its own Gram (batched over g)
        wg = (w.transpose(0, 1) @ gram).transpose(0, 1)
        return wg - ((w[:, :, None] @ xteT) @ xte)[:, :, 0] - n * (w * mu).sum(-1, keepdim=True) * mu
    return rows


def _gram(A):
    """A^T A per matrix of A (B, N, P); on CPU through numpy, whose ``a.T @ a`` is a symmetric rank-k update (half a
    matmul's work)."""
    if A.device.type != "cpu":
        return A.transpose(-1, -2) @ A
    return torch.from_numpy(np.stack([a.T @ a for a in A.numpy()]))


def _covariance_pls(gmul, C, yy, k, max_iter, tol):
    """NIPALS PLS2 (sklearn, scale=False) from the centred training Gram G (given as ``gmul(w)``: the rows w^T G
    for w (F, Gr, P)), cross-covariance C (F, Gr, P, S) and target sums of squares yy (F, Gr, S). Returns coef
    (F, Gr, P, S) and a (F, Gr) flag for problems whose targets (or x-scores) nearly vanish, where sklearn's
    max-abs column rule would need the rows.

    The deflated G_k and C_k are never formed: G_k v = G v - P diag(tt) P^T v, C_k = C - P diag(tt) Q^T (P, Q the
    loadings so far), and M_k = C_k^T C_k is updated by rank two per component. Matrix-vector products are taken
    in row form (v^T A), the fast batched layout on CPU.
    """
    F, Gr, P, S = C.shape
    tiny = torch.finfo(_DT).eps
    Pl = C.new_zeros(F, Gr, P, k)                       # x_loadings
    W = C.new_zeros(F, Gr, P, k)                        # x_weights
    Ql = C.new_zeros(F, Gr, S, k)                       # y_loadings
    tts = C.new_zeros(F, Gr, k)                         # t_k^T t_k
    M = C.transpose(-1, -2) @ C                         # (F, Gr, S, S)
    Ct = C.transpose(-1, -2)                            # row-form products: v^T C^T = (C v)^T
    yy0 = yy.clone()
    suspect = torch.zeros(F, Gr, dtype=torch.bool, device=C.device)
    tt0 = None
    for comp in range(k):
        Pp, Qt = Pl[..., :comp], Ql[..., :comp] * tts[..., None, :comp]   # C_k = C - Pp Qt^T
        c = _power_iterate_direct(M, max_iter, tol)     # (F, Gr, S)
        w = (c[..., None, :] @ Ct)[..., 0, :] - (Pp @ (Qt.transpose(-1, -2) @ c[..., None]))[..., 0]
        w = w / (w.norm(dim=-1, keepdim=True) + tiny)
        Gw = gmul(w)                                    # (w^T G) for every target block: (F, Gr, P)
        if comp:
            Gw = Gw - (Pp @ (tts[..., :comp, None] * (Pp.transpose(-1, -2) @ w[..., None])))[..., 0]
        tt = (w * Gw).sum(-1)                           # t^T t = w^T G_k w
        tt0 = tt if tt0 is None else tt0
        suspect |= ~(tt > 1e-12 * tt0)
        tts_safe = torch.where(tt > 0, tt, torch.ones_like(tt))[..., None]
        p = Gw / tts_safe
        wp = torch.stack([w, p], -2)                                       # (F, Gr, 2, P)
        CtWP = wp @ C - (wp @ Pp) @ Qt.transpose(-1, -2)                   # rows w^T C_k, p^T C_k: (F, Gr, 2, S)
        q, r = CtWP[..., 0, :] / tts_safe, CtWP[..., 1, :]
        ttv = tt[..., None]
        M = (M - ttv[..., None] * (q[..., :, None] * r[..., None, :] + r[..., :, None] * q[..., None, :])
             + (ttv**2 * (p * p).sum(-1, keepdim=True))[..., None] * q[..., :, None] * q[..., None, :])
        yy = yy - ttv * q**2
        suspect |= (yy < 1e-10 * yy0 + 1e-24).any(-1)
        W[..., comp], Pl[..., comp], Ql[..., comp], tts[..., comp] = w, p, q, tt
    rot = W @ torch.linalg.pinv(Pl.transpose(-1, -2) @ W)                 # x_rotations (F, Gr, P, k)
    return rot @ Ql.transpose(-1, -2), suspect


def _power_iterate_direct(M, max_iter, tol, switch: int | None = None, block: int = 8):
    """sklearn's power method on the S x S matrix M = C^T C: returns unit c with sklearn's final w ∝ C c.

    sklearn starts from the first target column (all columns are live here), so w_1 ∝ C u_0 with u_0 = e_1, and
    w_i ∝ C u_{i-1} with u_j = M u_{j-1} / ||M u_{j-1}||. It stops at the first i >= 2 with
    ||w_i - w_{i-1}||^2 = 2 - 2 cos(w_i, w_{i-1}) < tol, where cos = ||M u_{i-2}|| / sqrt(a_{i-1} a_{i-2}) and
    a_j = u_j^T M u_j, or after one iteration for a single target. Batched; the test runs on blocks of ``block``
    iterations at once. After ``switch`` iterations the problems still running are replayed in closed form
    (``_power_iterate``: one eigendecomposition, every remaining iteration's test at once), so slow components
    do not cost a long Python loop. By default the switch comes later for large S, where the
    eigendecomposition costs as much as ~150 iterations.
    """
    S = M.shape[-1]
    if switch is None:
        switch = 40 if S <= 64 else 160
    u = torch.zeros(M.shape[:-1], dtype=M.dtype, device=M.device)
    u[..., 0] = 1.0
    if S == 1 or max_iter <= 1:
        return u
    mv = lambda v: (v[..., None, :] @ M)[..., 0, :]     # noqa: E731  M symmetric; the row form is the fast bmm on CPU
    v = mv(u)
    U, A, Nv = [u], [(u * v).sum(-1)], [v.norm(dim=-1)]  # u_j, a_j, ||M u_j||
    out = u.clone()
    done = torch.zeros(M.shape[:-2], dtype=torch.bool, device=M.device)
    i = 2                                               # next sklearn iteration to test
    while i <= max_iter:
        if i > switch:
            rest = ~done
            u0 = torch.zeros_like(out[rest])
            u0[..., 0] = 1.0
            out[rest] = _power_iterate(M[rest], u0, torch.ones_like(done[rest]), max_iter, tol, single=False)
            return out
        hi = min(i + block, max_iter + 1, switch + 1)  # test iterations i .. hi-1: needs u_{hi-2}
        while len(U) < hi - 1:
            u = v / Nv[-1].clamp_min(1e-300)[..., None]
            v = mv(u)
            U.append(u)
            A.append((u * v).sum(-1))
            Nv.append(v.norm(dim=-1))
        a_cur, a_prev = torch.stack(A[i - 1:hi - 1], -1), torch.stack(A[i - 2:hi - 2], -1)
        cos = torch.stack(Nv[i - 2:hi - 2], -1) / (a_cur * a_prev).clamp_min(1e-300).sqrt()
        conv = ((2.0 - 2.0 * cos) < tol) & ~done[..., None]
        hit = conv.any(-1)
        first = conv.to(torch.int8).argmax(-1)
        chosen = torch.take_along_dim(torch.stack(U[i - 1:hi - 1], -2), first[..., None, None], -2)[..., 0, :]
        out = torch.where(hit[..., None], chosen, out)
        done |= hit
        if bool(done.all()):
            return out
        i = hi
    return torch.where(done[..., None], out, U[-1])


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
    S = a.shape[-1]
    r_flat, b_flat = ratio.reshape(-1, S), (a**2).reshape(-1, S)
    stop = torch.full((r_flat.shape[0],), max_iter, dtype=torch.long, device=M.device)
    done = torch.zeros_like(stop, dtype=torch.bool)
    for lo in range(2, max_iter + 1, 64):                           # blocks of iterations; most stop early
        hi = min(lo + 64, max_iter + 1)
        rows = (~done).nonzero()[:, 0]                              # only the problems still iterating
        r = r_flat[rows]
        nk = 2 * (hi - lo) + 1                                      # moments s_k, k = 2lo-3 .. 2hi-3
        steps = torch.cat([torch.ones_like(r)[:, None], r[:, None].expand(-1, nk - 1, -1)], 1).cumprod(1)
        powers = (r ** (2 * lo - 3))[:, None] * steps              # (R, nk, S): ratio^k by running products
        s = (powers @ b_flat[rows][..., None])[..., 0]             # (R, nk)
        i = torch.arange(lo, hi, device=M.device)
        j = 2 * (i - lo)                                           # index of s_{2i-3} within the block
        cos = s[:, j + 1] / (s[:, j + 2] * s[:, j]).clamp_min(1e-300).sqrt()
        conv = (2.0 - 2.0 * cos) < tol
        hit = conv.any(-1)
        stop[rows[hit]] = i[conv.to(torch.int8).argmax(-1)][hit]
        done[rows[hit]] = True
        if bool(done.all()):
            break
    stop = stop.reshape(a.shape[:-1])
    coef = ratio ** (stop - 1).to(_DT)[..., None] * a              # c_{stop-1} in the eigenbasis
    out = (Q @ coef[..., None])[..., 0]
    out = out / out.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.where(active[..., None], out, c)


def _2d(Y):
    Y = np.asarray(Y)
    return Y[:, None] if Y.ndim == 1 else Y
