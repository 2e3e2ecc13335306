"""InfiniteWidthRegressor / InfiniteWidthClassifier against independent references.

References: the matrix exponential (scipy.linalg.expm) and ODE integration
(scipy.integrate.solve_ivp) of the parameter-space dynamics of linear models
with explicit features, kernel (ridge) regression, the Gaussian-process
posterior of scikit-learn, the closed form of natural-gradient flow, and real
finite wide networks trained by full-batch gradient descent (slow).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from sknnk import (
    InfiniteWidthClassifier,
    InfiniteWidthRegressor,
    NNGPKernel,
    NTKKernel,
)
from sknnk.finite import FiniteMLP

ESTIMATORS = [
    InfiniteWidthRegressor(),
    InfiniteWidthRegressor(mode="nngp_posterior", ridge=1e-3),
    InfiniteWidthRegressor(optimizer="ngd", t=5.0, ridge=0.01, activation="erf"),
    InfiniteWidthClassifier(),
    InfiniteWidthClassifier(depth=2, activation="erf", t=50.0),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------- fixtures
def _data(seed=0, n=6, n_test=4, d=3, n_targets=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    Xs = rng.normal(size=(n_test, d))
    shape = (n,) if n_targets is None else (n, n_targets)
    y = rng.normal(size=shape)
    return X, Xs, y


def _joint_sqrt(G):
    """Rows R with R R^T = G (G symmetric PSD)."""
    lam, V = np.linalg.eigh(G)
    return V * np.sqrt(np.maximum(lam, 0.0))


def _features(kw, X, Xs):
    """Explicit features Phi (train), Phi_s (test) with Phi Phi_s^T = NTK."""
    Z = np.vstack([X, Xs])
    R = _joint_sqrt(NTKKernel(**kw)(Z))
    return R[: len(X)], R[len(X) :]


def _gaussian_moments(A, K_joint, n):
    """Mean map and covariance of f_t(X*) = g(X*) - A (g(X) - Y), g ~ N(0, K)."""
    Kxx, Kxs, Kss = K_joint[:n, :n], K_joint[:n, n:], K_joint[n:, n:]
    return Kss + A @ Kxx @ A.T - A @ Kxs - Kxs.T @ A.T


KW = [
    dict(depth=2, activation="relu", sigma_w=1.5, sigma_b=0.1),
    dict(depth=1, activation="erf", sigma_w=1.2, sigma_b=0.3),
    dict(depth=2, activation="tanh", sigma_w=1.3, sigma_b=0.2),
]


# ---------------------------------------------------------------- gradient flow
@pytest.mark.parametrize("kw", KW, ids=lambda k: k["activation"])
@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_gradient_flow_matches_parameter_space_expm(kw, ridge):
    """Mean and covariance vs expm of the ODE of a linear model in parameters.

    f(x) = g(x) + phi(x) . u with u(0) = 0 and g ~ GP(0, NNGP): the linearised
    wide network. du/dt = -eta [Phi^T (f(X) - Y) / N + ridge u], so
    u(t) = M_t (Y - g(X)), M_t the top-right block of expm(t [[-H, eta Phi^T
    / N], [0, 0]]).
    """
    X, Xs, y = _data()
    n, eta = len(X), 0.7
    Phi, Phi_s = _features(kw, X, Xs)
    P = Phi.shape[1]
    K_joint = NNGPKernel(**kw)(np.vstack([X, Xs]))
    H = eta * (Phi.T @ Phi / n + ridge * np.eye(P))
    block = np.zeros((P + n, P + n))
    block[:P, :P] = -H
    block[:P, P:] = eta * Phi.T / n
    reg = InfiniteWidthRegressor(**kw, learning_rate=eta, ridge=ridge).fit(X, y)
    times = np.array([0.3, 5.0, 80.0])
    mean, cov = reg.predict(Xs, t=times, return_cov=True)
    _, std = reg.predict(Xs, t=times, return_std=True)
    for j, t in enumerate(times):
        A = Phi_s @ expm(t * block)[:P, P:]
        ref_cov = _gaussian_moments(A, K_joint, n)
        scale = np.abs(ref_cov).max()
        assert_allclose(mean[j], A @ y, rtol=1e-9, atol=1e-10 * np.abs(y).max())
        assert_allclose(cov[j], ref_cov, rtol=1e-9, atol=1e-10 * scale)
        assert_allclose(std[j], np.sqrt(np.diag(ref_cov)), rtol=1e-7, atol=1e-8)


def test_linear_network_with_explicit_weights():
    """depth=0 is a linear model phi(x) = (sw x / sqrt(d), sb) with w0 ~ N(0, I).

    Weights, not functions: w_t = w0 + M_t (Y - Phi w0), so f_t(X*) =
    Phi_s w0 + Phi_s M_t (Y - Phi w0) with covariance B B^T, B = Phi_s - Phi_s M_t
    Phi, and mean Phi_s M_t Y (M_t from expm as above).
    """
    X, Xs, y = _data(seed=3, n=5, d=4)
    sw, sb, eta, ridge = 1.3, 0.4, 0.5, 0.02
    n, d = X.shape

    def feats(Z):
        return np.hstack([sw * Z / np.sqrt(d), np.full((len(Z), 1), sb)])

    Phi, Phi_s = feats(X), feats(Xs)
    P = Phi.shape[1]
    block = np.zeros((P + n, P + n))
    block[:P, :P] = -eta * (Phi.T @ Phi / n + ridge * np.eye(P))
    block[:P, P:] = eta * Phi.T / n
    reg = InfiniteWidthRegressor(
        depth=0, sigma_w=sw, sigma_b=sb, learning_rate=eta, ridge=ridge
    ).fit(X, y)
    for t in (0.0, 2.0, 30.0, np.inf):
        if np.isinf(t):  # the ODE's fixed point: ridge regression on features
            M = np.linalg.solve(Phi.T @ Phi / n + ridge * np.eye(P), Phi.T / n)
        else:
            M = expm(t * block)[:P, P:]
        B = Phi_s - Phi_s @ M @ Phi
        mean, cov = reg.predict(Xs, t=t, return_cov=True)
        assert_allclose(mean, Phi_s @ M @ y, rtol=1e-9, atol=1e-12)
        assert_allclose(cov, B @ B.T, rtol=1e-8, atol=1e-12)


def test_singular_ntk_finite_time_without_inverse():
    """Exact duplicates make Theta singular; finite-t predictions need no inverse.

    Reference: A_t = Theta_* int_0^t (eta/N) exp(-eta Theta s / N) ds, the
    top-right block of expm(t [[-eta Theta / N, eta I / N], [0, 0]]).
    """
    X, Xs, y = _data(seed=5, n=7)
    X[3] = X[1]
    X[5] = X[1] * (1 + 1e-12)  # duplicate up to rounding
    y[3] = y[5] = y[1]
    kw = KW[0]
    n, eta = len(X), 0.5
    theta = NTKKernel(**kw)(X)
    assert np.linalg.cond(theta) > 1e12
    theta_s = NTKKernel(**kw)(Xs, X)
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = -eta * theta / n
    block[:n, n:] = eta * np.eye(n) / n
    reg = InfiniteWidthRegressor(**kw, learning_rate=eta).fit(X, y)
    for t in (0.1, 3.0, 100.0):
        A = theta_s @ expm(t * block)[:n, n:]
        assert_allclose(reg.predict(Xs, t=t), A @ y, rtol=1e-8, atol=1e-9)
        f_train = (np.eye(n) - expm(-eta * theta * t / n)) @ y
        assert_allclose(reg.predict(X, t=t), f_train, rtol=1e-8, atol=1e-9)
    # t = inf: pseudo-inverse, finite and interpolating the consistent labels
    assert_allclose(reg.predict(X), y, atol=1e-6)
    mean_inf, std_inf = reg.predict(Xs, t=np.inf, return_std=True)
    assert np.all(np.isfinite(mean_inf)) and np.all(std_inf >= 0)
    assert_allclose(reg.predict(Xs, t=1e9), mean_inf, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw", KW, ids=lambda k: k["activation"])
def test_infinite_time_is_kernel_regression(kw):
    X, Xs, y = _data(seed=1, n=10, n_targets=2)
    theta = NTKKernel(**kw)
    reg = InfiniteWidthRegressor(**kw).fit(X, y)
    expected = theta(Xs, X) @ np.linalg.solve(theta(X), y)
    assert_allclose(reg.predict(Xs), expected, rtol=1e-8, atol=1e-10)
    assert_allclose(reg.predict(X), y, rtol=1e-8, atol=1e-9)
    # the covariance of MATH.md section 5 at t = inf
    A = theta(Xs, X) @ np.linalg.inv(theta(X))
    K = NNGPKernel(**kw)
    cov = K(Xs) + A @ K(X) @ A.T - A @ K(X, Xs) - K(Xs, X) @ A.T
    _, got = reg.predict(Xs, return_cov=True)
    assert got.shape == (len(Xs), len(Xs), 2)
    assert_allclose(got[..., 0], cov, rtol=1e-7, atol=1e-9)
    assert_allclose(got[..., 1], cov)


@pytest.mark.parametrize("ridge", [1e-3, 0.1])
def test_infinite_time_with_ridge_is_kernel_ridge(ridge):
    X, Xs, y = _data(seed=2, n=12)
    kw = KW[1]
    reg = InfiniteWidthRegressor(**kw, ridge=ridge).fit(X, y)
    krr = KernelRidge(alpha=len(X) * ridge, kernel=NTKKernel(**kw)).fit(X, y)
    assert_allclose(reg.predict(Xs), krr.predict(Xs), rtol=1e-9, atol=1e-12)
    # the finite-t formula is continuous at infinity
    assert_allclose(reg.predict(Xs, t=1e7), krr.predict(Xs), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- natural gradient
def test_ngd_closed_form():
    """A_t^NGD = (1 - exp(-eta t)) Theta_* Theta^-1 (MATH.md section 5)."""
    X, Xs, y = _data(seed=4, n=8)
    kw, eta = KW[2], 0.3
    ngd = InfiniteWidthRegressor(**kw, optimizer="ngd", learning_rate=eta).fit(X, y)
    gd = InfiniteWidthRegressor(**kw, learning_rate=eta).fit(X, y)
    theta, K = NTKKernel(**kw), NNGPKernel(**kw)
    A_inf = theta(Xs, X) @ np.linalg.inv(theta(X))
    times = np.array([0.0, 0.5, 2.0, 9.0])
    mean, cov = ngd.predict(Xs, t=times, return_cov=True)
    for j, t in enumerate(times):
        A = (1 - np.exp(-eta * t)) * A_inf
        assert_allclose(mean[j], A @ y, rtol=1e-8, atol=1e-10)
        ref = K(Xs) + A @ K(X) @ A.T - A @ K(X, Xs) - K(Xs, X) @ A.T
        assert_allclose(cov[j], ref, rtol=1e-7, atol=1e-9)
        # training residual decays at one rate in every eigendirection
        assert_allclose(
            ngd.predict(X, t=t), (1 - np.exp(-eta * t)) * y, rtol=1e-8, atol=1e-9
        )
    assert_allclose(ngd.predict(Xs, t=np.inf), gd.predict(Xs, t=np.inf), rtol=1e-10)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_ngd_matches_ode_with_pseudo_inverse_fisher(ridge):
    """Integrate du/dt = -eta F^+ (grad L + ridge u), F = Phi^T Phi / N, P > N.

    u = M_t (Y - g(X)) with dM/dt = -eta F^+ [(Phi^T Phi / N + ridge) M -
    Phi^T / N], M(0) = 0; A_t = Phi_s M_t.
    """
    X, Xs, y = _data(seed=6, n=6)
    kw, eta = KW[0], 0.8
    n = len(X)
    Phi, Phi_s = _features(kw, X, Xs)
    P = Phi.shape[1]
    F_pinv = np.linalg.pinv(Phi.T @ Phi / n, hermitian=True)
    lin = -eta * F_pinv @ (Phi.T @ Phi / n + ridge * np.eye(P))
    src = eta * F_pinv @ Phi.T / n

    def rhs(_, m):
        return (lin @ m.reshape(P, n) + src).ravel()

    times = [0.3, 2.0, 9.0]
    sol = solve_ivp(
        rhs, (0, times[-1]), np.zeros(P * n), method="DOP853", t_eval=times,
        rtol=1e-12, atol=1e-14,
    )  # fmt: skip
    K_joint = NNGPKernel(**kw)(np.vstack([X, Xs]))
    reg = InfiniteWidthRegressor(
        **kw, optimizer="ngd", learning_rate=eta, ridge=ridge
    ).fit(X, y)
    mean, cov = reg.predict(Xs, t=times, return_cov=True)
    for j in range(len(times)):
        A = Phi_s @ sol.y[:, j].reshape(P, n)
        assert_allclose(mean[j], A @ y, rtol=1e-8, atol=1e-9)
        assert_allclose(cov[j], _gaussian_moments(A, K_joint, n), rtol=1e-7, atol=1e-8)


# ---------------------------------------------------------------- NNGP posterior
@pytest.mark.parametrize("ridge", [1e-3, 0.2])
def test_nngp_posterior_matches_gaussian_process(ridge):
    X, Xs, y = _data(seed=7, n=10)
    kw = KW[1]
    n = len(X)
    gpr = GaussianProcessRegressor(NNGPKernel(**kw), alpha=n * ridge, optimizer=None)
    gpr.fit(X, y)
    reg = InfiniteWidthRegressor(**kw, mode="nngp_posterior", ridge=ridge).fit(X, y)
    m_ref, c_ref = gpr.predict(Xs, return_cov=True)
    m, c = reg.predict(Xs, return_cov=True)
    assert_allclose(m, m_ref, rtol=1e-9, atol=1e-11)
    assert_allclose(c, c_ref, rtol=1e-7, atol=1e-10)
    _, s = reg.predict(Xs, return_std=True)
    assert_allclose(s, gpr.predict(Xs, return_std=True)[1], rtol=1e-7, atol=1e-9)
    # the posterior does not depend on t: a time axis just repeats it
    assert_allclose(reg.predict(Xs, t=[0.0, 3.0]), np.stack([m, m]))


def test_nngp_posterior_noise_free_interpolates():
    X, Xs, y = _data(seed=8, n=9)
    reg = InfiniteWidthRegressor(depth=3, mode="nngp_posterior").fit(X, y)
    mean, std = reg.predict(X, return_std=True)
    assert_allclose(mean, y, atol=1e-7)
    assert_allclose(std, 0.0, atol=1e-5)


def test_readout_only_training_limit_is_nngp_posterior():
    """Gradient flow with Theta = K (only the readout trained) ends at the GP
    posterior: at t = inf the ensemble covariance equals the posterior one."""
    X, Xs, y = _data(seed=9, n=8)
    kw = dict(depth=0, sigma_w=1.1, sigma_b=0.4)  # depth 0: NTK == NNGP
    gf = InfiniteWidthRegressor(**kw).fit(X[:, :2], y)  # d=2 < N: singular K
    post = InfiniteWidthRegressor(**kw, mode="nngp_posterior").fit(X[:, :2], y)
    m1, c1 = gf.predict(Xs[:, :2], return_cov=True)
    m2, c2 = post.predict(Xs[:, :2], return_cov=True)
    assert_allclose(m1, m2, rtol=1e-8, atol=1e-10)
    assert_allclose(c1, c2, atol=1e-9)


# ---------------------------------------------------------------- API details
def test_shapes_and_time_axis():
    X, Xs, y = _data(seed=10, n=7, n_targets=3)
    reg = InfiniteWidthRegressor(t=4.0).fit(X, y)
    assert reg.predict(Xs).shape == (4, 3)
    m, s = reg.predict(Xs, t=[0.0, 1.0], return_std=True)
    assert m.shape == s.shape == (2, 4, 3)
    m, c = reg.predict(Xs, t=[0.0, 1.0], return_cov=True)
    assert c.shape == (2, 4, 4, 3)
    assert_allclose(m[0], 0.0)
    assert_allclose(c[0][..., 0], NNGPKernel()(Xs))  # prior at t = 0
    assert_allclose(reg.predict(Xs), reg.predict(Xs, t=4.0))
    reg1 = InfiniteWidthRegressor().fit(X, y[:, 0])
    assert reg1.predict(Xs, t=[1, 2, 3]).shape == (3, 4)
    assert reg1.predict(Xs, return_std=True)[1].shape == (4,)
    # one eigendecomposition serves all times and targets
    assert reg.eigenvalues_.shape == (7,)
    assert reg.eigenvectors_.shape == (7, 7)
    assert np.all(np.diff(reg.eigenvalues_) >= 0)
    # multi-output = independent single-output fits
    for k in range(3):
        single = InfiniteWidthRegressor(t=4.0).fit(X, y[:, k])
        assert_allclose(reg.predict(Xs)[:, k], single.predict(Xs))


def test_gd_training_residual_is_monotone():
    X, _, y = _data(seed=11, n=15)
    reg = InfiniteWidthRegressor(depth=2).fit(X, y)
    times = np.geomspace(0.1, 1e4, 30)
    resid = np.linalg.norm(reg.predict(X, t=times) - y, axis=1)
    assert np.all(np.diff(resid) <= 1e-12)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(mode="mcmc"), "'mode' parameter of InfiniteWidthRegressor"),
        (dict(optimizer="adam"), "'optimizer' parameter"),
        (dict(t=-1.0), "'t' parameter"),
        (dict(ridge=-0.1), "'ridge' parameter"),
        (dict(learning_rate=0.0), "'learning_rate' parameter"),
        (dict(activation="relu6"), "'activation' parameter"),
        (dict(depth=-1), "'depth' parameter"),
        (dict(pinv_rtol=2.0), "'pinv_rtol' parameter"),
    ],
)
def test_parameter_validation(params, match):
    X, _, y = _data()
    with pytest.raises((ValueError, TypeError), match=match):
        InfiniteWidthRegressor(**params).fit(X, y)


def test_predict_errors():
    X, Xs, y = _data()
    reg = InfiniteWidthRegressor().fit(X, y)
    with pytest.raises(RuntimeError, match="At most one"):
        reg.predict(Xs, return_std=True, return_cov=True)
    with pytest.raises(ValueError, match="times >= 0"):
        reg.predict(Xs, t=[-1.0])
    with pytest.raises(ValueError, match="1-D array"):
        reg.predict(Xs, t=np.ones((2, 2)))


def test_classifier():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 2))
    labels = np.where(X[:, 0] * X[:, 1] > 0, "same", "diff")
    clf = InfiniteWidthClassifier(depth=2, sigma_w=1.5).fit(X, labels)
    assert list(clf.classes_) == ["diff", "same"]
    assert clf.score(X, labels) == 1.0
    dec = clf.decision_function(X)
    assert dec.shape == (30,)
    assert np.all(clf.predict(X) == np.where(dec > 0, "same", "diff"))
    assert clf.predict(X, t=[1.0, 10.0]).shape == (2, 30)
    # the decision function is the regressor on one-hot (+-1 difference) targets
    reg = InfiniteWidthRegressor(depth=2, sigma_w=1.5, t=7.0).fit(
        X, (labels == "same").astype(float) - (labels == "diff")
    )
    assert_allclose(clf.decision_function(X, t=7.0), reg.predict(X), atol=1e-10)
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    clf3 = InfiniteWidthClassifier(ridge=1e-3).fit(X, y3)
    assert clf3.decision_function(X).shape == (30, 3)


# ---------------------------------------------------------------- finite networks
def _finite_ensemble(kw, X, y, Xs, steps, eta, n_networks, optimizer="gd", ridge=0.0):
    outs, chunk = [], 32
    for seed in range(0, n_networks, chunk):
        net = FiniteMLP(
            width=1024, n_networks=min(chunk, n_networks - seed), random_state=seed,
            **kw,
        )  # fmt: skip
        hist = net.train(
            X, y, n_steps=max(steps), learning_rate=eta, optimizer=optimizer,
            ridge=ridge, X_eval=Xs, eval_steps=steps,
        )  # fmt: skip
        outs.append(hist["outputs"][..., 0])
    return np.concatenate(outs, axis=1)  # (n_steps, n_networks, n_test)


FINITE_CASES = [
    # kw, optimizer, ridge, learning rate, steps, networks
    (dict(depth=1, activation="relu", sigma_w=1.5, sigma_b=0.2), "gd", 0.0, 0.05,
     [0, 20, 200, 800], 192),
    (dict(depth=1, activation="tanh", sigma_w=1.5, sigma_b=0.2), "gd", 0.01, 0.05,
     [0, 50, 400], 128),
    (dict(depth=1, activation="erf", sigma_w=1.5, sigma_b=0.2), "ngd", 0.0, 0.01,
     [0, 30, 150], 96),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "kw, optimizer, ridge, eta, steps, n_networks",
    FINITE_CASES,
    ids=["relu-gd", "tanh-gd-ridge", "erf-ngd"],
)
def test_finite_networks_trained_by_gd_match_ensemble(
    kw, optimizer, ridge, eta, steps, n_networks
):
    """Ensembles of width-1024 networks trained by full-batch (N)GD: their mean
    lies within a few standard errors of the prediction at t = steps, and their
    spread matches the predicted standard deviation."""
    rng = np.random.default_rng(100)
    X = rng.normal(size=(8, 3))
    y = np.sin(2 * X[:, 0]) + 0.5 * X[:, 1]
    Xs = rng.normal(size=(5, 3))
    outs = _finite_ensemble(kw, X, y, Xs, steps, eta, n_networks, optimizer, ridge)
    reg = InfiniteWidthRegressor(
        **kw, learning_rate=eta, optimizer=optimizer, ridge=ridge
    ).fit(X, y)
    mean, std = reg.predict(Xs, t=np.array(steps, float), return_std=True)
    emp_mean = outs.mean(axis=1)
    emp_std = outs.std(axis=1, ddof=1)
    z = (emp_mean - mean) / (emp_std / np.sqrt(outs.shape[1]))
    assert np.abs(z).max() < 4.0, z
    # sample std of n normal draws: relative error ~ 1/sqrt(2n) ~ 6%
    assert_allclose(emp_std, std, rtol=0.3)


@pytest.mark.slow
def test_each_deep_finite_network_follows_its_linearisation():
    """Per network, f_t(X*) = f_0(X*) - A_t (f_0(X) - Y) up to O(1/sqrt(width)).

    A_t (n_test x n_train) is read off the regressor fitted on Y = I. The
    deviation is much smaller than the spread over initialisations.
    """
    kw = dict(depth=2, activation="erf", sigma_w=1.4, sigma_b=0.2)
    rng = np.random.default_rng(101)
    X = rng.normal(size=(6, 3))
    y = np.cos(X[:, 0]) + X[:, 2]
    Xs = rng.normal(size=(4, 3))
    steps, eta = [0, 15, 60], 0.1
    net = FiniteMLP(width=1024, n_networks=4, random_state=7, **kw)
    Z = np.vstack([X, Xs])
    hist = net.train(X, y, n_steps=steps[-1], learning_rate=eta, X_eval=Z,
                     eval_steps=steps)  # fmt: skip
    f = hist["outputs"][..., 0]  # (steps, networks, train + test)
    f0_train, f0_test = f[0][:, : len(X)], f[0][:, len(X) :]
    eye = InfiniteWidthRegressor(**kw, learning_rate=eta).fit(X, np.eye(len(X)))
    A = eye.predict(Xs, t=np.array(steps, float))  # (steps, n_test, n_train)
    _, std = eye.predict(Xs, t=np.array(steps, float), return_std=True)
    for j in range(len(steps)):
        lin = f0_test - (f0_train - y) @ A[j].T
        err = np.abs(f[j][:, len(X) :] - lin)
        assert err.max() < 0.25 * std[j].max(), (j, err.max(), std[j].max())
