"""Mean-field signal propagation against MATH.md section 6 values, adaptive
quadrature, iterated maps and the NNGP kernel recursion."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate

from sknnk import NNGPKernel
from sknnk import signal_propagation as sp

# MATH.md section 6: tanh critical curve, sigma_b -> (sigma_w, q*)
TANH_CRITICAL = [
    (0.05, 1.1225390048, 0.1537),
    (0.1, 1.1934007250, 0.2733),
    (0.3, 1.3955839752, 0.7635),
    (0.5, 1.5496739125, 1.3179),
]


def _expect(f):
    """E[f(z)], z ~ N(0, 1), by adaptive quadrature (independent of sknnk)."""

    def integrand(z):
        return f(z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    return integrate.quad(integrand, -14, 14, epsabs=1e-14, epsrel=1e-13, limit=500)[0]


def _gauss_expectation(g, q):
    """E[g(sqrt(q) z)]."""
    return _expect(lambda z: g(math.sqrt(q) * z))


@pytest.mark.parametrize("sigma_b, sigma_w, q", TANH_CRITICAL)
def test_tanh_critical_curve(sigma_b, sigma_w, q):
    sw = sp.critical_point("tanh", sigma_b)
    assert abs(sw - sigma_w) < 1e-9  # values are given to 10 decimals
    assert abs(sp.q_star("tanh", sw, sigma_b) - q) < 1e-4
    assert abs(sp.chi1("tanh", sw, sigma_b) - 1.0) < 1e-12
    assert sp.mean_field("tanh", sw, sigma_b).phase == "critical"


def test_critical_points_without_bias():
    assert sp.critical_point("tanh") == 1.0
    assert_allclose(sp.critical_point("erf"), math.sqrt(math.pi) / 2, rtol=1e-15)
    assert_allclose(sp.critical_point("relu", 0.3), math.sqrt(2), rtol=1e-15)
    assert sp.critical_point("identity") == 1.0
    line = sp.critical_line("erf", [0.0, 0.2, 0.6])
    assert np.all(np.diff(line) > 0)
    assert_allclose(sp.chi1("erf", line, np.array([0.0, 0.2, 0.6])), 1.0, atol=1e-11)


def test_ordered_phase_rate():
    """tanh (1.1, 0.3): 1 - c^l decays at log chi_1 = -0.23490684 (MATH.md)."""
    sw, sb = 1.1, 0.3
    assert_allclose(math.log(sp.chi1("tanh", sw, sb)), -0.23490684, atol=2e-8)
    q = sp.q_star("tanh", sw, sb)
    c, gaps = 0.5, []
    for _ in range(60):
        c = sp.correlation_map(c, "tanh", sw, sb, q=q)
        gaps.append(1.0 - c)
    rate = math.log(gaps[-1] / gaps[-2])
    assert_allclose(rate, math.log(sp.chi1("tanh", sw, sb)), atol=1e-6)
    xi_q, xi_c = sp.depth_scales("tanh", sw, sb)
    assert_allclose(1 / xi_c, 0.23490684, atol=2e-8)
    assert sp.c_star("tanh", sw, sb) == 1.0


def test_chaotic_phase_fixed_point_and_rate():
    """tanh (2.5, 0.1): c* = 0.01535 (MATH.md); the decay rate of |c^l - c*|
    equals log chi_c. MATH.md quotes log chi_c = -0.179037 (measured
    -0.179033); adaptive 2-D quadrature gives -0.1790308, as we do."""
    sw, sb = 2.5, 0.1
    mf = sp.mean_field("tanh", sw, sb)
    assert mf.phase == "chaotic" and mf.chi1 > 1
    assert abs(mf.c_star - 0.01535) < 5e-6
    assert abs(math.log(mf.chi_c) - (-0.179037)) < 1e-5
    q, c_star = mf.q_star, mf.c_star
    # chi_c = sw^2 E[phi'(u) phi'(v)] by nested adaptive quadrature
    r, s = math.sqrt(q), math.sqrt(1 - c_star**2)

    def dphi(x):
        return 1 - math.tanh(x) ** 2

    G = _expect(
        lambda z1: dphi(r * z1) * _expect(lambda z2: dphi(r * (c_star * z1 + s * z2)))
    )
    assert_allclose(mf.chi_c, sw**2 * G, rtol=1e-10)
    c, gaps = 0.5, []
    for _ in range(80):
        c = sp.correlation_map(c, "tanh", sw, sb, q=q)
        gaps.append(abs(c - c_star))
    assert_allclose(math.log(gaps[-1] / gaps[-2]), math.log(mf.chi_c), atol=1e-6)
    assert_allclose(sp.correlation_map(c_star, "tanh", sw, sb), c_star, atol=1e-14)


@pytest.mark.parametrize("activation", ["tanh", "erf"])
@pytest.mark.parametrize("q", [0.2, 3.0, 50.0])
def test_expectations_match_adaptive_quadrature(activation, q):
    phi = np.tanh if activation == "tanh" else __import__("scipy").special.erf
    sw, sb = 1.3, 0.2
    V = _gauss_expectation(lambda x: float(phi(x)) ** 2, q)
    assert_allclose(sp.length_map(q, activation, sw, sb), sw**2 * V + sb**2, rtol=1e-12)


def test_length_map_slope_matches_finite_differences():
    for act, sw, sb in [("tanh", 1.5, 0.3), ("erf", 2.0, 0.1), ("relu", 1.2, 0.5)]:
        q = sp.q_star(act, sw, sb)
        h = 1e-5 * q
        fd = (sp.length_map(q + h, act, sw, sb) - sp.length_map(q - h, act, sw, sb)) / (
            2 * h
        )
        xi_q, _ = sp.depth_scales(act, sw, sb)
        assert_allclose(math.exp(-1 / xi_q), fd, rtol=1e-8)


@pytest.mark.parametrize("activation", ["tanh", "erf", "relu"])
def test_maps_agree_with_the_nngp_kernel(activation):
    """Inputs with Sigma^0 = q* keep the variance q* at every depth, and one
    layer of the NNGP maps their correlation by the correlation map."""
    sw, sb = 1.4, 0.3
    q = sp.q_star(activation, sw, sb)
    d = 2
    r = math.sqrt((q - sb**2) * d) / sw  # sw^2 |x|^2 / d + sb^2 = q*
    angle = 1.1
    X = r * np.array([[1.0, 0.0], [math.cos(angle), math.sin(angle)]])
    for depth in (1, 4):
        k = NNGPKernel(depth=depth, activation=activation, sigma_w=sw, sigma_b=sb)
        assert_allclose(k.diag(X), q, rtol=1e-9)
    c0 = (sw**2 * r**2 * math.cos(angle) / d + sb**2) / q
    K1 = NNGPKernel(depth=1, activation=activation, sigma_w=sw, sigma_b=sb)(X)
    assert_allclose(K1[0, 1] / q, sp.correlation_map(c0, activation, sw, sb), rtol=1e-9)


def test_relu_closed_forms_and_polynomial_convergence():
    assert_allclose(sp.q_star("relu", 1.2, 0.5), 0.25 / (1 - 0.72))
    assert sp.q_star("relu", 1.5, 0.1) == math.inf
    assert sp.q_star("relu", 1.0, 0.0) == 0.0
    assert sp.q_star("relu", math.sqrt(2), 0.0, q0=3.0) == 3.0
    assert_allclose(sp.chi1("relu", 1.7, 0.4), 1.7**2 / 2)
    # at criticality 1 - rho^l ~ 9 pi^2 / (2 l^2): l^2 (1 - rho^l) = 44.33 at
    # l = 2e4 (MATH.md), vs the limit 44.41
    rho = 0.0
    for _ in range(20000):
        rho = sp.correlation_map(rho, "relu", math.sqrt(2), 0.0)
    assert_allclose(20000**2 * (1 - rho), 44.33, atol=0.01)
    assert sp.depth_scales("relu", math.sqrt(2), 0.0)[1] == math.inf


def test_tanh_without_bias():
    assert sp.q_star("tanh", 0.9, 0.0) == 0.0  # ordered: signals die
    q = sp.q_star("tanh", 1.5, 0.0)
    assert q > 0 and abs(sp.length_map(q, "tanh", 1.5, 0.0) - q) < 1e-13
    assert sp.mean_field("tanh", 0.9, 0.0).phase == "ordered"
    assert_allclose(sp.chi1("tanh", 0.9, 0.0), 0.81)


def test_broadcasting_over_grids():
    sw = np.linspace(0.5, 3.0, 4)[:, None]
    sb = np.linspace(0.0, 1.0, 3)[None, :]
    chi = sp.chi1("tanh", sw, sb)
    assert chi.shape == (4, 3)
    assert_allclose(chi[2, 1], sp.chi1("tanh", float(sw[2, 0]), float(sb[0, 1])))
    assert sp.q_star("erf", sw, sb).shape == (4, 3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sp.chi1("relu6", 1.0, 0.0), "'activation' parameter"),
        (lambda: sp.q_star("tanh", -1.0, 0.0), "'sigma_w' parameter"),
        (lambda: sp.critical_point("tanh", -0.1), "'sigma_b' parameter"),
        (lambda: sp.correlation_map(1.5, "tanh", 1.0, 0.1), "correlations"),
        (lambda: sp.length_map(-1.0, "tanh"), "variances"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("activation", ["erf", "gelu", "tanh"])
def test_chi_c_at_the_ordered_fixed_point(activation):
    # c* = 1: chi_c = sigma_w^2 G(q*, q*, q*) = sigma_w^2 E[phi'(u)^2]
    # (Price's theorem). The closed forms' dF/dc slot is the partial along
    # fixed rho at rho = 1 (0): mean_field reported chi_c = 0 for erf.
    # q* and W(q*) by adaptive quadrature of phi, phi' (written out here)
    from scipy import optimize, special

    def pdf(x):
        return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    funcs = {
        "erf": (special.erf, lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x)),
        "gelu": (lambda x: x * special.ndtr(x), lambda x: special.ndtr(x) + x * pdf(x)),
        "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    }
    phi, dphi = funcs[activation]
    sw, sb = 1.0, 0.5
    qs = optimize.brentq(
        lambda q: sw**2 * _gauss_expectation(lambda u: phi(u) ** 2, q) + sb**2 - q,
        1e-6, 100.0, xtol=1e-15,
    )  # fmt: skip
    want = sw**2 * _gauss_expectation(lambda u: dphi(u) ** 2, qs)
    mf = sp.mean_field(activation, sw, sb)
    assert mf.phase == "ordered" and mf.c_star == 1.0
    assert mf.q_star == pytest.approx(qs, rel=1e-10)
    assert mf.chi_c == pytest.approx(want, rel=1e-10)
    assert mf.chi_c == pytest.approx(mf.chi1, rel=1e-12)
