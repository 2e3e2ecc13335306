"""Vectorised tile driver of the ReLU family and erf, and the drivers' row helpers.

The generic per-entry recursion (:func:`sknnk._numerics.recursion.entry`) calls
``atan2`` or ``asin`` once per entry and layer, which LLVM cannot vectorise.
Here the depth recursion runs *row by row*: for one row ``i`` of a tile, every
layer is one loop over a contiguous segment of columns, with the per-point
quantities of the row hoisted out and those of the columns read from
contiguous arrays (1-D views, so that indices need no wraparound checks), and
LLVM emits SIMD code (AVX2: 4 doubles or 8 floats per instruction).

Angles come from a branch-free polynomial instead of a libm call:

.. math::

    \\arcsin y = y + y z P(z), \\qquad z = y^2 \\in [0, 1/4],

with ``P`` of degree 12 fitted (Lawson-weighted least squares in 50-digit
arithmetic, ``benchmarks/arccos_accuracy.py --refit``) to a maximum error of
1.3e-17. For ``|rho| <= 1/2``, ``theta = pi/2 - arcsin(rho)``; for
``|rho| > 1/2`` the half-angle form ``theta = 2 arcsin(sqrt((1 - |rho|) / 2))``
(reflected for ``rho < 0``) is used, where ``1 - |rho|`` is exact (Sterbenz).
Both branches share one polynomial evaluation and are selected without
branches. The ReLU kernels need ``pi - theta`` (never ``theta`` alone), which
is returned directly: measured against ``math.acos(-rho)`` over [-1, 1] (4e6
points plus the 2000 doubles nearest to each end) the maximum absolute error is
4.4e-16, one ulp of ``pi`` (the ``atan2`` form has the same), and near
``rho = -1``, where ``pi - theta`` is small, the relative error stays below one
ulp. :func:`arcsin_poly` (erf) is within 2 ulps of ``math.asin``, relative
accuracy included for small arguments.

The correlation is clipped to [-1, 1] and snapped to +-1 within
``_RHO_SNAP`` by :func:`sknnk._numerics.layer.correlation`, as for every
other activation, so
duplicate inputs get identical values, and ``sin(theta)`` is
``sqrt((1 - rho)(1 + rho))`` as there.

The kernels are generic in the floating type: every constant comes from the
array :func:`constants` in the dtype of the computation, so float32 inputs
compile to pure single-precision SIMD code (8 lanes).

``FASTMATH`` is the one vetted set of LLVM fast-math flags of the package:
``contract`` (fused multiply-add) and ``nsz`` (signed zeros), nothing that
assumes finite or non-NaN values and no reassociation, so results do not
depend on the vector width or on how a loop is split.
"""

import math

import numpy as np

from ._jit import njit
from .activations import _RHO_SNAP, erf_pair
from .layer import correlation, dense, dense_value, seed

#: The only fast-math flags used in sknnk (no nnan/ninf/reassoc/afn/arcp).
FASTMATH = {"contract", "nsz"}

# arcsin(y) = y + y z P(z), z = y^2 in [0, 1/4]; max |error of P| = 1.3e-17
_ASIN_COEF = (
    0.16666666666666669,
    0.0749999999999824,
    0.044642857146723634,
    0.030381944110940192,
    0.022372174009716927,
    0.017352368360421217,
    0.013971565221567308,
    0.011475825605414358,
    0.010344084715321873,
    0.005368372396045098,
    0.01763770724079084,
    -0.015213307401721044,
    0.028999128756133936,
)

# layout of the constants array ``cst`` (dtype of the computation)
_ONE, _HALF, _PI, _HPI, _INV2PI, _SNAP, _INV4PI, _ZERO = range(8)
_C0 = 8


def constants(dtype):
    """Constants of the tile kernels in ``dtype`` (float64 or float32).

    The snapping threshold scales with the precision: ``_RHO_SNAP`` is 18
    units of float64 rounding, and the same 18 units are used for float32.
    """
    dtype = np.dtype(dtype)
    if dtype in _CONSTANTS:
        return _CONSTANTS[dtype]
    eps = np.finfo(dtype).eps
    snap = _RHO_SNAP if dtype == np.float64 else _RHO_SNAP / np.finfo(float).eps * eps
    vals = [1.0, 0.5, math.pi, 0.5 * math.pi, 1.0 / (2.0 * math.pi), 1.0 - snap]
    vals += [1.0 / (4.0 * math.pi), 0.0]
    vals += list(_ASIN_COEF)
    cst = np.array(vals, dtype=dtype)  # one per dtype, shared by every call
    _CONSTANTS[dtype] = cst
    return cst


_CONSTANTS = {}


@njit(cache=True, nogil=True, inline="always")
def unpack(cst):
    """The constants array as a tuple: its entries then live in registers."""
    return (cst[0], cst[1], cst[2], cst[3], cst[4], cst[5], cst[6], cst[7]) + (
        cst[8],
        cst[9],
        cst[10],
        cst[11],
        cst[12],
        cst[13],
        cst[14],
        cst[15],
        cst[16],
        cst[17],
        cst[18],
        cst[19],
        cst[20],
    )


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _asin_reduced(ax, om, k):
    """``(arcsin(y), big)`` of the reduced argument of ``ax = |x|`` in [0, 1]:
    ``y = ax`` if ``ax <= 1/2`` (``big`` False), else
    ``y = sqrt(om / 2)`` with ``om = 1 - ax`` (see the module doc; a caller
    that knows ``1 - ax`` more accurately than its rounded difference passes
    it); ``k`` as in :func:`pi_minus_arccos`."""
    half = k[_HALF]
    big = ax > half
    zb = om * half
    z = zb if big else ax * ax
    y = math.sqrt(zb) if big else ax
    p = k[_C0 + 12]
    p = p * z + k[_C0 + 11]
    p = p * z + k[_C0 + 10]
    p = p * z + k[_C0 + 9]
    p = p * z + k[_C0 + 8]
    p = p * z + k[_C0 + 7]
    p = p * z + k[_C0 + 6]
    p = p * z + k[_C0 + 5]
    p = p * z + k[_C0 + 4]
    p = p * z + k[_C0 + 3]
    p = p * z + k[_C0 + 2]
    p = p * z + k[_C0 + 1]
    p = p * z + k[_C0]
    return y + y * z * p, big


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def pi_minus_arccos(rho, k):
    """``pi - arccos(rho)`` for ``rho`` in [-1, 1], branch-free (see module doc).

    ``k`` is :func:`unpack` of :func:`constants`.
    """
    ar = abs(rho)
    r, big = _asin_reduced(ar, k[_ONE] - ar, k)
    r2 = r + r
    pos = rho > k[_ZERO]
    # |rho| <= 1/2: pi - (pi/2 - arcsin(rho)) = pi/2 + arcsin(rho)
    small = k[_HPI] + (r if pos else -r)
    # |rho| > 1/2: theta = 2 r (rho > 0) or pi - 2 r (rho < 0)
    large = k[_PI] - r2 if pos else r2
    return large if big else small


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def arcsin_poly(x, k):
    """``arcsin(x)`` for ``x`` in [-1, 1], branch-free, with the polynomial of
    :func:`pi_minus_arccos` (relative accuracy kept for small ``|x|``)."""
    ax = abs(x)
    return arcsin_om(x, k[_ONE] - ax, k)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def arcsin_om(x, om, k):
    """``arcsin(x)`` as :func:`arcsin_poly`, given ``om = 1 - |x|`` (formed
    without cancellation by the caller, e.g. erf's ``(1 - x^2) / (1 + |x|)``):
    accurate to a few ulps of ``pi/2 - arcsin|x|`` even as ``|x| -> 1``."""
    r, big = _asin_reduced(abs(x), om, k)
    a = k[_HPI] - (r + r) if big else r  # arcsin(|x|)
    return a if x >= k[_ZERO] else -a


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def polynomial_array(x, cst, arcsin):
    """Vectorised :func:`arcsin_poly` (``arcsin=True``) or
    :func:`pi_minus_arccos` (for the accuracy checks)."""
    out = np.empty_like(x)
    k = unpack(cst)
    for i in range(x.shape[0]):
        out[i] = arcsin_poly(x[i], k) if arcsin else pi_minus_arccos(x[i], k)
    return out


# per-point fields of the tables ``P[layer, field, point]`` of the fast paths;
# ReLU family: sqrt(q), 1/sqrt(q), dq/sqrt(q) (b, w), dq/q (b, w), unused;
# erf: 1/sqrt(q), r = 1/sqrt(A), dq (b, w), dq/A (b, w), sqrt(2q/A) (A = 1 + 2q)
F_SQ, F_RS, F_UB, F_UW, F_VB, F_VW, F_H = range(7)
N_FIELDS = 7


def relu_point_table(q, dq, dtype, want_grad=True):
    """Per-point quantities of the ReLU-family kernel at every layer.

    ``q`` (depth + 1, n) are the layer variances and ``dq`` (2, depth + 1, n)
    their derivatives in ``(log sigma_b, log sigma_w)``. Returns ``P`` of shape
    (depth, N_FIELDS, n): ``sqrt(q)``, ``1/sqrt(q)``, ``dq/sqrt(q)`` (two
    columns) and ``dq/q`` (two columns), with 0 in place of ``1/sqrt(q)`` and
    ``dq/q`` where ``q = 0`` (the correlation is then taken as 0, as in
    :func:`sknnk._numerics.activations._rho`). Without ``want_grad`` the
    derivative fields (``F_UB`` to ``F_VW``, read only by the gradient
    drivers) are 0 and ``dq`` is not read.
    """
    depth = q.shape[0] - 1
    qq = q[:depth]
    pos = qq > 0.0
    sq = np.sqrt(qq)
    rs = np.zeros_like(qq)
    np.divide(1.0, sq, out=rs, where=pos)
    P = np.zeros((depth, N_FIELDS, q.shape[1]), dtype=dtype)
    P[:, F_SQ] = sq
    P[:, F_RS] = rs
    if want_grad:
        inv = np.zeros_like(qq)
        np.divide(1.0, qq, out=inv, where=pos)
        P[:, F_UB] = dq[0, :depth] * rs
        P[:, F_UW] = dq[1, :depth] * rs
        P[:, F_VB] = dq[0, :depth] * inv
        P[:, F_VW] = dq[1, :depth] * inv
    return P


def erf_point_table(q, dq, dtype, want_grad=True):
    """Per-point quantities of the erf kernel: ``1/sqrt(q)`` (0 where
    ``q = 0``), ``r = 1/sqrt(A)``, ``dq``, ``dq / A`` (two columns each) and
    ``t = sqrt(2q / A)`` (``A = 1 + 2q``; see
    :func:`sknnk._numerics.activations.erf_pair`), shape
    (depth, N_FIELDS, n), all bounded but ``dq`` and ``1/sqrt(q)``. Without
    ``want_grad`` the derivative fields are 0 (see :func:`relu_point_table`).
    """
    depth = q.shape[0] - 1
    qq = q[:depth]
    rs = np.zeros_like(qq)
    np.divide(1.0, np.sqrt(qq), out=rs, where=qq > 0.0)
    r = 1.0 / np.sqrt(1.0 + 2.0 * qq)
    P = np.zeros((depth, N_FIELDS, q.shape[1]), dtype=dtype)
    P[:, F_SQ] = rs
    P[:, F_RS] = r
    if want_grad:
        r2 = r * r
        P[:, F_UB] = dq[0, :depth]
        P[:, F_UW] = dq[1, :depth]
        P[:, F_VB] = dq[0, :depth] * r2
        P[:, F_VW] = dq[1, :depth] * r2
    P[:, F_H] = np.sqrt(qq + qq) * r
    return P


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _relu_fg(sk, sqx, rsx, sqy, rsy, ab_, dd, kc):
    """``(F, G)`` of ``ab c + dd sqrt(a b) k1``, ``ab + dd k0`` (ReLU family)."""
    one = kc[_ONE]
    inv2pi = kc[_INV2PI]
    rho = correlation(sk, rsx, rsy, kc[_SNAP])
    pmt = pi_minus_arccos(rho, kc)
    sin_t = math.sqrt((one - rho) * (one + rho))
    f = ab_ * sk + dd * (sqx * sqy) * ((sin_t + pmt * rho) * inv2pi)
    return f, ab_ + dd * (pmt * inv2pi)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _relu_all(sk, dsb, dsw, x, y, ab_, dd, kc):
    """``(F, G, dF_b, dF_w, dG_b, dG_w)`` of the ReLU family; ``x``/``y`` are
    the six fields of the two points (see :func:`relu_point_table`)."""
    one = kc[_ONE]
    zero = kc[_ZERO]
    inv2pi = kc[_INV2PI]
    sqx, rsx, uxb, uxw, vxb, vxw = x
    sqy, rsy, uyb, uyw, vyb, vyw = y
    rr = rsx * rsy
    rho = correlation(sk, rsx, rsy, kc[_SNAP])
    pmt = pi_minus_arccos(rho, kc)
    sin_t = math.sqrt((one - rho) * (one + rho))
    f = ab_ * sk + dd * (sqx * sqy) * ((sin_t + pmt * rho) * inv2pi)
    g = ab_ + dd * (pmt * inv2pi)
    # F_a dq_x + F_b dq_y = dd sin / (4 pi) (sq_y u_x + sq_x u_y); F_c = G
    fs = dd * sin_t * kc[_INV4PI]
    df_b = fs * (sqy * uxb + sqx * uyb) + g * dsb
    df_w = fs * (sqy * uxw + sqx * uyw) + g * dsw
    # dG = dd drho / (2 pi sin), drho = ds rr - rho/2 (dq_x/q_x + dq_y/q_y);
    # 0 where sin = 0 (rho = +-1 does not move with the hyperparameters)
    gs = dd * inv2pi / sin_t if sin_t > zero else zero
    rh = kc[_HALF] * rho
    dg_b = gs * (dsb * rr - rh * (vxb + vyb))
    dg_w = gs * (dsw * rr - rh * (vxw + vyw))
    return f, g, df_b, df_w, dg_b, dg_w


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")
def _erf_fg(sk, rqx, rx, tx, rqy, ry, ty, kc):
    """``(F, G)`` of erf: ``2/pi asin(x)``, ``4/pi r_x r_y / sqrt(Dn)`` with
    ``x, Dn`` of :func:`sknnk._numerics.activations.erf_pair` (fields of
    :func:`erf_point_table`)."""
    one = kc[_ONE]
    rho = correlation(sk, rqx, rqy, kc[_SNAP])
    arg, dn = erf_pair(rho, rx, ry, tx, ty, one)
    inv2pi = kc[_INV2PI]
    k2 = inv2pi + inv2pi + inv2pi + inv2pi  # 2 / pi
    om = dn / (one + abs(arg))  # 1 - |x|
    return k2 * arcsin_om(arg, om, kc), (k2 + k2) * (rx * ry) / math.sqrt(dn)


@njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _erf_all(sk, dsb, dsw, x, y, tx, ty, kc):
    r"""``(F, G, dF_b, dF_w, dG_b, dG_w)`` of erf (see :func:`erf_point_table`).

    In the variables of :func:`sknnk._numerics.activations.erf_pair`
    (``r_x = 1/sqrt(A)``, ``t_x = sqrt(h_x)``, ``e_x = dq_x / A``, so that
    ``dh_x / h_x = e_x / q_x``), for each hyperparameter:

    .. math::

        d\rho = \frac{d\Sigma}{\sqrt{q_x q_y}}
            - \frac{\rho}{2}\Big(\frac{dq_x}{q_x} + \frac{dq_y}{q_y}\Big),

        dF = \frac{2}{\pi\sqrt{D_n}}\Big[t_x t_y\, d\rho
            + \frac{x}{2}\Big(\frac{e_x}{q_x} + \frac{e_y}{q_y}\Big)\Big],

        \frac{dG}{G} = -(e_x + e_y) + \frac{\rho^2 (e_x r_x^2 h_y
            + e_y r_y^2 h_x) + h_x h_y \rho\, d\rho}{D_n}.

    At ``rho = +-1`` (duplicates, after the snap) the correlation does not
    move with the hyperparameters and ``d rho = 0`` exactly, which removes
    the cancellation of ``dSigma`` against ``dq`` (both of the size of
    ``q``) there.

    Inlined into the driver (``inline="always"``): as a call it kept the
    row loop of the erf gradient driver about 4x slower (not vectorised);
    inlining :func:`_relu_all` or :func:`_erf_fg` the same way measured no
    faster. Inlining lets LLVM hoist row-invariant products (``dq_x q_x``,
    ...) out of the loop, which changes which product of a sum of two
    products is fused (``contract``): the gradient moved by a few units of
    rounding of each column's scale when this was inlined (the values and
    every other family kept their bits).
    """
    one = kc[_ONE]
    half = kc[_HALF]
    rqx, rx, dxb, dxw, exb, exw = x
    rqy, ry, dyb, dyw, eyb, eyw = y
    rho = correlation(sk, rqx, rqy, kc[_SNAP])
    arg, dn = erf_pair(rho, rx, ry, tx, ty, one)
    isd = one / math.sqrt(dn)
    inv2pi = kc[_INV2PI]
    k2 = inv2pi + inv2pi + inv2pi + inv2pi  # 2 / pi
    f = k2 * arcsin_om(arg, dn / (one + abs(arg)), kc)
    g = (k2 + k2) * (rx * ry) * isd
    m = one if abs(rho) < one else kc[_ZERO]
    rq = (rqx * rqy) * m
    rh = (half * rho) * m
    qx = rqx * rqx
    qy = rqy * rqy
    drb = rq * dsb - rh * (dxb * qx + dyb * qy)
    drw = rq * dsw - rh * (dxw * qx + dyw * qy)
    shh = tx * ty
    fk = k2 * isd
    xh = half * arg
    df_b = fk * (shh * drb + xh * (exb * qx + eyb * qy))
    df_w = fk * (shh * drw + xh * (exw * qx + eyw * qy))
    hr = (shh * shh) * rho
    r2 = rho * rho
    rxh = (rx * rx) * (ty * ty)
    ryh = (ry * ry) * (tx * tx)
    idn = isd * isd
    dg_b = g * ((r2 * (exb * rxh + eyb * ryh) + hr * drb) * idn - (exb + eyb))
    dg_w = g * ((r2 * (exw * rxh + eyw * ryh) + hr * drw) * idn - (exw + eyw))
    return f, g, df_b, df_w, dg_b, dg_w


@njit(cache=True, nogil=True, inline="always")
def seed_row(orow, w, s, t, dsb, dsw, dtb, dtw, p, want_grad):
    """Layer 0 of a row segment (:func:`sknnk._numerics.layer.seed`).

    ``orow[k]`` holds ``x . y_k`` (the tile's gemm); ``s, t`` receive
    ``Sigma^0, Theta^0`` and, with ``want_grad``, ``dsb, dsw, dtb, dtw`` their
    derivatives, for ``k < w``; ``p`` is the :class:`LayerParams` record.
    """
    for k in range(w):
        s[k], t[k], _, _, _, _ = seed(orow[k] / p.dval, p)
    if want_grad:
        for k in range(w):
            _, _, dsb[k], dsw[k], dtb[k], dtw[k] = seed(orow[k] / p.dval, p)


@njit(cache=True, nogil=True, inline="always")
def store_row(grad, ri, c0, orow, w, s, t, dsb, dsw, dtb, dtw, task, want_grad):
    """Write the returned kernel of a row segment into ``orow`` and, with
    ``want_grad`` (``task.want_grad``, or a constant of the caller so that a
    value driver compiles no gradient code), its gradient columns into
    ``grad[ri, c0 + k]`` (``task``: see :class:`sknnk._numerics.gram.Task`)."""
    _, ntk, ib, iw, _ = task
    res = t if ntk else s
    for k in range(w):
        orow[k] = res[k]
    if want_grad:
        rb = dtb if ntk else dsb
        rw = dtw if ntk else dsw
        if ib >= 0:
            gcol = grad[ri, c0 : c0 + w, ib]
            for k in range(w):
                gcol[k] = rb[k]
        if iw >= 0:
            gcol = grad[ri, c0 : c0 + w, iw]
            for k in range(w):
                gcol[k] = rw[k]


@njit(cache=True, nogil=True, inline="always")
def begin_row(out, grad, i, tile, diag, task, want_grad):
    """Start row ``i`` of a tile: on a diagonal tile write its diagonal entry
    ``diag.k`` of the row point (from the 1-D recursion) and, with
    ``want_grad`` (as in :func:`store_row`), its gradient, and start at
    ``j = i + 1``.

    Returns ``(ri, xi, js, w, c0, y0)``: the row of ``out``, the row point, the
    first column, the number of columns ``w`` from it, the column of ``out``
    and the column point where they start.
    """
    oi, oj, _, _, j0, j1, diag_tile, _, xo, yo = tile
    ri = i - oi
    xi = i - xo
    js = j0
    if diag_tile:
        js = i + 1
        ci = i - oj
        out[ri, ci] = diag.k[xi]
        if want_grad:
            if task.ib >= 0:
                grad[ri, ci, task.ib] = diag.grad[0, xi]
            if task.iw >= 0:
                grad[ri, ci, task.iw] = diag.grad[1, xi]
    return ri, xi, js, j1 - js, js - oj, js - yo


@njit(cache=True, nogil=True, inline="always")
def start_row(out, grad, i, tile, diag, task, want_grad, buffers, p):
    """:func:`begin_row` and, for a non-empty row segment, its layer 0
    (:func:`seed_row` into ``buffers = (s, t, dsb, dsw, dtb, dtw)``).

    Returns ``(ri, xi, w, c0, y0, orow)`` (those of :func:`begin_row` and
    the segment's view ``out[ri, c0 : c0 + w]``); ``w <= 0``: nothing to do.
    """
    ri, xi, _, w, c0, y0 = begin_row(out, grad, i, tile, diag, task, want_grad)
    orow = out[ri, c0 : c0 + max(w, 0)]
    if w > 0:
        s, t, dsb, dsw, dtb, dtw = buffers
        seed_row(orow, w, s, t, dsb, dsw, dtb, dtw, p, want_grad)
    return ri, xi, w, c0, y0, orow


@njit(cache=True, nogil=True, inline="always")
def row_buffers(width, want_grad, like):
    """Scratch state of a row segment, ``(s, t, dsb, dsw, dtb, dtw)`` in the
    dtype of ``like`` (the derivatives empty unless ``want_grad``)."""
    nb = width if want_grad else 0
    return (
        np.empty(width, like.dtype),
        np.empty(width, like.dtype),
        np.empty(nb, like.dtype),
        np.empty(nb, like.dtype),
        np.empty(nb, like.dtype),
        np.empty(nb, like.dtype),
    )


@njit(cache=True, nogil=True, inline="always")
def mirror_tile(out, grad, tile, want_grad):
    """Copy the computed tile to its transposed position.

    A diagonal tile copies its strict upper triangle to its lower one; any
    other tile (of a symmetric Gram held in full, ``oi = oj = 0``) is copied
    to ``out[j, i]``. The loop runs along rows of the destination, so the
    strided reads hit the same few cache lines for consecutive ``j``.
    """
    oi, oj, i0, i1, j0, j1, diag_tile, _, _, _ = tile
    nf = grad.shape[2] if want_grad else 0
    for j in range(j0, j1):
        ie = min(i1, j) if diag_tile else i1
        rj = j - oi
        cj = j - oj
        for i in range(i0, ie):
            out[rj, i - oj] = out[i - oi, cj]
        for c in range(nf):
            for i in range(i0, ie):
                grad[rj, i - oj, c] = grad[i - oi, cj, c]


def fast_driver(erf, want_grad):
    """The compiled driver of one family (``erf``: erf, else the ReLU family),
    with or without the gradient.

    Each driver is its own closure over the two flags, which numba freezes as
    constants: the branches of the other family and of the other task are
    pruned before anything is inlined, so a call compiles only its own code.
    """

    def tile_fast(out, grad, tile, rows, cols, diag, fam, cst, p, task):
        """Fill one tile of the Gram matrix with a vectorised closed form.

        The ReLU family: ``F = ab c + dd sqrt(a b) k1(rho)``,
        ``G = ab + dd k0(rho)`` (ReLU, leaky ReLU, abs, ABReLU;
        ``fam = (ab, dd)``); erf: :func:`_erf_fg`. ``rows.P``/``cols.P`` are
        the point tables (:func:`relu_point_table`, :func:`erf_point_table`),
        ``cst`` the :func:`constants`; ``p`` (:class:`LayerParams`), ``fam``
        and every array are in the dtype of ``out``. The other arguments are
        those of every driver (see :mod:`sknnk._numerics.gram`).
        """
        _, _, i0, i1, j0, j1, diag_tile, mirror, _, _ = tile
        depth = task.depth
        Px = rows.P
        Py = cols.P
        ab_, dd = fam
        kc = unpack(cst)
        buffers = row_buffers(j1 - j0, want_grad, out)
        s, t, dsb, dsw, dtb, dtw = buffers
        for i in range(i0, i1):
            # orow and the views below are 1-D: indices in range(w) need no
            # wraparound checks, so the loops vectorise
            ri, xi, w, c0, y0, orow = start_row(
                out, grad, i, tile, diag, task, want_grad, buffers, p
            )
            if w <= 0:
                continue
            for layer in range(depth):
                x0 = Px[layer, F_SQ, xi]
                x1 = Px[layer, F_RS, xi]
                y0v = Py[layer, F_SQ, y0 : y0 + w]
                y1v = Py[layer, F_RS, y0 : y0 + w]
                if not want_grad:
                    if not erf:
                        for k in range(w):
                            f, g = _relu_fg(s[k], x0, x1, y0v[k], y1v[k], ab_, dd, kc)
                            s[k], t[k] = dense_value(f, g, t[k], p)
                    else:
                        tx = Px[layer, F_H, xi]
                        tyv = Py[layer, F_H, y0 : y0 + w]
                        for k in range(w):
                            f, g = _erf_fg(s[k], x0, x1, tx, y0v[k], y1v[k], tyv[k], kc)
                            s[k], t[k] = dense_value(f, g, t[k], p)
                    continue
                x = (
                    x0,
                    x1,
                    Px[layer, F_UB, xi],
                    Px[layer, F_UW, xi],
                    Px[layer, F_VB, xi],
                    Px[layer, F_VW, xi],
                )
                y2v = Py[layer, F_UB, y0 : y0 + w]
                y3v = Py[layer, F_UW, y0 : y0 + w]
                y4v = Py[layer, F_VB, y0 : y0 + w]
                y5v = Py[layer, F_VW, y0 : y0 + w]
                if not erf:
                    for k in range(w):
                        y = (y0v[k], y1v[k], y2v[k], y3v[k], y4v[k], y5v[k])
                        f, g, dfb, dfw, dgb, dgw = _relu_all(
                            s[k], dsb[k], dsw[k], x, y, ab_, dd, kc
                        )
                        s[k], t[k], dsb[k], dsw[k], dtb[k], dtw[k] = dense(
                            f, g, dfb, dfw, dgb, dgw, t[k], dtb[k], dtw[k], p
                        )
                else:
                    tx = Px[layer, F_H, xi]
                    tyv = Py[layer, F_H, y0 : y0 + w]
                    for k in range(w):
                        y = (y0v[k], y1v[k], y2v[k], y3v[k], y4v[k], y5v[k])
                        f, g, dfb, dfw, dgb, dgw = _erf_all(
                            s[k], dsb[k], dsw[k], x, y, tx, tyv[k], kc
                        )
                        s[k], t[k], dsb[k], dsw[k], dtb[k], dtw[k] = dense(
                            f, g, dfb, dfw, dgb, dgw, t[k], dtb[k], dtw[k], p
                        )
            store_row(grad, ri, c0, orow, w, s, t, dsb, dsw, dtb, dtw, task, want_grad)
        if diag_tile or mirror:
            mirror_tile(out, grad, tile, want_grad)

    return njit(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")(
        tile_fast
    )


#: The compiled fast drivers by ``family + 2 want_grad`` (family 0: the ReLU
#: family, 1: erf; see :func:`fast_driver`), with the arguments of its
#: ``tile_fast``.
FAST_DRIVERS = tuple(
    fast_driver(erf, g) for g in (False, True) for erf in (False, True)
)
