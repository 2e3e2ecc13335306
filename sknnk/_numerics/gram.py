"""Tile drivers of a Gram matrix (generic, series) and the plan that feeds them.

A *tile* is the block ``rows i0:i1 x columns j0:j1`` of the output. Before a
driver runs, the tile holds the dot products ``x_i . y_j`` (one gemm per tile);
the driver overwrites them with the kernel. Tiles of a symmetric Gram cover its
upper triangle only: a *diagonal tile* (``i0 = j0``, ``i1 = j1``) computes
``j > i``, takes the diagonal from the 1-D recursion and mirrors itself; any
other tile is mirrored to ``(j, i)`` by the driver when the whole output is
shared (threads), or by the caller when tiles are returned (processes).

Every driver has the same first arguments, all records:

``out, grad``
    The output ``out[i - oi, j - oj]`` and its gradient
    ``grad[i - oi, j - oj, column]`` (shape (0, 0, 0) without gradient).
``tile`` : :class:`Tile`
    Where the driver works and how the per-point arrays are indexed.
``rows, cols``
    Per-point records of the row and column points (one record type per
    driver; every array has the points on its last axis, from ``xo``/``yo``).
``diag`` : :class:`Diagonal`
    ``k(x_i, x_i)`` and its gradient of the row points (symmetric case).

then the family's constants, the recursion's scalars ``p``
(:class:`sknnk._numerics.layer.LayerParams`) and the :class:`Task`. The
drivers share the layer map of :mod:`sknnk._numerics.layer`:

* :func:`tile_generic` runs the per-entry recursion of
  :func:`sknnk._numerics.recursion.entry` and works for every activation code
  (closed forms through ``closed_form_partials``, and the Hermite series).
* :func:`sknnk._numerics.fast.tile_fast` is the vectorised path of the ReLU
  family (ReLU, leaky ReLU, abs, ABReLU) and of erf.
* :func:`tile_residual` is the per-entry driver of networks with residual
  blocks and/or layer normalisation
  (:func:`sknnk._numerics.recursion.entry_residual`, a third gradient column
  ``log branch_scale``); :func:`make_plan` routes every such network to it,
  whatever the activation and depth (the vectorised drivers implement the
  plain layer map only); :func:`tile_seeds` gives their length-scale
  partials too.
* :func:`tile_series` evaluates the Hermite series of a whole row segment at
  once (Horner in ``rho`` with the columns in the inner, vectorised loop), in
  ``rho^2`` over one parity for odd or even tables (:func:`parity_table`) and
  with as many terms as the segment's largest ``|rho|`` needs
  (:func:`need_table`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from ._jit import njit
from .activations import ABRELU, ERF, RELU, SERIES
from .fast import (
    F_H,
    F_RS,
    F_SQ,
    F_UB,
    F_UW,
    F_VB,
    F_VW,
    FAST_DRIVERS,
    FASTMATH,
    _erf_all,
    _relu_all,
    begin_row,
    constants,
    erf_point_table,
    mirror_tile,
    relu_point_table,
    row_buffers,
    start_row,
    store_row,
    unpack,
)
from .layer import (
    as_dtype,
    chain,
    correlation,
    dense,
    dense_value,
    propagate,
    row_exponents,
    scaled_dots,
    seed,
)
from .recursion import entry, entry_residual, seed_partials


class Tile(NamedTuple):
    """Where a driver works.

    Attributes
    ----------
    oi, oj : int
        Global row and column of ``out[0, 0]``.
    i0, i1, j0, j1 : int
        Global rows and columns of the tile.
    diag : bool
        A diagonal tile of a symmetric Gram (computes ``j > i``).
    mirror : bool
        Also write the transposed tile (``out`` is the whole output).
    xo, yo : int
        Global index of the first point of the row and column records.
    """

    oi: int
    oj: int
    i0: int
    i1: int
    j0: int
    j1: int
    diag: bool
    mirror: bool
    xo: int
    yo: int


class Task(NamedTuple):
    """What a driver computes: ``depth`` layers of the NTK (``ntk``) or the
    NNGP, with the gradient columns ``ib`` (``log sigma_b``) and ``iw``
    (``log sigma_w``; -1 for a fixed hyperparameter) if ``want_grad``."""

    depth: int
    ntk: bool
    ib: int
    iw: int
    want_grad: bool


class Diagonal(NamedTuple):
    """``k`` (n,) and ``grad`` (2, n): diagonal of the returned kernel and its
    derivatives in ``(log sigma_b, log sigma_w)`` (zeros when not symmetric)."""

    k: np.ndarray
    grad: np.ndarray


class GenericPoints(NamedTuple):
    """Per-point record of :func:`tile_generic` and :func:`tile_seeds`: layer
    variances ``q`` (depth + 1, n), their derivatives ``dq`` (2, depth + 1, n)
    and, for a series, ``coef[layer, table, term, point]``,
    ``rem[layer, table, point]`` and the truncation table ``need``
    (:func:`need_table`, read by the seeds pass; placeholders for closed
    forms)."""

    q: np.ndarray
    dq: np.ndarray
    coef: np.ndarray
    rem: np.ndarray
    need: np.ndarray


class SeriesPoints(NamedTuple):
    """Per-point record of :func:`tile_series`: ``iq = 1 / sqrt(q)`` (0 where
    ``q = 0``), ``dq``, the tables ``coef[layer, table, term, point]`` and
    ``rem[layer, table, point]`` and ``need[layer, level, point]``
    (:func:`need_table`)."""

    iq: np.ndarray
    dq: np.ndarray
    coef: np.ndarray
    rem: np.ndarray
    need: np.ndarray


class FastPoints(NamedTuple):
    """Per-point record of :func:`sknnk._numerics.fast.tile_fast`: the table
    ``P[layer, field, point]`` (:func:`relu_point_table`, :func:`erf_point_table`)."""

    P: np.ndarray


@njit(cache=True, nogil=True)
def tile_generic(out, grad, tile, rows, cols, diag, code, prm, nterms, p, task):
    """Fill one tile entry by entry (any activation code).

    ``rows``/``cols`` are :class:`GenericPoints`; ``code``, ``prm`` the
    activation, ``nterms`` the terms of the series tables at each layer
    (series only); the other arguments as in the module doc.
    """
    _, oj, i0, i1, _, j1, diag_tile, mirror, _, yo = tile
    depth, ntk, ib, iw, want_grad = task
    for i in range(i0, i1):
        ri, xi, js, _, _, _ = begin_row(out, grad, i, tile, diag, task, want_grad)
        for j in range(js, j1):
            cj = j - oj
            s, t, ds_b, ds_w, dt_b, dt_w = entry(
                out[ri, cj] / p.dval,
                xi,
                j - yo,
                rows,
                cols,
                code,
                prm,
                nterms,
                p,
                depth,
                want_grad,
            )
            out[ri, cj] = t if ntk else s
            if want_grad:
                if ib >= 0:
                    grad[ri, cj, ib] = dt_b if ntk else ds_b
                if iw >= 0:
                    grad[ri, cj, iw] = dt_w if ntk else ds_w
    if diag_tile or mirror:
        mirror_tile(out, grad, tile, want_grad)


class ResidualTask(NamedTuple):
    """:class:`Task` of :func:`tile_residual`, plus ``ia`` (gradient column
    of ``log branch_scale``, -1 if fixed), ``residual`` (the hidden blocks
    add their branch to the stream), ``a2`` (``branch_scale^2``) and ``norm``
    (layer normalisation)."""

    depth: int
    ntk: bool
    ib: int
    iw: int
    want_grad: bool
    ia: int
    residual: bool
    a2: float
    norm: bool


class ResidualPoints(NamedTuple):
    """Per-point record of :func:`tile_residual`: per layer the variance
    ``va`` (depth, n) of the nonlinearity's input, its derivatives ``dva``
    (3, depth, n), the normalisation factors ``r`` (depth, n) and ``h``
    (3, depth, n) of :func:`sknnk._numerics.layer.layer_norm_scales`, and the
    series tables ``coef``, ``rem`` as in :class:`GenericPoints` with their
    truncation table ``need`` (:func:`need_table`; placeholders for closed
    forms)."""

    va: np.ndarray
    dva: np.ndarray
    r: np.ndarray
    h: np.ndarray
    coef: np.ndarray
    rem: np.ndarray
    need: np.ndarray


@njit(cache=True, nogil=True)
def tile_residual(out, grad, tile, rows, cols, diag, code, prm, nterms, p, task):
    """:func:`tile_generic` for residual and/or layer-normalised networks
    (:func:`sknnk._numerics.recursion.entry_residual`, every activation code).

    ``rows``/``cols`` are :class:`ResidualPoints`, ``task`` a
    :class:`ResidualTask`; ``diag.grad`` has three rows
    ``(log sigma_b, log sigma_w, log branch_scale)``.
    """
    _, oj, i0, i1, _, j1, diag_tile, mirror, _, yo = tile
    ntk, ib, iw, ia, want_grad = task.ntk, task.ib, task.iw, task.ia, task.want_grad
    for i in range(i0, i1):
        ri, xi, js, _, _, _ = begin_row(out, grad, i, tile, diag, task, want_grad)
        if diag_tile and want_grad and ia >= 0:
            grad[ri, i - oj, ia] = diag.grad[2, xi]
        for j in range(js, j1):
            cj = j - oj
            st = entry_residual(
                out[ri, cj] / p.dval, xi, j - yo, rows, cols, code, prm, nterms, p, task
            )
            k = 1 if ntk else 0  # the NTK (Theta) or the NNGP (Sigma)
            out[ri, cj] = st[k]
            if want_grad:
                for col, pos in ((ib, 2), (iw, 3), (ia, 4)):
                    if col >= 0:
                        grad[ri, cj, col] = st[pos + 3 * k]
    if diag_tile or mirror:
        mirror_tile(out, grad, tile, want_grad)


@njit(cache=True, nogil=True)
def tile_seeds(out, grad, tile, rows, cols, diag, code, prm, nterms, p, task):
    """Fill one tile with the kernel and its partials in the layer-0 inputs.

    The per-entry recursion :func:`sknnk._numerics.recursion.entry_seeds`
    (any activation code): ``out[i, j]`` gets the kernel and
    ``grad[i, j, 0:3]`` its partials in ``(g_ij, g_ii, g_jj)``, the
    ingredients of the length-scale gradient
    (:func:`sknnk._numerics.engine.gram`). ``rows.dq[0]``/``cols.dq[0]`` are
    the diagonal derivatives ``d Sigma^l(x, x) / d g_xx``. Only ``j > i`` is
    computed on a diagonal tile and nothing is mirrored: the assembly reads
    the upper triangle (the partials in ``g_ii`` and ``g_jj`` are not
    symmetric). The arguments as in :func:`tile_generic`.

    With :class:`ResidualPoints` (whose ``dva`` and ``h`` have the fourth
    row of the seed direction) and a :class:`ResidualTask` the entries are
    those of a residual/normalised network
    (:func:`sknnk._numerics.recursion.entry_residual_seeds`, chosen at
    compile time by :func:`sknnk._numerics.recursion.seed_partials`).
    """
    _, oj, i0, i1, _, j1, _, _, _, yo = tile
    for i in range(i0, i1):
        ri, xi, js, _, _, _ = begin_row(out, grad, i, tile, diag, task, True)
        for j in range(js, j1):
            cj = j - oj
            gij = out[ri, cj] / p.dval
            k, k_g, k_a, k_b = seed_partials(
                gij, xi, j - yo, rows, cols, code, prm, nterms, p, task
            )
            out[ri, cj] = k
            grad[ri, cj, 0] = k_g
            grad[ri, cj, 1] = k_a
            grad[ri, cj, 2] = k_b


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def tile_seeds_fast(out, grad, tile, rows, cols, diag, erf, fam, cst, p, task):
    """:func:`tile_seeds` for the ReLU family and erf, a row segment at a time.

    The duals and their derivatives along two directions come from the
    vectorised closed forms of :mod:`sknnk._numerics.fast` (``_relu_all``,
    ``_erf_all``), which take any direction through their per-point fields:
    ``rows.P``/``cols.P`` are their point tables built from the diagonal seed
    derivatives ``dq = (dg_xx, 0)`` for the rows and ``(0, dg_yy)`` for the
    columns, so one call gives the directions ``d / d g_ii`` (first channel)
    and ``d / d g_jj`` (second), and a second call with zero fields the
    direction ``d / d g_ij``; :func:`sknnk._numerics.layer.propagate` maps
    them through the dense layer. ``erf`` selects erf (else the ReLU family,
    ``fam = (ab, dd)``); float64 only. Writes the kernel to ``out`` and the
    partials in ``(g_ij, g_ii, g_jj)`` to ``grad[i, j, 0:3]``; the upper
    triangle only, nothing mirrored (see :func:`tile_seeds`).
    """
    _, _, i0, i1, j0, j1, _, _, _, _ = tile
    depth, ntk = task.depth, task.ntk
    Px = rows.P
    Py = cols.P
    ab_, dd = fam
    kc = unpack(cst)
    zero = p.sw2 - p.sw2
    width = j1 - j0
    s, t, s_g, t_g, s_a, t_a = row_buffers(width, True, out)
    s_b = np.empty(width)
    t_b = np.empty(width)
    for i in range(i0, i1):
        ri, xi, _, w, c0, y0 = begin_row(out, grad, i, tile, diag, task, True)
        if w <= 0:
            continue
        orow = out[ri, c0 : c0 + w]
        for k in range(w):
            s[k], t[k], _, _, _, _ = seed(orow[k] / p.dval, p)
            s_g[k] = p.sw2
            t_g[k] = p.alpha0
            s_a[k] = t_a[k] = s_b[k] = t_b[k] = zero
        for layer in range(depth):
            P = Px[layer]
            x = (P[F_SQ, xi], P[F_RS, xi], P[F_UB, xi], zero, P[F_VB, xi], zero)
            xz = (x[0], x[1], zero, zero, zero, zero)
            tx = P[F_H, xi]
            ysq = Py[layer, F_SQ, y0 : y0 + w]
            yrs = Py[layer, F_RS, y0 : y0 + w]
            yu = Py[layer, F_UW, y0 : y0 + w]
            yv = Py[layer, F_VW, y0 : y0 + w]
            ty = Py[layer, F_H, y0 : y0 + w]
            for k in range(w):
                y = (ysq[k], yrs[k], zero, yu[k], zero, yv[k])
                yz = (ysq[k], yrs[k], zero, zero, zero, zero)
                if erf:
                    f, g, dfa, dfb, dga, dgb = _erf_all(
                        s[k], s_a[k], s_b[k], x, y, tx, ty[k], kc
                    )
                    _, _, dfg, _, dgg, _ = _erf_all(
                        s[k], s_g[k], zero, xz, yz, tx, ty[k], kc
                    )
                else:
                    f, g, dfa, dfb, dga, dgb = _relu_all(
                        s[k], s_a[k], s_b[k], x, y, ab_, dd, kc
                    )
                    _, _, dfg, _, dgg, _ = _relu_all(
                        s[k], s_g[k], zero, xz, yz, ab_, dd, kc
                    )
                tk = t[k]
                s_g[k], t_g[k] = propagate(g, dfg, dgg, tk, t_g[k], p)
                s_a[k], t_a[k] = propagate(g, dfa, dga, tk, t_a[k], p)
                s_b[k], t_b[k] = propagate(g, dfb, dgb, tk, t_b[k], p)
                s[k], t[k] = dense_value(f, g, tk, p)
        for k in range(w):
            orow[k] = t[k] if ntk else s[k]
            grad[ri, c0 + k, 0] = t_g[k] if ntk else s_g[k]
            grad[ri, c0 + k, 1] = t_a[k] if ntk else s_a[k]
            grad[ri, c0 + k, 2] = t_b[k] if ntk else s_b[k]


# number of correlation levels of the truncation tables (see need_table)
LEVELS = 64
# columns of a row segment that share one number of terms
CHUNK = 64
# relative bound on what the adaptive truncation of a row segment omits, in
# the series of values and in those of the partials (gradients only)
_ADAPT_TOL = 1e-15
_ADAPT_TOL_GRAD = 1e-13
# a parity class whose energy is below this fraction of a table (every point)
# is noise of the quadrature and is skipped
_PARITY_TOL2 = 1e-20


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _horner(acc, r, cxt, xi, cyt, t_hi, step, count, y0, w):
    """Horner's rule over ``count`` terms ``t_hi, t_hi - step, ...``.

    ``acc[k] <- acc[k] r[k]^count + sum_m cxt[t_m, xi] cyt[t_m, y0 + k] r[k]^m``
    with ``t_m = t_hi - step (count - 1 - m)``, i.e. ``r = rho`` with
    ``step = 1`` (every term) or ``r = rho^2`` with ``step = 2`` (one parity).
    Four terms per pass over the columns, so that ``acc`` and ``r`` are loaded
    and ``acc`` stored once per four terms.
    """
    t = t_hi
    lead = count % 4
    for _ in range(lead):
        c = cxt[t, xi]
        row = cyt[t, y0 : y0 + w]  # a view: no index wraparound, vectorises
        for k in range(w):
            acc[k] = acc[k] * r[k] + c * row[k]
        t -= step
    for _ in range(count // 4):
        c3 = cxt[t, xi]
        c2 = cxt[t - step, xi]
        c1 = cxt[t - 2 * step, xi]
        c0 = cxt[t - 3 * step, xi]
        row3 = cyt[t, y0 : y0 + w]
        row2 = cyt[t - step, y0 : y0 + w]
        row1 = cyt[t - 2 * step, y0 : y0 + w]
        row0 = cyt[t - 3 * step, y0 : y0 + w]
        for k in range(w):
            rk = r[k]
            a = acc[k] * rk + c3 * row3[k]
            a = a * rk + c2 * row2[k]
            a = a * rk + c1 * row1[k]
            acc[k] = a * rk + c0 * row0[k]
        t -= 4 * step


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _series(acc, rho, rho2, cxt, xi, cyt, y0, w, n, par):
    """``acc <- acc rho^n' + sum_{t < n} cxt[t, xi] cyt[t, y0 + k] rho^t``.

    ``par`` is -1 (every term, ``n' = n``) or the parity of the only nonzero
    terms from ``t = 2`` on (0 even, 1 odd; see :func:`parity_table`): Horner
    in ``rho^2`` over half of those terms, times ``rho^(2 + par)``, plus the
    terms ``t = 0, 1``; ``n'`` is then the first omitted term of that parity.
    """
    if par < 0:
        _horner(acc, rho, cxt, xi, cyt, n - 1, 1, n, y0, w)
        return
    t0 = 2 + par
    count = (n - t0 + 1) // 2 if n > t0 else 0
    _horner(acc, rho2, cxt, xi, cyt, t0 + 2 * (count - 1), 2, count, y0, w)
    c0 = cxt[0, xi]
    row0 = cyt[0, y0 : y0 + w]
    c1 = cxt[1, xi] if n > 1 else 0.0
    row1 = cyt[1 if n > 1 else 0, y0 : y0 + w]
    if par == 1:
        for k in range(w):
            acc[k] = acc[k] * rho2[k] * rho[k] + (c0 * row0[k] + c1 * row1[k] * rho[k])
    else:
        for k in range(w):
            acc[k] = acc[k] * rho2[k] + (c0 * row0[k] + c1 * row1[k] * rho[k])


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _pair_parity(par, layer, tx, ty):
    """Parity shared by the tables ``tx`` (rows) and ``ty`` (columns), or -1."""
    p = par[layer, tx]
    return p if p == par[layer, ty] else -1


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _chunk_series(
    buf, rho, rho2, lo, hi, xi, y0, layer, rows, cols, ncol, par, full, want_grad
):
    """The series of one layer for the columns ``lo:hi`` of a row segment.

    ``buf = (F, G, F_a, F_b, G_a, G_b, G_c)`` are the row segment's outputs
    (the partials only with ``want_grad``; ``F_a`` etc. without the factor
    1/2), ``rho``/``rho2`` its correlations and their squares, ``xi`` the row
    point and ``y0`` the first column point in ``rows``/``cols``
    (:class:`SeriesPoints`), ``ncol[layer, level]`` the terms the tile's
    columns need, ``par`` the parity table and ``full`` the terms of the
    layer's tables. The number of terms is what the largest ``|rho|`` of the
    chunk needs (see :func:`tile_series`); ``F`` and ``G`` always get the
    Cauchy-Schwarz tail ``rho^n sqrt(r(a) r(b))`` of the terms the tables
    omit (exact on duplicate points, ``rho = 1``; below the truncation
    criterion otherwise).
    """
    f, g, fa, fb, ga, gb, gc = buf
    w = hi - lo
    yc = y0 + lo
    rmax = 0.0
    for k in range(lo, hi):
        rmax = max(rmax, abs(rho[k]))
    lev = min(LEVELS, int(rmax * LEVELS) + 1)
    n = min(full, max(rows.need[layer, lev, xi], ncol[layer, lev]))
    fc = f[lo:hi]
    gk = g[lo:hi]
    remx = rows.rem
    remy = cols.rem
    # F and G with the tail rho^n sqrt(r(a)) sqrt(r(b)) of what the tables omit
    # (two roots: r(a) r(b) overflows at layer variances ~1e155)
    for k in range(w):
        fc[k] = math.sqrt(remx[layer, 0, xi]) * math.sqrt(remy[layer, 0, yc + k])
        gk[k] = math.sqrt(remx[layer, 1, xi]) * math.sqrt(remy[layer, 1, yc + k])
    r = rho[lo:hi]
    r2 = rho2[lo:hi]
    cx = rows.coef[layer]
    cy = cols.coef[layer]
    _series(fc, r, r2, cx[0], xi, cy[0], yc, w, n, _pair_parity(par, layer, 0, 0))
    _series(gk, r, r2, cx[1], xi, cy[1], yc, w, n, _pair_parity(par, layer, 1, 1))
    if not want_grad:
        return
    for acc, tx, ty in (
        (fa[lo:hi], 2, 0),
        (fb[lo:hi], 0, 2),
        (gc[lo:hi], 2, 2),
        (ga[lo:hi], 3, 1),
        (gb[lo:hi], 1, 3),
    ):
        for k in range(w):
            acc[k] = 0.0
        _series(
            acc, r, r2, cx[tx], xi, cy[ty], yc, w, n, _pair_parity(par, layer, tx, ty)
        )


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def tile_series(out, grad, tile, rows, cols, diag, par, nterms, p, task):
    """Fill one tile for an activation evaluated by its Hermite series.

    Same recursion as :func:`sknnk._numerics.recursion.entry` on a series, but a
    whole row segment at a time: each series ``sum_k a_k(x) b_k(y_j) rho_j^k``
    (plus its Cauchy-Schwarz tail) is evaluated by Horner's rule with the
    columns ``j`` in the inner loop, from the tables
    ``coef[layer, table, term, point]`` of ``rows``/``cols``
    (:class:`SeriesPoints`, the same arrays for a symmetric Gram).
    ``par[layer, table]`` is :func:`parity_table` and ``nterms[layer]`` the
    terms of the tables; the other arguments as in the module doc.

    Two savings, neither of which loosens the truncation bound:

    * ``par[layer, table]``: a table whose terms of one parity vanish (odd or
      even activations) is summed over the other parity only, in ``rho^2``.
    * The number of terms of ``CHUNK`` columns of a row segment at a layer is
      the smallest ``n`` for which ``|rho|^n`` times the tail energies of their
      points is below ``_ADAPT_TOL`` (``need``, :func:`need_table`, at the
      level just above the chunk's largest ``|rho|``), at most the points'
      own nonzero terms, which it takes when ``|rho|`` reaches the top level;
      ``F`` and ``G`` get the Cauchy-Schwarz tail (:func:`_chunk_series`).
    """
    _, _, i0, i1, j0, j1, diag_tile, mirror, _, yo = tile
    depth, want_grad = task.depth, task.want_grad
    width = j1 - j0
    s, t, dsb, dsw, dtb, dtw = row_buffers(width, want_grad, out)
    rho = np.empty(width)
    rho2 = np.empty(width)
    nb = width if want_grad else 0
    buf = (
        np.empty(width),
        np.empty(width),
        np.empty(nb),
        np.empty(nb),
        np.empty(nb),
        np.empty(nb),
        np.empty(nb),
    )
    f, g, fa, fb, ga, gb, gc = buf
    # terms needed by the columns of the tile at every layer and level
    ncol = np.zeros((depth, LEVELS + 1), dtype=np.int64)
    for layer in range(depth):
        for lev in range(LEVELS + 1):
            for j in range(j0, j1):
                ncol[layer, lev] = max(ncol[layer, lev], cols.need[layer, lev, j - yo])
    buffers = (s, t, dsb, dsw, dtb, dtw)
    for i in range(i0, i1):
        ri, xi, w, c0, y0, orow = start_row(
            out, grad, i, tile, diag, task, want_grad, buffers, p
        )
        if w <= 0:
            continue
        for layer in range(depth):
            ia = rows.iq[layer, xi]
            iqy = cols.iq[layer, y0 : y0 + w]
            for k in range(w):
                r = correlation(s[k], ia, iqy[k], 1.0)
                rho[k] = r
                rho2[k] = r * r
            for lo in range(0, w, CHUNK):
                _chunk_series(
                    buf,
                    rho,
                    rho2,
                    lo,
                    min(w, lo + CHUNK),
                    xi,
                    y0,
                    layer,
                    rows,
                    cols,
                    ncol,
                    par,
                    nterms[layer],
                    want_grad,
                )
            if not want_grad:
                for k in range(w):
                    s[k], t[k] = dense_value(f[k], g[k], t[k], p)
                continue
            qxb = rows.dq[0, layer, xi]
            qxw = rows.dq[1, layer, xi]
            for k in range(w):
                qyb = cols.dq[0, layer, y0 + k]
                qyw = cols.dq[1, layer, y0 + k]
                gk = g[k]
                hfa = 0.5 * fa[k]
                hfb = 0.5 * fb[k]
                hga = 0.5 * ga[k]
                hgb = 0.5 * gb[k]
                s[k], t[k], dsb[k], dsw[k], dtb[k], dtw[k] = dense(
                    f[k],
                    gk,
                    chain(hfa, hfb, gk, qxb, qyb, dsb[k]),
                    chain(hfa, hfb, gk, qxw, qyw, dsw[k]),
                    chain(hga, hgb, gc[k], qxb, qyb, dsb[k]),
                    chain(hga, hgb, gc[k], qxw, qyw, dsw[k]),
                    t[k],
                    dtb[k],
                    dtw[k],
                    p,
                )
        store_row(grad, ri, c0, orow, w, s, t, dsb, dsw, dtb, dtw, task, want_grad)
    if diag_tile or mirror:
        mirror_tile(out, grad, tile, want_grad)


@njit(cache=True, nogil=True)
def need_table(coef, rem, nterms):
    """Terms needed at each correlation level, per layer and point.

    ``coef[layer, table, point, term]`` and ``rem[layer, table, point]`` are
    the tables of :func:`sknnk._numerics.series.coefficient_tables`.
    ``need[layer, lev, p]`` is the smallest ``n >= 1`` such that, for every
    table ``b`` of point ``p``, ``r^n e_n <= _ADAPT_TOL e_0`` (``phi``,
    ``phi'``; ``_ADAPT_TOL_GRAD`` for the gradient tables) at
    ``r = lev / LEVELS``, where ``e_n = sum_{n <= k < N} b_k^2 + r_N`` is the
    energy of the terms from ``n`` on (``r_N`` the remainder of the table,
    ``N = nterms[layer]``), but at most the point's own terms (its tables
    are zero from some ``M <= N`` on: more terms add nothing), and those
    ``M`` at the top level ``r = 1``. For a pair of points at ``|rho| <= r``
    whose needs are at most ``n``, Cauchy-Schwarz bounds what the terms from
    ``n`` on contribute by ``r^n sqrt(e_n(x) e_n(y)) <= _ADAPT_TOL
    sqrt(e_0(x) e_0(y))`` relative to ``sqrt(E[phi(u)^2] E[phi(v)^2])`` (or
    that of the derivative), or, where ``M`` is reached, by the table's
    remainder (at most the truncation tolerance of
    :func:`sknnk._numerics.series.layer_tables`), which the added tail
    ``rho^n sqrt(r(x) r(y))`` approximates.
    """
    n_layers, n_tables, n_points, n_max = coef.shape
    need = np.ones((n_layers, LEVELS + 1, n_points), dtype=np.int32)
    e = np.empty(n_max + 1)
    for layer in range(n_layers):
        full = nterms[layer]
        for p in range(n_points):
            top = 1
            for b in range(n_tables):
                c = coef[layer, b, p]
                # the point's own terms: its table is zero from `last` on
                last = full
                while last > 1 and c[last - 1] == 0.0:
                    last -= 1
                top = max(top, last)
                e[full] = rem[layer, b, p]
                for k in range(full - 1, -1, -1):
                    e[k] = e[k + 1] + c[k] * c[k]
                lim = (_ADAPT_TOL if b < 2 else _ADAPT_TOL_GRAD) * e[0]
                if not lim > 0.0:
                    continue
                # the smallest n is nondecreasing in the level: one pass,
                # with power = (lev / LEVELS)^n
                n = 1
                lev = 1
                power = 1.0 / LEVELS
                while lev < LEVELS:
                    if power * e[n] <= lim:
                        need[layer, lev, p] = max(need[layer, lev, p], n)
                        lev += 1
                        power = (lev / LEVELS) ** n
                    elif n >= last:
                        for m in range(lev, LEVELS):
                            need[layer, m, p] = max(need[layer, m, p], last)
                        break
                    else:
                        n += 1
                        power *= lev / LEVELS
            need[layer, LEVELS, p] = top
    return need


@njit(cache=True, nogil=True)
def parity_table(coef, nterms):
    """``par[layer, table]``: 1 if, from ``k = 2`` on, only odd terms are
    nonzero, 0 if only even ones, -1 otherwise.

    ``coef[layer, table, point, term]`` as in :func:`need_table`. Terms 0 and
    1 are summed apart, so that an odd or even function plus an affine one
    (sigmoid, softplus, swish, GELU and their derivatives) has a parity too.
    A class counts as zero when its energy is at most ``_PARITY_TOL2`` of the
    table's at every point (quadrature rounding of an exactly odd or even
    function). Skipping such a class in a series whose two tables both have
    it below the threshold changes the sum by at most
    ``_PARITY_TOL2 sqrt(e_0(x) e_0(y))`` (Cauchy-Schwarz).
    """
    n_layers, n_tables, n_points, _ = coef.shape
    par = np.empty((n_layers, n_tables), dtype=np.int64)
    for layer in range(n_layers):
        n = nterms[layer]
        for b in range(n_tables):
            odd_only = True
            even_only = True
            for p in range(n_points):
                c = coef[layer, b, p]
                tot = 0.0
                for k in range(min(n, 2)):
                    tot += c[k] * c[k]
                ev = 0.0
                od = 0.0
                for k in range(2, n, 2):
                    ev += c[k] * c[k]
                for k in range(3, n, 2):
                    od += c[k] * c[k]
                tot += ev + od
                odd_only = odd_only and ev <= _PARITY_TOL2 * tot
                even_only = even_only and od <= _PARITY_TOL2 * tot
            par[layer, b] = 0 if even_only else (1 if odd_only else -1)
    return par


# --------------------------------------------------------------------------
# Python side: everything one tile needs, and how to compute it
RELU_FAMILY, ERF_FAMILY = "relu", "erf"  # vectorised closed forms (tile_fast)
SERIES_FAMILY, GENERIC_FAMILY = "series", "generic"
RESIDUAL_FAMILY = "residual"  # residual blocks / layer normalisation
_FAST = {RELU_FAMILY: 0, ERF_FAMILY: 1}
_EMPTY_COEF = np.zeros((1, 1, 1, 1))
_EMPTY_REM = np.zeros((1, 1, 1))
_EMPTY_NEED = np.zeros((1, 1, 1), dtype=np.int32)


class GramPlan:
    """Inputs of the tile drivers for one Gram matrix.

    Holds the row points ``X`` (global rows ``xo:``) and the column points
    ``Y`` (global rows ``yo:``), two separate C-contiguous buffers even for a
    symmetric Gram: every tile's gemm is then the same BLAS call (``gemm`` with
    a transposed operand, never ``syrk``) with operands of the same layout,
    whichever process computes it and whatever the subset. ``driver`` is the
    compiled tile driver, ``rows``/``cols``/``diagonal`` its per-point records
    (points on the last axis of every array) and ``consts`` the driver's
    remaining arguments (see the module doc). :meth:`compute` fills one tile
    of an output array; :meth:`subset` restricts the plan to a box of rows and
    columns (what a task on another process needs).

    Attributes read by :mod:`sknnk._parallel`: ``tile``, ``out_dtype``,
    ``n_grad`` and ``want_grad``.
    """

    def __init__(
        self,
        driver,
        tile,
        X,
        Y,
        xo,
        yo,
        rows,
        cols,
        diagonal,
        consts,
        out_dtype,
        n_grad,
        want_grad,
        exps=None,
        d=1,
        typed=False,
    ):  # noqa: E501
        self.exps = exps  # (ex, ey) of rescaled rows (row_exponents), or None
        self.d = d
        # the driver's records have fixed numba types (see _remember): set by
        # make_plan, whose arrays are C-contiguous, writeable, aligned and of
        # the plan's dtype, as are those of subset (contiguous copies)
        self.typed = typed
        self.driver = driver
        self.tile = tile
        self.X = X
        self.Y = Y
        self.xo = xo
        self.yo = yo
        self.rows = rows
        self.cols = cols
        self.diagonal = diagonal
        self.consts = consts
        self.out_dtype = np.dtype(out_dtype)
        self.n_grad = n_grad
        self.want_grad = want_grad

    def __getstate__(self):
        # a plan sent to another process: its arrays may come back read-only
        # (joblib memory-maps large ones), so it dispatches by types there
        state = dict(self.__dict__)
        state["typed"] = False
        return state

    def subset(self, r0, r1, c0, c1):
        """The plan restricted to rows ``r0:r1`` and columns ``c0:c1``."""
        xs = slice(r0 - self.xo, r1 - self.xo)
        ys = slice(c0 - self.yo, c1 - self.yo)
        return GramPlan(
            self.driver,
            self.tile,
            np.ascontiguousarray(self.X[xs]),
            np.ascontiguousarray(self.Y[ys]),
            r0,
            c0,
            _points(self.rows, xs),
            _points(self.cols, ys),
            _points(self.diagonal, xs),
            self.consts,
            self.out_dtype,
            self.n_grad,
            self.want_grad,
            None if self.exps is None else (self.exps[0][xs], self.exps[1][ys]),
            self.d,
            self.typed,
        )

    def compute(self, out, grad, oi, oj, tile, mirror):
        """Fill ``tile = (i0, i1, j0, j1, diagonal)`` of ``out[i - oi, j - oj]``.

        ``mirror`` also writes the transposed tile (``out`` is then the whole
        symmetric output, ``oi = oj = 0``).
        """
        if out.dtype != self.X.dtype:
            self._compute_cast(out, grad, oi, oj, tile, mirror)
            return
        i0, i1, j0, j1, diag = tile
        xo, yo = self.xo, self.yo
        xs, ys = slice(i0 - xo, i1 - xo), slice(j0 - yo, j1 - yo)
        view = out[i0 - oi : i1 - oi, j0 - oj : j1 - oj]
        if self.exps is None:
            np.matmul(self.X[xs], self.Y[ys].T, out=view)
        else:  # rows far from unit scale (the driver's p.dval is then 1)
            ex, ey = self.exps
            scaled_dots(view, self.X[xs], self.Y[ys], ex[xs], ey[ys], self.d)
        where = Tile(oi, oj, i0, i1, j0, j1, diag, mirror, xo, yo)
        args = (out, grad, where, self.rows, self.cols, self.diagonal, *self.consts)
        if self.typed and _plain_arrays((out, grad), out.dtype):
            run = _ENTRY_POINTS.get((self.driver, out.dtype))
            if run is None:
                self.driver(*args)
                _remember(self.driver, args)
                return
            run(*args)
            return
        self.driver(*args)

    def _compute_cast(self, out, grad, oi, oj, tile, mirror):
        """:meth:`compute` through a scratch tile in the plan's dtype."""
        i0, i1, j0, j1, diag = tile
        sk = np.empty((i1 - i0, j1 - j0), dtype=self.X.dtype)
        gshape = (i1 - i0, j1 - j0, grad.shape[2]) if self.want_grad else (0, 0, 0)
        sg = np.empty(gshape, dtype=self.X.dtype)
        self.compute(sk, sg, i0, j0, tile, False)
        rs = slice(i0 - oi, i1 - oi)
        cs = slice(j0 - oj, j1 - oj)
        out[rs, cs] = sk
        if self.want_grad:
            grad[rs, cs] = sg
        if mirror and not diag:
            out[cs, rs] = sk.T
            if self.want_grad:
                grad[cs, rs] = sg.transpose(1, 0, 2)


#: ``(driver, dtype) -> compiled entry point`` of the typed plans (see
#: :func:`_remember`).
_ENTRY_POINTS: dict = {}


def _plain_arrays(items, dtype):
    """Whether every array of ``items`` is C-contiguous, writeable, aligned and
    of ``dtype``: what fixes its numba type, given its number of dimensions."""
    for item in items:
        flags = item.flags
        if not (
            flags.c_contiguous
            and flags.writeable
            and flags.aligned
            and item.dtype == dtype
        ):
            return False
    return True


def _remember(driver, args):
    """Keep the compiled entry point of ``driver`` for ``args``.

    numba types every argument of a dispatcher call to find its compiled
    version, records field by field (several microseconds per call, as much
    as a small tile's work). The fast drivers' arguments have one numba
    type per dtype: their records hold scalars of fixed Python types (made
    by :func:`make_plan` and :meth:`GramPlan.compute`) and arrays of one
    number of dimensions that are C-contiguous, writeable, aligned and of
    the dtype (made so by :func:`make_plan`; :func:`_plain_arrays` checks
    the outputs of each call). Those plans (``typed``) call the entry point
    of that version directly, with the same arguments: the same machine
    code runs.
    """
    sig = tuple(numba.typeof(a) for a in args)
    found = driver.overloads.get(sig)
    if found is not None:
        _ENTRY_POINTS[(driver, args[0].dtype)] = found.entry_point


def _transposed(coef):
    """``coef[layer, table, point, term]`` as ``[layer, table, term, point]``."""
    return np.ascontiguousarray(coef.swapaxes(2, 3))


def _inv_sqrt(q):
    """``1 / sqrt(q)``, 0 where ``q <= 0`` (a positive layer variance is at
    least the smallest normal number, :func:`sknnk._numerics.engine.check_range`,
    so the floor only guards the masked entries)."""
    return np.where(q > 0.0, 1.0 / np.sqrt(np.maximum(q, _TINY)), 0.0)


_TINY = np.finfo(np.float64).tiny


def _points(record, sl):
    """The record with contiguous copies of the points ``sl`` (last axis)."""
    return type(record)(*(np.ascontiguousarray(a[..., sl]) for a in record))


def _entry_tables(points, code, need=False):
    """``(coef, rem, need)`` of a per-entry driver: the transposed series
    tables and, with ``need``, their :func:`need_table`; placeholders (never
    read) otherwise."""
    if code != SERIES:
        return _EMPTY_COEF, _EMPTY_REM, _EMPTY_NEED
    tables = (_transposed(points.coef), points.rem)
    if need:
        return tables + (need_table(points.coef, points.rem, points.nterms),)
    return tables + (_EMPTY_NEED,)


def _exponents(X, points, dtype):
    """``row_exponents(X, dtype)``, taken from ``points`` (the
    :class:`sknnk._numerics.engine.Points` of ``X``) in float64."""
    source, exponents = points.exponents_of
    if source is X and dtype == np.float64:
        return exponents
    return row_exponents(X, dtype)


def family_of(code):
    """Which tile driver evaluates an activation code."""
    if code == SERIES:
        return SERIES_FAMILY
    if code == RELU or code == ABRELU:
        return RELU_FAMILY
    if code == ERF:
        return ERF_FAMILY
    return GENERIC_FAMILY


def make_plan(network, params, X, Y, px, py, diagonal, want_grad, tile, seeds=False):
    """Build the :class:`GramPlan` of ``k(X, Y)`` (``Y is None``: symmetric).

    Parameters
    ----------
    network : sknnk._numerics.engine.Network
        The network (activation, depth, gradient columns, dtype).
    params : LayerParams
        The recursion's scalars (float64).
    X, Y : ndarray
        Row and column points (``Y`` None: ``X``).
    px, py : sknnk._numerics.engine.Points
        Per-point results of the 1-D recursion (``q``, ``dq``) and, for series
        activations, the coefficient tables (``coef``, ``rem``, ``nterms``).
    diagonal : tuple or None
        ``(k, grad)`` of the diagonal of the returned kernel (symmetric case).
    want_grad : bool
        Whether the drivers compute the gradient.
    tile : int
        Side of the tiles.
    seeds : bool
        The plan of :func:`tile_seeds` (the length-scale partials, every
        activation through the per-entry driver, residual/LN networks too;
        :func:`tile_seeds_fast` for the ReLU family and erf): ``px.dg``,
        ``py.dg`` are the diagonal seed derivatives (the fourth rows of
        ``px.residual``'s ``dva``, ``h`` for residual/LN).

    Notes
    -----
    The driver follows the activation's family (:func:`family_of`), except
    for networks with residual blocks or layer normalisation (``px.residual``
    set by :func:`sknnk._numerics.engine.prepare`), which always run
    :func:`tile_residual`.
    """
    spec = network.activation
    code, prm, depth = spec.code, spec.prm, network.depth
    typed = False  # set for the fast drivers (see GramPlan.compute)
    family = family_of(code) if depth > 0 else RELU_FAMILY
    if px.residual is not None:
        # residual blocks / layer normalisation: the per-entry driver for
        # every activation (and depth, for the log branch_scale column)
        family = RESIDUAL_FAMILY
    elif seeds and family == SERIES_FAMILY:
        family = GENERIC_FAMILY
    out_dtype = network.dtype
    dtype = out_dtype
    if family not in _FAST:
        # float32 output of the float64 drivers (one compiled variant each):
        # tiles are computed in float64 and rounded when stored
        dtype = np.float64
    Xc = np.ascontiguousarray(X, dtype=dtype)
    # a separate buffer even when symmetric (see GramPlan)
    Yc = np.array(X if Y is None else Y, dtype=dtype, order="C", copy=True)
    # rows far from unit scale: scaled by powers of two, g formed by
    # scaled_dots and the drivers' division by d made a no-op
    ex = _exponents(X, px, dtype)
    ey = ex if Y is None else _exponents(Y, py, dtype)
    exps = None
    if ex is not None or ey is not None:
        ex = np.zeros(X.shape[0], np.int64) if ex is None else ex
        ey = np.zeros(Yc.shape[0], np.int64) if ey is None else ey
        Xc = np.ascontiguousarray(np.ldexp(Xc, -ex[:, None]), dtype=dtype)
        Yc = np.ascontiguousarray(np.ldexp(Yc, -ey[:, None]), dtype=dtype)
        exps = (ex, ey)
        params = params._replace(dval=1.0)
    if diagonal is None:
        diagonal = (np.zeros(X.shape[0]), np.zeros((2, X.shape[0])))
    diag = Diagonal(*(np.ascontiguousarray(a, dtype=dtype) for a in diagonal))
    task = Task(
        int(depth),
        bool(network.ntk),
        int(network.grad_b),
        int(network.grad_w),
        bool(want_grad),
    )
    if family == RESIDUAL_FAMILY:
        norm = network.normalization == "layer"
        a2 = float(network.branch_scale) ** 2
        task = ResidualTask(*task, network.grad_branch, network.residual, a2, norm)
    p = as_dtype(params, dtype)
    if family in _FAST:
        if code == ABRELU:
            a_, b_ = float(prm[0]), float(prm[1])
            ab_, dd = a_ * b_, (b_ - a_) ** 2
        else:
            ab_, dd = 0.0, 1.0
        table = erf_point_table if family == ERF_FAMILY else relu_point_table
        t = np.dtype(dtype).type
        if seeds:  # the diagonal seed direction: of the rows, of the columns
            none = np.zeros_like(px.dg)
            rows = FastPoints(table(px.q, np.stack([px.dg, none]), dtype))
            cols = FastPoints(table(py.q, np.stack([none, py.dg]), dtype))
            erf = family == ERF_FAMILY
            consts = (erf, (t(ab_), t(dd)), constants(dtype), p, task)
            driver = tile_seeds_fast
        else:
            rows = FastPoints(table(px.q, px.dq, dtype, want_grad))
            cols = rows
            if py is not px:
                cols = FastPoints(table(py.q, py.dq, dtype, want_grad))
            consts = ((t(ab_), t(dd)), constants(dtype), p, task)
            driver = FAST_DRIVERS[_FAST[family] + 2 * bool(want_grad)]
            typed = _plain_arrays(diag, dtype)  # (the tables are new arrays)
    elif family == SERIES_FAMILY:
        # one transposed copy (shared when symmetric); the caller may drop
        # the original tables afterwards
        coef_x = _transposed(px.coef)
        need_x = need_table(px.coef, px.rem, px.nterms)
        rows = SeriesPoints(_inv_sqrt(px.q), px.dq, coef_x, px.rem, need_x)
        par = parity_table(px.coef, px.nterms)
        cols = rows
        if py is not px:
            need_y = need_table(py.coef, py.rem, py.nterms)
            coef_y = _transposed(py.coef)
            cols = SeriesPoints(_inv_sqrt(py.q), py.dq, coef_y, py.rem, need_y)
            par_y = parity_table(py.coef, py.nterms)
            par = np.where(par == par_y, par, -1)
        consts = (par, px.nterms, p, task)
        driver = tile_series
    elif family == RESIDUAL_FAMILY:
        rows = ResidualPoints(*px.residual, *_entry_tables(px, code, True))
        cols = rows
        if py is not px:
            cols = ResidualPoints(*py.residual, *_entry_tables(py, code, True))
        consts = (code, prm, px.nterms, p, task)
        driver = tile_seeds if seeds else tile_residual
    else:
        # (a series here: the per-entry driver on a series, for tests and
        # for the length-scale partials)
        dqx, dqy = (px.dg[None], py.dg[None]) if seeds else (px.dq, py.dq)
        rows = GenericPoints(px.q, dqx, *_entry_tables(px, code, seeds))
        cols = rows
        if py is not px:  # (one copy of the tables when symmetric)
            cols = GenericPoints(py.q, dqy, *_entry_tables(py, code, seeds))
        consts = (code, prm, px.nterms, p, task)
        driver = tile_seeds if seeds else tile_generic
    n_grad = network.n_grad
    return GramPlan(
        driver,
        tile,
        Xc,
        Yc,
        0,
        0,
        rows,
        cols,
        diag,
        consts,
        out_dtype,
        n_grad,
        want_grad,
        exps,
        float(X.shape[1]),
        typed,
    )
