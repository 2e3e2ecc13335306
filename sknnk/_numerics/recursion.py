"""The per-entry depth recursion: one Gram entry through every layer, any code.

The layer map (seed, dense layer, correlation) is that of
:mod:`sknnk._numerics.layer`; here the duals come per entry from
:func:`sknnk._numerics.activations.closed_form_partials` or, for activations
evaluated by their Hermite series, from the coefficient tables
(:func:`_series_partials`). :func:`sknnk._numerics.gram.tile_generic` runs it
over a tile.
"""

import math

from ._jit import njit
from .activations import SERIES, closed_form_partials
from .layer import chain, correlation, dense, dense_value, propagate, seed


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
def _series_partials(cx, cy, rx, ry, n, a, b, c, want_grad):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` from Hermite coefficient tables.

    ``cx[t, k]``/``cy[t, k]`` hold the coefficient ``k`` of the ``t``-th
    derivative of the activation at the variance of each argument, ``rx``/``ry``
    the remainders.
    """
    rho = correlation(c, _inv_sqrt(a), _inv_sqrt(b), 1.0)
    f = _series_sum(cx[0], cy[0], rx[0], ry[0], n, rho, True)
    g = _series_sum(cx[1], cy[1], rx[1], ry[1], n, rho, True)
    if not want_grad:
        return f, g, 0.0, 0.0, g, 0.0, 0.0, 0.0
    fa = 0.5 * _series_sum(cx[2], cy[0], 0.0, 0.0, n, rho, False)
    fb = 0.5 * _series_sum(cx[0], cy[2], 0.0, 0.0, n, rho, False)
    gc = _series_sum(cx[2], cy[2], 0.0, 0.0, n, rho, False)
    ga = 0.5 * _series_sum(cx[3], cy[1], 0.0, 0.0, n, rho, False)
    gb = 0.5 * _series_sum(cx[1], cy[3], 0.0, 0.0, n, rho, False)
    return f, g, fa, fb, g, ga, gb, gc


@njit(cache=True, nogil=True, inline="always")
def _partials(layer, i, j, rows, cols, code, prm, nterms, s, want_grad):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of the pair ``(i, j)`` at
    ``layer`` with ``Sigma^layer = s`` (arguments as in :func:`entry`)."""
    a = rows.q[layer, i]
    b = cols.q[layer, j]
    if code == SERIES:
        return _series_partials(
            rows.coef[layer, :, :, i],
            cols.coef[layer, :, :, j],
            rows.rem[layer, :, i],
            cols.rem[layer, :, j],
            nterms[layer],
            a,
            b,
            s,
            want_grad,
        )
    return closed_form_partials(code, prm, a, b, s, want_grad)


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
        f, g, fa, fb, fc, ga, gb, gc = _partials(
            layer, i, j, rows, cols, code, prm, nterms, s, want_grad
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
    the depth and whether the kernel is Theta (else Sigma).

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
        f, g, fa, fb, fc, ga, gb, gc = _partials(
            layer, i, j, rows, cols, code, prm, nterms, s, True
        )
        qa = rows.dq[0, layer, i]
        qb = cols.dq[0, layer, j]
        s_g, t_g = propagate(g, fc * s_g, gc * s_g, t, t_g, p)
        s_a, t_a = propagate(
            g,
            chain(fa, fb, fc, qa, zero, s_a),
            chain(ga, gb, gc, qa, zero, s_a),
            t,
            t_a,
            p,
        )
        s_b, t_b = propagate(
            g,
            chain(fa, fb, fc, zero, qb, s_b),
            chain(ga, gb, gc, zero, qb, s_b),
            t,
            t_b,
            p,
        )
        s, t = dense_value(f, g, t, p)
    if task.ntk:
        return t, t_g, t_a, t_b
    return s, s_g, s_a, s_b
