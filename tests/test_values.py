"""Kernel values against independent references: published reference values,
closed forms written by hand, and 2-D Gauss-Hermite quadrature of the recursion."""

import json
from pathlib import Path

import numpy as np
import pytest
from _reference import closed_form_kernels, quadrature_kernels, standard_param_ntk
from numpy.testing import assert_allclose

from sknnk import NNGPKernel, NTKKernel

REF = json.loads((Path(__file__).parent / "reference_values.json").read_text())
CASES = sorted(REF["cases"])


def _sigma(value):
    return np.sqrt(2.0) if value == 1.41421 else value


@pytest.mark.parametrize("name", CASES)
def test_reference_values(name):
    case = REF["cases"][name]
    X = np.array(REF["X"])
    kw = dict(
        depth=case["depth"],
        activation=case["activation"],
        sigma_w=_sigma(case["sigma_w"]),
        sigma_b=case["sigma_b"],
    )
    # tanh references come from nested quadrature, reliable to ~1e-10
    rtol = 1e-9 if case["activation"] == "tanh" else 1e-13
    for cls, key in ((NNGPKernel, "nngp"), (NTKKernel, "ntk")):
        ref = np.array(case[key])
        k = cls(**kw)
        assert_allclose(k(X), ref, rtol=rtol, atol=rtol * np.abs(ref).max())
        assert_allclose(k.diag(X), np.diag(ref), rtol=rtol)
        assert_allclose(k(X[:2], X[1:]), ref[:2, 1:], rtol=rtol, atol=1e-13)


def _design(seed, n=6, d=5, degenerate=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.3, 2.0, size=(n, 1))
    X[2] = 0.0  # zero row
    if degenerate:
        X[1] = -0.7 * X[0]  # antiparallel
    return X


def _diag_reference(X, activation, depth, sigma_w, sigma_b):
    """k(x, x) from the 1-D recursion with the closed-form V(q), W(q)."""
    q = sigma_w**2 * np.sum(X * X, axis=1) / X.shape[1] + sigma_b**2
    t = q.copy()
    for _ in range(depth):
        if activation == "relu":
            v, w = q / 2, 0.5
        elif activation == "erf":
            v = 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))
            w = 4 / np.pi / np.sqrt(1 + 4 * q)
        else:
            v, w = q, 1.0
        q = sigma_w**2 * v + sigma_b**2
        t = q + sigma_w**2 * w * t
    return q, t


@pytest.mark.parametrize("activation", ["relu", "erf", "identity"])
@pytest.mark.parametrize("depth", [0, 1, 2, 5])
@pytest.mark.parametrize(
    "sigma_w,sigma_b", [(1.5, 0.1), (np.sqrt(2.0), 0.0), (0.8, 1.2)]
)
def test_closed_forms_composed_by_hand(activation, depth, sigma_w, sigma_b):
    X, Y = _design(0), _design(1, n=4)
    nngp, ntk = closed_form_kernels(X, Y, activation, depth, sigma_w, sigma_b)
    kw = dict(depth=depth, activation=activation, sigma_w=sigma_w, sigma_b=sigma_b)
    assert_allclose(NNGPKernel(**kw)(X, Y), nngp, rtol=1e-12, atol=1e-14)
    assert_allclose(NTKKernel(**kw)(X, Y), ntk, rtol=1e-12, atol=1e-14)
    # k(X): off-diagonal entries against the 2-D closed forms; the diagonal
    # against the 1-D recursion (the 2-D formula at rho = 1 loses half the
    # digits in arccos, which is why sknnk never uses it there).
    nngp, ntk = closed_form_kernels(X, None, activation, depth, sigma_w, sigma_b)
    q, t = _diag_reference(X, activation, depth, sigma_w, sigma_b)
    off = ~np.eye(len(X), dtype=bool)
    for cls, ref, diag in ((NNGPKernel, nngp, q), (NTKKernel, ntk, t)):
        K = cls(**kw)(X)
        assert_allclose(K[off], ref[off], rtol=1e-12, atol=1e-14)
        assert_allclose(np.diag(K), diag, rtol=1e-13, atol=1e-15)


def test_antiparallel_inputs_are_exact():
    # sigma_b = 0, relu: rho = -1 gives Sigma^1 = 0 and G = kappa_0(-1) = 0,
    # so both kernels vanish exactly for x' = -c x at depth 1.
    X = _design(10, degenerate=True)
    for cls in (NNGPKernel, NTKKernel):
        K = cls(depth=1, sigma_w=1.3, sigma_b=0.0)(X)
        assert K[0, 1] == 0.0 and K[1, 0] == 0.0


@pytest.mark.parametrize("activation", ["erf", "tanh", "identity"])
@pytest.mark.parametrize("depth", [1, 3])
def test_against_gauss_hermite_quadrature(activation, depth):
    # layer variances <= 1.6, where 2-D Gauss-Hermite with 240 nodes is
    # accurate to ~1e-12 (MATH.md section 3, table (a))
    X = _design(2, n=4, d=3)
    X *= np.sqrt(X.shape[1]) / np.linalg.norm(X, axis=1).max()
    sw, sb = 1.2, 0.3
    nngp, ntk = quadrature_kernels(X, None, activation, None, depth, sw, sb, 240)
    kw = dict(depth=depth, activation=activation, sigma_w=sw, sigma_b=sb)
    # (relu is not tested here: Gauss-Hermite converges slowly at its kink)
    rtol = 1e-9
    assert_allclose(NNGPKernel(**kw)(X), nngp, rtol=rtol, atol=rtol)
    assert_allclose(NTKKernel(**kw)(X), ntk, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("activation", ["relu", "erf"])
@pytest.mark.parametrize("width", [64, 512])
def test_standard_parameterization_formula(activation, width):
    X, Y = _design(3), _design(4, n=3)
    ref = standard_param_ntk(X, Y, activation, 2, 1.3, 0.2, width)
    k = NTKKernel(
        depth=2,
        activation=activation,
        sigma_w=1.3,
        sigma_b=0.2,
        parameterization="standard",
        width=width,
    )
    assert_allclose(k(X, Y), ref, rtol=1e-12)


def test_zero_input_without_bias_gives_zero_row():
    X = _design(5)
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=3, sigma_w=1.4, sigma_b=0.0)
        K, dK = k(X, eval_gradient=True)
        assert np.all(K[2] == 0.0) and np.all(K[:, 2] == 0.0)
        assert np.all(dK[2] == 0.0) and np.all(np.isfinite(dK))


def test_relu_homogeneity_without_bias():
    X, Y = _design(6), _design(7, n=3)
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=3, sigma_w=1.1, sigma_b=0.0)
        assert_allclose(k(3.7 * X, Y), 3.7 * k(X, Y), rtol=1e-12, atol=1e-15)


def test_duplicates_get_identical_values():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(5, 64))
    X = np.vstack([X, X[:2]])
    for cls in (NNGPKernel, NTKKernel):
        K = cls(depth=4, sigma_w=1.5, sigma_b=0.05)(X)
        assert_allclose(K[5], K[0], rtol=1e-14)
        assert_allclose(K[5, 0], K[0, 0], rtol=1e-14)


def test_depth_zero_is_the_linear_kernel():
    X = _design(9)
    lin = 1.7**2 * X @ X.T / X.shape[1] + 0.3**2
    for act in ("relu", "erf", "tanh"):
        for cls in (NNGPKernel, NTKKernel):
            k = cls(depth=0, activation=act, sigma_w=1.7, sigma_b=0.3)
            assert_allclose(k(X), lin, rtol=1e-13)
