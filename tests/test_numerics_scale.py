"""Numerics at every scale (issue 13): regression tests against independent references.

Every right value here comes from a reference written out by hand in mpmath
(the closed-form dual kernels of erf and of the arc-cosine family, evaluated
at 50 digits, so that no cancellation or overflow of double precision can
reach them), from nested quadrature or from central differences of that
reference; never from sknnk itself.
"""

import re
import warnings

import mpmath as mp
import numpy as np
import pytest

from sknnk import NNGPKernel, NTKKernel
from sknnk._numerics import series

mp.mp.dps = 50


def _erf_dual(a, b, c):
    """``(F, G)`` of erf for the covariance ``[[a, c], [c, b]]`` (Williams 1997)."""
    # A B - 4 c^2 cancels about log10(A B) digits: work with that many more
    with mp.workdps(mp.mp.dps + int(mp.log10((1 + 2 * a) * (1 + 2 * b))) + 10):
        A, B = 1 + 2 * a, 1 + 2 * b
        f = 2 / mp.pi * mp.asin(2 * c / mp.sqrt(A * B))
        g = 4 / mp.pi / mp.sqrt(A * B - 4 * c * c)
    return +f, +g


def _relu_dual(a, b, c):
    """``(F, G)`` of ReLU (Cho and Saul 2009), ``F = sqrt(ab) k1``, ``G = k0``."""
    if a == 0 or b == 0:
        return mp.mpf(0), mp.mpf(1) / 4
    rho = max(min(c / mp.sqrt(a * b), mp.mpf(1)), mp.mpf(-1))
    th = mp.acos(rho)
    f = mp.sqrt(a * b) * (mp.sin(th) + (mp.pi - th) * rho) / (2 * mp.pi)
    return f, (mp.pi - th) / (2 * mp.pi)


def _sin_dual(a, b, c):
    """``(F, G)`` of sin: ``E[sin u sin v] = e^{-(a+b)/2} sinh c``, ``G`` with cos."""
    p, m = mp.exp(c - (a + b) / 2), mp.exp(-c - (a + b) / 2)
    return (p - m) / 2, (p + m) / 2


def _cos_dual(a, b, c):
    """``(F, G)`` of cos: ``E[cos u cos v] = e^{-(a+b)/2} cosh c``, ``G`` with sin."""
    f, g = _sin_dual(a, b, c)
    return g, f


DUALS = {"erf": _erf_dual, "relu": _relu_dual, "sin": _sin_dual, "cos": _cos_dual}


def reference(activation, X, depth, sigma_w, sigma_b, ntk):
    """The NNGP or NTK Gram (NTK parameterization) of ``X``, float64."""
    gram = _mp_gram(activation, X, depth, mp.mpf(sigma_w), mp.mpf(sigma_b), ntk)
    return np.array([[float(v) for v in row] for row in gram])


def reference_log_grad(activation, X, depth, sigma_w, sigma_b, ntk, h=1e-12):
    """Central differences of :func:`reference` in ``(log sigma_b, log sigma_w)``."""

    def at(lb, lw):
        return _mp_gram(activation, X, depth, mp.e**lw, mp.e**lb, ntk)

    lb, lw = mp.log(mp.mpf(sigma_b)), mp.log(mp.mpf(sigma_w))
    h = mp.mpf(h)
    gb = [
        [(p - m) / (2 * h) for p, m in zip(rp, rm)]
        for rp, rm in zip(at(lb + h, lw), at(lb - h, lw))
    ]
    gw = [
        [(p - m) / (2 * h) for p, m in zip(rp, rm)]
        for rp, rm in zip(at(lb, lw + h), at(lb, lw - h))
    ]
    return np.array(
        [[[float(b), float(w)] for b, w in zip(rb, rw)] for rb, rw in zip(gb, gw)]
    )


def _mp_gram(activation, X, depth, sw, sb, ntk):
    """The Gram of ``X`` in mpmath (``sigma_w``, ``sigma_b`` mpmath numbers)."""
    dual = DUALS[activation]
    rows = [[mp.mpf(float(v)) for v in x] for x in np.asarray(X)]
    n, d = len(rows), len(rows[0])
    sw2, sb2 = sw**2, sb**2
    out = []
    for i in range(n):
        row = []
        for j in range(n):
            dij = mp.fsum(u * v for u, v in zip(rows[i], rows[j]))
            dii = mp.fsum(u * u for u in rows[i])
            djj = mp.fsum(u * u for u in rows[j])
            s = [sw2 * dii / d + sb2, sw2 * djj / d + sb2, sw2 * dij / d + sb2]
            t = s[2]
            for _ in range(depth):
                fa, _ = dual(s[0], s[0], s[0])
                fb, _ = dual(s[1], s[1], s[1])
                f, g = dual(s[0], s[1], s[2])
                t = sw2 * f + sb2 + sw2 * g * t
                s = [sw2 * fa + sb2, sw2 * fb + sb2, sw2 * f + sb2]
            row.append(t if ntk else s[2])
        out.append(row)
    return out


# ---------------------------------------------------------------------------
# issue 13, items 5 and 6: erf's determinant at every scale, duplicates


def _dup_rows():
    x = np.random.default_rng(0).random((1, 100))
    return np.vstack([x, x])


@pytest.mark.parametrize(
    "ntk, depth, sigma_w, dtype, rtol",
    [
        (False, 15, 16.0, "float64", 1e-9),
        (True, 15, 16.0, "float64", 1e-9),
        (True, 6, 15.0, "float32", 1e-5),
    ],
)
def test_erf_duplicates_chaotic_phase(ntk, depth, sigma_w, dtype, rtol):
    X = _dup_rows()
    cls = NTKKernel if ntk else NNGPKernel
    k = cls(depth=depth, activation="erf", sigma_w=sigma_w, dtype=dtype)
    K = k(X)
    ref = reference("erf", X[:1], depth, sigma_w, k.sigma_b, ntk)[0, 0]
    assert np.all(np.isfinite(K))
    np.testing.assert_allclose(K, np.full((2, 2), ref), rtol=rtol)


def test_erf_near_duplicates_consistent():
    # rows 1e-12 apart: the kernel is continuous, so the entry equals the
    # diagonal to the rounding of the correlation
    x = np.random.default_rng(0).random((1, 100))
    X = np.vstack([x, x * (1.0 + 1e-12)])
    k = NNGPKernel(depth=15, activation="erf", sigma_w=16.0)
    K = k(X)
    ref = reference("erf", X, 15, 16.0, k.sigma_b, False)
    np.testing.assert_allclose(K, ref, rtol=1e-9)


@pytest.mark.parametrize(
    "X, sigma_b",
    [
        (np.vstack([np.eye(3, 4) + 0.3, np.eye(3, 4) + 0.3]) * 1e8, 1.0),
        (np.random.default_rng(1).normal(size=(4, 3)) * 1e100, 1.0),
        (np.random.default_rng(1).normal(size=(4, 3)), 1e8),
        (np.random.default_rng(1).normal(size=(4, 3)) * 1e-150, 1.0),
    ],
    ids=["duplicates-1e8", "scale-1e100", "sigma_b-1e8", "scale-1e-150"],
)
def test_erf_ntk_at_large_scale(X, sigma_b):
    k = NTKKernel(depth=3, activation="erf", sigma_b=sigma_b)
    K, dK = k(X, eval_gradient=True)
    ref = reference("erf", X, 3, k.sigma_w, sigma_b, True)
    np.testing.assert_allclose(K, ref, rtol=1e-10)
    # the gradient (columns log sigma_b, log sigma_w) against central
    # differences of the 50-digit reference,
    # relative to the kernel's scale (as a GP optimiser sees it)
    gref = reference_log_grad("erf", X, 3, k.sigma_w, sigma_b, True)
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))[..., None]
    assert np.max(np.abs(dK - gref) / scale) < 1e-8


def test_erf_mixed_scale_rows_psd():
    X = np.random.default_rng(3).normal(size=(6, 3))
    X = X * np.array([1e150, 1, 1e-150, 1e150, 1, 1e-150])[:, None]
    k = NTKKernel(depth=2, activation="erf")
    K = k(X)
    ref = reference("erf", X, 2, k.sigma_w, k.sigma_b, True)
    np.testing.assert_allclose(K, ref, rtol=1e-10, atol=0)


# ---------------------------------------------------------------------------
# issue 13, items 4 and 7: inputs at every scale, overflow refused clearly


def _relative_to_diagonal(K, R):
    """``max |K - R| / sqrt(R_ii R_jj)`` without overflowing the product."""
    sd = np.sqrt(np.diag(R))
    return np.max(np.abs(K - R) / sd[:, None] / sd[None, :])


def _mixed_rows():
    X = np.random.default_rng(3).normal(size=(6, 3))
    return X * np.array([1e150, 1, 1e-150, 1e150, 1, 1e-150])[:, None]


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_representable_kernel_of_huge_inputs(activation):
    # |x|^2 ~ 2e308 overflows, |x|^2 / d does not: computed, not refused
    X = np.random.default_rng(0).normal(size=(5, 100)) * 1.5e153
    X[:, 0] = np.abs(X[:, 0]) * 1.2
    k = NTKKernel(depth=2, activation=activation, sigma_w=0.5)
    ref = reference(activation, X, 2, 0.5, k.sigma_b, True)
    np.testing.assert_allclose(k(X), ref, rtol=1e-12)
    np.testing.assert_allclose(k.diag(X), np.diag(ref), rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("sigma_b", [0.0, 0.1])
def test_mixed_scale_rows(activation, sigma_b):
    X = _mixed_rows()
    k = NNGPKernel(depth=2, activation=activation, sigma_b=sigma_b)
    K = k(X)
    ref = reference(activation, X, 2, k.sigma_w, sigma_b, False)
    assert _relative_to_diagonal(K, ref) < 1e-12
    sd = np.sqrt(np.diag(K))
    assert np.linalg.eigvalsh(K / sd[:, None] / sd[None, :]).min() > -1e-12


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_mixed_scale_rows_float32(activation):
    X = _mixed_rows() * 1e-140  # rows 1e10, 1e-140, 1e-290 in float32
    k = NNGPKernel(depth=2, activation=activation, dtype="float32")
    K = k(X)
    ref = reference(activation, X, 2, k.sigma_w, k.sigma_b, False)
    assert K.dtype == np.float32
    assert _relative_to_diagonal(K.astype(float), ref) < 1e-6


def _homogeneous():
    from sknnk.activations import ArcCosine

    # (activation, degree k of phi(c u) = c^k phi(u))
    return [("sign", 0), ("step", 0), ("relu", 1), (ArcCosine(2), 2), (ArcCosine(3), 3)]


@pytest.mark.parametrize("activation, degree", _homogeneous())
@pytest.mark.parametrize("c", [1e80, 1e-100, 1e150, 1e-150])
def test_homogeneous_activations_keep_their_correlation(activation, degree, c):
    # without bias, K(c X) = c^(2k) K(X) exactly (by the homogeneity of phi)
    X = np.random.default_rng(3).normal(size=(5, 3))
    k = NNGPKernel(depth=1, activation=activation, sigma_b=0.0)
    K = k(X)
    power = 2 * degree * np.log10(c)
    if power > 300:  # c^(2k) K(X) is not representable: refused
        with pytest.raises(ValueError, match="overflows"):
            k(X * c)
        return
    # the true diagonal c^(2k) K_ii in log10 (not representable as a product)
    true_log = power + np.log10(np.diag(K))
    if np.any(true_log < np.log10(np.finfo(float).smallest_subnormal)):
        # below every float64 number: refused, not returned as an all-zero row
        with pytest.raises(ValueError, match="underflows float64 to 0"):
            k(X * c)
        return
    if power < -300:  # below the normal range: finite, gradually underflowed
        Kc = k(X * c)
        assert np.all(np.isfinite(Kc)) and np.max(np.abs(Kc)) < 1e-290
        return
    np.testing.assert_allclose(k(X * c) / c ** (2 * degree), K, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: NTKKernel()(np.random.default_rng(0).normal(size=(6, 5)) * 1e160),
        lambda: NTKKernel(dtype="float32")(
            np.random.default_rng(0).normal(size=(10, 5)) * 1e25
        ),
        lambda: NTKKernel(depth=1000, sigma_w=3.0)(
            np.random.default_rng(0).normal(size=(6, 5))
        ),
        lambda: NTKKernel(depth=1000, sigma_w=3.0).diag(
            np.random.default_rng(0).normal(size=(6, 5))
        ),
    ],
    ids=["x.x-1e160", "float32-1e25", "depth-1000", "diag-depth-1000"],
)
def test_unrepresentable_kernel_is_a_clear_error(make):
    # the true kernel exceeds the dtype's range (|x|^2 ~ 1e320; 1e50 in
    # float32; (sigma_w^2 / 2)^1000): refused, naming the quantity and fixes
    with pytest.raises(ValueError, match="overflows.*(standardize|sigma_w|float64)"):
        make()


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_rescaled_rows_bitwise_identical_across_workers(backend, monkeypatch):
    from joblib import parallel_config

    from sknnk import _parallel

    X = np.vstack([_mixed_rows()] * 30)
    k = NTKKernel(depth=2, activation="erf")
    K1, G1 = k(X, eval_gradient=True)
    monkeypatch.setattr(_parallel, "TILE", 32)  # several tiles: workers get subsets
    with parallel_config(backend=backend, n_jobs=2):
        K2, G2 = k.set_params(n_jobs=2)(X, eval_gradient=True)
    assert np.array_equal(K1, K2) and np.array_equal(G1, G2)


# ---------------------------------------------------------------------------
# issue 13, item 8: an activation returning NaN is a clear error


def test_custom_activation_returning_nan_is_a_clear_error():
    import warnings

    from sknnk.activations import Custom

    phi = Custom(lambda x: np.where(x > 8, np.nan, np.tanh(x)))
    X = np.random.default_rng(0).normal(size=(6, 4)) * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence warning blaming the series
        with pytest.raises(ValueError, match=r"Custom.*returned NaN at inputs u in"):
            NTKKernel(activation=phi)(X)


# ---------------------------------------------------------------------------
# issue 13, item 1: ELU/SELU at large layer variance


def test_bvn_weighted_product_in_the_far_tail():
    # exp(lw) Phi(h) Phi(k) at rho = 0 (Plackett's integral is empty): the
    # weight alone overflows and Phi(k) alone underflows; mpmath by hand
    from sknnk._numerics.bvn import phi2w

    h, k, lw = -52.4, -104.9, 5500.0
    ref = mp.e ** mp.mpf(lw) * mp.ncdf(h) * mp.ncdf(k)
    got = phi2w(h, k, 0.0, 1.0, lw)
    assert np.isfinite(got)
    assert abs(got - float(ref)) <= 1e-13 * float(ref)


# ELU/SELU at raw-pixel variances are computed now, not refused: their
# regression tests (mpmath references) are in tests/test_elu_scale.py


# ---------------------------------------------------------------------------
# property: finite, symmetric, PSD, exact diagonal, or a clear ValueError

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PROPERTY_ACTIVATIONS = [
    "relu", "erf", "sign", "step", "abs", "leaky_relu", "tanh", "elu", "selu",
]  # fmt: skip


@st.composite
def _configs(draw):
    n = draw(st.integers(2, 5))
    rows = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(size=(n, 3))
    exps = draw(st.lists(st.integers(-150, 150), min_size=n, max_size=n))
    X = rows * 10.0 ** np.array(exps, dtype=float)[:, None]
    return dict(
        X=X,
        activation=draw(st.sampled_from(_PROPERTY_ACTIVATIONS)),
        ntk=draw(st.booleans()),
        depth=draw(st.integers(0, 50)),
        sigma_w=draw(st.floats(0.1, 4.0)),
        sigma_b=draw(st.sampled_from([0.0, 1e-3, 0.1, 1.0])),
        dtype=draw(st.sampled_from(["float64", "float32"])),
    )


def _check_property(cfg):
    import warnings

    X = cfg.pop("X")
    ntk = cfg.pop("ntk")
    k = (NTKKernel if ntk else NNGPKernel)(**cfg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # series accuracy warnings
            K = k(X)
            d = k.diag(X)
    except ValueError as exc:  # the documented refusal of an unrepresentable kernel
        # (beyond the dtype's range), or ELU/SELU at variances below 1e-6 --
        # large variances are no longer refused
        msg = str(exc)
        assert any(w in msg for w in ("overflows", "underflows", "variances >= 1e-06"))
        return
    eps = np.finfo(K.dtype).eps
    assert np.all(np.isfinite(K)) and np.all(np.isfinite(d))
    assert np.array_equal(K, K.T)
    # below the dtype's normal range values are subnormal (absolute rounding)
    tiny = np.finfo(K.dtype).tiny
    np.testing.assert_allclose(np.diag(K), d, rtol=50 * eps, atol=tiny)
    sd = np.sqrt(np.diag(K).astype(float))
    pos = sd > np.sqrt(tiny) / eps
    C = (K.astype(float)[np.ix_(pos, pos)] / sd[pos][:, None]) / sd[pos][None, :]
    assert C.size == 0 or np.linalg.eigvalsh(C).min() > -1e3 * eps * C.shape[0]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_property_every_scale(cfg):
    _check_property(cfg)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_property_every_scale_large(cfg):
    _check_property(cfg)


# ---------------------------------------------------------------------------
# sin / cos at layer variances ~1e300: the exponent a + b - 2|c| without
# cancellation, duplicate rows equal in one- and two-argument calls


@pytest.mark.parametrize("activation", ["sin", "cos"])
@pytest.mark.parametrize("ntk", [False, True])
def test_sin_cos_huge_inputs_and_duplicates(activation, ntk):
    X = np.random.default_rng(0).normal(size=(5, 3)) * 1e150
    ref = reference(activation, X, 2, 1.0, 1.0, ntk)
    k = (NTKKernel if ntk else NNGPKernel)(
        depth=2, activation=activation, sigma_w=1.0, sigma_b=1.0
    )
    tol = {"rtol": 1e-12, "atol": 1e-12 * np.abs(ref).max()}
    np.testing.assert_allclose(k(X), ref, **tol)
    np.testing.assert_allclose(k(X[:3], X), ref[:3], **tol)
    np.testing.assert_allclose(k(X, X.copy()), ref, **tol)
    np.testing.assert_allclose(k.diag(X), np.diag(ref), rtol=1e-12)


# ---------------------------------------------------------------------------
# series activations at layer variances ~1e300: finite, within the warned bound


@pytest.mark.parametrize("activation", ["mish"])
@pytest.mark.parametrize("ntk", [False, True])
def test_relu_like_series_huge_inputs_finite_within_bound(activation, ntk):
    """This series activation differs from ReLU by a bounded function, so at
    layer variances ~1e300 its kernels equal ReLU's to ~1e-150 relative: the
    mpmath ReLU reference. The Hermite series (beyond its accurate range)
    must stay finite (its Cauchy-Schwarz tail overflowed to inf) and within
    the bound its warning states; gradients are refused. (gelu, swish and
    softplus have closed forms there: the next test.)"""
    X = np.random.default_rng(0).normal(size=(5, 3)) * 1e150
    ref = reference("relu", X, 2, 1.0, 1.0, ntk)
    k = (NTKKernel if ntk else NNGPKernel)(
        depth=2, activation=activation, sigma_w=1.0, sigma_b=1.0
    )
    series.reset_warnings()  # shown once per configuration and process
    with pytest.warns(UserWarning, match="did not converge") as rec:
        K = k(X)
    bound = float(re.search(r"bounded by ([0-9.e+-]+) ", str(rec[0].message))[1])
    root = np.sqrt(np.diag(ref))
    assert np.all(np.abs(K - ref) <= bound * root[:, None] * root[None, :])
    np.testing.assert_allclose(k(X[:3], X), K[:3], rtol=1e-13)
    with pytest.raises(ValueError, match="does not resolve the kernel's gradient"):
        k(X, eval_gradient=True)


@pytest.mark.parametrize("activation", ["softplus", "gelu", "swish"])
@pytest.mark.parametrize("ntk", [False, True])
def test_relu_like_huge_inputs_closed_form(activation, ntk):
    """softplus, gelu and swish differ from ReLU by bounded functions and
    have closed forms beyond their series ranges
    (sknnk._numerics.activations.softplus_partials, xerf_partials): at
    ~1e300 their kernels and gradients equal the mpmath ReLU reference's to
    rounding, without a warning."""
    X = np.random.default_rng(0).normal(size=(5, 3)) * 1e150
    ref = reference("relu", X, 2, 1.0, 1.0, ntk)
    gref = reference_log_grad("relu", X, 2, 1.0, 1.0, ntk)
    k = (NTKKernel if ntk else NNGPKernel)(
        depth=2, activation=activation, sigma_w=1.0, sigma_b=1.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K, dK = k(X, eval_gradient=True)
    root = np.sqrt(np.diag(ref))
    scale = np.outer(root, root)  # (the product of the diagonals overflows)
    assert np.max(np.abs(K - ref) / scale) < 1e-13
    names = [h.name for h in k.hyperparameters if not h.fixed]
    for col, p in enumerate(("sigma_b", "sigma_w")):
        got = dK[:, :, names.index(p)]
        assert np.max(np.abs(got - gref[:, :, col]) / scale) < 1e-9


# ---------------------------------------------------------------------------
# series activations at layer variances below 1e-300


@pytest.mark.parametrize("activation, slope2", [("tanh", 1.0), ("gelu", 0.25)])
@pytest.mark.parametrize("v", [1e-200, 1e-302, 1e-306])
def test_series_tiny_variances_keep_the_correlation(activation, slope2, v):
    """At layer variance ``v`` these activations are linear to O(v): phi(u)
    = phi'(0) u, so by hand K = phi'(0)^2 c (NNGP) and Theta = 2 phi'(0)^2 c
    (NTK, depth 1, sigma_w = 1, sigma_b = 0), c = x.y / d. The correlation
    was lost below 1e-300 (a floor of 1e-300 in the series' inverse square
    roots and truncation limits: 0.006 instead of 0.6 at 1e-302)."""
    X = np.array([[1.0, 0.0], [0.6, 0.8]]) * np.sqrt(2 * v)
    c = X @ X.T / 2
    for cls, factor in ((NNGPKernel, 1.0), (NTKKernel, 2.0)):
        K = cls(activation=activation, sigma_w=1.0, sigma_b=0.0)(X)
        np.testing.assert_allclose(K, factor * slope2 * c, rtol=1e-12)


def test_series_deep_small_sigma_w_keeps_the_correlation():
    """tanh with sigma_w = 0.01, sigma_b = 0 is linear at every layer: the
    layer variance shrinks by 1e-4 per layer (to ~5e-309 at depth 76) and
    the correlation stays that of the inputs, 0.6, up to the O(q^2) bend of
    an odd activation's correlation map at the first layers' variances
    (q <= 5e-5: a few 1e-9); it was 0.06."""
    X = np.array([[1.0, 0.0], [0.6, 0.8]])
    K = NNGPKernel(activation="tanh", depth=76, sigma_w=0.01, sigma_b=0.0)(X)
    assert np.isfinite(K).all() and K[0, 0] > 0
    np.testing.assert_allclose(K[0, 1] / np.sqrt(K[0, 0]) / np.sqrt(K[1, 1]), 0.6,
                               rtol=1e-7)  # fmt: skip


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_kernel_underflowing_to_zero_is_a_clear_error(cls):
    # ArcCosine(10), depth 2, no bias, inputs ~1e-3: Sigma^1 ~ q0^10 ~ 1e-56 and
    # k(x, x) ~ (1e-56)^10 ~ 1e-560, below every float64 number: an all-zero
    # Gram would lose every correlation, so it is refused (the diagonal too)
    from sknnk.activations import ArcCosine

    X = np.random.default_rng(0).normal(size=(5, 3)) * 1e-3
    k = cls(depth=2, activation=ArcCosine(10), sigma_b=0.0)
    for call in (k, k.diag):
        match = "row 0 underflows float64 to 0.*sigma_b > 0"
        with pytest.raises(ValueError, match=match):
            call(X)
    # with a bias the variances stay >= sigma_b^2: computed
    K = cls(depth=2, activation=ArcCosine(10), sigma_b=0.1)(X)
    assert np.all(K > 0.0) and np.all(np.isfinite(K))
    # a zero row without bias is exactly 0 (no underflow): computed
    Z = np.vstack([np.zeros(3), np.ones(3)])
    K0 = cls(depth=2, activation=ArcCosine(3), sigma_b=0.0)(Z)
    assert K0[0, 0] == 0.0 and K0[1, 1] > 0.0
