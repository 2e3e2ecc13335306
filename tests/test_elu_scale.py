"""ELU/SELU at every layer variance (issue 13, item 1): values, gradients vs mpmath.

The reference dual ``(F, G)`` is nested quadrature written here by hand: the
inner Gaussian expectation over ``v | u`` in closed form (``E[max(Y, 0)]``,
``E[e^Y 1{Y<0}]`` of a normal ``Y``, evaluated in mpmath where nothing
overflows or cancels), the outer one over ``u`` by mpmath's tanh-sinh
quadrature split at the kink and at the scales of the integrand. Partial
derivatives and kernel gradients are central differences of that reference.
Nothing here calls sknnk to obtain a right value.

The mpmath values of :func:`dual` and :func:`dual40` at the arguments of the
tests below take minutes to compute: they are stored in
``tests/elu_references.json`` (``tests/make_elu_references.py`` regenerates the
file or checks every value), and ``test_stored_references_are_the_mpmath_values``
recomputes a sample of them here.
"""

import warnings
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from _stored import stored
from scipy.integrate import IntegrationWarning

from sknnk import NNGPKernel, NTKKernel

DPS = 20
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
PRM = {"elu": (1.0, 1.0), "selu": (SELU_ALPHA, SELU_SCALE)}
_STORED = stored(
    Path(__file__).with_name("elu_references.json"),
    "mpmath values of dual (20 digits, tanh-sinh) and dual40 (40 digits, "
    "Gauss-Legendre) of tests/test_elu_scale.py at the arguments its tests use",
)


def _mills(x):
    """``R(x) = e^{x^2/2} Phi(-x)`` in mpmath: directly below 20, else its
    continued fraction ``phi(0) / (x + 1/(x + 2/(x + ...)))`` (exact digits for
    every ``x``, where the direct product would need ``x^2`` more of them)."""
    if x < 20:
        return mp.exp(x * x / 2) * mp.ncdf(-x)
    acc = x
    for k in range(200, 0, -1):
        acc = x + k / acc
    return mp.npdf(0) / acc


def _inner(alpha, mu, sg):
    """``(E[psi(Y)], E[psi'(Y)])`` for ``Y ~ N(mu, sg^2)``, ``psi`` ELU with ``alpha``.

    ``E[e^Y 1{Y<0}] = e^{mu + sg^2/2} Phi(-t - sg)`` (``t = mu / sg``) is
    ``e^{-t^2/2} R(t + sg)`` when ``t + sg > 0``: the huge exponents cancel by
    hand, not in floating point.
    """
    if sg == 0:
        if mu > 0:
            return mu, mp.mpf(1)
        return alpha * mp.expm1(mu), alpha * mp.exp(mu)
    t = mu / sg
    x = t + sg
    if x > 0:
        tilt = mp.exp(-t * t / 2) * _mills(x)
    else:
        tilt = mp.exp(mu + sg * sg / 2) * mp.ncdf(-x)
    pos = mu * mp.ncdf(t) + sg * mp.npdf(t)  # E[max(Y, 0)]
    f = pos + alpha * (tilt - mp.ncdf(-t))
    g = mp.ncdf(t) + alpha * tilt
    return f, g


@_STORED
def dual(key, a, b, c):
    """``(F, G)`` of ELU/SELU for the covariance ``[[a, c], [c, b]]`` (mpmath)."""
    alpha, lam = (mp.mpf(v) for v in PRM[key])
    # E[(e^Y - 1) 1{Y<0}] cancels about -log10(sg) digits at small scales
    small = min(mp.mpf(a), mp.mpf(b))
    extra = int(max(0, -mp.log10(small) / 2)) if small > 0 else 0
    with mp.workdps(DPS + extra):
        a, b, c = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        sa, sb = mp.sqrt(a), mp.sqrt(b)
        rho = max(min(c / (sa * sb), mp.mpf(1)), mp.mpf(-1))
        r = mp.sqrt((1 - rho) * (1 + rho))

        def psi(x):
            return x if x > 0 else alpha * mp.expm1(x)

        def dpsi(x):
            return mp.mpf(1) if x > 0 else alpha * mp.exp(x)

        def part(z, which):
            u = sa * z
            fi, gi = _inner(alpha, sb * rho * z, sb * r)
            w = mp.npdf(z)
            return w * (psi(u) * fi if which == 0 else dpsi(u) * gi)

        # breakpoints: the kink at 0, the scales 1/sa (e^u) and r (v | u)
        scales = [mp.mpf(1) / sa, r, mp.mpf(1)]
        pts = {mp.mpf(0), mp.mpf(12), mp.mpf(-40)}
        for s in scales:
            for m in (0.25, 2, 10, 40):
                if 0 < s * m < 12:
                    pts.update({s * m, -s * m})
        pts = [-mp.inf] + sorted(pts) + [mp.inf]
        F = mp.quad(lambda z: part(z, 0), pts)
        G = mp.quad(lambda z: part(z, 1), pts)
        return lam * lam * F, lam * lam * G


# ---------------------------------------------------------------------------
# a 40-digit reference for every scale (issue 13: below the old refusal)

DPS40 = 40
_ZMAX = 14  # phi(14) < 1e-43


def _psi(alpha, x):
    return x if x > 0 else alpha * mp.expm1(x)


def _dpsi(alpha, x):
    return mp.mpf(1) if x > 0 else alpha * mp.exp(x)


def _inner40(alpha, mu, sg):
    """``(E[psi(Y)], E[psi'(Y)])``, ``Y ~ N(mu, sg^2)``, by the closed forms
    ``E[max(Y, 0)] = mu Phi(t) + sg phi(t)`` and ``E[e^Y 1{Y<0}] = e^{mu +
    sg^2/2} Phi(-t - sg)`` (``t = mu / sg``): the caller's working precision
    covers the digits ``E[(e^Y - 1) 1{Y<0}]`` loses to cancellation."""
    t = mu / sg
    tilt = mp.exp(mu + sg * sg / 2) * mp.ncdf(-t - sg)
    pos = mu * mp.ncdf(t) + sg * mp.npdf(t)
    return pos + alpha * (tilt - mp.ncdf(-t)), mp.ncdf(t) + alpha * tilt


@_STORED
def dual40(key, a, b, c):
    """``(F, G)`` of ELU/SELU at ``[[a, c], [c, b]]`` to ~40 digits (mpmath),
    at every scale including the smallest (no digits lost to cancellation).

    ``F = E[phi(u) phi(v)] = int phi(z) psi(s_a z) E[psi(v) | z] dz`` (and
    ``G`` with ``psi'``), the outer integral by Gauss-Legendre on pieces of
    ``[-14, 14]`` split at the kink and geometrically from the scale
    ``r / |rho|`` of the inner expectation, the inner one in closed form at ``40 + 10 +
    log10(1 / s_b)`` digits; at ``rho = +-1``, ``v = rho (s_b / s_a) u``
    exactly. Written for this test; shares nothing with sknnk's series.
    """
    with mp.workdps(DPS40):
        return _dual40(key, mp.mpf(a), mp.mpf(b), mp.mpf(c))


def _dual40(key, a, b, c):
    alpha, lam = (mp.mpf(v) for v in PRM[key])  # the binary values sknnk uses
    sa, sb = mp.sqrt(a), mp.sqrt(b)
    rho = max(min(c / (sa * sb), mp.mpf(1)), mp.mpf(-1))
    if 1 - abs(rho) < mp.mpf("1e-30"):  # the 40-digit rounding of a given +-1
        rho = mp.sign(rho)
    r = mp.sqrt((1 - rho) * (1 + rho))
    extra = 10 + max(0, int(-mp.log10(sb)))
    pts = {mp.mpf(0), mp.mpf(_ZMAX), mp.mpf(-_ZMAX)}
    if rho != 0 and r != 0:
        # the inner expectation steps over z ~ w (by the jump of psi' at 0):
        # pieces growing geometrically from w / 4 resolve its tail too
        m = r / abs(rho) / 4
        while m < _ZMAX:
            pts.update({m, -m})
            m *= 4
    pts = sorted(pts)

    def both(z):
        u = sa * z
        if r == 0:
            fi, gi = _psi(alpha, rho * sb * z), _dpsi(alpha, rho * sb * z)
        else:
            with mp.workdps(DPS40 + extra):
                fi, gi = _inner40(alpha, sb * rho * z, sb * r)
        w = mp.npdf(z)
        return w * _psi(alpha, u) * fi, w * _dpsi(alpha, u) * gi

    F = G = mp.mpf(0)
    xs, ws = _gl_nodes()
    for lo, hi in zip(pts[:-1], pts[1:]):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        for x, wt in zip(xs, ws):
            f, g = both(mid + half * x)
            F += wt * half * f
            G += wt * half * g
    return lam * lam * F, lam * lam * G


_GL = []


def _gl_nodes():
    """60 Gauss-Legendre nodes and weights on [-1, 1] at 50 digits (90 nodes
    change no value by more than 2e-40 on the grid of the tests below)."""
    if not _GL:
        with mp.workdps(DPS40 + 10):
            _GL.append(mp.gauss_quadrature(60, "legendre"))
    return _GL[0]


def _inner_np(alpha, mu, sg):
    """Double-precision :func:`_inner` with the tilt in log space (no overflow)."""
    from scipy.special import log_ndtr, ndtr

    if sg == 0.0:
        return (mu, 1.0) if mu > 0 else (alpha * np.expm1(mu), alpha * np.exp(mu))
    t = mu / sg
    tilt = np.exp(mu + 0.5 * sg * sg + log_ndtr(-t - sg))
    phi_t = np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)
    pos = mu * ndtr(t) + sg * phi_t
    return pos + alpha * (tilt - ndtr(-t)), ndtr(t) + alpha * tilt


def dual_np(key, a, b, c):
    """``(F, G)`` as :func:`dual`, in double precision with scipy's adaptive
    quadrature on the same pieces (about 1e-13 relative at large variance)."""
    alpha, lam = PRM[key]
    sa, sb = np.sqrt(a), np.sqrt(b)
    # exactly 1 on the diagonal (c / (sa sb) may round below 1 there)
    rho = 1.0 if a == b == c else float(np.clip(c / sa / sb, -1.0, 1.0))
    r = np.sqrt((1 - rho) * (1 + rho))

    def part(z, which):
        u = sa * z
        fi, gi = _inner_np(alpha, sb * rho * z, sb * r)
        w = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        if which == 0:
            return w * (u if u > 0 else alpha * np.expm1(u)) * fi
        return w * (1.0 if u > 0 else alpha * np.exp(u)) * gi

    pts = {0.0, 12.0, -40.0}
    for s in (1.0 / sa, r, 1.0):
        for m in (0.25, 2, 10, 40):
            if 0 < s * m < 12:
                pts.update({s * m, -s * m})
    pts = sorted(pts)
    out = []
    with warnings.catch_warnings():
        # quadpack's roundoff notice: the pieces are smooth, the sum converged
        warnings.simplefilter("ignore", IntegrationWarning)
        for which in (0, 1):
            out.append(lam * lam * _pieces(part, pts, which))
    return out[0], out[1]


def _pieces(part, pts, which):
    """Sum of ``quad`` of ``part(z, which)`` over the pieces between ``pts``."""
    from scipy.integrate import quad

    tot = quad(part, -np.inf, pts[0], args=(which,), epsabs=0, epsrel=1e-13)[0]
    for lo, hi in zip(pts[:-1], pts[1:]):
        tot += quad(part, lo, hi, args=(which,), epsabs=0, epsrel=1e-13, limit=200)[0]
    tot += quad(part, pts[-1], np.inf, args=(which,), epsabs=0, epsrel=1e-13)[0]
    return tot


def reference_kernels(key, X, depth, sigma_w, sigma_b, dual_fn=dual_np):
    """``(NNGP, NTK)`` Grams of ``X`` by the layer recursion of ``dual_fn``.

    NTK parameterization: ``S0 = sw^2 x.x' / d + sb^2``, ``S(l+1) = sw^2 F +
    sb^2``, ``T(l+1) = S(l+1) + sw^2 G T(l)``.
    """
    X = np.asarray(X, dtype=float)
    n, d = X.shape
    sw2, sb2 = sigma_w**2, sigma_b**2
    S = sw2 * (X @ X.T) / d + sb2
    T = S.copy()
    for _ in range(depth):
        Sn, Gm = np.empty_like(S), np.empty_like(S)
        for i in range(n):
            for j in range(i, n):
                f, g = dual_fn(key, S[i, i], S[j, j], S[i, j])
                Sn[i, j] = Sn[j, i] = sw2 * f + sb2
                Gm[i, j] = Gm[j, i] = g
        T = Sn + sw2 * Gm * T
        S = Sn
    return S, T


def _raw_pixels():
    return np.random.default_rng(0).integers(0, 256, size=(6, 64)).astype(float)


def _relative_to_diagonal(K, R):
    sd = np.sqrt(np.diag(R))
    return np.max(np.abs(K - R) / sd[:, None] / sd[None, :])


# ---------------------------------------------------------------------------
# the inputs of issue 13, item 1 (raw pixel values: layer variances ~4e4)


def test_raw_pixels_depth2_entry_against_mpmath():
    # the entry of the issue, by the 30-digit recursion; the issue quoted
    # 4594.9 for it, but the mpmath recursion (and a Monte Carlo estimate
    # of the first layer, 35560 +- 50 against 35591.88) gives 36802.027
    X = _raw_pixels()[:2]
    k = NNGPKernel(depth=2, activation="elu")
    ref = reference_kernels("elu", X, 2, k.sigma_w, k.sigma_b, dual_fn=dual)[0]
    got = k(X)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref.astype(float), rtol=1e-11)
    assert abs(got[0, 1] - 36802.027) < 1e-3


@pytest.mark.parametrize("key", ["elu", "selu"])
@pytest.mark.parametrize("ntk, depth", [(False, 1), (True, 2)])
def test_raw_pixels_every_entry(key, ntk, depth):
    X = _raw_pixels()
    k = (NTKKernel if ntk else NNGPKernel)(depth=depth, activation=key)
    ref = reference_kernels(key, X, depth, k.sigma_w, k.sigma_b)[int(ntk)]
    got = k(X)
    assert np.all(np.isfinite(got))
    assert _relative_to_diagonal(got, ref) < 1e-11
    np.testing.assert_allclose(k.diag(X), np.diag(ref), rtol=1e-11)


# ---------------------------------------------------------------------------
# the duals and their partials at every variance


def _elu_partials(key, a, b, c):
    from sknnk._numerics.activations import ELU as CODE
    from sknnk._numerics.activations import N_PRM, closed_form_partials

    prm = np.zeros(N_PRM)
    prm[:2] = PRM[key]
    return np.array(closed_form_partials(CODE, prm, a, b, c, True))


def _check_duals(key, a, b, rhos, tol):
    Va = dual(key, a, a, a)
    Vb = dual(key, b, b, b)
    for rho in rhos:
        c = rho * np.sqrt(a) * np.sqrt(b)
        F, G = dual(key, a, b, c)
        got = _elu_partials(key, a, b, c)
        assert np.all(np.isfinite(got))
        assert abs(got[0] - float(F)) <= tol * float(mp.sqrt(Va[0] * Vb[0]))
        assert abs(got[1] - float(G)) <= tol * float(mp.sqrt(Va[1] * Vb[1]))


@pytest.mark.parametrize("key, a, b", [("elu", 60.0, 80.0), ("selu", 4e4, 3e4)])
def test_duals_beyond_the_old_refusal(key, a, b):
    # the old bivariate-normal quadrature was off by 2e-5 at variance 50
    _check_duals(key, a, b, (-0.9999, 0.5, 0.99999), 1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["elu", "selu"])
@pytest.mark.parametrize(
    "a, b",
    [(60.0, 80.0), (4e4, 3e4), (1e-6, 1e4), (1e8, 1e6), (1e300, 1e290)]
    + [(1e200, 1e-2), (1e-6, 1e-6), (0.02, 0.03)],
)
def test_duals_at_every_variance(key, a, b):
    # up to the top of the float64 range, and down to the smallest accepted
    # variance (1e-6, where the closed form's cancellation costs ~3e-10)
    tol = 1e-9 if min(a, b) < 1e-4 else 1e-13
    _check_duals(key, a, b, (-0.9999, -0.9, 0.0, 0.5, 0.99999), tol)


def _richardson(fn, x, h):
    """Fourth-order central difference (Richardson of steps h and 2h)."""
    d1 = (fn(x + h) - fn(x - h)) / (2 * h)
    d2 = (fn(x + 2 * h) - fn(x - 2 * h)) / (4 * h)
    return (4 * d1 - d2) / 3


@pytest.mark.parametrize("key", ["elu", "selu"])
@pytest.mark.parametrize("a, b", [(4e4, 3e4), (1e8, 2e7)])
def test_partials_at_large_variance_against_differences(key, a, b):
    Va, Vb = dual_np(key, a, a, a), dual_np(key, b, b, b)
    scale = np.sqrt([Va[0] * Vb[0], Va[1] * Vb[1]])
    s = np.sqrt(a) * np.sqrt(b)
    for rho in (-0.9, 0.0, 0.5, 0.95):
        got = _elu_partials(key, a, b, rho * s)
        for j, var in enumerate((a, b, s)):

            def fn(x, j=j, p0=(a, b, rho * s)):
                p = list(p0)
                p[j] = x
                return np.array(dual_np(key, *p))

            # steps well inside the distance to rho = +-1
            step = 1e-3 * min(1.0, 5 * (1 - abs(rho)))
            fd = _richardson(fn, [a, b, rho * s][j], step * var)
            # (F_j, G_j) are entries (2 + j, 5 + j), relative to the scales
            err = np.abs(got[[2 + j, 5 + j]] - fd) * var / scale
            assert np.all(err < 1e-8), (key, a, b, rho, j, err)


# ---------------------------------------------------------------------------
# kernels, gradients and the regressor on raw features


def _log_grad_reference(key, X, depth, sigma_w, sigma_b, h=1e-4):
    """Richardson central differences of the reference NTK in (log sb, log sw)."""
    out = []
    for which in (0, 1):

        def fn(t, which=which):
            sw = sigma_w * np.exp(t) if which == 1 else sigma_w
            sb = sigma_b * np.exp(t) if which == 0 else sigma_b
            return reference_kernels(key, X, depth, sw, sb)[1]

        out.append(_richardson(fn, 0.0, h))
    return np.stack(out, axis=-1)


@pytest.mark.parametrize("key", ["elu", "selu"])
def test_ntk_gradient_on_raw_pixels(key):
    X = _raw_pixels()[:3]
    k = NTKKernel(depth=2, activation=key)
    K, dK = k(X, eval_gradient=True)
    ref = reference_kernels(key, X, 2, k.sigma_w, k.sigma_b)[1]
    gref = _log_grad_reference(key, X, 2, k.sigma_w, k.sigma_b)
    assert np.all(np.isfinite(dK))
    sd = np.sqrt(np.diag(ref))
    err = np.abs(dK - gref) / (sd[:, None] * sd[None, :])[..., None]
    assert np.max(err) < 1e-7


def test_regressor_elu_on_raw_pixels_against_reference_kernel():
    from sknnk import InfiniteWidthRegressor

    X = _raw_pixels()
    y = np.array([0.3, -1.2, 0.8, 2.0])
    reg = InfiniteWidthRegressor(activation="elu").fit(X[:4], y)
    got = reg.predict(X[4:])
    # t = inf, ridge = 0: NTK regression with the reference kernel
    T = reference_kernels("elu", X, 1, reg.sigma_w, reg.sigma_b)[1]
    ref = T[4:, :4] @ np.linalg.solve(T[:4, :4], y)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8 * np.abs(y).max())


def test_zero_rows_without_bias_are_exact():
    X = np.vstack([np.zeros(3), np.random.default_rng(0).normal(size=(2, 3))])
    K = NNGPKernel(depth=2, activation="selu", sigma_b=0.0)(X)
    assert np.all(K[0] == 0.0) and np.all(K[:, 0] == 0.0)
    assert np.all(np.isfinite(K))


# ---------------------------------------------------------------------------
# below the old refusal (variance 1e-6): the small-scale series of bvn.py

GRID_Q = [1e-300, 1e-200, 1e-30, 1e-12, 1e-8, 1e-6, 1e-4, 1e-2, 0.3, 1.0]
GRID_RHO = [-1.0, -1 + 1e-12, -0.5, 0.0, 0.7, 1 - 1e-12, 1.0]


def _formed_c(a, b, c):
    """``c`` at the correlation sknnk forms from the float ``c`` (rounded
    ``c / sqrt(a b)``, snapped within 4e-15 of +-1): near ``rho = +-1`` SELU's
    ``G`` changes by ``1 / sin(theta)`` times that rounding (2e-12 at ``rho =
    1 - 1e-12``), a conditioning of the input, not an error of the method."""
    rho = c * ((1.0 / np.sqrt(a)) * (1.0 / np.sqrt(b)))  # as layer.correlation
    rho = min(max(rho, -1.0), 1.0)
    if abs(rho) >= 1.0 - 4e-15:
        rho = float(np.sign(rho))
    with mp.workdps(DPS40):  # at 53 bits the rounding of c would move rho
        return +(mp.mpf(rho) * mp.sqrt(a) * mp.sqrt(b))


def _grid_errors(key, pairs, rhos):
    """Largest errors of ``(F, G)`` relative to ``sqrt(V_a V_b)``, ``sqrt(W_a
    W_b)`` (the diagonal values) against :func:`dual40`."""
    worst = 0.0
    for a, b in pairs:
        Va, Vb = dual40(key, a, a, a), dual40(key, b, b, b)
        for rho in rhos:
            c = rho * np.sqrt(a) * np.sqrt(b)
            F, G = dual40(key, a, b, _formed_c(a, b, c))
            got = _elu_partials(key, a, b, c)
            assert np.all(np.isfinite(got))
            errs = (
                abs(got[0] - F) / mp.sqrt(Va[0] * Vb[0]),
                abs(got[1] - G) / mp.sqrt(Va[1] * Vb[1]),
            )
            worst = max(worst, *(float(e) for e in errs))
    return worst


@pytest.mark.parametrize("key", ["elu", "selu"])
def test_duals_at_small_variance_fast(key):
    # before: refused below 1e-6, and 1e-1 .. 1e283 wrong below 1e-12
    assert _grid_errors(key, [(1e-300, 1e-300), (1e-8, 1e-8)], GRID_RHO) < 1e-14


@pytest.mark.slow
@pytest.mark.parametrize("key", ["elu", "selu"])
def test_duals_on_the_small_variance_grid(key):
    # measured: <= 1.5e-15 everywhere on the grid (both branches, the switch
    # at variance 0.09 inside it)
    pairs = [(q, q) for q in GRID_Q]
    assert _grid_errors(key, pairs, GRID_RHO) < 1e-14


@pytest.mark.slow
@pytest.mark.parametrize("key", ["elu", "selu"])
def test_duals_at_mixed_small_and_large_variance(key):
    # one point tiny, the other not: the series in the smaller scale only
    pairs = [(1e-200, 1.0), (1e-20, 0.5), (1e-8, 4.0), (1e-6, 1e4), (1e-30, 1e-2)]
    pairs += [(0.05, 0.2), (0.08, 20.0)]
    assert _grid_errors(key, pairs, (-0.99, -0.5, 0.0, 0.7, 0.99)) < 1e-14


def _mp_richardson(fn, x, h):
    d1 = (fn(x + h) - fn(x - h)) / (2 * h)
    d2 = (fn(x + 2 * h) - fn(x - 2 * h)) / (4 * h)
    return (4 * d1 - d2) / 3


@pytest.mark.slow
@pytest.mark.parametrize("key", ["elu", "selu"])
@pytest.mark.parametrize("q", [1e-300, 1e-30, 1e-8, 1e-4, 0.3])
def test_partials_at_small_variance_against_differences(key, q):
    # fourth-order differences of the 40-digit reference (steps 1e-10
    # relative, 1e-17 within 1e-12 of rho = +-1: truncation and rounding
    # below 1e-20); errors of (F_j, G_j) times the variable, relative to
    # the diagonal values or to the term itself if larger (SELU's G_c grows
    # like 1 / sin(theta) next to rho = +-1)
    a, b = q, 0.5 * q
    Va, Vb = dual40(key, a, a, a), dual40(key, b, b, b)
    scale = (mp.sqrt(Va[0] * Vb[0]), mp.sqrt(Va[1] * Vb[1]))
    for rho in (-1 + 1e-12, -0.5, 0.0, 0.7, 1 - 1e-12):
        c = rho * np.sqrt(a) * np.sqrt(b)
        got = _elu_partials(key, a, b, c)
        p0 = [mp.mpf(a), mp.mpf(b), _formed_c(a, b, c)]
        step = mp.mpf("1e-17") if abs(rho) > 0.9 else mp.mpf("1e-10")
        for j in range(3):

            def fn(x, j=j, p0=p0):
                p = list(p0)
                p[j] = x
                return mp.matrix(dual40(key, *p))

            var = abs(p0[j]) if p0[j] != 0 else mp.sqrt(p0[0] * p0[1])
            with mp.workdps(DPS40):
                fd = _mp_richardson(fn, p0[j], var * step)
            for k in range(2):
                err = abs(got[2 + j + 3 * k] - fd[k]) * var
                err /= max(scale[k], abs(fd[k]) * var)
                assert err < 1e-13, (key, q, rho, j, k, float(err))
    # at rho = +-1 exactly only the direction of fixed rho exists: scaling
    for rho in (-1.0, 1.0):
        c = rho * np.sqrt(a) * np.sqrt(b)
        g = _elu_partials(key, a, b, c)
        p0 = [mp.mpf(a), mp.mpf(b), _formed_c(a, b, c)]

        def fn(t, p0=p0):
            return mp.matrix(dual40(key, *(p * mp.exp(t) for p in p0)))

        with mp.workdps(DPS40):
            fd = _mp_richardson(fn, mp.mpf(0), mp.mpf("1e-10"))
        for k in range(2):
            got = a * g[2 + 3 * k] + b * g[3 + 3 * k] + c * g[4 + 3 * k]
            err = abs(got - fd[k]) / max(scale[k], abs(fd[k]))
            assert err < 1e-13, (key, q, rho, k, float(err))


def _dual40_float(key, a, b, c):
    return tuple(float(v) for v in dual40(key, float(a), float(b), float(c)))


@pytest.mark.parametrize("key", ["elu", "selu"])
def test_kernels_at_tiny_variance_against_reference(key):
    # layer variances ~1e-200 (refused before): the reference recursion of
    # the 40-digit duals; exact zeros elsewhere stay exact
    X = np.random.default_rng(3).normal(size=(3, 3)) * 1e-100
    k = NNGPKernel(depth=2, activation=key, sigma_b=0.0)
    ref = reference_kernels(key, X, 2, k.sigma_w, 0.0, dual_fn=_dual40_float)[0]
    got = k(X)
    assert np.all(np.isfinite(got))
    assert _relative_to_diagonal(got, ref) < 1e-13
    np.testing.assert_allclose(k.diag(X), np.diag(ref), rtol=1e-13)


@pytest.mark.slow
@pytest.mark.parametrize("key", ["elu", "selu"])
def test_ntk_gradient_at_tiny_variance(key):
    X = np.random.default_rng(4).normal(size=(3, 4)) * 1e-60
    k = NTKKernel(depth=2, activation=key, sigma_b=1e-60)
    K, dK = k(X, eval_gradient=True)
    out = []
    for which in (0, 1):

        def fn(t, which=which):
            sw = k.sigma_w * np.exp(t) if which == 1 else k.sigma_w
            sb = k.sigma_b * np.exp(t) if which == 0 else k.sigma_b
            return reference_kernels(key, X, 2, sw, sb, dual_fn=_dual40_float)[1]

        out.append(_richardson(fn, 0.0, 1e-4))
    gref = np.stack(out, axis=-1)
    ref = reference_kernels(key, X, 2, k.sigma_w, k.sigma_b, dual_fn=_dual40_float)
    np.testing.assert_allclose(K, ref[1], rtol=1e-13)
    sd = np.sqrt(np.diag(ref[1]))
    assert np.all(np.isfinite(dK))
    err = np.abs(dK - gref) / (sd[:, None] * sd[None, :])[..., None]
    assert np.max(err) < 1e-8


# ---------------------------------------------------------------------------
# the stored values are the mpmath values


def test_stored_references_are_the_mpmath_values():
    # every 64th stored 40-digit value (all regimes: the grid sorts by
    # activation, then by the binary value of the variances) and two 20-digit
    # ones, recomputed; the other tests' calls find their values in the file
    from _stored import from_text

    table = dual40.store.values()["dual40"]
    keys = sorted(table)[::64]
    assert len(keys) >= 10
    for key in keys:
        name, *numbers = key.split("|")
        got = dual40.compute(name, *(from_text(t) for t in numbers))
        for g, w in zip(got, (from_text(t) for t in table[key])):
            assert abs(g - w) <= mp.mpf("1e-35") * abs(w), key
    for key, a, b, rho in [("elu", 60.0, 80.0, 0.5), ("selu", 4e4, 3e4, 0.99999)]:
        c = rho * np.sqrt(a) * np.sqrt(b)
        want = dual.lookup(key, a, b, c)
        assert want is not None, (key, a, b, c)
        for g, w in zip(dual.compute(key, a, b, c), want):
            assert abs(g - w) <= mp.mpf("1e-18") * abs(w)
