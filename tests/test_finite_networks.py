"""The kernels against real finite random networks (Monte Carlo)."""

import numpy as np
import pytest
from _reference import mc_nngp, mean_empirical_ntk

from sknnk import NNGPKernel, NTKKernel

X3 = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5]])


@pytest.mark.slow
@pytest.mark.parametrize(
    "activation,depth", [("relu", 3), ("erf", 2), ("tanh", 2), ("identity", 2)]
)
def test_nngp_matches_monte_carlo_of_finite_networks(activation, depth):
    # 8000 networks of width 2000, sampled exactly in distribution layer by
    # layer; the finite-width bias is O(1/width), far below the standard error
    mean, stderr = mc_nngp(X3, activation, depth, 1.5, 0.1, 2000, 8000, seed=1)
    K = NNGPKernel(depth=depth, activation=activation, sigma_w=1.5, sigma_b=0.1)(X3)
    z = np.abs(K - mean) / stderr
    assert z.max() < 4.5, z


@pytest.mark.slow
def test_nngp_matches_literal_random_networks():
    # literal weight matrices (no sampling shortcut): 400 nets of width 512
    mean, stderr = mc_nngp(
        X3, "relu", 2, 1.5, 0.1, 512, 400, seed=2, exact_sampler=False
    )
    K = NNGPKernel(depth=2, sigma_w=1.5, sigma_b=0.1)(X3)
    assert (np.abs(K - mean) / stderr).max() < 4.5


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_ntk_matches_empirical_jacobian_kernel(activation):
    # mean of J J^T over 40 networks of width 2048; the O(1/width) bias is
    # a fraction of the standard error at this width
    mean, stderr = mean_empirical_ntk(
        X3, activation, None, 2, 1.5, 0.1, 2048, 40, seed=3
    )
    K = NTKKernel(depth=2, activation=activation, sigma_w=1.5, sigma_b=0.1)(X3)
    z = np.abs(K - mean) / stderr
    assert z.max() < 4.5, z
    assert np.abs(K - mean).max() / np.abs(K).max() < 0.03


@pytest.mark.slow
def test_standard_parameterization_matches_empirical_ntk():
    width = 256
    mean, stderr = mean_empirical_ntk(
        X3, "relu", None, 2, 1.3, 0.2, width, 200, seed=4, parameterization="standard"
    )
    k = NTKKernel(
        depth=2, sigma_w=1.3, sigma_b=0.2, parameterization="standard", width=width
    )
    assert (np.abs(k(X3) - mean) / stderr).max() < 4.5
