"""Properties on random and degenerate inputs (hypothesis)."""

import warnings

import numpy as np
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel
from sknnk.activations import ABReLU, ArcCosine

ACTS = st.sampled_from(list(ACTIVATION_NAMES) + [ABReLU(-0.4, 1.3), ArcCosine(2)])


@st.composite
def designs(draw):
    n = draw(st.integers(2, 8))
    d = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 2.0, size=(n, 1))
    kind = draw(st.sampled_from(["plain", "dup", "zero", "collinear"]))
    if kind == "dup":
        X[-1] = X[0]
    elif kind == "zero":
        X[-1] = 0.0
    elif kind == "collinear":
        X[-1] = -1.7 * X[0]
    return X


def _min_eig(K):
    return np.linalg.eigvalsh((K + K.T) / 2).min()


@settings(max_examples=80, deadline=None)
@given(
    X=designs(),
    act=ACTS,
    depth=st.integers(0, 4),
    sw=st.floats(0.3, 2.5),
    sb=st.sampled_from([0.0, 0.05, 0.7]),
)
def test_symmetric_psd_and_ntk_dominates_nngp(X, act, depth, sw, sb):
    kw = dict(depth=depth, activation=act, sigma_w=sw, sigma_b=sb)
    with warnings.catch_warnings():
        # large variances may stop a Hermite series early (with a warning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            S = NNGPKernel(**kw)(X)
            T = NTKKernel(**kw)(X)
        except ValueError as exc:
            # ELU/SELU refuse layer variances beyond their accurate range
            # (a documented, clear error): no value to check
            assert act in ("elu", "selu"), exc
            assert "accurate for layer variances up to" in str(exc)
            reject()
    scale = max(np.abs(T).max(), 1e-300)
    assert np.array_equal(S, S.T) and np.array_equal(T, T.T)
    assert _min_eig(S) >= -1e-10 * scale
    assert _min_eig(T) >= -1e-10 * scale
    # Theta - Sigma = sum of PSD (Hadamard products of PSD) terms
    assert _min_eig(T - S) >= -1e-10 * scale


@settings(max_examples=25, deadline=None)
@given(X=designs(), depth=st.integers(1, 4), c=st.floats(0.01, 50.0))
def test_relu_positive_homogeneity(X, depth, c):
    Y = X[::-1].copy()
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=depth, sigma_w=1.3, sigma_b=0.0)
        np.testing.assert_allclose(k(c * X, Y), c * k(X, Y), rtol=1e-9, atol=1e-300)
