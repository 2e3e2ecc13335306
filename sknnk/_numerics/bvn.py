"""Bivariate normal probabilities with a log-weight, for the ELU/SELU duals.

The one public kernel is :func:`phi2w`, ``exp(lw) * Phi2(h, k; rho)`` with

.. math::

    \\Phi_2(h, k; \\rho) = P(X < h,\\ Y < k)

for standard normal ``X``, ``Y`` with correlation ``rho``.

The weight ``exp(lw)`` is applied inside every term, so products such as
``exp(a/2) Phi2(-sqrt(a), ...)`` (exponential tilting) neither overflow nor
lose their relative accuracy in the far lower tail: every branch below adds
terms of one sign, or subtracts at most half of a positive term.

Low correlation, ``|rho| <= 0.925``: Plackett's identity
``d Phi2 / d rho = phi2(h, k; rho)`` integrated from ``rho = 0`` with the
substitution ``rho = sin(t)``,

.. math::

    \\Phi_2 = \\Phi(h)\\Phi(k) + \\frac{1}{2\\pi}\\int_0^{\\arcsin\\rho}
    \\exp\\!\\Big(-\\frac{h^2 + k^2 - 2hk\\sin t}{2\\cos^2 t}\\Big)\\,dt,

by Gauss-Legendre quadrature (the integrand is analytic, with its only
singularities at ``t = +-pi/2``).

High correlation: ``Y = rho X + r Z`` with ``r = sqrt(1 - rho^2)``, so
``Phi2 = int_{x<h} phi(x) Phi((k - rho x) / r) dx``, whose second factor is a
step at ``x* = k / rho`` smoothed over ``kappa = r / |rho|``. Splitting at ``x*``
and writing ``x = x* +- kappa y`` leaves ``Phi(-y)`` (or ``1 - Phi(-y)``) times
a Gaussian in ``y``: the ``1`` integrates to a univariate ``Phi`` and the rest
are integrals :func:`_q_int` of smooth unimodal functions over a window
outside of which they are below ``exp(-40)`` of their peak, by composite
Gauss-Legendre quadrature.
"""

import math

import numpy as np

from ._jit import njit

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi
_RHO_HIGH = 0.925  # above: the split integral of the high-correlation branch
_LOG_DROP = 40.0  # quadrature windows end where the integrand fell by exp(-40)


def _gl(n):
    x, w = np.polynomial.legendre.leggauss(n)
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


# Gauss-Legendre nodes on [-1, 1]: for the arcsin integral by |rho| tier, and
# for the panels of the high-correlation branch
_X8, _W8 = _gl(8)
_X12, _W12 = _gl(12)
_X20, _W20 = _gl(20)
_X24, _W24 = _gl(24)
_XP, _WP = _gl(12)
_N_PANELS = 5


@njit(cache=True, nogil=True)
def mills(x):
    """``R(x) = exp(x^2 / 2) Phi(-x)``, relative accuracy ~1e-15 for all ``x``.

    Direct for ``x < 26`` (``erfc`` keeps its relative accuracy in the tail);
    beyond, the asymptotic series ``R(x) ~ phi(0) / x * sum_j (-1)^j
    (2j - 1)!! / x^(2j)``, whose terms fall below 1e-17 before they grow.
    """
    if x < 26.0:
        return math.exp(0.5 * x * x) * 0.5 * math.erfc(x / _SQRT2)
    inv2 = 1.0 / (x * x)
    term = 1.0
    acc = 1.0
    for j in range(1, 12):
        term *= -(2.0 * j - 1.0) * inv2
        acc += term
    return _INV_SQRT_2PI * acc / x


@njit(cache=True, nogil=True)
def cdfw(x, lw):
    """``exp(lw) Phi(x)`` without overflow or underflow of the factors."""
    if x >= 0.0:
        return math.exp(lw) * 0.5 * math.erfc(-x / _SQRT2)
    return math.exp(lw - 0.5 * x * x) * mills(-x)


@njit(cache=True, nogil=True)
def _cdf_diffw(lo, hi, lw):
    """``exp(lw) (Phi(hi) - Phi(lo))`` for ``lo <= hi``, as tails of one side."""
    if hi <= 0.0:
        return cdfw(hi, lw) - cdfw(lo, lw)
    if lo >= 0.0:
        return cdfw(-lo, lw) - cdfw(-hi, lw)
    return math.exp(lw) - cdfw(lo, lw) - cdfw(-hi, lw)


@njit(cache=True, nogil=True)
def _q_int(xs, sgn, kappa, rho2, y0, y1, lw):
    """``exp(lw) kappa int_{y0}^{y1} phi(xs + sgn kappa y) Phi(-y) dy``, ``y0 >= 0``.

    With ``rho^2 = 1 / (1 + kappa^2)`` the exponent is ``-(xs + sgn kappa y)^2
    / 2 - y^2 / 2 = -(xs rho)^2 / 2 - (y - yp)^2 / (2 rho^2)`` (and ``Phi(-y) <=
    exp(-y^2 / 2) / 2``), so the integrand is bounded by a Gaussian centred at
    ``yp = -sgn kappa xs rho^2``; the window keeps the part of ``[y0, y1]``
    where that bound is within ``exp(-40)`` of its maximum over ``[y0, y1]``.
    """
    yp = -sgn * kappa * xs * rho2
    m = min(max(yp, y0), y1)
    half = math.sqrt((m - yp) ** 2 + 2.0 * _LOG_DROP * rho2)
    lo = max(y0, yp - half)
    hi = min(y1, yp + half)
    if hi <= lo:
        return 0.0
    width = (hi - lo) / _N_PANELS
    acc = 0.0
    for p in range(_N_PANELS):
        mid = lo + (p + 0.5) * width
        for i in range(_XP.shape[0]):
            y = mid + 0.5 * width * _XP[i]
            x = xs + sgn * kappa * y
            # exp(lw - x^2/2) Phi(-y) = exp(lw - (x^2 + y^2)/2) R(y), y >= 0:
            # one exponent, so a large weight meets the tail before rounding
            acc += _WP[i] * math.exp(lw - 0.5 * (x * x + y * y)) * mills(y)
    # 0.5 (panel half-width)
    return acc * 0.5 * width * kappa * _INV_SQRT_2PI


@njit(cache=True, nogil=True)
def _phi2_high(h, k, rho, r, lw):
    """High-correlation branch of :func:`phi2w` (``r = sqrt(1 - rho^2) > 0``)."""
    xs = k / rho
    kappa = r / abs(rho)
    rho2 = rho * rho
    big = math.inf
    if rho > 0.0:
        # Phi((k - rho x) / r) is 1 - Phi(-y) left of xs and Phi(-y) right of it
        if h <= xs:
            return cdfw(h, lw) - _q_int(
                xs, -1.0, kappa, rho2, (xs - h) / kappa, big, lw
            )
        return (
            cdfw(xs, lw)
            - _q_int(xs, -1.0, kappa, rho2, 0.0, big, lw)
            + _q_int(xs, 1.0, kappa, rho2, 0.0, (h - xs) / kappa, lw)
        )
    # rho < 0: Phi(-y) left of xs and 1 - Phi(-y) right of it
    if h <= xs:
        return _q_int(xs, -1.0, kappa, rho2, (xs - h) / kappa, big, lw)
    return (
        _q_int(xs, -1.0, kappa, rho2, 0.0, big, lw)
        + _cdf_diffw(xs, h, lw)
        - _q_int(xs, 1.0, kappa, rho2, 0.0, (h - xs) / kappa, lw)
    )


@njit(cache=True, nogil=True)
def _low_tier(h, k, rho):
    """Quadrature tier ``0..3`` of the low-correlation branch.

    On ``[0, asin(rho)]`` the exponent moves from its value at 0 by at most
    ``v = ((h^2 + k^2) rho^2 / 2 + |h k rho|) / (1 - rho^2)``, and the
    singularity at ``t = pi/2`` comes closer as ``|rho|`` grows: the number of
    Gauss-Legendre nodes grows with both (measured: <= 1.5e-14 relative to
    ``Phi(min(h, k))`` for ``|h|, |k| <= 10``).
    """
    v = (0.5 * (h * h + k * k) * rho * rho + abs(h * k * rho)) / (1.0 - rho * rho)
    ar = abs(rho)
    if v < 0.25 and ar < 0.3:
        return 0
    if v < 4.0 and ar < 0.75:
        return 1
    if v < 32.0:
        return 2
    return 3 if v < 256.0 else 4


@njit(cache=True, nogil=True)
def _low_nodes(tier):
    """``(nodes, weights, panels)`` of a tier of :func:`_low_tier`."""
    if tier == 0:
        return _X8, _W8, 1
    if tier == 1:
        return _X12, _W12, 1
    if tier == 2:
        return _X20, _W20, 1
    return _X24, _W24, tier - 2


@njit(cache=True, nogil=True)
def _plackett(tier, rho, h1, k1, l1, h2, k2, l2, h3, k3, l3, three):
    """``exp(l) Phi2(h, k; rho)`` of the low-correlation branch for one
    (``three=False``) or three ``(h, k, l)`` sharing the nodes ``sin(t)``."""
    xg, wg, panels = _low_nodes(tier)
    width = math.asin(rho) / panels
    hs1, hk1 = 0.5 * (h1 * h1 + k1 * k1), h1 * k1
    hs2, hk2 = 0.5 * (h2 * h2 + k2 * k2), h2 * k2
    hs3, hk3 = 0.5 * (h3 * h3 + k3 * k3), h3 * k3
    acc1 = acc2 = acc3 = 0.0
    for p in range(panels):
        mid = (p + 0.5) * width
        for i in range(xg.shape[0]):
            st = math.sin(mid + 0.5 * width * xg[i])
            inv = 1.0 / (1.0 - st * st)
            acc1 += wg[i] * math.exp(l1 - (hs1 - hk1 * st) * inv)
            if three:
                acc2 += wg[i] * math.exp(l2 - (hs2 - hk2 * st) * inv)
                acc3 += wg[i] * math.exp(l3 - (hs3 - hk3 * st) * inv)
    f = 0.5 * width / _TWO_PI
    p1 = _cdf2w(h1, k1, l1) + f * acc1
    if not three:
        return p1, 0.0, 0.0
    p2 = _cdf2w(h2, k2, l2) + f * acc2
    p3 = _cdf2w(h3, k3, l3) + f * acc3
    return p1, p2, p3


@njit(cache=True, nogil=True)
def _cdf2w(h, k, lw):
    """``exp(lw) Phi(h) Phi(k)`` with the tail of a negative ``k`` folded into
    the weight (``Phi(k) = exp(-k^2/2) R(-k)``), so that a large ``lw`` and a
    far tail never meet as ``inf * 0``."""
    if k >= 0.0:
        return cdfw(h, lw) * (0.5 * math.erfc(-k / _SQRT2))
    return cdfw(h, lw - 0.5 * k * k) * mills(-k)


@njit(cache=True, nogil=True)
def phi2w3(h1, k1, l1, h2, k2, l2, h3, k3, l3, rho, r):
    """Three values of :func:`phi2w` at one correlation, sharing the nodes."""
    if r <= 0.0 or abs(rho) > _RHO_HIGH:
        return (
            phi2w(h1, k1, rho, r, l1),
            phi2w(h2, k2, rho, r, l2),
            phi2w(h3, k3, rho, r, l3),
        )
    tier = max(_low_tier(h1, k1, rho), _low_tier(h2, k2, rho), _low_tier(h3, k3, rho))
    return _plackett(tier, rho, h1, k1, l1, h2, k2, l2, h3, k3, l3, True)


@njit(cache=True, nogil=True)
def phi2w(h, k, rho, r, lw):
    """``exp(lw) * Phi2(h, k; rho)``, the standard bivariate normal CDF.

    Parameters
    ----------
    h, k : float
        Upper limits of the two standard normal variables (may be infinite).
    rho : float
        Their correlation, in ``[-1, 1]``.
    r : float
        ``sqrt((1 - rho)(1 + rho))``, computed by the caller (0 means exactly
        ``rho = +-1``, where ``Phi2`` is ``Phi(min(h, k))`` or
        ``max(0, Phi(h) - Phi(-k))``).
    lw : float
        Log-weight applied inside every term.

    Returns
    -------
    float
        About 1e-15 relative to ``exp(lw) Phi(min(h, k))``.
    """
    if r <= 0.0:
        if rho > 0.0:
            return cdfw(min(h, k), lw)
        if h + k <= 0.0:
            return 0.0
        return _cdf_diffw(-k, h, lw)
    if abs(rho) <= _RHO_HIGH:
        tier = _low_tier(h, k, rho)
        return _plackett(tier, rho, h, k, lw, h, k, lw, h, k, lw, False)[0]
    return _phi2_high(h, k, rho, r, lw)
