"""Kernel diagonals and closed forms at extreme layer variances (issue 13, audit).

Right values come from mpmath quadrature of the Gaussian expectations, split
at the activation's unit scale ``|u| ~ 1`` (``z ~ 2^k / sqrt(q)``) and at 0,
and from central differences of that quadrature; never from sknnk itself.
"""

import mpmath as mp
import numpy as np
import pytest

from sknnk import NNGPKernel
from sknnk._numerics.registry import resolve_name
from sknnk.activations import Custom
from sknnk.signal_propagation import length_map


def _softplus(u):
    return u + mp.log1p(mp.exp(-u)) if u > 0 else mp.log1p(mp.exp(u))


PHI = {
    "tanh": (mp.tanh, lambda u: 1 - mp.tanh(u) ** 2),
    "sigmoid": (
        lambda u: 1 / (1 + mp.exp(-u)),
        lambda u: mp.exp(-u) / (1 + mp.exp(-u)) ** 2,
    ),
    "softplus": (_softplus, lambda u: 1 / (1 + mp.exp(-u))),
    "gelu": (lambda u: u * mp.ncdf(u), lambda u: mp.ncdf(u) + u * mp.npdf(u)),
    "swish": (lambda u: u / (1 + mp.exp(-u)), None),
}


def _expect(f, q):
    """``E[f(sqrt(q) z)]``, ``z ~ N(0, 1)``, by mpmath quadrature."""
    r = mp.sqrt(q)
    cuts = [mp.mpf(2) ** k / r for k in range(-40, 200, 3) if mp.mpf(2) ** k / r < 40]
    pts = [-mp.inf] + [-c for c in reversed(cuts)] + [0] + cuts + [mp.inf]
    return mp.quad(lambda z: f(r * z) * mp.npdf(z), pts)


@pytest.mark.parametrize("name", sorted(PHI))
@pytest.mark.parametrize("q", [2e3, 1e10, 1e100])
def test_series_diagonal_at_large_variance(name, q):
    """The length map (the engines' diagonal) at variances the grid cannot
    resolve: ``length_map(1e10, "tanh")`` read 0.99601 for 0.999992."""
    f, df = PHI[name]
    ref = float(_expect(lambda u: f(u) ** 2, q))
    assert length_map(q, name, sigma_w=1.0, sigma_b=0.0) == pytest.approx(
        ref, rel=1e-12
    )
    if df is not None:
        w = resolve_name(name).diag([q], derivatives=False)[1][0]
        assert w == pytest.approx(float(_expect(lambda u: df(u) ** 2, q)), rel=1e-11)


@pytest.mark.parametrize("name", ["tanh", "gelu"])
def test_series_diagonal_derivative_at_large_variance(name):
    f = PHI[name][0]
    q, h = mp.mpf(1e10), mp.mpf(1e2)
    with mp.workdps(30):
        ref = (
            _expect(lambda u: f(u) ** 2, q + h) - _expect(lambda u: f(u) ** 2, q - h)
        ) / (2 * h)
    dv = resolve_name(name).diag([float(q)])[2][0]
    assert dv == pytest.approx(float(ref), rel=1e-8, abs=1e-14)


@pytest.mark.filterwarnings("ignore:The Hermite series")  # off-diagonal bound
def test_kernel_diagonal_matches_quadrature_at_large_variance():
    """Depth 1 NNGP diagonal of tanh and of a Custom activation at layer
    variance 1e8: sigma_w^2 E[phi^2] + sigma_b^2 from quadrature; diag and the
    Gram's diagonal agree."""
    X = np.array([[1e4, 0.0], [0.0, 2e4]])
    q = [mp.mpf(1e8) / 2 + 1, mp.mpf(4e8) / 2 + 1]
    for act, f in [
        ("tanh", mp.tanh),
        (Custom(lambda u: np.tanh(u) + 0.5), lambda u: mp.tanh(u) + 0.5),
    ]:
        k = NNGPKernel(depth=1, activation=act, sigma_w=1.0, sigma_b=1.0)
        ref = [float(_expect(lambda u, f=f: f(u) ** 2, qi)) + 1 for qi in q]
        np.testing.assert_allclose(k.diag(X), ref, rtol=1e-12)
        np.testing.assert_allclose(np.diag(k(X)), ref, rtol=1e-12)
