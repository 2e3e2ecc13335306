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
def _plackett(tier, rho, h, k, lw):
    """``exp(lw) Phi2(h, k; rho)`` of the low-correlation branch."""
    xg, wg, panels = _low_nodes(tier)
    width = math.asin(rho) / panels
    hs, hk = 0.5 * (h * h + k * k), h * k
    acc = 0.0
    for p in range(panels):
        mid = (p + 0.5) * width
        for i in range(xg.shape[0]):
            st = math.sin(mid + 0.5 * width * xg[i])
            acc += wg[i] * math.exp(lw - (hs - hk * st) / (1.0 - st * st))
    return _cdf2w(h, k, lw) + 0.5 * width / _TWO_PI * acc


@njit(cache=True, nogil=True)
def _cdf2w(h, k, lw):
    """``exp(lw) Phi(h) Phi(k)`` with the tail of a negative ``k`` folded into
    the weight (``Phi(k) = exp(-k^2/2) R(-k)``), so that a large ``lw`` and a
    far tail never meet as ``inf * 0``."""
    if k >= 0.0:
        return cdfw(h, lw) * (0.5 * math.erfc(-k / _SQRT2))
    return cdfw(h, lw - 0.5 * k * k) * mills(-k)


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
        return _plackett(tier, rho, h, k, lw)
    return _phi2_high(h, k, rho, r, lw)


# ---------------------------------------------------------------------------
# the tilted orthant expectations of ELU/SELU, at every variance


@njit(cache=True, nogil=True)
def mills_minus_half(x):
    """``R(x) - 1/2`` for ``x >= 0`` with its relative accuracy as ``x -> 0``.

    ``R(x) - 1/2 = expm1(x^2/2) / 2 - e^{x^2/2} erf(x / sqrt 2) / 2`` below
    ``x = 1/2`` (the two terms are ``x^2/4`` and ``x / sqrt(2 pi)``: no
    cancellation); beyond, ``R(x) - 1/2`` directly (at most two bits lost).
    """
    if x < 0.5:
        e = 0.5 * x * x
        return 0.5 * math.expm1(e) - 0.5 * math.exp(e) * math.erf(x / _SQRT2)
    return mills(x) - 0.5


@njit(cache=True, nogil=True)
def _tilted(beta, tau, x0, g, y1, panels):
    """``int_0^{y1} exp(-beta y - y^2 / (2 tau^2)) R(x0 + g y) dy``.

    For ``beta >= 0``, ``tau > 0`` and ``x0 + g y >= 0`` on the range (the
    Mills ratio ``R`` of :func:`mills` is then in ``(0, 1/2]`` and varies by
    less than its own scale over the window). The window ends where the
    exponent has fallen by 40, at ``Y = 80 tau / (beta tau + sqrt((beta
    tau)^2 + 80))`` (the root of ``beta Y + Y^2 / (2 tau^2) = 40``, formed
    without cancellation; ``40 / beta`` where ``(beta tau)^2`` would
    overflow), or at ``y1``; ``panels`` Gauss-Legendre panels of
    12 nodes.
    """
    bt = beta * tau
    if bt < 1e150:
        top = 2.0 * _LOG_DROP * tau / (bt + math.sqrt(bt * bt + 2.0 * _LOG_DROP))
    else:  # (beta tau)^2 would overflow; the root is 40 / beta to rounding
        top = _LOG_DROP / beta
    hi = min(y1, top)
    if not hi > 0.0:
        return 0.0
    width = hi / panels
    half_inv = 0.5 / (tau * tau)
    acc = 0.0
    for p in range(panels):
        mid = (p + 0.5) * width
        for i in range(_XP.shape[0]):
            y = mid + 0.5 * width * _XP[i]
            acc += _WP[i] * math.exp(-y * (beta + y * half_inv)) * mills(x0 + g * y)
    return acc * 0.5 * width


@njit(cache=True, nogil=True)
def tilted_orthant(sa, rho, r):
    r"""``(E, P) = (E[e^u 1{u<0, v<0}], E[e^u 1{u<0, v>0}])``.

    For ``u = s_a z_1``, ``v`` of any positive scale times ``z_2``,
    ``corr(z_1, z_2) = rho`` and ``r = sqrt(1 - rho^2)`` (``r = 0``: ``rho =
    +-1`` exactly). Conditioning on ``z_2 = +-y`` (``z_1 | z_2`` is
    ``N(+-rho y, r^2)``) and folding the tilt ``e^{s_a z_1}`` into the Mills
    ratio ``R`` gives, with ``t = y / r``,

    .. math::

        P = r \int_0^\infty \varphi(t)\, R(s_a r + \rho t)\,dt\quad(\rho \ge 0),
        \qquad
        E = r \int_0^\infty \varphi(t)\, R(s_a r - \rho t)\,dt\quad(\rho < 0),

    the smaller of the two (at most ``R(s_a) / 2``); the other is ``R(s_a)``
    minus it. Every factor is in ``[0, 1]``: no overflow or cancellation at any
    ``s_a`` (Mills-ratio form of the exponential tilting ``e^{a/2}
    Phi2(-s_a, -rho s_a; rho)``).
    """
    ra = mills(sa)
    if r <= 0.0:
        return (ra, 0.0) if rho > 0.0 else (0.0, ra)
    small = _INV_SQRT_2PI * _tilted(0.0, r, sa * r, abs(rho) / r, math.inf, 3)
    if rho >= 0.0:
        return ra - small, small
    return small, ra - small


@njit(cache=True, nogil=True)
def tilted_quadrant(sa, sb, rho, r):
    r"""``E[e^{u+v} 1{u<0, v<0}]`` for ``u = s_a z_1``, ``v = s_b z_2``.

    ``corr(z_1, z_2) = rho``, ``r = sqrt(1 - rho^2)``; symmetric in ``(s_a,
    s_b)`` bit for bit (it conditions on the point of larger scale, here
    ``s_a``). With ``z_1 = -w`` the inner expectation is, for ``x_b = s_b r``
    and ``x = x_b - rho w / r >= 0``, ``e^{-rho^2 w^2 / (2 r^2)} R(x)``:

    .. math::

        E_T = \varphi(0) \int_0^{w^*} e^{-s_a w - w^2 / (2 r^2)}
              R(x_b - \rho w / r)\,dw + B,

    with ``w^* = infinity`` for ``rho <= 0`` (``B = 0``). For ``rho > 0``,
    ``w^* = s_b r^2 / rho`` and beyond it ``Phi(-x) = 1 - Phi(x)`` splits
    ``B = B_1 - B_2`` with ``e_* = exp(-x_b^2/2 - s_a w^* - w^{*2}/2)``:

    .. math::

        B_1 = e_* R(\beta_*),\quad \beta_* = s_a + \rho s_b + w^*,\qquad
        B_2 = \varphi(0) e_* \frac r\rho \int_0^\infty
              e^{-\beta_* r y / \rho - y^2 / (2\rho^2)} R(y)\,dy
              \le B_1 / 2.

    Every term is positive and every exponent non-positive, so nothing
    overflows at any scale and ``rho -> +-1`` is continuous (``R(s_a + s_b)``
    and 0 at ``r = 0``).
    """
    if r <= 0.0:
        return mills(sa + sb) if rho > 0.0 else 0.0
    if sa < sb:
        sa, sb = sb, sa
    xb = sb * r
    if rho <= 0.0:
        return _INV_SQRT_2PI * _tilted(sa, r, xb, -rho / r, math.inf, 5)
    ws = xb * r / rho
    head = _INV_SQRT_2PI * _tilted(sa, r, xb, -rho / r, ws, 5)
    es = math.exp(-0.5 * xb * xb - sa * ws - 0.5 * ws * ws)
    bs = sa + sb * rho + ws
    b2 = _tilted(bs * r / rho, rho, 0.0, 1.0, math.inf, 5) * (r / rho)
    return head + es * (mills(bs) - _INV_SQRT_2PI * b2)


# ---------------------------------------------------------------------------
# the same expectations at small scale, by series in the smaller scale

# Scale s_a = sqrt(a) up to which the series of :func:`elu_orthant` is used
# (and s_a s_b <= _SERIES_MAX_PRODUCT): there the quadrature's differences
# E_a - kappa_0 and E_T - E_a - E_b + kappa_0 of O(1) terms lose ~3e-16 / a
# relative, the series none (measured: both within 1e-14 of a 40-digit
# reference at s_a = 0.3, tests/test_elu_scale.py)
_SERIES_MAX_SCALE = 0.3
_SERIES_MAX_PRODUCT = 1.0
_SERIES_MAX_TERMS = 40
_SERIES_DROP = 1e-18  # last term kept: bound below 1e-18 of the first


@njit(cache=True, nogil=True)
def _series_terms(s):
    """Number ``N`` of terms of :func:`elu_orthant`'s series at scale ``s``.

    The ``n``-th term is ``s^n / n!`` times a moment bounded by
    ``sqrt((2n - 1)!!)`` (Cauchy-Schwarz: ``E|z|^n |w|^m <= sqrt(E z^{2n}
    E w^{2m})``), ``s`` times its first; ``N`` is the first ``n`` at which
    that bound falls below ``1e-18`` of the first term (the terms then fall
    faster than geometrically, so the tail is below ``2e-18``).
    """
    bound = 1.0  # s^(n-1) sqrt((2n-1)!!) / n!, n = 1
    n = 1
    while n < _SERIES_MAX_TERMS:
        n += 1
        bound *= s * math.sqrt(2.0 * n - 1.0) / n
        if bound < _SERIES_DROP:
            break
    return n


@njit(cache=True, nogil=True)
def orthant_moments(rho, r, k0, n):
    r"""``M_k = E[z^k 1{z<0, w<0}]``, ``k = 0..n``, standard pair, correlation ``rho``.

    With ``P_k = (-1)^k M_k = E[z^k 1{z>0, w>0}]``, Gaussian integration by
    parts ``E[z f] = E[d_z f] + rho E[d_w f]`` on ``f = z^{k-1} 1{z>0}
    1{w>0}`` gives

    .. math::

        P_k = (k - 1) P_{k-2} + [k = 1]\,\frac{\varphi(0)}2
              + \rho\,\varphi(0)\, r^{k-1}\mu_{k-1},\qquad
        P_0 = \kappa_0 = \frac{\pi - \arccos\rho}{2\pi},

    (the delta terms: ``z | w = 0`` is ``N(0, r^2)``), with the half moments
    ``mu_j = E[xi^j 1{xi > 0}]`` of a standard normal, ``mu_0 = 1/2``,
    ``mu_1 = phi(0)``, ``mu_j = (j - 1) mu_{j-2}``. Every term is
    non-negative for ``rho >= 0``; for ``rho < 0`` the terms are of the size
    of ``sqrt((2k - 1)!!)`` and ``P_k`` carries an absolute error of that
    size times the rounding unit (``r = 0`` exactly at ``rho = +-1``).
    """
    m = np.empty(n + 1)
    m[0] = k0
    mu_prev = 0.0  # mu_{k-2}
    mu = 0.5  # mu_{k-1}
    rp = 1.0  # r^{k-1}
    phi0 = _INV_SQRT_2PI
    for k in range(1, n + 1):
        p = rho * phi0 * rp * mu
        if k == 1:
            p += 0.5 * phi0
        else:
            p += (k - 1.0) * (m[k - 2] if k % 2 == 0 else -m[k - 2])
        m[k] = p if k % 2 == 0 else -p
        # next: mu_k = (k - 1) mu_{k-2} (mu_1 = phi(0)), r^k
        mu_next = phi0 if k == 1 else (k - 1.0) * mu_prev
        mu_prev, mu = mu, mu_next
        rp *= r
    return m


@njit(cache=True, nogil=True)
def _excess_series(s, m, n):
    """``E[(e^{s z} - 1) 1{z<0, w<0}] = sum_{k=1}^{n} s^k / k! M_k``."""
    acc = 0.0
    c = 1.0
    for k in range(1, n + 1):
        c *= s / k
        acc += c * m[k]
    return acc


@njit(cache=True, nogil=True)
def _cross_series(sa, sb, rho, m, n, eb, hb, hbr):
    r"""``D = E[(e^u - 1)(e^v - 1) 1{u<0, v<0}] = sum_{k>=1} s_a^k / k! U_k``.

    ``U_k = E[z^k (e^{s_b w} - 1) 1{z<0, w<0}]`` (exact in ``s_b``): with
    ``T_k = U_k + M_k = E[z^k e^{s_b w} 1{z<0, w<0}]``, integration by parts
    as in :func:`orthant_moments` (now ``d_w e^{s_b w} = s_b e^{s_b w}`` and
    ``E[e^{s_b w} 1{w<0} | z = 0] = R(s_b r)``) gives, the same recursion of
    ``M_k`` subtracted,

    .. math::

        U_k = (k - 1) U_{k-2} - [k = 1]\,\varphi(0)\,(R(s_b r) - \tfrac12)
              + \rho\, s_b\, T_{k-1},\qquad U_0 = E_b - \kappa_0,\ T_0 = E_b,

    ``hbr = R(s_b r) - 1/2`` (:func:`mills_minus_half`). The rounding of
    ``T_{k-1}`` is multiplied by ``s_b`` per step, against ``s_a`` per term of
    the sum: the error stays at the rounding unit while ``s_a s_b <= 1``.
    """
    u_prev = hb  # U_{k-2}
    u = hb  # U_{k-1}
    t = eb  # T_{k-1}
    acc = 0.0
    c = 1.0
    for k in range(1, n + 1):
        un = rho * sb * t
        if k == 1:
            un -= _INV_SQRT_2PI * hbr
        else:
            un += (k - 1.0) * u_prev
        c *= sa / k
        acc += c * un
        u_prev, u = u, un
        t = un + m[k]
    return acc


@njit(cache=True, nogil=True)
def _tilted_pair(s, rho, r, k0):
    """``(E - kappa_0, P)`` of :func:`tilted_orthant` at scale ``s`` (series
    below ``_SERIES_MAX_SCALE``, where ``P = theta / (2 pi) + (R(s) - 1/2)
    - (E - kappa_0)``, a sum whose terms are of the size of the result or of
    ``s``)."""
    if s > _SERIES_MAX_SCALE:
        e, p = tilted_orthant(s, rho, r)
        return e - k0, p, e
    n = _series_terms(s)
    h = _excess_series(s, orthant_moments(rho, r, k0, n), n)
    p = (0.5 - k0) + mills_minus_half(s) - h
    return h, p, k0 + h


@njit(cache=True, nogil=True)
def elu_orthant(sa, sb, rho, r, k0):
    r"""The orthant expectations of the ELU/SELU duals, at every pair of scales.

    For ``u = s_a z``, ``v = s_b w`` (standard pair, correlation ``rho``,
    ``r = sqrt(1 - rho^2)``, ``k0 = P(z<0, w<0)``) returns ``(h_a, p_a, h_b,
    p_b, d)`` with

    .. math::

        h_a = E[(e^u - 1) 1\{u<0, v<0\}],\quad p_a = E[e^u 1\{u<0, v>0\}],

        d = E[(e^u - 1)(e^v - 1) 1\{u<0, v<0\}]

    (``h_b``, ``p_b`` likewise), so that ``E_a = k0 + h_a`` and ``E_T = k0 +
    h_a + h_b + d`` of :func:`tilted_orthant`, :func:`tilted_quadrant`.
    ``h`` is of the size of ``s`` and ``d`` of ``s_a s_b`` as the scales go
    to 0, where the differences of the O(1) quadrature values lose their
    relative accuracy; there they are series in the smaller scale,
    ``e^{s z} - 1 = sum_k (s z)^k / k!``, whose coefficients are the orthant
    moments of :func:`orthant_moments` and :func:`_cross_series` (for ``d``
    exact in the larger scale), truncated by :func:`_series_terms`. Used for
    ``min(s_a, s_b) <= 0.3`` and ``s_a s_b <= 1``; elsewhere the differences
    lose at most ``3e-16 / min(1, s_a s_b)`` relative. Symmetric in ``(s_a,
    s_b)`` bit for bit.
    """
    swap = sa > sb
    if swap:
        sa, sb = sb, sa
    ha, pa, ea = _tilted_pair(sa, rho, r, k0)
    hb, pb, eb = _tilted_pair(sb, rho, r, k0)
    if sa <= _SERIES_MAX_SCALE and sa * sb <= _SERIES_MAX_PRODUCT:
        n = _series_terms(sa)
        m = orthant_moments(rho, r, k0, n)
        d = _cross_series(sa, sb, rho, m, n, eb, hb, mills_minus_half(sb * r))
    else:
        d = (tilted_quadrant(sa, sb, rho, r) - (ea + eb)) + k0
    if swap:
        return hb, pb, ha, pa, d
    return ha, pa, hb, pb, d
