"""NNGP and NTK kernels of infinitely wide fully-connected networks."""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from ._memory import check_gram
from ._numerics import engine
from ._validation import (
    NETWORK_PARAMETERS,
    check_bounds,
    check_input,
    check_int,
    check_length_scale,
    check_length_scale_bounds,
    check_n_jobs,
    check_network_of,
    resolve_dtype,
)
from .activations import ACTIVATION_NAMES

__all__ = ["ACTIVATION_NAMES", "NNGPKernel", "NTKKernel"]


#: Default tuning range of per-feature length scales (as sklearn's RBF).
_ARD_BOUNDS = (1e-5, 1e5)


class _InfiniteWidthKernel(Kernel):
    """Shared machinery of :class:`NNGPKernel` and :class:`NTKKernel`."""

    _kind = 0  # 0: NNGP, 1: NTK

    # ------------------------------------------------------------ parameters
    @property
    def hyperparameter_sigma_w(self) -> Hyperparameter:
        return Hyperparameter("sigma_w", "numeric", self.sigma_w_bounds)

    @property
    def hyperparameter_sigma_b(self) -> Hyperparameter:
        # log(0) is -inf: a zero bias is reported as fixed (no theta entry and
        # no gradient column) so that every sklearn code path keeps working.
        # The bounds themselves say "fixed", because sklearn's compound
        # kernels (Sum, Product, ...) re-derive fixedness from the bounds.
        bounds = "fixed" if _is_zero(self.sigma_b) else self.sigma_b_bounds
        return Hyperparameter("sigma_b", "numeric", bounds)

    @property
    def hyperparameter_branch_scale(self) -> Hyperparameter:
        # only a residual network depends on it: fixed otherwise
        bounds = self.branch_scale_bounds if self.residual else "fixed"
        return Hyperparameter("branch_scale", "numeric", bounds)

    @property
    def anisotropic(self) -> bool:
        """Whether ``length_scale`` has one entry per feature (as in
        scikit-learn's ``RBF``)."""
        return np.iterable(self.length_scale) and len(self.length_scale) > 1

    @property
    def hyperparameter_length_scale(self) -> Hyperparameter:
        # "auto": an array of per-feature scales is tuned within (1e-5, 1e5);
        # a scalar is fixed (for homogeneous activations it is redundant with
        # the amplitude and sigma_b, and a free one would change every
        # default theta)
        bounds = self.length_scale_bounds
        if isinstance(bounds, str) and bounds == "auto":
            bounds = _ARD_BOUNDS if np.iterable(self.length_scale) else "fixed"
        else:  # a named error rather than numpy's from the Hyperparameter
            check_length_scale_bounds(type(self).__name__, bounds, self.length_scale)
        if self.anisotropic:
            return Hyperparameter(
                "length_scale", "numeric", bounds, len(self.length_scale)
            )
        return Hyperparameter("length_scale", "numeric", bounds)

    def _parameterization(self):
        return getattr(self, "parameterization", "ntk")

    def _check_params(self):
        """The resolved activation, after checking every parameter (cached
        per parameter values, see :meth:`_checked`)."""
        return self._checked()[0]

    def _checked(self):
        """``(spec, columns, networks)``: the resolved activation,
        :meth:`_free_columns` and the :meth:`_network` records made so far
        (see :meth:`_network_of`), checked once per set of parameter values.

        They are pure functions of the constructor parameters, so they are
        kept in :data:`_CHECKED` under the kernel's class and the ``(type,
        value)`` of every parameter when each one is a plain scalar or a tuple
        of them (:func:`_params_key`). During GP tuning only ``sigma_w`` and
        ``sigma_b`` change: parameters that differ from checked ones only in
        these two (:func:`_shape_key`; the columns depend on ``sigma_b`` only
        through ``sigma_b == 0``) check just the two. Other values (arrays,
        activation objects, callables: possibly mutable) are checked on every
        call.
        """
        key = _params_key(self)
        if key is None:
            return self._check_all(), self._free_columns(), {}
        hit = _CHECKED.get(key)
        if hit is not None:
            return hit
        # a new sigma_w or sigma_b (marginal-likelihood tuning): every other
        # parameter has been checked with these values, so only the two
        # scales are (with the same constraints and messages)
        shape = _shape_key(key, type(self))
        known = _SHAPES.get(shape)
        if known is not None:
            owner = type(self).__name__
            for name in _SCALES:
                NETWORK_PARAMETERS[name].check(owner, name, getattr(self, name))
            checked = (known[0], known[1], {})
        else:
            checked = (self._check_all(), self._free_columns(), {})
        if len(_CHECKED) >= _CHECKED_SIZE:
            _CHECKED.clear()
            _SHAPES.clear()
        _CHECKED[key] = checked
        _SHAPES[shape] = checked
        return checked

    def _check_all(self):
        owner = type(self).__name__
        spec = check_network_of(self, ntk=self._kind == 1)
        check_bounds(owner, "sigma_w_bounds", self.sigma_w_bounds)
        check_bounds(owner, "sigma_b_bounds", self.sigma_b_bounds)
        check_bounds(owner, "branch_scale_bounds", self.branch_scale_bounds)
        check_length_scale_bounds(owner, self.length_scale_bounds, self.length_scale)
        check_n_jobs(owner, self.n_jobs)
        return spec

    def _free_columns(self):
        """First gradient column of ``log branch_scale``, ``log length_scale``,
        ``log sigma_b`` and ``log sigma_w`` (-1 if fixed) and their number:
        ``(ia, ils, ib, iw, n_free)``."""
        # the hyperparameters in sklearn's (alphabetical) theta order; read
        # directly: ``self.hyperparameters`` introspects every attribute
        first, n_free = {}, 0
        for hp in (
            self.hyperparameter_branch_scale,
            self.hyperparameter_length_scale,
            self.hyperparameter_sigma_b,
            self.hyperparameter_sigma_w,
        ):
            first[hp.name] = -1 if hp.fixed else n_free
            n_free += 0 if hp.fixed else hp.n_elements
        names = ("branch_scale", "length_scale", "sigma_b", "sigma_w")
        return (*(first[name] for name in names), n_free)

    def _network(self, spec, dtype=np.float64, length_scale=1.0, columns=None):
        """The :class:`sknnk._numerics.engine.Network` record of this kernel
        (``length_scale`` as validated for the input, ``columns`` the
        :meth:`_free_columns` if the caller has them)."""
        if columns is None:
            columns = self._checked()[1]
        ia, ils, ib, iw, n_free = columns
        standard = self._parameterization() == "standard"
        return engine.Network(
            ntk=self._kind == 1,
            depth=int(self.depth),
            sigma_w=float(self.sigma_w),
            sigma_b=float(self.sigma_b),
            activation=spec,
            parameterization=self._parameterization(),
            width=int(self.width) if standard else None,
            grad_b=ib,
            grad_w=iw,
            n_grad=n_free,
            dtype=np.dtype(dtype),
            residual=bool(self.residual),
            branch_scale=float(self.branch_scale),
            grad_branch=ia,
            normalization=self.normalization,
            length_scale=length_scale,
            grad_ls=ils,
        )

    def _network_of(self, checked, dtype, length_scale):
        """:meth:`_network` from ``checked`` (:meth:`_checked`), kept there
        for a float ``length_scale`` (the record is a pure function of the
        parameters, ``dtype`` and the length scale)."""
        spec, columns, networks = checked
        if not isinstance(length_scale, float):
            return self._network(spec, dtype, length_scale, columns)
        key = (dtype, length_scale)
        network = networks.get(key)
        if network is None:
            network = self._network(spec, dtype, length_scale, columns)
            networks[key] = network
        return network

    # ------------------------------------------------------------ evaluation
    def __call__(self, X, Y=None, eval_gradient=False):
        """Return the kernel ``k(X, Y)`` and optionally its gradient.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Left argument of the returned kernel k(X, Y).
        Y : array-like of shape (n_samples_Y, n_features), default=None
            Right argument of the returned kernel k(X, Y). If None, k(X, X)
            is evaluated instead (only the upper triangle is computed; the
            diagonal comes from the exact one-dimensional recursion). Passing
            the same object as ``X`` is the same as None.
        eval_gradient : bool, default=False
            Whether to also return the gradient with respect to the
            log-transformed non-fixed hyperparameters (only if ``Y`` is None).

        Returns
        -------
        K : ndarray of shape (n_samples_X, n_samples_Y)
            Kernel k(X, Y), float64 (float32 with ``dtype="float32"``).
        K_gradient : ndarray of shape (n_samples_X, n_samples_X, n_dims)
            The gradient of k(X, X) with respect to ``self.theta``, in the
            order of ``self.hyperparameters``: ``log branch_scale`` (when
            free), ``log length_scale`` (when free; one column per feature if
            ``anisotropic``), ``log sigma_b``, then ``log sigma_w`` (fixed ones
            omitted). Only returned when ``eval_gradient`` is True.
        """
        checked = self._checked()
        owner = type(self).__name__
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        # k(X, X) with the same object (as sklearn's Nystroem.fit calls it) is
        # the symmetric case: half the work and the exact diagonal
        symmetric = Y is None or Y is X
        X = check_input(X, "X", owner)
        if not symmetric:
            Y = check_input(Y, "Y", owner)
            if Y.shape[1] != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features but Y has {Y.shape[1]} features; "
                    f"{owner} needs both with the same number of columns."
                )
        dtype = resolve_dtype(owner, getattr(self, "dtype", None))
        verbose = getattr(self, "verbose", 0)
        if isinstance(verbose, bool):
            verbose = int(verbose)
        check_int(owner, "verbose", verbose, 0)
        ls = check_length_scale(owner, self.length_scale, X.shape[1])
        network = self._network_of(checked, dtype, ls)
        n = X.shape[0]
        m = n if symmetric else Y.shape[0]
        check_gram(owner, network, n, m, eval_gradient, symmetric, X, Y)
        grad_label = " + gradient" if eval_gradient and network.n_grad else ""
        return engine.gram(
            network,
            X,
            None if symmetric else Y,
            bool(eval_gradient),
            self.n_jobs,
            verbose,
            f"{owner} {n} x {m}{grad_label}",
        )

    def diag(self, X):
        """Return the diagonal ``k(X, X)`` in O(n_samples * depth).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        K_diag : ndarray of shape (n_samples,)
            Diagonal of ``k(X, X)``, from the one-dimensional recursion.
        """
        checked = self._checked()
        owner = type(self).__name__
        X = check_input(X, "X", owner)
        ls = check_length_scale(owner, self.length_scale, X.shape[1])
        return engine.diag(self._network_of(checked, np.float64, ls), X, self.n_jobs)

    def is_stationary(self) -> bool:
        """Returns False: the kernel depends on the inputs, not only on x - x'."""
        return False

    def __repr__(self) -> str:
        """``depth``, ``activation``, ``sigma_w``, ``sigma_b``, then the rest.

        The architecture and the two hyperparameters are always shown (the
        fitted values of a ``GaussianProcessRegressor.kernel_`` are read from
        here); every other parameter is shown when it differs from its
        default, as in scikit-learn's estimator reprs.
        """
        params = self.get_params(deep=False)
        parts = [
            f"depth={params.pop('depth')!r}",
            f"activation={params.pop('activation')!r}",
            f"sigma_w={_fmt(params.pop('sigma_w'))}",
            f"sigma_b={_fmt(params.pop('sigma_b'))}",
        ]
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        for name, value in params.items():
            if not _same(value, defaults[name]):
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class NNGPKernel(_InfiniteWidthKernel):
    r"""NNGP kernel of an infinitely wide fully-connected network.

    The covariance of the outputs of a randomly initialised network with
    ``depth`` hidden layers of infinite width, i.e. the prior of the Gaussian
    process that a Bayesian wide network is [1]_ [2]_. Use it wherever
    scikit-learn takes a kernel: ``GaussianProcessRegressor``, ``KernelRidge``,
    ``SVC(kernel=...)``, in sums and products with other kernels, and in
    marginal-likelihood tuning (analytic gradients w.r.t. ``log length_scale``,
    ``log sigma_b`` and ``log sigma_w``).

    Parameters
    ----------
    depth : int, default=1
        Number of hidden layers (nonlinearities). ``depth=0`` is the linear
        kernel of the readout layer alone.
    activation : str, activation object or callable, default="relu"
        Nonlinearity of the hidden layers: a name in ``ACTIVATION_NAMES``, an
        object of :mod:`sknnk.activations` (``ABReLU``, ``LeakyReLU``,
        ``ELU``, ``ArcCosine``, ``Custom``) or a vectorised callable. relu and
        its leaky/absolute variants, erf, identity, step, sign, sin, cos,
        ArcCosine of every order, elu and selu are exact closed forms; the others
        (tanh, sigmoid, softplus, swish, gelu, ...) use a Hermite series
        truncated adaptively at a relative remainder of 1e-13; tanh and
        sigmoid switch to a Gaussian scale mixture of erf (sup error 6e-15;
        closed-form duals at every variance) above layer variance 38 and 100,
        softplus to the integral of sigmoid's (Price's theorem) above 200,
        gelu, swish and gelu_tanh to the closed form of ``x (1 + sum_k a_k
        erf(x / sigma_k)) / 2`` (gelu one exact term, swish tanh's mixture,
        gelu_tanh a fitted one) above 10, 100 and 38.
    sigma_w : float, default=sqrt(2)
        Standard deviation of the weights (before the ``1/sqrt(fan_in)``
        scaling). Must be > 0.
    sigma_b : float, default=0.1
        Standard deviation of the biases. ``sigma_b=0`` (no bias) is allowed;
        it is then a fixed hyperparameter (``log 0`` cannot be optimised), so
        ``theta`` omits ``log sigma_b``.
    sigma_w_bounds : pair of floats >= 0 or "fixed", default=(1e-2, 1e2)
        Bounds of ``sigma_w`` for hyperparameter optimisation.
    sigma_b_bounds : pair of floats >= 0 or "fixed", default=(1e-5, 1e2)
        Bounds of ``sigma_b`` for hyperparameter optimisation.
    residual : bool, default=False
        Residual hidden blocks: ``z^l = z^{l-1} + branch_scale * branch`` for
        ``l = 1..depth-1`` and the plain readout ``z^depth = branch`` (so
        ``depth <= 1`` is the plain network); see Notes.
    branch_scale : float, default=1.0
        ``alpha``, the scale of each residual branch (> 0; only used with
        ``residual=True``).
    branch_scale_bounds : pair of floats >= 0 or "fixed", default="fixed"
        Bounds of ``branch_scale`` for hyperparameter optimisation; a free
        ``branch_scale`` (``residual=True`` and bounds given) is the first
        entry of ``theta``, with an analytic gradient.
    normalization : {None, "layer"}, default=None
        ``"layer"``: layer normalisation of the pre-activations of every
        hidden layer, per point and across units, before the nonlinearity.
    length_scale : float or array-like of shape (n_features,), default=1.0
        Per-feature length scales ``l`` of the first layer (Automatic
        Relevance Determination): the network sees ``x / l``, i.e. the first
        layer's weights of feature ``k`` have standard deviation
        ``sigma_w / l_k``. A float scales every feature alike; an array, one
        entry per feature, makes the kernel ``anisotropic`` (as scikit-learn's
        ``RBF``), and a large ``l_k`` marks an irrelevant feature. Every
        ``l == 1`` is exactly the kernel without length scales.
    length_scale_bounds : pair of floats > 0, "fixed" or "auto", default="auto"
        Bounds of ``length_scale`` for hyperparameter optimisation (one
        ``theta`` entry and gradient column per feature when ``anisotropic``).
        ``"auto"``: ``(1e-5, 1e5)`` for an array ``length_scale`` and
        ``"fixed"`` for a float (a single scale of the inputs is nearly
        redundant with ``sigma_w``, ``sigma_b`` and an amplitude; pass bounds
        to tune it).
    n_jobs : int, default=None
        Number of workers over which tiles of the Gram matrix are spread:
        threads by default (the compiled code releases the GIL), or the
        workers of the backend chosen with ``joblib.parallel_config``, e.g.
        ``backend="dask"`` for a dask cluster. ``None`` means 1 unless in a
        ``joblib.parallel_config`` context; ``-1`` uses all cores. The result
        does not depend on ``n_jobs`` or the backend (bitwise).
    dtype : {None, "float64", "float32"}, default=None
        Precision of the computation and of the returned arrays. ``None`` is
        float64. ``"float32"`` halves the memory and, for the ReLU family,
        roughly halves the time; entries then carry errors of about 1e-6
        relative to the largest entry (up to ~1e-4 for near-duplicate inputs,
        whose angle is ill-conditioned). :meth:`diag` stays float64.
    verbose : int, default=0
        Progress lines on stdout for long Gram computations: ``1`` every 10%
        of the work, ``2`` also every second.

    See Also
    --------
    NTKKernel : the neural tangent kernel of the same network.

    Notes
    -----
    The network is
    :math:`h^1 = \frac{\sigma_w}{\sqrt d} W^1 (x / l) + \sigma_b b^1`
    (``x / l`` elementwise, ``l = length_scale``),
    :math:`h^{l+1} = \frac{\sigma_w}{\sqrt n} W^{l+1}\phi(h^l) + \sigma_b b^{l+1}`
    for :math:`l = 1..L` (``L = depth``), output :math:`f = h^{L+1}`, with
    i.i.d. standard normal weights and biases and :math:`n \to \infty`. With
    :math:`F(a, b, c) = E[\phi(u)\phi(v)]` for
    :math:`(u, v) \sim N(0, [[a, c], [c, b]])`,

    .. math::

        \Sigma^0(x, x') = \sigma_w^2 \frac{(x / l) \cdot (x' / l)}{d}
            + \sigma_b^2,
        \qquad
        \Sigma^{l+1}(x, x') = \sigma_w^2 F\big(\Sigma^l(x, x),
            \Sigma^l(x', x'), \Sigma^l(x, x')\big) + \sigma_b^2,

    and the kernel is :math:`\Sigma^L`. For ReLU,
    :math:`F = \sqrt{ab}\,(\sin\theta + (\pi - \theta)\cos\theta) / (2\pi)`
    with :math:`\cos\theta = c / \sqrt{ab}` [3]_. Correlations are clipped to
    [-1, 1], angles use ``atan2`` and an input of zero norm with
    ``sigma_b=0`` gives an exact zero row. Gradients are propagated forward
    through the recursion, including the dependence of the variances
    :math:`\Sigma^l(x, x)` on the hyperparameters. The kernel depends on
    the inputs only through :math:`g = \tilde x \cdot \tilde x' / d` and the
    squared norms :math:`g_a = |\tilde x|^2 / d`, :math:`g_b = |\tilde x'|^2 / d`
    (:math:`\tilde x = x / l`), so its gradient in :math:`\log l_k` is
    :math:`-\frac{2}{d}(K_g \tilde x_k \tilde x'_k + K_a \tilde x_k^2
    + K_b \tilde x_k'^2)` with the partials :math:`K_g, K_a, K_b` of the kernel
    in :math:`(g, g_a, g_b)`, propagated through the layers like the
    hyperparameter derivatives: O(n^2 d) memory, as the anisotropic ``RBF``.

    **Residual blocks and layer normalisation.** With hidden width ``n``,
    :math:`z^0 = \sigma_w W^0 x / \sqrt d + \sigma_b b^0` and, for
    :math:`l = 1..L`, :math:`u = \mathrm{LN}(z^{l-1})` if
    ``normalization="layer"`` (per point across the ``n`` units,
    :math:`(z - \bar z) / \mathrm{std}(z)`, no gain or bias, ``eps = 0``) else
    :math:`u = z^{l-1}`, the branch
    :math:`\beta^l = \sigma_w W^l \phi(u) / \sqrt n + \sigma_b b^l`;
    ``residual=True`` gives :math:`z^l = z^{l-1} + \alpha \beta^l` for
    :math:`l < L` and the plain readout :math:`z^L = \beta^L` (so ``depth=1``
    is the plain network), with :math:`\alpha` = ``branch_scale``; otherwise
    :math:`z^l = \beta^l`. The output is :math:`f = z^L`. At infinite width
    LN maps a covariance to its correlation,
    :math:`\tilde\Sigma = \Sigma / \sqrt{q(x) q(x')}` with
    :math:`q = \Sigma(x, x)` (and :math:`\tilde\Theta` likewise, as in
    neural-tangents' ``LayerNorm``), and

    .. math::

        \Sigma^l = \Sigma^{l-1} + \alpha^2 \big(\sigma_w^2
            F(\tilde\Sigma^{l-1}) + \sigma_b^2\big),

    :math:`F` taken at unit variances under LN. The diagonal of the
    residual stream still grows (like :math:`(1 + \alpha^2\sigma_w^2/2)^L`
    for ReLU without LN); a variance beyond float64 raises a ``ValueError``.
    At a point of zero variance (``x = 0`` with ``sigma_b = 0``) LN returns
    0, the :math:`\epsilon \to 0` limit of
    :math:`(z - \bar z)/\sqrt{\mathrm{var}(z) + \epsilon}` at :math:`z = 0`:
    its normalised variance and covariances are 0 (an NTK whose tangent
    kernel is nonzero there, as with the standard parameterization's trained
    biases, is infinite: a ``ValueError``). These networks are computed
    entry by entry for every activation, without the vectorised drivers of
    the plain network (tens of times slower for ReLU and erf).

    References
    ----------
    .. [1] J. Lee et al., "Deep neural networks as Gaussian processes", ICLR 2018.
    .. [2] A. G. de G. Matthews et al., "Gaussian process behaviour in wide deep
       neural networks", ICLR 2018.
    .. [3] Y. Cho and L. K. Saul, "Kernel methods for deep learning", NeurIPS 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NNGPKernel
    >>> X = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0]])
    >>> k = NNGPKernel(depth=1, sigma_w=1.5, sigma_b=0.1)
    >>> np.round(k(X), 5)
    array([[0.865  , 0.6569 ],
           [0.6569 , 1.91969]])
    >>> k.theta.round(4)  # log sigma_b, log sigma_w
    array([-2.3026,  0.4055])
    >>> k_ard = NNGPKernel(depth=1, length_scale=[1.0, 2.0, 0.5])
    >>> k_ard.theta.round(4)  # log length_scale (per feature), log sigma_b, log sigma_w
    array([ 0.    ,  0.6931, -0.6931, -2.3026,  0.3466])
    """

    _kind = 0

    def __init__(
        self,
        depth: int = 1,
        activation: str = "relu",
        sigma_w: float = 2**0.5,
        sigma_b: float = 0.1,
        sigma_w_bounds=(1e-2, 1e2),
        sigma_b_bounds=(1e-5, 1e2),
        residual: bool = False,
        branch_scale: float = 1.0,
        branch_scale_bounds="fixed",
        normalization: str | None = None,
        length_scale=1.0,
        length_scale_bounds="auto",
        n_jobs: int | None = None,
        dtype=None,
        verbose: int = 0,
    ):
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.sigma_w_bounds = sigma_w_bounds
        self.sigma_b_bounds = sigma_b_bounds
        self.residual = residual
        self.branch_scale = branch_scale
        self.branch_scale_bounds = branch_scale_bounds
        self.normalization = normalization
        self.length_scale = length_scale
        self.length_scale_bounds = length_scale_bounds
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose


class NTKKernel(_InfiniteWidthKernel):
    r"""Neural tangent kernel of an infinitely wide fully-connected network.

    Training an infinitely wide network by gradient descent on the squared
    loss is kernel regression with this kernel [1]_ [2]_; ``KernelRidge`` or
    ``GaussianProcessRegressor`` with the NTK give the mean prediction of the
    trained network. Use it wherever scikit-learn takes a kernel; gradients
    w.r.t. ``log length_scale``, ``log sigma_b`` and ``log sigma_w`` are analytic.

    Parameters
    ----------
    depth : int, default=1
        Number of hidden layers (nonlinearities). ``depth=0`` is the linear
        kernel of the readout layer alone.
    activation : str, activation object or callable, default="relu"
        Nonlinearity of the hidden layers, as in :class:`NNGPKernel`.
    sigma_w : float, default=sqrt(2)
        Standard deviation of the weights. Must be > 0.
    sigma_b : float, default=0.1
        Standard deviation of the biases; 0 is allowed and then fixed (see
        :class:`NNGPKernel`).
    sigma_w_bounds : pair of floats >= 0 or "fixed", default=(1e-2, 1e2)
        Bounds of ``sigma_w`` for hyperparameter optimisation.
    sigma_b_bounds : pair of floats >= 0 or "fixed", default=(1e-5, 1e2)
        Bounds of ``sigma_b`` for hyperparameter optimisation.
    residual : bool, default=False
        Residual hidden blocks, as in :class:`NNGPKernel`.
    branch_scale : float, default=1.0
        Scale ``alpha`` of each residual branch, as in :class:`NNGPKernel`.
    branch_scale_bounds : pair of floats >= 0 or "fixed", default="fixed"
        Bounds of ``branch_scale``, as in :class:`NNGPKernel`.
    normalization : {None, "layer"}, default=None
        Layer normalisation, as in :class:`NNGPKernel`.
    length_scale : float or array-like of shape (n_features,), default=1.0
        Per-feature length scales of the first layer, as in
        :class:`NNGPKernel`.
    length_scale_bounds : pair of floats > 0, "fixed" or "auto", default="auto"
        Bounds of ``length_scale``, as in :class:`NNGPKernel`.
    parameterization : {"ntk", "standard"}, default="ntk"
        ``"ntk"``: weights scaled by ``sigma_w / sqrt(fan_in)`` in the forward
        pass, the parameterization with a width-free limit. ``"standard"``:
        weights drawn with variance ``sigma_w**2 / fan_in`` and trained
        directly, every layer with a trained bias (also when ``sigma_b=0``);
        its NTK grows linearly with the hidden width, which must then be given.
    width : int, default=None
        Hidden width, required by (and only used with)
        ``parameterization="standard"``.
    n_jobs : int, default=None
        Number of workers over which tiles of the Gram matrix are spread:
        threads by default (the compiled code releases the GIL), or the
        workers of the backend chosen with ``joblib.parallel_config``, e.g.
        ``backend="dask"`` for a dask cluster. ``None`` means 1 unless in a
        ``joblib.parallel_config`` context; ``-1`` uses all cores. The result
        does not depend on ``n_jobs`` or the backend (bitwise).
    dtype : {None, "float64", "float32"}, default=None
        Precision of the computation and of the returned arrays. ``None`` is
        float64. ``"float32"`` halves the memory and, for the ReLU family,
        roughly halves the time; entries then carry errors of about 1e-6
        relative to the largest entry (up to ~1e-4 for near-duplicate inputs,
        whose angle is ill-conditioned). :meth:`diag` stays float64.
    verbose : int, default=0
        Progress lines on stdout for long Gram computations: ``1`` every 10%
        of the work, ``2`` also every second.

    See Also
    --------
    NNGPKernel : the covariance of the network at initialisation.

    Notes
    -----
    With :math:`\Sigma^l` the NNGP recursion (see :class:`NNGPKernel`) and
    :math:`G(a, b, c) = E[\phi'(u)\phi'(v)]`,

    .. math::

        \Theta^0 = \Sigma^0, \qquad
        \Theta^{l+1}(x, x') = \Sigma^{l+1}(x, x') + \sigma_w^2
            G\big(\Sigma^l(x, x), \Sigma^l(x', x'), \Sigma^l(x, x')\big)
            \Theta^l(x, x'),

    and the kernel is :math:`\Theta^L`. In the standard parameterization
    :math:`\Theta^0 = x \cdot x' + 1` and
    :math:`\Theta^{l+1} = n F(\Sigma^l) + \sigma_w^2 G(\Sigma^l)\Theta^l + 1`
    with ``n = width`` [3]_. For ReLU, :math:`G = (\pi - \theta) / (2\pi)`;
    its hyperparameter derivative is singular at :math:`\theta = 0, \pi`,
    where the correlation does not depend on the hyperparameters, and is set
    to its limit 0 there.

    With residual blocks (see :class:`NNGPKernel` for the network),
    :math:`\Theta^l = \Theta^{l-1} + \alpha^2 \big(\sigma_w^2 F + \sigma_b^2
    + \sigma_w^2 G\, \tilde\Theta^{l-1}\big)` for :math:`l < L` (the cross
    terms vanish: the weights have mean 0), the plain step at :math:`l = L`;
    under layer normalisation :math:`F, G` are taken at the correlation and
    :math:`\tilde\Theta = \Theta / \sqrt{q(x) q(x')}` (the derivatives of
    the mean and variance statistics vanish in the limit).

    References
    ----------
    .. [1] A. Jacot, F. Gabriel and C. Hongler, "Neural tangent kernel:
       convergence and generalization in neural networks", NeurIPS 2018.
    .. [2] J. Lee et al., "Wide neural networks of any depth evolve as linear
       models under gradient descent", NeurIPS 2019.
    .. [3] J. Sohl-Dickstein et al., "On the infinite width limit of neural
       networks with a standard parameterization", arXiv:2001.07301, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NTKKernel
    >>> X = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0]])
    >>> k = NTKKernel(depth=1, sigma_w=1.5, sigma_b=0.1)
    >>> np.round(k(X), 6)
    array([[1.72    , 0.921137],
           [0.921137, 3.829375]])
    >>> K, dK = k(X, eval_gradient=True)
    >>> dK.shape  # (n, n, [log sigma_b, log sigma_w])
    (2, 2, 2)
    """

    _kind = 1

    def __init__(
        self,
        depth: int = 1,
        activation: str = "relu",
        sigma_w: float = 2**0.5,
        sigma_b: float = 0.1,
        sigma_w_bounds=(1e-2, 1e2),
        sigma_b_bounds=(1e-5, 1e2),
        residual: bool = False,
        branch_scale: float = 1.0,
        branch_scale_bounds="fixed",
        normalization: str | None = None,
        length_scale=1.0,
        length_scale_bounds="auto",
        parameterization: str = "ntk",
        width: int | None = None,
        n_jobs: int | None = None,
        dtype=None,
        verbose: int = 0,
    ):
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.sigma_w_bounds = sigma_w_bounds
        self.sigma_b_bounds = sigma_b_bounds
        self.residual = residual
        self.branch_scale = branch_scale
        self.branch_scale_bounds = branch_scale_bounds
        self.normalization = normalization
        self.length_scale = length_scale
        self.length_scale_bounds = length_scale_bounds
        self.parameterization = parameterization
        self.width = width
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose


#: Checked parameters: ``_params_key -> (spec, columns)`` (see
#: ``_InfiniteWidthKernel._checked``), emptied when full.
_CHECKED: dict = {}
_CHECKED_SIZE = 256
_SCALAR_TYPES = frozenset(
    {bool, int, float, str, type(None), np.float64, np.float32, np.int64, np.int32}
)
_INIT_NAMES: dict = {}
_MISSING = object()  # not plain: a kernel without the attribute is not cached


def _plain(value):
    """``(type, value)`` of a plain scalar (or a tuple of them, element by
    element), None for anything else."""
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return kind, value
    if kind is tuple:
        items = tuple(_plain(v) for v in value)
        if None not in items:
            return kind, items
    return None


def _params_key(kernel):
    """The key of ``kernel`` in :data:`_CHECKED`: its class and the
    :func:`_plain` form of every constructor parameter (types included, so
    that e.g. ``depth=True`` is not taken for ``depth=1``), or None when a
    parameter is not plain."""
    cls = type(kernel)
    names = _INIT_NAMES.get(cls)
    if names is None:
        names = tuple(inspect.signature(cls.__init__).parameters)[1:]
        _INIT_NAMES[cls] = names
    key = [cls]
    for name in names:
        value = getattr(kernel, name, _MISSING)
        kind = type(value)
        item = (kind, value) if kind in _SCALAR_TYPES else _plain(value)
        if item is None:
            return None
        key.append(item)
    return tuple(key)


#: Checked parameters by :func:`_shape_key` (emptied with :data:`_CHECKED`).
_SHAPES: dict = {}
_SCALES = ("sigma_w", "sigma_b")
_SCALE = object()  # stands for a scale's value in a shape key


def _shape_key(key, cls):
    """:func:`_params_key` ``key`` of a ``cls`` kernel without the values of
    ``sigma_w`` and ``sigma_b`` (only whether ``sigma_b`` is 0, which fixes
    its hyperparameter)."""
    names = _INIT_NAMES[cls]
    items = list(key)
    items[1 + names.index("sigma_w")] = _SCALE
    i_b = 1 + names.index("sigma_b")
    items[i_b] = (_SCALE, _is_zero(items[i_b][1]))
    return tuple(items)


def _is_zero(value):
    try:
        return float(value) == 0.0
    except (TypeError, ValueError):
        return False


def _same(value, default):
    """Whether a parameter value is its default (same type and repr)."""
    return value is default or (
        type(value) is type(default) and repr(value) == repr(default)
    )


def _fmt(value):
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return repr(value)
