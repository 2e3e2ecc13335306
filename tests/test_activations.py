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
)
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVR

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel
from sknnk.activations import ABReLU, ArcCosine, Custom, LeakyReLU

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
]
REF = dict(REF)
REF["leaky_relu"] = (
    lambda x: np.where(x > 0, x, 0.01 * x),
    lambda x: np.where(x > 0, 1.0, 0.01),
)
REF["ab_-0.5_2"] = (
    lambda x: np.where(x > 0, 2.0 * x, -0.5 * x),
    lambda x: np.where(x > 0, 2.0, -0.5),
)
ALL = [(name, key) for name, key in CASES.items()] + OBJECTS
# series activations whose derivative has a kink or jump at 0: the Hermite
# series converges algebraically there (documented, with a warning)
KINKED = {"elu", "selu", "arccos4"}
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
        # algebraic convergence: sknnk warns with a rigorous bound, which the
        # measured error must respect
        assert bound > 0.0 and worst <= bound + 1e-12, (worst, bound)
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
        c = rho * np.sqrt(a * b)
        P = (1 + a) * (1 + b)
        D = np.sqrt(P - c * c)
        al = np.arctan2(c, D)
        F = c / 4 + (c * al + (c * c + a * b * D * D) / (P * D)) / (2 * np.pi)
        G = (
            0.25
            + al / (2 * np.pi)
            + c / (2 * np.pi * D) * (1 / D**2 + (1 - a * b) / P + 1)
        )
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
    X = np.array([[30.0, 0.0], [0.0, 30.0]])
    with pytest.warns(UserWarning, match="bounded by"):
        NTKKernel(depth=2, activation="tanh", sigma_w=3.0)(X)
