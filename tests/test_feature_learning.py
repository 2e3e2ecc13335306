"""MuPLinearRegressor and the finite-width linear networks.

Every reference here is written independently of ``sknnk.feature_learning``:
literal abc-form networks (parameters ``w`` with width multipliers, one learning
rate), the width-n reduction with the Wishart matrix ``C = A^T A / n``, kernel
gradient descent with the linear NTK, and a hand-written scalar recursion.
"""

import re

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknnk import MuPLinearRegressor
from sknnk.feature_learning import train_finite_linear_network

# ---------------------------------------------------------------- references


def abc_mup_net(X, Y, w1, w2, eta, n_steps, orders=None, X_eval=None):
    """Literal μP net in abc form (Yang & Hu 2021, L = 1).

    ``W1 = n^(1/2) w1``, ``W2 = n^(-1/2) w2``, ``w ~ N(0, sigma^2 / n)``, plain
    (S)GD with one rate ``eta`` on ``(w1, w2)``. Returns outputs on ``X_eval``
    after every step and the final ``W1``.
    """
    n = w1.shape[0]
    a1, a2 = np.sqrt(n), 1.0 / np.sqrt(n)
    X_eval = X if X_eval is None else X_eval

    def out():
        return X_eval @ (a2 * w2 @ (a1 * w1)).T

    def step(xs, ys):
        G = (xs @ (a2 * w2 @ (a1 * w1)).T - ys).T @ xs / xs.shape[0]
        g1 = a1 * (a2 * w2).T @ G  # dL/dw1 = a1 W2^T G
        g2 = a2 * G @ (a1 * w1).T  # dL/dw2 = a2 G W1^T
        return w1 - eta * g1, w2 - eta * g2

    outs = [out()]
    for t in range(n_steps):
        if orders is None:
            w1, w2 = step(X, Y)
        else:
            for i in orders[t]:
                w1, w2 = step(X[i : i + 1], Y[i : i + 1])
        outs.append(out())
    return np.array(outs), a1 * w1


def draw_abc_mup(n, d_in, d_out, sigma_u, sigma_v, seed):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, sigma_u / np.sqrt(n), size=(n, d_in))
    w2 = rng.normal(0.0, sigma_v / np.sqrt(n), size=(d_out, n))
    return w1, w2


def ntp_net(X, Y, U, V, eta, n_steps):
    """NTK-parameterized net f = V U x / sqrt(n d_in), U, V ~ N(0, 1), rate eta.

    Returns outputs on X per step and max change of U^T U / (n d_in).
    """
    n, d = U.shape
    c = 1.0 / np.sqrt(n * d)
    K0 = U.T @ U / (n * d)
    outs = [X @ (c * V @ U).T]
    dK = 0.0
    for _ in range(n_steps):
        G = (X @ (c * V @ U).T - Y).T @ X / X.shape[0]
        U, V = U - eta * c * V.T @ G, V - eta * c * G @ U.T
        outs.append(X @ (c * V @ U).T)
        dK = max(dK, np.abs(U.T @ U / (n * d) - K0).max())
    return np.array(outs), dK


def kernel_gd(X, Y, f0, eta, n_steps):
    """Kernel GD with the linear NTK Theta = 2 x.x'/d_in from outputs f0."""
    theta = 2.0 * X @ X.T / X.shape[1]
    F = f0.copy()
    outs = [F.copy()]
    for _ in range(n_steps):
        F = F - eta / X.shape[0] * theta @ (F - Y)
        outs.append(F.copy())
    return np.array(outs)


def wishart_reduction(X, Y, A, sigma_u, sigma_v, eta, n_steps, orders=None):
    """(P_t, Q_t) recursion with C = A^T A / n; U_t = A P_t, n V_t^T = A Q_t."""
    n = A.shape[0]
    d_in, d_out = X.shape[1], Y.shape[1]
    C = A.T @ A / n
    P = np.vstack([sigma_u * np.eye(d_in), np.zeros((d_out, d_in))])
    Q = np.vstack([np.zeros((d_in, d_out)), sigma_v * np.eye(d_out)])
    outs, Ks = [X @ P.T @ C @ Q], [P.T @ C @ P]

    def step(P, Q, xs, ys):
        G = (xs @ P.T @ C @ Q - ys).T @ xs / xs.shape[0]
        return P - eta * Q @ G, Q - eta * P @ G.T

    for t in range(n_steps):
        if orders is None:
            P, Q = step(P, Q, X, Y)
        else:
            for i in orders[t]:
                P, Q = step(P, Q, X[i : i + 1], Y[i : i + 1])
        outs.append(X @ P.T @ C @ Q)
        Ks.append(P.T @ C @ P)
    return np.array(outs), np.array(Ks), P, Q


def sgd_orders(seed, n_samples, n_steps):
    """The documented sample order: RandomState(seed).permutation per step."""
    rng = np.random.RandomState(seed)
    return [rng.permutation(n_samples) for _ in range(n_steps)]


def limit_outputs(X, Y, X_eval, n_steps, **params):
    """Outputs of the estimator after 0..n_steps steps (via partial_fit)."""
    est = MuPLinearRegressor(n_steps=0, **params).fit(X, Y)
    outs = [est.predict(X_eval)]
    for _ in range(n_steps):
        outs.append(est.partial_fit(X, Y).predict(X_eval))
    return np.array(outs), est


@pytest.fixture(scope="module")
def data():
    """The setting of the verification in the design notes: d_in=3, d_out=2."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    Y = X @ rng.normal(size=(3, 2)) + 0.3 * rng.normal(size=(20, 2))
    X_test = rng.normal(size=(10, 3))
    return X, Y, X_test


# ----------------------------------------------------------------- sklearn


@parametrize_with_checks(
    [
        MuPLinearRegressor(),
        MuPLinearRegressor(optimizer="sgd", n_steps=20, random_state=0),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ------------------------------------------------------ exact small cases


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_scalar_network_by_hand(optimizer):
    """d_in = d_out = 1: four numbers (p1, p2, q1, q2), written out."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=7)
    y = 0.8 * x + 0.1 * rng.normal(size=7)
    eta, su, sv, steps = 0.15, 1.3, 0.7, 12
    p1, p2, q1, q2 = su, 0.0, 0.0, sv
    losses = []
    if optimizer == "gd":
        batches = [[np.arange(7)] for _ in range(steps)]
    else:
        batches = [[[i] for i in order] for order in sgd_orders(5, 7, steps)]
    for batch in batches:
        w = p1 * q1 + p2 * q2
        losses.append(0.5 * np.mean((w * x - y) ** 2))
        for idx in batch:
            w = p1 * q1 + p2 * q2
            g = np.mean((w * x[idx] - y[idx]) * x[idx])
            p1, p2, q1, q2 = (
                p1 - eta * q1 * g,
                p2 - eta * q2 * g,
                q1 - eta * p1 * g,
                q2 - eta * p2 * g,
            )
    est = MuPLinearRegressor(
        n_steps=steps,
        learning_rate=eta,
        sigma_u=su,
        sigma_v=sv,
        optimizer=optimizer,
        random_state=5,
    ).fit(x[:, None], y)
    np.testing.assert_allclose(est.P_, [[p1], [p2]], rtol=1e-13)
    np.testing.assert_allclose(est.Q_, [[q1], [q2]], rtol=1e-13)
    np.testing.assert_allclose(est.coef_, [p1 * q1 + p2 * q2], rtol=1e-13)
    np.testing.assert_allclose(est.feature_metric_, [[p1**2 + p2**2]], rtol=1e-13)
    np.testing.assert_allclose(est.loss_curve_, losses, rtol=1e-13)
    np.testing.assert_allclose(
        est.predict([[2.0]]), [2.0 * (p1 * q1 + p2 * q2)], rtol=1e-13
    )
    assert est.n_iter_ == steps
    assert est.feature_movement_ == pytest.approx(abs(p1**2 + p2**2 - su**2) / su**2)


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_limit_is_the_reduction_with_identity_gram(data, optimizer):
    X, Y, _ = data
    eta, steps = 0.07, 15
    orders = sgd_orders(2, len(X), steps) if optimizer == "sgd" else None
    A = np.sqrt(5) * np.eye(5)  # C = A^T A / n = I (n = D = 5): the limit
    outs, Ks, P, Q = wishart_reduction(X, Y, A, 1.2, 0.8, eta, steps, orders)
    est = MuPLinearRegressor(
        n_steps=steps,
        learning_rate=eta,
        sigma_u=1.2,
        sigma_v=0.8,
        optimizer=optimizer,
        random_state=2,
    ).fit(X, Y)
    np.testing.assert_allclose(est.predict(X), outs[-1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.feature_metric_, Ks[-1], rtol=1e-12)
    np.testing.assert_allclose(est.P_, P, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(est.Q_, Q, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_finite_width_exact_reduction(data, optimizer):
    """A literal abc-form net equals the (P, Q, C) recursion at finite width,
    and so does train_finite_linear_network."""
    X, Y, X_test = data
    n, eta, steps, su, sv = 96, 0.1, 20, 1.0, 1.0
    orders = sgd_orders(4, len(X), steps) if optimizer == "sgd" else None
    w1, w2 = draw_abc_mup(n, 3, 2, su, sv, seed=11)
    abc_out, W1 = abc_mup_net(X, Y, w1, w2, eta, steps, orders)
    # U_0 = sigma_u Z_u, n V_0^T = sigma_v Z_v
    A = np.hstack([np.sqrt(n) * w1 / su, np.sqrt(n) * w2.T / sv])
    red_out, red_K, _, _ = wishart_reduction(X, Y, A, su, sv, eta, steps, orders)
    np.testing.assert_allclose(abc_out, red_out, rtol=0, atol=1e-12)
    np.testing.assert_allclose(W1.T @ W1 / n, red_K[-1], rtol=0, atol=1e-12)

    net = train_finite_linear_network(
        X,
        Y,
        n,
        n_steps=steps,
        learning_rate=eta,
        optimizer=optimizer,
        random_state=7,
        sgd_random_state=4,
        X_eval=X_test,
    )
    w1 = net.W1_init / np.sqrt(n)
    w2 = net.W2_init * np.sqrt(n)
    abc_out, W1 = abc_mup_net(X, Y, w1, w2, eta, steps, orders, X_eval=X_test)
    np.testing.assert_allclose(net.outputs, abc_out, rtol=0, atol=1e-12)
    np.testing.assert_allclose(net.predict(X_test), abc_out[-1], atol=1e-12)
    np.testing.assert_allclose(net.feature_metric, W1.T @ W1 / n, atol=1e-12)
    np.testing.assert_allclose(
        net.feature_kernel(X_test, X), X_test @ W1.T @ W1 @ X.T / n, atol=1e-12
    )


# ------------------------------------------------ convergence in the width


def test_mup_width_convergence(data):
    """Literal μP nets approach the estimator with error ~ width^(-1/2)."""
    X, Y, X_test = data
    eta, steps = 0.1, 20
    lim, est = limit_outputs(X, Y, X_test, steps, learning_rate=eta)
    widths = np.array([256, 1024, 4096, 16384])
    err, metric_err = [], []
    for n in widths:
        e, m = [], []
        for seed in range(6):
            w1, w2 = draw_abc_mup(n, 3, 2, 1.0, 1.0, seed=100 + seed)
            outs, W1 = abc_mup_net(X, Y, w1, w2, eta, steps, X_eval=X_test)
            e.append(np.abs(outs - lim).max())
            m.append(np.abs(W1.T @ W1 / n - est.feature_metric_).max())
        err.append(np.mean(e))
        metric_err.append(np.mean(m))
    slope = np.polyfit(np.log(widths), np.log(err), 1)[0]
    assert -0.7 < slope < -0.35, (slope, err)
    assert err[-1] < 0.06  # outputs are up to ~3
    m_slope = np.polyfit(np.log(widths), np.log(metric_err), 1)[0]
    assert -0.75 < m_slope < -0.3, (m_slope, metric_err)
    assert metric_err[-1] < 0.04
    # and the features really moved: M_20 is far from M_0 = I
    assert est.feature_movement_ > 0.3
    assert np.abs(np.diag(est.feature_metric_) - 1).max() > 0.5


def test_mup_sgd_width_convergence(data):
    X, Y, X_test = data
    eta, steps = 0.05, 10
    orders = sgd_orders(3, len(X), steps)
    lim, _ = limit_outputs(
        X, Y, X_test, steps, learning_rate=eta, optimizer="sgd", random_state=3
    )
    err = []
    for n in (256, 16384):
        e = []
        for seed in range(4):
            w1, w2 = draw_abc_mup(n, 3, 2, 1.0, 1.0, seed=200 + seed)
            outs, _ = abc_mup_net(X, Y, w1, w2, eta, steps, orders, X_eval=X_test)
            e.append(np.abs(outs - lim).max())
        err.append(np.mean(e))
    # a factor 64 in width: ~8x smaller error
    assert 4 < err[0] / err[1] < 16, err
    assert err[1] < 0.06


def test_mup_trainer_approaches_limit(data):
    X, Y, X_test = data
    lim = MuPLinearRegressor(n_steps=20, learning_rate=0.1, sigma_u=1.5, sigma_v=0.5)
    lim.fit(X, Y)
    err = []
    for n in (256, 16384):
        nets = [
            train_finite_linear_network(
                X,
                Y,
                n,
                n_steps=20,
                learning_rate=0.1,
                sigma_u=1.5,
                sigma_v=0.5,
                random_state=s,
            )
            for s in range(4)
        ]
        err.append(
            np.mean(
                [np.abs(t.predict(X_test) - lim.predict(X_test)).max() for t in nets]
            )
        )
        movement = np.mean([t.feature_movement for t in nets])
    assert err[1] < err[0] / 4
    assert movement == pytest.approx(lim.feature_movement_, rel=0.1)


def test_ntk_features_frozen_and_kernel_gd(data):
    """NTP nets: outputs approach kernel GD with Theta = 2 x.x'/d_in, and the
    feature kernel stays at its initial value (the μP features move)."""
    X, Y, _ = data
    eta, steps = 0.1, 20
    err, moved = [], []
    for n in (256, 4096, 16384):
        e, k = [], []
        for seed in range(4):
            rng = np.random.default_rng(300 + seed)
            U, V = rng.normal(size=(n, 3)), rng.normal(size=(2, n))
            outs, dK = ntp_net(X, Y, U, V, eta, steps)
            e.append(np.abs(outs - kernel_gd(X, Y, outs[0], eta, steps)).max())
            k.append(dK)
        err.append(np.mean(e))
        moved.append(np.mean(k))
    assert err[2] < err[0] / 4 and err[2] < 0.06, err
    assert moved[2] < moved[0] / 8 and moved[2] < 1e-3, moved

    # the library's NTK trainer is the same network
    net = train_finite_linear_network(
        X,
        Y,
        512,
        parameterization="ntk",
        n_steps=steps,
        learning_rate=eta,
        random_state=1,
    )
    U = net.W1_init * np.sqrt(3)
    V = net.W2_init * np.sqrt(512)
    outs, _ = ntp_net(X, Y, U, V, eta, steps)
    np.testing.assert_allclose(net.outputs, outs, atol=1e-12)
    assert net.feature_movement < 0.02
    mup = train_finite_linear_network(
        X, Y, 512, n_steps=steps, learning_rate=eta, random_state=1
    )
    assert mup.feature_movement > 0.3


@pytest.mark.slow
@pytest.mark.parametrize(
    "sigma_u, sigma_v, optimizer, eta",
    [(1.0, 1.0, "gd", 0.1), (1.5, 0.5, "gd", 0.1), (1.0, 1.0, "sgd", 0.05)],
)
def test_width_convergence_table(data, sigma_u, sigma_v, optimizer, eta):
    """The full verification table: widths 256..16384, 8 seeds, max over seeds;
    sqrt(width) * error stays flat."""
    X, Y, X_test = data
    steps = 20
    orders = sgd_orders(0, len(X), steps) if optimizer == "sgd" else None
    lim, est = limit_outputs(
        X,
        Y,
        X_test,
        steps,
        learning_rate=eta,
        sigma_u=sigma_u,
        sigma_v=sigma_v,
        optimizer=optimizer,
        random_state=0,
    )
    widths = np.array([256, 1024, 4096, 16384])
    err, metric_err = [], []
    for n in widths:
        e, m = [], []
        for seed in range(8):
            w1, w2 = draw_abc_mup(n, 3, 2, sigma_u, sigma_v, seed=400 + seed)
            outs, W1 = abc_mup_net(X, Y, w1, w2, eta, steps, orders, X_eval=X_test)
            e.append(np.abs(outs - lim).max())
            m.append(np.abs(W1.T @ W1 / n - est.feature_metric_).max())
        err.append(max(e))
        metric_err.append(max(m))
    scaled = np.sqrt(widths) * np.array(err)
    assert scaled.max() / scaled.min() < 2.0, scaled
    assert err[-1] < 0.08 and metric_err[-1] < 0.1, (err, metric_err)
    assert metric_err[-1] < metric_err[0] / 4


# ---------------------------------------------------------------- the API


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
@pytest.mark.parametrize("learning_rate", ["auto", 0.05])
def test_partial_fit_continues_fit(data, optimizer, learning_rate):
    X, Y, X_test = data
    params = dict(learning_rate=learning_rate, optimizer=optimizer, random_state=0)
    long = MuPLinearRegressor(n_steps=12, **params).fit(X, Y)
    short = MuPLinearRegressor(n_steps=5, **params).fit(X, Y)
    for _ in range(7):
        short.partial_fit(X, Y)
    np.testing.assert_array_equal(short.predict(X_test), long.predict(X_test))
    np.testing.assert_array_equal(short.loss_curve_, long.loss_curve_)
    assert short.n_iter_ == long.n_iter_ == 12
    # starting from nothing
    fresh = MuPLinearRegressor(**params)
    for _ in range(12):
        fresh.partial_fit(X, Y)
    np.testing.assert_array_equal(fresh.P_, long.P_)


def test_fitted_attributes(data):
    X, Y, X_test = data
    est = MuPLinearRegressor(n_steps=30, sigma_u=0.7).fit(X, Y)
    D = 5
    assert est.P_.shape == (D, 3) and est.Q_.shape == (D, 2)
    assert est.coef_.shape == (2, 3) and est.n_outputs_ == 2
    np.testing.assert_allclose(est.coef_, est.Q_.T @ est.P_)
    np.testing.assert_allclose(est.predict(X_test), X_test @ est.P_.T @ est.Q_)
    M = est.P_.T @ est.P_
    np.testing.assert_allclose(est.feature_metric_, M)
    M0 = 0.49 * np.eye(3)
    assert est.feature_movement_ == pytest.approx(
        np.linalg.norm(M - M0) / np.linalg.norm(M0)
    )
    np.testing.assert_allclose(est.feature_kernel(X_test, X), X_test @ M @ X.T)
    K = est.feature_kernel(X_test)
    np.testing.assert_allclose(K, X_test @ M @ X_test.T, atol=1e-12)
    assert np.linalg.eigvalsh(K).min() > -1e-10
    assert len(est.loss_curve_) == 30 and est.loss_curve_[-1] < est.loss_curve_[0]
    # before training: f = 0 and K = sigma_u^2 x.x'
    est0 = MuPLinearRegressor(n_steps=0, sigma_u=0.7, sigma_v=1.3).fit(X, Y)
    np.testing.assert_array_equal(
        est0.P_, np.vstack([0.7 * np.eye(3), np.zeros((2, 3))])
    )
    np.testing.assert_array_equal(
        est0.Q_, np.vstack([np.zeros((3, 2)), 1.3 * np.eye(2)])
    )
    np.testing.assert_array_equal(est0.predict(X_test), 0.0)
    np.testing.assert_allclose(est0.feature_kernel(X_test), 0.49 * X_test @ X_test.T)
    assert est0.feature_movement_ == 0.0


def test_one_output_shapes(data):
    X, Y, X_test = data
    y = Y[:, 0]
    est1 = MuPLinearRegressor(n_steps=10).fit(X, y)
    est2 = MuPLinearRegressor(n_steps=10).fit(X, y[:, None])
    assert est1.predict(X_test).shape == (10,) and est1.coef_.shape == (3,)
    assert est2.predict(X_test).shape == (10, 1) and est2.coef_.shape == (1, 3)
    np.testing.assert_array_equal(est1.predict(X_test), est2.predict(X_test)[:, 0])


def test_auto_learning_rate(data):
    X, Y, _ = data
    N = len(X)
    lam = np.linalg.norm(X, 2) ** 2 / N
    cross = np.linalg.norm(X.T @ Y / N, 2)
    est = MuPLinearRegressor(sigma_u=1.5, sigma_v=0.5, n_steps=1).fit(X, Y)
    assert est.learning_rate_ == pytest.approx(1 / (lam * 2.5 + 2 * cross))
    rx, ry = np.linalg.norm(X, axis=1), np.linalg.norm(Y, axis=1)
    sgd = MuPLinearRegressor(optimizer="sgd", n_steps=1, random_state=0).fit(X, Y)
    assert sgd.learning_rate_ == pytest.approx(
        1 / (2 * (rx**2).max() + 2 * (rx * ry).max())
    )
    # large, unscaled targets still train (a fixed rate of 0.1 diverges)
    rng = np.random.default_rng(0)
    Xb = 3 * rng.uniform(size=(40, 5))
    yb = Xb @ (100 * rng.normal(size=5))
    auto = MuPLinearRegressor(n_steps=300).fit(Xb, yb)
    assert auto.score(Xb, yb) > 0.9
    with pytest.raises(ValueError, match="diverged at step"):
        MuPLinearRegressor(learning_rate=0.1).fit(Xb, yb)


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"optimizer": "adam"},
            "'optimizer' parameter of MuPLinearRegressor must be a str among "
            "{'gd', 'sgd'}. Got 'adam'",
        ),
        ({"learning_rate": "fast"}, "must be 'auto' or a float > 0. Got 'fast'"),
        (
            {"learning_rate": -1.0},
            "'learning_rate' parameter of MuPLinearRegressor must be a finite "
            "float > 0",
        ),
        (
            {"sigma_u": 0.0},
            "'sigma_u' parameter of MuPLinearRegressor must be a finite float > 0",
        ),
        (
            {"sigma_v": -1.0},
            "'sigma_v' parameter of MuPLinearRegressor must be a finite float >= 0",
        ),
        (
            {"n_steps": -1},
            "'n_steps' parameter of MuPLinearRegressor must be an int >= 0",
        ),
    ],
)
def test_invalid_parameters(data, params, message):
    X, Y, _ = data
    est = MuPLinearRegressor(**params)  # __init__ never raises
    with pytest.raises(ValueError, match=re.escape(message)):
        est.fit(X, Y)


def test_partial_fit_reads_new_learning_rate(data):
    X, Y, _ = data
    est = MuPLinearRegressor(n_steps=3, learning_rate=0.05).fit(X, Y)
    est.set_params(learning_rate=0.02)
    est.partial_fit(X, Y)
    assert est.learning_rate_ == 0.02
    # by hand: one step of rate 0.02 from the state after 3 steps of 0.05
    ref = MuPLinearRegressor(n_steps=3, learning_rate=0.05).fit(X, Y)
    P, Q = ref.P_.copy(), ref.Q_.copy()
    G = (X @ P.T @ Q - Y).T @ X / len(X)
    np.testing.assert_allclose(est.P_, P - 0.02 * Q @ G, rtol=1e-14)
    np.testing.assert_allclose(est.Q_, Q - 0.02 * P @ G.T, rtol=1e-14)


def test_verbose(data, capsys):
    X, Y, _ = data
    est = MuPLinearRegressor(n_steps=4, verbose=2, learning_rate=0.1).fit(X, Y)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"Iteration {k}, loss = {est.loss_curve_[k - 1]:.8f}" for k in (2, 4)
    ]
    MuPLinearRegressor(n_steps=1, verbose=True).fit(X, Y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


def test_top_singular_value_power_iteration():
    from sknnk.feature_learning import _top_singular_value

    rng = np.random.default_rng(0)
    A = rng.normal(size=(1100, 1050))
    A += 3 * np.sqrt(1100) * np.outer(rng.normal(size=1100), rng.normal(size=1050)) / 30
    assert _top_singular_value(A) == pytest.approx(np.linalg.norm(A, 2), rel=1e-8)
    B = rng.normal(size=(50, 8))
    assert _top_singular_value(B) == pytest.approx(np.linalg.norm(B, 2), rel=1e-12)


def test_partial_fit_rejects_other_outputs(data):
    X, Y, _ = data
    est = MuPLinearRegressor().partial_fit(X, Y)
    with pytest.raises(ValueError, match="trained with 2"):
        est.partial_fit(X, Y[:, :1])
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :2], Y)


def test_trainer_validation(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match="'width' parameter"):
        train_finite_linear_network(X, Y, 0)
    with pytest.raises(ValueError, match="'parameterization' parameter"):
        train_finite_linear_network(X, Y, 8, parameterization="sp")
    with pytest.raises(ValueError, match="same number of samples"):
        train_finite_linear_network(X, Y[:-1], 8)
    with pytest.raises(ValueError, match="X_eval"):
        train_finite_linear_network(X, Y, 8, X_eval=X[:, :2])
    net = train_finite_linear_network(X, Y[:, 0], 8, n_steps=3, random_state=0)
    assert net.outputs.shape == (4, 20, 1) and len(net.loss_curve) == 3
    assert repr(net) == "FiniteLinearNetwork(width=8, parameterization='mup')"
