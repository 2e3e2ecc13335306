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
from _reference import (
    five_point,
    gauss_panels,
    price_diag,
    price_kernels,
    price_partials,
    theta_difference,
)
from scipy import special

from sknnk import NNGPKernel, NTKKernel
from sknnk._numerics import activations as na


# ---------------------------------------------------------------------------
# the reference
def _nodes(m, s, width=1.0):
    """:func:`_reference.gauss_panels` with 20-point panels."""
    return gauss_panels(m, s, width, order=20)


def derivatives(x):
    """softplus and its first three derivatives at ``x``, stacked (4, n)."""
    s = special.expit(x)
    d2 = s * (1.0 - s)
    return np.stack([np.logaddexp(0.0, x), s, d2, d2 * (1.0 - 2.0 * s)])


def ref_partials(a, b, rho, one_minus=None):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of softplus at variances ``a,
    b > 0`` and correlation ``rho`` (:func:`_reference.price_partials`; at
    ``rho = +-1`` along fixed ``rho``, as the engine takes them there)."""
    return price_partials(derivatives, a, b, rho, one_minus)


def ref_diag(q):
    """``(V, W, dV/dq, dW/dq)`` at ``u ~ N(0, q)``."""
    return price_diag(derivatives, q)


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


# ---------------------------------------------------------------------------
# the reference kernels (NTK parameterization, written out by hand)
def ref_kernels(depth, sw, sb, x, y):
    """``(NNGP, NTK)`` of the rows ``x, y`` (:func:`_reference.price_kernels`)."""
    return price_kernels(derivatives, depth, sw, sb, x, y)


def ref_log_gradient(depth, sw, sb, x, y, ntk, h=1e-3):
    """``(d/dlog sigma_w, d/dlog sigma_b)`` of the reference entry by the
    five-point central difference: truncation ``h^4 k^(5) / 30`` (the
    log-slopes of ``k`` are at most ~4 here: ~1e-11 k), rounding ~1e-15 k /
    h = 1e-12 k."""

    def k(e, which):
        w = sw * math.exp(e) if which == "w" else sw
        b = sb * math.exp(e) if which == "b" else sb
        return ref_kernels(depth, w, b, x, y)[int(ntk)]

    return [five_point(lambda e, p=p: k(e, p), h) for p in "wb"]


def _kernel(ntk, depth, sw, sb, **kw):
    cls = NTKKernel if ntk else NNGPKernel
    return cls(depth=depth, activation="softplus", sigma_w=sw, sigma_b=sb, **kw)


def _checked(kernel, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning anywhere
        return kernel(X, **kw)


# issue 13: NTK depth 2, sigma_w = 20 (layer variances ~400, ~8e4): the
# series was badly off in d/dlog sigma_w on the diagonal
@pytest.mark.parametrize("sw", [20.0, 10.0])
def test_issue_13_softplus_input(sw):
    X = np.random.default_rng(0).normal(size=(12, 4))
    kernel = _kernel(True, 2, sw, 1.0)
    K, dK = _checked(kernel, X, eval_gradient=True)
    # (layer-1 variances ~ sw^2 V(sw^2) > 4e3: the closed form at every layer)
    assert kernel._check_params().series_max_variance < 1e3
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    for i in range(12):
        x = X[i]  # (one object: the one-dimensional reference of the diagonal)
        want = ref_kernels(2, sw, 1.0, x, x)[1]
        assert abs(K[i, i] - want) <= 1e-12 * want
        g = ref_log_gradient(2, sw, 1.0, x, x, True)
        for col, p in enumerate("wb"):
            got = dK[i, i, names.index(f"sigma_{p}")]
            assert abs(got - g[col]) <= 1e-9 * K[i, i], (i, p, got, g[col])
    # an off-diagonal entry (a two-dimensional reference)
    i, j = 0, 5
    scale = math.sqrt(K[i, i] * K[j, j])
    assert abs(K[i, j] - ref_kernels(2, sw, 1.0, X[i], X[j])[1]) <= 1e-12 * scale


@pytest.mark.parametrize("ntk", [False, True])
@pytest.mark.parametrize("depth,sw,sb,scale", [(1, 2.0, 0.5, 30.0), (3, 1.3, 1.0, 1e3)])
def test_values_against_the_reference(ntk, depth, sw, sb, scale):
    X = np.random.default_rng(5).normal(size=(3, 2)) * scale
    X[2] = -X[0]  # rho = -1 + O(sigma_b^2 / q)
    K = _checked(_kernel(ntk, depth, sw, sb), X)
    for i, j in ((0, 1), (0, 2)):
        want = ref_kernels(depth, sw, sb, X[i], X[j])[int(ntk)]
        assert abs(K[i, j] - want) <= 1e-11 * math.sqrt(K[i, i] * K[j, j])


@pytest.mark.parametrize("ntk", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("scale", [30.0, 1e3, 1e60])
def test_gradients_against_central_differences_of_the_kernel(ntk, depth, scale):
    # the closed form's values are smooth in log sigma with rounding ~1e-15:
    # the five-point difference with h = 2e-4 is good to ~3e-11 of sqrt(k k)
    # (measured; h = 1e-3 leaves a truncation error of 1e-9 in d/dlog
    # sigma_b at depth 3). A near-antipodal pair, 1 + rho ~ 2 sigma_b^2 / q
    # (1e-7 at scale 1e3; rho = -1 exactly after the snap at 1e60): the
    # rounding of rho moves G by ~1e-14 there, ~1e-10 after the difference
    X = np.random.default_rng(0).normal(size=(5, 3)) * scale
    X[4] = X[3]
    X[2] = -X[1]
    kernel = _kernel(ntk, depth, 3.0, 0.7)
    K, dK = _checked(kernel, X, eval_gradient=True)
    h = 2e-4
    d = np.sqrt(np.diag(K))
    for col in range(dK.shape[2]):
        fd = theta_difference(kernel, X, col, h)
        assert np.max(np.abs(dK[:, :, col] - fd) / np.outer(d, d)) < 1e-9


@pytest.mark.parametrize("q", [1e-300, 1e-150, 1e150, 1e300])
@pytest.mark.parametrize("ntk", [False, True])
def test_extreme_layer_variances_through_the_kernel(q, ntk):
    # depth 1, sigma_w = 1, sigma_b = 0: layer-0 variances q, correlations
    # from 2-D rows; the limits log(2)^2 + c / 4 and ReLU's arc-cosine kernel
    rng = np.random.default_rng(6)
    U = rng.normal(size=(4, 2))
    U /= np.linalg.norm(U, axis=1)[:, None]
    U[3] = -U[0]
    X = U * math.sqrt(2.0 * q)  # |x|^2 / d = q
    kernel = _kernel(ntk, 1, 1.0, 0.0)
    K, dK = _checked(kernel, X, eval_gradient=True)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(dK))
    np.testing.assert_array_equal(kernel.diag(X), np.diag(K))
    rho = np.clip(U @ U.T, -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)  # exactly, as the kernel takes them
    rho[0, 3] = rho[3, 0] = -1.0
    lg = math.log(2.0)
    if q < 1.0:
        c = rho * q
        nngp = lg * lg + c / 4
        want = nngp + 0.25 * c if ntk else nngp  # + G c, G = 1/4
        np.testing.assert_allclose(K, want, rtol=1e-15, atol=0)
    else:
        th = np.arccos(rho)
        k1 = q * (np.sin(th) + (np.pi - th) * rho) / (2 * np.pi)
        want = k1 + (np.pi - th) / (2 * np.pi) * rho * q if ntk else k1
        assert np.max(np.abs(K - want)) < 1e-14 * q


# ---------------------------------------------------------------------------
# consistency: threads, the switch
# (diag, duplicates, symmetry at mixed scales and float32: tests/test_xerf.py,
# for every closed form of a series activation)


def test_bitwise_identical_for_every_n_jobs():
    X = np.random.default_rng(4).normal(size=(70, 3)) * 20.0
    kernel = _kernel(True, 2, 2.0, 0.3)
    K1, d1 = kernel(X, eval_gradient=True)
    kernel.set_params(n_jobs=2)
    K2, d2 = kernel(X, eval_gradient=True)
    np.testing.assert_array_equal(K1, K2)
    np.testing.assert_array_equal(d1, d2)


def test_switch_between_series_and_closed_form_is_continuous():
    from sknnk._numerics import registry

    spec = registry.resolve_name("softplus")
    top = spec.series_max_variance
    assert spec.mixture.code == na.SOFTPLUS_MIX
    q = np.array([0.01, 1.0, 0.5 * top, top, 1.0001 * top])
    v_series = spec.diag(q[:-1])
    v_closed = spec.diag(q)
    for a, b in zip(v_series, v_closed):
        np.testing.assert_allclose(a, b[:-1], rtol=1e-12, atol=0)


def test_signal_propagation_at_large_variance():
    # the scalar maps (Resolved.diag / dual) take the same method switch
    from sknnk.signal_propagation import correlation_map, length_map, q_star

    for q in (10.0, 1e3, 1e10, 1e300):
        want = ref_diag(q)[0]
        got = length_map(q, "softplus", sigma_w=1.0, sigma_b=0.0)
        assert got == pytest.approx(want, rel=1e-13)
    q = 1e6
    v = ref_diag(q)[0]
    for rho in (-0.5, 0.3, 0.99):
        F = ref_partials(q, q, rho)[0]
        got = correlation_map(rho, "softplus", sigma_w=1.0, sigma_b=0.0, q=q)
        assert abs(got - F / v) < 1e-13, (rho, got, F / v)
    # q* beyond the series range: a fixed point of the reference length map
    sw2, sb = 1.99, 3.0
    qs = float(q_star("softplus", math.sqrt(sw2), sb))
    assert qs > 1e3
    assert sw2 * ref_diag(qs)[0] + sb * sb == pytest.approx(qs, rel=1e-12)


def test_one_method_for_both_point_sets():
    # X within the series range, Y far beyond: k(X, Y) and k(Y, X) take the
    # closed form for both, and agree with the reference
    X = np.random.default_rng(3).normal(size=(3, 2))
    Y = X * 100.0
    kernel = _kernel(True, 1, 1.0, 0.0)
    KXY = _checked(kernel, X, Y=Y)
    np.testing.assert_array_equal(KXY, kernel(Y, X).T)
    x, y = X[0], Y[1]
    k = ref_kernels(1, 1.0, 0.0, x, y)[1]
    kxx, kyy = ref_kernels(1, 1.0, 0.0, x, x)[1], ref_kernels(1, 1.0, 0.0, y, y)[1]
    assert abs(KXY[0, 1] - k) < 1e-12 * math.sqrt(kxx * kyy)
