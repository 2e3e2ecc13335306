"""Finite random networks (sknnk.finite): back-propagation, sampling, training."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel
from sknnk.activations import ELU, ABReLU, ArcCosine, Custom, LeakyReLU
from sknnk.finite import FiniteMLP, monte_carlo_nngp, monte_carlo_ntk, sample_outputs

# every activation the kernels accept (the registry's names and objects)
ACTS = list(ACTIVATION_NAMES) + [
    LeakyReLU(0.2),
    ABReLU(-0.3, 1.2),
    ArcCosine(2),
    ELU(0.5),
    Custom(np.sin, np.cos),
    np.tanh,
]


def _X(n=4, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _flat_params(net):
    """Parameters in the column order of FiniteMLP.jacobian: (E, P)."""
    parts = []
    for W, b in zip(net.weights_, net.biases_):
        parts += [W.reshape(W.shape[0], -1), b]
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("activation", ACTS)
def test_jacobian_matches_finite_differences(activation):
    X = _X()
    net = FiniteMLP(
        width=6, depth=2, activation=activation, sigma_w=1.3, sigma_b=0.4,
        n_outputs=2, n_networks=2, random_state=1,
    ).initialize(3)  # fmt: skip
    J = net.jacobian(X, output=1)
    assert J.shape == (2, 4, net.n_params)
    fd, eps = [], 1e-6
    for W, b in zip(net.weights_, net.biases_):
        for arr in (W, b):
            for idx in np.ndindex(arr.shape[1:]):
                sl = (slice(None),) + idx
                old = arr[sl].copy()
                arr[sl] = old + eps
                fp = net.predict(X)[:, :, 1]
                arr[sl] = old - eps
                fm = net.predict(X)[:, :, 1]
                arr[sl] = old
                fd.append((fp - fm) / (2 * eps))
    assert_allclose(J, np.stack(fd, axis=2), rtol=1e-6, atol=1e-7 * np.abs(J).max())


@pytest.mark.parametrize("activation", ACTS)
def test_layerwise_ntk_equals_j_jt(activation):
    X, Y = _X(5), _X(3, seed=1)
    net = FiniteMLP(
        width=16, depth=3, activation=activation, sigma_w=1.2, sigma_b=0.3,
        n_outputs=2, n_networks=3, random_state=2,
    ).initialize(3)  # fmt: skip
    for output in (0, 1):
        Jx, Jy = net.jacobian(X, output), net.jacobian(Y, output)
        assert_allclose(net.ntk(X, output=output), Jx @ np.swapaxes(Jx, 1, 2))
        assert_allclose(net.ntk(X, Y, output), Jx @ np.swapaxes(Jy, 1, 2))


def test_depth_zero_network_is_exactly_the_kernel():
    """depth 0 (a linear readout): J = (sw x / sqrt(d), sb), so J J^T = Sigma^0."""
    X = _X(6, 4)
    net = FiniteMLP(depth=0, sigma_w=1.7, sigma_b=0.6, n_networks=2).initialize(4)
    assert_allclose(net.ntk(X)[1], NTKKernel(depth=0, sigma_w=1.7, sigma_b=0.6)(X))


@pytest.mark.parametrize(
    "kw, width, n_networks",
    [
        (dict(depth=3, activation="relu", sigma_w=1.5, sigma_b=0.1), 1024, 2000),
        (dict(depth=2, activation="erf", sigma_w=1.5, sigma_b=0.1), 512, 2000),
        (dict(depth=2, activation="tanh", sigma_w=1.5, sigma_b=0.1), 512, 2000),
    ],
    ids=["relu", "erf", "tanh"],
)
def test_monte_carlo_nngp_matches_kernel(kw, width, n_networks):
    X = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5]])
    K, se = monte_carlo_nngp(
        X, n_networks=n_networks, width=width, random_state=0, **kw
    )
    exact = NNGPKernel(**kw)(X)
    assert np.abs((K - exact) / se).max() < 4.0
    # the standard error of MATH.md section 7
    d = np.diag(exact)
    se_theory = np.sqrt((np.outer(d, d) + exact**2) / n_networks)
    assert_allclose(se, se_theory, rtol=0.15)


def test_gram_sampler_has_the_distribution_of_literal_networks():
    """method='gram' vs drawing every weight: same second moments (z-test)."""
    X = _X(3, 2, seed=3)
    kw = dict(width=32, depth=2, activation="tanh", sigma_w=1.4, sigma_b=0.3)
    a = sample_outputs(X, n_networks=6000, method="gram", random_state=1, **kw)
    b = sample_outputs(X, n_networks=6000, method="weights", random_state=2, **kw)
    for stat in (lambda f: f[:, :, None] * f[:, None, :], lambda f: f[:, :, None]):
        sa, sb = stat(a), stat(b)
        se = np.sqrt(sa.var(0) / len(a) + sb.var(0) / len(b))
        assert np.abs((sa.mean(0) - sb.mean(0)) / se).max() < 4.0


def test_monte_carlo_ntk_matches_kernel():
    X = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5]])
    kw = dict(depth=2, activation="relu", sigma_w=1.5, sigma_b=0.1)
    T, se = monte_carlo_ntk(X, n_networks=24, width=1024, random_state=0, **kw)
    exact = NTKKernel(**kw)(X)
    assert np.abs((T - exact) / se).max() < 4.0
    assert np.abs(T - exact).max() < 0.05 * np.abs(exact).max()


@pytest.mark.parametrize("activation", ACTS)
def test_gd_step_is_the_mse_gradient(activation):
    X, y = _X(5), np.arange(5.0)
    net = FiniteMLP(
        width=8, depth=2, activation=activation, n_networks=2, random_state=0
    )
    net.initialize(3)
    w0, J, f0 = _flat_params(net), net.jacobian(X), net.predict(X)[:, :, 0]
    hist = net.train(X, y, n_steps=1, learning_rate=0.3)
    expected = w0 - 0.3 * np.einsum("enp,en->ep", J, f0 - y) / 5
    assert_allclose(_flat_params(net), expected, rtol=1e-12, atol=1e-12)
    assert_allclose(hist["train_loss"][0], 0.5 * np.mean((f0 - y) ** 2, axis=1) * 1)


def test_ngd_step_and_ridge_step():
    X, y = _X(4), np.array([1.0, -1.0, 0.5, 0.0])
    net = FiniteMLP(width=8, depth=1, activation="tanh", n_networks=2, random_state=0)
    net.initialize(3)
    w0, J, f0 = _flat_params(net), net.jacobian(X), net.predict(X)[:, :, 0]
    net.train(X, y, n_steps=1, learning_rate=0.2, optimizer="ngd")
    a = np.linalg.solve(J @ np.swapaxes(J, 1, 2), (f0 - y)[..., None])[..., 0]
    assert_allclose(_flat_params(net), w0 - 0.2 * np.einsum("enp,en->ep", J, a))
    # weight decay toward the initial weights: it enters from the second step
    net = FiniteMLP(width=8, depth=1, n_networks=1, random_state=5).initialize(3)
    w0 = _flat_params(net)
    net.train(X, y, n_steps=1, learning_rate=0.1)
    w1, J1, f1 = _flat_params(net), net.jacobian(X), net.predict(X)[:, :, 0]
    ridged = FiniteMLP(width=8, depth=1, n_networks=1, random_state=5).initialize(3)
    ridged.train(X, y, n_steps=2, learning_rate=0.1, ridge=0.5)
    grad = np.einsum("enp,en->ep", J1, f1 - y) / 4 + 0.5 * (w1 - w0)
    assert_allclose(_flat_params(ridged), w1 - 0.1 * grad, rtol=1e-12, atol=1e-13)


def test_training_records_and_converges():
    X, y = _X(6), np.sin(np.arange(6.0))
    net = FiniteMLP(width=256, depth=1, n_networks=2, random_state=0)
    hist = net.train(
        X, y, n_steps=300, learning_rate=0.5, X_eval=X, eval_steps=[0, 300]
    )
    assert hist["outputs"].shape == (2, 2, 6, 1)
    assert hist["train_loss"].shape == (2, 2)
    assert np.all(hist["train_loss"][1] < 0.1 * hist["train_loss"][0])
    assert_allclose(hist["outputs"][1][..., 0], net.predict(X)[..., 0])


def test_multi_output_training_and_shapes():
    X, Y = _X(5), np.random.default_rng(0).normal(size=(5, 3))
    net = FiniteMLP(width=32, depth=2, n_outputs=3, n_networks=2, random_state=0)
    net.train(X, Y, n_steps=3, learning_rate=0.1)
    assert net.predict(X).shape == (2, 5, 3)
    assert net.ntk(X, output=2).shape == (2, 5, 5)


def test_errors():
    X = _X()
    with pytest.raises(ValueError, match="'activation' parameter"):
        FiniteMLP(activation="relu6").initialize(3)
    with pytest.raises(ValueError, match="'width' parameter"):
        sample_outputs(X, width=0)
    with pytest.raises(AttributeError, match="initialize"):
        FiniteMLP().predict(X)
    net = FiniteMLP(width=4, n_networks=1).initialize(3)
    with pytest.raises(ValueError, match="features"):
        net.predict(np.ones((2, 5)))
    with pytest.raises(ValueError, match="n_outputs=1"):
        net.train(X, np.ones((4, 2)), n_steps=1)
    with pytest.raises(ValueError, match="ridge=0"):
        net.train(X, np.ones(4), n_steps=1, optimizer="ngd", ridge=0.1)
    with pytest.raises(ValueError, match="output must be"):
        net.ntk(X, output=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_layer_and_residual_stream_by_their_definitions(dtype):
    # the one dense layer of the finite networks and the samplers, entry by
    # entry from h_io = sigma_w / sqrt(n_in) sum_k a_ik W_ok + sigma_b b_o
    from sknnk.finite import block_output, dense_layer, nonlinearity_input

    rng = np.random.default_rng(3)
    a = rng.normal(size=(2, 4, 5)).astype(dtype)  # (networks, rows, fan_in)
    W = rng.normal(size=(2, 3, 5)).astype(dtype)  # (networks, fan_out, fan_in)
    b = rng.normal(size=(2, 1, 3)).astype(dtype)
    h = dense_layer(a, np.swapaxes(W, 1, 2), b, 1.7, 0.3)
    assert h.dtype == dtype
    ref = np.empty((2, 4, 3))
    for e in range(2):
        for i in range(4):
            for o in range(3):
                dot = sum(float(a[e, i, k]) * float(W[e, o, k]) for k in range(5))
                ref[e, i, o] = 1.7 / np.sqrt(5.0) * dot + 0.3 * float(b[e, 0, o])
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_allclose(h, ref, rtol=tol, atol=tol)
    # residual blocks are the hidden steps 1..depth-1: z + alpha h there only
    z = np.ones_like(h)
    for layer, res in [(0, False), (1, True), (2, True), (3, False)]:
        out = block_output(z, h, layer, 3, True, 0.5)
        assert_allclose(out, z + 0.5 * h if res else h, rtol=0, atol=0)
        assert block_output(z, h, layer, 3, False, 0.5) is h
    # the nonlinearity sees LN(z) (zero mean, unit variance per row) or z
    u, inv = nonlinearity_input(ref, True)
    assert_allclose(u.mean(axis=-1), 0.0, atol=1e-12)
    assert_allclose(u.std(axis=-1), 1.0, rtol=1e-12)
    assert_allclose(inv[..., 0], 1.0 / ref.std(axis=-1), rtol=1e-12)
    u, inv = nonlinearity_input(ref, False)
    assert u is ref and inv is None
