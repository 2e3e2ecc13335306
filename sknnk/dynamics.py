r"""Training dynamics of infinitely wide networks as scikit-learn estimators.

An infinitely wide network trained by gradient flow on the squared loss stays
linear in its parameters, so the distribution of its outputs over random
initialisations is Gaussian at every training time, with a mean and a
covariance in closed form (Lee et al. 2019). :class:`InfiniteWidthRegressor`
fits that closed form with one eigendecomposition of the training NTK and
predicts at any time, including ``t=np.inf`` (NTK kernel regression). It also
offers natural-gradient flow and the Bayesian NNGP posterior.
:class:`InfiniteWidthClassifier` applies the regressor to one-hot targets.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._memory import check_fit
from ._overflow import STANDARDIZE, check_finite_result, quiet_overflow
from ._validation import (
    check_length_scale,
    check_n_jobs,
    check_network_of,
    check_options,
    check_real,
    check_real_dtype,
)
from .kernels import NNGPKernel, NTKKernel

__all__ = ["InfiniteWidthClassifier", "InfiniteWidthRegressor"]

_MODES = {"gradient_flow", "nngp_posterior"}
_OPTIMIZERS = {"gd", "ngd"}


_FIXES = (
    STANDARDIZE + ", use a smaller sigma_w or depth, or a larger ridge (rows of "
    "very different scales make the training Gram ill-conditioned)"
)


def _check_finite(owner, quantity, values):
    """Refuse a non-finite Gram or prediction with a message naming it."""
    check_finite_result(owner, quantity, values, _FIXES)


def _check_time(owner, name, value):
    """A time: a real number >= 0, ``np.inf`` allowed."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a float >= 0 or np.inf. "
            f"Got {value!r} instead."
        )
    if np.isnan(value) or value < 0:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a float >= 0 or np.inf. "
            f"Got {value!r} instead."
        )


def _as_times(owner, t):
    """Return ``(times as a 1-D float array, whether t was a scalar)``."""
    arr = np.asarray(t, dtype=float)
    if arr.ndim > 1:
        raise ValueError(
            f"t passed to {owner}.predict must be a float or a 1-D array of "
            f"times; got an array of shape {arr.shape}."
        )
    if np.any(np.isnan(arr)) or np.any(arr < 0):
        raise ValueError(
            f"t passed to {owner}.predict must hold times >= 0 (np.inf allowed). "
            f"Got {t!r} instead."
        )
    return np.atleast_1d(arr), arr.ndim == 0


class _InfiniteWidthBase(BaseEstimator):
    """Parameters, fit and closed-form predictions shared by the estimators."""

    def __init__(
        self,
        depth: int = 1,
        activation: str = "relu",
        sigma_w: float = 2**0.5,
        sigma_b: float = 0.1,
        length_scale=1.0,
        residual: bool = False,
        branch_scale: float = 1.0,
        normalization: str | None = None,
        mode: str = "gradient_flow",
        optimizer: str = "gd",
        learning_rate: float = 1.0,
        t: float = np.inf,
        ridge: float = 0.0,
        pinv_rtol: float | None = None,
        n_jobs: int | None = None,
    ):
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.length_scale = length_scale
        self.residual = residual
        self.branch_scale = branch_scale
        self.normalization = normalization
        self.mode = mode
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.t = t
        self.ridge = ridge
        self.pinv_rtol = pinv_rtol
        self.n_jobs = n_jobs

    # ------------------------------------------------------------ validation
    def _check_params(self):
        owner = type(self).__name__
        check_network_of(self)
        check_options(owner, "mode", self.mode, _MODES)
        check_options(owner, "optimizer", self.optimizer, _OPTIMIZERS)
        check_real(owner, "learning_rate", self.learning_rate, positive=True)
        _check_time(owner, "t", self.t)
        check_real(owner, "ridge", self.ridge, positive=False)
        if self.pinv_rtol is not None:
            check_real(owner, "pinv_rtol", self.pinv_rtol, positive=False)
            if self.pinv_rtol >= 1:
                raise ValueError(
                    f"The 'pinv_rtol' parameter of {owner} must be None or a float "
                    f"in [0, 1). Got {self.pinv_rtol!r} instead."
                )
        check_n_jobs(owner, self.n_jobs)

    def _kernels(self):
        """The NTK and NNGP of the network: the one place they are built."""
        common = dict(
            depth=self.depth,
            activation=self.activation,
            sigma_w=float(self.sigma_w),
            sigma_b=float(self.sigma_b),
            n_jobs=self.n_jobs,
        )
        common.update(
            length_scale=self.length_scale,
            residual=self.residual,
            branch_scale=float(self.branch_scale),
            normalization=self.normalization,
        )
        return NTKKernel(**common), NNGPKernel(**common)

    def _mode_kernel(self):
        """The kernel of the closed form: the NTK for ``"gradient_flow"``, the
        NNGP for ``"nngp_posterior"`` (fitted estimators only)."""
        return self.kernel_ if self.mode == "gradient_flow" else self.nngp_kernel_

    # ------------------------------------------------------------ fitting
    def _fit_targets(self, X, Y):
        """Fit on validated ``X`` (n, d) and 2-D targets ``Y`` (n, k)."""
        self._check_params()
        check_length_scale(type(self).__name__, self.length_scale, X.shape[1])
        self.kernel_, self.nngp_kernel_ = self._kernels()
        n = X.shape[0]
        check_fit(self, self.kernel_, n)
        self.X_fit_ = X
        train = self._mode_kernel()(X)
        _check_finite(type(self).__name__, "the training Gram k(X, X)", train)
        lam, V = np.linalg.eigh(train)
        lam = np.maximum(lam, 0.0)  # the Gram is PSD; drop round-off negatives
        self.eigenvalues_ = lam
        self.eigenvectors_ = V
        rtol = n * np.finfo(float).eps if self.pinv_rtol is None else self.pinv_rtol
        lam_max = lam[-1] if lam.size else 0.0
        # eigen-directions kept wherever an inverse is needed (pseudo-inverse):
        # those whose regularised eigenvalue is resolved by the
        # eigendecomposition (below, Theta(X*, X) v_i is round-off, which
        # 1 / (lam_i + N ridge) would amplify past the float64 range)
        # (natural gradient: the pseudo-inverse Fisher never moves the null
        # directions, whatever the ridge)
        ngd = self.mode == "gradient_flow" and self.optimizer == "ngd"
        self._kept = lam + (0.0 if ngd else n * float(self.ridge)) > rtol * lam_max
        self._proj_y = V.T @ Y
        if self.mode == "gradient_flow":
            K = self.nngp_kernel_(X)
            _check_finite(type(self).__name__, "the NNGP Gram K(X, X)", K)
            self._proj_nngp = V.T @ K @ V
        return self

    def _coefficients(self, times):
        r"""Diagonal ``c`` (n_times, n_train) with ``A_t = k(X*, X) V diag(c) V^T``.

        Every time, learning rate and ridge gives a finite ``c``: gradient flow
        uses :math:`c_i = -\operatorname{expm1}(-\eta t (\lambda +
        \lambda_i / N)) / (\lambda_i + N\lambda)` (no product ``eta * t``
        that could overflow on its own, and ``expm1(-inf) = -1`` gives the
        ``t = inf`` limit), natural-gradient flow the same with its rates.
        """
        lam = self.eigenvalues_
        n = lam.shape[0]
        eta = float(self.learning_rate)
        ridge = float(self.ridge)
        kept = self._kept
        out = np.zeros((times.shape[0], n))
        safe = np.where(kept, lam, 1.0)
        denom = safe + n * ridge  # the limit of direction i is 1 / denom
        if self.mode == "nngp_posterior":
            out[:] = np.where(kept, 1.0 / denom, 0.0)
            return out
        # per unit of eta * t, the decay rate of direction i
        if self.optimizer == "gd":
            rate = ridge + safe / n
        else:  # natural gradient: every kept direction at the rate eta
            rate = denom / safe
        for j, t in enumerate(times):
            # eta * t * rate overflows to inf only where the decay is complete
            with np.errstate(over="ignore", invalid="ignore"):
                x = np.where(rate > 0, eta * (rate * t), 0.0)
            c = -np.expm1(-x) / denom
            out[j] = np.where(kept, c, 0.0)
        return out

    # ------------------------------------------------------------ prediction
    def _predict_2d(self, X, t, return_std, return_cov):
        """Mean (T, n*, k), std (T, n*) and cov (T, n*, n*) at the times ``t``."""
        check_is_fitted(self)
        owner = type(self).__name__
        if return_std and return_cov:
            raise RuntimeError(
                "At most one of return_std or return_cov can be requested."
            )
        check_real_dtype(X, "X", owner)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        times, scalar = _as_times(owner, self.t if t is None else t)
        mean, std, cov = self._moments(X, times, return_std, return_cov)
        for name, value in (("mean", mean), ("std", std), ("cov", cov)):
            if value is not None:
                _check_finite(owner, f"the predicted {name} at X", value)
        return mean, std, cov, scalar

    @quiet_overflow  # an overflow is refused by _predict_2d, with a message
    def _moments(self, X, times, return_std, return_cov):
        """Mean, std and cov of :meth:`_predict_2d` (validated inputs)."""
        V = self.eigenvectors_
        coef = self._coefficients(times)
        B = self._mode_kernel()(X, self.X_fit_) @ V
        mean = np.einsum("an,tnk->tak", B, coef[:, :, None] * self._proj_y[None])
        std = cov = None
        if return_std or return_cov:
            if self.mode == "gradient_flow":
                C = self.nngp_kernel_(X, self.X_fit_) @ V
                Kt = self._proj_nngp
            else:
                C = B
            prior = self.nngp_kernel_.diag(X) if return_std else self.nngp_kernel_(X)
            out = []
            for c in coef:
                M = B * c
                if self.mode == "gradient_flow":
                    if return_std:
                        v = (
                            prior
                            + np.einsum("ai,ai->a", M @ Kt, M)
                            - 2.0 * np.einsum("ai,ai->a", M, C)
                        )
                    else:
                        MC = M @ C.T
                        v = prior + M @ Kt @ M.T - MC - MC.T
                else:
                    v = prior - (np.einsum("ai,ai->a", M, C) if return_std else M @ C.T)
                if return_std:
                    out.append(np.sqrt(np.maximum(v, 0.0)))
                else:
                    out.append(0.5 * (v + v.T))
            if return_std:
                std = np.stack(out)
            else:
                cov = np.stack(out)
        return mean, std, cov


class InfiniteWidthRegressor(RegressorMixin, _InfiniteWidthBase):
    r"""Ensemble of infinitely wide networks trained by gradient flow on MSE.

    Predicts the distribution, over random initialisations, of the outputs of
    a fully-connected network of infinite width (NTK parameterization, the
    architecture of :class:`~sknnk.NTKKernel`) trained by gradient flow on the
    loss :math:`\frac{1}{2N}\sum_i \|f(x_i) - y_i\|^2` for a time ``t``. This
    distribution is Gaussian, with the mean and covariance of [1]_. At
    ``t=np.inf`` the mean is NTK kernel regression. ``optimizer="ngd"`` gives
    natural-gradient flow [2]_ and ``mode="nngp_posterior"`` the Bayesian
    posterior of the NNGP instead.

    Parameters
    ----------
    depth : int, default=1
        Number of hidden layers.
    activation : str, activation object or callable, default="relu"
        Nonlinearity: a name in ``sknnk.ACTIVATION_NAMES``, an object of
        :mod:`sknnk.activations` (e.g. ``LeakyReLU(0.2)``) or a vectorised
        callable, as for :class:`~sknnk.NTKKernel`.
    sigma_w : float, default=sqrt(2)
        Standard deviation of the weights (> 0).
    sigma_b : float, default=0.1
        Standard deviation of the biases (>= 0).
    length_scale : float or array-like of shape (n_features,), default=1.0
        The first layer sees ``x / length_scale`` (> 0; an array holds one
        scale per feature: automatic relevance determination).
    residual : bool, default=False
        Skip connections around the hidden blocks ``1..depth-1``:
        ``z^l = z^{l-1} + branch_scale * branch^l``.
    branch_scale : float, default=1.0
        Weight (> 0) of the branch of a residual block (``residual=True``).
    normalization : {None, "layer"}, default=None
        ``"layer"`` normalises the pre-activations of every point across the
        units before each nonlinearity (layer normalisation).

        These four define the finite network (exactly as in
        :mod:`sknnk.finite`) whose infinite-width limit is trained; they are
        passed to both kernels.
    mode : {"gradient_flow", "nngp_posterior"}, default="gradient_flow"
        ``"gradient_flow"``: the trained network ensemble (kernel: the NTK
        :math:`\Theta`, initial covariance: the NNGP :math:`K`).
        ``"nngp_posterior"``: the Gaussian-process posterior with prior
        covariance :math:`K` and noise variance ``N * ridge``; ``t``,
        ``optimizer`` and ``learning_rate`` are then ignored.
    optimizer : {"gd", "ngd"}, default="gd"
        ``"gd"``: gradient flow; the component of the residual along the
        eigenvector :math:`v_i` of :math:`\Theta` decays as
        :math:`e^{-\eta\lambda_i t/N}`. ``"ngd"``: natural-gradient flow
        (gradient preconditioned by the pseudo-inverse of the Fisher matrix
        :math:`J^\top J/N`); every component decays as :math:`e^{-\eta t}`.
        Both have the same limit at ``t=np.inf``.
    learning_rate : float, default=1.0
        Learning rate :math:`\eta` (> 0). Only :math:`\eta t` matters; time is
        counted in steps, so ``t=k`` approximates ``k`` steps of full-batch
        gradient descent with step ``learning_rate`` (for small steps).
    t : float, default=np.inf
        Default training time used by :meth:`predict` and :meth:`score`.
    ridge : float, default=0.0
        Weight decay :math:`\lambda` toward the initial weights: the loss gets
        :math:`\frac{\lambda}{2}\|w - w_0\|^2`. In function space this adds
        :math:`N\lambda` to the diagonal of the training kernel, so
        ``t=np.inf`` is kernel ridge regression with ``alpha = N * ridge``.
    pinv_rtol : float, default=None
        Eigenvalues of the training kernel below ``pinv_rtol`` times the
        largest one are treated as zero wherever an inverse is needed
        (``ridge=0`` with ``t=np.inf``, ``"ngd"`` or ``"nngp_posterior"``;
        for clean limits also at finite ``t``). With ``ridge > 0`` (except
        ``"ngd"``) the directions dropped are those whose regularised
        eigenvalue :math:`\lambda_i + N\lambda` is below that: only a
        ridge under the round-off of the Gram, which would otherwise amplify
        it past the float64 range. ``None`` means ``n_samples * machine
        epsilon``.
    n_jobs : int, default=None
        Threads used by the kernels (see :class:`~sknnk.NTKKernel`).

    Attributes
    ----------
    kernel_ : NTKKernel
        The NTK :math:`\Theta` of the network.
    nngp_kernel_ : NNGPKernel
        The NNGP :math:`K`, the covariance of the network at initialisation.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs.
    eigenvalues_ : ndarray of shape (n_samples,)
        Eigenvalues (ascending, clipped at 0) of the training kernel:
        :math:`\Theta(X, X)`, or :math:`K(X, X)` in ``"nngp_posterior"`` mode.
    eigenvectors_ : ndarray of shape (n_samples, n_samples)
        The matching orthonormal eigenvectors (columns).
    n_features_in_ : int
        Number of features seen during fit.

    See Also
    --------
    InfiniteWidthClassifier : the same dynamics on one-hot targets.
    sknnk.diagnostics.generalization_diagnostics : spectrum, label alignment
        and training curve of the same kernel.

    Notes
    -----
    With :math:`\Theta = \Theta(X, X) = V\operatorname{diag}(\lambda)V^\top`,
    :math:`\Theta_* = \Theta(X_*, X)` and the NNGP blocks :math:`K`,

    .. math::

        \mu_t(X_*) = A_t Y, \qquad
        \Sigma_t(X_*) = K_{**} + A_t K_{XX} A_t^\top - A_t K_{X*}
            - K_{*X} A_t^\top,

    with :math:`A_t = \Theta_* V \operatorname{diag}(c(t)) V^\top` and, for
    gradient flow, :math:`c_i(t) = -\operatorname{expm1}(-\eta\lambda_i t/N)
    / \lambda_i` (limit :math:`\eta t/N` at :math:`\lambda_i = 0`, so no
    inverse of an ill-conditioned :math:`\Theta` is formed at finite
    :math:`t`). With ``ridge`` :math:`\lambda > 0`,

    .. math::

        c_i(t) = \frac{N\lambda}{\lambda_i + N\lambda}
            \frac{1 - e^{-\eta\lambda t}}{N\lambda}
          + \frac{\lambda_i}{\lambda_i + N\lambda}\, e^{-\eta\lambda t}\,
            \frac{1 - e^{-\eta\lambda_i t/N}}{\lambda_i}
          = \frac{-\operatorname{expm1}(-\eta t(\lambda + \lambda_i/N))}
            {\lambda_i + N\lambda}

    (the right-hand form is the one computed: finite for every
    :math:`\eta`, :math:`t` and :math:`\lambda`), which tends to
    :math:`1/(\lambda_i + N\lambda)` (kernel ridge regression).
    Natural-gradient flow has :math:`c_i(t) = (1 - e^{-\eta t})/\lambda_i`,
    and with weight decay :math:`c_i(t) = (1 - e^{-\eta t(\lambda_i +
    N\lambda)/\lambda_i})/(\lambda_i + N\lambda)`. All times share one
    eigendecomposition; each extra time costs :math:`O(N n_*)` for the mean
    and :math:`O(N^2 n_*)` for the standard deviation. The covariance is not
    the Gaussian-process posterior of either kernel, except in
    ``"nngp_posterior"`` mode, which predicts
    :math:`K_{*X}(K + N\lambda I)^{-1}Y` and
    :math:`K_{**} - K_{*X}(K + N\lambda I)^{-1}K_{X*}`.

    References
    ----------
    .. [1] J. Lee et al., "Wide neural networks of any depth evolve as linear
       models under gradient descent", NeurIPS 2019.
    .. [2] G. Zhang, J. Martens and R. Grosse, "Fast convergence of natural
       gradient descent for overparameterized neural networks", NeurIPS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import InfiniteWidthRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 3))
    >>> y = np.sin(X[:, 0])
    >>> reg = InfiniteWidthRegressor(depth=2, sigma_w=1.5).fit(X, y)
    >>> reg.predict(X[:3], t=[0.0, 10.0, np.inf]).shape  # (times, samples)
    (3, 3)
    >>> np.allclose(reg.predict(X), y)  # t = inf interpolates the training set
    True
    >>> mean, std = reg.predict(X[:2], t=0.0, return_std=True)
    >>> mean  # at initialisation the ensemble mean is 0
    array([0., 0.])
    """

    def fit(self, X, y):
        """Fit the closed-form dynamics: one eigendecomposition of the kernel.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets. Each output of the network is trained independently.

        Returns
        -------
        self : InfiniteWidthRegressor
            The fitted estimator.
        """
        check_real_dtype(X, "X", type(self).__name__)
        X, y = validate_data(
            self, X, y, dtype=np.float64, multi_output=True, y_numeric=True
        )
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        return self._fit_targets(X, y.reshape(y.shape[0], -1))

    def predict(self, X, t=None, return_std=False, return_cov=False):
        """Mean (and spread) of the trained network ensemble at time ``t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points.
        t : float or array-like of shape (n_times,), default=None
            Training time(s) in steps of size ``learning_rate``; ``np.inf`` is
            the converged network. ``None`` uses the ``t`` parameter. With an
            array, the outputs get a leading time axis.
        return_std : bool, default=False
            Also return the standard deviation over initialisations.
        return_cov : bool, default=False
            Also return the covariance over initialisations (joint over the
            query points). At most one of ``return_std`` and ``return_cov``.

        Returns
        -------
        y_mean : ndarray of shape ([n_times,] n_samples[, n_targets])
            Mean prediction; the target axis is present if ``y`` was 2-D.
        y_std : ndarray of shape ([n_times,] n_samples[, n_targets])
            Standard deviation (the same for every target). Only if
            ``return_std``.
        y_cov : ndarray of shape ([n_times,] n_samples, n_samples[, n_targets])
            Covariance (the same for every target). Only if ``return_cov``.
        """
        mean, std, cov, scalar = self._predict_2d(X, t, return_std, return_cov)
        n_targets = mean.shape[-1]
        if self._y_ndim == 1:
            mean = mean[..., 0]
        elif std is not None:
            std = np.repeat(std[..., None], n_targets, axis=-1)
        elif cov is not None:
            cov = np.repeat(cov[..., None], n_targets, axis=-1)
        if scalar:
            mean = mean[0]
            std = None if std is None else std[0]
            cov = None if cov is None else cov[0]
        if return_std:
            return mean, std
        if return_cov:
            return mean, cov
        return mean

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class InfiniteWidthClassifier(ClassifierMixin, _InfiniteWidthBase):
    r"""Infinitely wide networks trained by gradient flow on one-hot targets.

    Each class gets one output of the network, trained on the squared loss
    against the one-hot encoding of the labels, as in [1]_; the predicted class
    is the output with the largest mean (the mean of the ensemble of
    :class:`InfiniteWidthRegressor`). The parameters are those of
    :class:`InfiniteWidthRegressor`.

    Parameters
    ----------
    depth : int, default=1
        Number of hidden layers.
    activation : str, activation object or callable, default="relu"
        Nonlinearity: a name in ``sknnk.ACTIVATION_NAMES``, an object of
        :mod:`sknnk.activations` (e.g. ``LeakyReLU(0.2)``) or a vectorised
        callable, as for :class:`~sknnk.NTKKernel`.
    sigma_w : float, default=sqrt(2)
        Standard deviation of the weights (> 0).
    sigma_b : float, default=0.1
        Standard deviation of the biases (>= 0).
    length_scale, residual, branch_scale, normalization
        The architecture, as in :class:`InfiniteWidthRegressor`.
    mode : {"gradient_flow", "nngp_posterior"}, default="gradient_flow"
        Trained network ensemble or NNGP posterior mean.
    optimizer : {"gd", "ngd"}, default="gd"
        Gradient or natural-gradient flow.
    learning_rate : float, default=1.0
        Learning rate :math:`\eta`.
    t : float, default=np.inf
        Default training time.
    ridge : float, default=0.0
        Weight decay toward the initial weights.
    pinv_rtol : float, default=None
        Relative eigenvalue cutoff of the pseudo-inverse.
    n_jobs : int, default=None
        Threads used by the kernels.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    kernel_, nngp_kernel_, X_fit_, eigenvalues_, eigenvectors_, n_features_in_
        As in :class:`InfiniteWidthRegressor`.

    References
    ----------
    .. [1] J. Lee et al., "Wide neural networks of any depth evolve as linear
       models under gradient descent", NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sknnk import InfiniteWidthClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = InfiniteWidthClassifier(depth=2, ridge=1e-3).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    >>> clf.decision_function(X[:2], t=[1.0, 100.0]).shape  # (times, n, classes)
    (2, 2, 3)
    """

    def fit(self, X, y):
        """Fit on one-hot encoded labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : InfiniteWidthClassifier
            The fitted estimator.
        """
        check_real_dtype(X, "X", type(self).__name__)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        Y = np.zeros((y.shape[0], self.classes_.shape[0]))
        Y[np.arange(y.shape[0]), codes] = 1.0
        return self._fit_targets(X, Y)

    def decision_function(self, X, t=None):
        """Mean network outputs (one per class) at training time ``t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points.
        t : float or array-like of shape (n_times,), default=None
            Training time(s); ``None`` uses the ``t`` parameter.

        Returns
        -------
        scores : ndarray of shape ([n_times,] n_samples[, n_classes])
            Mean outputs; for two classes, the second output minus the first
            (positive means ``classes_[1]``).
        """
        mean, _, _, scalar = self._predict_2d(X, t, False, False)
        if mean.shape[-1] == 2:
            mean = mean[..., 1] - mean[..., 0]
        return mean[0] if scalar else mean

    def predict(self, X, t=None):
        """Class with the largest mean output at training time ``t``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Query points.
        t : float or array-like of shape (n_times,), default=None
            Training time(s); ``None`` uses the ``t`` parameter.

        Returns
        -------
        labels : ndarray of shape ([n_times,] n_samples)
            Predicted class labels.
        """
        mean, _, _, scalar = self._predict_2d(X, t, False, False)
        labels = self.classes_[np.argmax(mean, axis=-1)]
        return labels[0] if scalar else labels
