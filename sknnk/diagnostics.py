r"""Generalization diagnostics of kernel (NTK) gradient descent.

A wide network trained by gradient flow learns the components of the labels
along the eigenvectors of its NTK :math:`\Theta` at rates proportional to the
eigenvalues: with :math:`\Theta(X, X) = \sum_i \lambda_i v_i v_i^\top` and
:math:`f_0 = 0`, the training residual is

.. math::

    \|f_t(X) - Y\|^2 = \sum_i e^{-2\eta\lambda_i t/N}\,(v_i^\top Y)^2 .

Labels concentrated on the top eigenvectors are fitted fast and generalize; the
data-dependent complexity :math:`\sqrt{2\,Y^\top\Theta^{-1}Y/N}` bounds the
population error of a two-layer ReLU network trained this way (Arora et al.
2019, for their kernel, inputs on the unit sphere and labels in [-1, 1]). The
functions here compute these quantities from one eigendecomposition, stably
for ill-conditioned :math:`\Theta` (eigenvalues clipped at 0; inverses as
pseudo-inverses with a relative cutoff, or with a ridge).

References
----------
.. [1] S. Arora, S. S. Du, W. Hu, Z. Li and R. Wang, "Fine-grained analysis of
   optimization and generalization for overparameterized two-layer neural
   networks", ICML 2019.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_array

from ._overflow import check_finite_result
from ._validation import check_real
from .kernels import NTKKernel

__all__ = [
    "complexity",
    "generalization_diagnostics",
    "kernel_spectrum",
    "label_mass",
    "training_residuals",
]


def _check_gram(K):
    K = check_array(K, dtype=np.float64, input_name="K")
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square Gram matrix; got shape {K.shape}.")
    if not np.allclose(K, K.T, rtol=1e-10, atol=1e-12 * np.abs(K).max()):
        raise ValueError("K must be symmetric (a Gram matrix k(X, X)).")
    return K


def _check_targets(y, n):
    y = np.asarray(y, dtype=np.float64)
    if y.shape[0] != n or y.ndim > 2:
        raise ValueError(
            f"y must have shape ({n},) or ({n}, n_targets) to match K; got {y.shape}."
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity.")
    return y.reshape(n, -1)


def kernel_spectrum(K):
    """Eigenvalues (descending, clipped at 0) and eigenvectors of a Gram matrix.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Symmetric positive semi-definite Gram matrix, e.g. ``NTKKernel()(X)``.

    Returns
    -------
    eigenvalues : ndarray of shape (n_samples,)
        In descending order; round-off negatives are set to 0.
    eigenvectors : ndarray of shape (n_samples, n_samples)
        Orthonormal columns, ``eigenvectors[:, i]`` for ``eigenvalues[i]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.diagnostics import kernel_spectrum
    >>> lam, V = kernel_spectrum(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> lam
    array([3., 1.])
    """
    K = _check_gram(K)
    lam, V = np.linalg.eigh(K)
    return np.maximum(lam[::-1], 0.0), V[:, ::-1]


def _projections(V, y):
    """Squared label components (v_i . y)^2, summed over targets."""
    return np.sum((V.T @ y) ** 2, axis=1)


def label_mass(K, y, k=None):
    r"""Fraction of the label norm in the top-``k`` eigenvectors of ``K``.

    :math:`\sum_{i \le k}(v_i^\top Y)^2 / \|Y\|^2`, with the eigenvalues in
    descending order (summed over targets for 2-D ``y``).

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix on the training set.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Labels.
    k : int or array-like of int, default=None
        Number(s) of top eigenvectors. ``None`` returns the whole cumulative
        curve for ``k = 1..n_samples``.

    Returns
    -------
    mass : float or ndarray
        Values in [0, 1]; the curve ends at 1.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.diagnostics import label_mass
    >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> float(label_mass(K, [1.0, 1.0], k=1))  # y is the top eigenvector
    1.0
    """
    K = _check_gram(K)
    y = _check_targets(y, K.shape[0])
    _, V = kernel_spectrum(K)
    p = _projections(V, y)
    total = p.sum()
    curve = np.cumsum(p) / total if total > 0 else np.ones_like(p)
    curve = np.minimum(curve, 1.0)
    if k is None:
        return curve
    k_arr = np.asarray(k)
    if np.any(k_arr < 1) or np.any(k_arr > len(curve)):
        raise ValueError(f"k must lie in [1, {len(curve)}]; got {k!r}.")
    out = curve[k_arr.astype(int) - 1]
    return float(out) if out.ndim == 0 else out


def complexity(K, y, ridge=0.0, pinv_rtol=None):
    r"""The data-dependent complexity :math:`\sqrt{2\,Y^\top\Theta^{-1}Y/N}`.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        Gram matrix :math:`\Theta` on the training set.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Labels (2-D: the quadratic forms are summed over targets).
    ridge : float, default=0.0
        With ``ridge`` :math:`\lambda > 0`, :math:`(\Theta + N\lambda I)^{-1}`
        replaces :math:`\Theta^{-1}` (the weight decay of
        :class:`~sknnk.InfiniteWidthRegressor`).
    pinv_rtol : float, default=None
        With ``ridge=0``, eigenvalues below ``pinv_rtol`` times the largest
        are dropped (pseudo-inverse); ``None`` means ``n_samples * eps``. Label
        mass in the dropped directions is ignored, so the value is then a
        lower bound of the (possibly infinite) exact complexity.

    Returns
    -------
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.diagnostics import complexity
    >>> round(complexity(2.0 * np.eye(4), np.ones(4)), 6)  # sqrt(2 * 2 / 4)
    1.0
    """
    K = _check_gram(K)
    y = _check_targets(y, K.shape[0])
    check_real("complexity", "ridge", ridge, positive=False)
    n = K.shape[0]
    lam, V = kernel_spectrum(K)
    # y / 2^e, and the terms p_i / lam_i summed relative to the largest:
    # 2^e sqrt(2 m sum(terms / m) / n) has no overflowing intermediate
    e = int(np.frexp(np.max(np.abs(y)))[1]) if y.size else 0
    p = _projections(V, np.ldexp(y, -e))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if ridge > 0:
            terms = p / (lam + n * ridge)
        else:
            rtol = n * np.finfo(float).eps if pinv_rtol is None else pinv_rtol
            kept = lam > rtol * lam[0]
            terms = p[kept] / lam[kept]
        m = np.max(terms) if terms.size else 0.0
        quad = np.sum(terms / m) if m > 0 else 0.0
        value = float(np.ldexp(np.sqrt(2.0 * quad / n) * np.sqrt(m), e))
    check_finite_result("complexity", "the complexity", value)
    return value


def training_residuals(K, y, times, learning_rate=1.0):
    r"""Squared training residual :math:`\|f_t(X) - Y\|^2` of gradient flow.

    For the mean network (:math:`f_0 = 0`) trained on
    :math:`\frac{1}{2N}\sum_i\|f(x_i) - y_i\|^2` with NTK ``K``:
    :math:`\sum_i e^{-2\eta\lambda_i t/N}(v_i^\top Y)^2`. Time is counted in
    steps of size ``learning_rate``, as in :class:`~sknnk.InfiniteWidthRegressor`.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
        NTK Gram matrix on the training set.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Labels.
    times : float or array-like of shape (n_times,)
        Training times (``np.inf`` allowed: the label mass outside the range
        of ``K``).
    learning_rate : float, default=1.0
        Learning rate :math:`\eta`.

    Returns
    -------
    residuals : float or ndarray of shape (n_times,)
        Decreasing in ``t``, from :math:`\|Y\|^2` at ``t=0``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk.diagnostics import training_residuals
    >>> training_residuals(np.eye(2), [1.0, 1.0], [0.0, np.inf])
    array([2., 0.])
    """
    K = _check_gram(K)
    y = _check_targets(y, K.shape[0])
    check_real("training_residuals", "learning_rate", learning_rate, positive=True)
    t = np.asarray(times, dtype=float)
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise ValueError(f"times must be >= 0; got {times!r}.")
    n = K.shape[0]
    lam, V = kernel_spectrum(K)
    p = _projections(V, y)
    # an overflow of the rate or of rate * t is an exponent of -inf (decayed)
    with np.errstate(over="ignore", invalid="ignore"):
        rate = 2.0 * learning_rate * lam / n
        expo = -np.multiply.outer(np.atleast_1d(t), rate)
    expo[np.isnan(expo)] = 0.0  # inf * 0: t = 0, or a null direction at t = inf
    out = np.exp(expo) @ p
    return float(out[0]) if t.ndim == 0 else out


def _effective_rank(lam):
    """``(sum lam)^2 / sum lam^2`` of descending eigenvalues, from ``lam /
    lam[0]`` (scale-free: the squares of ``lam ~ 1e200`` would overflow);
    0 for a zero Gram."""
    if lam[0] == 0.0:
        return 0.0
    r = lam / lam[0]
    return float(r.sum() ** 2 / np.sum(r * r))


def generalization_diagnostics(
    X, y, kernel=None, times=None, learning_rate=1.0, ridge=0.0, pinv_rtol=None
):
    r"""Spectrum, label alignment, complexity and training curve in one call.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs.
    y : array-like of shape (n_samples,) or (n_samples, n_targets)
        Labels.
    kernel : callable, default=None
        Kernel whose Gram ``kernel(X)`` is analysed, e.g. a
        :class:`~sknnk.NTKKernel` (the default, ``NTKKernel()``) or any
        scikit-learn kernel.
    times : array-like of shape (n_times,), default=None
        Times of the training curve; ``None`` uses 50 log-spaced times that
        span the decay of all eigendirections.
    learning_rate : float, default=1.0
        Learning rate of the training curve.
    ridge, pinv_rtol : float
        See :func:`complexity`.

    Returns
    -------
    result : Bunch
        ``eigenvalues`` (descending), ``label_projections`` (the squared
        components :math:`(v_i^\top Y)^2`), ``label_mass`` (their normalised
        cumulative sum), ``complexity``, ``condition_number``
        (:math:`\lambda_{max}/\lambda_{min}`, ``inf`` if singular),
        ``effective_rank`` (:math:`(\sum\lambda)^2/\sum\lambda^2`), ``times``
        and ``residuals`` (:func:`training_residuals`).

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NTKKernel
    >>> from sknnk.diagnostics import generalization_diagnostics
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> smooth = generalization_diagnostics(X, X[:, 0], NTKKernel(depth=2))
    >>> noise = generalization_diagnostics(X, rng.normal(size=50), NTKKernel(depth=2))
    >>> bool(smooth.complexity < noise.complexity)
    True
    >>> bool(smooth.label_mass[4] > noise.label_mass[4])
    True
    """
    if kernel is None:
        kernel = NTKKernel()
    K = np.asarray(kernel(X), dtype=np.float64)
    Y = _check_targets(y, K.shape[0])
    lam, V = kernel_spectrum(K)
    p = _projections(V, Y)
    total = p.sum()
    n = K.shape[0]
    if times is None and lam[0] == 0:
        times = np.geomspace(1e-2, 1e2, 50)
    elif times is None:
        positive = lam[lam > n * np.finfo(float).eps * lam[0]]
        t_min = 0.01 * n / (learning_rate * positive[0])
        t_max = 10.0 * n / (learning_rate * positive[-1])
        times = np.geomspace(t_min, t_max, 50)
    return Bunch(
        eigenvalues=lam,
        label_projections=p,
        label_mass=np.minimum(np.cumsum(p) / total, 1.0) if total > 0 else None,
        complexity=complexity(K, Y, ridge=ridge, pinv_rtol=pinv_rtol),
        condition_number=float(lam[0] / lam[-1]) if lam[-1] > 0 else np.inf,
        effective_rank=_effective_rank(lam),
        times=np.asarray(times, dtype=float),
        residuals=training_residuals(K, Y, times, learning_rate),
    )
