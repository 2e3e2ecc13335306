"""The per-entry depth recursion: one Gram entry through every layer, any code.

The layer map (seed, dense layer, correlation) is that of
:mod:`sknnk._numerics.layer`; here the duals come per entry from
:func:`sknnk._numerics.activations.closed_form_partials` or, for activations
evaluated by their Hermite series, from the coefficient tables
(:func:`_series_partials`). :func:`sknnk._numerics.gram.tile_generic` runs it
over a tile; :func:`entry_residual` is the same for networks with residual
blocks and/or layer normalisation, run by
:func:`sknnk._numerics.gram.tile_residual`. :func:`entry_seeds` and
:func:`entry_residual_seeds` give the partials of the length-scale gradient.
"""

import math

from numba.extending import overload

from ._jit import njit
from .activations import SERIES, closed_form_partials
from .layer import (
    add_branch,
    branch_scale_column,
    chain,
    correlation,
    dense,
    dense_value,
    normalised,
    propagate,
    residual_add,
    seed,
)


@njit(cache=True, nogil=True)
def _series_sum(x, y, rx, ry, n, rho, tail):
    """``sum_k x_k y_k rho^k`` over ``n`` terms, plus the Cauchy-Schwarz tail."""
    acc = 0.0
    p = 1.0
    for k in range(n):
        acc += x[k] * y[k] * p
        p *= rho
    if tail:
        acc += p * math.sqrt(rx * ry)
    return acc


@njit(cache=True, nogil=True, inline="always")
def _inv_sqrt(q):
    return 1.0 / math.sqrt(q) if q > 0.0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def _series_partials(cx, cy, rx, ry, n, a, b, c, want_grad, tail):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` from Hermite coefficient tables.

    ``cx[t, k]``/``cy[t, k]`` hold the coefficient ``k`` of the ``t``-th
    derivative of the activation at the variance of each argument, ``rx``/``ry``
    the remainders (added to ``F`` and ``G`` as the Cauchy-Schwarz tail if
    ``tail``: ``n`` is then every term of the tables).
    """
    rho = correlation(c, _inv_sqrt(a), _inv_sqrt(b), 1.0)
    f = _series_sum(cx[0], cy[0], rx[0], ry[0], n, rho, tail)
    g = _series_sum(cx[1], cy[1], rx[1], ry[1], n, rho, tail)
    if not want_grad:
        return f, g, 0.0, 0.0, g, 0.0, 0.0, 0.0
    fa = 0.5 * _series_sum(cx[2], cy[0], 0.0, 0.0, n, rho, False)
    fb = 0.5 * _series_sum(cx[0], cy[2], 0.0, 0.0, n, rho, False)
    gc = _series_sum(cx[2], cy[2], 0.0, 0.0, n, rho, False)
    ga = 0.5 * _series_sum(cx[3], cy[1], 0.0, 0.0, n, rho, False)
    gb = 0.5 * _series_sum(cx[1], cy[3], 0.0, 0.0, n, rho, False)
    return f, g, fa, fb, g, ga, gb, gc


@njit(cache=True, nogil=True, inline="always")
def _duals(layer, i, j, rows, cols, code, prm, n, tail, a, b, c, want_grad):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of one layer of the pair
    ``(x_i, y_j)`` at the covariance ``[[a, c], [c, b]]``: the series tables
    of the layer (``n`` terms, with the tail if ``tail``) or the closed form."""
    if code == SERIES:
        return _series_partials(
            rows.coef[layer, :, :, i],
            cols.coef[layer, :, :, j],
            rows.rem[layer, :, i],
            cols.rem[layer, :, j],
            n,
            a,
            b,
            c,
            want_grad,
            tail,
        )
    return closed_form_partials(code, prm, a, b, c, want_grad)


@njit(cache=True, nogil=True, inline="always")
def entry(gij, i, j, rows, cols, code, prm, nterms, p, depth, want_grad):
    """Run the depth recursion for one pair ``(x_i, y_j)``.

    Parameters
    ----------
    gij : float
        ``x_i . y_j / d``.
    i, j : int
        Indices of the two points in ``rows`` and ``cols``.
    rows, cols : GenericPoints
        Per-point records of the row and column points
        (:class:`sknnk._numerics.gram.GenericPoints`).
    code, prm : int, ndarray
        The activation (:mod:`sknnk._numerics.activations`).
    nterms : ndarray of int
        Terms of the series tables at each layer (series only).
    p : LayerParams
        The recursion's scalars.
    depth : int
        Number of hidden layers.
    want_grad : bool
        Whether to carry the derivatives.

    Returns
    -------
    state : tuple
        ``(Sigma, Theta, dSigma_b, dSigma_w, dTheta_b, dTheta_w)`` at the top
        layer (derivatives zero unless ``want_grad``).
    """
    s, t, ds_b, ds_w, dt_b, dt_w = seed(gij, p)
    for layer in range(depth):
        a = rows.q[layer, i]
        b = cols.q[layer, j]
        n = nterms[layer] if code == SERIES else 0
        f, g, fa, fb, fc, ga, gb, gc = _duals(
            layer, i, j, rows, cols, code, prm, n, True, a, b, s, want_grad
        )
        if not want_grad:
            s, t = dense_value(f, g, t, p)
            continue
        qxb = rows.dq[0, layer, i]
        qxw = rows.dq[1, layer, i]
        qyb = cols.dq[0, layer, j]
        qyw = cols.dq[1, layer, j]
        s, t, ds_b, ds_w, dt_b, dt_w = dense(
            f,
            g,
            chain(fa, fb, fc, qxb, qyb, ds_b),
            chain(fa, fb, fc, qxw, qyw, ds_w),
            chain(ga, gb, gc, qxb, qyb, ds_b),
            chain(ga, gb, gc, qxw, qyw, ds_w),
            t,
            dt_b,
            dt_w,
            p,
        )
    return s, t, ds_b, ds_w, dt_b, dt_w


@njit(cache=True, nogil=True, inline="always")
def _terms_needed(rows, cols, layer, i, j, a, b, c, full):
    """Terms of the series of the pair ``(x_i, y_j)`` at its correlation: at
    the level just above ``|rho|`` of the tables ``need`` of
    :func:`sknnk._numerics.gram.need_table` (``levels + 1`` levels), the
    larger need of the two points, at most ``full`` (the same truncation
    bound as :func:`sknnk._numerics.gram.tile_series`)."""
    levels = rows.need.shape[1] - 1
    rho = correlation(c, _inv_sqrt(a), _inv_sqrt(b), 1.0)
    lev = min(levels, int(abs(rho) * levels) + 1)
    return min(full, max(rows.need[layer, lev, i], cols.need[layer, lev, j]))


@njit(cache=True, nogil=True, inline="always")
def _trimmed_duals(layer, i, j, rows, cols, code, prm, nterms, a, b, c, want_grad):
    """:func:`_duals` of one layer of the pair at the covariance
    ``[[a, c], [c, b]]`` with, for a series, the terms its correlation needs
    (:func:`_terms_needed`; the tail only with every term): the truncation
    bound of :func:`sknnk._numerics.gram.tile_series`. ``rows``/``cols``
    carry ``need`` (:func:`sknnk._numerics.gram.need_table`)."""
    n, full = 0, 0
    if code == SERIES:
        full = nterms[layer]
        n = _terms_needed(rows, cols, layer, i, j, a, b, c, full)
    return _duals(layer, i, j, rows, cols, code, prm, n, n >= full, a, b, c, want_grad)


@njit(cache=True, nogil=True, inline="always")
def _residual_duals(layer, i, j, rows, cols, code, prm, nterms, c, want_grad):
    """:func:`_trimmed_duals` of one layer of a residual/normalised network:
    at the variances ``va`` of the pair's inputs to the nonlinearity and the
    (normalised) covariance ``c``."""
    a = rows.va[layer, i]
    b = cols.va[layer, j]
    return _trimmed_duals(
        layer, i, j, rows, cols, code, prm, nterms, a, b, c, want_grad
    )


@njit(cache=True, nogil=True, inline="always")
def entry_residual(gij, i, j, rows, cols, code, prm, nterms, p, task):
    """:func:`entry` of a network with residual blocks and/or layer
    normalisation (the layer map of :mod:`sknnk._numerics.layer`).

    ``rows``, ``cols`` are :class:`sknnk._numerics.gram.ResidualPoints`
    (the variance ``va`` of each layer's input to the nonlinearity, its
    derivatives ``dva``, the normalisation factors ``r`` and ``h`` and the
    series tables); ``task`` is :class:`sknnk._numerics.gram.ResidualTask`
    (depth, whether the hidden blocks are residual, ``a2 = alpha^2``, LN on).
    Layer ``l`` normalises the state (``Sigma r r'``, ``Theta r r'``), takes
    the duals at ``(va, va', Sigma~)``, forms the branch by
    :func:`sknnk._numerics.layer.dense` and, for a residual block (every
    hidden layer but the last), adds it to the stream.

    Returns
    -------
    state : tuple
        ``(Sigma, Theta, dSigma_b, dSigma_w, dSigma_a, dTheta_b, dTheta_w,
        dTheta_a)`` at the top layer, ``_a`` the derivative in
        ``log branch_scale`` (derivatives zero unless ``task.want_grad``).
    """
    depth, want_grad, a2 = task.depth, task.want_grad, task.a2
    s, t, ds_b, ds_w, dt_b, dt_w = seed(gij, p)
    ds_a = dt_a = 0.0 * s
    for layer in range(depth):
        rr = rows.r[layer, i] * cols.r[layer, j]
        hb = rows.h[0, layer, i] + cols.h[0, layer, j]
        hw = rows.h[1, layer, i] + cols.h[1, layer, j]
        ha = rows.h[2, layer, i] + cols.h[2, layer, j]
        c, dc_b, dc_w, dc_a = normalised(s, ds_b, ds_w, ds_a, rr, hb, hw, ha)
        tn, tn_b, tn_w, tn_a = normalised(t, dt_b, dt_w, dt_a, rr, hb, hw, ha)
        f, g, fa, fb, fc, ga, gb, gc = _residual_duals(
            layer, i, j, rows, cols, code, prm, nterms, c, want_grad
        )
        if want_grad:
            qx, qy = rows.dva[:, layer, i], cols.dva[:, layer, j]
            df_a = chain(fa, fb, fc, qx[2], qy[2], dc_a)
            dg_a = chain(ga, gb, gc, qx[2], qy[2], dc_a)
            bs, bt, bs_b, bs_w, bt_b, bt_w = dense(
                f,
                g,
                chain(fa, fb, fc, qx[0], qy[0], dc_b),
                chain(fa, fb, fc, qx[1], qy[1], dc_w),
                chain(ga, gb, gc, qx[0], qy[0], dc_b),
                chain(ga, gb, gc, qx[1], qy[1], dc_w),
                tn,
                tn_b,
                tn_w,
                p,
            )
            bs_a, bt_a = branch_scale_column(f, g, df_a, dg_a, tn, tn_a, p)
        else:
            bs, bt = dense_value(f, g, tn, p)
            bs_b = bs_w = bs_a = bt_b = bt_w = bt_a = 0.0 * bs
        if task.residual and layer < depth - 1:
            s, ds_b, ds_w, ds_a = residual_add(
                s, ds_b, ds_w, ds_a, bs, bs_b, bs_w, bs_a, a2
            )
            t, dt_b, dt_w, dt_a = residual_add(
                t, dt_b, dt_w, dt_a, bt, bt_b, bt_w, bt_a, a2
            )
        else:
            s, ds_b, ds_w, ds_a = bs, bs_b, bs_w, bs_a
            t, dt_b, dt_w, dt_a = bt, bt_b, bt_w, bt_a
    return s, t, ds_b, ds_w, ds_a, dt_b, dt_w, dt_a


def seed_partials(gij, i, j, rows, cols, code, prm, nterms, p, task):
    """``(k, k_g, k_a, k_b)`` of one pair, compiled code only:
    :func:`entry_residual_seeds` for the records of a residual/normalised
    network (:class:`sknnk._numerics.gram.ResidualPoints`, which have ``va``),
    else :func:`entry_seeds`; chosen when the caller is compiled (one tile
    driver, :func:`sknnk._numerics.gram.tile_seeds`, for both)."""
    raise NotImplementedError("seed_partials runs in compiled code only")


@overload(seed_partials, inline="always")
def _seed_partials(gij, i, j, rows, cols, code, prm, nterms, p, task):
    if "va" in getattr(rows, "fields", ()):
        return lambda gij, i, j, rows, cols, code, prm, nterms, p, task: (
            entry_residual_seeds(gij, i, j, rows, cols, code, prm, nterms, p, task)
        )
    return lambda gij, i, j, rows, cols, code, prm, nterms, p, task: entry_seeds(
        gij, i, j, rows, cols, code, prm, nterms, p, task
    )


@njit(cache=True, nogil=True, inline="always")
def _seed_layer(duals, qa, qb, s_g, s_a, s_b, t, t_g, t_a, t_b, p):
    """The three seed directions ``d / d g``, ``d / d g_aa``, ``d / d g_bb``
    through one dense layer (:func:`sknnk._numerics.layer.propagate`) from
    the layer's ``duals`` ``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)``, the
    diagonal derivatives ``qa`` (row point) and ``qb`` (column point) and
    the state ``t`` with its directions: ``(s_g, s_a, s_b, t_g, t_a, t_b)``
    of the next layer."""
    _, g, fa, fb, fc, ga, gb, gc = duals
    zero = p.sw2 - p.sw2
    s_g, t_g = propagate(g, fc * s_g, gc * s_g, t, t_g, p)
    s_a, t_a = propagate(
        g, chain(fa, fb, fc, qa, zero, s_a), chain(ga, gb, gc, qa, zero, s_a), t, t_a, p
    )
    s_b, t_b = propagate(
        g, chain(fa, fb, fc, zero, qb, s_b), chain(ga, gb, gc, zero, qb, s_b), t, t_b, p
    )
    return s_g, s_a, s_b, t_g, t_a, t_b


@njit(cache=True, nogil=True, inline="always")
def entry_seeds(gij, i, j, rows, cols, code, prm, nterms, p, task):
    """The kernel of one pair and its partial derivatives in the layer-0 inputs.

    The kernel depends on the inputs only through ``g = x_i . y_j / d``,
    ``g_aa = |x_i|^2 / d`` and ``g_bb = |y_j|^2 / d``; this runs the value
    recursion of :func:`entry` with three seed directions
    (:func:`sknnk._numerics.layer.propagate`): ``d / d g`` (seeded
    ``dSigma^0 = sigma_w^2``, ``dTheta^0 = alpha0``, no diagonal change),
    ``d / d g_aa`` and ``d / d g_bb`` (seeded 0 off the diagonal, with the
    diagonal derivatives ``rows.dq[0]`` / ``cols.dq[0]`` of the row or column
    point only, :func:`sknnk._numerics.layer.diag_seed_step`). The arguments
    are those of :func:`entry`, ``rows.dq``/``cols.dq`` holding those
    diagonal derivatives; ``task`` (:class:`sknnk._numerics.gram.Task`) gives
    the depth and whether the kernel is Theta (else Sigma). A series takes
    the terms the pair's correlation needs at each layer
    (:func:`_trimmed_duals`, from ``rows.need``/``cols.need``), as
    :func:`entry_residual_seeds` does.

    Returns
    -------
    (k, k_g, k_a, k_b) : tuple of float
        The kernel and its partials in ``(g, g_aa, g_bb)``.
    """
    s, t, _, _, _, _ = seed(gij, p)
    zero = p.sw2 - p.sw2
    s_g, t_g = p.sw2, p.alpha0
    s_a = t_a = s_b = t_b = zero
    for layer in range(task.depth):
        a = rows.q[layer, i]
        b = cols.q[layer, j]
        duals = _trimmed_duals(
            layer, i, j, rows, cols, code, prm, nterms, a, b, s, True
        )
        qa = rows.dq[0, layer, i]
        qb = cols.dq[0, layer, j]
        s_g, s_a, s_b, t_g, t_a, t_b = _seed_layer(
            duals, qa, qb, s_g, s_a, s_b, t, t_g, t_a, t_b, p
        )
        s, t = dense_value(duals[0], duals[1], t, p)
    if task.ntk:
        return t, t_g, t_a, t_b
    return s, s_g, s_a, s_b


@njit(cache=True, nogil=True, inline="always")
def entry_residual_seeds(gij, i, j, rows, cols, code, prm, nterms, p, task):
    """:func:`entry_seeds` of a network with residual blocks and/or layer
    normalisation: the kernel of one pair and its partials in
    ``(g, g_aa, g_bb)`` through the layer map of :func:`entry_residual`.

    The three seed directions run through every step of the layer map:
    :func:`sknnk._numerics.layer.normalised` (``c r r'`` moves by
    ``(dc - c (h + h')) r r'``), the duals (:func:`chain`),
    :func:`sknnk._numerics.layer.propagate` through the branch and
    :func:`sknnk._numerics.layer.add_branch` into the stream. ``d / d g`` is
    seeded ``dSigma^0 = sigma_w^2``, ``dTheta^0 = alpha0`` and moves no
    per-point quantity; ``d / d g_aa`` (``d / d g_bb``) is seeded 0 and
    carries the diagonal derivatives of the row (column) point only: the
    fourth rows of ``rows.dva``, ``rows.h`` (``cols.dva``, ``cols.h``), from
    :func:`sknnk._numerics.layer.diag_step_residual`. Arguments as in
    :func:`entry_residual` (``task`` a
    :class:`sknnk._numerics.gram.ResidualTask`).

    Returns
    -------
    (k, k_g, k_a, k_b) : tuple of float
        The kernel (Theta if ``task.ntk``, else Sigma) and its partials in
        ``(g, g_aa, g_bb)``.
    """
    depth, a2 = task.depth, task.a2
    s, t, _, _, _, _ = seed(gij, p)
    zero = p.sw2 - p.sw2
    s_g, t_g = p.sw2, p.alpha0
    s_a = t_a = s_b = t_b = zero
    for layer in range(depth):
        rr = rows.r[layer, i] * cols.r[layer, j]
        ha = rows.h[3, layer, i]
        hb = cols.h[3, layer, j]
        c, c_g, c_a, c_b = normalised(s, s_g, s_a, s_b, rr, zero, ha, hb)
        tn, tn_g, tn_a, tn_b = normalised(t, t_g, t_a, t_b, rr, zero, ha, hb)
        duals = _residual_duals(layer, i, j, rows, cols, code, prm, nterms, c, True)
        qa = rows.dva[3, layer, i]
        qb = cols.dva[3, layer, j]
        bs_g, bs_a, bs_b, bt_g, bt_a, bt_b = _seed_layer(
            duals, qa, qb, c_g, c_a, c_b, tn, tn_g, tn_a, tn_b, p
        )
        bs, bt = dense_value(duals[0], duals[1], tn, p)
        if task.residual and layer < depth - 1:
            s, s_g, s_a, s_b = (
                add_branch(s, bs, a2),
                add_branch(s_g, bs_g, a2),
                add_branch(s_a, bs_a, a2),
                add_branch(s_b, bs_b, a2),
            )
            t, t_g, t_a, t_b = (
                add_branch(t, bt, a2),
                add_branch(t_g, bt_g, a2),
                add_branch(t_a, bt_a, a2),
                add_branch(t_b, bt_b, a2),
            )
        else:
            s, s_g, s_a, s_b = bs, bs_g, bs_a, bs_b
            t, t_g, t_a, t_b = bt, bt_g, bt_a, bt_b
    if task.ntk:
        return t, t_g, t_a, t_b
    return s, s_g, s_a, s_b
