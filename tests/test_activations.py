"""Every activation: duals against quadrature, depth accuracy, gradients, API."""

import re
import warnings

import numpy as np
import pytest
from _reference import (
    ACTIVATIONS as REF,
)
from _reference import (
    central_fd,
    mc_nngp,
    nested_quad_dual,
    quadrature_kernels,
    tsuchida_gelu,
)
from numpy.testing import assert_allclose
from scipy import special
from scipy.integrate import quad
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVR

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel
from sknnk.activations import ELU, ABReLU, ArcCosine, Custom, LeakyReLU

# activation value -> key of the independent reference implementation
CASES = {name: name for name in ACTIVATION_NAMES}
CASES.update({"silu": "swish", "linear": "identity", "leaky_relu": "leaky_relu"})
OBJECTS = [
    (LeakyReLU(0.1), "leaky_relu_0.1"),
    (ABReLU(-0.5, 2.0), "ab_-0.5_2"),
    (ArcCosine(0), "step"),
    (ArcCosine(2), "arccos2"),
    (ArcCosine(3), "arccos3"),
    (ArcCosine(4), "arccos4"),
    (ELU(0.5), "elu_0.5"),
]
REF = dict(REF)
REF["leaky_relu"] = (
    lambda x: np.where(x > 0, x, 0.01 * x),
    lambda x: np.where(x > 0, 1.0, 0.01),
)
REF["elu_0.5"] = (
    lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0.0))),
    lambda x: np.where(x > 0, 1.0, 0.5 * np.exp(np.minimum(x, 0.0))),
)
REF["ab_-0.5_2"] = (
    lambda x: np.where(x > 0, 2.0 * x, -0.5 * x),
    lambda x: np.where(x > 0, 2.0, -0.5),
)


def _mish(x):
    w = np.exp(x)
    return x * (w * w + 2 * w) / (w * w + 2 * w + 2)  # x tanh(log(1 + e^x))


def _dmish(x):
    w = np.exp(x)
    num = w * (4 * (x + 1) + 4 * w * w + w**3 + w * (4 * x + 6))
    return num / (2 * w + w * w + 2) ** 2


REF["mish"] = (_mish, _dmish)  # the activation added through the registry only
ALL = [(name, key) for name, key in CASES.items()] + OBJECTS
# series activations whose derivative has a kink or jump at 0: the Hermite
# series converges algebraically there (documented, with a warning)
KINKED = {"arccos4"}
# closed forms through the bivariate normal distribution function (measured
# worst: 5e-15 against nested quadrature at variances up to 13)
ELU_LIKE = {"elu", "selu", "elu_0.5"}
# G of step/sign is a Dirac delta; sknnk (like finite networks) uses G = 0
NO_G = {"step", "sign"}


def _dual_via_kernels(activation, a, b, rho):
    """(F, G) at covariance (a, b, rho sqrt(ab)) through the public kernels:
    depth 1, sigma_w = 1, sigma_b = 0 and 2-D inputs with x.y/2 = c."""
    c = rho * np.sqrt(a * b)
    x = np.array([[np.sqrt(2 * a), 0.0]])
    y = np.array([[c * np.sqrt(2 / a), np.sqrt(max(2 * b - 2 * c * c / a, 0.0))]])
    kw = dict(depth=1, activation=activation, sigma_w=1.0, sigma_b=0.0)
    F = NNGPKernel(**kw)(x, y)[0, 0]
    return F, (NTKKernel(**kw)(x, y)[0, 0] - F) / c


GRID_FAST = [(0.5, 0.8, r) for r in (-0.9, 0.5, 0.999, 1.0)]
GRID_FULL = [
    (a, 1.3 * a, r)
    for a in (0.5, 1.0, 4.0, 10.0)
    for r in (-0.95, 0.3, 0.9, 0.999, 0.99999, 1.0)
]


def _stated_bound(caught):
    """The truncation bound a 'did not converge' warning states (0 if none)."""
    bounds = [
        float(re.search(r"bounded by ([0-9.e+-]+)", str(w.message)).group(1))
        for w in caught
        if "bounded by" in str(w.message)
    ]
    return max(bounds, default=0.0)


def _check_duals(activation, key, grid):
    """Worst error of (F, G) relative to sqrt(k(x,x) k(y,y)) over the grid, and
    the worst truncation bound sknnk stated in a warning (0 if none)."""
    phi, dphi = REF[key]
    worst = bound = 0.0
    for a, b, rho in grid:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            F, G = _dual_via_kernels(activation, a, b, rho)
        bound = max(bound, _stated_bound(caught))
        Fr, Gr = nested_quad_dual(phi, dphi, a, b, rho * np.sqrt(a * b))
        Va = nested_quad_dual(phi, dphi, a, a, a)
        Vb = nested_quad_dual(phi, dphi, b, b, b)
        eF = abs(F - Fr) / np.sqrt(Va[0] * Vb[0])
        if key in NO_G:
            eG = abs(G)
        else:
            eG = abs(G - Gr) / np.sqrt(Va[1] * Vb[1])
        worst = max(worst, eF, eG)
    return worst, bound


def _assert_accuracy(activation, key, grid):
    worst, bound = _check_duals(activation, key, grid)
    if key in KINKED:
        # algebraic convergence: where sknnk warns, with a rigorous bound, the
        # measured error must respect it; it warns only above 1e-7, and
        # without a warning the error must meet the 1e-9 target
        if bound > 0.0:
            assert worst <= bound + 1e-12, (worst, bound)
        else:
            assert worst < 1e-9, worst
    elif key in ELU_LIKE:
        assert worst < 3e-14 and bound == 0.0, (worst, bound)
    else:
        # (at variance >= 10, tanh's series may reach its term cap: the
        # warning then states a bound, still below the 1e-9 target)
        assert worst < 1e-9 and bound < 1e-9, (worst, bound)


@pytest.mark.parametrize("activation,key", ALL, ids=str)
def test_duals_against_nested_quadrature(activation, key):
    _assert_accuracy(activation, key, GRID_FAST)


@pytest.mark.slow
@pytest.mark.parametrize("activation,key", ALL, ids=str)
def test_duals_up_to_variance_10(activation, key):
    # relative to sqrt(k(x,x) k(y,y)); uniformly over rho in [-1, 1]
    _assert_accuracy(activation, key, GRID_FULL)


SMOOTH = ["tanh", "sigmoid", "softplus", "swish", "gelu", "gelu_tanh", "erf", "sin"]


@pytest.mark.parametrize("name", SMOOTH)
def test_depth_10_against_gauss_hermite_recursion(name):
    # layer variances stay <= 1.6, where 300-node Gauss-Hermite is exact to
    # ~1e-13; errors of the series must not accumulate beyond 1e-9 over depth
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    X *= np.sqrt(3) / np.linalg.norm(X, axis=1).max()
    sw, sb = 1.1, 0.2
    nngp, ntk = quadrature_kernels(X, None, name, None, 10, sw, sb, 300)
    kw = dict(depth=10, activation=name, sigma_w=sw, sigma_b=sb)
    assert_allclose(NNGPKernel(**kw)(X), nngp, rtol=1e-9, atol=1e-9 * nngp.max())
    assert_allclose(NTKKernel(**kw)(X), ntk, rtol=1e-9, atol=1e-9 * ntk.max())


def test_gelu_matches_closed_form():
    # Tsuchida et al. (2020) closed form of E[gelu(u) gelu(v)] and of G
    for a, b, rho in [(0.5, 0.8, 0.3), (2.0, 3.0, -0.7), (4.0, 5.0, 0.99), (1, 1, 1)]:
        F, G = tsuchida_gelu(a, b, rho * np.sqrt(a * b))
        Fk, Gk = _dual_via_kernels("gelu", a, b, rho)
        assert_allclose([Fk, Gk], [F, G], rtol=1e-11)


@pytest.mark.parametrize("activation", [n for n, _ in ALL] + [o for o, _ in OBJECTS])
@pytest.mark.parametrize("sigma_b", [0.3, 0.0])
def test_gradients_every_activation(activation, sigma_b):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 3)) * 0.8
    X[2] = 0.0
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=2, activation=activation, sigma_w=1.2, sigma_b=sigma_b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            K, dK = k(X, eval_gradient=True)
            fd = central_fd(lambda t, k=k: k.clone_with_theta(t)(X), k.theta, 1e-6)
        assert np.all(np.isfinite(dK))
        assert_allclose(dK, fd, rtol=2e-6, atol=2e-7 * np.abs(K).max())


@pytest.mark.slow
@pytest.mark.parametrize(
    "activation,key",
    [
        (n, k)
        for n, k in ALL
        # (step/sign: no G to test; arc-cosine of order 3 and 4 make f(x) f(y)
        # so heavy-tailed (8th-12th moments) that the Monte Carlo standard
        # error itself is unreliable; their duals are checked by quadrature)
        if n not in ("linear", "silu")
        and k not in ("step", "sign", "arccos3", "arccos4")
    ],
    ids=str,
)
def test_nngp_monte_carlo_of_finite_networks(activation, key):
    X = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5]]) * 0.7
    mean, stderr = mc_nngp(X, REF[key][0], 2, 1.3, 0.2, 1500, 4000, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        K = NNGPKernel(depth=2, activation=activation, sigma_w=1.3, sigma_b=0.2)(X)
    assert (np.abs(K - mean) / stderr).max() < 4.5


def test_identities_between_activations():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 4))
    for cls in (NNGPKernel, NTKKernel):

        def k(act, cls=cls):
            return cls(depth=3, activation=act, sigma_w=1.3, sigma_b=0.1)(X)

        assert_allclose(k(LeakyReLU(0.0)), k("relu"), rtol=1e-14)
        assert_allclose(k(ABReLU(0.0, 1.0)), k("relu"), rtol=1e-14)
        assert_allclose(k(ABReLU(1.0, 1.0)), k("identity"), rtol=1e-13)
        assert_allclose(k(ABReLU(-1.0, 1.0)), k("abs"), rtol=1e-14)
        assert_allclose(k(ArcCosine(1)), k("relu"), rtol=1e-14)
        assert_allclose(k(ArcCosine(0)), k("step"), rtol=1e-14)
        assert_allclose(k("silu"), k("swish"), rtol=1e-14)
        assert_allclose(k(Custom(np.sin, np.cos)), k("sin"), rtol=1e-11)
        assert_allclose(k(Custom(np.tanh)), k("tanh"), rtol=1e-8)
        assert_allclose(k(np.tanh), k("tanh"), rtol=1e-8)


def test_activation_parameters_work_with_clone_and_grid_search():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    k = NTKKernel(depth=2, activation=LeakyReLU(0.1))
    k2 = clone(k)
    assert k2 == k and k2.activation is not k.activation
    assert "LeakyReLU(negative_slope=0.1)" in repr(k)
    search = GridSearchCV(
        SVR(kernel=k),
        {"kernel__activation__negative_slope": [0.0, 0.2], "kernel__depth": [1, 2]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_["kernel__activation__negative_slope"] in (0.0, 0.2)
    assert k.activation.negative_slope == 0.1  # the user's object is untouched


@pytest.mark.parametrize(
    "activation,exc,match",
    [
        (ArcCosine(-1), ValueError, "'order'"),
        (ArcCosine(1.5), ValueError, "'order'"),
        (LeakyReLU("x"), TypeError, "'negative_slope'"),
        (ABReLU(np.nan, 1.0), ValueError, "'a'"),
        (Custom(None), TypeError, "'function'"),
        (Custom(lambda x: np.ones(3)), ValueError, "same shape"),
        (42, ValueError, "sknnk.activations"),
    ],
)
def test_invalid_activation_objects(activation, exc, match):
    X = np.ones((2, 2))
    with pytest.raises(exc, match=match):
        NTKKernel(activation=activation)(X)


def test_large_variance_warns_with_bound():
    # a series activation (softplus written as a user callable: the named
    # "softplus", like tanh, switches to its closed form instead of warning)
    X = np.array([[30.0, 0.0], [0.0, 30.0]])
    softplus = Custom(lambda x: np.logaddexp(0.0, x), derivative=special.expit)
    with pytest.warns(UserWarning, match="bounded by"):
        NTKKernel(depth=2, activation=softplus, sigma_w=3.0)(X)


# ---------------------------------------------------------------------------
# ELU / SELU closed forms: the bivariate normal CDF, duals, partials, depth
SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
ELU_PRM = {"elu": (1.0, 1.0), "selu": SELU, "elu_0.5": (0.5, 1.0)}


def _mp_phi2(h, k, rho):
    """P(X < h, Y < k) in 30 digits: int_{x<h} phi(x) Phi((k - rho x) / r) dx,
    split where the second factor is a (smoothed) step."""
    import mpmath as mp

    with mp.workdps(30):  # (never the global precision other modules set)
        h, k, rho = mp.mpf(h), mp.mpf(k), mp.mpf(rho)
        if rho == 1:
            return mp.ncdf(min(h, k))
        if rho == -1:
            return max(mp.mpf(0), mp.ncdf(h) - mp.ncdf(-k))
        r = mp.sqrt((1 - rho) * (1 + rho))
        # breakpoints resolve the far tail (the integrand lives within ~1/|h| of h)
        pts = [h - 20, h - 5, h - 1, h - 0.2]
        if rho != 0 and k / rho < h:
            pts.append(k / rho)
        pts = [-mp.inf] + sorted(pts) + [h]
        return mp.quad(lambda x: mp.npdf(x) * mp.ncdf((k - rho * x) / r), pts)


@pytest.mark.parametrize(
    "rho", [-1, -0.999999, -0.99, -0.93, -0.6, 0, 0.25, 0.8, 0.92, 0.999999, 1]
)
def test_bivariate_normal_cdf_against_mpmath(rho):
    pytest.importorskip("mpmath")
    from sknnk._numerics.bvn import phi2w

    r = np.sqrt((1 - rho) * (1 + rho))
    for h in (-8.0, -5.3, -2.0, -0.4, 0.0, 0.7, 3.0, 8.0):
        for k in (-8.0, -2.0, 0.0, 0.7, 8.0):
            ref = float(_mp_phi2(h, k, rho))
            got = phi2w(h, k, rho, r, 0.0)
            # absolute, and relative to Phi(min(h, k)) in the lower tail
            scale = float(_mp_phi2(min(h, k), min(h, k), 1))
            assert abs(got - ref) <= 2e-16 + 2e-14 * scale, (h, k, ref, got)


def test_bivariate_normal_cdf_log_weight_deep_tail():
    # exp(lw) Phi2 where Phi2 alone would underflow: the tilted terms of ELU
    import mpmath as mp

    from sknnk._numerics.bvn import phi2w

    with mp.workdps(40):  # (never the global precision other modules set)
        for s in (2.0, 6.0, 30.0, 45.0):
            for rho in (-0.5, 0.3, 0.95, 0.9999):
                r = np.sqrt((1 - rho) * (1 + rho))
                h, k, lw = -s, -rho * s, 0.5 * s * s
                # Plackett: Phi(h) Phi(k) + int_0^asin(rho) of the density in t
                H, K, LW = mp.mpf(h), mp.mpf(k), mp.mpf(lw)

                def dens(t, H=H, K=K, LW=LW):
                    return mp.exp(
                        LW
                        - (H * H + K * K - 2 * H * K * mp.sin(t)) / (2 * mp.cos(t) ** 2)
                    )

                ref = mp.exp(LW) * mp.ncdf(H) * mp.ncdf(K)
                ref += mp.quad(dens, [0, mp.asin(rho)]) / (2 * mp.pi)
                # rounding of lw alone costs lw * 1.1e-16 relative
                rtol = 2e-14 + 2e-16 * lw
                assert_allclose(phi2w(h, k, rho, r, lw), float(ref), rtol=rtol)


def _elu_partials(key, a, b, c):
    from sknnk._numerics.activations import ELU as CODE
    from sknnk._numerics.activations import N_PRM, closed_form_partials

    prm = np.zeros(N_PRM)
    prm[:2] = ELU_PRM[key]
    return np.array(closed_form_partials(CODE, prm, a, b, c, True))


@pytest.mark.parametrize("key", ["elu", "selu"])
def test_elu_duals_variances_up_to_13(key):
    # against nested quadrature split at the kinks (the kernels' path to the
    # same function is checked by test_duals_against_nested_quadrature)
    phi, dphi = REF[key]
    for a, b in [(0.5, 0.8), (3.0, 1.2), (13.0, 9.0), (13.0, 13.0)]:
        Va = nested_quad_dual(phi, dphi, a, a, a)
        Vb = nested_quad_dual(phi, dphi, b, b, b)
        for rho in (-1.0, -0.95, 0.0, 0.3, 0.9, 0.999, 0.99999, 1.0):
            F, G = _elu_partials(key, a, b, rho * np.sqrt(a * b))[:2]
            Fr, Gr = nested_quad_dual(phi, dphi, a, b, rho * np.sqrt(a * b))
            assert abs(F - Fr) <= 2e-14 * np.sqrt(Va[0] * Vb[0]), (a, b, rho)
            assert abs(G - Gr) <= 2e-14 * np.sqrt(Va[1] * Vb[1]), (a, b, rho)


def _richardson(fn, x, h):
    """Fourth-order central difference (Richardson of steps h and 2h)."""
    d1 = (fn(x + h) - fn(x - h)) / (2 * h)
    d2 = (fn(x + 2 * h) - fn(x - 2 * h)) / (4 * h)
    return (4 * d1 - d2) / 3


@pytest.mark.parametrize("key", ["elu", "selu", "elu_0.5"])
def test_elu_partials_against_quadrature_differences(key):
    phi, dphi = REF[key]
    for a, b in [(0.5, 0.7), (2.0, 1.3), (13.0, 9.0)]:
        Va = nested_quad_dual(phi, dphi, a, a, a)
        Vb = nested_quad_dual(phi, dphi, b, b, b)
        scale = np.sqrt([Va[0] * Vb[0], Va[1] * Vb[1]])
        s = np.sqrt(a * b)
        for rho in (-0.95, 0.0, 0.3, 0.9, 0.999):
            got = _elu_partials(key, a, b, rho * s)
            # steps well inside the distance to rho = +-1
            step = 2e-3 * min(1.0, 10 * (1 - abs(rho)))
            for j, var in enumerate((a, b, s)):

                def fn(x, j=j, p0=(a, b, rho * s)):
                    p = list(p0)
                    p[j] = x
                    return np.array(nested_quad_dual(phi, dphi, *p))

                fd = _richardson(fn, [a, b, rho * s][j], step * var)
                # (F_j, G_j) are entries (2 + j, 5 + j); FD-limited accuracy
                err = np.abs(got[[2 + j, 5 + j]] - fd) * var / scale
                tol = 2e-8 if abs(rho) < 0.99 else 3e-7
                assert np.all(err < tol), (key, a, b, rho, j, err)


@pytest.mark.parametrize("key", ["elu", "selu", "elu_0.5"])
@pytest.mark.parametrize("rho", [1.0, -1.0])
def test_elu_partials_at_unit_correlation_are_fixed_rho_derivatives(key, rho):
    # at rho = +-1 the returned partials must give d/da F(a, b, rho sqrt(ab))
    # along fixed rho (the diverging c-part of SELU's G is dropped)
    phi, dphi = REF[key]
    a, b = 2.0, 1.3
    got = _elu_partials(key, a, b, rho * np.sqrt(a * b))
    for da, db in [(1.0, 0.0), (0.0, 1.0)]:
        dc = rho * 0.5 * (da * np.sqrt(b / a) + db * np.sqrt(a / b))

        def fn(t, da=da, db=db):
            # (F, G) on the line v = rho sqrt(b / a) u: 1-D quadrature split at 0
            sa, sb = np.sqrt(a + t * da), rho * np.sqrt(b + t * db)
            out = []
            for f in (phi, dphi):

                def integrand(z, f=f):
                    return f(sa * z) * f(sb * z) * np.exp(-0.5 * z * z)

                parts = [quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
                         for lo, hi in ((-40, 0), (0, 40))]  # fmt: skip
                out.append(sum(parts) / np.sqrt(2 * np.pi))
            return np.array(out)

        fd = _richardson(fn, 0.0, 2e-3)
        dF = got[2] * da + got[3] * db + got[4] * dc
        dG = got[5] * da + got[6] * db + got[7] * dc
        assert_allclose([dF, dG], fd, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("key", ["elu", "selu"])
def test_elu_depth_10_against_nested_quadrature_recursion(key):
    from _reference import nested_quad_kernels

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 3))
    X[2] = 2.0 * X[0]  # parallel rows
    sw, sb = 1.3, 0.2
    nngp, ntk = nested_quad_kernels(X, None, key, None, 10, sw, sb)
    kw = dict(depth=10, activation=key, sigma_w=sw, sigma_b=sb)
    assert_allclose(NNGPKernel(**kw)(X), nngp, rtol=1e-12, atol=1e-12 * nngp.max())
    assert_allclose(NTKKernel(**kw)(X), ntk, rtol=1e-12, atol=1e-12 * ntk.max())


@pytest.mark.parametrize("activation", ["elu", "selu", ELU(0.5)], ids=str)
@pytest.mark.parametrize("sigma_b", [0.3, 0.0])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_elu_gradients_with_duplicate_and_parallel_rows(activation, sigma_b, depth):
    # rho = 1 exactly (duplicates; parallel rows when sigma_b = 0) stays 1 for
    # every hyperparameter: the gradient must match finite differences there
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6, 3))
    X[3] = X[0]
    X[4] = 3.0 * X[1]
    X[5] = -X[2]
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=depth, activation=activation, sigma_w=1.4, sigma_b=sigma_b)
        K, dK = k(X, eval_gradient=True)
        fd = central_fd(lambda t, k=k: k.clone_with_theta(t)(X), k.theta, 1e-5)
        assert_allclose(dK, fd, rtol=1e-8, atol=1e-9 * np.abs(K).max())
