r"""Signal propagation in wide random networks (mean-field theory).

How the NNGP recursion of :class:`~sknnk.NNGPKernel` behaves with depth is
decided by two one-dimensional maps of a network with weight and bias
standard deviations :math:`(\sigma_w, \sigma_b)` [1]_ [2]_:

* the **length map** :math:`q \mapsto \sigma_w^2 V(q) + \sigma_b^2`, with
  :math:`V(q) = E[\phi(\sqrt q z)^2]`, :math:`z \sim N(0, 1)`, whose fixed
  point :math:`q^*` is the variance of a pre-activation deep in the network;
* the **correlation map**
  :math:`c \mapsto (\sigma_w^2 F(q^*, q^*, c q^*) + \sigma_b^2) / q^*`, with
  :math:`F(a, b, c) = E[\phi(u)\phi(v)]`, which always fixes :math:`c = 1`
  with slope

  .. math:: \chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*} z)^2].

:math:`\chi_1 < 1` is the *ordered* phase (all inputs become perfectly
correlated with depth, the NNGP tends to a constant kernel), :math:`\chi_1 > 1`
the *chaotic* phase (correlations converge to :math:`c^* < 1`, nearby inputs
decorrelate), and :math:`\chi_1 = 1` the *edge of chaos*, where information
propagates deepest: the depth scale :math:`\xi_c = -1/\log\chi_c` of the
correlation diverges there. :func:`critical_point` returns :math:`\sigma_w` on
that line for a given :math:`\sigma_b`.

Expectations use closed forms for ``relu``, ``erf`` and ``identity``. For
``tanh`` they use the trapezoid rule in :math:`z` with a step adapted to the
variance, :math:`h = \min(1/4, \pi / (12\sqrt q))` on :math:`[-9, 9]`, which is
spectrally accurate for analytic activations at every variance (Gauss–Hermite
quadrature with a few hundred nodes degrades for :math:`q \gtrsim 5`).

References
----------
.. [1] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein and S. Ganguli,
   "Exponential expressivity in deep neural networks through transient chaos",
   NeurIPS 2016.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli and J. Sohl-Dickstein, "Deep
   information propagation", ICLR 2017.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize
from sklearn.utils import Bunch

from ._validation import check_options, check_real

__all__ = [
    "c_star",
    "chi1",
    "correlation_map",
    "critical_line",
    "critical_point",
    "depth_scales",
    "length_map",
    "mean_field",
    "q_star",
]

ACTIVATION_NAMES = ("erf", "identity", "relu", "tanh")
_Z_MAX = 9.0
_CRITICAL_TOL = 1e-9


# ---------------------------------------------------------------- activations
def _tanh(x):
    return np.tanh(x)


def _tanh_d1(x):
    return 1.0 - np.tanh(x) ** 2


def _tanh_d2(x):
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


_QUADRATURE = {"tanh": (_tanh, _tanh_d1, _tanh_d2)}
#: phi'(0)^2 of the activations that are smooth at 0
_SLOPE0_SQ = {"tanh": 1.0, "erf": 4.0 / math.pi, "identity": 1.0}


def _nodes(q):
    """Trapezoid nodes and weights of E[g(z)], z ~ N(0, 1), for variance q."""
    h = min(0.25, math.pi / (12.0 * math.sqrt(max(q, 1e-300))))
    n = int(math.ceil(_Z_MAX / h))
    z = np.linspace(-n * h, n * h, 2 * n + 1)
    w = np.exp(-0.5 * z * z)
    return z, w / w.sum()


def _V(act, q):
    """E[phi(sqrt(q) z)^2]."""
    if act == "relu":
        return 0.5 * q
    if act == "identity":
        return q
    if act == "erf":
        return 2.0 / math.pi * math.asin(2.0 * q / (1.0 + 2.0 * q))
    phi = _QUADRATURE[act][0]
    z, w = _nodes(q)
    return float(w @ phi(math.sqrt(q) * z) ** 2)


def _W(act, q):
    """E[phi'(sqrt(q) z)^2]."""
    if act == "relu":
        return 0.5
    if act == "identity":
        return 1.0
    if act == "erf":
        return 4.0 / (math.pi * math.sqrt(1.0 + 4.0 * q))
    dphi = _QUADRATURE[act][1]
    z, w = _nodes(q)
    return float(w @ dphi(math.sqrt(q) * z) ** 2)


def _dV(act, q):
    """dV/dq = E[phi'^2] + E[phi phi''] at sqrt(q) z."""
    if act == "relu":
        return 0.5
    if act == "identity":
        return 1.0
    if act == "erf":
        return 4.0 / (math.pi * (1.0 + 2.0 * q) * math.sqrt(1.0 + 4.0 * q))
    phi, dphi, d2phi = _QUADRATURE[act]
    z, w = _nodes(q)
    x = math.sqrt(q) * z
    return float(w @ (dphi(x) ** 2 + phi(x) * d2phi(x)))


def _kappa(c):
    """Arc-cosine functions (kappa_0, kappa_1) of the correlation c."""
    c = min(1.0, max(-1.0, c))
    s = math.sqrt((1.0 - c) * (1.0 + c))
    theta = math.atan2(s, c)
    return (math.pi - theta) / (2 * math.pi), (s + (math.pi - theta) * c) / (
        2 * math.pi
    )


def _FG(act, q, c, which):
    """F(q, q, c q) (which=0) or G(q, q, c q) (which=1)."""
    c = min(1.0, max(-1.0, c))
    if act == "relu":
        k0, k1 = _kappa(c)
        return q * k1 if which == 0 else k0
    if act == "identity":
        return c * q if which == 0 else 1.0
    if act == "erf":
        if which == 0:
            return 2.0 / math.pi * math.asin(2.0 * c * q / (1.0 + 2.0 * q))
        return 4.0 / (math.pi * math.sqrt((1.0 + 2.0 * q) ** 2 - 4.0 * c * c * q * q))
    func = _QUADRATURE[act][which]
    z, w = _nodes(q)
    s = math.sqrt((1.0 - c) * (1.0 + c))
    r = math.sqrt(q)
    u = func(r * z)
    v = func(r * (c * z[:, None] + s * z[None, :]))
    return float(w @ (u[:, None] * v) @ w)


# ---------------------------------------------------------------- validation
def _check(owner, activation, sigma_w, sigma_b):
    check_options(owner, "activation", activation, ACTIVATION_NAMES)
    check_real(owner, "sigma_w", sigma_w, positive=True)
    check_real(owner, "sigma_b", sigma_b, positive=False)
    return float(sigma_w), float(sigma_b)


def _vectorize(scalar_func):
    """Broadcast a function of scalar (sigma_w, sigma_b) over arrays."""
    vec = np.vectorize(scalar_func, otypes=[float])

    @functools.wraps(scalar_func)
    def wrapper(activation, sigma_w, sigma_b=0.0, **kwargs):
        if np.ndim(sigma_w) == 0 and np.ndim(sigma_b) == 0:
            return scalar_func(activation, sigma_w, sigma_b, **kwargs)
        return vec(activation, sigma_w, sigma_b, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = scalar_func.__name__.lstrip("_")
    return wrapper


# ---------------------------------------------------------------- length map
def length_map(q, activation="tanh", sigma_w=1.0, sigma_b=0.0):
    r"""The length map :math:`q \mapsto \sigma_w^2 E[\phi(\sqrt q z)^2] + \sigma_b^2`.

    Parameters
    ----------
    q : float or array-like
        Pre-activation variance(s) of one layer (>= 0).
    activation : {"relu", "erf", "tanh", "identity"}, default="tanh"
        Nonlinearity.
    sigma_w : float, default=1.0
        Weight standard deviation (> 0).
    sigma_b : float, default=0.0
        Bias standard deviation (>= 0).

    Returns
    -------
    q_next : float or ndarray
        Variance of the next layer's pre-activations.

    Examples
    --------
    >>> from sknnk.signal_propagation import length_map
    >>> round(length_map(2.0, "relu", sigma_w=2.0**0.5), 12)  # He init keeps q
    2.0
    """
    sw, sb = _check("length_map", activation, sigma_w, sigma_b)
    q = np.asarray(q, dtype=float)
    if np.any(q < 0) or not np.all(np.isfinite(q)):
        raise ValueError("q must hold finite variances >= 0.")
    out = np.vectorize(lambda s: sw * sw * _V(activation, s) + sb * sb)(q)
    return float(out) if out.ndim == 0 else out


def _q_star(activation, sigma_w, sigma_b=0.0, q0=1.0):
    r"""Fixed point :math:`q^*` of the length map.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_w : float or array-like
        Weight standard deviation(s) (> 0).
    sigma_b : float or array-like, default=0.0
        Bias standard deviation(s) (>= 0).
    q0 : float, default=1.0
        Initial variance; returned only when every variance is a fixed point
        (``relu`` with ``sigma_w**2 = 2``, ``identity`` with ``sigma_w = 1``,
        both with ``sigma_b = 0``).

    Returns
    -------
    q_star : float or ndarray
        The fixed point reached from any ``q0 > 0``: 0 if the variance decays
        to 0, ``inf`` if it grows without bound (``relu`` with
        ``sigma_w**2 >= 2`` and ``sigma_b > 0``, for instance). For ``tanh``
        and ``erf`` it is found by Brent's method on
        :math:`\sigma_w^2 V(q) + \sigma_b^2 - q`.

    Examples
    --------
    >>> from sknnk.signal_propagation import q_star
    >>> round(q_star("tanh", 1.1225390048, 0.05), 4)
    0.1537
    >>> q_star("relu", 1.0, 0.5)  # sigma_b^2 / (1 - sigma_w^2 / 2)
    0.5
    """
    sw, sb = _check("q_star", activation, sigma_w, sigma_b)
    sw2, sb2 = sw * sw, sb * sb
    if activation in ("relu", "identity"):
        slope = sw2 / 2.0 if activation == "relu" else sw2
        if abs(slope - 1.0) <= 4 * np.finfo(float).eps:
            return float(q0) if sb2 == 0.0 else math.inf
        if slope < 1.0:
            return sb2 / (1.0 - slope)
        return math.inf

    def g(q):
        return sw2 * _V(activation, q) + sb2 - q

    if sb2 == 0.0:
        if sw2 * _SLOPE0_SQ[activation] <= 1.0:
            return 0.0
        lo = sw2
        while g(lo) <= 0.0 and lo > 1e-300:
            lo *= 0.5
        if g(lo) <= 0.0:
            return 0.0
    else:
        lo = sb2
    hi = sw2 + sb2  # V < 1 for tanh and erf, so g(hi) < 0
    return optimize.brentq(g, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps)


def _chi1(activation, sigma_w, sigma_b=0.0):
    r"""Slope :math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*}z)^2]` at :math:`c = 1`.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_w : float or array-like
        Weight standard deviation(s).
    sigma_b : float or array-like, default=0.0
        Bias standard deviation(s).

    Returns
    -------
    chi1 : float or ndarray
        < 1 ordered, > 1 chaotic, = 1 critical. For ``relu`` it is
        :math:`\sigma_w^2/2` and for ``identity`` :math:`\sigma_w^2`, whatever
        :math:`q^*` (which may be infinite).

    Examples
    --------
    >>> from sknnk.signal_propagation import chi1
    >>> round(chi1("tanh", 1.3955839752, 0.3), 8)
    1.0
    """
    sw, sb = _check("chi1", activation, sigma_w, sigma_b)
    q = _q_star(activation, sw, sb)
    if math.isinf(q):  # relu and identity: W does not depend on q
        q = 1.0
    return sw * sw * _W(activation, q)


q_star = _vectorize(_q_star)
chi1 = _vectorize(_chi1)


# ---------------------------------------------------------------- correlations
def correlation_map(c, activation="tanh", sigma_w=1.0, sigma_b=0.0, q=None):
    r"""The correlation map of one layer at the fixed-point variance.

    .. math::

        c \mapsto \frac{\sigma_w^2 F(q, q, c q) + \sigma_b^2}
                       {\sigma_w^2 V(q) + \sigma_b^2},

    which is :math:`(\sigma_w^2 F(q^*, q^*, c q^*) + \sigma_b^2)/q^*` at
    :math:`q = q^*`.

    Parameters
    ----------
    c : float or array-like
        Correlation(s) in [-1, 1].
    activation : {"relu", "erf", "tanh", "identity"}, default="tanh"
        Nonlinearity.
    sigma_w : float, default=1.0
        Weight standard deviation.
    sigma_b : float, default=0.0
        Bias standard deviation.
    q : float, default=None
        Variance of the layer; ``None`` uses :math:`q^*`. At
        :math:`q \in \{0, \infty\}` the limit is used (:math:`2\kappa_1(c)`
        for ``relu``, :math:`c` for the others).

    Returns
    -------
    c_next : float or ndarray

    Examples
    --------
    >>> from sknnk.signal_propagation import correlation_map
    >>> round(correlation_map(1.0, "tanh", 1.5, 0.1), 12)
    1.0
    """
    sw, sb = _check("correlation_map", activation, sigma_w, sigma_b)
    if q is None:
        q = _q_star(activation, sw, sb)
    c = np.asarray(c, dtype=float)
    if np.any(np.abs(c) > 1) or np.any(np.isnan(c)):
        raise ValueError("c must hold correlations in [-1, 1].")

    def one(ci):
        if q == 0.0 or math.isinf(q):
            return 2.0 * _kappa(ci)[1] if activation == "relu" else ci
        num = sw * sw * _FG(activation, q, ci, 0) + sb * sb
        return num / (sw * sw * _V(activation, q) + sb * sb)

    out = np.vectorize(one, otypes=[float])(c)
    return float(out) if out.ndim == 0 else out


def _c_star(activation, sigma_w, sigma_b=0.0, tol=1e-13, max_iter=1000):
    r"""Stable fixed point :math:`c^*` of the correlation map.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_w : float or array-like
        Weight standard deviation(s).
    sigma_b : float or array-like, default=0.0
        Bias standard deviation(s).
    tol : float, default=1e-13
        Tolerance of the fixed-point iteration.
    max_iter : int, default=1000
        Maximum number of iterations before Brent's method takes over.

    Returns
    -------
    c_star : float or ndarray
        1 in the ordered phase and on the critical line
        (:math:`\chi_1 \le 1 + 10^{-9}`; always for ``relu`` and ``identity``,
        which have no chaotic phase of the correlations), :math:`< 1` in the
        chaotic phase: the limit of the correlation map iterated from 0,
        polished by Brent's method.

    Examples
    --------
    >>> from sknnk.signal_propagation import c_star
    >>> round(c_star("tanh", 2.5, 0.1), 5)
    0.01535
    """
    sw, sb = _check("c_star", activation, sigma_w, sigma_b)
    if activation in ("relu", "identity"):
        return 1.0
    if _chi1(activation, sw, sb) <= 1.0 + _CRITICAL_TOL:
        return 1.0
    q = _q_star(activation, sw, sb)

    def h(c):
        return correlation_map(c, activation, sw, sb, q=q) - c

    # tanh and erf are odd: the map is increasing, so the iterates from 0 rise
    # monotonically toward c* (h > 0 below c*, h < 0 between c* and 1)
    c = 0.0
    for _ in range(max_iter):
        step = h(c)
        c += step
        if abs(step) < tol:
            break
    lo = max(0.0, c - 1e-6)
    if h(lo) < 0.0:
        lo = 0.0
    hi = min(c + 1e-6, 0.5 * (1.0 + c))
    while h(hi) >= 0.0 and 1.0 - hi > 1e-15:
        hi = 0.5 * (1.0 + hi)
    if h(lo) >= 0.0 > h(hi):
        c = optimize.brentq(h, lo, hi, xtol=1e-15)
    return c


c_star = _vectorize(_c_star)


def depth_scales(activation, sigma_w, sigma_b=0.0):
    r"""Depth scales over which variances and correlations converge.

    :math:`|q^l - q^*| \propto e^{-l/\xi_q}` and
    :math:`|c^l - c^*| \propto e^{-l/\xi_c}`, with

    .. math::

        \xi_q^{-1} = -\log\big(\sigma_w^2 V'(q^*)\big)
                   = -\log\big(\chi_1 + \sigma_w^2 E[\phi''\phi]\big),
        \qquad
        \xi_c^{-1} = -\log\chi_c, \quad
        \chi_c = \sigma_w^2 G(q^*, q^*, c^* q^*),

    where :math:`\chi_c = \chi_1` in the ordered phase. :math:`\xi_c` diverges
    on the critical line.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_w : float
        Weight standard deviation.
    sigma_b : float, default=0.0
        Bias standard deviation.

    Returns
    -------
    xi_q : float
        Depth scale of the variance (``inf`` if the slope of the length map
        is >= 1, e.g. when :math:`q^*` is 0 or infinite at criticality).
    xi_c : float
        Depth scale of the correlation (``inf`` if :math:`\chi_c \ge 1`).

    Examples
    --------
    >>> from sknnk.signal_propagation import depth_scales
    >>> xi_q, xi_c = depth_scales("tanh", 1.1, 0.3)
    >>> round(1 / xi_c, 6)  # -log chi_1, the measured decay rate 0.234907
    0.234907
    """
    sw, sb = _check("depth_scales", activation, sigma_w, sigma_b)
    q = _q_star(activation, sw, sb)
    c = _c_star(activation, sw, sb)
    qq = 1.0 if math.isinf(q) else q
    slope_q = sw * sw * _dV(activation, qq)
    chi_c = sw * sw * _FG(activation, qq, c, 1)
    xi_q = -1.0 / math.log(slope_q) if slope_q < 1.0 else math.inf
    xi_c = -1.0 / math.log(chi_c) if chi_c < 1.0 else math.inf
    return xi_q, xi_c


# ---------------------------------------------------------------- criticality
def critical_point(activation, sigma_b=0.0):
    r""":math:`\sigma_w` on the ordered/chaotic boundary :math:`\chi_1 = 1`.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_b : float, default=0.0
        Bias standard deviation.

    Returns
    -------
    sigma_w : float
        The critical weight standard deviation: :math:`\sqrt 2` for ``relu``
        (He initialisation) and 1 for ``identity`` (for ``sigma_b > 0`` the
        variance then grows linearly with depth, so the critical point with
        a finite :math:`q^*` needs ``sigma_b = 0``); for ``tanh`` and ``erf``
        :math:`1/\phi'(0)` at ``sigma_b = 0`` and otherwise the root of
        :math:`\chi_1(\sigma_w) = 1` (Brent's method, :math:`q^*` solved
        inside).

    Examples
    --------
    >>> from sknnk.signal_propagation import critical_point
    >>> round(critical_point("tanh", 0.1), 8)
    1.19340073
    >>> round(critical_point("relu"), 6)
    1.414214
    """
    check_options("critical_point", "activation", activation, ACTIVATION_NAMES)
    check_real("critical_point", "sigma_b", sigma_b, positive=False)
    if activation == "relu":
        return math.sqrt(2.0)
    if activation == "identity":
        return 1.0
    lo = 1.0 / math.sqrt(_SLOPE0_SQ[activation])
    if sigma_b == 0:
        return lo

    def g(sw):
        return _chi1(activation, sw, sigma_b) - 1.0

    hi = 2.0 * lo
    while g(hi) <= 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e8:
            raise RuntimeError(f"no critical sigma_w found for sigma_b={sigma_b}.")
    return optimize.brentq(g, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps)


def critical_line(activation, sigma_b):
    r"""Vectorised :func:`critical_point`: the boundary :math:`\sigma_w(\sigma_b)`.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_b : array-like
        Bias standard deviations.

    Returns
    -------
    sigma_w : ndarray
        Critical weight standard deviations, same shape as ``sigma_b``.

    Examples
    --------
    >>> from sknnk.signal_propagation import critical_line
    >>> critical_line("tanh", [0.0, 0.5]).round(6)
    array([1.      , 1.549674])
    """
    return np.vectorize(lambda sb: critical_point(activation, sb), otypes=[float])(
        np.asarray(sigma_b, dtype=float)
    )


def mean_field(activation, sigma_w, sigma_b=0.0):
    r"""All mean-field quantities of one :math:`(\sigma_w, \sigma_b)` point.

    Parameters
    ----------
    activation : {"relu", "erf", "tanh", "identity"}
        Nonlinearity.
    sigma_w : float
        Weight standard deviation.
    sigma_b : float, default=0.0
        Bias standard deviation.

    Returns
    -------
    result : Bunch
        ``q_star``, ``chi1``, ``c_star``, ``chi_c``, ``xi_q``, ``xi_c`` and
        ``phase`` (``"ordered"``, ``"critical"`` or ``"chaotic"``; critical
        means :math:`|\chi_1 - 1| < 10^{-9}`).

    Examples
    --------
    >>> from sknnk.signal_propagation import mean_field
    >>> mean_field("tanh", 2.5, 0.1).phase
    'chaotic'
    """
    sw, sb = _check("mean_field", activation, sigma_w, sigma_b)
    q = _q_star(activation, sw, sb)
    x1 = _chi1(activation, sw, sb)
    c = _c_star(activation, sw, sb)
    qq = 1.0 if math.isinf(q) else q
    xi_q, xi_c = depth_scales(activation, sw, sb)
    if abs(x1 - 1.0) <= _CRITICAL_TOL:
        phase = "critical"
    else:
        phase = "ordered" if x1 < 1.0 else "chaotic"
    return Bunch(
        q_star=q,
        chi1=x1,
        c_star=c,
        chi_c=sw * sw * _FG(activation, qq, c, 1),
        xi_q=xi_q,
        xi_c=xi_c,
        phase=phase,
    )
