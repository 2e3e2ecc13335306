"""Hermite (Mehler) series for activations without a closed form.

With normalised probabilists' Hermite polynomials ``h_k`` and per-point
coefficients ``f_k(s) = E[f(sqrt(s) z) h_k(z)]`` (``z ~ N(0, 1)``), Mehler's
formula gives, for ``rho = c / sqrt(a b)``,

.. math::

    E[f(u) g(v)] = \\sum_{k \\ge 0} f_k(a)\\, g_k(b)\\, \\rho^k .

``F`` uses ``f = g = phi``; ``G`` uses ``phi'``; by Price's theorem the partials
are ``F_c = G``, ``F_a = E[phi''(u) phi(v)] / 2``, ``G_c = E[phi'' phi'']`` and
``G_a = E[phi'''(u) phi'(v)] / 2``, i.e. series of the same form with the
coefficients of ``phi''`` and ``phi'''``.

Coefficients are computed by the trapezoid rule (spectrally accurate here) on
``z in [-13, 13]`` with Hermite *functions*, whose three-term recurrence does not
overflow. Each point gets the smallest number of terms ``N`` for which the
remainder ``r_N(s) = E[f^2] - sum_{k < N} f_k(s)^2`` of *every* table it needs
(``phi`` and ``phi'``; ``phi''`` and ``phi'''`` for gradients) is below a
relative tolerance (:func:`layer_tables`), and ``F`` and ``G`` get the
Cauchy-Schwarz tail ``rho^N sqrt(r_N(a) r_N(b))``, which makes the diagonal
exact. The error of an entry is then at most ``2 r_N / E[f^2]`` relative to
``sqrt(k(x, x) k(y, y))`` of the layer for values, and ``r_N / E[f^2]`` of
the gradient tables for the partials: the stated bound of the truncation
warning (shown above 1e-7, :func:`report_truncation`); a gradient whose
bound exceeds 1e-2 is refused with a ``ValueError`` rather than returned.

**Choice of the method (analysis).** The activations of this module bend
on a unit scale in ``u``, so at layer variance ``q`` their sampled form
``phi(sqrt(q) z)`` has features of width ``1 / sqrt(q)`` in ``z``. Their
Hermite coefficients stay flat up to ``k ~ q`` and decay beyond, like
``exp(-c sqrt(k / q))`` for tanh-like functions (nearest singularity at
``|Im u| = pi / 2``) and algebraically for kinks (user activations). The
number of terms is therefore linear in the variance (measured, tolerance
1e-13 on ``r_N``: tanh about 90 q for ``phi``, 130 q for ``phi'``, 180 q
for ``phi''``; gelu, softplus, sigmoid and swish 20-40 q), and so is the cost
of an entry (Horner over ``N`` terms, fewer where ``|rho| < 1``, see
:func:`sknnk._numerics.gram.need_table`). The tables are computed per point
in blocks of terms (each basis column read once; a point of small variance
pays only for its own terms) on a grid whose step follows the analyticity
strip (:func:`_step_for`): 0.1 up to ``q = 1.5``, 0.05 up to 6, 0.025 up to
100, 0.01 beyond. The default tier has 1000 terms; a layer it cannot resolve
moves to the large tier (6000 terms, 62 MB of basis) when that makes it
accurate, which keeps tanh within 1e-9 up to ``q ~ 40`` and the other smooth
activations up to ``q ~ 100-300`` (``benchmarks/series_error_map.py``).
Beyond, the terms needed (``10^4-10^5`` at ``q = 1e3``) make a Hermite
series the wrong tool: values warn with their bound, gradients are refused.

**tanh and sigmoid** leave the series there: the engine
(:func:`sknnk._numerics.engine.prepare`) evaluates every layer of a call by
the Gaussian scale mixture ``tanh(x) ~= sum_k a_k erf(x / s_k)``
(:mod:`sknnk._numerics.mixture`, code ``ERF_MIX``: 22 terms, sup errors of
``phi`` to ``phi'''`` below 6e-13, duals as ``22^2`` closed-form erf terms
at any variance) as soon as a layer variance exceeds 38 (tanh) or 100
(sigmoid); up to there the series is as accurate and faster. Measured (NTK,
depth 1, the reference of ``tests/test_series_accuracy.py``, max over the
correlations): values within 2.5e-14 and gradients within 6e-11 (the
resolution of the reference's central differences) at ``q = 1e-2 ... 1e3``;
``tests/test_mixture.py`` checks values to 1e-11 up to ``q = 1e300``. NTK
gradients are refused above ``q = 1e140`` (``dG/dq ~ q^-2`` underflows).
tanh and sigmoid therefore never warn nor refuse a gradient.

**softplus** (``softplus' = sigmoid``) leaves it above layer variance 200
for its closed form ``SOFTPLUS_MIX``
(:func:`sknnk._numerics.activations.softplus_partials`): ``G`` is sigmoid's
``F`` of the same mixture and ``F`` its integral in ``c`` (Price's theorem),
``2 * 22^2`` terms at any variance; the series agrees with it to 6e-15 at
200 (7.6e-13 at 300, a warning from 400). Values and gradients within
1e-15 of nested quadrature at ``q = 1e-3 ... 1e3``, finite with the right
limits (``log(2)^2 + c / 4``, ReLU's) from 1e-300 to 1e300, NTK gradients
included (``tests/test_softplus_mixture.py``).

**gelu, swish and gelu_tanh** leave it above layer variance 10 (gelu), 100
(swish) and 38 (gelu_tanh) for the closed form ``XERF_MIX`` of ``x (1 +
sum_k a_k erf(x / sigma_k)) / 2``
(:func:`sknnk._numerics.activations.xerf_partials`: the dual of ``u
erf(u / s)`` and ``v erf(v / t)`` by Stein's lemma, the cross terms with
``x / 2`` vanish by parity): gelu ``x Phi(x)`` is one exact term, ``erf(x /
sqrt 2)``; swish ``x / 2 + x tanh(x / 2) / 2`` takes tanh's mixture at the
scales ``2 s_k`` (``22^2`` terms); gelu_tanh's ``tanh(sqrt(2 / pi) (x +
0.044715 x^3))`` a fitted mixture (``24^2`` terms, signed amplitudes, sup
errors of ``phi .. phi'''`` below 6e-11, ``benchmarks/fit_gelu_tanh.py``).
Values and every partial within 5e-14 (gelu, swish) and 3e-11 (gelu_tanh) of
nested quadrature of the true activations at ``q = 1e-3 ... 1e3``, finite
with the right limits (``c / 4``, ReLU's) from 1e-300 to 1e300, NTK
gradients included (``tests/test_xerf.py``); the series agrees with them to
2e-13 (gelu, swish; gelu_tanh 1e-11, its fit) up to their switches
(``benchmarks/xerf_error_map.py``). gelu's single term is faster than the
series already at unit scale; swish's and gelu_tanh's ``K^2`` terms cost
~20 series entries there, hence their later switches.

For the other series activations (user callables and the registry's other
entries) the accurate continuation to large variances would split off the
activation's large-scale form in closed form (``phi = relu + r``:
arc-cosine kernels; cross terms such as ``E[relu(u) r(v)]`` are 1-D
integrals, and ``E[r(u) r(v)]`` a 2-D quadrature over the support of the
decaying residual ``r``). Not implemented: they warn with their bound beyond
the series range and refuse gradients they cannot resolve.
"""

import math
import os
import sys
import threading
import warnings
from typing import NamedTuple

import numpy as np

from .._parallel import map_blocks
from ._jit import njit

_Z_MAX = 13.0
_Z_STEP = 0.01  # grid step for kinked activations and very large variances
_Z_STEP_SMOOTH = 0.025  # analytic activations at variances <= _Q_SMOOTH
_Z_STEP_COARSE = 0.05  # analytic activations at variances <= _Q_COARSE
_Q_COARSE = 6.0
_Z_STEP_COARSEST = 0.1  # analytic activations at variances <= _Q_COARSEST
_Q_COARSEST = 1.5
_COARSEST_TERMS = 300  # terms of the basis of step _Z_STEP_COARSEST
_Q_SMOOTH = 100.0
_MAX_TERMS = 1000  # default tier
_MAX_TERMS_LARGE = 6000  # large tier, on the grid of step _Z_STEP
_START_TERMS = 32  # end of the first block of terms (see _fit)
_REL_TOL = 1e-13  # relative tail energy of the phi and phi' tables
_GRAD_TOL = 1e-11  # of the phi'' and phi''' tables (gradients)
_ACCEPT_BOUND = 1e-10  # stated bound up to which a tier is kept (_enough)
_THREADED_SIZE = 1 << 18  # grid samples from which sampling uses threads

_basis_cache = {}
# smallest normal float64: floors of divisions by variances and energies, which
# are either 0 or normal numbers (sknnk._numerics.engine.check_range)
_TINY = np.finfo(np.float64).tiny


def _step_for(q, kink):
    """Grid step of the variances ``q``.

    The trapezoid rule's error for an integrand analytic in the strip
    ``|Im z| < a`` decays like ``exp(-2 pi a / h)``, times the growth of the
    Hermite function ``psi_k`` in the strip, ``exp(sqrt(2 k) a)``.
    tanh-like activations at variance ``q`` have their nearest singularity at
    ``a ~ pi / (2 sqrt(q))``: for the ``k < 1000`` terms of the default
    tier, ``h = 0.05`` keeps the exponent below -50 up to ``q = 6``
    (:data:`_Q_COARSE`) and ``h = 0.025`` below -30 up to ``q = 100``. Kinks
    need the fine grid (Gregory weights are O(h^6)), as do larger variances.
    Up to ``q = 1.5`` (:data:`_Q_COARSEST`), ``h = 0.1`` with at most 300
    terms keeps it below -49; a layer that needs more terms moves to
    ``h = 0.05``.
    """
    top = np.max(q, initial=0.0)
    if kink or top > _Q_SMOOTH:
        return _Z_STEP
    if top <= _Q_COARSEST:
        return _Z_STEP_COARSEST
    if top <= _Q_COARSE:
        return _Z_STEP_COARSE
    return _Z_STEP_SMOOTH


def _basis(step=_Z_STEP, n_terms=_MAX_TERMS + 1):
    """Grid ``z``, half bases and weights of the quadrature of step ``step``.

    ``z`` is the symmetric grid on ``[-_Z_MAX, _Z_MAX]`` (exactly
    antisymmetric, ``z[n - 1 - i] == -z[i]``); the basis
    ``B[m, k] = psi_k(z_m) psi_0(z_m) dz`` of the first ``n_terms`` Hermite
    functions has the exact parity of ``k``, so only its rows ``z >= 0`` are
    kept, as the contiguous even and odd columns (see :func:`_project`).
    ``weights`` is the standard normal density times ``dz``. Built once per
    process and ``(step, n_terms)``: 4 MB at the default step and terms, 62 MB
    for the large tier (:data:`_MAX_TERMS_LARGE`, built only when a layer
    needs it).
    """
    key = (step, n_terms)
    if key in _basis_cache:
        return _basis_cache[key]
    n = int(round(2 * _Z_MAX / step)) + 1
    z = np.linspace(-_Z_MAX, _Z_MAX, n)
    z = 0.5 * (z - z[::-1])
    mid = n // 2
    zh = z[mid:]
    psi0 = np.exp(-0.25 * zh * zh) / (2.0 * math.pi) ** 0.25
    psi = np.empty((zh.size, n_terms))
    psi[:, 0] = psi0
    psi[:, 1] = zh * psi0
    for k in range(1, n_terms - 1):
        psi[:, k + 1] = (zh * psi[:, k] - math.sqrt(k) * psi[:, k - 1]) / math.sqrt(
            k + 1
        )
    psi *= psi0[:, None] * step
    # flush values that cannot matter to zero: subnormal numbers would slow
    # every product with the basis down by orders of magnitude
    psi[np.abs(psi) < 1e-200] = 0.0
    even = np.ascontiguousarray(psi[:, 0::2])
    odd = np.ascontiguousarray(psi[:, 1::2])
    w = (np.exp(-0.25 * z * z) / (2.0 * math.pi) ** 0.25) ** 2 * step
    _basis_cache[key] = (z, (even, odd), w)
    return _basis_cache[key]


def _gregory(step=_Z_STEP):
    """Weight multipliers for integrands with a kink at the node ``z = 0``.

    The trapezoid rule is spectrally accurate for smooth integrands but only
    O(h^2) across a kink. Splitting the integral at 0 and using Gregory's
    sixth-order end weights on both halves restores O(h^6) (about 1e-13 here)
    for functions that are smooth on each side, such as ELU and SELU.
    """
    if step in _gregory_cache:
        return _gregory_cache[step]
    z, _, _ = _basis(step)
    g = np.ones(z.size)
    mid = z.size // 2
    ends = [95 / 288, 317 / 240, 23 / 30, 793 / 720, 157 / 160]
    g[mid] = 2 * ends[0]
    for i, e in enumerate(ends[1:], start=1):
        g[mid - i] = g[mid + i] = e
    _gregory_cache[step] = g
    return g


_gregory_cache = {}


class NonFiniteActivation(ValueError):
    """An activation (or a derivative the series needs) returned NaN or
    infinity on the quadrature grid; the engine adds the activation's name."""


def check_finite_samples(v, u, zmax):
    """Raise :class:`NonFiniteActivation` if ``v = f(u)`` has a non-finite
    value, naming the range of ``u`` where it occurs and the layer variance
    ``q`` of its point (the grid is ``u = sqrt(q) z``, ``|z| <= zmax``)."""
    bad = ~np.isfinite(v)
    if not bad.any():
        return
    where = u[bad]
    row = int(np.flatnonzero(np.any(bad, axis=1))[0])
    q = (float(np.max(np.abs(u[row]))) / zmax) ** 2
    raise NonFiniteActivation(
        f"returned {'NaN' if np.isnan(v[bad]).any() else 'infinity'} at inputs "
        f"u in [{float(where.min()):.3g}, {float(where.max()):.3g}]: the Hermite "
        f"series integrates it against N(0, q) on |u| <= {zmax:g} sqrt(q), here "
        f"for a layer variance q = {q:.3g}; make the activation finite for every "
        "real input, or keep the layer variances smaller (standardize X, smaller "
        "sigma_w / sigma_b)"
    )


class _Sampled:
    """An activation (or derivative) sampled on the grid ``u = sqrt(q) z``.

    With ``kink`` the function may jump or kink at 0, the grid's middle node:
    the one-sided limits at 0 are kept so that the Gregory-weighted halves of
    every integral see the value of their own side (a product takes the mean
    of the products of the limits, a linear use the mean of the limits).
    """

    def __init__(self, f, u, kink, step, n_threads=1):
        self.v = _evaluate(f, u, n_threads)
        check_finite_samples(self.v, u, float(np.max(_basis(step)[0])))
        self._norm = None
        self.step = step
        self.kink = kink
        if kink:
            tiny = np.array([-1e-300, 1e-300])
            self.lr = np.asarray(f(tiny), dtype=float)
            self.mid = u.shape[1] // 2

    def linear(self):
        if not self.kink:
            return self.v
        v = self.v.copy()
        v[:, self.mid] = self.lr.mean()
        return v

    def norm(self):
        """``E[f^2]`` of every point (Gregory-weighted with ``kink``), cached:
        the diagonal and the coefficient tables of a layer both need it."""
        if self._norm is None:
            _, _, w = _basis(self.step)
            if self.kink:
                w = w * _gregory(self.step)
            self._norm = self.times(self) @ w
        return self._norm

    def times(self, other):
        p = self.v * other.v
        if self.kink:
            p[:, self.mid] = np.mean(self.lr * other.lr)
        return p


def _evaluate(f, u, n_threads):
    """``f(u)``, on ``n_threads`` threads over row blocks when ``u`` is large
    (numpy's element-wise functions release the GIL; every element gets the
    same value whatever the split)."""
    n_rows = u.shape[0]
    if n_threads <= 1 or u.size < _THREADED_SIZE:
        return f(u)
    bounds = np.linspace(0, n_rows, min(n_threads, n_rows) + 1).astype(int)
    out = np.empty(u.shape)

    def fill(i):
        out[bounds[i] : bounds[i + 1]] = f(u[bounds[i] : bounds[i + 1]])

    map_blocks(fill, range(len(bounds) - 1), n_threads)
    return out


def sample(funcs, q, kink=False, n_threads=1, step=None):
    """Sample the given functions of ``funcs`` on ``u = sqrt(q) z`` (the grid).

    Returns a list with a :class:`_Sampled` (or None for a missing function)
    per entry of ``funcs``, to be shared by :func:`diag_values` and
    :func:`layer_tables` so each function is evaluated once per layer.
    ``n_threads`` threads evaluate the functions of many points. ``step`` is
    the grid step (default: :func:`_step_for`).
    """
    q = np.asarray(q, dtype=float)
    if step is None:
        step = _step_for(q, kink)
    z, _, _ = _basis(step)
    u = np.sqrt(q)[:, None] * z[None, :]
    return [None if f is None else _Sampled(f, u, kink, step, n_threads) for f in funcs]


def diag_values(funcs, q, want_grad=True, kink=False, samples=None):
    """Return ``V, W, dV/dq, dW/dq`` at variances ``q`` by 1-D quadrature.

    ``funcs`` are ``(phi, phi', phi'', phi''')`` as vectorised numpy callables.
    By Price's theorem ``dV/dq = E[phi'' phi] + E[phi'^2]`` and
    ``dW/dq = E[phi''' phi'] + E[phi''^2]``. Where ``phi''`` or ``phi'''`` is not
    given, the derivative of the Gaussian density in its variance is used
    instead: ``dE[f(sqrt(q) z)]/dq = E[f(sqrt(q) z) (z^2 - 1)] / (2 q)``.
    The derivatives are zeros unless ``want_grad``. With ``kink`` the
    functions may have kinks or jumps at 0 (see :func:`_gregory`).
    """
    q = np.asarray(q, dtype=float)
    if samples is None:
        samples = sample(funcs if want_grad else funcs[:2], q, kink)
    f0, f1 = samples[0], samples[1]
    z, _, w = _basis(f0.step)
    if kink:
        w = w * _gregory(f0.step)
    v = f0.norm()
    wv = f1.norm()
    zero = np.zeros_like(v)
    if not want_grad:
        return v, wv, zero, zero
    inv2q = np.where(q > 0, 0.5 / np.maximum(q, _TINY), 0.0)
    wz = w * (z * z - 1.0)
    if funcs[2] is None:
        dv = (f0.times(f0) @ wz) * inv2q
        dw = (f1.times(f1) @ wz) * inv2q
        return v, wv, dv, dw
    f2 = samples[2]
    dv = f2.times(f0) @ w + wv
    if funcs[3] is None:
        dw = (f1.times(f1) @ wz) * inv2q
    else:
        dw = samples[3].times(f1) @ w + f2.norm()
    return v, wv, dv, dw


def coefficient_tables(funcs, q_layers, n_tables, min_terms=None, kink=False, key=None):
    """Hermite coefficients of ``phi, phi', ...`` at every layer and point.

    Parameters
    ----------
    funcs : tuple of callables
        ``(phi, phi', phi'', phi''')``.
    q_layers : ndarray of shape (n_layers, n_points)
        Pre-activation variances of each point at each layer.
    n_tables : {2, 4}
        2 for values only (``phi``, ``phi'``), 4 when gradients are needed.
    min_terms : array of int, optional
        Lower bound on the number of terms at each layer (so that two point
        sets can share one truncation).
    kink : bool, default=False
        Whether the activation or its derivative has a kink at 0 (Gregory
        weights, see :func:`_gregory`).
    key : tuple, optional
        Identifies the truncation warning (see :func:`layer_tables`).

    Returns
    -------
    coef : ndarray of shape (n_layers, n_tables, n_points, n_terms)
    rem : ndarray of shape (n_layers, n_tables, n_points)
        Tail energies ``r_N`` (clipped at 0) of every table: the
        Cauchy-Schwarz tail term and the truncation bounds.
    n_used : ndarray of shape (n_layers,), int
        Number of terms used at each layer.
    """
    layers = []
    for layer in range(q_layers.shape[0]):
        low = 8 if min_terms is None else int(min_terms[layer])
        tables = layer_tables(funcs[:n_tables], q_layers[layer], low, kink, key=key)
        layers.append(tables)
    return assemble(layers)


def assemble(layers):
    """Stack per-layer ``(coef, rem, n_terms)`` into padded arrays."""
    tables, rems, used = zip(*layers)
    n_layers = len(tables)
    n_tables, n_points = tables[0].shape[:2]
    n_max = max(used)
    coef = np.zeros((n_layers, n_tables, n_points, n_max))
    for layer, c in enumerate(tables):
        coef[layer, :, :, : c.shape[2]] = c
    rem = np.array(rems).reshape(n_layers, n_tables, n_points)
    return coef, rem, np.array(used, dtype=np.int64)


def layer_tables(funcs, q, min_terms=8, kink=False, samples=None, key=None, copy=True):
    """Coefficient tables of one layer with an adaptive number of terms.

    Parameters
    ----------
    funcs : tuple of callables or None
        ``(phi, phi')`` or ``(phi, phi', phi'', phi''')``; tables of
        derivatives whose function is ``None`` are derived from the previous
        table by Stein's identity ``c_k(s) = sqrt((k + 1) / s) b_(k+1)(s)``
        (exact also when the derivative has jumps or Dirac masses).
    q : ndarray of shape (n_points,)
        Layer variances.
    min_terms : int, default=8
        Lower bound on the number of terms.
    kink : bool, default=False
        Gregory weights at a kink at 0 (see :func:`_gregory`).
    samples : list of _Sampled, optional
        The functions already sampled by :func:`sample`.
    key : tuple, optional
        ``(activation name, kernel, depth)``: the truncation warning is shown
        once per key and process (:func:`report_truncation`).
    copy : bool, default=True
        False returns the kept arrays themselves (tables are kept for recent
        variance arrays, :class:`_Recent`): to be read only, e.g. by
        :func:`assemble`, which copies them.

    Returns
    -------
    coef : ndarray of shape (n_tables, n_points, n_terms)
    rem : ndarray of shape (n_tables, n_points)
        Tail energies ``r_N`` of every table (clipped at 0): exact remainders
        ``E[f^2] - sum_k f_k^2`` for sampled functions, the estimate of
        :func:`_derived` for tables derived by Stein's identity.
    n_terms : int

    Raises
    ------
    ValueError
        If gradient tables are requested and their truncation bound exceeds
        :data:`GRAD_RAISE_BOUND` (see :func:`report_truncation`).

    Notes
    -----
    The number of terms ``N`` is the smallest for which every table ``t`` of
    every point has ``r_N <= tol_t E[f_t^2]`` (``_REL_TOL`` for ``phi`` and
    ``phi'``, ``_GRAD_TOL`` for the gradient tables), first on the points of
    extreme variance (projections with doubling numbers of columns), then
    checked on all points. The default tier (``_MAX_TERMS`` terms) covers
    moderate variances; a layer it cannot resolve moves to the large tier
    (``_MAX_TERMS_LARGE`` terms on the fine grid) if that resolves it, so
    the cost grows linearly with the variance up to that tier's range.
    """
    n_tables = len(funcs)
    direct = 0
    while direct < n_tables and funcs[direct] is not None:
        direct += 1
    # (the step of the samples that sample() gives by default)
    step = _step_for(q, kink) if samples is None else samples[0].step
    cache_key = (funcs, q.tobytes(), min_terms, kink, step)
    fit = _table_cache.get(cache_key)
    if fit is None:
        if samples is None:
            samples = sample(funcs[:direct], q, kink)
        fit = _fit(samples[:direct], q, n_tables, min_terms, _terms_of(step), kink)
        if not _enough(fit, n_tables) and step == _Z_STEP_COARSEST:
            fine = sample(funcs[:direct], q, kink, step=_Z_STEP_COARSE)
            fit = _fit(fine, q, n_tables, min_terms, _MAX_TERMS + 1, kink)
        if not _enough(fit, n_tables):
            fit = _large_tier(funcs[:direct], q, n_tables, min_terms, kink, fit)
        _table_cache.put(cache_key, fit, fit.coef.size)
    report_truncation(key, q, fit, n_tables == 4)
    if not copy:
        return fit.coef, fit.rem, fit.n_terms
    return fit.coef.copy(), fit.rem.copy(), fit.n_terms


def layer_values(funcs, q, want_grad, n_tables, kink=False, n_threads=1, key=None):
    """The diagonal and the coefficient tables of one layer of a recursion.

    :func:`diag_values` of ``funcs`` and :func:`layer_tables` of
    ``funcs[:n_tables]`` (8 terms at least) at the variances ``q``, the
    functions sampled once for both (on ``n_threads`` threads). Both are
    kept for the last few variance arrays (:class:`_Recent`), so a call on
    the same points (a grid search's folds, a repeated ``k(X)``) samples
    nothing: the kept arrays are bitwise what the computation gives.

    Returns
    -------
    values : tuple of 4 ndarrays of shape (n_points,)
        ``V, W, dV/dq, dW/dq`` (:func:`diag_values`).
    tables : tuple
        ``(coef, rem, n_terms)`` (:func:`layer_tables` without a copy: read
        them only, as :func:`assemble` does).

    Raises
    ------
    NonFiniteActivation
        From :func:`sample`.
    ValueError
        From :func:`layer_tables` (a gradient the series cannot resolve).
    """
    q = np.asarray(q, dtype=float)
    diag_key = (funcs, q.tobytes(), bool(want_grad), kink)
    kept = _diag_cache.get(diag_key)
    samples = None
    if kept is None:
        samples = sample(funcs[:n_tables], q, kink, n_threads)
        kept = diag_values(funcs, q, want_grad, kink, samples)
        _diag_cache.put(diag_key, kept, 4 * q.size)
    values = tuple(a.copy() for a in kept)
    tables = layer_tables(funcs[:n_tables], q, 8, kink, samples, key, copy=False)
    return values, tables


class _Recent:
    """The last few small results of one variance array (the tables of
    :func:`layer_tables`, the diagonals of :func:`layer_values`), so that
    repeated calls on the same points (a grid search's folds, ``k(X)`` then
    ``k(X, X)``) do not sample or project them again. Entries are bitwise
    what a new computation gives; results above ``_CACHED_SIZE`` numbers are
    not kept."""

    def __init__(self, size=8):
        self.size = size
        self.entries = {}
        self.lock = threading.Lock()  # kernels may run on several threads

    def get(self, key):
        with self.lock:
            return self.entries.get(key)

    def put(self, key, value, size):
        """Keep ``value`` (of ``size`` numbers) under ``key``."""
        if size > _CACHED_SIZE:
            return
        with self.lock:
            if len(self.entries) >= self.size:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = value


_CACHED_SIZE = 1 << 17
_table_cache = _Recent()
_diag_cache = _Recent()


def _terms_of(step):
    """Terms of the default basis of a grid step (few on the coarsest grid,
    see :func:`_step_for`)."""
    return _COARSEST_TERMS + 1 if step == _Z_STEP_COARSEST else _MAX_TERMS + 1


def _enough(fit, n_tables):
    """Whether a tier's tables are kept: converged, or within
    :data:`_ACCEPT_BOUND` (a tenth of the 1e-9 target; more terms would cost
    time for digits below it)."""
    grad = fit.bound_grad if n_tables == 4 else 0.0
    return fit.ok or max(fit.bound_values, grad) <= _ACCEPT_BOUND


def _large_tier(funcs, q, n_tables, min_terms, kink, fit):
    """The layer's tables on the large tier (``_MAX_TERMS_LARGE`` terms, grid
    step ``_Z_STEP``) if they are accurate there, else ``fit`` (the default
    tier's, which did not converge).

    Accurate: the stated bound at most :data:`WARN_BOUND`, or, with gradient
    tables, a gradient bound at most :data:`GRAD_RAISE_BOUND` where ``fit``
    would refuse the gradient. The point of largest variance is tried first,
    so hopeless variances cost one point's tables.
    """
    grad = n_tables == 4

    def accurate(f):
        if max(f.bound_values, f.bound_grad if grad else 0.0) <= WARN_BOUND:
            return True
        return grad and f.bound_grad <= GRAD_RAISE_BOUND < fit.bound_grad

    n_basis = _MAX_TERMS_LARGE + 1
    top = np.array([np.argmax(q)])
    one = sample(funcs, q[top], kink, step=_Z_STEP)
    if not accurate(_fit(one, q[top], n_tables, min_terms, n_basis, kink)):
        return fit
    big = _fit(
        sample(funcs, q, kink, step=_Z_STEP), q, n_tables, min_terms, n_basis, kink
    )
    return big if accurate(big) else fit


class _Fit(NamedTuple):
    """Tables of one layer at ``n_terms`` terms and their truncation bounds
    (relative to ``sqrt(k(x, x) k(y, y))`` of the layer)."""

    coef: np.ndarray
    rem: np.ndarray
    n_terms: int
    ok: bool
    bound_values: float
    bound_grad: float


def _fit(sampled, q, n_tables, min_terms, n_basis, kink):
    """:class:`_Fit` of one layer on a basis of ``n_basis`` terms.

    ``sampled`` are the direct tables' functions on the grid of one step; the
    tables of missing derivatives are derived by :func:`_derived`. Every
    point gets its own number of terms: its coefficients are projected block
    after block of terms (block ends 32, 64, 96, ..., then growing by a quarter)
    until every table of the point has ``tail <= tol * energy``
    (:func:`_tails`), so each basis column is read once and a point of small
    variance costs only the terms it needs. Columns a point did not reach are
    zeros; its remainder ``rem`` then covers them (the Cauchy-Schwarz tail).
    """
    direct = len(sampled)
    extra = n_tables - direct
    step = sampled[0].step
    _, (even_basis, odd_basis), _ = _basis(step, n_basis)
    mid = sampled[0].v.shape[1] // 2
    if kink:
        values = [f.linear() * _gregory(step) for f in sampled]
    else:
        values = [f.v for f in sampled]
    folded = [_fold(v, mid) for v in values]
    norms = [f.norm() for f in sampled]
    tols = np.array([_REL_TOL if t < 2 else _GRAD_TOL for t in range(n_tables)])
    n_points = q.size
    cap = n_basis - (n_basis % 2)  # block ends are even
    coefs = [np.zeros((n_points, cap)) for _ in range(direct)]
    sums = np.zeros((direct, n_points))  # sum of squares of the computed terms
    end = np.zeros(n_points, dtype=np.int64)
    active = np.arange(n_points)
    if not extra:
        energy_all = np.array(norms)
        limit_all = tols[:, None] * energy_all  # relative at every scale
    lo, hi = 0, min(cap, _START_TERMS)
    while active.size:
        every = active.size == n_points
        rows = slice(None) if every else active
        for t, (even, odd, has_even, has_odd) in enumerate(folded):
            block = coefs[t][rows, lo:hi]
            if has_even:
                ev = even if every else even[active]
                block[:, 0::2] = ev @ even_basis[:, lo // 2 : hi // 2]
            if has_odd:
                od = odd if every else odd[active]
                block[:, 1::2] = od @ odd_basis[:, lo // 2 : hi // 2]
            if not every:
                coefs[t][active, lo:hi] = block
            sums[t, rows] += np.einsum("ij,ij->i", block, block)
        end[active] = hi
        if extra:
            sub = [c[rows, :hi] for c in coefs]
            tails, energy = _tails(sub, [n[rows] for n in norms], q[rows], hi, extra)
            ok = np.all(tails <= tols[:, None] * energy, axis=0)
        else:  # (the energies and their limits of every point, formed once)
            tails = energy_all[:, rows] - sums[:, rows]
            ok = (tails <= limit_all[:, rows]).all(axis=0)
        active = active[~ok]
        if hi >= cap:
            break
        lo = hi
        hi = min(cap, hi + max(32, (hi // 8) * 2))
    ok = active.size == 0
    width = max(int(end.max()), min_terms + extra)
    full = [c[:, :width] if width <= cap else _pad(c, width) for c in coefs]
    tails, energy = _tails(full, norms, q, end, extra, tables=True)
    n_terms = width - extra
    coef = np.stack([c[:, :n_terms] for c in tails[1]])
    rem = tails[0]
    rel = np.max(rem / np.maximum(energy, _TINY), axis=1, initial=0.0)
    return _Fit(coef, rem, n_terms, ok, 2 * float(max(rel[:2])), float(max(rel)))


def _pad(c, width):
    """``c`` with zero columns up to ``width``."""
    out = np.zeros((c.shape[0], width))
    out[:, : c.shape[1]] = c
    return out


def _tails(coefs, norms, q, end, extra, tables=False):
    """Tail energies and energies ``(n_tables, n_points)`` of the tables at
    the ``width - extra`` terms every table of width ``width`` has.

    ``coefs`` are the direct tables (``end`` columns computed per point, zeros
    beyond), ``norms`` their energies ``E[f^2]``; the ``extra`` missing
    derivatives are derived by :func:`_derived`. With ``tables`` the result
    is ``((tails, all tables), energy)``.
    """
    coefs = list(coefs)
    energy = list(norms)
    m = np.array(end)
    for _ in range(extra):
        c, e = _derived(coefs[-1], energy[-1], q, m)
        coefs.append(c)
        energy.append(e)
        m = np.maximum(m - 1, 0)
    n = coefs[0].shape[1] - extra
    tails = np.array(
        [
            np.maximum(e - np.sum(c[:, :n] ** 2, axis=1), 0.0)
            for c, e in zip(coefs, energy)
        ]
    )
    energy = np.array(energy)
    if tables:
        return (tails, coefs), energy
    return tails, energy


def _derived(prev, energy_prev, q, m):
    """Stein's identity: the table ``c_k = sqrt((k + 1) / q) b_(k+1)`` of the
    derivative from the table ``b`` (one column fewer), and its energy.

    The energy is the sum of the squares of the coefficients plus
    ``m / q r_b(m)`` for the terms beyond the ``m`` computed columns of ``b``
    (``r_b`` its tail): exact if that tail sits at its first term, an a
    posteriori estimate otherwise (the bound of activations given without
    this derivative).
    """
    k = np.arange(prev.shape[1] - 1)
    inv = np.where(q > 1e-14, 1.0 / np.maximum(q, 1e-300), 0.0)
    c = np.sqrt((k + 1)[None, :] * inv[:, None]) * prev[:, 1:]
    tail_prev = np.maximum(energy_prev - np.sum(prev**2, axis=1), 0.0)
    return c, np.sum(c**2, axis=1) + m * inv * tail_prev


def _project(half, folded, cols):
    """Coefficients ``(basis[:, :cols].T @ v.T).T`` of the sampled rows ``v``.

    The grid is symmetric and ``basis[:, k]`` has the parity of ``k`` (exactly,
    see :func:`_basis`), so even coefficients only see the even part
    ``v(z) + v(-z)`` and odd ones the odd part ``v(z) - v(-z)`` on ``z >= 0``
    (``folded``, from :func:`_fold`): half the products, and none at all for
    a part that is exactly zero (an exactly odd or even function).
    """
    even_basis, odd_basis = half
    even, odd, has_even, has_odd = folded
    out = np.zeros((even.shape[0], cols))
    if has_even:
        out[:, 0::2] = even @ even_basis[:, : (cols + 1) // 2]
    if has_odd:
        out[:, 1::2] = odd @ odd_basis[:, : cols // 2]
    return out


@njit(cache=True, nogil=True)
def _fold(v, mid):
    """Even and odd parts ``v(z) +- v(-z)`` of the rows on ``z >= 0`` (the node
    ``z = 0`` once) and whether each has a nonzero entry."""
    n_points = v.shape[0]
    half = v.shape[1] - mid
    even = np.empty((n_points, half))
    odd = np.empty((n_points, half))
    has_even = False
    has_odd = False
    for p in range(n_points):
        even[p, 0] = v[p, mid]
        odd[p, 0] = 0.0
        has_even = has_even or v[p, mid] != 0.0
        for i in range(1, half):
            a = v[p, mid + i]
            b = v[p, mid - i]
            even[p, i] = a + b
            odd[p, i] = a - b
            has_even = has_even or a != -b
            has_odd = has_odd or a != b
    return even, odd, has_even, has_odd


# --------------------------------------------------------------------------
# the truncation warning

#: Stated bound (relative to ``sqrt(k(x, x) k(y, y))`` of a layer) above
#: which a series warns.
WARN_BOUND = 1e-7
#: Bound of the gradient tables above which a gradient is refused.
GRAD_RAISE_BOUND = 1e-2
_stated = {}  # key -> largest bound stated so far in this process


def reset_warnings():
    """Forget which truncation warnings were shown (tests start afresh)."""
    _stated.clear()


def report_truncation(key, q, fit, grad):
    """Warn (values) or raise (gradients) when a layer's series is truncated.

    Values: a ``UserWarning`` when the stated bound exceeds
    :data:`WARN_BOUND`, at most once per ``key`` and process (again only for
    a bound more than ten times the largest stated), attributed to the first
    caller outside sknnk, scikit-learn, scipy, numpy and joblib (the user's
    line, also inside ``GaussianProcessRegressor.fit``). Gradients: a
    ``ValueError`` when the bound of the gradient tables exceeds
    :data:`GRAD_RAISE_BOUND` (an optimizer would follow a wrong gradient);
    below it the warning's bound covers the gradients too.
    """
    refuse = grad and fit.bound_grad > GRAD_RAISE_BOUND
    bound = max(fit.bound_values, fit.bound_grad if grad else 0.0)
    if not refuse and bound <= WARN_BOUND:
        return  # (the common case: nothing to say, nothing to format)
    top = float(np.max(q, initial=0.0))
    name = f"{key[0]!r} " if key else ""
    fixes = (
        "standardize X (e.g. sklearn.preprocessing.StandardScaler) or use a "
        "smaller sigma_w / sigma_b (in a hyperparameter search, smaller upper "
        "sigma_w_bounds / sigma_b_bounds); with residual=True, the residual "
        "stream's variance grows with depth: a smaller branch_scale, "
        "normalization='layer' or fewer layers"
    )
    if refuse:
        raise ValueError(
            f"The Hermite series of the activation {name}does not resolve the "
            f"kernel's gradient at layer variance {top:.3g} in {fit.n_terms} "
            f"terms (truncation bound {fit.bound_grad:.2e} relative): {fixes}."
        )
    if key is not None:
        if bound <= 10.0 * _stated.get(key, 0.0):
            return
        _stated[key] = bound
    what = "values and gradient" if grad else "values"
    warnings.warn(
        f"The Hermite series of the activation {name}did not converge in "
        f"{fit.n_terms} terms at layer variance up to {top:.3g}: the truncation "
        f"error of an entry ({what}) is bounded by {bound:.2e} relative to "
        f"sqrt(k(x, x) k(y, y)) of that layer; {fixes}. Shown once per "
        "activation, kernel and depth.",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )


def _library_dirs():
    """Directories of sknnk and of the libraries that call kernels."""
    import joblib
    import scipy
    import sklearn

    top = sys.modules[__name__.split(".")[0]]
    return tuple(
        os.path.dirname(os.path.abspath(m.__file__)) + os.sep
        for m in (top, sklearn, scipy, np, joblib)
    )


def _user_stacklevel():
    """``stacklevel`` that makes :func:`report_truncation`'s warning name the
    first frame outside :func:`_library_dirs` (the outermost frame if all
    are inside)."""
    inside = _library_dirs()
    frame = sys._getframe(1)  # report_truncation: stacklevel 1
    level = 1
    while frame.f_back is not None and os.path.abspath(
        frame.f_code.co_filename
    ).startswith(inside):
        frame = frame.f_back
        level += 1
    return level
