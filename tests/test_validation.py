"""Bad input gets a clear error naming the parameter; nothing is mutated."""

import numpy as np
import pytest
from sklearn.base import clone

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel

X = np.random.default_rng(0).normal(size=(4, 3))


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
@pytest.mark.parametrize(
    "params,exc,match",
    [
        ({"depth": -1}, ValueError, "'depth' parameter of .* must be an int >= 0"),
        ({"depth": 1.5}, TypeError, "'depth' parameter"),
        ({"depth": True}, TypeError, "'depth' parameter"),
        ({"activation": "relu6"}, ValueError, "'activation' .* among .*'erf'"),
        ({"activation": None}, ValueError, "'activation'"),
        ({"sigma_w": 0.0}, ValueError, "'sigma_w' .* > 0"),
        ({"sigma_w": -1.0}, ValueError, "'sigma_w'"),
        ({"sigma_w": np.nan}, ValueError, "'sigma_w'"),
        ({"sigma_w": "big"}, TypeError, "'sigma_w'"),
        ({"sigma_b": -0.1}, ValueError, "'sigma_b' .* >= 0"),
        ({"sigma_b": np.inf}, ValueError, "'sigma_b'"),
        ({"sigma_w_bounds": (1.0, 0.1)}, ValueError, "'sigma_w_bounds'"),
        ({"sigma_b_bounds": "helloworld"}, ValueError, "'sigma_b_bounds'"),
        ({"sigma_b_bounds": (0.0, 1.0)}, ValueError, "0 < low"),
        ({"n_jobs": 0}, ValueError, "'n_jobs'"),
        ({"n_jobs": 1.5}, TypeError, "'n_jobs'"),
    ],
)
def test_invalid_hyperparameters(cls, params, exc, match):
    k = cls(**params)  # __init__ and set_params never raise
    clone(k).set_params(**params)
    with pytest.raises(exc, match=match):
        k(X)
    with pytest.raises(exc, match=match):
        k.diag(X)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError) as err:
        NTKKernel(activation="swoosh")(X)
    for name in ACTIVATION_NAMES:
        assert repr(name) in str(err.value)


def test_standard_parameterization_needs_width():
    with pytest.raises(ValueError, match="explicit 'width'"):
        NTKKernel(parameterization="standard")(X)
    with pytest.raises(ValueError, match="'width' parameter"):
        NTKKernel(parameterization="standard", width=0)(X)
    with pytest.raises(ValueError, match="'parameterization'"):
        NTKKernel(parameterization="mup")(X)


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_bad_inputs(cls):
    k = cls()
    bad_nan = X.copy()
    bad_nan[1, 1] = np.nan
    bad_inf = X.copy()
    bad_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN"):
        k(bad_nan)
    with pytest.raises(ValueError, match="infinity"):
        k(X, bad_inf)
    with pytest.raises(ValueError, match="2D array"):
        k(X[0])
    with pytest.raises(ValueError, match="dim 3"):
        k(X[None])
    with pytest.raises(ValueError, match="3 features but Y has 2 features"):
        k(X, X[:, :2])
    with pytest.raises(TypeError, match="complex"):
        k(X.astype(complex))
    with pytest.raises(ValueError):
        k(np.array([["a", "b"], ["c", "d"]], dtype=object))
    with pytest.raises(ValueError, match="minimum of 1"):
        k(np.empty((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        k.diag(bad_nan)


def test_nan_never_leaks_out():
    for cls in (NNGPKernel, NTKKernel):
        for act in ACTIVATION_NAMES:
            # (tanh's series is accurate only for moderate variances, issue of
            # its own; a large one is covered by a warning, tested elsewhere)
            big = (
                1e3
                if act
                in ("relu", "erf", "identity", "abs", "leaky_relu", "step", "sign")
                else 3.0
            )
            Z = np.vstack([X, np.zeros(3), big * X[:1]])
            K, dK = cls(depth=3, activation=act, sigma_b=0.0)(Z, eval_gradient=True)
            assert np.all(np.isfinite(K)) and np.all(np.isfinite(dK))


def test_refuses_output_that_does_not_fit(monkeypatch):
    import sknnk._memory as v

    monkeypatch.setattr(v, "available_memory", lambda: 100)
    # above the size whose check is skipped (_memory.SMALL_REQUEST)
    Z = np.random.default_rng(0).normal(size=(400, 3))
    with pytest.raises(MemoryError, match="would need .*Nystroem"):
        NTKKernel()(Z)
    with pytest.raises(ValueError, match="row blocks"):
        NTKKernel()(Z)
