"""gelu, swish and gelu_tanh in closed form (``x (1 + sum_k a_k erf(x /
sigma_k)) / 2``), at every layer variance.

The references are independent of sknnk (nothing of its output is used):

* the dual activations and all their partials by nested Gauss-Legendre
  quadrature of the true activations (gelu ``x Phi(x)`` by scipy's
  ``ndtr``, swish ``x sigmoid(x)`` by scipy's ``expit``, gelu_tanh by
  numpy's ``tanh``; not the mixtures) and of their derivatives written out
  here, in the conditional form ``E_u[f(u) E[g(v) |
  u]]`` of :func:`_reference.conditional_panels`, the partials by Price's
  theorem (``F_a = E[phi''(u) phi(v)] / 2``, ``F_c = G``, ``G_a =
  E[phi'''(u) phi'(v)] / 2``, ``G_c = E[phi''(u) phi''(v)]``), along fixed
  ``rho`` at ``rho = +-1`` (as the engine takes them there); checked here
  against Tsuchida et al.'s closed form of gelu's dual and the ReLU limit;
* the layer recursion written out by hand, and gradients in ``log sigma``
  by five-point central differences of that reference recursion and of the
  kernel itself;
* at layer variances 1e-300 and 1e300 the limits ``x / 2`` and ReLU
  (``phi(x) - relu(x)`` is bounded); inputs ~1e150 against the 50-digit
  mpmath ReLU reference are in ``tests/test_numerics_scale.py``.
"""

import math
import warnings

import numpy as np
import pytest
from _reference import (
    five_point,
    price_diag,
    price_kernels,
    price_partials,
    theta_difference,
    tsuchida_gelu,
)
from scipy import special

from sknnk import NNGPKernel, NTKKernel
from sknnk._numerics import activations as na

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------
# the reference
def _gelu(x):
    """gelu ``x Phi(x)`` and its first three derivatives, stacked (4, n)."""
    p = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
    x2 = x * x
    return np.stack([x * special.ndtr(x), special.ndtr(x) + x * p,
                     p * (2.0 - x2), x * p * (x2 - 4.0)])  # fmt: skip


def _swish(x):
    """swish ``x sigmoid(x)`` and its first three derivatives, stacked."""
    s = special.expit(x)
    s1 = s * (1.0 - s)
    s2 = s1 * (1.0 - 2.0 * s)
    s3 = s1 * (1.0 - 6.0 * s * (1.0 - s))
    return np.stack([x * s, s + x * s1, 2.0 * s1 + x * s2, 3.0 * s2 + x * s3])


_C = math.sqrt(2.0 / math.pi)


def _gelu_tanh(x):
    """gelu_tanh ``x (1 + tanh(u)) / 2``, ``u = sqrt(2 / pi) (x + 0.044715
    x^3)``, and its first three derivatives (``S = sech^2 u``), stacked."""
    u1 = _C * (1.0 + 0.134145 * x * x)  # u'
    u2 = _C * 0.26829 * x  # u''
    u3 = _C * 0.26829
    t = np.tanh(_C * (x + 0.044715 * x**3))
    s = 1.0 - t * t
    d1 = s * u1  # T^(1)
    d2 = s * (u2 - 2.0 * t * u1 * u1)  # T^(2)
    d3 = s * (u3 - 6.0 * t * u1 * u2 + (4.0 * t * t - 2.0 * s) * u1**3)  # T^(3)
    return np.stack([0.5 * x * (1.0 + t), 0.5 * (1.0 + t + x * d1),
                     d1 + 0.5 * x * d2, 1.5 * d2 + 0.5 * x * d3])  # fmt: skip


DERIVATIVES = {"gelu": _gelu, "swish": _swish, "gelu_tanh": _gelu_tanh}
KIND = {"gelu": 0.0, "swish": 1.0, "gelu_tanh": 2.0}
ACTS = tuple(DERIVATIVES)
#: error of the value against the references (relative to the layer's
#: sqrt(k(x, x) k(y, y))) beyond rounding: gelu and swish are exact closed
#: forms (swish through tanh's mixture, sup error 6e-15), gelu_tanh's mixture
#: is a fit (sup error of phi 1.5e-11, benchmarks/fit_gelu_tanh.py)
FIT = {"gelu": 0.0, "swish": 0.0, "gelu_tanh": 1e-10}
#: ... and of the limits: gelu_tanh's signed amplitudes make its K^2 sums
#: cancel, rounding bounded by (sum_k |a_k|)^2 eps = 3.4e-11 of the layer's
#: scale (measured 7e-13 at infinite variance, 7e-12 in phi''(0)^2)
LIMIT = {"gelu": 0.0, "swish": 0.0, "gelu_tanh": 4e-11}


def ref_partials(act, a, b, rho, one_minus=None):
    """``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` at variances ``a, b > 0``
    and correlation ``rho`` (:func:`_reference.price_partials`; at ``rho =
    +-1`` along fixed ``rho``, as the engine takes them there)."""
    return price_partials(DERIVATIVES[act], a, b, rho, one_minus)


def ref_diag(act, q):
    """``(V, W, dV/dq, dW/dq)`` at ``u ~ N(0, q)``."""
    return price_diag(DERIVATIVES[act], q)


def test_reference_against_tsuchida_and_the_relu_limit():
    # gelu: Tsuchida et al. (2020)
    for a, b, rho in ((0.5, 0.8, 0.3), (2.0, 3.0, -0.7), (40.0, 50.0, 0.99)):
        F, G = tsuchida_gelu(a, b, rho * math.sqrt(a * b))
        got = ref_partials("gelu", a, b, rho)
        assert got[0] == pytest.approx(F, rel=1e-14)
        assert got[1] == pytest.approx(G, rel=1e-14)
    # both differ from ReLU by a bounded function: F = q k_1(rho) + O(sqrt q)
    q = 1e12
    for act in ACTS:
        for rho in (-0.5, 0.0, 0.9):
            F = ref_partials(act, q, q, rho)[0]
            th = math.acos(rho)
            relu = q * (math.sin(th) + (math.pi - th) * rho) / (2 * math.pi)
            assert abs(F - relu) < 2.0 * math.sqrt(q)


# ---------------------------------------------------------------------------
# the dual and its partials
VARIANCES = (1e-3, 1e-1, 1.0, 10.0, 100.0, 1e3)
#: correlations with 1 - |rho| where it is given exactly
RHOS = ((-1.0, 0.0), (-1 + 2e-3, 2e-3), (-0.9, None), (-0.5, None), (0.0, None),
        (0.5, None), (0.9, None), (0.999, None), (1 - 1e-12, 1e-12),
        (1.0, 0.0))  # fmt: skip
NAMES = ("F", "G", "F_a", "F_b", "F_c", "G_a", "G_b", "G_c")


def _prm(act):
    prm = np.zeros(na.N_PRM)
    prm[0] = KIND[act]
    return prm


def _slow_above(values, top):
    """``values`` as pytest parameters, those above ``top`` marked slow."""
    return [pytest.param(v, marks=pytest.mark.slow) if v > top else v for v in values]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("q", _slow_above(VARIANCES, 1.0))
def test_partials_at_every_variance_and_correlation(act, q):
    a, b = q, 1.7 * q  # two variances: both sides of the canonical order
    prm = _prm(act)
    got, want = [], []
    for rho, om in RHOS:
        c = rho * (math.sqrt(a) * math.sqrt(b))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got.append(na.closed_form_partials(na.XERF_MIX, prm, a, b, c, True))
        want.append(ref_partials(act, a, b, rho, om))
    got, want = np.array(got), np.array(want)
    # each quantity relative to its size at this variance (the largest over
    # the correlations), F also relative to sqrt(V(a) V(b))
    scale = np.max(np.abs(want), axis=0)
    scale[0] = max(scale[0], math.sqrt(ref_diag(act, a)[0] * ref_diag(act, b)[0]))
    err = np.abs(got - want) / scale
    assert np.all(err < 1e-9), dict(zip(NAMES, err.max(axis=0)))
    for rho, _ in RHOS:  # F(a, b, c) and F(b, a, c) agree bit for bit
        c = rho * (math.sqrt(a) * math.sqrt(b))
        ab = na.xerf_partials(prm, a, b, c, True)
        ba = na.xerf_partials(prm, b, a, c, True)
        assert ab[:2] == ba[:2] and ab[2:5] == (ba[3], ba[2], ba[4])
        assert ab[5:] == (ba[6], ba[5], ba[7])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("q", (0.0, 1e-3, 1.0, 100.0, 1e3))
def test_diagonal_is_the_pair_form_at_rho_one(act, q):
    prm = _prm(act)
    got = na.closed_form_diag(na.XERF_MIX, prm, q)
    if q > 0:
        for g, w in zip(got, ref_diag(act, q)):
            assert g == pytest.approx(w, rel=1e-12 + FIT[act])
        pair = na.xerf_partials(prm, q, q, q, True)
        assert got == (pair[0], pair[1], pair[2] + pair[3] + pair[4],
                       pair[5] + pair[6] + pair[7])  # fmt: skip
    else:  # phi(x) = x / 2 + phi''(0) x^2 / 2 + O(x^4): V = 0, W = 1/4,
        # dV/dq = 1/4, dW/dq = phi''(0)^2
        d2 = DERIVATIVES[act](np.zeros(1))[2, 0]
        assert got == pytest.approx((0.0, 0.25, 0.25, d2 * d2), rel=1e-14 + LIMIT[act])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("q", (1e-300, 1e-150, 1e150, 1e300))
def test_extreme_variances(act, q):
    prm = _prm(act)
    for rho in (-1.0, -0.9, 0.0, 0.5, 1 - 1e-12, 1.0):
        c = rho * q
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = na.xerf_partials(prm, q, q, c, True)
        assert np.all(np.isfinite(out))
        F, G = out[0], out[1]
        if q < 1.0:  # phi ~ x / 2: F -> c / 4, G -> 1/4, F_a -> 0 (+ G rho / 2)
            assert F == pytest.approx(c / 4, rel=1e-14)
            assert G == pytest.approx(0.25, rel=1e-14)
            fixed = 0.125 * rho if abs(rho) == 1.0 else 0.0
            assert out[2] == pytest.approx(fixed, abs=1e-14)
        else:  # ReLU: F = q k_1(rho), G = k_0(rho), relative to q
            th = math.acos(rho)
            relu = (math.sin(th) + (math.pi - th) * rho) / (2 * math.pi)
            assert abs(F / q - relu) < 1e-14 + LIMIT[act]
            # (G's change for the ~3 ulps the engine's correlation may round
            # rho by, at rho = 1 - 1e-12: 3e-11)
            cond = 7e-16 / (2 * math.pi * max(math.sin(th), 1e-300))
            assert abs(G - (math.pi - th) / (2 * math.pi)) < 1e-14 + cond + LIMIT[act]
            # F_a: ReLU's sin(theta) / (4 pi) (+ G rho / 2 along fixed rho)
            # (and its change for those ulps of rho: 2e-11 at 1 - 1e-12)
            fa = math.sin(th) / (4 * math.pi) + (0.5 * rho * G if abs(rho) == 1 else 0)
            assert abs(out[2] - fa) < 1e-14 + cond / 2 + LIMIT[act]


# ---------------------------------------------------------------------------
# the reference kernels (NTK parameterization, written out by hand)
def ref_kernels(act, depth, sw, sb, x, y):
    """``(NNGP, NTK)`` of the rows ``x, y`` (:func:`_reference.price_kernels`)."""
    return price_kernels(DERIVATIVES[act], depth, sw, sb, x, y)


def ref_log_gradient(act, depth, sw, sb, x, y, ntk, h=1e-3):
    """``(d/dlog sigma_w, d/dlog sigma_b)`` of the reference entry by the
    five-point central difference (truncation ``h^4 k^(5) / 30``, rounding
    ~1e-15 k / h: both ~1e-12 k here)."""

    def k(e, which):
        w = sw * math.exp(e) if which == "w" else sw
        b = sb * math.exp(e) if which == "b" else sb
        return ref_kernels(act, depth, w, b, x, y)[int(ntk)]

    return [five_point(lambda e, p=p: k(e, p), h) for p in "wb"]


def _kernel(act, ntk, depth, sw, sb, **kw):
    cls = NTKKernel if ntk else NNGPKernel
    return cls(depth=depth, activation=act, sigma_w=sw, sigma_b=sb, **kw)


def _checked(kernel, X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning anywhere
        return kernel(X, **kw)


# issue 13, input 2: NTK depth 2, sigma_w = 20 (layer variances ~400, ~8e4):
# the series gave 1.9e11 for d/dlog sigma_w on the diagonal (5.4e8)
@pytest.mark.parametrize("act", ACTS)
def test_issue_13_input(act):
    X = np.random.default_rng(0).normal(size=(12, 4))
    kernel = _kernel(act, True, 2, 20.0, 1.0)
    K, dK = _checked(kernel, X, eval_gradient=True)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    col_w = names.index("sigma_w")
    if act == "gelu":
        assert np.diag(dK[:, :, col_w]).max() == pytest.approx(5.442e8, rel=1e-3)
    for i in (0, 3, 7):
        x = X[i]  # (one object: the one-dimensional reference of the diagonal)
        want = ref_kernels(act, 2, 20.0, 1.0, x, x)[1]
        assert abs(K[i, i] - want) <= (1e-12 + FIT[act]) * want
        g = ref_log_gradient(act, 2, 20.0, 1.0, x, x, True)
        for col, p in enumerate("wb"):
            got = dK[i, i, names.index(f"sigma_{p}")]
            assert abs(got - g[col]) <= 1e-9 * K[i, i], (i, p, got, g[col])
    # and central differences of the kernel itself, every entry (not for
    # gelu_tanh: see NOISY)
    h = 1e-4
    d = np.sqrt(np.diag(K))
    for col in range(dK.shape[2] if act not in NOISY else 0):
        fd = theta_difference(kernel, X, col, h)
        assert np.max(np.abs(dK[:, :, col] - fd) / np.outer(d, d)) < 1e-9
    i, j = 0, 5  # an off-diagonal entry (a two-dimensional reference)
    scale = math.sqrt(K[i, i] * K[j, j])
    want = ref_kernels(act, 2, 20.0, 1.0, X[i], X[j])[1]
    assert abs(K[i, j] - want) <= (1e-12 + FIT[act]) * scale


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("ntk", [False, True])
@pytest.mark.parametrize(
    "depth,sw,sb,scale",
    [(1, 2.0, 0.5, 30.0), pytest.param(3, 1.3, 1.0, 1e3, marks=pytest.mark.slow)],
)
def test_values_against_the_reference(act, ntk, depth, sw, sb, scale):
    X = np.random.default_rng(5).normal(size=(3, 2)) * scale
    X[2] = -X[0]  # rho = -1 + O(sigma_b^2 / q)
    K = _checked(_kernel(act, ntk, depth, sw, sb), X)
    for i, j in ((0, 1), (0, 2)):
        want = ref_kernels(act, depth, sw, sb, X[i], X[j])[int(ntk)]
        assert abs(K[i, j] - want) <= (1e-11 + FIT[act]) * math.sqrt(K[i, i] * K[j, j])


#: activations whose kernel values carry a rounding noise that a difference
#: step amplifies beyond 1e-9: gelu_tanh's K^2 sums of signed amplitudes
#: cancel, ~5e-12 of the layer's scale, ~4e-8 after a five-point difference
#: with h = 2e-4 (measured); its gradients are checked against the
#: reference's differences instead (test_gelu_tanh_gradients_...)
NOISY = ("gelu_tanh",)


@pytest.mark.parametrize("act", [a for a in ACTS if a not in NOISY])
@pytest.mark.parametrize("ntk", [False, True])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("scale", [0.3, 30.0, 1e60])
def test_gradients_against_central_differences_of_the_kernel(act, ntk, depth, scale):
    # five-point differences with h = 2e-4: ~3e-11 of sqrt(k k) (as for
    # softplus); a duplicate and a near-antipodal pair (1 + rho ~ 2 sigma_b^2
    # / q; rho = -1 exactly after the snap at 1e60)
    X = np.random.default_rng(0).normal(size=(5, 3)) * scale
    X[4] = X[3]
    X[2] = -X[1]
    kernel = _kernel(act, ntk, depth, 3.0, 0.7)
    K, dK = _checked(kernel, X, eval_gradient=True)
    d = np.sqrt(np.diag(K))
    for col in range(dK.shape[2]):
        fd = theta_difference(kernel, X, col, 2e-4)
        assert np.max(np.abs(dK[:, :, col] - fd) / np.outer(d, d)) < 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("ntk", [False, True])
@pytest.mark.parametrize("depth,scale", [(1, 0.3), (1, 30.0), (2, 1e3)])
def test_gelu_tanh_gradients_against_the_reference(ntk, depth, scale):
    # every entry of a small Gram (a duplicate, a near-antipodal pair)
    # against the five-point differences of the reference recursion, whose
    # values are smooth to rounding
    X = np.random.default_rng(0).normal(size=(4, 2)) * scale
    X[3] = X[2]
    X[1] = -X[0]
    sw, sb = 3.0, 0.7
    kernel = _kernel("gelu_tanh", ntk, depth, sw, sb)
    K, dK = _checked(kernel, X, eval_gradient=True)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    for i, j in ((0, 1), (0, 2), (2, 3), (1, 1)):
        y = X[i] if i == j else X[j]  # (x is y: the 1-D reference)
        g = ref_log_gradient("gelu_tanh", depth, sw, sb, X[i], y, ntk)
        scale_ij = math.sqrt(K[i, i] * K[j, j])
        for col, p in enumerate("wb"):
            got = dK[i, j, names.index(f"sigma_{p}")]
            assert abs(got - g[col]) <= 1e-9 * scale_ij, (i, j, p, got, g[col])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("q", [1e-300, 1e-150, 1e150, 1e300])
@pytest.mark.parametrize("ntk", [False, True])
def test_extreme_layer_variances_through_the_kernel(act, q, ntk):
    # depth 1, sigma_w = 1, sigma_b = 0: layer-0 variances q; the limits c / 4
    # (NTK c / 2) and ReLU's arc-cosine kernel
    rng = np.random.default_rng(6)
    U = rng.normal(size=(4, 2))
    U /= np.linalg.norm(U, axis=1)[:, None]
    U[3] = -U[0]
    X = U * math.sqrt(2.0 * q)  # |x|^2 / d = q
    kernel = _kernel(act, ntk, 1, 1.0, 0.0)
    K, dK = _checked(kernel, X, eval_gradient=True)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(dK))
    np.testing.assert_array_equal(kernel.diag(X), np.diag(K))
    rho = np.clip(U @ U.T, -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    rho[0, 3] = rho[3, 0] = -1.0
    if q < 1.0:
        c = rho * q
        want = c / 2 if ntk else c / 4
        np.testing.assert_allclose(K, want, rtol=1e-14, atol=0)
    else:
        th = np.arccos(rho)
        k1 = q * (np.sin(th) + (np.pi - th) * rho) / (2 * np.pi)
        want = k1 + (np.pi - th) / (2 * np.pi) * rho * q if ntk else k1
        assert np.max(np.abs(K - want)) < (1e-14 + 2 * LIMIT[act]) * q


# ---------------------------------------------------------------------------
# consistency: diag, duplicates, PSD, float32, the switch
#: every closed form of a series activation (softplus: SOFTPLUS_MIX)
CLOSED = ACTS + ("softplus",)


@pytest.mark.parametrize("act", CLOSED)
@pytest.mark.parametrize("ntk", [False, True])
def test_diag_duplicates_symmetry_at_mixed_scales(act, ntk):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 4))
    X *= np.array([1e-150, 1e-3, 1.0, 10.0, 1e3, 1e50, 1e140, 30.0])[:, None]
    X = np.vstack([X, X[2], X[6], X[7]])  # duplicates of small and large rows
    kernel = _kernel(act, ntk, 3, 4.0, 0.5)
    K, dK = _checked(kernel, X, eval_gradient=True)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(dK))
    np.testing.assert_array_equal(kernel.diag(X), np.diag(K))
    np.testing.assert_array_equal(K, K.T)
    for i, j in ((2, 8), (6, 9), (7, 10)):
        # the NNGP bit for bit (rows too); the NTK up to 1 ulp (its per-entry
        # recursion rounds otherwise than the diagonal's, as for tanh)
        if ntk:
            assert K[i, j] == pytest.approx(K[i, i], rel=2.3e-16, abs=0)
            np.testing.assert_allclose(K[i], K[j], rtol=2.3e-16, atol=0)
        else:
            assert K[i, j] == K[i, i]
            np.testing.assert_array_equal(K[i], K[j])
        np.testing.assert_allclose(dK[i, j], dK[i, i], rtol=1e-14, atol=0)
    d = np.sqrt(np.diag(K))
    assert np.linalg.eigvalsh(K / np.outer(d, d)).min() > -1e-12
    np.testing.assert_allclose(kernel(X, X.copy()), K, rtol=1e-14, atol=0)


@pytest.mark.parametrize("act", CLOSED)
def test_float32(act):
    X = np.random.default_rng(2).normal(size=(6, 3)) * 100.0
    X[5] = X[4]
    K64 = _kernel(act, True, 2, 3.0, 1.0)(X)
    K32 = _kernel(act, True, 2, 3.0, 1.0, dtype="float32")(X)
    assert K32.dtype == np.float32 and np.all(np.isfinite(K32))
    d = np.sqrt(np.diag(K64))
    assert np.max(np.abs(K32 - K64) / np.outer(d, d)) < 1e-5
    assert K32[4, 5] == K32[4, 4]
    # diag is float64 (the 1-D recursion); the Gram's diagonal is its rounding
    diag = _kernel(act, True, 2, 3.0, 1.0, dtype="float32").diag(X)
    np.testing.assert_array_equal(diag.astype(np.float32), np.diag(K32))


@pytest.mark.parametrize("act", ACTS)
def test_switch_between_series_and_closed_form_is_continuous(act):
    from sknnk._numerics import registry

    spec = registry.resolve_name(act)
    top = spec.series_max_variance
    assert spec.mixture.code == na.XERF_MIX
    q = np.array([0.01, 1.0, 0.5 * top, top, 1.0001 * top])
    V, W, dV, dW = spec.diag(q[:-1])
    Vc, Wc, dVc, dWc = (a[:-1] for a in spec.diag(q))
    # relative to V and W (the derivatives to V / q and W / q: dW/dq crosses
    # 0); the series' derivative tables are the less accurate (swish's dW/dq
    # 2e-12 of W / q off at q = 50, measured), gelu_tanh's mixture is a fit
    for got, want, size, tol in ((V, Vc, Vc, 1e-12), (W, Wc, Wc, 1e-12),
                                 (dV, dVc, Vc / q[:-1], 1e-11),
                                 (dW, dWc, Wc / q[:-1], 1e-11)):  # fmt: skip
        assert np.all(np.abs(got - want) <= (tol + FIT[act]) * size), (got, want)


def test_one_method_for_both_point_sets():
    # X within the series range, Y far beyond: k(X, Y) and k(Y, X) take the
    # closed form for both, and agree with the reference
    X = np.random.default_rng(3).normal(size=(3, 2))
    Y = X * 100.0
    kernel = _kernel("gelu", True, 1, 1.0, 0.0)
    KXY = _checked(kernel, X, Y=Y)
    np.testing.assert_array_equal(KXY, kernel(Y, X).T)
    x, y = X[0], Y[1]
    k = ref_kernels("gelu", 1, 1.0, 0.0, x, y)[1]
    kxx = ref_kernels("gelu", 1, 1.0, 0.0, x, x)[1]
    kyy = ref_kernels("gelu", 1, 1.0, 0.0, y, y)[1]
    assert abs(KXY[0, 1] - k) < 1e-12 * math.sqrt(kxx * kyy)
