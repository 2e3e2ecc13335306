"""Feature learning: the infinite-width μP limit of a one-hidden-layer linear network.

NNGP and NTK kernels describe wide networks whose hidden features never move.
In the maximal-update parameterization (μP, Yang & Hu 2021) the features of an
infinitely wide network *do* move, and for the linear network
``f(x) = W2 W1 x`` that limit is exactly computable: it is ordinary gradient
descent on a linear network of width ``d_in + d_out`` with a "diagonal"
initialization. :class:`MuPLinearRegressor` trains that limit;
:func:`train_finite_linear_network` trains literal finite-width μP or
NTK-parameterized networks for comparison.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import (
    check_input,
    check_int,
    check_options,
    check_real,
    check_real_dtype,
)

__all__ = [
    "FiniteLinearNetwork",
    "MuPLinearRegressor",
    "train_finite_linear_network",
]

_OPTIMIZERS = ("gd", "sgd")
_PARAMETERIZATIONS = ("mup", "ntk")


# --------------------------------------------------------------------------
# The one training loop: f(x) = Q^T P x, P (width, d_in), Q (width, d_out).
# The μP limit is this loop at width d_in + d_out with one learning rate; a
# finite network is this loop at its own width with per-layer learning rates.
# --------------------------------------------------------------------------


_BLOCK = 2048  # rows of (P, Q) updated at a time: bounds the temporaries


def _gd_step(P, Q, W, X, Y, lr_p, lr_q):
    """One full-batch step on (1/2N) sum_i |f(x_i) - y_i|^2, in place.

    ``W = P^T Q`` on entry and is overwritten with the new ``P^T Q``. Returns
    the loss *before* the step. Row ``r`` of the update needs only row ``r``
    of ``P`` and ``Q`` (``dP_r = Q_r G``, ``dQ_r = P_r G^T``), so the rows are
    updated in blocks and the extra memory stays ``O(block * (d_in + d_out))``.
    """
    n_samples = X.shape[0]
    R = X @ W
    R -= Y
    loss = 0.5 * np.einsum("ij,ij->", R, R) / n_samples
    G = R.T @ X  # n_samples * (gradient with respect to Q^T P), (d_out, d_in)
    del R
    G /= n_samples
    for start in range(0, P.shape[0], _BLOCK):
        rows = slice(start, start + _BLOCK)
        dP = Q[rows] @ G
        dP *= lr_p
        dQ = P[rows] @ G.T
        dQ *= lr_q
        Q[rows] -= dQ
        P[rows] -= dP
    np.matmul(P.T, Q, out=W)
    return loss


def _sgd_epoch(P, Q, W, X, Y, lr_p, lr_q, order):
    """Per-example steps on (1/2) |f(x_i) - y_i|^2 in the given order, in place.

    ``W = P^T Q`` on entry. Returns the full-batch loss (1/2N) sum_i
    |f(x_i) - y_i|^2 before the epoch.
    """
    R = X @ W - Y
    loss = 0.5 * np.einsum("ij,ij->", R, R) / X.shape[0]
    for i in order:
        x = X[i]
        h = P @ x
        r = Q.T @ h - Y[i]
        qr = Q @ r
        Q -= np.outer(h, lr_q * r)
        P -= np.outer(lr_p * qr, x)
    return loss


def _epoch_order(rng, n_samples):
    """Order of the examples in one SGD step (one pass over the data)."""
    return rng.permutation(n_samples)


def _run(P, Q, X, Y, lr_p, lr_q, n_steps, optimizer, rng, X_eval=None, owner=""):
    """Run ``n_steps`` steps in place; return the loss curve (and eval outputs)."""
    losses = []
    outputs = None
    W = P.T @ Q
    if X_eval is not None:
        outputs = np.empty((n_steps + 1, X_eval.shape[0], Q.shape[1]))
        outputs[0] = X_eval @ W
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(n_steps):
            if optimizer == "gd":
                loss = _gd_step(P, Q, W, X, Y, lr_p, lr_q)
            else:
                order = _epoch_order(rng, X.shape[0])
                loss = _sgd_epoch(P, Q, W, X, Y, lr_p, lr_q, order)
                np.matmul(P.T, Q, out=W)
            if not (np.isfinite(loss) and np.isfinite(W).all()):
                raise ValueError(
                    f"{owner} diverged at step {step}: the training loss or the "
                    "weights overflowed. Lower 'learning_rate' (gradient descent "
                    "on a linear network is stable roughly while learning_rate * "
                    "(sigma_u**2 + sigma_v**2 + 2 * |coef|) * lambda_max(X^T X / "
                    "n_samples) < 2, so large targets need smaller rates) or "
                    "standardize X and y."
                )
            losses.append(float(loss))
            if outputs is not None:
                outputs[step + 1] = X_eval @ W
    return losses, outputs


def _top_singular_value(A):
    """Largest singular value of a 2-D array.

    Exact (eigenvalues of the small Gram matrix) when one side is <= 1000;
    otherwise 100 power iterations from a fixed start, without forming a Gram
    matrix (deterministic, and at most slightly low).
    """
    if A.size == 0:
        return 0.0
    # a power of two out of the entries (exact): no overflow of the Gram
    e = _exponent(A)
    with np.errstate(over="ignore"):  # a caller's check refuses an inf
        return float(np.ldexp(_unit_top_singular_value(np.ldexp(A, -e)), e))


def _exponent(A):
    """The exponent ``e`` with ``max |A| < 2**e`` (0 for an all-zero ``A``)."""
    return int(np.frexp(np.max(np.abs(A)))[1]) if A.size else 0


def _unit_top_singular_value(A):
    """:func:`_top_singular_value` of an array with entries of magnitude < 1."""
    if min(A.shape) <= 1000:
        small = A.T if A.shape[0] > A.shape[1] else A
        gram = small @ small.T
        return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0)))
    v = np.random.RandomState(0).standard_normal(A.shape[1])
    v /= np.linalg.norm(v)
    sigma = 0.0
    for _ in range(100):
        w = A.T @ (A @ v)
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 0.0
        sigma = np.sqrt(norm)
        v = w / norm
    return float(sigma)


def _auto_learning_rate(X, Y, sigma_u, sigma_v, optimizer):
    """Step size from the scale of the data (``learning_rate="auto"``).

    Gradient descent on ``(P, Q)`` has curvature about ``lambda * (|P|^2 +
    |Q|^2)``, with ``lambda = lambda_max(X^T X / N)`` and ``|P|^2, |Q|^2``
    growing from ``sigma^2`` to about ``sigma^2 + |coef|``; along the leading
    direction ``lambda * |coef| ~ |X^T Y / N|``. The rate is the inverse of that
    curvature estimate, half the stability limit. Per example (``"sgd"``)
    ``lambda`` becomes ``max |x_i|^2`` and the cross term ``max |x_i| |y_i|``.
    """
    scale = sigma_u**2 + sigma_v**2
    n_samples = X.shape[0]
    # X and Y scaled by powers of two (exact), the exponents restored last
    ex, ey = _exponent(X), _exponent(Y)
    Xs, Ys = np.ldexp(X, -ex), np.ldexp(Y, -ey)
    if optimizer == "gd":
        lam = _top_singular_value(Xs) ** 2 / n_samples
        cross = _top_singular_value(Xs.T @ Ys / n_samples)
    else:
        rx = np.sqrt(np.einsum("ij,ij->i", Xs, Xs))
        ry = np.sqrt(np.einsum("ij,ij->i", Ys, Ys))
        lam = float(np.max(rx**2))
        cross = float(np.max(rx * ry))
    # the curvature lam 2^(2 ex) scale + 2 cross 2^(ex + ey), out of 2^E
    terms = [(lam * scale, 2 * ex), (2.0 * cross, ex + ey)]
    terms = [(v, k) for v, k in terms if v > 0]
    if not terms:
        return 1.0
    E = max(k for _, k in terms)
    denom = sum(math.ldexp(v, k - E) for v, k in terms)  # k - E <= 0
    with np.errstate(over="ignore"):  # refused just below
        rate = float(np.ldexp(1.0 / denom, -E))
    if rate == 0.0 or not math.isfinite(rate):
        raise ValueError(
            "learning_rate='auto' is not representable in float64 for data of "
            f"this scale (|X| ~ 2**{ex}, |y| ~ 2**{ey}; the step would be "
            f"~2**{-E}): standardize X and y (e.g. sklearn.preprocessing."
            "StandardScaler) before fitting."
        )
    return rate


def _check_training_params(owner, n_steps, learning_rate, sigma_u, sigma_v, optimizer):
    check_int(owner, "n_steps", n_steps, 0)
    if isinstance(learning_rate, str):
        if learning_rate != "auto":
            raise ValueError(
                f"The 'learning_rate' parameter of {owner} must be 'auto' or a "
                f"float > 0. Got {learning_rate!r} instead."
            )
    else:
        check_real(owner, "learning_rate", learning_rate, positive=True)
    check_real(owner, "sigma_u", sigma_u, positive=True)
    check_real(owner, "sigma_v", sigma_v, positive=False)
    check_options(owner, "optimizer", optimizer, _OPTIMIZERS)


def _relative_movement(M, M0):
    """``|M - M0|_F / |M0|_F``; ``M0`` may be a scalar (a multiple of I)."""
    diff = np.array(M, dtype=np.float64, copy=True)
    if np.ndim(M0) == 0:
        diff.flat[:: diff.shape[0] + 1] -= M0
        return float(np.linalg.norm(diff) / (abs(M0) * np.sqrt(diff.shape[0])))
    diff -= M0
    return float(np.linalg.norm(diff) / np.linalg.norm(M0))


# --------------------------------------------------------------------------
# The infinite-width limit
# --------------------------------------------------------------------------


class MuPLinearRegressor(RegressorMixin, BaseEstimator):
    r"""Infinitely wide one-hidden-layer linear network trained in μP.

    The limit, as the hidden width :math:`n\to\infty`, of gradient descent on
    :math:`f(x) = W^2 W^1 x` in the maximal-update parameterization (μP). Unlike
    the NTK limit (:class:`~sknnk.NTKKernel`), the hidden features
    :math:`h(x) = W^1 x` move during training: the estimator learns the metric
    :math:`M` of the feature kernel :math:`K(x, x') = x^\top M x'`. The limit is
    exact and deterministic, and costs scale with :math:`d_{\rm in} + d_{\rm out}`,
    never with a width.

    Parameters
    ----------
    n_steps : int, default=100
        Number of training steps run by :meth:`fit`: full-batch gradient steps
        (``optimizer="gd"``) or passes over the data (``optimizer="sgd"``).
    learning_rate : "auto" or float, default="auto"
        Learning rate :math:`\eta` of the μP network (per-layer rates
        :math:`\eta n` and :math:`\eta / n` at width :math:`n`, see Notes).
        ``"auto"`` picks, from the data of the first ``fit``/``partial_fit``,
        half the stability limit estimated as
        :math:`\eta = 1/(\lambda(\sigma_u^2 + \sigma_v^2) + 2\|X^\top Y\|_2/N)`
        with :math:`\lambda = \lambda_{\max}(X^\top X/N)` (``"sgd"``:
        :math:`1/(\max_i |x_i|^2 (\sigma_u^2 + \sigma_v^2) + 2\max_i
        |x_i||y_i|)`), stored in ``learning_rate_``. Pass a float to fix the
        dynamics exactly (e.g. to compare with finite networks); too large a
        rate raises ``ValueError`` when training diverges.
    sigma_u : float, default=1.0
        Standard deviation of the first-layer weights at initialization; the
        feature metric starts at :math:`M_0 = \sigma_u^2 I`. Must be > 0.
    sigma_v : float, default=1.0
        Readout weights start as :math:`N(0, \sigma_v^2 / n^2)`. Must be >= 0.
    optimizer : {"gd", "sgd"}, default="gd"
        ``"gd"``: full-batch gradient descent on
        :math:`\frac{1}{2N}\sum_i |f(x_i) - y_i|^2`. ``"sgd"``: per-example
        steps on :math:`\frac12 |f(x_i) - y_i|^2`, one pass over the data per
        step, in the order ``random_state.permutation(n_samples)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of examples under ``optimizer="sgd"``. The limit has no
        other randomness (unused by ``"gd"``).
    verbose : int, default=0
        Print the training loss every ``verbose`` steps (0: silent).

    Attributes
    ----------
    P_ : ndarray of shape (d_in + d_out, n_features_in)
        First layer of the width-:math:`(d_{\rm in} + d_{\rm out})` network
        that the limit reduces to (see Notes).
    Q_ : ndarray of shape (d_in + d_out, n_outputs)
        Its readout layer (transposed).
    coef_ : ndarray of shape (n_outputs, n_features_in) or (n_features_in,)
        The linear map learned, :math:`(P^\top Q)^\top`, so that
        ``predict(X) == X @ coef_.T``; 1-D when ``y`` was 1-D.
    feature_metric_ : ndarray of shape (n_features_in, n_features_in)
        :math:`M = P^\top P`, the learned feature kernel's metric.
    feature_movement_ : float
        How far the features moved: :math:`\|M - M_0\|_F / \|M_0\|_F` with
        :math:`M_0 = \sigma_u^2 I` (exactly 0 in the NTK limit).
    loss_curve_ : list of float
        Training loss (on the data passed to that call) at the start of each
        step, with the ``"gd"`` normalization :math:`\frac{1}{2N}\sum_i
        |f(x_i) - y_i|^2`.
    n_iter_ : int
        Number of steps run since initialization (:meth:`fit` resets it).
    learning_rate_ : float
        The learning rate used (``learning_rate`` resolved if ``"auto"``).
    n_outputs_ : int
        Number of outputs :math:`d_{\rm out}`.
    n_features_in_ : int
        Number of input features :math:`d_{\rm in}`.

    See Also
    --------
    train_finite_linear_network : literal finite-width μP or NTK networks.
    sknnk.NTKKernel : the kernel limit, in which features stay frozen.

    Notes
    -----
    **Finite network.** Width :math:`n`, :math:`W^1_0` with i.i.d.
    :math:`N(0, \sigma_u^2)` entries and learning rate :math:`\eta n`,
    :math:`W^2_0` with i.i.d. :math:`N(0, \sigma_v^2/n^2)` entries and learning
    rate :math:`\eta/n`. This is μP in the abc form of Yang & Hu [1]_
    (:math:`W^1 = n^{1/2} w^1`, :math:`W^2 = n^{-1/2} w^2`,
    :math:`w^l_{ij} \sim N(0, \sigma^2/n)`, one rate :math:`\eta` on
    :math:`w`). One step moves every coordinate of :math:`W^1 x` by
    :math:`O(1)`, against :math:`O(n^{-1/2})` in the NTK parameterization.

    **Exact limit.** Gradient updates never leave the span of the initial
    weights, and the Gram matrix of those weights divided by :math:`n` tends to
    the identity. The limit is therefore gradient descent, with learning rate
    :math:`\eta`, on the width-:math:`D` network :math:`f(x) = Q^\top P x`,
    :math:`D = d_{\rm in} + d_{\rm out}`:

    .. math::

        P_0 = \begin{bmatrix}\sigma_u I\\ 0\end{bmatrix},\quad
        Q_0 = \begin{bmatrix}0\\ \sigma_v I\end{bmatrix},\quad
        G_t = \tfrac1N \big(X P_t^\top Q_t - Y\big)^\top X,

    .. math::

        P_{t+1} = P_t - \eta\, Q_t G_t,\qquad
        Q_{t+1} = Q_t - \eta\, P_t G_t^\top,\qquad
        f_t(x) = Q_t^\top P_t\, x .

    (SGD: the same with :math:`G = (Q^\top P x_i - y_i) x_i^\top`.) The
    features converge: :math:`h(x)\cdot h(x')/n \to x^\top M_t x'` with
    :math:`M_t = P_t^\top P_t`, and finite networks approach the limit with
    error :math:`O(n^{-1/2})`. There are no biases: centre ``X`` and ``y`` or
    append a constant column to ``X``.

    **Cost.** Per step :math:`O((N + D)\, d_{\rm in} d_{\rm out})` time for
    ``"gd"`` and :math:`O(N D^2)` for ``"sgd"``; memory :math:`\approx 3 \cdot
    8 D^2` bytes for the state and its update.

    References
    ----------
    .. [1] G. Yang and E. J. Hu, "Tensor Programs IV: Feature Learning in
       Infinite-Width Neural Networks", ICML 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import MuPLinearRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = MuPLinearRegressor(n_steps=200).fit(X, y)
    >>> np.round(reg.coef_, 2)
    array([ 1.  , -2.  ,  0.5])
    >>> reg.feature_metric_.shape, round(reg.feature_movement_, 2)
    ((3, 3), 0.83)
    """

    def __init__(
        self,
        n_steps=100,
        learning_rate="auto",
        sigma_u=1.0,
        sigma_v=1.0,
        optimizer="gd",
        random_state=None,
        verbose=0,
    ):
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.sigma_u = sigma_u
        self.sigma_v = sigma_v
        self.optimizer = optimizer
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _check_params(self):
        name = type(self).__name__
        _check_training_params(
            name,
            self.n_steps,
            self.learning_rate,
            self.sigma_u,
            self.sigma_v,
            self.optimizer,
        )
        if not isinstance(self.verbose, bool):
            check_int(name, "verbose", self.verbose, 0)

    def _validate_xy(self, X, y, reset):
        check_real_dtype(X, "X", type(self).__name__)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=np.float64,
            multi_output=True,
            y_numeric=True,
        )
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, Y, y.ndim == 1

    def _initialize(self, X, Y, single_output):
        d_in, d_out = X.shape[1], Y.shape[1]
        D = d_in + d_out
        self.P_ = np.zeros((D, d_in))
        self.P_[:d_in].flat[:: d_in + 1] = self.sigma_u  # [sigma_u I; 0]
        self.Q_ = np.zeros((D, d_out))
        self.Q_[d_in:].flat[:: d_out + 1] = self.sigma_v  # [0; sigma_v I]
        self.n_outputs_ = d_out
        self.loss_curve_ = []
        self.n_iter_ = 0
        self._single_output = single_output
        self._initial_metric_scale = float(self.sigma_u) ** 2
        self._rng = check_random_state(self.random_state)
        if isinstance(self.learning_rate, str):
            self.learning_rate_ = _auto_learning_rate(
                X, Y, self.sigma_u, self.sigma_v, self.optimizer
            )
        else:
            self.learning_rate_ = float(self.learning_rate)

    def _train(self, X, Y, n_steps):
        if not isinstance(self.learning_rate, str):
            self.learning_rate_ = float(self.learning_rate)
        lr = self.learning_rate_
        every = int(self.verbose)
        done = 0
        while done < n_steps:
            chunk = n_steps - done if not every else min(every, n_steps - done)
            losses, _ = _run(
                self.P_,
                self.Q_,
                X,
                Y,
                lr,
                lr,
                chunk,
                self.optimizer,
                self._rng,
                owner=type(self).__name__,
            )
            self.loss_curve_.extend(losses)
            done += chunk
            self.n_iter_ += chunk
            if every:
                print(f"Iteration {self.n_iter_}, loss = {losses[-1]:.8f}")
        self._update_attributes()
        return self

    def _update_attributes(self):
        W = (self.P_.T @ self.Q_).T
        self.coef_ = W[0].copy() if self._single_output else W
        self.feature_metric_ = self.P_.T @ self.P_
        self.feature_movement_ = _relative_movement(
            self.feature_metric_, self._initial_metric_scale
        )

    def fit(self, X, y):
        """Train the infinite-width network from its initialization.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : MuPLinearRegressor
            The fitted estimator.
        """
        self._check_params()
        X, Y, single = self._validate_xy(X, y, reset=True)
        self._initialize(X, Y, single)
        return self._train(X, Y, self.n_steps)

    def partial_fit(self, X, y):
        """Run one more training step on ``(X, y)``.

        One full-batch gradient step (``"gd"``) or one pass of per-example
        steps (``"sgd"``). The first call initializes the network; ``fit``
        with ``n_steps=k`` equals ``k`` calls of ``partial_fit`` on the same
        data (with the same ``random_state``). ``learning_rate`` and
        ``optimizer`` are read at every call (``"auto"`` keeps the rate chosen
        at initialization); ``sigma_u``, ``sigma_v`` and ``random_state`` only
        matter at initialization.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of this step (the training set or a mini-batch).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.

        Returns
        -------
        self : MuPLinearRegressor
            The updated estimator.
        """
        first = not hasattr(self, "P_")
        self._check_params()
        X, Y, single = self._validate_xy(X, y, reset=first)
        if first:
            self._initialize(X, Y, single)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} output(s), but {type(self).__name__} was "
                f"trained with {self.n_outputs_}. Call fit to start again."
            )
        return self._train(X, Y, 1)

    def predict(self, X):
        """Outputs of the trained infinite-width network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            :math:`X P^\\top Q`, 1-D when the network was fitted on 1-D ``y``.
        """
        check_is_fitted(self)
        check_real_dtype(X, "X", type(self).__name__)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_.T

    def feature_kernel(self, X, Y=None):
        """The learned feature kernel :math:`K(x, y) = x^\\top M y`.

        It is the limit of :math:`h(x) \\cdot h(y) / n` with :math:`h(x) = W^1 x`
        the hidden features of the finite network; before training
        :math:`K = \\sigma_u^2\\, x \\cdot y`.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Left argument.
        Y : array-like of shape (n_samples_Y, n_features), default=None
            Right argument; ``None`` means ``X``.

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
            :math:`X M Y^\\top`.
        """
        check_is_fitted(self)
        check_real_dtype(X, "X", type(self).__name__)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        if Y is None:
            K = (X @ self.feature_metric_) @ X.T
            return (K + K.T) / 2  # exactly symmetric
        check_real_dtype(Y, "Y", type(self).__name__)
        Y = validate_data(self, Y, reset=False, dtype=np.float64)
        return X @ self.feature_metric_ @ Y.T


# --------------------------------------------------------------------------
# Literal finite-width networks
# --------------------------------------------------------------------------


class FiniteLinearNetwork:
    r"""A trained finite-width linear network :math:`f(x) = W^2 W^1 x`.

    Returned by :func:`train_finite_linear_network`; not meant to be built
    directly. ``W1`` and ``W2`` are the effective weights (multipliers
    included), so the hidden features are :math:`h(x) = W^1 x`.

    Attributes
    ----------
    W1, W2 : ndarray of shape (width, d_in), (d_out, width)
        Weights after training.
    W1_init, W2_init : ndarray
        Weights at initialization.
    width, parameterization : int, str
        As passed to :func:`train_finite_linear_network`.
    outputs : ndarray of shape (n_steps + 1, n_eval, d_out)
        Outputs on ``X_eval`` at initialization and after every step.
    loss_curve : list of float
        Training loss :math:`\frac{1}{2N}\sum_i|f(x_i)-y_i|^2` at the start of
        each step.
    feature_metric, initial_feature_metric : ndarray of shape (d_in, d_in)
        :math:`W^{1\top} W^1 / n` after and before training, so that the
        feature kernel is :math:`h(x)\cdot h(x')/n = x^\top M x'`.
    feature_movement : float
        :math:`\|M - M_{\rm init}\|_F / \|M_{\rm init}\|_F`.
    """

    def __init__(self, W1, W2, W1_init, W2_init, parameterization, outputs, losses):
        self.W1 = W1
        self.W2 = W2
        self.W1_init = W1_init
        self.W2_init = W2_init
        self.width = W1.shape[0]
        self.parameterization = parameterization
        self.outputs = outputs
        self.loss_curve = losses
        n = self.width
        self.feature_metric = W1.T @ W1 / n
        self.initial_feature_metric = W1_init.T @ W1_init / n
        self.feature_movement = _relative_movement(
            self.feature_metric, self.initial_feature_metric
        )

    def predict(self, X):
        """Outputs :math:`X W^{1\\top} W^{2\\top}`, shape (n_samples, d_out)."""
        X = check_input(X, "X", "FiniteLinearNetwork")
        return (X @ self.W1.T) @ self.W2.T

    def feature_kernel(self, X, Y=None):
        """Feature kernel :math:`h(x)\\cdot h(y)/n`, shape (n_X, n_Y)."""
        X = check_input(X, "X", "FiniteLinearNetwork")
        HX = X @ self.W1.T
        HY = HX if Y is None else check_input(Y, "Y", "FiniteLinearNetwork") @ self.W1.T
        return HX @ HY.T / self.width

    def __repr__(self):
        return (
            f"FiniteLinearNetwork(width={self.width}, "
            f"parameterization={self.parameterization!r})"
        )


def train_finite_linear_network(
    X,
    Y,
    width,
    *,
    parameterization="mup",
    n_steps=100,
    learning_rate=0.1,
    sigma_u=1.0,
    sigma_v=1.0,
    optimizer="gd",
    random_state=None,
    sgd_random_state=None,
    X_eval=None,
):
    r"""Train a literal finite-width linear network :math:`f(x) = W^2 W^1 x`.

    The finite counterpart of :class:`MuPLinearRegressor` (``"mup"``) and of
    kernel gradient descent with the linear NTK (``"ntk"``): same data, same
    loss, same steps, one random network of the given width.

    Parameters
    ----------
    X : array-like of shape (n_samples, d_in)
        Training inputs.
    Y : array-like of shape (n_samples,) or (n_samples, d_out)
        Targets (1-D means ``d_out = 1``).
    width : int
        Hidden width :math:`n`.
    parameterization : {"mup", "ntk"}, default="mup"
        ``"mup"``: :math:`W^1_0 \sim N(0, \sigma_u^2)`, :math:`W^2_0 \sim
        N(0, \sigma_v^2/n^2)` entrywise, learning rates :math:`\eta n` and
        :math:`\eta/n` (the abc form of μP, see :class:`MuPLinearRegressor`).
        ``"ntk"``: :math:`W^1 = \sigma_u U/\sqrt{d_{\rm in}}`,
        :math:`W^2 = \sigma_v V/\sqrt n`, :math:`U, V \sim N(0, 1)` trained
        with rate :math:`\eta` (so :math:`W^1, W^2` have rates
        :math:`\eta\sigma_u^2/d_{\rm in}` and :math:`\eta\sigma_v^2/n`); as
        :math:`n\to\infty` this is kernel gradient descent with the fixed NTK
        :math:`\Theta(x, x') = 2\sigma_u^2\sigma_v^2\, x\cdot x'/d_{\rm in}`.
    n_steps : int, default=100
        Full-batch steps (``"gd"``) or passes over the data (``"sgd"``).
    learning_rate : float or "auto", default=0.1
        :math:`\eta`; ``"auto"`` resolves it from the data exactly as
        :class:`MuPLinearRegressor` does (independent of ``width``).
    sigma_u, sigma_v : float, default=1.0
        Weight scales as above (``sigma_u > 0``, ``sigma_v >= 0``).
    optimizer : {"gd", "sgd"}, default="gd"
        As in :class:`MuPLinearRegressor`.
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights (``width * (d_in + d_out)`` standard normals,
        first layer first).
    sgd_random_state : int, RandomState instance or None, default=None
        Order of the examples under ``"sgd"``, drawn exactly as
        :class:`MuPLinearRegressor` draws it: pass the estimator's
        ``random_state`` to replay its sequence of examples.
    X_eval : array-like of shape (n_eval, d_in), default=None
        Points where the outputs are recorded after every step (default:
        ``X``).

    Returns
    -------
    net : FiniteLinearNetwork
        Weights, outputs per step, loss curve, feature metric, and
        ``predict`` / ``feature_kernel`` methods.

    Notes
    -----
    Cost per step :math:`O((N + n)\, d_{\rm in} d_{\rm out} + n N)`-ish for
    ``"gd"``, memory :math:`O(n (d_{\rm in} + d_{\rm out}))`; with weights
    initialized by ``random_state`` the μP net's outputs differ from the
    limit's by :math:`O(n^{-1/2})`.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import MuPLinearRegressor
    >>> from sknnk.feature_learning import train_finite_linear_network
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    >>> net = train_finite_linear_network(X, Y, 4096, n_steps=20, random_state=0)
    >>> lim = MuPLinearRegressor(n_steps=20).fit(X, Y)
    >>> bool(np.abs(net.predict(X) - lim.predict(X)).max() < 0.2)
    True
    """
    owner = "train_finite_linear_network"
    check_int(owner, "width", width, 1)
    check_options(owner, "parameterization", parameterization, _PARAMETERIZATIONS)
    _check_training_params(owner, n_steps, learning_rate, sigma_u, sigma_v, optimizer)
    X = check_input(X, "X", owner)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    Y = check_input(Y, "Y", owner)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and Y passed to {owner} have {X.shape[0]} and {Y.shape[0]} rows; "
            "they must have the same number of samples."
        )
    X_eval = X if X_eval is None else check_input(X_eval, "X_eval", owner)
    if X_eval.shape[1] != X.shape[1]:
        raise ValueError(
            f"X_eval passed to {owner} has {X_eval.shape[1]} features, but X has "
            f"{X.shape[1]}."
        )
    n = width
    d_in, d_out = X.shape[1], Y.shape[1]
    rng = check_random_state(random_state)
    Zu = rng.standard_normal((n, d_in))
    Zv = rng.standard_normal((n, d_out))
    if isinstance(learning_rate, str):
        eta = _auto_learning_rate(X, Y, sigma_u, sigma_v, optimizer)
    else:
        eta = float(learning_rate)
    if parameterization == "mup":
        P = sigma_u * Zu
        Q = (sigma_v / n) * Zv
        lr_p, lr_q = eta * n, eta / n
    else:
        P = (sigma_u / np.sqrt(d_in)) * Zu
        Q = (sigma_v / np.sqrt(n)) * Zv
        lr_p, lr_q = eta * sigma_u**2 / d_in, eta * sigma_v**2 / n
    P_init, Q_init = P.copy(), Q.copy()
    order_rng = check_random_state(sgd_random_state)
    losses, outputs = _run(
        P, Q, X, Y, lr_p, lr_q, n_steps, optimizer, order_rng, X_eval, owner
    )
    return FiniteLinearNetwork(
        P, Q.T.copy(), P_init, Q_init.T.copy(), parameterization, outputs, losses
    )
