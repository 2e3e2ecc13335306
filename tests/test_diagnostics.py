"""Generalization diagnostics vs direct linear algebra, expm and the estimator."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import expm

from sknnk import InfiniteWidthRegressor, NTKKernel
from sknnk.diagnostics import (
    complexity,
    generalization_diagnostics,
    kernel_spectrum,
    label_mass,
    training_residuals,
)


def _problem(n=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(X[:, 0]) + 0.3 * rng.normal(size=n)
    return X, y, NTKKernel(depth=2, sigma_w=1.4)(X)


def test_spectrum():
    _, _, K = _problem()
    lam, V = kernel_spectrum(K)
    assert np.all(np.diff(lam) <= 0) and np.all(lam >= 0)
    assert_allclose(V @ np.diag(lam) @ V.T, K, atol=1e-12 * lam[0])
    assert_allclose(V.T @ V, np.eye(len(K)), atol=1e-12)
    # a singular, round-off indefinite Gram is clipped at 0
    A = np.random.default_rng(1).normal(size=(6, 2))
    lam, _ = kernel_spectrum(A @ A.T)
    assert np.all(lam >= 0) and np.all(lam[2:] < 1e-12)


def test_label_mass():
    _, y, K = _problem()
    lam, V = kernel_spectrum(K)
    curve = label_mass(K, y)
    expected = np.cumsum((V.T @ y) ** 2) / (y @ y)
    assert_allclose(curve, expected, rtol=1e-12)
    assert curve[-1] == pytest.approx(1.0) and np.all(np.diff(curve) >= 0)
    assert label_mass(K, V[:, 0], k=1) == pytest.approx(1.0)
    assert_allclose(label_mass(K, y, k=[1, 5]), curve[[0, 4]])
    Y2 = np.column_stack([y, V[:, 1]])
    p = (V.T @ y) ** 2 + (V.T @ V[:, 1]) ** 2
    assert_allclose(label_mass(K, Y2), np.cumsum(p) / p.sum(), rtol=1e-12)
    with pytest.raises(ValueError, match="k must lie"):
        label_mass(K, y, k=0)


def test_complexity_against_direct_solves():
    _, y, K = _problem()
    n = len(y)
    direct = np.sqrt(2 * y @ np.linalg.solve(K, y) / n)
    assert_allclose(complexity(K, y), direct, rtol=1e-9)
    ridge = 0.01
    direct = np.sqrt(2 * y @ np.linalg.solve(K + n * ridge * np.eye(n), y) / n)
    assert_allclose(complexity(K, y, ridge=ridge), direct, rtol=1e-12)


def test_complexity_of_singular_gram_uses_pseudo_inverse():
    X, y, _ = _problem(n=12)
    X[5] = X[2]
    y[5] = y[2]
    K = NTKKernel(depth=2, sigma_w=1.4)(X)
    assert np.linalg.cond(K) > 1e14
    value = complexity(K, y)
    ref = np.sqrt(2 * y @ np.linalg.pinv(K, rcond=12 * np.finfo(float).eps) @ y / 12)
    assert np.isfinite(value)
    assert_allclose(value, ref, rtol=1e-6)
    # a small ridge converges to the pseudo-inverse value
    assert_allclose(complexity(K, y, ridge=1e-13), value, rtol=1e-3)


def test_training_residuals_match_expm_and_the_estimator():
    X, y, K = _problem()
    n, eta = len(y), 0.4
    times = np.array([0.0, 0.5, 7.0, 300.0])
    res = training_residuals(K, y, times, learning_rate=eta)
    for t, r in zip(times, res):
        assert_allclose(r, np.sum((expm(-eta * K * t / n) @ y) ** 2), rtol=1e-9)
    reg = InfiniteWidthRegressor(depth=2, sigma_w=1.4, learning_rate=eta).fit(X, y)
    assert_allclose(
        res, np.sum((reg.predict(X, t=times) - y) ** 2, axis=1), rtol=1e-8, atol=1e-14
    )
    assert np.all(np.diff(res) <= 0)
    assert training_residuals(K, y, np.inf) == pytest.approx(0.0, abs=1e-20)
    assert training_residuals(K, y, 0.0) == pytest.approx(y @ y)


def test_generalization_diagnostics_bunch():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    kernel = NTKKernel(depth=3, sigma_w=1.4)
    smooth = generalization_diagnostics(X, X[:, 0] + 0.5 * X[:, 1], kernel)
    noise = generalization_diagnostics(X, rng.normal(size=60), kernel)
    for out in (smooth, noise):
        assert out.eigenvalues.shape == (60,)
        assert out.label_mass[-1] == pytest.approx(1.0)
        assert out.residuals.shape == out.times.shape == (50,)
        # default times span the whole decay
        assert out.residuals[-1] < 1e-6 * out.residuals[0]
        assert out.condition_number > 1 and 1 <= out.effective_rank <= 60
    assert smooth.complexity < 0.5 * noise.complexity
    assert smooth.label_mass[4] > 0.9 > noise.label_mass[4]
    default = generalization_diagnostics(X, X[:, 0])
    assert_allclose(default.eigenvalues, kernel_spectrum(NTKKernel()(X))[0])


def test_errors():
    _, y, K = _problem()
    with pytest.raises(ValueError, match="square"):
        complexity(K[:, :5], y)
    with pytest.raises(ValueError, match="symmetric"):
        label_mass(K + np.triu(np.ones_like(K), 1), y)
    with pytest.raises(ValueError, match="shape"):
        training_residuals(K, y[:5], 1.0)
    with pytest.raises(ValueError, match="times must be"):
        training_residuals(K, y, [-1.0])
