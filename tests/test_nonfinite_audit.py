"""No silent non-finite output from any public function (issue 13): the audit.

The kernels have their own scale tests (``test_numerics_scale.py``); this file
covers everything else public: the samplers, the estimators (including
predictions at times ``t``), :mod:`sknnk.finite`, :mod:`sknnk.signal_propagation`,
:mod:`sknnk.large_scale` and :mod:`sknnk.diagnostics`. Each input that returned
NaN, infinities or a wrong finite value is a regression test whose right value
comes from an independent reference: a closed form written out by hand (in
mpmath where double precision would overflow or cancel), ``scipy.linalg.expm``
of the training ODE, scikit-learn's ``KernelRidge`` on the kernel's Gram, or an
exact scaling law of a positively homogeneous network; or the exact error is
asserted. A sweep then asserts "finite, or a ValueError that names the fix,
and no numpy RuntimeWarning" over extreme but valid inputs.
"""

import contextlib
import math
import warnings

import mpmath as mp
import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge

from sknnk import (
    InfiniteWidthClassifier,
    InfiniteWidthRegressor,
    MuPLinearRegressor,
    NNGPKernel,
    NNGPSampler,
    NTKKernel,
    NTKSampler,
    diagnostics,
    finite,
    nystroem_error,
)
from sknnk import signal_propagation as sp
from sknnk._numerics import series
from sknnk.activations import Custom

mp.mp.dps = 50

RNG = np.random.default_rng(0)
X0 = RNG.normal(size=(6, 3))
Y0 = RNG.normal(size=6)
C = 2.0**500  # an exact power-of-two scale: |x| ~ 1e150


@contextlib.contextmanager
def _no_runtime_warning():
    """A context in which a numpy RuntimeWarning fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# ---------------------------------------------------------------- estimators
def test_gradient_flow_converged_at_large_eigenvalues():
    # eigenvalues ~1e300: eta * lam * t / N overflowed and the coefficient
    # (eta t / N) * phi1(inf) = big * 0 gave predictions 0 at t = 1e12
    X = X0 * 1e150
    reg = InfiniteWidthRegressor(depth=2).fit(X, Y0)
    with _no_runtime_warning():
        mean = reg.predict(X, t=[1.0, 1e12])
    # decay e^{-eta lam t / N} is complete: the fit interpolates (K X = y)
    np.testing.assert_allclose(mean, np.stack([Y0, Y0]), rtol=1e-8, atol=1e-8)


def test_huge_learning_rate_is_kernel_regression():
    # learning_rate * t overflowed to inf, inf * 0 = NaN predictions
    Xt = RNG.normal(size=(4, 3))
    reg = InfiniteWidthRegressor(depth=2, learning_rate=1e300).fit(X0, Y0)
    with _no_runtime_warning():
        mean = reg.predict(Xt, t=[0.0, 1.0, 1e12])
    K = NTKKernel(depth=2)
    ref = K(Xt, X0) @ np.linalg.solve(K(X0), Y0)
    np.testing.assert_allclose(mean[0], 0.0)
    np.testing.assert_allclose(mean[1:], np.stack([ref, ref]), rtol=1e-9)


@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_gradient_flow_matches_matrix_exponential(ridge):
    # the merged closed form c_i = -expm1(-eta t (ridge + lam_i / N)) /
    # (lam_i + N ridge) against the training ODE solved by expm:
    # df/dt = -eta (Theta / N) (f - y) - eta ridge f, f(0) = 0
    eta, N = 0.7, X0.shape[0]
    reg = InfiniteWidthRegressor(depth=2, learning_rate=eta, ridge=ridge).fit(X0, Y0)
    theta = NTKKernel(depth=2)(X0)
    A = eta * (theta / N + ridge * np.eye(N))
    b = eta * theta @ Y0 / N
    for t in (0.3, 5.0, 200.0):
        ref = (np.eye(N) - scipy.linalg.expm(-A * t)) @ np.linalg.solve(A, b)
        np.testing.assert_allclose(reg.predict(X0, t=t), ref, rtol=1e-9, atol=1e-12)


def test_tiny_ridge_on_duplicate_rows():
    # ridge = 1e-300: 1 / (lam + N ridge) ~ 1e299 on the null directions of the
    # duplicated rows amplified their round-off: t=inf predicted -4.3e283
    X = np.vstack([X0[:3], X0[:3]])
    reg = InfiniteWidthRegressor(depth=2, ridge=1e-300).fit(X, Y0)
    with _no_runtime_warning():
        mean, std = reg.predict(X[:3], t=[1e12, np.inf], return_std=True)
    # the interpolant of duplicated rows takes the mean of their targets
    ref = 0.5 * (Y0[:3] + Y0[3:])
    np.testing.assert_allclose(mean, np.stack([ref, ref]), rtol=1e-6)
    assert np.all(np.isfinite(std))


@pytest.mark.parametrize("t", [1e12, np.inf])
def test_natural_gradient_huge_ridge(t):
    # eta t (lam + N ridge) / lam ~ 1e313 overflowed (a RuntimeWarning); the
    # limit is kernel ridge regression with alpha = N ridge
    ridge, X = 1e300, X0
    reg = InfiniteWidthRegressor(depth=2, optimizer="ngd", ridge=ridge).fit(X, Y0)
    with _no_runtime_warning():
        mean = reg.predict(X, t=t)
    K = NTKKernel(depth=2)(X)
    ref = KernelRidge(alpha=X0.shape[0] * ridge, kernel="precomputed").fit(K, Y0)
    np.testing.assert_allclose(mean, ref.predict(K), rtol=1e-9)


def test_estimator_refuses_an_overflowing_gram(monkeypatch):
    # GELU's kernel overflowed at |x| ~ 1e150 (depth 2): the Gram had inf
    # entries and eigh raised "LinAlgError: Eigenvalues did not converge".
    # That Gram is finite now (the series' tail is formed without overflow,
    # test_numerics_scale; gelu itself takes its closed form there, so mish,
    # still a series at every variance, stands for it), so a kernel patched
    # to return inf stands for any Gram that overflows: the estimators must
    # refuse it with the message.
    X = X0 * 1e150
    est = InfiniteWidthRegressor(activation="mish", depth=2)
    series.reset_warnings()  # shown once per configuration and process
    with pytest.warns(UserWarning, match="did not converge"):
        assert np.isfinite(est.fit(X, Y0).predict(X)).all()

    def inf_gram(self, X, Y=None, eval_gradient=False):
        return np.full((len(X), len(X if Y is None else Y)), np.inf)

    for cls in (NNGPKernel, NTKKernel):
        monkeypatch.setattr(cls, "__call__", inf_gram)
    for est in (InfiniteWidthRegressor(activation="gelu", depth=2),
                InfiniteWidthClassifier(activation="gelu", depth=2)):  # fmt: skip
        with pytest.raises(ValueError, match="training Gram k.X, X.*standardize X"):
            est.fit(X, Y0 > 0)


def test_mup_auto_learning_rate_at_large_scale():
    # X^T Y / N overflowed: the "auto" rate was 1 / inf = 0 (no training)
    X, y = X0 * C, Y0 * C
    mup = MuPLinearRegressor(n_steps=0).fit(X, y)
    # by hand: 1 / (lambda_max(X^T X / N) (su^2 + sv^2) + 2 |X^T y / N|_2)
    n = X0.shape[0]
    lam = np.linalg.svd(X0, compute_uv=False)[0] ** 2 / n
    cross = np.linalg.norm(X0.T @ Y0[:, None] / n, 2)
    ref = 1.0 / (lam * 2.0 + 2.0 * cross) / C**2
    assert mup.learning_rate_ == pytest.approx(ref, rel=1e-12)


def test_mup_refuses_an_unrepresentable_rate():
    with pytest.raises(ValueError, match="learning_rate='auto' is not representable"):
        # the step ~ 1 / (|X|^2 + |X| |y|) ~ 1e320 overflows
        MuPLinearRegressor(n_steps=1).fit(X0 * 1e-160, Y0 * 1e-160)


# ---------------------------------------------------------------- finite
@pytest.mark.parametrize(
    "estimate, kw",
    [
        (finite.monte_carlo_nngp, dict(n_networks=5, width=16, method="gram")),
        (finite.monte_carlo_nngp, dict(n_networks=5, width=16, method="weights")),
        (finite.monte_carlo_ntk, dict(n_networks=3, width=8)),
    ],
    ids=["nngp-gram", "nngp-weights", "ntk"],
)
def test_monte_carlo_at_large_scale(estimate, kw):
    # the standard error squared the products ~1e300: inf
    # (4 points in 6 dimensions: full-rank covariances, whose square roots
    # scale exactly; a null eigenvalue's round-off would not)
    X = RNG.normal(size=(4, 6))
    with _no_runtime_warning():
        K, se = estimate(X * C, depth=2, sigma_b=0.0, random_state=0, **kw)
    K1, se1 = estimate(X, depth=2, sigma_b=0.0, random_state=0, **kw)
    # a bias-free ReLU network is positively homogeneous: f(cX) = c f(X), and
    # its NNGP and NTK estimates scale by c^2
    np.testing.assert_allclose(K, C**2 * K1, rtol=1e-10)
    np.testing.assert_allclose(se, C**2 * se1, rtol=1e-10)


def test_monte_carlo_mean_overflow_is_refused():
    # outputs ~1e160 are finite, their products ~1e320 are not
    with pytest.raises(ValueError, match="monte_carlo_nngp: NaN or infinite"):
        finite.monte_carlo_nngp(
            X0 * 1e160, n_networks=3, width=8, method="weights", random_state=0
        )


def test_sample_outputs_refuses_overflow():
    # x . x' ~ 1e320: the covariance was inf and eigh failed or returned NaN
    with pytest.raises(
        ValueError, match="covariance of the pre-activations of layer 0"
    ):
        finite.sample_outputs(X0 * 1e160, n_networks=2, width=8, random_state=0)


def test_finite_mlp_train_refuses_overflow_and_divergence():
    net = finite.FiniteMLP(width=16, depth=2, random_state=0)
    with pytest.raises(ValueError, match="at step 0 the initial network"):
        net.train(X0 * 1e160, Y0, n_steps=3)
    net = finite.FiniteMLP(width=16, depth=2, random_state=0).initialize(X0.shape[1])
    start = [W.copy() for W in net.weights_] + [b.copy() for b in net.biases_]
    with pytest.raises(ValueError, match="training diverged: lower 'learning_rate'"):
        net.train(X0, Y0, n_steps=60, learning_rate=1e3)
    # the diverged run leaves the network as it found it, and it still trains
    after = net.weights_ + net.biases_
    assert all(np.array_equal(a, b) for a, b in zip(start, after, strict=True))
    loss = net.train(X0, Y0, n_steps=5, learning_rate=0.1)["train_loss"]
    assert np.all(np.isfinite(loss))
    with pytest.raises(ValueError, match="y passed to FiniteMLP.train contains NaN"):
        net.train(X0, np.where(Y0 > 0, np.nan, Y0), n_steps=1)


def test_non_finite_activation_in_finite_networks_and_samplers():
    bad = Custom(lambda x: np.where(x > 8, np.nan, np.tanh(x)), name="nanact")
    X = X0 * 30
    for make in (
        lambda: NNGPSampler(n_components=64, activation=bad, random_state=0),
        lambda: NTKSampler(n_components=64, activation=bad, random_state=0),
    ):
        with pytest.raises(ValueError, match="NaN or infinite entries in the features"):
            make().fit_transform(X)
    net = finite.FiniteMLP(width=64, activation=bad, random_state=0).initialize(3)
    with pytest.raises(ValueError, match="make the activation finite"):
        net.predict(X)


@pytest.mark.parametrize("activation", ["erf", "gelu"])
def test_float32_sampler_without_overflow_warnings(activation):
    # exp(-x^2) of float32 pre-activations ~1e20 warned "overflow in square"
    X = (X0 * 1e18).astype(np.float32)
    s = NTKSampler(n_components=16, depth=2, activation=activation, dtype="float32")
    with _no_runtime_warning():
        Z = s.set_params(random_state=0).fit_transform(X)
    assert Z.dtype == np.float32 and np.all(np.isfinite(Z))


# ---------------------------------------------------------------- kernels (sin)
def _sin_dual(a, b, c):
    """E[sin u sin v] for the covariance [[a, c], [c, b]]: e^{-(a+b)/2} sinh c."""
    return mp.exp(-(a + b) / 2) * mp.sinh(c)


@pytest.mark.parametrize("scale", [1e-5, 1e-150])
def test_sin_kernel_at_small_scale(scale):
    # e^{-(a+b-2c)/2}/2 - e^{-(a+b+2c)/2}/2 cancelled: 6e-6 relative error at
    # |x| ~ 1e-5, off-diagonal entries 0 at 1e-150
    X = X0[:3] * scale
    K = NNGPKernel(activation="sin", sigma_w=1.0, sigma_b=0.0)(X)
    d = X.shape[1]
    ref = np.array(
        [
            [
                float(
                    _sin_dual(
                        sum(mp.mpf(v) ** 2 for v in xi) / d,
                        sum(mp.mpf(v) ** 2 for v in xj) / d,
                        sum(mp.mpf(u) * mp.mpf(v) for u, v in zip(xi, xj)) / d,
                    )
                )
                for xj in X
            ]
            for xi in X
        ]
    )
    norm = np.outer(np.sqrt(np.diag(ref)), np.sqrt(np.diag(ref)))  # no underflow
    assert np.max(np.abs(K - ref) / norm) < 1e-13


# ---------------------------------------------------------------- signal propagation
CS = np.array([-1.0, -0.5, 0.0, 0.3, 0.999, 1.0])


def _relu_cmap(c, q, sw2, sb2):
    """Correlation map of ReLU at variance q, by hand (arc-cosine kernel)."""
    c = mp.mpf(c)
    th = mp.acos(c)
    f = q * (mp.sin(th) + (mp.pi - th) * c) / (2 * mp.pi)
    return (sw2 * f + sb2) / (sw2 * q / 2 + sb2)


def test_correlation_map_at_huge_variance():
    # sw2 * F overflowed: inf / inf = NaN
    q, sw, sb = 1e300, 1e5, 0.3
    got = sp.correlation_map(CS, "relu", sw, sb, q=q)
    sw2, sb2, qm = mp.mpf(sw) ** 2, mp.mpf(sb) ** 2, mp.mpf(q)
    ref = np.array([float(_relu_cmap(c, qm, sw2, sb2)) for c in CS])
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_residual_correlation_map_at_huge_variance():
    # the branch variance B = sw2 V(q) + sb2 ~ 1e310 overflowed: NaN
    q, sw, sb, alpha = 1e300, 1e5, 0.3, 0.7
    got = sp.correlation_map(CS, "relu", sw, sb, q=q, residual=True, branch_scale=alpha)
    sw2, sb2, qm, a2 = mp.mpf(sw) ** 2, mp.mpf(sb) ** 2, mp.mpf(q), mp.mpf(alpha) ** 2
    B = sw2 * qm / 2 + sb2
    ref = [
        float((mp.mpf(c) * qm + a2 * B * _relu_cmap(c, qm, sw2, sb2)) / (qm + a2 * B))
        for c in CS
    ]
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-15)


def test_correlation_map_at_tiny_variance():
    # sw2 * F + sb2 underflowed to 0 (and the sin dual cancelled): 0 / 0 = NaN
    q, sw = 1e-300, 1e-5
    got = sp.correlation_map(CS, "sin", sw, 0.0, q=q)
    qm = mp.mpf(q)
    ref = [
        float(_sin_dual(qm, qm, mp.mpf(c) * qm) / (-mp.expm1(-2 * qm) / 2)) for c in CS
    ]
    np.testing.assert_allclose(got, ref, rtol=1e-14)


def test_length_map_refuses_overflow():
    with pytest.raises(ValueError, match="next variance .* overflows float64"):
        sp.length_map(1e300, "relu", 1e5)


@pytest.mark.parametrize("activation", ["elu", "selu"])
def test_elu_maps_at_tiny_variances(activation):
    # the ELU/SELU dual is accurate at every variance (was refused below
    # 1e-6). Near 0, lam * alpha * (e^x - 1) ~ lam * alpha * x, so at
    # q = 1e-150 the activation is the two-slope ReLU with slopes a = lam *
    # alpha (x < 0) and b = lam (x > 0), up to O(sqrt(q)) = 1e-75; its maps
    # by hand: V = (a^2 + b^2) / 2 q and
    # F = a b c + (b - a)^2 (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi)
    # SELU's constants from Klambauer et al. (2017)
    selu = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)
    alpha, lam = (1.0, 1.0) if activation == "elu" else selu
    a, b, c = lam * alpha, lam, 0.5
    v = (a * a + b * b) / 2
    k1 = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / (2 * math.pi)
    got_c = sp.correlation_map(c, activation, 1.0, 0.0, q=1e-150)
    assert got_c == pytest.approx((a * b * c + (b - a) ** 2 * k1) / v, rel=1e-14)
    got_q = sp.length_map(1e-150, activation, 1.0)
    assert got_q == pytest.approx(v * 1e-150, rel=1e-14)


@pytest.mark.parametrize("activation", ["gelu", "swish"])
def test_critical_point_without_a_critical_line(activation):
    # chi_1 < 1 up to where q* diverges: was a RuntimeError
    with pytest.raises(ValueError, match="no critical sigma_w .* jumps across 1"):
        sp.critical_point(activation, 0.3)


# ---------------------------------------------------------------- large scale
def test_nystroem_error_of_a_zero_gram():
    # 0 / 0 gave NaN; the zero Gram is reproduced exactly
    res = nystroem_error(
        NNGPKernel(sigma_b=0.0), np.zeros((30, 3)), n_components=[2, 4],
        n_samples=10, random_state=0,
    )  # fmt: skip
    np.testing.assert_array_equal(res.errors, 0.0)


def test_nystroem_error_at_large_scale():
    # the squares of K ~ 1e300 overflowed: NaN. A bias-free ReLU kernel is
    # homogeneous (K(cX) = c^2 K(X)) and the error relative: scale-free.
    X = np.random.default_rng(1).normal(size=(40, 3))
    kw = dict(n_components=[3, 6], n_samples=20, random_state=0)
    k = NNGPKernel(sigma_b=0.0)
    with _no_runtime_warning():
        big = nystroem_error(k, X * C, **kw).errors
    # by hand at unit scale (no eigenvalue near the 1e-12 clip there)
    perm = np.random.RandomState(0).permutation(40)
    E = X[perm[6:26]]
    Kee = k(E)
    for j, m in enumerate((3, 6)):
        Z = X[perm[:m]]
        R = Kee - k(E, Z) @ np.linalg.solve(k(Z), k(Z, E))
        w = (40 - 1) / (20 - 1)
        rd, kd = np.sum(np.diag(R) ** 2), np.sum(np.diag(Kee) ** 2)
        ref = math.sqrt(
            (rd + w * (np.sum(R * R) - rd)) / (kd + w * (np.sum(Kee**2) - kd))
        )
        assert big[j] == pytest.approx(ref, rel=1e-8)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # sklearn's
def test_dask_gram_refuses_a_non_finite_block():
    # scikit-learn's DotProduct overflows at |x| ~ 1e160: the blocks were inf
    pytest.importorskip("dask")
    from sklearn.gaussian_process.kernels import DotProduct

    from sknnk import dask_gram

    G = dask_gram(DotProduct(sigma_0=0.0), X0 * 1e160, chunks=256)
    with pytest.raises(ValueError, match="dask_gram: NaN or infinite entries"):
        G.compute()


# ---------------------------------------------------------------- diagnostics
def test_effective_rank_at_large_scale():
    # sum(lam**2) overflowed: NaN; by hand (4 + 1 + 1)^2 / (16 + 1 + 1) = 2
    res = diagnostics.generalization_diagnostics(
        X0[:3], Y0[:3], kernel=lambda X: C**2 * np.diag([4.0, 1.0, 1.0])
    )
    assert res.effective_rank == pytest.approx(2.0, rel=1e-15)


def test_complexity_without_overflow():
    # y^T K^-1 y = 3 * 2^800 / 2^-999 overflows; sqrt(2 * that / 3) = 2^900
    K = 2.0**-1000 * 2.0 * np.eye(3)
    value = diagnostics.complexity(K, np.full(3, 2.0**400))
    assert value == pytest.approx(2.0**900, rel=1e-14)


def test_training_residuals_huge_learning_rate():
    with _no_runtime_warning():
        r = diagnostics.training_residuals(
            np.eye(2), [1.0, 1.0], [0.0, 1.0, 1e12], 1e300
        )
    np.testing.assert_array_equal(r, [2.0, 0.0, 0.0])


# ---------------------------------------------------------------- the sweep
_TANH = Custom(np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, name="custom_tanh")
ACTIVATIONS = ["relu", "erf", "tanh", "gelu", "elu", "sign", _TANH]
SCALES = {
    "tiny": X0 * 1e-150,
    "huge": X0 * 1e150,
    "mixed": X0 * np.array([1e150, 1.0, 1e-150, 1e100, 1e-100, 1.0])[:, None],
    "zero": np.vstack([X0[:3], np.zeros((3, 3))]),
    "duplicates": np.vstack([X0[:3], X0[:3]]),
    "float32": X0.astype(np.float32),
}
#: words of which a clear refusal names at least one (a parameter or a fix)
_FIX_WORDS = ("standardize", "sigma_w", "sigma_b", "learning_rate", "ridge", "dtype",
              "activation", "depth", "q=", "rescale")  # fmt: skip


def _arrays(out):
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _arrays(o)]
    return [np.asarray(out, dtype=float)]


#: the sweeps reach variances where the series activations are inaccurate and
#: say so with a UserWarning; the sweeps test finiteness, not that accuracy
quiet_series = pytest.mark.filterwarnings("ignore:The Hermite series:UserWarning")


def finite_or_clear(call, *args, inf_ok=False, **kwargs):
    """``call(*args, **kwargs)`` returns only finite numbers (``inf_ok``: or
    infinities, e.g. an infinite depth scale) or raises a ValueError naming a
    fix; no numpy RuntimeWarning either way."""
    with _no_runtime_warning():
        try:
            out = call(*args, **kwargs)
        except ValueError as exc:
            msg = str(exc)
            assert any(w in msg for w in _FIX_WORDS), msg
            return
    for a in _arrays(out):
        assert not np.isnan(a).any()
        assert inf_ok or np.isfinite(a).all()


def _name(a):
    return a if isinstance(a, str) else "custom"


@quiet_series
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_name)
@pytest.mark.parametrize("Sampler", [NNGPSampler, NTKSampler])
def test_sweep_samplers(Sampler, activation, scale):
    X = SCALES[scale]
    for depth, dtype in ((0, "float64"), (2, "float64"), (2, "float32")):
        s = Sampler(n_components=16, depth=depth, activation=activation, dtype=dtype,
                    random_state=0)  # fmt: skip
        finite_or_clear(s.fit_transform, X)


TIMES = [0.0, 1e-12, 1.0, 1e12, np.inf]


@quiet_series
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_name)
def test_sweep_estimators(activation, scale):
    X = SCALES[scale]
    for kw in (
        dict(),
        dict(optimizer="ngd", ridge=1e300),
        dict(mode="nngp_posterior", ridge=1e-300),
        dict(ridge=1e-12, learning_rate=1e300),
    ):
        reg = InfiniteWidthRegressor(activation=activation, depth=2, **kw)
        finite_or_clear(_fit_predict, reg, X, Y0, t=TIMES, return_std=True)
    clf = InfiniteWidthClassifier(activation=activation, depth=2)
    finite_or_clear(lambda: clf.fit(X, Y0 > 0).decision_function(X, t=TIMES))
    mup = MuPLinearRegressor(n_steps=5, random_state=0)
    finite_or_clear(_fit_predict, mup, X, Y0 * 1e150)


def _fit_predict(est, X, y, **kwargs):
    return est.fit(X, y).predict(X, **kwargs)


@quiet_series
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_name)
def test_sweep_finite(activation, scale):
    X = SCALES[scale]
    kw = dict(width=8, depth=2, activation=activation, random_state=0)
    for method in ("gram", "weights"):
        finite_or_clear(finite.monte_carlo_nngp, X, n_networks=3, method=method, **kw)
    finite_or_clear(finite.monte_carlo_ntk, X, n_networks=2, **kw)
    net = finite.FiniteMLP(**kw)
    finite_or_clear(lambda: net.train(X, Y0, n_steps=3, X_eval=X))


def _mean_field(*args):
    return tuple(sp.mean_field(*args).values())[:6]


def _sweep_signal_propagation(activation, sigmas, variances):
    for sw in sigmas:
        for sb in (0.0, 1e-5, 1e5):
            # q* and the depth scales may be infinite
            finite_or_clear(_mean_field, activation, sw, sb, inf_ok=True)
            for q in variances:
                finite_or_clear(sp.length_map, q, activation, sw, sb)
                finite_or_clear(sp.correlation_map, CS, activation, sw, sb, q=q)
                finite_or_clear(
                    sp.correlation_map, CS, activation, sw, sb, q=q, residual=True
                )


@quiet_series
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_name)
def test_sweep_signal_propagation(activation):
    _sweep_signal_propagation(activation, (1e-5, 1e5), (1e-300, 1e300))


@quiet_series
@pytest.mark.slow
@pytest.mark.parametrize(
    "activation", ACTIVATIONS + ["sin", "cos", "selu", "swish", "softplus"], ids=_name
)
def test_sweep_signal_propagation_full(activation):
    _sweep_signal_propagation(
        activation,
        (1e-5, 1e-2, 1.0, 3.0, 1e2, 1e5),
        (1e-300, 1e-150, 1.0, 1e150, 1e300),
    )
