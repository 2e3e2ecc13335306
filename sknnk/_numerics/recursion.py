"""The depth recursion of the NNGP and NTK, per Gram entry and per point.

Notation (NTK parameterization): ``g = x . x' / d``,

.. math::

    \\Sigma^0 = \\sigma_w^2 g + \\sigma_b^2, \\qquad \\Theta^0 = \\alpha_0 g + \\beta_0,

    \\Sigma^{l+1} = \\sigma_w^2 F(\\Sigma^l_{xx}, \\Sigma^l_{x'x'}, \\Sigma^l_{xx'})
                    + \\sigma_b^2, \\qquad
    \\Theta^{l+1} = \\alpha F + \\beta + \\sigma_w^2 G\\, \\Theta^l,

with ``(alpha0, beta0, alpha, beta) = (sigma_w^2, sigma_b^2, sigma_w^2,
sigma_b^2)`` in the NTK parameterization and ``(d, 1, width, 1)`` in the
standard one.  Derivatives with respect to ``log sigma_b`` and
``log sigma_w`` are carried forward alongside (index 0 and 1).
"""

import math

import numpy as np

from ._jit import njit
from .activations import SERIES, closed_form_diag, closed_form_partials


@njit(cache=True, nogil=True)
def closed_form_diag_values(code, prm, q):
    """Vectorised :func:`closed_form_diag` over an array of variances."""
    n = q.shape[0]
    v = np.empty(n)
    w = np.empty(n)
    dv = np.empty(n)
    dw = np.empty(n)
    for i in range(n):
        v[i], w[i], dv[i], dw[i] = closed_form_diag(code, prm, q[i])
    return v, w, dv, dw


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
def _series_partials(cx, cy, rx, ry, n, a, b, c, want_grad):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` from Hermite coefficient tables.

    ``cx[t]``/``cy[t]`` hold the coefficients of the ``t``-th derivative of the
    activation at the variance of each argument, ``rx``/``ry`` the remainders.
    """
    ab = a * b
    rho = 0.0
    if ab > 0.0:
        rho = min(1.0, max(-1.0, c / math.sqrt(ab)))
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
def entry(
    gij,
    i,
    j,
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
):
    """Run the depth recursion for one pair ``(x_i, y_j)``.

    Returns ``(Sigma, Theta, dSigma_b, dSigma_w, dTheta_b, dTheta_w)`` at the
    top layer, the derivatives being with respect to ``log sigma_b`` and
    ``log sigma_w`` (zero unless ``want_grad``).
    """
    s = sw2 * gij + sb2
    t = alpha0 * gij + beta0
    ds_b = 2.0 * sb2
    ds_w = 2.0 * sw2 * gij
    if ntk_param:
        dt_b = ds_b
        dt_w = ds_w
        dalpha_w = 2.0 * sw2
        dbeta_b = 2.0 * sb2
    else:
        dt_b = 0.0
        dt_w = 0.0
        dalpha_w = 0.0
        dbeta_b = 0.0
    for layer in range(depth):
        a = qx[layer, i]
        b = qy[layer, j]
        if code == SERIES:
            f, g, fa, fb, fc, ga, gb, gc = _series_partials(
                coefx[layer, :, i],
                coefy[layer, :, j],
                remx[layer, :, i],
                remy[layer, :, j],
                nterms[layer],
                a,
                b,
                s,
                want_grad,
            )
        else:
            f, g, fa, fb, fc, ga, gb, gc = closed_form_partials(
                code, prm, a, b, s, want_grad
            )
        s_new = sw2 * f + sb2
        t_new = alpha * f + beta + sw2 * g * t
        if want_grad:
            # index 0: log sigma_b, index 1: log sigma_w
            df_b = fa * dqx[0, layer, i] + fb * dqy[0, layer, j] + fc * ds_b
            df_w = fa * dqx[1, layer, i] + fb * dqy[1, layer, j] + fc * ds_w
            dg_b = ga * dqx[0, layer, i] + gb * dqy[0, layer, j] + gc * ds_b
            dg_w = ga * dqx[1, layer, i] + gb * dqy[1, layer, j] + gc * ds_w
            ds_b_new = sw2 * df_b + 2.0 * sb2
            ds_w_new = 2.0 * sw2 * f + sw2 * df_w
            dt_b = alpha * df_b + dbeta_b + sw2 * dg_b * t + sw2 * g * dt_b
            dt_w = (
                dalpha_w * f
                + alpha * df_w
                + 2.0 * sw2 * g * t
                + sw2 * dg_w * t
                + sw2 * g * dt_w
            )
            ds_b = ds_b_new
            ds_w = ds_w_new
        s = s_new
        t = t_new
    return s, t, ds_b, ds_w, dt_b, dt_w


def diag_recursion(
    sq_norms, diag_values, depth, sw2, sb2, alpha0, beta0, alpha, beta, ntk_param
):
    """One-dimensional recursion for ``k(x, x)`` of every point.

    Parameters
    ----------
    sq_norms : ndarray of shape (n,)
        ``|x|^2 / d`` of each point.
    diag_values : callable
        ``q -> (V, W, dV/dq, dW/dq)``, vectorised over points.

    Returns
    -------
    q : ndarray of shape (depth + 1, n)
        Variances ``Sigma^l(x, x)``, ``l = 0..depth``.
    t : ndarray of shape (n,)
        ``Theta^depth(x, x)``.
    dq : ndarray of shape (2, depth + 1, n)
        Derivatives of ``q`` with respect to ``(log sigma_b, log sigma_w)``.
    dt : ndarray of shape (2, n)
        Derivatives of ``t``.
    """
    n = sq_norms.shape[0]
    q = np.empty((depth + 1, n))
    dq = np.empty((2, depth + 1, n))
    q[0] = sw2 * sq_norms + sb2
    dq[0, 0] = 2.0 * sb2
    dq[1, 0] = 2.0 * sw2 * sq_norms
    t = alpha0 * sq_norms + beta0
    dt = dq[:, 0].copy() if ntk_param else np.zeros((2, n))
    dalpha_w = 2.0 * sw2 if ntk_param else 0.0
    dbeta_b = 2.0 * sb2 if ntk_param else 0.0
    for layer in range(depth):
        v, w, dv, dw = diag_values(q[layer])
        q[layer + 1] = sw2 * v + sb2
        dq[0, layer + 1] = sw2 * dv * dq[0, layer] + 2.0 * sb2
        dq[1, layer + 1] = 2.0 * sw2 * v + sw2 * dv * dq[1, layer]
        dt_b = (
            alpha * dv * dq[0, layer]
            + dbeta_b
            + sw2 * (dw * dq[0, layer] * t + w * dt[0])
        )
        dt_w = (
            dalpha_w * v
            + alpha * dv * dq[1, layer]
            + 2.0 * sw2 * w * t
            + sw2 * (dw * dq[1, layer] * t + w * dt[1])
        )
        t = alpha * v + beta + sw2 * w * t
        dt = np.stack([dt_b, dt_w])
    return q, t, dq, dt
