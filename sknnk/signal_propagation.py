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

Every activation the kernels accept works here (names, objects of
:mod:`sknnk.activations`, callables). The expectations :math:`V`, :math:`W`,
:math:`F` and :math:`G` are the engine's own dual activations, taken from the
activation registry (:mod:`sknnk._numerics.registry`): closed forms where the
kernels have them, the Hermite series (trapezoid rule in :math:`z`, spectrally
accurate for analytic activations) otherwise.

Fixed points are those the iterated maps reach. :math:`q^*` is the first root
of :math:`\sigma_w^2 V(q) + \sigma_b^2 - q` met from ``q0`` in the direction
the length map moves (0 or ``inf`` if there is none). :math:`c^*` is the
limit of the correlation map iterated from 0, which increases to the
smallest fixed point in [0, 1] (the map has nonnegative Mehler coefficients,
so it is increasing and convex there). Activations with a jump (``"step"``,
``"sign"``) have a correlation map of infinite slope at :math:`c = 1`:
:math:`\chi_1 = \infty`, they are chaotic for every :math:`\sigma_w`.

**Residual blocks and layer normalisation.** Every function takes the
keywords ``residual``, ``branch_scale`` and ``normalization`` of the kernels
(the network of :class:`~sknnk.NNGPKernel`). Under layer normalisation the
nonlinearity always sees unit variance: the length map of a plain block is
the constant :math:`\sigma_w^2 V(1) + \sigma_b^2`, :math:`q^* = 1` (the
variance of the normalised pre-activations) and the correlation map is
:math:`c \mapsto (\sigma_w^2 F(1, 1, c) + \sigma_b^2) / (\sigma_w^2 V(1) +
\sigma_b^2)`, with slope :math:`\chi_1 = \sigma_w^2 W(1) / (\sigma_w^2 V(1)
+ \sigma_b^2)` at :math:`c = 1`. A residual block
:math:`z \mapsto z + \alpha\,\mathrm{branch}(z)` maps

.. math::

    q \mapsto q + \alpha^2 B(q), \qquad
    c \mapsto \frac{c\, q + \alpha^2 (\sigma_w^2 F(\tilde q, \tilde q,
        c \tilde q) + \sigma_b^2)}{q + \alpha^2 B(q)},

with :math:`B(q) = \sigma_w^2 V(\tilde q) + \sigma_b^2` and :math:`\tilde q
= q` (:math:`\tilde q = 1` under LN). Without normalisation the variance
grows at every block, so there is no finite fixed point :math:`q^*` (nor
:math:`\chi_1`, :math:`c^*` or depth scales): those functions raise a
``ValueError``, and the maps need the variance ``q`` explicitly. With
normalisation the fixed points of the residual correlation map are those of
the branch's map, whose slope :math:`\chi_1` decides stability (the
residual map's slope at :math:`c = 1`, :math:`(q + \alpha^2\chi_1 B) / (q +
\alpha^2 B)`, is below 1 exactly when :math:`\chi_1 < 1`), but it tends to 1
as the stream variance grows linearly with depth: correlations converge
polynomially, not exponentially, and the correlation depth scale is
infinite [3]_ [4]_.

References
----------
.. [1] B. Poole, S. Lahiri, M. Raghu, J. Sohl-Dickstein and S. Ganguli,
   "Exponential expressivity in deep neural networks through transient chaos",
   NeurIPS 2016.
.. [2] S. S. Schoenholz, J. Gilmer, S. Ganguli and J. Sohl-Dickstein, "Deep
   information propagation", ICLR 2017.
.. [3] G. Yang and S. S. Schoenholz, "Mean field residual networks: on the
   edge of chaos", NeurIPS 2017.
.. [4] S. Hayou, E. Clerico, B. He, G. Deligiannidis, A. Doucet and
   J. Rousseau, "Stable ResNet", AISTATS 2021.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy import optimize, special
from sklearn.utils import Bunch

from ._numerics import registry
from ._validation import check_network, check_real

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

_CRITICAL_TOL = 1e-9
_EPS = np.finfo(float).eps
_Q_MAX = 1e64  # variances above are taken as diverging
_Q_MIN = 1e-290  # and below as vanishing


# ---------------------------------------------------------------- engine maps
def _V(act, q):
    """V(q) = E[phi(sqrt(q) z)^2]."""
    return float(act.diag([q], derivatives=False)[0][0])


def _W(act, q):
    """W(q) = E[phi'(sqrt(q) z)^2]."""
    return float(act.diag([q], derivatives=False)[1][0])


def _dV(act, q):
    """dV/dq."""
    return float(act.diag([q])[2][0])


def _Fc(act, q, c):
    """(F, dF/dc) at the covariance [[q, c q], [c q, q]]."""
    f, _, fc = act.dual(q, [min(1.0, max(-1.0, c))])
    return float(f[0]), float(fc[0])


def _normalised(act, q):
    """``(act', q')`` whose maps at ``q'`` are the limits of those of ``act``
    at ``q`` in {0, inf} (the normalised correlation map and ``dF/dc``), or
    ``(None, q)`` when the map of correlations is the identity.

    Positively homogeneous activations have q-independent normalised maps
    (evaluated at q = 1). Otherwise q -> 0 linearises phi (``q* = 0`` needs
    ``phi(0) = 0``: the identity map) and q -> inf sees only the slopes of
    ``phi`` at -+inf, an :class:`~sknnk.activations.ABReLU`.
    """
    if 0.0 < q < math.inf:
        return act, q
    if act.degree is not None:
        return act, 1.0
    if q == 0.0:
        return None, q
    a, b = act.slopes_at_infinity()
    return registry.resolve("abrelu", (a, b)), 1.0


def _w_infinity(act):
    """lim W(q) as q -> inf (where q* is infinite)."""
    if act.degree is not None:
        return _W(act, 1.0) if act.degree == 1 else math.inf
    a, b = act.slopes_at_infinity()
    return 0.5 * (a * a + b * b)


# ---------------------------------------------------------------- validation
class _Arch(NamedTuple):
    """The architecture of the maps: residual blocks (``a2 = alpha^2``) and
    layer normalisation (``ln``)."""

    residual: bool
    a2: float
    ln: bool


def _check(owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization):
    """Validate the parameters of one ``(sigma_w, sigma_b)`` point of a map.

    The one check of every public function, with the rules and words of
    :func:`sknnk._validation.check_network`.

    Returns
    -------
    act, sigma_w, sigma_b, arch : Resolved, float, float, _Arch
    """
    act = check_network(owner, activation=activation, sigma_w=sigma_w, sigma_b=sigma_b)
    check_network(
        owner,
        residual=residual,
        branch_scale=branch_scale,
        normalization=normalization,
    )
    arch = _Arch(bool(residual), float(branch_scale) ** 2, normalization == "layer")
    return act, float(sigma_w), float(sigma_b), arch


def _check_fixed(owner, *params):
    """:func:`_check` of a fixed-point quantity (``q*``, ``chi_1``, ``c*``,
    the depth scales), refusing a residual network without layer
    normalisation, which has none (:func:`_no_fixed_point`)."""
    act, sw, sb, arch = _check(owner, *params)
    if arch.residual and not arch.ln:
        raise _no_fixed_point(owner)
    return act, sw, sb, arch


def _no_fixed_point(owner):
    """The error of a fixed-point quantity of a residual net without LN."""
    return ValueError(
        f"{owner}: a residual network without layer normalisation has no finite "
        "fixed point q*: its variance grows at every block (q -> q + "
        "branch_scale**2 (sigma_w**2 V(q) + sigma_b**2)), so q*, chi_1, c* and "
        "the depth scales do not exist. Use normalization='layer' (q* = 1), "
        "residual=False, or iterate length_map / correlation_map with "
        "residual=True and an explicit q."
    )


def _ln_map(act, sw2, sb2):
    """``(B, chi_1)`` of a layer-normalised branch: the variance
    ``sw2 V(1) + sb2`` of its output and the slope ``sw2 W(1) / B`` of its
    correlation map at ``c = 1`` (infinite for a jump)."""
    branch = sw2 * _V(act, 1.0) + sb2
    return branch, math.inf if act.jump else sw2 * _W(act, 1.0) / branch


def _vectorize(scalar_func):
    """Broadcast a function of scalar (sigma_w, sigma_b) over arrays."""

    @functools.wraps(scalar_func)
    def wrapper(activation, sigma_w, sigma_b=0.0, **kwargs):
        if np.ndim(sigma_w) == 0 and np.ndim(sigma_b) == 0:
            return scalar_func(activation, sigma_w, sigma_b, **kwargs)
        return np.vectorize(
            lambda sw, sb: scalar_func(activation, sw, sb, **kwargs), otypes=[float]
        )(sigma_w, sigma_b)

    wrapper.__name__ = wrapper.__qualname__ = scalar_func.__name__.lstrip("_")
    return wrapper


# ---------------------------------------------------------------- length map
def length_map(
    q,
    activation="tanh",
    sigma_w=1.0,
    sigma_b=0.0,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
    r"""The length map :math:`q \mapsto \sigma_w^2 E[\phi(\sqrt q z)^2] + \sigma_b^2`.

    Parameters
    ----------
    q : float or array-like
        Pre-activation variance(s) of one layer (>= 0).
    activation : str, activation object or callable, default="tanh"
        Nonlinearity: any activation the kernels accept.
    sigma_w : float, default=1.0
        Weight standard deviation (> 0).
    sigma_b : float, default=0.0
        Bias standard deviation (>= 0).
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    q_next : float or ndarray
        Variance of the next layer's pre-activations:
        ``B = sigma_w**2 V(q~) + sigma_b**2``, or ``q + branch_scale**2 B``
        for a residual block, with ``q~ = q`` (under layer normalisation 1,
        and 0 at ``q = 0``, where ``LN(0) = 0``).

    Examples
    --------
    >>> from sknnk.signal_propagation import length_map
    >>> round(length_map(2.0, "relu", sigma_w=2.0**0.5), 12)  # He init keeps q
    2.0
    """
    owner = "length_map"
    act, sw, sb, arch = _check(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    q = np.asarray(q, dtype=float)
    if np.any(q < 0) or not np.all(np.isfinite(q)):
        raise ValueError("q must hold finite variances >= 0.")
    qa = np.where(q > 0.0, 1.0, 0.0) if arch.ln else q  # the input of phi
    v = act.diag(qa.reshape(-1), derivatives=False)[0].reshape(q.shape)
    with np.errstate(over="ignore"):  # refused just below
        out = sw * sw * v + sb * sb
        if arch.residual:
            out = q + arch.a2 * out
    if not np.all(np.isfinite(out)):
        i = int(np.flatnonzero(~np.isfinite(out.reshape(-1)))[0])
        raise ValueError(
            "length_map: the next variance sigma_w**2 V(q) + sigma_b**2 overflows "
            f"float64 at q={float(q.reshape(-1)[i]):.3g} (sigma_w={sw:g}, "
            f"sigma_b={sb:g}): use a smaller q or sigma_w."
        )
    return float(out) if out.ndim == 0 else out


def _q_star(
    activation,
    sigma_w,
    sigma_b=0.0,
    q0=1.0,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
    r"""Fixed point :math:`q^*` of the length map.

    Parameters
    ----------
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
    sigma_w : float or array-like
        Weight standard deviation(s) (> 0).
    sigma_b : float or array-like, default=0.0
        Bias standard deviation(s) (>= 0).
    q0 : float, default=1.0
        Initial variance; returned only when every variance is a fixed point
        (``relu`` with ``sigma_w**2 = 2``, ``identity`` with ``sigma_w = 1``,
        both with ``sigma_b = 0``).
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    q_star : float or ndarray
        The fixed point the length map reaches from ``q0``: 0 if the variance
        decays to 0, ``inf`` if it grows without bound (``relu`` with
        ``sigma_w**2 >= 2`` and ``sigma_b > 0``, for instance). It is the
        first root of :math:`\sigma_w^2 V(q) + \sigma_b^2 - q` met from
        ``q0`` in the direction the map moves (a geometric search, then
        Brent's method); positively homogeneous activations of degree 1
        (``relu``, ``abs``, ``identity``, ...) use the closed form
        :math:`\sigma_b^2 / (1 - \sigma_w^2 V(1))`. Under layer
        normalisation 1 (the variance of the normalised pre-activations).

    Raises
    ------
    ValueError
        For a residual network without layer normalisation (no finite
        fixed point).

    Examples
    --------
    >>> from sknnk.signal_propagation import q_star
    >>> round(q_star("tanh", 1.1225390048, 0.05), 4)
    0.1537
    >>> q_star("relu", 1.0, 0.5)  # sigma_b^2 / (1 - sigma_w^2 / 2)
    0.5
    """
    owner = "q_star"
    act, sw, sb, arch = _check_fixed(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    check_real(owner, "q0", q0, positive=True)
    if arch.ln:
        return 1.0
    return _fixed_q(act, sw * sw, sb * sb, float(q0))


def _fixed_q(act, sw2, sb2, q0):
    """The fixed point of q -> sw2 V(q) + sb2 reached from q0 (see q_star)."""
    if act.degree == 1:  # V(q) = V(1) q
        slope = sw2 * _V(act, 1.0)
        if abs(slope - 1.0) <= 4 * _EPS:
            return q0 if sb2 == 0.0 else math.inf
        return sb2 / (1.0 - slope) if slope < 1.0 else math.inf

    def g(q):
        return sw2 * act.diag(q, derivatives=False)[0] + sb2 - q

    g0 = float(g([q0])[0])
    if g0 == 0.0:
        return q0
    # the map moves up (g > 0) or down: search the first sign change of g
    # in that direction on a geometric grid, 16 points at a time
    factor = 4.0 if g0 > 0 else 0.25
    prev = q0
    with np.errstate(over="ignore", invalid="ignore"):
        while _Q_MIN < prev < _Q_MAX:
            grid = prev * factor ** np.arange(1, 17)
            grid = grid[(grid >= _Q_MIN) & (grid <= _Q_MAX)]
            if grid.size == 0:
                break
            vals = g(grid)
            cross = np.flatnonzero(vals <= 0.0 if g0 > 0 else vals >= 0.0)
            if cross.size:
                i = cross[0]
                far = grid[i]
                if vals[i] == 0.0:
                    return float(far)
                near = prev if i == 0 else grid[i - 1]
                lo, hi = min(near, far), max(near, far)
                return optimize.brentq(
                    lambda q: float(g([q])[0]), lo, hi,
                    xtol=min(1e-15, 1e-15 * lo), rtol=4 * _EPS,
                )  # fmt: skip
            prev = grid[-1]
    return math.inf if g0 > 0 else 0.0


def _chi1(
    activation,
    sigma_w,
    sigma_b=0.0,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
    r"""Slope :math:`\chi_1 = \sigma_w^2 E[\phi'(\sqrt{q^*}z)^2]` at :math:`c = 1`.

    Parameters
    ----------
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
    sigma_w : float or array-like
        Weight standard deviation(s).
    sigma_b : float or array-like, default=0.0
        Bias standard deviation(s).
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    chi1 : float or ndarray
        < 1 ordered, > 1 chaotic, = 1 critical. For ``relu`` it is
        :math:`\sigma_w^2/2` and for ``identity`` :math:`\sigma_w^2`, whatever
        :math:`q^*` (which may be infinite). At :math:`q^* = \infty` it is the
        limit :math:`\sigma_w^2 (\phi'(-\infty)^2 + \phi'(\infty)^2) / 2`
        (``inf`` if :math:`\phi'` grows); ``inf`` for activations with a jump.
        Under layer normalisation (with or without residual blocks) the
        slope of the branch's correlation map,
        :math:`\sigma_w^2 W(1) / (\sigma_w^2 V(1) + \sigma_b^2)`, which
        decides the phase (see the module doc).

    Raises
    ------
    ValueError
        For a residual network without layer normalisation (no finite
        fixed point).

    Examples
    --------
    >>> from sknnk.signal_propagation import chi1
    >>> round(chi1("tanh", 1.3955839752, 0.3), 8)
    1.0
    """
    owner = "chi1"
    act, sw, sb, arch = _check_fixed(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    if arch.ln:
        return _ln_map(act, sw * sw, sb * sb)[1]
    return _chi(act, sw * sw, _fixed_q(act, sw * sw, sb * sb, 1.0))


def _chi(act, sw2, q):
    """chi_1 = sw2 W(q) at the fixed point q (infinite for a jump)."""
    if act.jump:
        return math.inf
    if math.isinf(q):
        return sw2 * _w_infinity(act)
    return sw2 * _W(act, q)


q_star = _vectorize(_q_star)
chi1 = _vectorize(_chi1)


# ---------------------------------------------------------------- correlations
def correlation_map(
    c,
    activation="tanh",
    sigma_w=1.0,
    sigma_b=0.0,
    q=None,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
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
    activation : str, activation object or callable, default="tanh"
        Nonlinearity: any activation the kernels accept.
    sigma_w : float, default=1.0
        Weight standard deviation.
    sigma_b : float, default=0.0
        Bias standard deviation.
    q : float, default=None
        Variance of the layer; ``None`` uses :math:`q^*`. At
        :math:`q \in \{0, \infty\}` the limit is used: the
        :math:`q`-independent map :math:`F(1, 1, c) / V(1)` of positively
        homogeneous activations (:math:`2\kappa_1(c)` for ``relu``), :math:`c`
        at :math:`q = 0` and the map of :class:`~sknnk.activations.ABReLU` with
        the slopes of :math:`\phi` at :math:`\mp\infty` at :math:`q = \infty`
        for the others. Not used by a plain layer-normalised block (its map
        does not depend on ``q``); required by a residual block (the variance
        of the stream, finite and > 0: there is no fixed point to default to).
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    c_next : float or ndarray

    Examples
    --------
    >>> from sknnk.signal_propagation import correlation_map
    >>> round(correlation_map(1.0, "tanh", 1.5, 0.1), 12)
    1.0
    """
    owner = "correlation_map"
    act, sw, sb, arch = _check(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    c = np.asarray(c, dtype=float)
    if np.any(np.abs(c) > 1) or np.any(np.isnan(c)):
        raise ValueError("c must hold correlations in [-1, 1].")
    sw2, sb2 = sw * sw, sb * sb
    if arch.residual:
        if q is None or not 0.0 < float(q) < math.inf:
            raise ValueError(
                "correlation_map(residual=True) needs the variance q of the "
                "block's input stream (a finite float > 0): a residual block "
                f"maps c to a value that depends on it. Got q={q!r}."
            )
        q = float(q)
        qa = 1.0 if arch.ln else q
        branch = _cmap(act, sw2, sb2, qa, c.reshape(-1))  # F~ / B at qa
        # (c q + a2 B branch) / (q + a2 B) = c + w (branch - c), with the
        # weight w = a2 B / (q + a2 B) of the branch from logs (B = sw2 V +
        # sb2 may overflow where the weight is 1)
        log_b = np.logaddexp(math.log(sw2) + _log(_V(act, qa)), _log(sb2))
        w = special.expit(math.log(arch.a2) + log_b - math.log(q))
        out = (1.0 - w) * c.reshape(-1) + w * branch
    else:
        if arch.ln:
            q = 1.0
        elif q is None:
            q = _fixed_q(act, sw2, sb2, 1.0)
        out = _cmap(act, sw2, sb2, float(q), c.reshape(-1))
    out = out.reshape(c.shape)
    return float(out) if out.ndim == 0 else out


def _cmap(act, sw2, sb2, q, c):
    """The correlation map at variance q of the correlations c (1-D)."""
    lim, qq = _normalised(act, q)
    if lim is None:
        return c.copy()
    if qq != q:  # the limit q in {0, inf}: the biases do not count
        return lim.dual(qq, c)[0] / _V(lim, qq)
    if act.degree is not None:
        # F(q, q, c q) = q^k F(1, 1, c): the bias enters as sb2 / (sw2 q^k)
        f, v = act.dual(1.0, c)[0], _V(act, 1.0)
        log_r = _log_ratio(sb2, sw2) - act.degree * math.log(q)
    else:
        f, v = act.dual(q, c)[0], _V(act, q)
        log_r = _log_ratio(sb2, sw2)
    return _biased_ratio(f, v, log_r)


def _log(x):
    """log(x) for x >= 0 (-inf at 0)."""
    return math.log(x) if x > 0.0 else -math.inf


def _log_ratio(sb2, sw2):
    """log(sb2 / sw2) (-inf without bias), from the logs: no overflow."""
    return _log(sb2) - math.log(sw2)


def _biased_ratio(f, v, log_r):
    """``(f + r) / (v + r)`` with ``r = exp(log_r)``, in the form whose
    factors stay finite: ``(f / r + 1) / (v / r + 1)`` when ``r > 1``."""
    if log_r <= 0.0:
        r = math.exp(log_r)
        return (f + r) / (v + r)
    inv = math.exp(-log_r)
    return (f * inv + 1.0) / (v * inv + 1.0)


def _c_star(
    activation,
    sigma_w,
    sigma_b=0.0,
    tol=1e-13,
    max_iter=1000,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
    r"""Stable fixed point :math:`c^*` of the correlation map.

    Parameters
    ----------
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
    sigma_w : float or array-like
        Weight standard deviation(s).
    sigma_b : float or array-like, default=0.0
        Bias standard deviation(s).
    tol : float, default=1e-13
        Tolerance of the fixed-point iteration.
    max_iter : int, default=1000
        Maximum number of iterations before Brent's method takes over.
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    c_star : float or ndarray
        1 in the ordered phase and on the critical line
        (:math:`\chi_1 \le 1 + 10^{-9}`; always for ``relu`` and ``identity``,
        which have no chaotic phase of the correlations), :math:`< 1` in the
        chaotic phase: the limit of the correlation map iterated from 0,
        polished by Brent's method. At :math:`q^* \in \{0, \infty\}` the
        limit map of :func:`correlation_map` is iterated. Under layer
        normalisation the fixed point of the normalised branch map, which is
        also that of a residual block's map (see the module doc).

    Raises
    ------
    ValueError
        For a residual network without layer normalisation (no finite
        fixed point).

    Examples
    --------
    >>> from sknnk.signal_propagation import c_star
    >>> round(c_star("tanh", 2.5, 0.1), 5)
    0.01535
    """
    owner = "c_star"
    act, sw, sb, arch = _check_fixed(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    sw2, sb2 = sw * sw, sb * sb
    if arch.ln:
        return _fixed_c(act, sw2, sb2, 1.0, tol, max_iter, _ln_map(act, sw2, sb2)[1])
    q = _fixed_q(act, sw2, sb2, 1.0)
    return _fixed_c(act, sw2, sb2, q, tol, max_iter)


def _fixed_c(act, sw2, sb2, q, tol=1e-13, max_iter=1000, slope=None):
    """The limit of the correlation map at variance q iterated from 0
    (``slope``: that of the map at ``c = 1`` when it is not ``chi_1`` at
    ``q``, as under layer normalisation)."""
    lim, qq = _normalised(act, q)
    if lim is None:
        return 1.0
    if slope is None:
        if act.jump:
            slope = math.inf
        elif qq != q:  # slope at c = 1 of the limit map F(1, 1, c) / V(1)
            slope = _W(lim, qq) / _V(lim, qq)
        else:
            slope = _chi(act, sw2, q)
    if slope <= 1.0 + _CRITICAL_TOL:
        return 1.0

    def h(c):
        return float(_cmap(act, sw2, sb2, q, np.array([c]))[0]) - c

    # the map is increasing and convex on [0, 1] with a value >= 0 at 0: the
    # iterates from 0 rise monotonically toward c* (h > 0 below c*, h < 0
    # between c* and 1)
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


def depth_scales(
    activation,
    sigma_w,
    sigma_b=0.0,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
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
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
    sigma_w : float
        Weight standard deviation.
    sigma_b : float, default=0.0
        Bias standard deviation.
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    xi_q : float
        Depth scale of the variance, :math:`-1/\log|\sigma_w^2 V'(q^*)|`
        (``inf`` if that slope is >= 1 in absolute value, e.g. when
        :math:`q^*` is 0 or infinite at criticality; 0 for a slope of 0, as
        for ``step`` and ``sign`` whose :math:`V` is constant).
    xi_c : float
        Depth scale of the correlation (``inf`` if :math:`|\chi_c| \ge 1`).

    Notes
    -----
    Under layer normalisation the normalised variance is 1 from the first
    layer on (``xi_q = 0``) and :math:`\chi_c = \sigma_w^2 G(1, 1, c^*) /
    (\sigma_w^2 V(1) + \sigma_b^2)`; with residual blocks too the slope of
    the correlation map tends to 1 with depth, ``chi_c = 1`` and
    ``xi_c = inf`` (polynomial convergence; Yang and Schoenholz, 2017). A
    residual network without normalisation raises a ``ValueError`` (no fixed point).

    Examples
    --------
    >>> from sknnk.signal_propagation import depth_scales
    >>> xi_q, xi_c = depth_scales("tanh", 1.1, 0.3)
    >>> round(1 / xi_c, 6)  # -log chi_1, the measured decay rate 0.234907
    0.234907
    """
    owner = "depth_scales"
    act, sw, sb, arch = _check_fixed(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    mf = _mean_field(act, sw * sw, sb * sb, arch)
    return mf.xi_q, mf.xi_c


def _mean_field(act, sw2, sb2, arch):
    """The quantities of :func:`mean_field` (a checked point, ``arch`` with a
    fixed point)."""
    if arch.ln:
        q = 1.0
        branch, x1 = _ln_map(act, sw2, sb2)
        c = _fixed_c(act, sw2, sb2, q, slope=x1)
        slope_q = 0.0  # the normalised variance is 1 from the first layer on
        chi_c = 1.0 if arch.residual else _chi_c(act, sw2, q, c) / branch
    else:
        q = _fixed_q(act, sw2, sb2, 1.0)
        x1 = _chi(act, sw2, q)
        c = _fixed_c(act, sw2, sb2, q)
        # slope of the length map at q* (a diverging variance has slope >= 1)
        slope_q = math.inf if math.isinf(q) else sw2 * _dV(act, q)
        chi_c = _chi_c(act, sw2, q, c)
    xi_q, xi_c = _depth_scale(slope_q), _depth_scale(chi_c)
    if abs(x1 - 1.0) <= _CRITICAL_TOL:
        phase = "critical"
    else:
        phase = "ordered" if x1 < 1.0 else "chaotic"
    return Bunch(
        q_star=q, chi1=x1, c_star=c, chi_c=chi_c, xi_q=xi_q, xi_c=xi_c, phase=phase
    )


def _depth_scale(slope):
    """-1 / log|slope|: the depth over which |slope|^l decays by e (0 for a
    map of slope 0, inf for |slope| >= 1)."""
    slope = abs(slope)
    if slope >= 1.0:
        return math.inf
    return 0.0 if slope == 0.0 else -1.0 / math.log(slope)


def _chi_c(act, sw2, q, c):
    """chi_c = sw2 dF/dc at (q, c) (the limit maps at q in {0, inf})."""
    if act.degree is not None and act.degree >= 2 and q in (0.0, math.inf):
        return 0.0 if q == 0.0 else math.inf
    lim, qq = _normalised(act, q)
    if lim is None:  # the identity map at q = 0: phi'(0)^2
        lim = act
    return sw2 * _Fc(lim, qq, c)[1]


# ---------------------------------------------------------------- criticality
def critical_point(activation, sigma_b=0.0):
    r""":math:`\sigma_w` on the ordered/chaotic boundary :math:`\chi_1 = 1`.

    Parameters
    ----------
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
    sigma_b : float, default=0.0
        Bias standard deviation.

    Returns
    -------
    sigma_w : float
        The critical weight standard deviation: :math:`\sqrt 2` for ``relu``
        (He initialisation) and 1 for ``identity`` (for ``sigma_b > 0`` the
        variance then grows linearly with depth, so the critical point with
        a finite :math:`q^*` needs ``sigma_b = 0``), :math:`1/\sqrt{W(1)}` for
        every positively homogeneous activation of degree 1;
        :math:`1/|\phi'(0)|` at ``sigma_b = 0`` when :math:`\phi(0) = 0` and
        :math:`q^* = 0` there (``tanh``, ``erf``, ...) and otherwise the root
        of :math:`\chi_1(\sigma_w) = 1` (a doubling search from 1, then
        Brent's method, :math:`q^*` solved inside).

    Raises
    ------
    ValueError
        For an activation with a jump (``chi_1`` is infinite), and where no
        :math:`\sigma_w` has :math:`\chi_1 = 1` at this ``sigma_b`` (e.g.
        ``gelu``, whose :math:`\chi_1` jumps across 1 where :math:`q^*`
        becomes infinite); that error is also a ``RuntimeError``.

    Examples
    --------
    >>> from sknnk.signal_propagation import critical_point
    >>> round(critical_point("tanh", 0.1), 8)
    1.19340073
    >>> round(critical_point("relu"), 6)
    1.414214
    """
    owner = "critical_point"
    act = check_network(owner, activation=activation, sigma_b=sigma_b)
    sb2 = float(sigma_b) ** 2
    if act.jump:
        raise ValueError(
            f"The activation {act.name!r} jumps, so chi_1 is infinite for every "
            "sigma_w (always chaotic): it has no critical point."
        )
    if act.degree == 1:  # chi_1 = sigma_w^2 W(1) whatever q*
        return 1.0 / math.sqrt(_W(act, 1.0))
    phi, dphi = act.funcs[0], act.funcs[1]
    zero = np.zeros(1)
    if sb2 == 0.0 and 0.0 not in act.kinks and phi(zero)[0] == 0.0:
        # q* = 0 up to sigma_w = 1 / |phi'(0)|, where chi_1 = 1 exactly
        slope0 = abs(float(dphi(zero)[0]))
        # (checked just below 1 / |phi'(0)|: at it q* = 0 is a double root)
        below = (1.0 - 1e-6) / slope0**2 if slope0 > 0.0 else 0.0
        if slope0 > 0.0 and _fixed_q(act, below, 0.0, 1.0) == 0.0:
            return 1.0 / slope0

    def g(sw):
        return _chi(act, sw * sw, _fixed_q(act, sw * sw, sb2, 1.0)) - 1.0

    lo = hi = 1.0
    if g(hi) <= 0.0:
        while g(hi) <= 0.0:
            lo, hi = hi, 2.0 * hi
            if hi > 1e8:
                raise _no_critical_point(act, sigma_b, "chi_1 < 1 up to sigma_w=1e8")
    else:
        while g(lo) > 0.0:
            lo, hi = 0.5 * lo, lo
            if lo < 1e-8:
                raise _no_critical_point(act, sigma_b, "chi_1 > 1 down to sigma_w=1e-8")
    sw = optimize.brentq(g, lo, hi, xtol=1e-14, rtol=4 * _EPS)
    if abs(g(sw)) > 1e-6:
        # chi_1 jumps across 1 (where q* reached from q0 = 1 becomes infinite)
        raise _no_critical_point(
            act, sigma_b, f"chi_1 jumps across 1 at sigma_w={sw:.6g}, where q* "
            "becomes infinite",
        )  # fmt: skip
    return sw


class _NoCriticalPoint(ValueError, RuntimeError):
    """No ``sigma_w`` has ``chi_1 = 1``: a ``ValueError`` (the input has no
    critical point), and a ``RuntimeError`` as this was raised before."""


def _no_critical_point(act, sigma_b, why):
    """The error of a ``sigma_b`` without a critical ``sigma_w``."""
    return _NoCriticalPoint(
        f"critical_point: no critical sigma_w for activation {act.name!r} at "
        f"sigma_b={sigma_b}: {why}. Pick another sigma_b or activation, or inspect "
        "chi1 / mean_field directly."
    )


def critical_line(activation, sigma_b):
    r"""Vectorised :func:`critical_point`: the boundary :math:`\sigma_w(\sigma_b)`.

    Parameters
    ----------
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
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


def mean_field(
    activation,
    sigma_w,
    sigma_b=0.0,
    *,
    residual=False,
    branch_scale=1.0,
    normalization=None,
):
    r"""All mean-field quantities of one :math:`(\sigma_w, \sigma_b)` point.

    Parameters
    ----------
    activation : str, activation object or callable
        Nonlinearity: any activation the kernels accept.
    sigma_w : float
        Weight standard deviation.
    sigma_b : float, default=0.0
        Bias standard deviation.
    residual, branch_scale, normalization : bool, float > 0, {None, "layer"}
        The architecture (module doc); defaults False, 1.0 and None.

    Returns
    -------
    result : Bunch
        ``q_star``, ``chi1``, ``c_star``, ``chi_c``, ``xi_q``, ``xi_c`` and
        ``phase`` (``"ordered"``, ``"critical"`` or ``"chaotic"``; critical
        means :math:`|\chi_1 - 1| < 10^{-9}`), for residual and normalised
        networks as in :func:`q_star`, :func:`chi1`, :func:`c_star` and
        :func:`depth_scales` (a ``ValueError`` for a residual network without
        normalisation).

    Examples
    --------
    >>> from sknnk.signal_propagation import mean_field
    >>> mean_field("tanh", 2.5, 0.1).phase
    'chaotic'
    """
    owner = "mean_field"
    act, sw, sb, arch = _check_fixed(
        owner, activation, sigma_w, sigma_b, residual, branch_scale, normalization
    )
    return _mean_field(act, sw * sw, sb * sb, arch)
