"""tanh and sigmoid by their Gaussian scale mixture, at every layer variance.

The references are independent of sknnk:

* the fitted mixture ``sum_k a_k erf(x / s_k)`` (only its constants are read
  from sknnk) against numpy's ``tanh`` / scipy's ``expit`` and their
  derivatives written out here, on a dense grid;
* the dual activations ``E[phi(u) phi(v)]``, ``E[phi'(u) phi'(v)]`` by nested
  Gauss-Legendre quadrature in the conditional form ``E_u[phi(u)
  E[phi(v) | u]]``, ``v | u ~ N(rho sqrt(b / a) u, b (1 - rho)(1 + rho))``
  with the correlation given exactly (no ``b - c^2 / a`` cancellation and no
  overflow of ``c^2`` at variance 1e300; the conditional variance 0 at ``rho
  = +-1`` handled explicitly), checked here against the closed forms of erf
  and against the sign-function limit ``2/pi asin(rho)``;
* the layer recursion written out by hand, and gradients in ``log sigma`` by
  central differences of that reference recursion.
"""

import math
import warnings

import numpy as np
import pytest
from _reference import (
    conditional_panels,
    five_point,
    gauss_panels,
    theta_difference,
)
from scipy import special

from sknnk import NNGPKernel, NTKKernel
from sknnk._numerics import mixture

# ---------------------------------------------------------------------------
# the fit itself
_X = np.linspace(0.0, 40.0, 400001)  # step 1e-4


def _mixture_derivatives(x, scale=1.0):
    """``m(x), m'(x), m''(x), m'''(x)`` of ``m(x) = sum a_k erf(scale x / s_k)``,
    from the constants only."""
    s = mixture.SCALES / scale
    a = mixture.AMPLITUDES
    z = x[:, None] / s
    e = np.exp(-z * z) * (2.0 / math.sqrt(math.pi))
    m0 = special.erf(z) @ a
    m1 = e @ (a / s)
    m2 = (e * (-2.0 * z)) @ (a / s**2)
    m3 = (e * (4.0 * z * z - 2.0)) @ (a / s**3)
    return m0, m1, m2, m3


def _tanh_derivatives(x):
    t = np.tanh(x)
    d1 = 1.0 - t * t
    return t, d1, -2.0 * t * d1, -2.0 * d1 * (d1 - 2.0 * t * t)


def test_fit_against_tanh_on_a_dense_grid():
    got = _mixture_derivatives(_X)
    want = _tanh_derivatives(_X)
    # sup errors of phi .. phi''' (the module docstring: 6.0e-15, 3.9e-15,
    # 3.6e-14, 5.5e-13, fitted on a coarser grid of step 1e-2)
    for g, w, tol in zip(got, want, (2e-14, 2e-14, 1e-13, 1e-12)):
        assert np.max(np.abs(g - w)) < tol
    # odd: the grid x >= 0 covers every x; the two exact constraints
    assert abs(mixture.AMPLITUDES.sum() - 1.0) < 4e-16
    w0 = 2.0 / math.sqrt(math.pi) * np.sum(mixture.AMPLITUDES / mixture.SCALES)
    assert abs(w0 - 1.0) < 4e-16
    assert np.all(mixture.AMPLITUDES > 0.0)  # no cancellation between terms


def test_fit_against_sigmoid_on_a_dense_grid():
    x = np.concatenate([-_X[::-1], _X[1:]])
    m0, m1, m2, m3 = _mixture_derivatives(x, 0.5)
    s = special.expit(x)
    d1 = s * (1.0 - s)
    d2 = d1 * (1.0 - 2.0 * s)
    d3 = d1 * (1.0 - 6.0 * d1)
    got = (0.5 + 0.5 * m0, 0.5 * m1, 0.5 * m2, 0.5 * m3)
    for g, w, tol in zip(got, (s, d1, d2, d3), (1e-14, 1e-14, 1e-13, 1e-12)):
        assert np.max(np.abs(g - w)) < tol


# ---------------------------------------------------------------------------
# the reference dual
def ref_dual(phi, dphi, a, b, rho, one_minus=None):
    """``(F, G)`` at variances ``a, b > 0`` and correlation ``rho``.

    ``one_minus = 1 - |rho|`` may be given exactly (correlations such as
    ``1 - 1e-8``); the conditional standard deviation is ``sqrt(b)
    sqrt((1 - rho)(1 + rho))``, and 0 (``v`` a function of ``u``) at ``|rho| = 1``.
    """
    u, wu, mu, cs = conditional_panels(a, b, rho, one_minus)
    F = G = 0.0
    pu, du = phi(u), dphi(u)
    for k in range(u.size):
        m = mu[k]  # E[v | u] = rho sqrt(b / a) u
        if cs == 0.0:
            fv, gv = phi(np.array([m]))[0], dphi(np.array([m]))[0]
        else:
            v, wv, _ = gauss_panels(m, cs)
            fv, gv = wv @ phi(v), wv @ dphi(v)
        F += wu[k] * pu[k] * fv
        G += wu[k] * du[k] * gv
    return F, G


def ref_variance(phi, dphi, q):
    """``(E[phi(u)^2], E[phi'(u)^2])``, ``u ~ N(0, q)``."""
    u, w, _ = gauss_panels(0.0, math.sqrt(q))
    return float(w @ phi(u) ** 2), float(w @ dphi(u) ** 2)


def _dtanh(x):
    e = np.exp(-2.0 * np.abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _dsigmoid(x):
    s = special.expit(x)
    return s * (1.0 - s)


REFERENCE = {"tanh": (np.tanh, _dtanh), "sigmoid": (special.expit, _dsigmoid)}


def test_reference_against_erf_and_the_sign_limit():
    def derf(x):
        return 2.0 / math.sqrt(math.pi) * np.exp(-x * x)

    for a, b, rho in [(0.01, 0.02, 0.5), (1e3, 2e3, 0.999), (1e6, 1e6, -0.9)]:
        F, G = ref_dual(special.erf, derf, a, b, rho)
        A, B = 1.0 + 2.0 * a, 1.0 + 2.0 * b
        c = rho * math.sqrt(a * b)
        assert abs(F - 2 / math.pi * math.asin(2 * c / math.sqrt(A * B))) < 1e-14
        assert G == pytest.approx(4 / math.pi / math.sqrt(A * B - 4 * c * c), rel=1e-12)
    # at variance 1e300 tanh is the sign function: F = 2/pi asin(rho)
    for rho in (0.0, 0.5, -0.9, 1.0):
        F, _ = ref_dual(np.tanh, _dtanh, 1e300, 1e300, rho)
        assert abs(F - 2 / math.pi * math.asin(rho)) < 1e-14


# ---------------------------------------------------------------------------
# the reference kernels (NTK parameterization, written out by hand)
def _inputs(q, rho, one_minus=None, d=2):
    """Two rows of squared norm ``q d`` (``sigma_w = 1``, ``sigma_b = 0``: layer-0
    variances ``q``) at correlation ``rho``."""
    r = math.sqrt(q) * math.sqrt(d)
    if one_minus is None:
        one_minus = 1.0 - abs(rho)
    sin = math.sqrt(one_minus * (2.0 - one_minus))
    return np.array([r, 0.0]), np.array(
        [math.copysign(1.0, rho) * (1.0 - one_minus) * r, sin * r]
    )


def ref_kernels(act, depth, sw, sb, qx, qy, rho, one_minus=None):
    """``(NNGP, NTK, NNGP(x, x), NTK(x, x), NNGP(y, y), NTK(y, y))`` from the
    layer-0 variances and correlation (``Sigma^0`` in closed form)."""
    phi, dphi = REFERENCE[act]
    sw2, sb2 = sw * sw, sb * sb
    if one_minus is None:
        one_minus = 1.0 - abs(rho)
    c = rho * (math.sqrt(qx) * math.sqrt(qy))
    s, t, tx, ty = c, c, qx, qy
    for _ in range(depth):
        F, G = ref_dual(phi, dphi, qx, qy, rho, one_minus)
        vx, wx = ref_variance(phi, dphi, qx)
        vy, wy = ref_variance(phi, dphi, qy)
        s, t = sw2 * F + sb2, sw2 * F + sb2 + sw2 * G * t
        tx, ty = sw2 * vx + sb2 + sw2 * wx * tx, sw2 * vy + sb2 + sw2 * wy * ty
        qx, qy = sw2 * vx + sb2, sw2 * vy + sb2
        if rho == 1.0 or (rho == -1.0 and act == "tanh"):
            pass  # v = u (v = -u, phi odd): the next layer's too, exactly
        else:
            rho = min(max(s / (math.sqrt(qx) * math.sqrt(qy)), -1.0), 1.0)
        one_minus = 1.0 - abs(rho)
    return s, t, qx, tx, qy, ty


def _kernel(act, ntk, depth, sw, sb, **kw):
    cls = NTKKernel if ntk else NNGPKernel
    return cls(depth=depth, activation=act, sigma_w=sw, sigma_b=sb, **kw)


VARIANCES = (1.0, 38.0, 100.0, 1e3, 1e6, 1e10, 1e100, 1e300)
RHOS = (0.0, 0.5, 0.9, 0.999, 1 - 1e-8, 1.0, -1.0)


def _entry_error(act, ntk, depth, q, rho, sw=1.0, sb=0.0):
    one_minus = 1e-8 if rho == 1 - 1e-8 else None
    x, y = _inputs(q / sw**2, rho, one_minus)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning anywhere
        K = _kernel(act, ntk, depth, sw, sb)(np.vstack([x, y]))
    # the layer-0 correlation of the two rows (equal norms, g = |x|^2 / d)
    # and its distance to +-1, exactly from the construction of the rows
    g = (x @ x) / 2
    om = 1.0 - abs(rho) if one_minus is None else one_minus
    sg, sb2 = sw * sw * g, sb * sb
    den = sg + sb2
    num = math.copysign(1.0, rho) * sg * (1.0 - om) + sb2
    om0 = sg * om / den if num >= 0 else (sg * om + 2 * sb2) / den
    out = ref_kernels(act, depth, sw, sb, den, den, num / den, om0)
    k, kxx, kyy = (out[1], out[3], out[5]) if ntk else (out[0], out[2], out[4])
    scale = math.sqrt(kxx) * math.sqrt(kyy)
    cond = 0.0
    if 0.0 < om0 < 1e-6:
        # the entry's conditioning: its change when rho moves by 4 ulps (the
        # kernel's rounding of x . y, |x|^2, |y|^2, their roots and quotients,
        # which no method can undo)
        moved = [ref_kernels(act, depth, sw, sb, den, den,
                             math.copysign(1.0 - o, num), o)[int(ntk)]
                 for o in (max(om0 - 4.4e-16, 0.0), om0 + 4.4e-16)]  # fmt: skip
        cond = 0.5 * abs(moved[1] - moved[0]) / scale
    return abs(K[0, 1] - k) / scale, K, cond


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("q", VARIANCES)
def test_values_at_every_variance_and_correlation(act, q):
    # 1e-11 beyond the entry's conditioning: at rho = 1 - 1e-8 the NTK's G at
    # large variance changes by ~0.3 of a relative change of 1 - rho, which
    # a 4-ulp rounding of rho makes ~4e-8 (measured 2.1e-10 of sqrt(k k) at
    # q = 1e6, 1.2 times the change for 2 ulps)
    for rho in RHOS:
        for ntk in (False, True):
            err, K, cond = _entry_error(act, ntk, 1, q, rho)
            assert np.all(np.isfinite(K))
            assert err < 1e-11 + cond, (rho, ntk, err, cond)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize(
    "depth,sw,sb,q", [(2, 1e3, 1.0, 1e6), (3, 30.0, 1.0, 1e3), (2, 1e50, 0.0, 1e100)]
)
def test_deep_values(act, depth, sw, sb, q):
    # (at q = 1e100 a bias of 1 is below the rounding of the covariance: the
    # entry would not be determined by its float64 inputs, so sigma_b = 0)
    for rho in (0.0, 0.9, 1 - 1e-8, -1.0):
        for ntk in (False, True):
            err, _, cond = _entry_error(act, ntk, depth, q, rho, sw=sw, sb=sb)
            assert err < 1e-11 + cond, (rho, ntk, err, cond)


def test_sign_limit_through_the_kernel():
    # tanh at layer variance 1e300: the arcsine kernel of sign
    for rho in (0.0, 0.5, -0.9, 0.999):
        x, y = _inputs(1e300, rho)
        kernel = NNGPKernel(depth=1, activation="tanh", sigma_w=1.0, sigma_b=0.0)
        K = kernel(np.vstack([x, y]))
        assert abs(K[0, 1] - 2 / math.pi * math.asin(rho)) < 1e-14
        assert abs(K[0, 0] - 1.0) < 1e-15


# ---------------------------------------------------------------------------
# gradients
def _ref_log_gradient(act, ntk, depth, sw, sb, x, y, h=1e-3):
    """``(d/dlog sigma_w, d/dlog sigma_b)`` of the reference entry by the
    five-point central difference: truncation ``h^4 k^(5) / 30`` (``k^(5)``
    of the order of ``k`` times the log-slopes to the fifth, at most ~1e2
    here) ~ 3e-12 k, rounding ~ 1e-15 k / h ~ 1e-12 k."""

    def k(e, which):
        w = sw * math.exp(e) if which == "w" else sw
        b = sb * math.exp(e) if which == "b" else sb
        qx, qy = w * w * (x @ x) / 2 + b * b, w * w * (y @ y) / 2 + b * b
        rho = (w * w * (x @ y) / 2 + b * b) / (math.sqrt(qx) * math.sqrt(qy))
        return ref_kernels(act, depth, w, b, qx, qy, max(min(rho, 1.0), -1.0))[int(ntk)]

    return [five_point(lambda e, p=p: k(e, p), h) for p in "wb"]


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize(
    "q,rho,ntk,depth",
    [(38.0, 0.999, True, 1), (100.0, -0.5, True, 1), (1e3, 0.9, True, 2),
     (1e3, 1.0, True, 1), (1e6, 0.5, False, 1), (1e10, 0.9, True, 1),
     (1e3, 1 - 1e-6, False, 2)],
)  # fmt: skip
def test_gradients_against_the_reference(act, q, rho, ntk, depth):
    sw, sb = 2.0, 0.5
    x, y = _inputs((q - sb * sb) / sw**2, rho)
    kernel = _kernel(act, ntk, depth, sw, sb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K, dK = kernel(np.vstack([x, y]), eval_gradient=True)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    g = _ref_log_gradient(act, ntk, depth, sw, sb, x, y)
    scale = math.sqrt(K[0, 0] * K[1, 1])
    for col, p in enumerate("wb"):
        got = dK[0, 1, names.index(f"sigma_{p}")]
        assert abs(got - g[col]) < 1e-9 * scale, (p, got, g[col])


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("scale", [1.0, 30.0, 1e5, 1e69])
def test_gradients_against_central_differences_of_the_kernel(act, scale):
    # the mixture's values are smooth in log sigma with rounding ~1e-15: the
    # five-point difference with h = 1e-3 is good to ~1e-11 of sqrt(k k)
    X = np.random.default_rng(0).normal(size=(5, 3)) * scale
    X[4] = X[3]
    kernel = NTKKernel(depth=2, activation=act, sigma_w=3.0, sigma_b=0.7)
    K, dK = kernel(X, eval_gradient=True)
    h = 1e-3
    for col in range(dK.shape[2]):
        fd = theta_difference(kernel, X, col, h)
        d = np.sqrt(np.diag(K))
        assert np.max(np.abs(dK[:, :, col] - fd) / np.outer(d, d)) < 1e-9


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_ntk_gradient_beyond_its_range_is_refused(act):
    # G_a ~ q^-2 underflows above layer variance 1e140 (the value is fine)
    X = np.random.default_rng(0).normal(size=(3, 3)) * 1e75
    kernel = NTKKernel(depth=2, activation=act)
    assert np.all(np.isfinite(kernel(X)))
    with pytest.raises(ValueError, match="layer variance.*standardize X"):
        kernel(X, eval_gradient=True)
    NNGPKernel(depth=2, activation=act)(X, eval_gradient=True)  # fine


# ---------------------------------------------------------------------------
# consistency: diag, duplicates, PSD, float32, the switch between methods
@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("ntk", [False, True])
def test_diag_duplicates_and_psd_at_mixed_scales(act, ntk):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(8, 4))
    X *= np.array([1e-150, 1e-3, 1.0, 10.0, 1e3, 1e50, 1e150, 1.0])[:, None]
    X = np.vstack([X, X[2], X[6]])  # duplicates of a small and a huge row
    kernel = _kernel(act, ntk, 3, 4.0, 0.5)
    if ntk:  # (NTK gradients are refused at these variances, see above)
        K = kernel(X)
        dK = np.repeat(K[:, :, None], 2, axis=2)
    else:
        K, dK = kernel(X, eval_gradient=True)
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(dK))
    np.testing.assert_array_equal(kernel.diag(X), np.diag(K))
    np.testing.assert_array_equal(K, K.T)
    for i, j in ((2, 8), (6, 9)):
        # equal up to 1 ulp: the generic per-entry NTK recursion is not
        # bitwise symmetric in the order of the pair at these scales (erf and
        # sin have the same ulp; the duals themselves are symmetric bitwise)
        np.testing.assert_allclose(K[i], K[j], rtol=2.3e-16, atol=0)
        assert K[i, j] == pytest.approx(K[i, i], rel=2.3e-16, abs=0)
        # (the diagonal's gradient comes from the 1-D recursion: same
        # formulas, other rounding)
        np.testing.assert_allclose(dK[i, j], dK[i, i], rtol=1e-14, atol=0)
    d = np.sqrt(np.diag(K))
    assert np.linalg.eigvalsh(K / np.outer(d, d)).min() > -1e-12
    # k(X, Y) with Y = X equals the symmetric Gram (same method, same numbers)
    np.testing.assert_allclose(kernel(X, X.copy()), K, rtol=1e-14, atol=0)


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
def test_float32(act):
    X = np.random.default_rng(2).normal(size=(6, 3)) * 100.0
    X[5] = X[4]
    k64 = NTKKernel(depth=2, activation=act, sigma_w=3.0)
    k32 = NTKKernel(depth=2, activation=act, sigma_w=3.0, dtype="float32")
    K64, K32 = k64(X), k32(X)
    assert K32.dtype == np.float32 and np.all(np.isfinite(K32))
    d = np.sqrt(np.diag(K64))
    assert np.max(np.abs(K32 - K64) / np.outer(d, d)) < 1e-5
    assert K32[4, 5] == K32[4, 4]


def test_one_method_for_both_point_sets():
    # X within the series range, Y far beyond: k(X, Y) and k(Y, X) use the
    # mixture for both, and agree with the reference
    X = np.random.default_rng(3).normal(size=(3, 2))
    Y = X * 100.0
    kernel = NTKKernel(depth=1, activation="tanh", sigma_w=1.0, sigma_b=0.0)
    KXY = kernel(X, Y)
    np.testing.assert_array_equal(KXY, kernel(Y, X).T)
    x, y = X[0], Y[1]
    qx, qy = (x @ x) / 2, (y @ y) / 2
    rho = (x @ y) / 2 / (math.sqrt(qx) * math.sqrt(qy))
    k, kxx, kyy = [ref_kernels("tanh", 1, 1.0, 0.0, qx, qy, rho)[i] for i in (1, 3, 5)]
    assert abs(KXY[0, 1] - k) < 1e-11 * math.sqrt(kxx * kyy)


def test_switch_between_series_and_mixture_is_continuous():
    # on both sides of the series range the two methods agree to ~1e-10
    from sknnk._numerics import registry

    spec = registry.resolve_name("tanh")
    top = spec.series_max_variance
    q = np.array([0.5 * top, top, 1.0001 * top])
    v_series = spec.diag(q[:2])
    v_mix = spec.diag(q)
    for a, b in zip(v_series, v_mix):
        np.testing.assert_allclose(a, b[:2], rtol=1e-10, atol=0)


# ---------------------------------------------------------------------------
# issue 13, item 3: tanh NTK depth 2, sigma_w = sqrt(2), sigma_b = 1 at
# first-layer variances ~38 (6.6e-6 off before the large tier)
@pytest.mark.parametrize("method", ["series", "mixture"])
def test_issue_13_input_3(method):
    # layer-0 variances 37, 38 and 39.5 (q = 2 |x|^2 / 3 + 1), by either method
    unit = np.random.default_rng(0).normal(size=(3, 3))
    unit /= np.linalg.norm(unit, axis=1)[:, None]
    q = np.array([37.0, 38.0, 39.5])
    X = unit * np.sqrt(1.5 * (q - 1.0))[:, None]
    kernel = NTKKernel(depth=2, activation="tanh", sigma_w=math.sqrt(2.0), sigma_b=1.0)
    spec = kernel._check_params()  # the resolved activation (shared, restored)
    top = spec.series_max_variance
    spec.series_max_variance = np.inf if method == "series" else 0.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            K, dK = kernel(X, eval_gradient=True)
    finally:
        spec.series_max_variance = top
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    for i, j in [(0, 1), (0, 2), (1, 2), (1, 1)]:
        rho = min((2.0 * (X[i] @ X[j]) / 3 + 1.0) / math.sqrt(q[i] * q[j]), 1.0)
        out = ref_kernels("tanh", 2, math.sqrt(2.0), 1.0, q[i], q[j], rho)
        scale = math.sqrt(out[3] * out[5])
        assert abs(K[i, j] - out[1]) <= 1e-9 * scale
        g = _ref_log_gradient("tanh", True, 2, math.sqrt(2.0), 1.0,
                              X[i] / math.sqrt(1.5), X[j] / math.sqrt(1.5))  # fmt: skip
        for col, p in enumerate("wb"):
            got = dK[i, j, names.index(f"sigma_{p}")]
            assert abs(got - g[col]) <= 1e-9 * scale


def test_signal_propagation_maps_at_large_variance():
    # the scalar maps (Resolved.diag / dual) take the same method switch
    from sknnk.signal_propagation import correlation_map, length_map

    for act in ("tanh", "sigmoid"):
        phi, dphi = REFERENCE[act]
        for q in (10.0, 1e3, 1e10, 1e300):
            want = ref_variance(phi, dphi, q)[0]
            assert abs(length_map(q, act, sigma_w=1.0, sigma_b=0.0) - want) < 1e-14
        q = 1e6
        v = ref_variance(phi, dphi, q)[0]
        for rho in (0.3, 0.99):
            F, _ = ref_dual(phi, dphi, q, q, rho)
            got = correlation_map(rho, act, sigma_w=1.0, sigma_b=0.0, q=q)
            assert abs(got - F / v) < 1e-12, (act, rho, got, F / v)


def test_bitwise_identical_for_every_n_jobs():
    X = np.random.default_rng(4).normal(size=(70, 3)) * 20.0
    kernel = NTKKernel(depth=2, activation="tanh", sigma_w=2.0)
    K1, d1 = kernel(X, eval_gradient=True)
    kernel.set_params(n_jobs=2)
    K2, d2 = kernel(X, eval_gradient=True)
    np.testing.assert_array_equal(K1, K2)
    np.testing.assert_array_equal(d1, d2)
