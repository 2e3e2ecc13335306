"""scikit-learn's generic Kernel contract, as in its own test_kernels.py."""

import pickle
from inspect import signature

import numpy as np
import pytest
from _reference import central_fd
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    Exponentiation,
    WhiteKernel,
)
from sklearn.metrics.pairwise import pairwise_kernels

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel
from sknnk.activations import ABReLU, ArcCosine, LeakyReLU

SIMPLE = [
    cls(depth=depth, activation=act, sigma_w=1.3, sigma_b=sb)
    for cls in (NNGPKernel, NTKKernel)
    for act in ("relu", "erf", "identity", "tanh")
    for depth in (1, 3)
    for sb in (0.2, 0.0)
] + [
    NTKKernel(depth=2, sigma_b=0.3, sigma_w_bounds="fixed"),
    NNGPKernel(depth=2, sigma_b=0.3, sigma_b_bounds="fixed"),
    NTKKernel(depth=2, parameterization="standard", width=64, sigma_b=0.2),
    NNGPKernel(depth=0, sigma_b=0.5),
]
# every other activation (the contract must hold for all of them)
SIMPLE += [
    cls(depth=2, activation=act, sigma_w=1.1, sigma_b=0.2)
    for cls in (NNGPKernel, NTKKernel)
    for act in [
        a for a in ACTIVATION_NAMES if a not in ("relu", "erf", "identity", "tanh")
    ]
    + [LeakyReLU(0.2), ABReLU(-0.3, 1.5), ArcCosine(2), ArcCosine(3), ArcCosine(4)]
]
# sigma_b = 0 inside compound kernels, whose hyperparameters are re-derived
# from the bounds of their parts
COMPOUND_ZERO_BIAS = [
    ConstantKernel(1.5) * NTKKernel(depth=2, sigma_b=0.0) + WhiteKernel(0.1),
    NNGPKernel(depth=1, sigma_b=0.0) + NTKKernel(depth=1, sigma_b=0.2),
]
COMPOUND = [
    ConstantKernel(2.0) * NNGPKernel(depth=3, activation="erf") + WhiteKernel(0.1),
    NTKKernel(depth=2) + RBF(1.5),
    Exponentiation(NNGPKernel(depth=1, sigma_b=0.2), 2.0),
    NTKKernel(depth=1) * NNGPKernel(depth=2, activation="erf"),
]
ALL = SIMPLE + COMPOUND + COMPOUND_ZERO_BIAS


@pytest.mark.parametrize("kernel", ALL, ids=repr)
def test_gradient_matches_finite_differences(kernel, X):
    K, dK = kernel(X, eval_gradient=True)
    assert dK.shape == (X.shape[0], X.shape[0], kernel.theta.shape[0])
    if kernel.theta.size == 0:
        return
    fd = central_fd(lambda th: kernel.clone_with_theta(th)(X), kernel.theta, 1e-6)
    assert_allclose(dK, fd, rtol=1e-6, atol=1e-7 * np.abs(K).max())


@pytest.mark.parametrize("kernel", SIMPLE, ids=repr)
def test_theta_and_fixed_hyperparameters(kernel, X):
    kernel = clone(kernel)
    theta = kernel.theta
    _, dK = kernel(X, eval_gradient=True)
    args = [p for p in signature(type(kernel).__init__).parameters if p != "self"]
    names = {a[: -len("_bounds")] for a in args if a.endswith("_bounds")}
    assert {hp.name for hp in kernel.hyperparameters} == names
    free = [hp for hp in kernel.hyperparameters if not hp.fixed]
    assert [hp.name for hp in free] == sorted(hp.name for hp in free)
    for i, hp in enumerate(free):
        assert theta[i] == np.log(getattr(kernel, hp.name))
    for i, hp in enumerate(free):
        params = kernel.get_params()
        params[hp.name + "_bounds"] = "fixed"
        fixed = type(kernel)(**params)
        _, dK_fixed = fixed(X, eval_gradient=True)
        assert fixed.theta.shape[0] == theta.shape[0] - 1
        assert_array_equal(dK_fixed, np.delete(dK, i, axis=2))
    for i, hp in enumerate(free):
        th = kernel.theta
        th[i] = np.log(42.0)
        kernel.theta = th
        assert_allclose(getattr(kernel, hp.name), 42.0)
        setattr(kernel, hp.name, 43.0)
        assert_allclose(kernel.theta[i], np.log(43.0))


@pytest.mark.parametrize("kernel", COMPOUND + COMPOUND_ZERO_BIAS, ids=repr)
def test_compound_hyperparameters_match_theta(kernel):
    free = [hp for hp in kernel.hyperparameters if not hp.fixed]
    assert sum(hp.n_elements for hp in free) == kernel.theta.shape[0]
    assert kernel.bounds.shape == (kernel.theta.shape[0], 2)


def test_zero_bias_is_reported_fixed(X):
    k = NTKKernel(depth=2, sigma_b=0.0)
    free = [hp.name for hp in k.hyperparameters if not hp.fixed]
    assert free == ["length_scale", "sigma_w"]
    assert k.theta.shape == (2,) and k.bounds.shape == (2, 2)
    K, dK = k(X, eval_gradient=True)
    assert dK.shape == (7, 7, 2) and np.all(np.isfinite(dK))
    # relu without bias: homogeneous of degree 2(L+1) in sigma_w and of
    # degree 2 in the inputs (so -2 in the length scale)
    assert_allclose(dK[..., 1], 2 * 3 * K, rtol=1e-12, atol=1e-15)
    assert_allclose(dK[..., 0], -2 * K, rtol=1e-12, atol=1e-15)
    k.sigma_b = 0.5
    assert k.theta.shape == (3,)


@pytest.mark.parametrize("kernel", ALL, ids=repr)
def test_auto_vs_cross_and_diag(kernel, X):
    K = kernel(X)
    if "White" not in repr(kernel):  # white noise is added to k(X) only
        # a copy takes the cross path (the same object is the symmetric case)
        assert_allclose(K, kernel(X, X.copy()), rtol=1e-7, atol=1e-9)
    assert_allclose(kernel.diag(X), np.diag(K), rtol=1e-12, atol=1e-14)
    assert_array_equal(K, K.T)


@pytest.mark.parametrize("kernel", SIMPLE[:8], ids=repr)
def test_same_object_is_the_symmetric_case(kernel, X):
    # sklearn's Nystroem.fit calls kernel(Z, Z): it gets k(Z) (exact diagonal,
    # exactly symmetric); a copy of Z takes the cross path
    assert_array_equal(kernel(X, X), kernel(X))


@pytest.mark.parametrize("kernel", ALL, ids=repr)
def test_cross_block_equals_stacked(kernel, X, Y):
    if "White" in repr(kernel):
        pytest.skip("WhiteKernel is not a function of the inputs")
    Z = np.vstack([X, Y])
    assert_allclose(kernel(X, Y), kernel(Z)[: len(X), len(X) :], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("kernel", SIMPLE, ids=repr)
def test_clone_params_repr_pickle(kernel, X):
    k2 = clone(kernel)
    assert k2 == kernel and k2 is not kernel
    assert k2.get_params() == kernel.get_params()
    assert not kernel.is_stationary()
    assert kernel.requires_vector_input
    r = repr(kernel)
    assert r.startswith(type(kernel).__name__ + "(") and "depth=" in r
    k3 = pickle.loads(pickle.dumps(kernel))
    assert_array_equal(k3(X), kernel(X))
    k4 = clone(kernel).set_params(sigma_w=2.0)
    assert k4.sigma_w == 2.0 and clone(k4).sigma_w == 2.0
    if not k4.hyperparameter_sigma_w.fixed:
        assert np.isclose(k4.theta[-1], np.log(2.0))


@pytest.mark.parametrize("kernel", ALL, ids=repr)
def test_pairwise_kernels_uses_the_kernel(kernel, X, Y):
    assert_allclose(pairwise_kernels(X, Y, metric=kernel), kernel(X, Y), rtol=1e-14)


def test_operators_commute(X):
    a, b = NTKKernel(depth=2), NNGPKernel(depth=1, activation="erf")
    assert_allclose((a + b)(X), (b + a)(X), rtol=1e-14)
    assert_allclose((a * b)(X), (b * a)(X), rtol=1e-14)
    assert_allclose((a**2)(X), a(X) ** 2, rtol=1e-14)
    assert_allclose((2.0 * a)(X), 2.0 * a(X), rtol=1e-14)


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_input_types_and_no_mutation(cls, X):
    k = cls(depth=2, sigma_b=0.2)
    ref = k(X)
    X_list = X.tolist()
    assert_allclose(k(X_list), ref, rtol=1e-14)
    assert_allclose(k(np.asfortranarray(X)), ref, rtol=1e-14)
    X32 = X.astype(np.float32)
    assert_allclose(k(X32), k(X32.astype(np.float64)), rtol=1e-14)
    Xw = np.array(X)
    before = Xw.copy()
    k(Xw, Xw[:3])
    k(Xw, eval_gradient=True)
    k.diag(Xw)
    assert_array_equal(Xw, before)
    assert_allclose(k(X[:, :]), ref)  # read-only input accepted


def test_gradient_requires_y_none(X):
    with pytest.raises(ValueError, match="Gradient can only be evaluated"):
        NTKKernel()(X, X, eval_gradient=True)
