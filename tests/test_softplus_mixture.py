"""softplus in closed form (from the sigmoid mixture), at every layer variance.

The references are independent of sknnk (nothing of its output is used):

* the dual activations and all their partials by nested Gauss-Legendre
  quadrature of the true softplus ``log(1 + e^x)`` (numpy's ``logaddexp``)
  and its derivatives (scipy's ``expit``), in the conditional form ``E_u[f(u)
  E[g(v) | u]]``, ``v | u ~ N(rho sqrt(b / a) u, b (1 - rho)(1 + rho))`` with
  the correlation given exactly (the conditional variance 0 at ``rho =
  +-1``), the partials by Price's theorem (``F_a = E[phi''(u) phi(v)] / 2``,
  ``F_c = G``, ``G_a = E[phi'''(u) phi'(v)] / 2``, ``G_c = E[phi''(u)
  phi''(v)]``); checked here against ``rho = 0`` (a product of 1-D
  expectations) and the ReLU limit;
* the layer recursion written out by hand, and gradients in ``log sigma``
  by five-point central differences of that reference recursion.
"""

import math
import warnings

import numpy as np
import pytest
from scipy import special

from sknnk._numerics import activations as na

# ---------------------------------------------------------------------------
# the reference
_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)
_LIM = 13.0  # standard deviations (exp(-84) beyond)


def _nodes(m, s, width=None):
    """Nodes ``m + s t`` and weights of ``E[f(m + s t)]``, ``t ~ N(0, 1)``:
    Gauss-Legendre panels in ``t`` with edges where ``m + s t`` is an integer
    in [-40, 40] (softplus bends on the unit scale), where it is a multiple
    ``k width``, ``|k| <= 40`` (the inner expectation bends on the scale of
    the conditional standard deviation), and 26 panels on [-13, 13]."""
    fine = (np.arange(-40.0, 41.0) - m) / s
    if width is not None and 1.0 < width < s:
        fine = np.concatenate([fine, (np.arange(-40.0, 41.0) * width - m) / s])
    edges = np.unique(np.concatenate([fine, np.linspace(-_LIM, _LIM, 27)]))
    edges = edges[(edges >= -_LIM) & (edges <= _LIM)]
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    t = (mid[:, None] + half[:, None] * _GL_X).ravel()
    w = (half[:, None] * _GL_W).ravel() * np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    return m + s * t, w, t


def derivatives(x):
    """softplus and its first three derivatives at ``x``, stacked (4, n)."""
    s = special.expit(x)
    d2 = s * (1.0 - s)
    return np.stack([np.logaddexp(0.0, x), s, d2, d2 * (1.0 - 2.0 * s)])


def ref_partials(a, b, rho, one_minus=None):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of softplus at variances ``a,
    b > 0`` and correlation ``rho`` (``one_minus = 1 - |rho|`` exactly if
    given); at ``rho = +-1`` the partials along fixed ``rho`` (``F_c = G_c =
    0``), as the engine takes them there."""
    if one_minus is None:
        one_minus = 1.0 - abs(rho)
    sa, sb = math.sqrt(a), math.sqrt(b)
    sin = math.sqrt(one_minus * (2.0 - one_minus))
    cs = sb * sin
    u, wu, tu = _nodes(0.0, sa, sa * min(sin / max(abs(rho), 1e-300), 1.0))
    m = rho * sb * tu  # E[v | u]
    if cs == 0.0:
        inner = derivatives(m)
    else:
        inner = np.empty((4, u.size))
        for k in range(u.size):
            v, wv, _ = _nodes(m[k], cs)
            inner[:, k] = derivatives(v) @ wv
    fu = derivatives(u) * wu

    def e(i, j):  # E[phi^(i)(u) phi^(j)(v)]
        return float(fu[i] @ inner[j])

    out = [e(0, 0), e(1, 1), e(2, 0) / 2, e(0, 2) / 2, e(1, 1),
           e(3, 1) / 2, e(1, 3) / 2, e(2, 2)]  # fmt: skip
    if abs(rho) == 1.0:  # dc/da = c / (2a) along fixed rho
        for p, cp in ((2, 4), (5, 7)):
            out[p] += out[cp] * 0.5 * rho * sb / sa
            out[p + 1] += out[cp] * 0.5 * rho * sa / sb
            out[cp] = 0.0
    return out


def ref_diag(q):
    """``(V, W, dV/dq, dW/dq)`` at ``u ~ N(0, q)``: ``E[phi^2]``,
    ``E[phi'^2]`` and half the expectations of their second derivatives."""
    u, w, _ = _nodes(0.0, math.sqrt(q))
    p, d1, d2, d3 = derivatives(u)
    return (w @ (p * p), w @ (d1 * d1), w @ (d1 * d1 + p * d2),
            w @ (d2 * d2 + d1 * d3))  # fmt: skip


def test_reference_against_independence_and_the_relu_limit():
    u, w, _ = _nodes(0.0, math.sqrt(3.0))
    m3 = derivatives(u)[0] @ w
    u, w, _ = _nodes(0.0, math.sqrt(7.0))
    m7, s7 = derivatives(u)[:2] @ w
    F, G, *_ = ref_partials(3.0, 7.0, 0.0)
    assert F == pytest.approx(m3 * m7, rel=1e-14)
    assert G == pytest.approx(0.5 * s7, rel=1e-14)  # E[sigmoid] = 1/2
    # at variance 1e12 softplus is ReLU up to O(1): F = s k_1(rho) + O(sqrt q)
    q = 1e12
    for rho in (-0.5, 0.0, 0.9):
        F = ref_partials(q, q, rho)[0]
        th = math.acos(rho)
        relu = q * (math.sin(th) + (math.pi - th) * rho) / (2 * math.pi)
        assert abs(F - relu) < 2.0 * math.sqrt(q)


# ---------------------------------------------------------------------------
# the dual and its partials
VARIANCES = (1e-3, 1e-1, 1.0, 10.0, 100.0, 1e3)
#: correlations with 1 - |rho| where it is given exactly
RHOS = ((-1 + 2e-3, 2e-3), (-0.9, None), (-0.5, None), (0.0, None), (0.5, None),
        (0.9, None), (0.999, None), (1 - 1e-12, 1e-12), (1.0, 0.0))  # fmt: skip
_PRM = np.zeros(na.N_PRM)
NAMES = ("F", "G", "F_a", "F_b", "F_c", "G_a", "G_b", "G_c")


@pytest.mark.parametrize("q", VARIANCES)
def test_partials_at_every_variance_and_correlation(q):
    a, b = q, 1.7 * q  # two variances: both sides of the canonical order
    got, want = [], []
    for rho, om in RHOS:
        c = rho * (math.sqrt(a) * math.sqrt(b))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got.append(na.closed_form_partials(na.SOFTPLUS_MIX, _PRM, a, b, c, True))
        want.append(ref_partials(a, b, rho, om))
    got, want = np.array(got), np.array(want)
    # each quantity relative to its size at this variance (the largest over
    # the correlations: the scale of the layer's entries); F also relative
    # to sqrt(V(a) V(b))
    scale = np.max(np.abs(want), axis=0)
    scale[0] = max(scale[0], math.sqrt(ref_diag(a)[0] * ref_diag(b)[0]))
    err = np.abs(got - want) / scale
    # measured <= 1e-15 (8e-16 for F at q = 1e3)
    assert np.all(err < 1e-9), dict(zip(NAMES, err.max(axis=0)))
    # F(a, b, c) and F(b, a, c) agree bit for bit
    for rho, _ in RHOS:
        c = rho * (math.sqrt(a) * math.sqrt(b))
        ab = na.softplus_partials(a, b, c, True)
        ba = na.softplus_partials(b, a, c, True)
        assert ab[:2] == ba[:2] and ab[2:5] == (ba[3], ba[2], ba[4])
        assert ab[5:] == (ba[6], ba[5], ba[7])


@pytest.mark.parametrize("q", (0.0, 1e-3, 1.0, 100.0, 1e3))
def test_diagonal_is_the_pair_form_at_rho_one(q):
    got = na.closed_form_diag(na.SOFTPLUS_MIX, _PRM, q)
    if q > 0:
        want = ref_diag(q)
        for g, w in zip(got, want):
            assert g == pytest.approx(w, rel=1e-12)
        pair = na.softplus_partials(q, q, q, True)
        assert got == (pair[0], pair[1], pair[2] + pair[3] + pair[4],
                       pair[5] + pair[6] + pair[7])  # fmt: skip
    else:  # log(2)^2, 1/4 and the Taylor coefficients at 0
        lg = math.log(2.0)
        assert got == pytest.approx((lg * lg, 0.25, 0.25 + lg / 4, 1 / 16), rel=1e-14)


@pytest.mark.parametrize("q", (1e-300, 1e-150, 1e150, 1e300))
def test_extreme_variances(q):
    lg = math.log(2.0)
    for rho in (-1.0, -0.9, 0.0, 0.5, 1 - 1e-12, 1.0):
        c = rho * q
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = na.softplus_partials(q, q, c, True)
        assert np.all(np.isfinite(out))
        F, G = out[0], out[1]
        if q < 1.0:  # softplus ~ log 2 + x / 2: F -> log(2)^2 + c / 4
            assert F == pytest.approx(lg * lg + c / 4, rel=1e-15)
            assert G == pytest.approx(0.25, rel=1e-15)
            # F_a = log(2) / 8, along fixed rho = +-1 plus G rho / 2
            fixed = 0.125 * rho if abs(rho) == 1.0 else 0.0
            assert out[2] == pytest.approx(lg / 8 + fixed, rel=1e-14)
        else:  # ReLU: F = q k_1(rho), G = k_0(rho), relative to q
            th = math.acos(rho)
            relu = (math.sin(th) + (math.pi - th) * rho) / (2 * math.pi)
            assert abs(F / q - relu) < 1e-14
            # (at rho = 1 - 1e-12, G's change for the ~3 ulps the engine's
            # correlation c / (sqrt(a) sqrt(b)) may round rho by: 3e-11)
            cond = 7e-16 / (2 * math.pi * max(math.sin(th), 1e-300))
            assert abs(G - (math.pi - th) / (2 * math.pi)) < 1e-14 + cond
    assert na.closed_form_diag(na.SOFTPLUS_MIX, _PRM, q)[0] == pytest.approx(
        lg * lg if q < 1 else q / 2, rel=1e-15
    )
