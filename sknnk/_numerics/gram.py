"""Compiled drivers that fill one tile of a Gram matrix (and its gradient).

A *tile* is the block ``rows i0:i1 x columns j0:j1`` of the output. Before a
driver runs, the tile holds the dot products ``x_i . y_j`` (one gemm per tile);
the driver overwrites them with the kernel. Tiles of a symmetric Gram cover its
upper triangle only: a *diagonal tile* (``i0 = j0``, ``i1 = j1``) computes
``j > i``, takes the diagonal from the 1-D recursion and mirrors itself; any
other tile is mirrored to ``(j, i)`` by the driver when the whole output is
shared (threads), or by the caller when tiles are returned (processes).

* :func:`tile_generic` runs the per-entry recursion of
  :func:`sknnk._numerics.recursion.entry` and works for every activation code
  (closed forms through ``closed_form_partials``, and the Hermite series).
* :func:`sknnk._numerics.fast.tile_fast` is the vectorised path of the ReLU
  family (ReLU, leaky ReLU, abs, ABReLU) and of erf.
* :func:`tile_series` evaluates the Hermite series of a whole row segment at
  once (Horner in ``rho`` with the columns in the inner, vectorised loop), in
  ``rho^2`` over one parity for odd or even tables (:func:`parity_table`) and
  with as many terms as the segment's largest ``|rho|`` needs
  (:func:`need_table`).

Every driver addresses the output as ``out[i - oi, j - oj]`` and the per-point
arrays from offsets ``xo``/``yo``, so the same code fills a tile in place in the
full output (offsets 0) or in a separately allocated block.
"""

import math

import numpy as np

from ._jit import njit
from .activations import ABRELU, ERF, RELU, SERIES
from .fast import (
    FASTMATH,
    constants,
    erf_point_table,
    mirror_tile,
    relu_point_table,
    tile_fast,
)
from .recursion import entry


@njit(cache=True, nogil=True)
def tile_generic(
    out,
    grad,
    oi,
    oj,
    i0,
    i1,
    j0,
    j1,
    diag_tile,
    mirror,
    xo,
    yo,
    diag_k,
    diag_grad,
    qx,
    qy,
    dqx,
    dqy,
    code,
    prm,
    coefx,
    coefy,
    remx,
    remy,
    nterms,
    sw2,
    sb2,
    alpha0,
    beta0,
    alpha,
    beta,
    ntk_param,
    depth,
    dval,
    ib,
    iw,
    kind,
    want_grad,
):
    """Fill one tile entry by entry (any activation code); see module doc."""
    for i in range(i0, i1):
        ri = i - oi
        xi = i - xo
        js = j0
        if diag_tile:
            js = i + 1
            out[ri, i - oj] = diag_k[xi]
            if want_grad:
                if ib >= 0:
                    grad[ri, i - oj, ib] = diag_grad[0, xi]
                if iw >= 0:
                    grad[ri, i - oj, iw] = diag_grad[1, xi]
        for j in range(js, j1):
            cj = j - oj
            s, t, ds_b, ds_w, dt_b, dt_w = entry(
                out[ri, cj] / dval,
                xi,
                j - yo,
                qx,
                qy,
                dqx,
                dqy,
                code,
                prm,
                coefx,
                coefy,
                remx,
                remy,
                nterms,
                sw2,
                sb2,
                alpha0,
                beta0,
                alpha,
                beta,
                ntk_param,
                depth,
                want_grad,
            )
            if kind == 1:
                out[ri, cj] = t
                d_b, d_w = dt_b, dt_w
            else:
                out[ri, cj] = s
                d_b, d_w = ds_b, ds_w
            if want_grad:
                if ib >= 0:
                    grad[ri, cj, ib] = d_b
                if iw >= 0:
                    grad[ri, cj, iw] = d_w
    if diag_tile or mirror:
        mirror_tile(out, grad, oi, oj, i0, i1, j0, j1, diag_tile, want_grad)


# number of correlation levels of the truncation tables (see need_table)
LEVELS = 64
# columns of a row segment that share one number of terms
CHUNK = 64
# relative bound on what the adaptive truncation of a row segment omits
_ADAPT_TOL = 1e-15
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
    f, g, fa, fb, ga, gb, gc, rho, rho2, lo, hi, xi, y0, layer, coefxt, coefyt,
    remx, remy, needx, ncol, par, full, want_grad,
):  # fmt: skip
    """The series of one layer for the columns ``lo:hi`` of a row segment.

    ``F`` into ``f``, ``G`` into ``g`` and, with ``want_grad``, the series of
    the partials into ``fa, fb, ga, gb, gc``, with the number of terms that
    the largest ``|rho|`` of the chunk needs (see :func:`tile_series`).
    """
    w = hi - lo
    yc = y0 + lo
    rmax = 0.0
    for k in range(lo, hi):
        rmax = max(rmax, abs(rho[k]))
    lev = min(LEVELS, int(rmax * LEVELS) + 1)
    n = min(full, max(needx[layer, lev, xi], ncol[layer, lev]))
    fc = f[lo:hi]
    gk = g[lo:hi]
    if n >= full:
        # F and G with the tail rho^n sqrt(r_n(a) r_n(b))
        for k in range(w):
            fc[k] = math.sqrt(remx[layer, 0, xi] * remy[layer, 0, yc + k])
            gk[k] = math.sqrt(remx[layer, 1, xi] * remy[layer, 1, yc + k])
    else:
        for k in range(w):
            fc[k] = 0.0
            gk[k] = 0.0
    r = rho[lo:hi]
    r2 = rho2[lo:hi]
    cx = coefxt[layer]
    cy = coefyt[layer]
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
def tile_series(
    out,
    grad,
    oi,
    oj,
    i0,
    i1,
    j0,
    j1,
    diag_tile,
    mirror,
    xo,
    yo,
    diag_k,
    diag_grad,
    iqx,
    iqy,
    dqx,
    dqy,
    coefxt,
    coefyt,
    remx,
    remy,
    needx,
    needy,
    par,
    nterms,
    sw2,
    sb2,
    alpha0,
    beta0,
    alpha,
    beta,
    ntk_param,
    depth,
    dval,
    ib,
    iw,
    kind,
    want_grad,
):
    """Fill one tile for an activation evaluated by its Hermite series.

    Same recursion as :func:`sknnk._numerics.recursion.entry` with
    ``_series_partials``, but a whole row segment at a time: each series
    ``sum_k a_k(x) b_k(y_j) rho_j^k`` (plus its Cauchy-Schwarz tail) is
    evaluated by Horner's rule with the columns ``j`` in the inner loop, for
    which the tables are transposed from the layout of
    :func:`sknnk._numerics.series.coefficient_tables`:
    ``coefxt[layer, table, term, point]`` (rows) and ``coefyt`` (columns),
    the same array for a symmetric Gram. ``iqx``/``iqy`` are ``1 / sqrt(q)``
    of the points at every layer (0 where ``q = 0``: ``rho = 0`` there).

    Two savings, neither of which loosens the truncation bound:

    * ``par[layer, table]`` (:func:`parity_table`): a table whose terms of one
      parity vanish (odd or even activations) is summed over the other parity
      only, in ``rho^2``.
    * The number of terms of ``CHUNK`` columns of a row segment at a layer is
      the smallest ``n`` for which ``|rho|^n`` times the tail energies of their
      points is below ``_ADAPT_TOL`` (``needx``/``needy``, :func:`need_table`,
      at the level just above the chunk's largest ``|rho|``); the full
      ``nterms`` and its Cauchy-Schwarz tail when ``|rho|`` reaches the top
      level (:func:`_chunk_series`).
    """
    width = j1 - j0
    s = np.empty(width)
    t = np.empty(width)
    rho = np.empty(width)
    rho2 = np.empty(width)
    f = np.empty(width)
    g = np.empty(width)
    nb = width if want_grad else 0
    dsb = np.empty(nb)
    dsw = np.empty(nb)
    dtb = np.empty(nb)
    dtw = np.empty(nb)
    fa = np.empty(nb)
    fb = np.empty(nb)
    ga = np.empty(nb)
    gb = np.empty(nb)
    gc = np.empty(nb)
    # terms needed by the columns of the tile at every layer and level
    ncol = np.zeros((depth, LEVELS + 1), dtype=np.int64)
    for layer in range(depth):
        for lev in range(LEVELS + 1):
            for j in range(j0, j1):
                ncol[layer, lev] = max(ncol[layer, lev], needy[layer, lev, j - yo])
    for i in range(i0, i1):
        ri = i - oi
        xi = i - xo
        js = j0
        if diag_tile:
            js = i + 1
            out[ri, i - oj] = diag_k[xi]
            if want_grad:
                if ib >= 0:
                    grad[ri, i - oj, ib] = diag_grad[0, xi]
                if iw >= 0:
                    grad[ri, i - oj, iw] = diag_grad[1, xi]
        w = j1 - js
        if w <= 0:
            continue
        c0 = js - oj
        y0 = js - yo
        for k in range(w):
            gij = out[ri, c0 + k] / dval
            s[k] = sw2 * gij + sb2
            t[k] = alpha0 * gij + beta0
            if want_grad:
                dsb[k] = 2.0 * sb2
                dsw[k] = 2.0 * sw2 * gij
                dtb[k] = dsb[k] if ntk_param else 0.0
                dtw[k] = dsw[k] if ntk_param else 0.0
        dalpha_w = 2.0 * sw2 if ntk_param else 0.0
        dbeta_b = 2.0 * sb2 if ntk_param else 0.0
        for layer in range(depth):
            ia = iqx[layer, xi]
            for k in range(w):
                r = min(1.0, max(-1.0, s[k] * (ia * iqy[layer, y0 + k])))
                rho[k] = r
                rho2[k] = r * r
            for lo in range(0, w, CHUNK):
                _chunk_series(
                    f, g, fa, fb, ga, gb, gc, rho, rho2, lo, min(w, lo + CHUNK),
                    xi, y0, layer, coefxt, coefyt, remx, remy, needx, ncol, par,
                    nterms[layer], want_grad,
                )  # fmt: skip
            if not want_grad:
                for k in range(w):
                    t[k] = alpha * f[k] + beta + sw2 * g[k] * t[k]
                    s[k] = sw2 * f[k] + sb2
                continue
            dqxb = dqx[0, layer, xi]
            dqxw = dqx[1, layer, xi]
            for k in range(w):
                yk = y0 + k
                fk = f[k]
                gk = g[k]
                tk = t[k]
                df_b = 0.5 * fa[k] * dqxb + 0.5 * fb[k] * dqy[0, layer, yk]
                df_b += gk * dsb[k]
                df_w = 0.5 * fa[k] * dqxw + 0.5 * fb[k] * dqy[1, layer, yk]
                df_w += gk * dsw[k]
                dg_b = 0.5 * ga[k] * dqxb + 0.5 * gb[k] * dqy[0, layer, yk]
                dg_b += gc[k] * dsb[k]
                dg_w = 0.5 * ga[k] * dqxw + 0.5 * gb[k] * dqy[1, layer, yk]
                dg_w += gc[k] * dsw[k]
                dtb[k] = alpha * df_b + dbeta_b + sw2 * dg_b * tk + sw2 * gk * dtb[k]
                dtw[k] = (
                    dalpha_w * fk
                    + alpha * df_w
                    + 2.0 * sw2 * gk * tk
                    + sw2 * dg_w * tk
                    + sw2 * gk * dtw[k]
                )
                dsb[k] = sw2 * df_b + 2.0 * sb2
                dsw[k] = 2.0 * sw2 * fk + sw2 * df_w
                t[k] = alpha * fk + beta + sw2 * gk * tk
                s[k] = sw2 * fk + sb2
        res = t if kind == 1 else s
        for k in range(w):
            out[ri, c0 + k] = res[k]
        if want_grad:
            rb = dtb if kind == 1 else dsb
            rw = dtw if kind == 1 else dsw
            if ib >= 0:
                for k in range(w):
                    grad[ri, c0 + k, ib] = rb[k]
            if iw >= 0:
                for k in range(w):
                    grad[ri, c0 + k, iw] = rw[k]
    if diag_tile or mirror:
        mirror_tile(out, grad, oi, oj, i0, i1, j0, j1, diag_tile, want_grad)


@njit(cache=True, nogil=True)
def need_table(coef, rem, nterms):
    """Terms needed at each correlation level, per layer and point.

    ``coef[layer, table, point, term]`` and ``rem[layer, table, point]`` are
    the tables of :func:`sknnk._numerics.series.coefficient_tables`.
    ``need[layer, lev, p]`` is the smallest ``n >= 1`` such that, for every
    table ``b`` of point ``p``, ``r^n e_n <= _ADAPT_TOL e_0`` at
    ``r = lev / LEVELS``, where ``e_n = sum_{n <= k < N} b_k^2 + r_N`` is the
    energy of the terms from ``n`` on (``r_N`` the remainder of the table,
    ``N = nterms[layer]``); ``N`` at the top level ``r = 1``. For a pair of
    points at ``|rho| <= r`` whose needs are at most ``n``, Cauchy-Schwarz
    bounds what the terms from ``n`` on contribute by
    ``r^n sqrt(e_n(x) e_n(y)) <= _ADAPT_TOL sqrt(e_0(x) e_0(y))``, relative to
    ``sqrt(E[phi(u)^2] E[phi(v)^2])`` (or that of the derivative).
    """
    n_layers, n_tables, n_points, n_max = coef.shape
    need = np.ones((n_layers, LEVELS + 1, n_points), dtype=np.int32)
    # powers[lev, n] = (lev / LEVELS)^n
    powers = np.empty((LEVELS, n_max + 1))
    for lev in range(LEVELS):
        powers[lev, 0] = 1.0
        for n in range(1, n_max + 1):
            powers[lev, n] = powers[lev, n - 1] * (lev / LEVELS)
    e = np.empty(n_max + 1)
    for layer in range(n_layers):
        full = nterms[layer]
        for p in range(n_points):
            need[layer, LEVELS, p] = full
            for b in range(n_tables):
                c = coef[layer, b, p]
                e[full] = rem[layer, b, p]
                for k in range(full - 1, -1, -1):
                    e[k] = e[k + 1] + c[k] * c[k]
                lim = _ADAPT_TOL * e[0]
                if not lim > 0.0:
                    continue
                # the smallest n is nondecreasing in the level: one pass
                n = 1
                lev = 1
                while lev < LEVELS:
                    if powers[lev, n] * e[n] <= lim:
                        need[layer, lev, p] = max(need[layer, lev, p], n)
                        lev += 1
                    elif n >= full:
                        for m in range(lev, LEVELS):
                            need[layer, m, p] = full
                        break
                    else:
                        n += 1
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
_FAST = {RELU_FAMILY: 0, ERF_FAMILY: 1}


class GramPlan:
    """Inputs of the tile drivers for one Gram matrix.

    Holds the row points ``X`` (global rows ``xo:``) and the column points
    ``Y`` (global rows ``yo:``), two separate C-contiguous buffers even for a
    symmetric Gram: every tile's gemm is then the same BLAS call (``gemm`` with
    a transposed operand, never ``syrk``) with operands of the same layout,
    whichever process computes it and whatever the subset. ``rows``/``cols``
    are dicts of the per-point arrays of the chosen family (last axis over
    points, except ``coef[layer, table, point, term]``) and ``static`` holds the
    scalars and constant arrays of the recursion. :meth:`compute` fills one tile
    of an output array; :meth:`subset` restricts the plan to a box of rows and
    columns (what a task on another process needs).
    """

    def __init__(self, family, tile, X, Y, xo, yo, rows, cols, static):
        self.family = family
        self.tile = tile
        self.X = X
        self.Y = Y
        self.xo = xo
        self.yo = yo
        self.rows = rows
        self.cols = cols
        self.static = static

    def subset(self, r0, r1, c0, c1):
        """The plan restricted to rows ``r0:r1`` and columns ``c0:c1``."""
        xs = slice(r0 - self.xo, r1 - self.xo)
        ys = slice(c0 - self.yo, c1 - self.yo)
        t = self.tile
        return GramPlan(
            self.family,
            t,
            np.ascontiguousarray(self.X[xs]),
            np.ascontiguousarray(self.Y[ys]),
            r0,
            c0,
            {k: _points(k, v, xs) for k, v in self.rows.items()},
            {k: _points(k, v, ys) for k, v in self.cols.items()},
            self.static,
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
        np.matmul(
            self.X[i0 - xo : i1 - xo],
            self.Y[j0 - yo : j1 - yo].T,
            out=out[i0 - oi : i1 - oi, j0 - oj : j1 - oj],
        )
        sc = self.static
        r, c = self.rows, self.cols
        if self.family in _FAST:
            tile_fast(
                _FAST[self.family], out, grad, oi, oj, i0, i1, j0, j1, diag, mirror,
                r["P"], c["P"], xo, yo, r["diag_k"], r["diag_grad"],
                sc["cst"], sc["rp"], sc["ib"], sc["iw"], sc["kind"],
                sc["ntk_param"], sc["depth"], sc["want_grad"],
            )  # fmt: skip
        elif self.family == SERIES_FAMILY:
            tile_series(
                out, grad, oi, oj, i0, i1, j0, j1, diag, mirror, xo, yo,
                r["diag_k"], r["diag_grad"], r["iq"], c["iq"], r["dq"], c["dq"],
                r["coefT"], c["coefT"], r["rem"], c["rem"], r["need"], c["need"],
                sc["par"], sc["nterms"], *sc["p"], sc["depth"], sc["d"], sc["ib"],
                sc["iw"], sc["kind"],
                sc["want_grad"],
            )  # fmt: skip
        else:
            tile_generic(
                out, grad, oi, oj, i0, i1, j0, j1, diag, mirror, xo, yo,
                r["diag_k"], r["diag_grad"], r["q"], c["q"], r["dq"], c["dq"],
                sc["code"], sc["prm"], r.get("coef", sc.get("coef")),
                c.get("coef", sc.get("coef")), r.get("rem", sc.get("rem")),
                c.get("rem", sc.get("rem")), sc["nterms"], *sc["p"],
                sc["depth"], sc["d"], sc["ib"], sc["iw"], sc["kind"],
                sc["want_grad"],
            )  # fmt: skip

    def _compute_cast(self, out, grad, oi, oj, tile, mirror):
        """:meth:`compute` through a scratch tile in the plan's dtype."""
        i0, i1, j0, j1, diag = tile
        want_grad = self.static["want_grad"]
        sk = np.empty((i1 - i0, j1 - j0), dtype=self.X.dtype)
        gshape = (i1 - i0, j1 - j0, grad.shape[2]) if want_grad else (0, 0, 0)
        sg = np.empty(gshape, dtype=self.X.dtype)
        self.compute(sk, sg, i0, j0, tile, False)
        rs = slice(i0 - oi, i1 - oi)
        cs = slice(j0 - oj, j1 - oj)
        out[rs, cs] = sk
        if want_grad:
            grad[rs, cs] = sg
        if mirror and not diag:
            out[cs, rs] = sk.T
            if want_grad:
                grad[cs, rs] = sg.transpose(1, 0, 2)


def _transposed(coef):
    """``coef[layer, table, point, term]`` as ``[layer, table, term, point]``."""
    return np.ascontiguousarray(coef.swapaxes(2, 3))


def _inv_sqrt(q):
    """``1 / sqrt(q)``, 0 where ``q <= 0``."""
    return np.where(q > 0.0, 1.0 / np.sqrt(np.maximum(q, 1e-300)), 0.0)


def _points(key, a, sl):
    """Contiguous copy of the points ``sl`` of a per-point array."""
    if key == "coef":
        return np.ascontiguousarray(a[..., sl, :])
    return np.ascontiguousarray(a[..., sl])


def family_of(code):
    """Which tile driver evaluates an activation code."""
    if code == SERIES:
        return SERIES_FAMILY
    if code == RELU or code == ABRELU:
        return RELU_FAMILY
    if code == ERF:
        return ERF_FAMILY
    return GENERIC_FAMILY


def make_plan(
    code,
    prm,
    X,
    Y,
    px,
    py,
    diag_k,
    diag_grad,
    recursion_params,
    kind,
    depth,
    ib,
    iw,
    n_grad,
    want_grad,
    dtype,
    tile,
):
    """Build the :class:`GramPlan` of ``k(X, Y)`` (``Y is None``: symmetric).

    ``px``/``py`` carry the per-point results of the 1-D recursion (``q``,
    ``dq``) and, for series activations, the coefficient tables (``coef``,
    ``rem``, ``nterms``); ``diag_k``/``diag_grad`` are the diagonal values of
    the returned kernel (symmetric case).
    """
    sw2, sb2, alpha0, beta0, alpha, beta, ntk_param = recursion_params
    d = X.shape[1]
    family = family_of(code) if depth > 0 else RELU_FAMILY
    out_dtype = dtype
    if family not in _FAST:
        # float32 output of the float64 drivers (one compiled variant each):
        # tiles are computed in float64 and rounded when stored
        dtype = np.float64
    Xc = np.ascontiguousarray(X, dtype=dtype)
    # a separate buffer even when symmetric (see GramPlan)
    Yc = np.array(X if Y is None else Y, dtype=dtype, order="C", copy=True)
    if diag_k is None:
        diag_k = np.zeros(X.shape[0])
        diag_grad = np.zeros((2, X.shape[0]))
    static = dict(
        out_dtype=np.dtype(out_dtype),
        depth=depth,
        kind=kind,
        ib=ib,
        iw=iw,
        n_grad=n_grad,
        want_grad=want_grad,
        ntk_param=ntk_param,
        d=float(d),
        p=(sw2, sb2, alpha0, beta0, alpha, beta, ntk_param),
    )
    rows = {}
    cols = {}
    if family in _FAST:
        if code == ABRELU:
            a_, b_ = float(prm[0]), float(prm[1])
            ab_, dd = a_ * b_, (b_ - a_) ** 2
        else:
            ab_, dd = 0.0, 1.0
        dalpha_w = 2.0 * sw2 if ntk_param else 0.0
        dbeta_b = 2.0 * sb2 if ntk_param else 0.0
        static["cst"] = constants(dtype)
        static["rp"] = np.array(
            [sw2, sb2, alpha0, beta0, alpha, beta, dalpha_w, dbeta_b, d, ab_, dd],
            dtype=dtype,
        )
        table = erf_point_table if family == ERF_FAMILY else relu_point_table
        rows["P"] = table(px.q, px.dq, dtype)
        cols["P"] = rows["P"] if py is px else table(py.q, py.dq, dtype)
        rows["diag_k"] = np.asarray(diag_k, dtype=dtype)
        rows["diag_grad"] = np.asarray(diag_grad, dtype=dtype)
    else:
        rows.update(diag_k=diag_k, diag_grad=diag_grad, q=px.q, dq=px.dq)
        cols.update(q=py.q, dq=py.dq)
        static.update(code=code, prm=prm, nterms=px.nterms)
        if family == SERIES_FAMILY:
            # one transposed copy (shared when symmetric); the caller may drop
            # the original tables afterwards
            rows.update(coefT=_transposed(px.coef), rem=px.rem)
            coef_t = rows["coefT"] if py is px else _transposed(py.coef)
            cols.update(rem=py.rem, coefT=coef_t)
            rows["iq"] = _inv_sqrt(px.q)
            cols["iq"] = rows["iq"] if py is px else _inv_sqrt(py.q)
            rows["need"] = need_table(px.coef, px.rem, px.nterms)
            par = parity_table(px.coef, px.nterms)
            cols["need"] = rows["need"]
            if py is not px:
                cols["need"] = need_table(py.coef, py.rem, py.nterms)
                par_y = parity_table(py.coef, py.nterms)
                par = np.where(par == par_y, par, -1)
            static["par"] = par
        elif code == SERIES:  # the per-entry driver on a series (tests)
            rows.update(coef=px.coef, rem=px.rem)
            cols.update(coef=py.coef, rem=py.rem)
        else:  # placeholders, never read by closed forms
            static.update(coef=px.coef, rem=px.rem)
    return GramPlan(family, tile, Xc, Yc, 0, 0, rows, cols, static)
