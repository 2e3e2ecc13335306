"""The engine entry point: Gram matrices, gradients and diagonals of a network record.

The kernels of :mod:`sknnk.kernels` validate their parameters and inputs,
describe the network as a :class:`Network` record and call :func:`gram` or
:func:`diag`; nothing here knows about kernel objects. The steps:

1. :func:`prepare` runs the 1-D recursion of every point (the layer variances
   ``q``, ``Theta(x, x)`` and their derivatives, by the layer map of
   :mod:`sknnk._numerics.layer`) and, for activations evaluated by their
   Hermite series, the coefficient tables of every layer.
   Residual and layer-normalised networks (:func:`is_residual_or_normalised`)
   carry a third derivative, in ``log branch_scale``, and the per-layer
   inputs of their nonlinearities (``Points.residual``).
2. :func:`sknnk._numerics.gram.make_plan` chooses the tile driver of the
   activation's family (:func:`sknnk._numerics.gram.tile_residual` for
   residual/normalised networks) and gathers its per-point records.
3. :func:`sknnk._parallel.compute_gram` runs the tiles (results bitwise
   identical for every ``n_jobs`` and joblib backend).
"""

from __future__ import annotations

import contextlib
import os
from typing import NamedTuple

import numpy as np

from .. import _parallel
from . import series
from ._jit import njit
from .activations import ABRELU, ERF_MIX, RELU, SERIES, ActivationSpec, diag_values
from .gram import make_plan
from .layer import (
    diag_seed_step,
    diag_step,
    diag_step_residual,
    layer_norm_scales,
    row_exponents,
    scales,
)
from .mixture import NTK_GRAD_MAX_VARIANCE as MIXTURE_NTK_GRAD_MAX

_EMPTY_COEF = np.zeros((1, 1, 1, 1))
_EMPTY_REM = np.zeros((1, 1, 1))
_EMPTY_N = np.zeros(1, dtype=np.int64)
_NO_BLAS = contextlib.nullcontext()


class Network(NamedTuple):
    """Plain description of the infinitely wide network of a kernel.

    Attributes
    ----------
    ntk : bool
        The neural tangent kernel (True) or the NNGP (False).
    depth : int
        Number of hidden layers (>= 0).
    sigma_w, sigma_b : float
        Weight and bias standard deviations (``sigma_w > 0``, ``sigma_b >= 0``).
    activation : ActivationSpec
        How the recursion evaluates the nonlinearity.
    parameterization : {"ntk", "standard"}
        Parameterization of the NTK (the NNGP does not depend on it).
    width : int or None
        Hidden width of the standard parameterization.
    grad_b, grad_w : int
        Column of the gradient that receives ``d / d log sigma_b`` and
        ``d / d log sigma_w`` (-1: not computed, a fixed hyperparameter).
    n_grad : int
        Number of gradient columns (the kernel's non-fixed hyperparameters).
    dtype : numpy.dtype
        float64 or float32: precision of the Gram and its gradient.
    residual : bool
        Residual hidden blocks ``z^l = z^{l-1} + alpha branch(u)`` for
        ``l = 1..depth-1``; the last hidden step is the plain readout
        ``z^depth = branch(u)`` (so ``depth <= 1`` is the plain network).
    branch_scale : float
        ``alpha`` (> 0).
    grad_branch : int
        Column of ``d / d log branch_scale`` (-1: fixed).
    normalization : {None, "layer"}
        ``"layer"``: ``u = LN(z^{l-1})``, the per-point normalisation across
        units (no gain/bias, ``eps = 0``; ``LN(0) = 0``), else ``u = z^{l-1}``.
        Residual and normalised networks run
        :func:`sknnk._numerics.gram.tile_residual` (see
        :mod:`sknnk._numerics.layer` for their layer map).
    length_scale : float or ndarray of shape (d,)
        Per-feature length scales ``l`` of the first layer (validated by the
        caller): the network sees ``x / l``. Every ``l == 1`` is exactly the
        network without them (no division).
    grad_ls : int
        First gradient column of ``d / d log l_k`` (``d`` columns for an
        array ``length_scale``, 1 for a scalar; -1: fixed).
    """

    ntk: bool
    depth: int
    sigma_w: float
    sigma_b: float
    activation: ActivationSpec
    parameterization: str = "ntk"
    width: int | None = None
    grad_b: int = -1
    grad_w: int = -1
    n_grad: int = 0
    dtype: np.dtype = np.dtype(np.float64)
    residual: bool = False
    branch_scale: float = 1.0
    grad_branch: int = -1
    normalization: str | None = None
    length_scale: float | np.ndarray = 1.0
    grad_ls: int = -1


def is_residual_or_normalised(network):
    """Whether ``network`` has residual blocks or layer normalisation (and so
    runs the residual layer map and driver)."""
    return bool(network.residual) or network.normalization == "layer"


def layer_params(network, n_features):
    """:class:`sknnk._numerics.layer.LayerParams` of ``network`` (float64)."""
    return scales(
        network.ntk,
        network.parameterization,
        network.sigma_w,
        network.sigma_b,
        network.width,
        n_features,
    ).params


_VARIANCE = "the layer variance Sigma(x, x)"
_NORMS = "the squared norm |x|^2 / n_features of the inputs"


def squared_norms(X):
    """``|x|^2 / d`` of every row of ``X`` (n, d), without overflow or underflow,
    and the row exponents used.

    Rows far from unit scale are scaled by a power of two (exact) before
    squaring and the exponent is restored after the division by ``d``
    (:func:`sknnk._numerics.layer.row_exponents`), so ``|x|^2 / d`` is finite
    whenever it is representable (e.g. ``|x_i| ~ 1e154`` with ``d = 100``)
    and keeps its relative accuracy for tiny rows; other rows give exactly
    ``einsum("ij,ij->i", X, X) / d``.

    The results of small inputs are kept for the last few inputs (by
    content; copies, bitwise what the computation gives).

    Returns
    -------
    norms : ndarray of shape (n,)
    exponents : ndarray of shape (n,) of int64, or None
        ``row_exponents(X)`` (float64), which the float64 Gram plan reuses.
    """
    small = X.nbytes <= _KEPT_INPUT_BYTES
    if small:  # kept by content (never by identity: arrays are mutable)
        key = (X.shape, X.dtype.str, X.tobytes())
        kept = _kept_norms.get(key)
        if kept is not None:
            return _copies(kept)
    d = X.shape[1]
    sq = np.einsum("ij,ij->i", X, X)
    e = row_exponents(X, sq=sq)
    if e is None:
        out = sq / d, None
    else:
        Xs = np.ldexp(X, -e[:, None])
        with np.errstate(over="ignore"):
            out = np.ldexp(np.einsum("ij,ij->i", Xs, Xs) / d, 2 * e), e
    if small:  # (copies: the caller owns what it gets)
        _kept_norms.put(key, _copies(out), X.shape[0])
    return out


def _copies(arrays):
    return tuple(None if a is None else a.copy() for a in arrays)


#: Inputs of at most this many bytes keep their :func:`squared_norms` (GP
#: tuning and grid searches call the kernel on the same small ``X`` with
#: new parameters): the key is the array's shape, dtype and bytes, whose
#: hashing costs less than the norms for such sizes.
_KEPT_INPUT_BYTES = 1 << 14
_kept_norms = series._Recent()


def check_range(quantity, values, layer, network):
    """Raise a ``ValueError`` naming ``quantity`` if one of ``values`` is not
    finite in float64 or exceeds the range of ``network.dtype`` (float32
    drivers compute ``x . x'`` and the layer variances in single precision).

    The true kernel is then not representable in that precision, and no
    rescaling inside the computation can return it: the message names the
    fixes (standardize the inputs, a smaller ``sigma_w`` or ``depth``,
    ``dtype="float64"``).
    """
    dtype = np.dtype(network.dtype)
    if dtype == np.float64 and np.isfinite(values).all():
        return  # in float64, in range is finite (the checks below find nothing)
    big = np.finfo(dtype).max
    bad = ~(np.abs(values) <= big)
    if dtype != np.float64 and quantity == _VARIANCE:
        # a nonzero variance below the normal range of float32: its inverse
        # square roots overflow in the single-precision drivers
        tiny = np.finfo(dtype).tiny
        small = (values > 0.0) & (values < tiny)
        if small.any():
            i = int(np.flatnonzero(small)[0])
            raise _underflow(
                quantity, i, f"at layer {layer} of", f"{values[i]:.3g} < {tiny:.3g}",
                network, 'use dtype="float64", a larger sigma_w or sigma_b, or a '
                "smaller depth",
            )  # fmt: skip
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    where = f" at layer {layer} of depth={network.depth}" if layer else ""
    value = values[i]
    shown = f"{value:.3g}" if np.isfinite(value) else "beyond float64"
    fixes = "standardize X (e.g. sklearn.preprocessing.StandardScaler)"
    if not _unit_scales(network):
        fixes += ", use larger length_scale values"
    if layer:
        fixes += ", use a smaller sigma_w or a smaller depth"
    if dtype != np.float64:
        fixes += ', or use dtype="float64"'
    raise ValueError(
        f"{quantity} of row {i} overflows {dtype.name}{where} "
        f"({shown}, sigma_w={network.sigma_w:g}, sigma_b={network.sigma_b:g}): "
        f"the kernel is not representable in {dtype.name}; {fixes}."
    )


def _check_lost(final, first, network):
    """Refuse a kernel that underflows to 0 for a row of positive variance.

    ``k(x, x)`` is then below the smallest number of float64 (e.g.
    ``ArcCosine(10)`` at depth 2 on inputs ~1e-3 without bias: ~1e-510), so
    the whole row of the Gram would be returned as 0 and every correlation
    lost. Values in the subnormal range keep their absolute accuracy and
    are returned (gradual underflow). ``final`` is the last layer's
    ``Sigma(x, x)`` or ``Theta(x, x)``, ``first`` the layer-0 variances.
    """
    if not final.shape[0] or final.min() > 0.0:
        return  # the common case, one reduction
    lost = (final == 0.0) & (first > 0.0)
    if not lost.any():
        return
    i = int(np.flatnonzero(lost)[0])
    raise _underflow(
        "The kernel k(x, x)", i, "to 0 at", f"activation {network.activation.name!r}",
        network, "its input variance is positive, so the kernel is not "
        "representable: standardize X (e.g. sklearn.preprocessing.StandardScaler), "
        "use sigma_b > 0, a larger sigma_w or a smaller depth",
    )  # fmt: skip


def _underflow(quantity, i, where, detail, network, fixes):
    """The ``ValueError`` of ``quantity`` of row ``i`` that underflows the
    precision of ``network`` ``where`` (a layer, or "to 0 at" the output),
    with a ``detail`` and the ``fixes``."""
    return ValueError(
        f"{quantity} of row {i} underflows {np.dtype(network.dtype).name} {where} "
        f"depth={network.depth} ({detail}, sigma_w={network.sigma_w:g}, "
        f"sigma_b={network.sigma_b:g}): {fixes}."
    )


def _check_normalised_tangent(q, t, layer, network):
    """Refuse a layer-normalised NTK at a point of zero variance whose tangent
    kernel is not 0 (trained biases of the standard parameterization with
    ``sigma_b = 0`` at ``x = 0``): the derivative of ``LN`` there is
    ``1 / sqrt(eps)``, so the kernel is infinite."""
    bad = (q == 0.0) & (t != 0.0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Row {i} has zero variance at layer {layer} (every unit of z is 0) "
            "but a nonzero tangent kernel, so the NTK of its layer-normalised "
            "layer is infinite (LN divides by the zero standard deviation): use "
            "sigma_b > 0, drop the zero rows, or normalization=None "
            f"(parameterization={network.parameterization!r})."
        )


def _unit_scales(network):
    """Whether every length scale of ``network`` is exactly 1."""
    ls = network.length_scale
    if type(ls) is float:  # the common case, fast
        return ls == 1.0
    return bool(np.all(np.asarray(ls) == 1.0))


def scaled_inputs(network, X):
    """``X / length_scale`` (per feature), the inputs the network sees.

    ``X`` itself (no copy, no division: bitwise today's kernel) when every
    length scale is 1. Raises a ``ValueError`` naming ``length_scale`` when
    the division overflows float64 or takes a row from the normal range
    below it (where it would lose its relative precision); the range of
    ``|x / l|^2 / d`` is then checked by :func:`check_range` as for any
    input.
    """
    if _unit_scales(network):
        return X
    ls = network.length_scale
    with np.errstate(over="ignore", under="ignore"):
        Xs = X / ls
    top = np.max(np.abs(Xs), axis=1, initial=0.0)
    tiny = np.finfo(np.float64).tiny
    below = (top < tiny) & (np.max(np.abs(X), axis=1, initial=0.0) >= tiny)
    lost = ~(top < np.inf) | below
    if lost.any():
        i = int(np.flatnonzero(lost)[0])
        how = "overflows" if not top[i] < np.inf else "underflows"
        raise ValueError(
            f"X / length_scale {how} float64 in row {i} "
            f"(max |x| = {np.max(np.abs(X[i])):.3g}, length_scale from "
            f"{np.min(ls):.3g} to {np.max(ls):.3g}): standardize X (e.g. "
            "sklearn.preprocessing.StandardScaler) or bound length_scale "
            "(length_scale_bounds)."
        )
    return Xs


class Points:
    """Per-point quantities of one input set for one network.

    Attributes
    ----------
    q : ndarray of shape (depth + 1, n)
        Layer variances ``Sigma^l(x, x)``.
    dq : ndarray of shape (2, depth + 1, n)
        Their derivatives in ``(log sigma_b, log sigma_w)`` (and
        ``log branch_scale``: 3 rows, for a residual/normalised network, and
        with ``seeds`` a fourth, ``d / d g_xx``).
    t : ndarray of shape (n,)
        ``Theta^depth(x, x)``.
    dt : ndarray of shape (2, n)
        Its derivatives (the rows of ``dq``).
    qa : ndarray of shape (depth, n)
        The variances at which the nonlinearity of each layer is evaluated:
        ``q[:depth]``, or the normalised ones under layer normalisation.
    residual : tuple or None
        ``(va, dva, r, h)`` of every layer
        (:func:`sknnk._numerics.layer.layer_norm_scales`) for a network with
        residual blocks or layer normalisation, else None (with ``seeds``,
        ``dva`` and ``h`` have a fourth row: the seed direction).
    dg, dtg : ndarray of shape (depth + 1, n) and (n,), or None
        With ``seeds``: the seed direction ``d / d g_xx`` (``g_xx = |x|^2 / d``)
        of ``q`` and of ``Theta^depth(x, x)``
        (:func:`sknnk._numerics.layer.diag_seed_step`; for a
        residual/normalised network the fourth rows of ``dq`` and ``dt``, by
        :func:`sknnk._numerics.layer.diag_step_residual`).
    params : LayerParams
        :func:`layer_params` of the network for ``X``'s number of features.
    exponents_of : tuple
        ``(X, row_exponents(X))``: the input and its float64 row exponents
        (:func:`squared_norms`), for the Gram plan of the same ``X``.
    coef, rem, nterms :
        Hermite tables of series activations
        (:func:`sknnk._numerics.series.coefficient_tables`; placeholders for
        closed forms).
    """

    def __init__(self, network, X, want_grad, n_threads=1, seeds=False):
        d = X.shape[1]
        spec = network.activation
        sq_norms, exponents = squared_norms(X)
        # the float64 row exponents of X (reused by make_plan for this X)
        self.exponents_of = (X, exponents)
        p = self.params = layer_params(network, d)
        n_tables = 4 if want_grad else 2
        layers = []
        # the series' truncation warning: once per activation, kernel, depth
        self._key = (spec.name, "NTK" if network.ntk else "NNGP", network.depth)
        self.activation = spec  # the method of this call (see prepare)
        if spec.code == SERIES:
            funcs = spec.funcs

            def values(q):
                if np.max(q, initial=0.0) > spec.series_max_variance:
                    raise _BeyondSeries  # prepare switches to spec.mixture
                # each function sampled once per layer, for the diagonal and
                # for the coefficient tables of the same layer
                try:
                    out, tables = series.layer_values(
                        funcs, q, want_grad, n_tables, spec.kink, n_threads, self._key
                    )
                except series.NonFiniteActivation as exc:
                    raise ValueError(
                        f"The activation {spec.name!r} (or a derivative the "
                        f"kernel needs) {exc}."
                    ) from None
                layers.append(tables)
                return out

        else:  # compiles only the family's own code

            def values(q):
                return diag_values(spec.code, spec.prm, q)

        n, depth = X.shape[0], network.depth
        self.residual = None  # ResidualPoints fields of a residual/LN network
        arch = is_residual_or_normalised(network)
        # derivative rows (+ log branch_scale, + the seed direction d / d g_xx
        # of a residual/LN network's length-scale gradient)
        n_rows = (4 if seeds else 3) if arch else 2
        # the ReLU family in float64: the range checks of every layer (and of
        # layer 0) in one pass at the end, on q and t held in one buffer (the
        # same first error: its numpy diagonal maps a non-finite variance to
        # a non-finite one without raising or warning)
        late = (
            spec.code in (RELU, ABRELU)
            and np.dtype(network.dtype) == np.float64
            and not arch
        )
        qt = np.empty((depth + 2, n))
        self.q = qt[: depth + 1]
        self.t = qt[depth + 1]
        self.dq = np.zeros((n_rows, depth + 1, n))
        self.dt = np.zeros((n_rows, n))
        out = (p, self.q, self.dq[:2], self.t, self.dt[:2])
        diag_step(-1, sq_norms, sq_norms, sq_norms, sq_norms, sq_norms, *out, want_grad)
        self.dg = self.dtg = None
        if seeds:
            if arch:  # the fourth row of dq, dt (diag_step_residual)
                self.dg, self.dtg = self.dq[3], self.dt[3]
            else:
                self.dg, self.dtg = np.empty((depth + 1, n)), np.empty(n)
            seed_out = (p, self.dg, self.t, self.dtg)
            diag_seed_step(-1, sq_norms, sq_norms, sq_norms, sq_norms, *seed_out)
        if not late:
            self._check_seed(network, sq_norms)
        self.qa = self.q[:depth]  # the variances at which phi is evaluated
        # the series projections use BLAS: the same bits whatever its threads
        # (the closed forms use none)
        blas = _parallel.single_threaded_blas() if spec.code == SERIES else _NO_BLAS
        with blas:
            if arch:
                self._residual_recursion(network, p, values)
            for layer in range(0 if arch else depth):
                v, w, dv, dw = values(self.q[layer])
                if seeds:  # before diag_step moves t to the next layer
                    diag_seed_step(layer, v, w, dv, dw, *seed_out)
                diag_step(layer, sq_norms, v, w, dv, dw, *out, want_grad)
                if not late:
                    check_range(_VARIANCE, self.q[layer + 1], layer + 1, network)
        if late and not np.isfinite(qt).all():
            self._check_seed(network, sq_norms)
            for layer in range(1, depth + 1):
                check_range(_VARIANCE, self.q[layer], layer, network)
            late = False  # (a non-finite Theta is the NTK's to report)
        if network.ntk and not late:
            check_range("the NTK Theta(x, x)", self.t, depth, network)
        _check_lost(self.t if network.ntk else self.q[depth], self.q[0], network)
        self.coef, self.rem, self.nterms = _EMPTY_COEF, _EMPTY_REM, _EMPTY_N
        self._series = (spec.funcs, depth, n_tables, spec.kink)
        if layers:
            self.coef, self.rem, self.nterms = series.assemble(layers)

    def _check_seed(self, network, sq_norms):
        """The range checks of the norms and of layer 0 (see
        :func:`check_range`)."""
        if not (network.dtype == np.float64 and np.isfinite(self.q[0]).all()):
            # (in float64 a finite Sigma^0 = sigma_w^2 |x|^2 / d + sigma_b^2
            # has finite norms: nothing to report on them)
            check_range(_NORMS, sq_norms, 0, network)
            check_range(_VARIANCE, self.q[0], 0, network)

    def _residual_recursion(self, network, p, values):
        """The 1-D recursion of a residual and/or normalised network
        (:func:`sknnk._numerics.layer.diag_step_residual`) from the seeded
        layer 0; sets ``qa`` and ``residual = (va, dva, r, h)`` per layer."""
        depth, n = network.depth, self.q.shape[1]
        norm = network.normalization == "layer"
        va = np.empty((depth, n))
        rows = self.dq.shape[0]  # 3, or 4 with the seed direction
        dva = np.empty((rows, depth, n))
        r = np.empty((depth, n))
        h = np.empty((rows, depth, n))
        a2 = float(network.branch_scale) ** 2
        for layer in range(depth):
            if norm and network.ntk:
                _check_normalised_tangent(self.q[layer], self.t, layer, network)
            scaled = layer_norm_scales(self.q[layer], self.dq[:, layer], norm)
            va[layer], dva[:, layer], r[layer], h[:, layer] = scaled
            v, w, dv, dw = values(va[layer])
            add = network.residual and layer < depth - 1
            diag_step_residual(
                layer, v, w, dv, dw, *scaled, p, self.q, self.dq, self.t, self.dt,
                add, a2,
            )  # fmt: skip
            check_range(_VARIANCE, self.q[layer + 1], layer + 1, network)
            if network.ntk:
                check_range("the NTK Theta(x, x)", self.t, layer + 1, network)
        self.qa = va
        self.residual = (va, dva, r, h)

    def tables(self, min_terms=None):
        """Rebuild the Hermite tables with at least ``min_terms`` per layer."""
        funcs, depth, n_tables, kink = self._series
        with _parallel.single_threaded_blas():
            self.coef, self.rem, self.nterms = series.coefficient_tables(
                funcs, self.qa, n_tables, min_terms, kink, self._key
            )

    def diagonal(self, ntk):
        """``(k(x, x), dk(x, x))`` of the returned kernel, shapes (n,) and
        (2, n) (3 rows, with ``log branch_scale``, for a residual/normalised
        network; never the seed direction)."""
        if ntk:
            return self.t, self.dt[:3]
        return self.q[-1], self.dq[:3, -1]


class _BeyondSeries(Exception):
    """A layer variance beyond the series range of an activation that has a
    closed-form mixture (raised before any series work for that layer)."""


def prepare(network, X, want_grad=False, n_jobs=None, seeds=False):
    """The :class:`Points` of ``X`` (validated, float64, 2-D, already divided
    by the length scales) for ``network``.

    ``n_jobs`` bounds the threads that sample series activations; ``seeds``
    also runs the seed direction of the length-scale gradient. A series
    activation with a closed-form mixture (tanh, sigmoid, softplus, gelu,
    swish) uses the mixture for every layer as soon as one layer variance
    exceeds its ``series_max_variance`` (``Points.activation`` is the spec
    used).
    """
    spec = network.activation
    if spec.code == SERIES:
        n_threads = min(_parallel.n_workers_of(n_jobs), os.cpu_count() or 1)
        try:
            return Points(network, X, want_grad, n_threads, seeds)
        except _BeyondSeries:
            network = network._replace(activation=spec.mixture)
    points = Points(network, X, want_grad, 1, seeds)
    if want_grad and network.ntk and network.activation.code == ERF_MIX:
        top = float(np.max(points.qa, initial=0.0))
        if top > MIXTURE_NTK_GRAD_MAX:
            raise ValueError(
                f"The gradient of the NTK of {spec.name!r} at layer variance "
                f"{top:.3g} is not representable in float64 (the partial "
                f"dG/dSigma ~ Sigma^-2 underflows above {MIXTURE_NTK_GRAD_MAX:g}; "
                "the kernel itself is fine): standardize X (e.g. "
                "sklearn.preprocessing.StandardScaler), use a smaller sigma_w "
                "or larger length_scale values, or fixed hyperparameters."
            )
    return points


def _prepare_pair(network, X, Y, want_grad, n_jobs, seeds):
    """``(network, px, py)``: the :class:`Points` of ``X`` and of ``Y`` (``py
    is px`` for ``Y = None``) by one method, and the network of that method
    (a series activation switches to its mixture for both point sets when
    either needs it, see :func:`prepare`)."""
    px = prepare(network, X, want_grad, n_jobs, seeds)
    py = px if Y is None else prepare(network, Y, want_grad, n_jobs)
    if px.activation is not py.activation:
        mixed = network._replace(activation=network.activation.mixture)
        if px.activation.code == SERIES:
            px = prepare(mixed, X, want_grad, n_jobs, seeds)
        else:
            py = prepare(mixed, Y, want_grad, n_jobs)
    return network._replace(activation=px.activation), px, py


def _common_terms(px, py):
    """Make two series tables use the same number of terms at every layer."""
    if px is py or px.nterms.shape != py.nterms.shape:
        return
    if np.any(px.nterms < py.nterms):
        px.tables(np.maximum(px.nterms, py.nterms))
    if np.any(py.nterms < px.nterms):
        py.tables(np.maximum(px.nterms, py.nterms))


@_parallel.interruptible
def gram(network, X, Y=None, eval_gradient=False, n_jobs=None, verbose=0, label="Gram"):
    r"""The Gram matrix ``k(X, Y)`` of ``network`` and optionally its gradient.

    Parameters
    ----------
    network : Network
        The network (validated by the caller).
    X : ndarray of shape (n, d), float64
        Row points (validated, finite; not yet divided by the length scales).
    Y : ndarray of shape (m, d) or None
        Column points; None is the symmetric ``k(X, X)`` (upper triangle
        computed, exact diagonal from the 1-D recursion).
    eval_gradient : bool
        Also return the gradient (symmetric case only); its columns follow
        ``network.grad_branch``/``grad_ls``/``grad_b``/``grad_w``.
    n_jobs : int or None
        Workers over which tiles are spread (joblib semantics).
    verbose : int
        Progress lines (see :class:`sknnk._parallel.Progress`).
    label : str
        Prefix of the progress lines.

    Returns
    -------
    K : ndarray of shape (n, m), ``network.dtype``
    K_gradient : ndarray of shape (n, n, network.n_grad)
        Only with ``eval_gradient``.

    Notes
    -----
    The length-scale gradient. With ``x~ = x / l`` and ``g_ab = x~_a . x~_b / d``
    the kernel depends on the inputs only through ``(g_ab, g_aa, g_bb)``, so

    .. math::

        \frac{\partial K_{ab}}{\partial \log l_k} = -\frac{2}{d}
        \Big(K_g \tilde x_{ak} \tilde x_{bk} + K_a \tilde x_{ak}^2
        + K_b \tilde x_{bk}^2\Big)

    (summed over ``k`` for a scalar ``l``), with ``K_g, K_a, K_b`` the
    partials in ``(g_ab, g_aa, g_bb)``; on the diagonal
    ``K_g + K_a + K_b = dk(x, x) / d g_aa`` of the 1-D recursion. A second
    pass of the per-entry driver (:func:`sknnk._numerics.gram.tile_seeds`,
    every activation, residual/normalised networks too) computes the three
    partials; :func:`_ard_columns`
    assembles the ``d`` columns (O(n^2 d), like scikit-learn's anisotropic
    ``RBF``). ``K`` and the ``sigma`` columns come from the first pass, as
    without length scales.
    """
    symmetric = Y is None
    want_grad = bool(eval_gradient) and network.n_grad > 0
    ard = want_grad and network.grad_ls >= 0
    sigma_grad = want_grad and (
        network.grad_b >= 0 or network.grad_w >= 0 or network.grad_branch >= 0
    )
    X = scaled_inputs(network, X)
    Y = None if symmetric else scaled_inputs(network, Y)
    network, px, py = _prepare_pair(network, X, Y, want_grad, n_jobs, ard)
    _common_terms(px, py)
    diagonal = px.diagonal(network.ntk) if symmetric else None
    params = px.params  # layer_params(network, X.shape[1])
    tile = _parallel.TILE
    plan = make_plan(network, params, X, Y, px, py, diagonal, sigma_grad, tile)
    if not ard:
        px.coef = py.coef = None  # the plan has its own copy: lower peak memory
    n = X.shape[0]
    m = n if symmetric else Y.shape[0]
    dtype = network.dtype
    K = np.empty((n, m), dtype=dtype)
    shape = (n, m, network.n_grad) if eval_gradient else (0, 0, 0)
    grad = np.empty(shape, dtype=dtype)
    first = grad if sigma_grad else np.empty((0, 0, 0), dtype=dtype)
    _parallel.compute_gram(plan, K, first, symmetric, n_jobs, int(verbose), label)
    if ard:
        del plan
        _ard_gradient(network, params, X, px, grad, n_jobs, verbose, label)
    if eval_gradient:
        return K, grad
    return K


def _ard_gradient(network, params, X, px, grad, n_jobs, verbose, label):
    """Fill the length-scale columns of ``grad`` (see :func:`gram`)."""
    n, d = X.shape
    net = network._replace(
        dtype=np.dtype(np.float64), grad_b=-1, grad_w=-1, grad_branch=-1, n_grad=3
    )
    plan = make_plan(net, params, X, None, px, px, None, True, _parallel.TILE, True)
    px.coef = None
    scratch = np.empty((n, n))
    partials = np.empty((n, n, 3))
    label = f"{label} (length-scale partials)"
    _parallel.compute_gram(plan, scratch, partials, True, n_jobs, int(verbose), label)
    del plan, scratch
    top = px.dtg if network.ntk else px.dg[-1]
    per_feature = np.ndim(network.length_scale) > 0 and d > 1
    _ard_columns(grad, network.grad_ls, partials, X, top, per_feature, -2.0 / d)


@njit(cache=True, nogil=True)
def _ard_columns(grad, col, partials, X, top, per_feature, scale):
    """``grad[:, :, col + k] <- d K / d log l_k`` from the partials (upper
    triangle of ``partials[i, j] = (K_g, K_a, K_b)``, ``top[i]`` the diagonal's
    ``dk(x_i, x_i) / d g_ii``) and the scaled inputs ``X`` (n, d);
    ``scale = -2 / d``. One column (the sum over ``k``) unless
    ``per_feature``. Products are formed as ``(K_g x_ik) x_jk`` so that rows
    of very different scales do not overflow an intermediate.
    """
    n, d = X.shape
    for i in range(n):
        for j in range(i, n):
            if i == j:
                kg, ka, kb = top[i], 0.0, 0.0
            else:
                kg, ka, kb = partials[i, j, 0], partials[i, j, 1], partials[i, j, 2]
            acc = 0.0
            for k in range(d):
                xi = X[i, k]
                xj = X[j, k]
                v = scale * ((kg * xi) * xj + (ka * xi) * xi + (kb * xj) * xj)
                if per_feature:
                    grad[i, j, col + k] = v
                    grad[j, i, col + k] = v
                else:
                    acc += v
            if not per_feature:
                grad[i, j, col] = acc
                grad[j, i, col] = acc


@_parallel.interruptible
def diag(network, X, n_jobs=None):
    """The diagonal ``k(x, x)`` of every row of ``X`` (float64), O(n depth).

    ``n_jobs`` bounds the threads that sample series activations.
    """
    X = scaled_inputs(network, X)
    k, _ = prepare(network, X, False, n_jobs).diagonal(network.ntk)
    return k.copy()
