r"""Random features approximating the NNGP and NTK kernels.

:class:`NNGPSampler` and :class:`NTKSampler` are scikit-learn transformers,
like :class:`sklearn.kernel_approximation.RBFSampler`: ``fit`` draws a random
network (it looks at the data only for its number of features) and
``transform`` maps each row ``x`` to a feature vector ``z(x)`` with

.. math::

    E\,[z(x) \cdot z(x')] \approx k(x, x'),

where ``k`` is :class:`~sknnk.NNGPKernel` or :class:`~sknnk.NTKKernel` with the
same ``depth``, ``activation``, ``sigma_w`` and ``sigma_b``. A linear model
on the features (``Ridge``, ``LogisticRegression``, ``SGDClassifier``,
``LinearSVC``) then approximates the kernel machine at a cost linear in the
number of samples.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import scipy.fft
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted, validate_data

from ._memory import check_transform
from ._numerics.layer import scales
from ._overflow import (
    FINITE_ACTIVATION,
    STANDARDIZE,
    check_finite_result,
    quiet_overflow,
)
from ._parallel import Remote, interruptible, map_blocks, n_workers_of
from ._validation import (
    check_generator,
    check_int,
    check_n_jobs,
    check_network_of,
    check_real_dtype,
    feature_scales,
    resolve_dtype,
)
from .activations import resolve_activation
from .finite import _is_residual, block_output, dense_layer, nonlinearity_input

__all__ = ["NNGPSampler", "NTKSampler", "TensorSRHT"]

#: Rows of the fixed grid on which every gemm and FFT runs (see ``_forward``).
BLOCK = 128

TensorSRHT = namedtuple(
    "TensorSRHT", ["signs_a", "signs_b", "index_a", "index_b", "n_fft_a", "n_fft_b"]
)
TensorSRHT.__doc__ = """Random draws of one TensorSRHT sketch of ``a (x) b``.

Attributes
----------
signs_a, signs_b : ndarray of +-1 of shape (n_rep_a, p) and (n_rep_b, q)
    Independent random sign vectors multiplying ``a`` (length ``p``) and ``b``
    (length ``q``); there are enough of them for ``M`` distinct spectral
    entries (a short ``a``, such as the input layer, needs several).
index_a, index_b : ndarray of int of shape (M,)
    The ``M`` random (distinct) entries of the spectra, each spectrum being
    the ``n_fft // 2 + 1`` frequencies of a real-input FFT per sign vector.
n_fft_a, n_fft_b : int
    FFT lengths (``p`` and ``q`` rounded up to fast sizes, zero padded).
"""


def _standard_normal(rng, shape, dtype):
    """i.i.d. N(0, 1) draws; float32 ones are the rounded float64 draws,
    generated in slabs of at most 2**22 numbers (bounded temporary memory)."""
    out = np.empty(shape, dtype=dtype)
    if dtype == np.float64:
        rng.standard_normal(out=out)
        return out
    rows = max(1, 2**22 // max(shape[1], 1))
    for s in range(0, shape[0], rows):
        out[s : s + rows] = rng.standard_normal((min(rows, shape[0] - s), shape[1]))
    return out


def _check_X(est, X, reset):
    """Validated ``X`` (float64 or float32, dense or CSR); never a copy of a
    float array, so the input is never modified."""
    check_real_dtype(X, "X", type(est).__name__)
    return validate_data(
        est, X, accept_sparse="csr", dtype=(np.float64, np.float32), reset=reset
    )


def _draw_sketch(rng, p, q, n_pairs, dtype):
    """Draw a TensorSRHT sketch of ``a (x) b`` (``a``, ``b`` of lengths p, q)."""
    draws = []
    for n in (p, q):
        n_fft = scipy.fft.next_fast_len(n, real=True)
        n_freq = n_fft // 2 + 1
        n_rep = -(-n_pairs // n_freq)
        signs = (2 * rng.integers(0, 2, size=(n_rep, n)) - 1).astype(dtype)
        index = rng.permutation(n_rep * n_freq)[:n_pairs]
        draws.append((signs, index, n_fft))
    (sa, ia, na), (sb, ib, nb) = draws
    return TensorSRHT(sa, sb, ia, ib, na, nb)


def _spectra(a, signs, n_fft):
    """``FFT(s_r * a)`` of every row of ``a`` and sign vector ``s_r``, side by
    side: shape ``(n_rows, n_rep * (n_fft // 2 + 1))``."""
    f = scipy.fft.rfft(a[:, None, :] * signs, n=n_fft, axis=2)
    return f.reshape(a.shape[0], -1)


def _sketch(a, b, sk, out):
    r"""Write TensorSRHT features of the rows of ``a (x) b`` into ``out``.

    With spectra :math:`\hat a = \mathrm{FFT}(s_a \odot a)`,
    :math:`\hat b = \mathrm{FFT}(s_b \odot b)` and
    :math:`z_k = \hat a_{i_k} \hat b_{j_k} / \sqrt M`, ``out`` is
    ``[Re z, Im z]``. For every frequency
    :math:`E_s[\hat a_i \overline{\hat a'_i}] = a \cdot a'` (the cross terms
    of independent signs vanish), so
    :math:`E[\mathrm{out} \cdot \mathrm{out}'] = (a \cdot a')(b \cdot b')`
    whichever frequencies are picked.
    """
    M = sk.index_a.shape[0]
    z = _spectra(a, sk.signs_a, sk.n_fft_a)[:, sk.index_a]
    z *= _spectra(b, sk.signs_b, sk.n_fft_b)[:, sk.index_b]
    z *= 1.0 / math.sqrt(M)
    out[:, :M] = z.real
    out[:, M:] = z.imag


def _forward(net, funcs, Xc, out):
    """Features of one grid block ``Xc`` (dense, network dtype) into ``out``.

    ``net`` is ``(kind, depth, weights, sketches, activation, scalars,
    architecture)`` and ``funcs`` the activation's ``(phi, phi')``; every
    call on the same block performs the same operations on arrays of the same
    shapes, which makes the result independent of ``batch_size`` and
    ``n_jobs`` (bitwise).
    """
    kind, depth, weights, sketches, _, (sw, sb, c0, b0, aw, ab), arch = net
    ls, residual, alpha, ln = arch
    if ls is not None:
        Xc = Xc / ls
    d = Xc.shape[1]
    if depth == 0:
        np.multiply(Xc, c0, out=out[:, :d])
        out[:, d] = b0
        return
    phi, dphi = funcs
    m = weights[0].shape[1]
    wscale = sw / math.sqrt(m)
    # the weights W^l hold the bias row last: [W; b]
    h = dense_layer(Xc, weights[0][:-1], weights[0][-1], sw, sb)
    if kind == 0:
        for layer, W in enumerate(weights[1:], 1):
            new = dense_layer(phi(nonlinearity_input(h, ln)[0]), W[:-1], W[-1], sw, sb)
            h = block_output(h, new, layer, depth, residual, alpha)
        np.multiply(phi(nonlinearity_input(h, ln)[0]), wscale, out=out[:, :m])
        out[:, m] = sb
        return
    t = np.empty((Xc.shape[0], d + 1), dtype=Xc.dtype)
    np.multiply(Xc, c0, out=t[:, :d])
    t[:, d] = b0
    fscale = aw / math.sqrt(m)
    n_new = out.shape[1]
    for layer in range(depth):
        u, inv = nonlinearity_input(h, ln)
        a = phi(u)
        grad = np.multiply(dphi(u), wscale)
        if ln:
            grad *= inv
        last = layer == depth - 1
        res = _is_residual(layer + 1, depth, residual)
        if last:
            nxt = new = out
        elif res:  # t^{l+1} = [t^l, alpha * new features]
            p = t.shape[1]
            nxt = np.empty((Xc.shape[0], p + n_new), dtype=Xc.dtype)
            nxt[:, :p] = t
            new = nxt[:, p:]
        else:
            nxt = new = np.empty(out.shape, dtype=Xc.dtype)
        np.multiply(a, fscale, out=new[:, :m])
        new[:, m] = ab
        _sketch(t, grad, sketches[layer], new[:, m + 1 :])
        if not last:
            W = weights[layer + 1]
            branch = dense_layer(a, W[:-1], W[-1], sw, sb)
            h = block_output(h, branch, layer + 1, depth, residual, alpha)
            if res:
                new *= alpha
        t = nxt


@quiet_overflow  # a non-finite feature is refused, block by block
def _run_batch(net, X, start, stop, out, dtype):
    """Fill ``out`` with the features of ``X[start:stop]``, block by block.

    ``start`` is on the grid (a multiple of ``BLOCK``) relative to ``X``.
    """
    funcs = resolve_activation(net[4]).pointwise()
    for s in range(start, stop, BLOCK):
        e = min(s + BLOCK, stop)
        Xc = X[s:e]
        Xc = Xc.toarray() if sp.issparse(Xc) else Xc
        # one memory layout whatever the input's: the same BLAS path, bitwise
        Xc = np.ascontiguousarray(Xc, dtype=dtype)
        _forward(net, funcs, Xc, out[s - start : e - start])
        _check_features(net[0], out[s - start : e - start])


def _check_features(kind, block):
    """Refuse a block of features with NaN or inf (checked per grid block:
    no temporary of the size of the whole output)."""
    fixes = STANDARDIZE + ", use a smaller sigma_w or depth"
    if block.dtype != np.float64:
        fixes += ', use dtype="float64"'
    owner = "NTKSampler" if kind == 1 else "NNGPSampler"
    check_finite_result(
        owner, "the features", block, f"{fixes}, or {FINITE_ACTIVATION}"
    )


def _batch_task(net, Xb, n_out, dtype):
    """Task of the backends without shared memory: features of a batch."""
    out = np.empty((Xb.shape[0], n_out), dtype=dtype)
    _run_batch(net, Xb, 0, Xb.shape[0], out, dtype)
    return out


class _BaseSampler(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared machinery of :class:`NNGPSampler` and :class:`NTKSampler`."""

    _kind = 0  # 0: NNGP, 1: NTK

    # ------------------------------------------------------------ parameters
    def _check_params(self):
        owner = type(self).__name__
        check_int(owner, "n_components", self.n_components, 1)
        check_network_of(self, ntk=self._kind == 1)
        check_int(owner, "batch_size", self.batch_size, 1, allow_none=True)
        check_n_jobs(owner, self.n_jobs)
        return resolve_dtype(owner, self.dtype)

    def _scalars(self, n_features):
        """``(sw, sb, c0, b0, aw, ab)``: weight and bias scales, the input
        features ``[c0 x, b0]`` and the layer features ``[aw phi/sqrt(m), ab]``
        of the NTK."""
        param = getattr(self, "parameterization", "ntk")
        width = getattr(self, "width", None)
        ntk = self._kind == 1
        sc = scales(ntk, param, self.sigma_w, self.sigma_b, width, n_features)
        return sc.sigma_w, sc.sigma_b, sc.c0, sc.b0, sc.aw, sc.ab

    # ------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Draw the random network for inputs with ``X.shape[1]`` features.

        Only the shape of ``X`` is used (and its values validated).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted sampler.
        """
        dtype = self._check_params()
        X = _check_X(self, X, reset=True)
        d = X.shape[1]
        ls = feature_scales(type(self).__name__, self.length_scale, d)
        m = self.n_components
        rng = check_generator(self.random_state)
        weights = []
        dim_in = d + 1
        for _ in range(self.depth):
            weights.append(_standard_normal(rng, (dim_in, m), dtype))
            dim_in = m + 1
        self.weights_ = weights
        if self._kind == 1:
            n_pairs = (m + 1) // 2
            n_new = m + 1 + 2 * n_pairs
            sketches = []
            p = d + 1
            for layer in range(self.depth):
                sketches.append(_draw_sketch(rng, p, m, n_pairs, dtype))
                res = _is_residual(layer + 1, self.depth, self.residual)
                p = p + n_new if res else n_new
            self.sketches_ = sketches
        arch = (
            None if ls is None else ls.astype(dtype),
            bool(self.residual),
            float(self.branch_scale),
            self.normalization == "layer",
        )
        self._fitted = (
            self.depth,
            self.activation,
            self._scalars(d),
            np.dtype(dtype).type,
            arch,
        )
        return self

    @property
    def _n_features_out(self):
        """Output dimension (used by ``get_feature_names_out``)."""
        depth = self._fitted[0]
        if depth == 0:
            return self.n_features_in_ + 1
        m = self.weights_[0].shape[1]
        if self._kind == 0:
            return m + 1
        return m + 1 + 2 * self.sketches_[0].index_a.shape[0]

    # ------------------------------------------------------------ transform
    @interruptible
    def transform(self, X):
        """Map ``X`` to the random features.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data, with as many features as in ``fit``. Not modified.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            The features, float64 (float32 with ``dtype="float32"``); see the
            class documentation for ``n_features_out``.
        """
        check_is_fitted(self)
        X = _check_X(self, X, reset=False)
        depth, activation, scalars, dtype, arch = self._fitted
        net = (
            self._kind,
            depth,
            self.weights_,
            getattr(self, "sketches_", None),
            activation,
            scalars,
            arch,
        )
        n = X.shape[0]
        n_out = self._n_features_out
        check_transform(self, n, n_out, dtype)
        out = np.empty((n, n_out), dtype=dtype)
        batches = self._batches(n, n_workers_of(self.n_jobs))

        def fill(batch):
            s, e = batch
            _run_batch(net, X, s, e, out[s:e], dtype)

        def job(group):
            ((s, e),) = group
            return _batch_task, (net, X[s:e], n_out, dtype)

        def store(group, res):
            ((s, e),) = group
            out[s:e] = res

        remote = Remote(lambda blocks, _: [[b] for b in blocks], job, store)
        map_blocks(
            fill, batches, self.n_jobs, weight=lambda b: b[1] - b[0], remote=remote
        )
        return out

    def _batches(self, n, n_workers):
        """Row ranges of the tasks, with boundaries on the ``BLOCK`` grid."""
        size = self.batch_size
        if size is None:
            size = -(-n // (4 * n_workers)) if n_workers > 1 else n
        size = max(BLOCK, -(-size // BLOCK) * BLOCK)
        return [(s, min(s + size, n)) for s in range(0, n, size)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        try:
            name = np.dtype(resolve_dtype(type(self).__name__, self.dtype)).name
        except ValueError:
            name = "float64"
        tags.transformer_tags.preserves_dtype = [name]
        return tags


_PARAMS_DOC = r"""
    n_components : int, default=1024
        Width ``m`` of the random network: the number of units of every hidden
        layer. The output dimension is given below (``n_features_out``).
    depth : int, default=1
        Number of hidden layers, as in the kernel. ``depth=0`` gives the exact
        linear features ``[sigma_w x / sqrt(d), sigma_b]`` (no randomness).
    activation : str, activation object or callable, default="relu"
        Nonlinearity of the hidden layers: a name in
        :data:`sknnk.ACTIVATION_NAMES`, an object of :mod:`sknnk.activations`
        (``ABReLU``, ``LeakyReLU``, ``ArcCosine``, ``Custom``) or a vectorised
        callable, as for the kernels.
    sigma_w : float, default=sqrt(2)
        Standard deviation of the weights (before the ``1/sqrt(fan_in)``
        scaling). Must be > 0.
    sigma_b : float, default=0.1
        Standard deviation of the biases (>= 0).
    length_scale : float or array-like of shape (n_features,), default=1.0
        Per-feature scales :math:`\ell` of the first layer, which sees
        :math:`x / \ell` (automatic relevance determination); > 0, an array
        must have one entry per feature of the data given to ``fit``.
    residual : bool, default=False
        Residual blocks: the hidden pre-activations are a stream
        :math:`h^l = h^{l-1} + \alpha\,\mathrm{branch}^l` for
        ``l = 1..depth-1`` (see Notes); the features are the plain readout.
    branch_scale : float, default=1.0
        :math:`\alpha` (> 0), used only with ``residual=True``.
    normalization : {None, "layer"}, default=None
        ``"layer"``: layer normalisation of the hidden pre-activations, per
        sample across the ``n_components`` units, before every nonlinearity.
"""

_ARCH_DOC = r"""
    **Architectures.** The features are those of the finite network of
    :mod:`sknnk.finite` with width ``m`` and the same ``length_scale``,
    ``residual``, ``branch_scale`` and ``normalization``: the input is
    :math:`x / \ell` (so :math:`g^0 \cdot g^{0\prime} = \Sigma^0` of the
    scaled inputs); with ``normalization="layer"`` every :math:`\phi(h)` and
    :math:`\phi'(h)` is taken at :math:`u = (h - \bar h) / s` (mean and
    standard deviation of the row across the ``m`` units, ``s = 0`` replaced
    by 1); with ``residual=True`` the pre-activations of the hidden steps
    ``l = 1..L-1`` are :math:`h^l = h^{l-1} + \alpha\, g^l W^l`, while the
    output :math:`g^L` is the plain readout of the last layer. The inner
    products of the features converge to :class:`~sknnk.NNGPKernel` /
    :class:`~sknnk.NTKKernel` with the same parameters as ``n_components``
    grows (the error decays like :math:`1/\sqrt m`, with the same
    :math:`O(1/m)` bias from depth 2 on).
"""

_COMMON_DOC = """
    random_state : int, RandomState instance or None, default=None
        Seed of the random network (pass an int for reproducible features).
    dtype : {"float64", "float32"} or None, default="float64"
        Precision of the weights, the computation and the output (None is
        float64). ``"float32"`` halves the memory and roughly halves the time;
        the kernel approximation error is unchanged in practice (it is
        dominated by the Monte Carlo error). The dense layers are BLAS
        products, whose rounding depends on a row's position in the block:
        a row's features can differ in their last bits (a few units in the
        last place: ~1e-7 relative in float32, ~1e-16 in float64) when the
        same row comes in another order or batch.
    batch_size : int, default=None
        Rows per task of ``transform``. The network always runs on blocks of
        128 rows (so the working memory per worker is that of 128 rows,
        whatever the batch size); ``batch_size`` is rounded up to a multiple
        of 128 and sets how rows are handed out to the ``n_jobs`` workers, and
        with process or dask backends the size of the arrays they return.
        None: all rows for one worker, else about 4 batches per worker. The
        result does not depend on ``batch_size`` (bitwise).
    n_jobs : int, default=None
        Number of workers over which batches are spread: threads by default
        (matrix products, FFTs and most activations release the GIL), or the
        workers of the backend chosen with ``joblib.parallel_config``. None
        means 1 unless in a ``joblib.parallel_config`` context; ``-1`` uses
        all cores. BLAS runs single-threaded inside each worker (OpenBLAS
        results depend on its thread count and on the shape of the product),
        so the default uses one core and the result does not depend on
        ``n_jobs`` (bitwise); pass ``n_jobs=-1`` to use all cores.
"""


class NNGPSampler(_BaseSampler):
    r"""Random-network features approximating :class:`~sknnk.NNGPKernel`.

    The features are the last hidden layer of one random network of width
    ``m = n_components``, scaled so that their inner products estimate the
    NNGP kernel with the same ``depth``, ``activation``, ``sigma_w`` and
    ``sigma_b`` (Cho and Saul's arc-cosine features for ReLU and
    ``depth=1`` [1]_; stacked layers as in [2]_).

    Parameters
    ----------"""

    __doc__ += _PARAMS_DOC + _COMMON_DOC
    __doc__ += r"""
    Attributes
    ----------
    weights_ : list of ndarray
        The ``depth`` weight matrices ``W^l`` of shape ``(dim g^l, m)``
        (``dim g^0 = n_features_in_ + 1``, then ``m + 1``); the last row
        multiplies the constant ``sigma_b`` feature (the bias).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only for string column names).

    See Also
    --------
    NTKSampler : features approximating the neural tangent kernel.
    sknnk.NNGPKernel : the exact kernel.
    sklearn.kernel_approximation.Nystroem : data-dependent approximation,
        accepts ``NNGPKernel`` as ``kernel`` and is usually more accurate for
        the same dimension (but has an O(n_components^3) fit).

    Notes
    -----
    With inputs :math:`x \in \mathbb R^d`, :math:`W^l` i.i.d. :math:`N(0, 1)`
    and :math:`\phi` the activation,

    .. math::

        g^0(x) = \Big[\frac{\sigma_w x}{\sqrt d},\ \sigma_b\Big], \qquad
        h^l = g^l W^l, \qquad
        g^{l+1} = \Big[\frac{\sigma_w \phi(h^l)}{\sqrt m},\ \sigma_b\Big],

    and the output is :math:`g^L` (``L = depth``): ``m + 1`` features for
    ``depth >= 1``, ``n_features_in_ + 1`` for ``depth=0``. As
    :math:`g^0 \cdot g^{0\prime} = \Sigma^0` and the units of a layer are
    i.i.d. given the layer below,
    :math:`E[g^1 \cdot g^{1\prime}] = \sigma_w^2 F(\Sigma^0) + \sigma_b^2 =
    \Sigma^1` exactly, with a variance of order :math:`1/m`. Deeper layers
    are fed an estimated covariance, so
    :math:`E[g^L \cdot g^{L\prime}] = \Sigma^L + O(1/m)`. The error is
    dominated by the Monte Carlo variance: the relative Frobenius error of a
    2000-point Gram (``sigma_w=1.5``, ``sigma_b=0.1``) measured
    :math:`c/\sqrt m` with ``c`` about 3 for ReLU (up to 5 at depth 5), and
    for erf and tanh ``c`` about 4.5 at depth 1 growing steadily to 11 at
    depth 5, still decaying like :math:`1/\sqrt m` (variance, not bias); see
    ``benchmarks/bench_samplers.py``. Activations that grow faster than
    linearly (:class:`~sknnk.activations.ArcCosine` of order >= 2) give
    heavy-tailed features: from ``depth=2`` on, single draws can be far off
    (order 4, ``depth=2``, ``m=2048``: relative errors from 0.7 to 17 over
    three seeds). The cost per row is
    :math:`(d + 1)m + (L - 1)m^2` multiply-adds, and the weights take
    :math:`(L - 1) m^2` numbers.
"""
    __doc__ += _ARCH_DOC
    __doc__ += r"""
    References
    ----------
    .. [1] Y. Cho and L. K. Saul, "Kernel methods for deep learning", NeurIPS
       2009.
    .. [2] A. Daniely, R. Frostig and Y. Singer, "Toward deeper understanding of
       neural networks: the power of initialization and a dual view on
       expressivity", NeurIPS 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NNGPKernel, NNGPSampler
    >>> X = np.random.default_rng(0).normal(size=(50, 5))
    >>> sampler = NNGPSampler(n_components=4096, depth=2, random_state=0)
    >>> Z = sampler.fit_transform(X)
    >>> Z.shape
    (50, 4097)
    >>> K = NNGPKernel(depth=2)(X)
    >>> bool(np.linalg.norm(Z @ Z.T - K) < 0.1 * np.linalg.norm(K))
    True
    """

    _kind = 0

    def __init__(
        self,
        n_components: int = 1024,
        depth: int = 1,
        activation="relu",
        sigma_w: float = 2**0.5,
        sigma_b: float = 0.1,
        length_scale=1.0,
        residual: bool = False,
        branch_scale: float = 1.0,
        normalization: str | None = None,
        random_state=None,
        dtype="float64",
        batch_size: int | None = None,
        n_jobs: int | None = None,
    ):
        self.n_components = n_components
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.length_scale = length_scale
        self.residual = residual
        self.branch_scale = branch_scale
        self.normalization = normalization
        self.random_state = random_state
        self.dtype = dtype
        self.batch_size = batch_size
        self.n_jobs = n_jobs


class NTKSampler(_BaseSampler):
    r"""Random features approximating :class:`~sknnk.NTKKernel`.

    The features of :class:`NNGPSampler` plus, per layer, a sketch of the
    tensor product that carries the back-propagated gradient, so that their
    inner products estimate the NTK with the same ``depth``, ``activation``,
    ``sigma_w`` and ``sigma_b``. The sketch is TensorSRHT [1]_; the
    construction follows the NTK random features of [1]_ for any activation,
    sharing one random network between the two parts.

    Parameters
    ----------"""

    __doc__ += _PARAMS_DOC
    __doc__ += """    parameterization : {"ntk", "standard"}, default="ntk"
        As in :class:`~sknnk.NTKKernel`. ``"standard"`` needs ``width``.
    width : int, default=None
        Hidden width of the standard-parameterization network whose NTK is
        approximated (only used, and required, with
        ``parameterization="standard"``); unrelated to ``n_components``.
"""
    __doc__ += _COMMON_DOC
    __doc__ += r"""
    Attributes
    ----------
    weights_ : list of ndarray
        The ``depth`` weight matrices, as in :class:`NNGPSampler` (with the
        same ``random_state`` they are the same draws, and the first
        ``m + 1`` output features are those of :class:`NNGPSampler`).
    sketches_ : list of TensorSRHT
        The random signs and frequency pairs of the sketch of every layer.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only for string column names).

    See Also
    --------
    NNGPSampler : features approximating the NNGP kernel.
    sknnk.NTKKernel : the exact kernel.

    Notes
    -----
    With :math:`g^l, h^l` the layers of :class:`NNGPSampler` and
    :math:`\dot g^l = \sigma_w \phi'(h^l) / \sqrt m` (so that
    :math:`E[\dot g^l \cdot \dot g^{l\prime}] = \sigma_w^2 G(\Sigma^l)`),

    .. math::

        t^0 = g^0, \qquad
        t^{l+1} = \big[\,g^{l+1},\ S_l(t^l \otimes \dot g^l)\,\big],

    mirroring :math:`\Theta^{l+1} = \Sigma^{l+1} + \sigma_w^2 G\,\Theta^l`;
    the output is :math:`t^L`. The sketch :math:`S_l` of a pair
    :math:`(a, b)` draws random signs :math:`s_a, s_b` and ``M`` random
    frequency pairs :math:`(i_k, j_k)`, and with
    :math:`\hat a = \mathrm{FFT}(s_a \odot a)`,
    :math:`\hat b = \mathrm{FFT}(s_b \odot b)` returns
    :math:`[\mathrm{Re}\,z, \mathrm{Im}\,z]`,
    :math:`z_k = \hat a_{i_k} \hat b_{j_k} / \sqrt M`. Where a vector is
    too short to give ``M`` distinct frequencies (the input layer,
    ``p = n_features_in_ + 1``), independent sign vectors are stacked and
    their spectra pooled, and the ``M`` entries are drawn without
    replacement; with a single sign vector the error of the sketch could not
    fall below that of ``p / 2`` frequencies (at ``d = 10``, ``m = 2048`` this
    lowers the error of the NTK Gram from 11% to 6%). It is unbiased,
    :math:`E[S(a \otimes b) \cdot S(a' \otimes b')] = (a \cdot a')(b \cdot b')`,
    and costs :math:`O((p + q) \log(p + q) + M)` instead of the
    :math:`pq` entries of the tensor product. Here :math:`M = \lceil m/2
    \rceil`, so the output has ``m + 1 + 2 ceil(m / 2)`` features (``2m + 1``
    for even ``m``) for ``depth >= 1``, and ``n_features_in_ + 1`` for
    ``depth=0``. At ``depth=1`` the expectation is exactly the NTK; deeper
    networks carry an :math:`O(1/m)` bias, as for :class:`NNGPSampler`. The
    relative Frobenius error of the Gram matrix measured :math:`c/\sqrt m`
    with ``c`` about 3 (ReLU, depth 1) to 6 (ReLU, depth 5), and for erf
    and tanh about 4 at depth 1 growing to 14-18 at depth 5 (same setting as
    :class:`NNGPSampler`).

    With ``parameterization="standard"`` and ``width = n`` the features are
    :math:`t^0 = [x, 1]` and
    :math:`t^{l+1} = [\sqrt n\,\phi(h^l)/\sqrt m,\ 1,\ S_l(t^l \otimes \dot
    g^l)]`, estimating :math:`\Theta^{l+1} = n F(\Sigma^l) + \sigma_w^2
    G(\Sigma^l)\Theta^l + 1`.
"""
    __doc__ += _ARCH_DOC
    __doc__ += r"""
    With ``normalization="layer"`` the tangent factor is
    :math:`\dot g^l = \sigma_w \phi'(u^l) / (s^l \sqrt m)`, the limit of the
    Jacobian of :math:`\phi(\mathrm{LN}(h))` (its mean and variance terms
    vanish as ``m`` grows), so that the sketch estimates
    :math:`\sigma_w^2 G\,\Theta^l / \sqrt{q q'}`. With ``residual=True`` the
    hidden steps concatenate, :math:`t^{l+1} = [\,t^l,\ \alpha\,(g^{l+1},
    S_l(t^l \otimes \dot g^l))\,]`, mirroring :math:`\Theta^{l+1} =
    \Theta^l + \alpha^2 (\Sigma_{\mathrm{branch}} + \sigma_w^2 G\,
    \tilde\Theta^l)` (the branch draws are independent of the stream, so the
    cross terms have mean 0); the last step is the plain one, so the output
    dimension is unchanged; the sketch of step ``l`` reads the longer
    :math:`t^l` (``n_features_in_ + 1 + l (m + 1 + 2 ceil(m / 2))`` entries),
    so the FFTs cost :math:`O(L^2 m \log(L m))` per row instead of
    :math:`O(L m \log m)`.

    References
    ----------
    .. [1] A. Zandieh, I. Han, H. Avron, N. Shoham, C. Kim and J. Shin,
       "Scaling neural tangent kernels via sketching and random features",
       NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NTKKernel, NTKSampler
    >>> X = np.random.default_rng(0).normal(size=(50, 5))
    >>> sampler = NTKSampler(n_components=4096, depth=2, random_state=0)
    >>> Z = sampler.fit_transform(X)
    >>> Z.shape
    (50, 8193)
    >>> K = NTKKernel(depth=2)(X)
    >>> bool(np.linalg.norm(Z @ Z.T - K) < 0.1 * np.linalg.norm(K))
    True
    """

    _kind = 1

    def __init__(
        self,
        n_components: int = 1024,
        depth: int = 1,
        activation="relu",
        sigma_w: float = 2**0.5,
        sigma_b: float = 0.1,
        length_scale=1.0,
        residual: bool = False,
        branch_scale: float = 1.0,
        normalization: str | None = None,
        parameterization: str = "ntk",
        width: int | None = None,
        random_state=None,
        dtype="float64",
        batch_size: int | None = None,
        n_jobs: int | None = None,
    ):
        self.n_components = n_components
        self.depth = depth
        self.activation = activation
        self.sigma_w = sigma_w
        self.sigma_b = sigma_b
        self.length_scale = length_scale
        self.residual = residual
        self.branch_scale = branch_scale
        self.normalization = normalization
        self.parameterization = parameterization
        self.width = width
        self.random_state = random_state
        self.dtype = dtype
        self.batch_size = batch_size
        self.n_jobs = n_jobs
