"""Arc-cosine kernels of every order (Cho and Saul, 2009) in closed form.

``ArcCosine(n)`` is ``max(x, 0)**n``; its dual ``E[relu(u)^n relu(v)^n]`` is
evaluated by a recurrence in ``n``. The references here are mpmath
quadratures of the defining Gaussian integral, never sknnk itself.
"""

import mpmath as mp
import numpy as np
import pytest

from sknnk import NNGPKernel, NTKKernel
from sknnk.activations import ArcCosine

# mpmath precision is set per reference (mp.workdps), never globally: other
# test modules rely on the digits they set at import
_DPS = 20


def _relu_moment(n, mu, sd):
    """``E[relu(w)^n]`` for ``w ~ N(mu, sd^2)``: binomial expansion in
    ``t = (w - mu) / sd`` with the truncated moments ``M_k = int_a^inf t^k
    phi(t) dt`` (``M_k = a^(k-1) phi(a) + (k - 1) M_(k-2)``), in mpmath."""
    a = -mu / sd
    m = [mp.ncdf(-a), mp.npdf(a)]
    for k in range(2, n + 1):
        m.append(a ** (k - 1) * mp.npdf(a) + (k - 1) * m[k - 2])
    return sd**n * mp.fsum(mp.binomial(n, k) * (mu / sd) ** (n - k) * m[k]
                           for k in range(n + 1))  # fmt: skip


def _k_ref(n, rho):
    """``E[relu(u)^n relu(v)^n]`` for unit variances and correlation ``rho``
    by quadrature over ``u`` in [0, 14] (the rest is below 1e-30 of the
    diagonal for n <= 7) of ``u^n E[relu(v)^n | u]``, ``v | u ~ N(rho u,
    1 - rho^2)``, at ``_DPS`` digits."""
    with mp.workdps(_DPS):
        rho = mp.mpf(rho)
        if rho == 1:
            return mp.fac2(2 * n - 1) / 2
        if rho == -1:
            return mp.mpf(0)
        sd = mp.sqrt(1 - rho * rho)
        return mp.quad(lambda u: u**n * mp.npdf(u) * _relu_moment(n, rho * u, sd),
                       [0, 3, 14], method="gauss-legendre")  # fmt: skip


def _pair(rho, scale_x, scale_y, d=3):
    """Two rows of norms ``scale * sqrt(d)`` at correlation ``rho``."""
    e1 = np.array([1.0, 0.0, 0.0])
    e2 = np.array([rho, np.sqrt((1 - rho) * (1 + rho)), 0.0])
    return np.vstack([e1 * scale_x, e2 * scale_y]) * np.sqrt(d)


@pytest.mark.parametrize("n", [2, 4, 7])
@pytest.mark.parametrize("rho", [-1.0, -0.95, -0.4, 0.3, 0.999, 1.0])
def test_depth_one_against_quadrature(n, rho):
    # sigma_b = 0, sigma_w = 1: K(x, y) = (|x| |y| / d)^n k_n(rho)
    sx, sy = 1.3, 0.7
    X = _pair(rho, sx, sy)
    K = NNGPKernel(depth=1, activation=ArcCosine(n), sigma_w=1.0, sigma_b=0.0)(X)
    ref = float(_k_ref(n, rho))
    diag = float(_k_ref(n, 1.0))
    scale = (sx * sy) ** n
    # relative to sqrt(k(x, x) k(y, y)) of the layer
    assert abs(K[0, 1] - scale * ref) <= 1e-13 * scale * diag
    np.testing.assert_allclose(np.diag(K), [sx ** (2 * n) * diag, sy ** (2 * n) * diag],
                               rtol=1e-14)  # fmt: skip


@pytest.mark.parametrize("n", [4, 6])
@pytest.mark.parametrize("ntk", [False, True])
def test_high_order_homogeneous_at_every_scale(n, ntk):
    """Degree-n homogeneity: with sigma_b = 0 the depth-2 kernel of ``c X``
    is ``c^(2 n^2) K(X)`` (NNGP) -- checked where it stays representable --
    and duplicate rows agree (the NNGP bit for bit)."""
    X = np.random.default_rng(3).normal(size=(5, 3))
    k = (NTKKernel if ntk else NNGPKernel)(
        depth=2, activation=ArcCosine(n), sigma_w=1.3, sigma_b=0.0
    )
    K = k(X)
    for c in (1e-3, 1e2):
        Kc = k(X * c)
        if not ntk:
            np.testing.assert_allclose(Kc, K * c ** (2 * n * n), rtol=1e-12)
        assert np.isfinite(Kc).all()
    D = np.vstack([X[:1], X[:1]])
    KD = k(D)
    if ntk:  # Theta^0 is the dot product itself: its rounding stays
        np.testing.assert_allclose(KD, KD[0, 0], rtol=4e-15)
    else:  # the snapped correlation: the diagonal's bits
        assert KD[0, 0] == KD[1, 1] == KD[0, 1]


def test_high_order_psd_and_no_warning():
    X = np.random.default_rng(0).normal(size=(30, 4))
    with np.errstate(all="raise"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            K = NTKKernel(depth=3, activation=ArcCosine(5))(X)
    w = np.linalg.eigvalsh(K)
    assert w.min() >= -1e-12 * w.max()


def _k_recurrence(n, rho, dps=150):
    """``k_n(rho)`` by the arc-cosine recurrence in ``dps``-digit arithmetic
    (an independent evaluation: it cancels for ``rho < 0``, which the digits
    absorb)."""
    with mp.workdps(dps):
        rho = mp.mpf(rho)
        theta = mp.acos(rho)
        s2 = (1 - rho) * (1 + rho)
        k_prev = (mp.pi - theta) / (2 * mp.pi)
        k = (mp.sqrt(s2) + (mp.pi - theta) * rho) / (2 * mp.pi)
        for m in range(2, n + 1):
            k, k_prev = (2 * m - 1) * rho * k + (m - 1) ** 2 * s2 * k_prev, k
        return +k


@pytest.mark.parametrize("n", [2, 6, 10, 20])
@pytest.mark.parametrize("rho", [-0.3, -0.9, -0.99, -0.999999])
def test_negative_correlation_relative_accuracy(n, rho):
    """At rho < 0 the kernel is far below its diagonal (k_10(-0.99) ~ 1e-16
    k_10(1)); it must keep its own relative accuracy and never be negative
    (the forward recurrence returned -3e-8 for n = 10 at rho = -0.99)."""
    X = _pair(rho, 1.0, 1.0)
    # the correlation of the float rows, to 50 digits
    with mp.workdps(50):
        x, y = (mp.matrix([float(v) for v in row]) for row in X)
        r = mp.fsum(a * b for a, b in zip(x, y)) / mp.sqrt(
            mp.fsum(a * a for a in x) * mp.fsum(b * b for b in y)
        )
    # k_n ~ (1 + rho)^(n + 1/2) near -1: a few ulps of rounding of rho in
    # the kernel's float correlation move it by (n + 1/2) 4 eps / (1 + rho)
    tol = 1e-12 + (n + 0.5) * 4 * 2.2e-16 / (1 + rho)
    K = NNGPKernel(depth=1, activation=ArcCosine(n), sigma_w=1.0, sigma_b=0.0)(X)
    ref = float(_k_recurrence(n, r))
    assert K[0, 1] > 0.0
    assert abs(K[0, 1] - ref) <= tol * ref, (K[0, 1], ref)
    # the NTK, Theta = k_n + n^2 k_(n-1) rho, itself subtracts at rho < 0:
    # relative to the diagonal
    T = NTKKernel(depth=1, activation=ArcCosine(n), sigma_w=1.0, sigma_b=0.0)(X)
    ref_t = ref + n * n * float(_k_recurrence(n - 1, r) * r)
    assert abs(T[0, 1] - ref_t) <= 1e-14 * T[0, 0]
