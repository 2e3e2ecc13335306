"""Numerics at every scale (issue 13): regression tests against independent references.

Every right value here comes from a reference written out by hand in mpmath
(the closed-form dual kernels of erf and of the arc-cosine family, evaluated
at 50 digits, so that no cancellation or overflow of double precision can
reach them), from nested quadrature or from central differences of that
reference; never from sknnk itself.
"""

import mpmath as mp
import numpy as np
import pytest

from sknnk import NNGPKernel, NTKKernel

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


DUALS = {"erf": _erf_dual, "relu": _relu_dual}


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
