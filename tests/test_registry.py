"""The activation registry: every activation in every tool, each against an
independent reference, and one validation layer (parameters, input, seeds)."""

import math
import pathlib
import re

import _reference as ref
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate
from test_activations import ALL, REF

import sknnk
from sknnk import (
    ACTIVATION_NAMES,
    InfiniteWidthClassifier,
    InfiniteWidthRegressor,
    NNGPKernel,
    NNGPSampler,
    NTKKernel,
    NTKSampler,
)
from sknnk import signal_propagation as sp
from sknnk._numerics import registry
from sknnk._validation import ComplexInputError, check_generator
from sknnk.activations import ELU, ABReLU, ArcCosine, Custom, LeakyReLU
from sknnk.feature_learning import MuPLinearRegressor
from sknnk.finite import FiniteMLP, monte_carlo_nngp, monte_carlo_ntk, sample_outputs

# the activations and independent reference (phi, phi') of test_activations,
# plus plain and wrapped callables
CASES = ALL + [(Custom(np.sin, np.cos), "sin"), (np.tanh, "tanh")]
IDS = [repr(a) if not callable(a) or isinstance(a, str) else str(a) for a, _ in CASES]
JUMPS = {"step", "sign"}
# the ordered phase ends where q* (from q0 = 1) diverges, with chi_1 < 1
NO_CROSSING = {"gelu", "gelu_tanh", "swish", "mish"}
SERIES_WARNING = "ignore:The Hermite series"  # ArcCosine(4): kinked series


def _expect(f, kinks=(0.0,)):
    """E[f(z)], z ~ N(0, 1), by adaptive quadrature split at the kinks."""

    def g(z):
        return (
            float(f(np.array([z]))[0]) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        )

    cuts = sorted({-14.0, 14.0, *kinks})
    return sum(
        integrate.quad(g, lo, hi, epsabs=1e-15, epsrel=1e-13, limit=400)[0]
        for lo, hi in zip(cuts[:-1], cuts[1:])
    )


def _V(phi, q):
    return _expect(lambda z: phi(math.sqrt(q) * z) ** 2)


def _F(phi, q, c):
    """E[phi(u) phi(v)] at covariance q [[1, c], [c, 1]] by nested quadrature
    (the inner integral split where v crosses 0)."""
    r, s = math.sqrt(q), math.sqrt((1 - c) * (1 + c))

    def outer(z1):
        z1 = float(z1[0])
        inner = _expect(lambda z2: phi(r * (c * z1 + s * z2)), kinks=(-c * z1 / s,))
        return np.array([float(phi(np.array([r * z1]))[0]) * inner])

    return _expect(outer)


# ------------------------------------------------ the registry itself
@pytest.mark.parametrize("activation,key", CASES, ids=IDS)
def test_derivatives_match_finite_differences(activation, key):
    """phi' (and phi'', phi''' where known) against central differences of
    the lower derivative, and phi against the independent reference."""
    funcs = sknnk.activations.resolve_activation(activation).funcs
    x = np.concatenate([np.linspace(-4, -0.05, 80), np.linspace(0.05, 4, 80)])
    phi, dphi = REF[key]
    assert_allclose(funcs[0](x), phi(x), rtol=1e-12, atol=1e-13)
    assert_allclose(funcs[1](x), dphi(x), rtol=1e-9, atol=1e-10)
    h = 1e-5
    for k in range(1, 4):
        if funcs[k] is None:
            continue
        fd = (funcs[k - 1](x + h) - funcs[k - 1](x - h)) / (2 * h)
        scale = max(1.0, np.abs(fd).max())
        assert_allclose(funcs[k](x), fd, rtol=1e-6, atol=1e-8 * scale)


def test_one_entry_per_family_and_one_name_list():
    assert sknnk.ACTIVATION_NAMES == registry.ACTIVATION_NAMES
    assert sknnk.activations.ACTIVATION_NAMES is registry.ACTIVATION_NAMES
    # parameterised families share their entry
    for value, family in [
        ("relu", "abrelu"),
        ("leaky_relu", "abrelu"),
        ("abs", "abrelu"),
        (LeakyReLU(0.3), "abrelu"),
        (ABReLU(0.0, 1.0), "abrelu"),
        ("step", "arccos"),
        (ArcCosine(3), "arccos"),
        ("selu", "elu"),
        (ELU(0.7), "elu"),
        (np.sin, "custom"),
    ]:
        assert sknnk.activations.resolve_activation(value).entry.family == family
    relu = sknnk.activations.resolve_activation("relu")
    assert relu.params == (0.0, 1.0)
    assert relu.kinks == (0.0,) and relu.degree == 1 and not relu.jump


def test_mish_lives_in_the_registry_only():
    """'mish' was added as one registry entry: no other module names it."""
    root = pathlib.Path(sknnk.__file__).parent
    users = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "mish" in p.read_text().lower()
    ]
    assert users == ["_numerics/registry.py"]
    assert "mish" in ACTIVATION_NAMES


@pytest.mark.parametrize(
    "given, suggestion",
    [("ReLU", "'relu'"), ("leakyrelu", "'leaky_relu'"), ("Tanh", "'tanh'"),
     ("gleu", "'gelu'"), ("sigmoind", "'sigmoid'")],
)  # fmt: skip
def test_unknown_name_suggests_the_closest(given, suggestion):
    with pytest.raises(ValueError) as err:
        NTKKernel(activation=given)(np.ones((2, 2)))
    msg = str(err.value)
    assert f"Did you mean {suggestion}" in msg
    for name in ACTIVATION_NAMES:
        assert repr(name) in msg


# ------------------------------------------------ signal propagation
@pytest.mark.filterwarnings(SERIES_WARNING)
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("activation,key", CASES, ids=IDS)
def test_signal_propagation_against_quadrature(activation, key):
    """q*, chi_1, c*, chi_c and the length-map slope against adaptive 1-D
    and nested 2-D quadrature of the reference phi."""
    phi, dphi = REF[key]
    sw, sb = 1.3, 0.2
    mf = sp.mean_field(activation, sw, sb)
    q = mf.q_star
    if key in JUMPS:
        assert mf.chi1 == math.inf and mf.phase == "chaotic"
    if math.isfinite(q):
        assert_allclose(sw**2 * _V(phi, q) + sb**2, q, rtol=1e-10)
        # the fixed point is attracting: slope of the length map < 1
        h = 1e-4 * q
        slope = sw**2 * (_V(phi, q + h) - _V(phi, q - h)) / (2 * h)
        assert abs(slope) < 1
        if key not in JUMPS:
            W = _expect(lambda z: dphi(math.sqrt(q) * z) ** 2)
            assert_allclose(mf.chi1, sw**2 * W, rtol=1e-9)
            assert_allclose(math.exp(-1 / mf.xi_q), abs(slope), rtol=1e-5)
    else:  # the variance grows without bound: the length map stays above q
        for qq in (1.0, 10.0, 100.0):
            assert sw**2 * _V(phi, qq) + sb**2 > qq
    if mf.phase == "chaotic" and math.isfinite(q):
        c = mf.c_star
        assert 0 <= c < 1

        def cmap(t):
            return (sw**2 * _F(phi, q, t) + sb**2) / q

        assert_allclose(cmap(c), c, atol=1e-8)
        eps = 1e-4
        assert_allclose(
            mf.chi_c, (cmap(c + eps) - cmap(c - eps)) / (2 * eps), rtol=1e-5
        )
        assert_allclose(
            sp.correlation_map(0.3, activation, sw, sb), cmap(0.3), rtol=1e-9
        )
    elif math.isfinite(q) and mf.phase == "ordered":
        assert mf.c_star == 1.0


@pytest.mark.parametrize("activation,key", CASES, ids=IDS)
def test_critical_point_against_quadrature(activation, key):
    """chi_1 = 1 at the critical sigma_w (sigma_b = 0.2), checked with the
    reference phi' and an independently verified q*."""
    sb = 0.2
    resolved = sknnk.activations.resolve_activation(activation)
    if key in JUMPS:
        with pytest.raises(ValueError, match="no critical point"):
            sp.critical_point(activation, sb)
        return
    if resolved.degree is not None and resolved.degree >= 2:
        # chi_1 = 2 n^2 ... jumps to inf where q* from q0 = 1 diverges
        with pytest.raises(RuntimeError, match="jumps across 1"):
            sp.critical_point(activation, sb)
        return
    phi, dphi = REF[key]
    if key in NO_CROSSING:
        # chi_1 < 1 on the branch of finite q* and > 1 past it: check the jump
        with pytest.raises(RuntimeError, match="jumps across 1") as err:
            sp.critical_point(activation, sb)
        sw = float(re.search(r"sigma_w=(\S+),", str(err.value)).group(1))
        below, above = sw * (1 - 1e-4), sw * (1 + 1e-4)
        q = sp.q_star(activation, below, sb)
        assert math.isfinite(q)
        assert_allclose(below**2 * _V(phi, q) + sb**2, q, rtol=1e-9)
        assert below**2 * _expect(lambda z: dphi(math.sqrt(q) * z) ** 2) < 1
        assert sp.q_star(activation, above, sb) == math.inf
        a, b = dphi(np.array([-50.0, 50.0]))
        assert above**2 * (a * a + b * b) / 2 > 1
        return
    sw = sp.critical_point(activation, sb)
    if resolved.degree == 1:  # chi_1 = sw^2 E[phi'(z)^2] whatever q*
        assert_allclose(sw**2 * _expect(lambda z: dphi(z) ** 2), 1.0, rtol=1e-12)
        return
    q = sp.q_star(activation, sw, sb)
    if not math.isfinite(q):  # softplus & co: the critical line is q* -> inf
        a, b = dphi(np.array([-50.0, 50.0]))
        assert_allclose(sw**2 * (a * a + b * b) / 2, 1.0, rtol=1e-9)
        return
    assert_allclose(sw**2 * _V(phi, q) + sb**2, q, rtol=1e-9)
    W = _expect(lambda z: dphi(math.sqrt(q) * z) ** 2)
    assert_allclose(sw**2 * W, 1.0, rtol=1e-8)


# ------------------------------------------------ finite networks
X3 = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5]])


@pytest.mark.filterwarnings(SERIES_WARNING)
@pytest.mark.parametrize("activation,key", CASES, ids=IDS)
def test_finite_networks_match_the_kernels(activation, key):
    """Monte Carlo of random finite networks (outputs and empirical NTKs)
    against NNGPKernel / NTKKernel, within a few standard errors."""
    # polynomial growth (ArcCosine(n >= 2)): heavy tails and an O(1/width)
    # bias with large constants beyond depth 1, which is unbiased at any width
    degree = sknnk.activations.resolve_activation(activation).degree
    depth = 1 if degree is not None and degree >= 2 else 2
    kw = dict(depth=depth, activation=activation, sigma_w=1.2, sigma_b=0.2)
    K, se = monte_carlo_nngp(X3, n_networks=3000, width=256, random_state=0, **kw)
    exact = NNGPKernel(**kw)(X3)
    se = np.maximum(se, 1e-12 * np.abs(exact).max())  # sign: phi^2 = 1
    assert np.abs((K - exact) / se).max() < 4.5
    T, se = monte_carlo_ntk(X3, n_networks=24, width=256, random_state=1, **kw)
    exact = NTKKernel(**kw)(X3)
    se = np.maximum(se, 1e-12 * np.abs(exact).max())
    assert np.abs((T - exact) / se).max() < 4.5


# ------------------------------------------------ estimators
@pytest.mark.filterwarnings(SERIES_WARNING)
@pytest.mark.parametrize("activation,key", CASES, ids=IDS)
def test_regressor_is_ntk_regression(activation, key):
    """At t = inf the regressor's mean is Theta(X*, X) Theta(X, X)^-1 y."""
    rng = np.random.default_rng(3)
    X, Xs, y = rng.normal(size=(8, 3)), rng.normal(size=(4, 3)), rng.normal(size=8)
    kw = dict(depth=2, activation=activation, sigma_w=1.2, sigma_b=0.3)
    theta = NTKKernel(**kw)
    if np.linalg.cond(theta(X)) > 1e10:  # step/sign: G = 0, Theta = Sigma
        return
    reg = InfiniteWidthRegressor(**kw).fit(X, y)
    expected = theta(Xs, X) @ np.linalg.solve(theta(X), y)
    assert_allclose(reg.predict(Xs), expected, rtol=1e-7, atol=1e-9)


def test_estimators_accept_activation_objects():
    X = np.random.default_rng(0).normal(size=(12, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = InfiniteWidthClassifier(activation=LeakyReLU(0.2)).fit(X, y)
    assert clf.predict(X).shape == (12,)
    reg = InfiniteWidthRegressor(activation=LeakyReLU(0.2))
    assert reg.get_params()["activation__negative_slope"] == 0.2
    reg.set_params(activation__negative_slope=0.3).fit(X, X[:, 1])
    assert reg.kernel_.activation == LeakyReLU(0.3)


# ------------------------------------------------ the new activation, end to end
def test_mish_everywhere_against_independent_references():
    """The activation added through the registry alone: the depth-1 kernels
    against 2-D Gauss-Hermite quadrature of the reference mish, and the
    samplers against the kernels (mean Gram over 300 seeds)."""
    X = np.array(
        [[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5], [-0.3, 0.2, 0.1]]
    )
    sw, sb = 1.4, 0.3
    nngp, ntk = ref.quadrature_kernels(X, X, *REF["mish"], 1, sw, sb, n_nodes=200)
    kw = dict(depth=1, activation="mish", sigma_w=sw, sigma_b=sb)
    assert_allclose(NNGPKernel(**kw)(X), nngp, rtol=1e-9)
    assert_allclose(NTKKernel(**kw)(X), ntk, rtol=1e-9)
    iu = np.triu_indices(4)
    for cls, exact in ((NNGPSampler, nngp), (NTKSampler, ntk)):
        grams = []
        for seed in range(300):
            Z = cls(n_components=16, random_state=seed, **kw).fit_transform(X)
            grams.append(Z @ Z.T)
        grams = np.array(grams)
        z = (grams.mean(0) - exact)[iu] / (grams.std(0, ddof=1)[iu] / np.sqrt(300))
        assert np.abs(z).max() < 4.5


# ------------------------------------------------ one validation layer
X4 = np.random.default_rng(0).normal(size=(4, 3))
Y4 = np.arange(4.0)

OWNERS = {
    "NNGPKernel": lambda **p: NNGPKernel(**p)(X4),
    "NTKSampler": lambda **p: NTKSampler(**p).fit(X4),
    "InfiniteWidthRegressor": lambda **p: InfiniteWidthRegressor(**p).fit(X4, Y4),
    "sample_outputs": lambda **p: sample_outputs(X4, n_networks=2, width=3, **p),
    "FiniteMLP": lambda **p: FiniteMLP(**p).initialize(3),
    "monte_carlo_ntk": lambda **p: monte_carlo_ntk(X4, n_networks=1, width=3, **p),
}
SIGNAL = {
    "q_star": lambda activation="tanh", sigma_w=1.0, sigma_b=0.0: sp.q_star(
        activation, sigma_w, sigma_b
    ),
    "mean_field": lambda activation="tanh", sigma_w=1.0, sigma_b=0.0: sp.mean_field(
        activation, sigma_w, sigma_b
    ),
}


def _message(call, owner, params):
    with pytest.raises((ValueError, TypeError)) as err:
        call(**params)
    return type(err.value), str(err.value).replace(owner, "<owner>")


@pytest.mark.parametrize(
    "params",
    [{"depth": -1}, {"depth": 1.5}, {"depth": True}, {"sigma_w": 0.0},
     {"sigma_w": "big"}, {"sigma_w": np.nan}, {"sigma_b": -0.1},
     {"activation": "relu6"}, {"activation": "ReLU"}, {"activation": None},
     {"activation": ArcCosine(-1)}, {"activation": LeakyReLU("x")}],
    ids=repr,
)  # fmt: skip
def test_same_rules_and_words_everywhere(params):
    owners = dict(OWNERS)
    if "depth" not in params:
        owners.update(SIGNAL)
    got = {owner: _message(call, owner, params) for owner, call in owners.items()}
    assert len(set(got.values())) == 1, got


def test_complex_input_is_one_error_everywhere():
    Xc = X4.astype(complex)
    fitted_reg = InfiniteWidthRegressor().fit(X4, Y4)
    fitted_s = NNGPSampler(n_components=4).fit(X4)
    net = FiniteMLP(width=3, n_networks=1).initialize(3)
    fitted_mup = MuPLinearRegressor(n_steps=1).fit(X4, Y4)
    calls = {
        "NNGPKernel": lambda: NNGPKernel()(Xc),
        "NTKKernel": lambda: NTKKernel().diag(Xc),
        "NNGPSampler": lambda: NNGPSampler(n_components=4).fit(Xc),
        "NNGPSampler ": lambda: fitted_s.transform(Xc),
        "InfiniteWidthRegressor": lambda: InfiniteWidthRegressor().fit(Xc, Y4),
        "InfiniteWidthRegressor ": lambda: fitted_reg.predict(Xc),
        "InfiniteWidthClassifier": lambda: InfiniteWidthClassifier().fit(Xc, Y4 > 1),
        "sample_outputs": lambda: sample_outputs(Xc, n_networks=2, width=3),
        "FiniteMLP": lambda: net.predict(Xc),
        "MuPLinearRegressor": lambda: MuPLinearRegressor().fit(Xc, Y4),
        "MuPLinearRegressor ": lambda: fitted_mup.predict(Xc),
    }
    messages = set()
    for owner, call in calls.items():
        with pytest.raises(ComplexInputError) as err:
            call()
        assert isinstance(err.value, ValueError) and isinstance(err.value, TypeError)
        assert str(err.value).startswith("Complex data not supported")
        messages.add(str(err.value).replace(owner.strip(), "<owner>"))
    assert len(messages) == 1, messages


def test_one_random_state_convention():
    """int seeds a numpy Generator; None and RandomState go through
    sklearn.utils.check_random_state; a Generator is used as is."""
    ref_draw = np.random.default_rng(5).standard_normal(3)
    assert_allclose(check_generator(5).standard_normal(3), ref_draw)
    seed = np.random.RandomState(4).randint(np.iinfo(np.int32).max)
    expected = np.random.default_rng(seed).standard_normal(3)
    assert_allclose(
        check_generator(np.random.RandomState(4)).standard_normal(3), expected
    )
    g = np.random.default_rng(1)
    assert check_generator(g) is g
    for make in (
        lambda rs: sample_outputs(X4, n_networks=3, width=4, random_state=rs),
        lambda rs: FiniteMLP(width=4, n_networks=2, random_state=rs)
        .initialize(3)
        .predict(X4),
        lambda rs: NNGPSampler(n_components=8, random_state=rs).fit_transform(X4),
    ):  # fmt: skip
        np.testing.assert_array_equal(make(7), make(7))
        np.testing.assert_array_equal(
            make(np.random.RandomState(2)), make(np.random.RandomState(2))
        )
        np.random.seed(3)  # noqa: NPY002 - sklearn's random_state=None convention
        a = make(None)
        np.random.seed(3)  # noqa: NPY002
        np.testing.assert_array_equal(a, make(None))
        with pytest.raises(ValueError, match="cannot be used to seed"):
            make("seed")
