"""Monte Carlo checks of the architectures (ARD, residual, layer norm) of issue 16.

Finite networks (``sknnk.finite``), their empirical NTKs and the random
features of the samplers are compared with the infinite-width recursion,
written here by hand in numpy from the closed-form duals of ReLU (arc-cosine)
and erf (arcsin) and by quadrature for tanh and gelu, and, once the
kernels take the architecture keywords, with ``NNGPKernel`` / ``NTKKernel``
for relu, erf, tanh and gelu. Agreement is
measured in standard errors (z-scores, printed with ``pytest -s``).
"""

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from _reference import ACTIVATIONS
from numpy.testing import assert_allclose, assert_array_equal
from test_finite import ACTS

from sknnk import (
    InfiniteWidthClassifier,
    InfiniteWidthRegressor,
    NNGPKernel,
    NNGPSampler,
    NTKKernel,
    NTKSampler,
)
from sknnk.finite import FiniteMLP, monte_carlo_nngp, monte_carlo_ntk, sample_outputs

X = np.array([[1.0, 0.3, -0.5], [0.2, -1.1, 0.8], [-0.7, 0.4, 1.5]])
LS = np.array([0.5, 2.0, 1.3])
ARCHS = {
    "ard": dict(length_scale=LS),
    "residual": dict(residual=True, branch_scale=0.6),
    "layer": dict(normalization="layer"),
    "all": dict(
        length_scale=LS, residual=True, branch_scale=0.6, normalization="layer"
    ),
}
SIGMAS = {"relu": (1.4, 0.3), "erf": (1.6, 0.2), "tanh": (1.5, 0.2), "gelu": (1.3, 0.3)}
WIDTH = 1000
Z_MAX = 4.5  # |z| bound per entry (a handful of entries per configuration)
IU = np.triu_indices(X.shape[0])


# ------------------------------------------------ the hand-written reference
# trapezoid rule in each of two standard normal coordinates: spectrally
# accurate for integrands analytic in a strip (error ~ exp(-2 pi a / h)); at
# the variances reached here (q up to ~5) it keeps tanh's G to ~1e-15, where
# _reference.gauss_hermite_dual (160 nodes) is off by ~1e-6
_QX = np.linspace(-9.0, 9.0, 361)
_QW = np.exp(-0.5 * _QX**2) / np.exp(-0.5 * _QX**2).sum()


def _duals(activation, qa, qb, c):
    """``F = E[phi(u) phi(v)]`` and ``G = E[phi'(u) phi'(v)]`` for
    ``(u, v) ~ N(0, [[qa, c], [c, qb]])``: Cho & Saul's arc-cosine kernel of
    order 1 (and 0) for ReLU, Williams' arcsin kernel for erf, and a 361 x 361
    trapezoid rule on the Cholesky factor for tanh and gelu."""
    if activation == "relu":
        s = np.sqrt(qa * qb)
        theta = np.arccos(np.clip(c / s, -1.0, 1.0))
        F = s * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
        return F, (np.pi - theta) / (2 * np.pi)
    if activation == "erf":
        ab = (1 + 2 * qa) * (1 + 2 * qb)
        F = 2 / np.pi * np.arcsin(2 * c / np.sqrt(ab))
        return F, 4 / np.pi / np.sqrt(ab - 4 * c**2)
    phi, dphi = ACTIVATIONS[activation]  # written in _reference, not sknnk's
    qa, qb, c = (a[..., None, None] for a in np.broadcast_arrays(qa, qb, c))
    l21 = c / np.sqrt(qa)
    u = np.sqrt(qa) * _QX[:, None]
    v = l21 * _QX[:, None] + np.sqrt(np.maximum(qb - l21**2, 0.0)) * _QX
    W = _QW[:, None] * _QW
    F = np.sum(W * phi(u) * phi(v), axis=(-2, -1))
    return F, np.sum(W * dphi(u) * dphi(v), axis=(-2, -1))


def reference(
    X, activation, depth, sigma_w, sigma_b, length_scale=1.0, residual=False,
    branch_scale=1.0, normalization=None, width=None,
):  # fmt: skip
    """NNGP and NTK Gram matrices of the infinite-width network (NTK
    parameterization): layer 0 of the scaled inputs, then per step
    ``branch = sw2 F + sb2`` (NNGP) and ``sw2 F + sb2 + sw2 G Theta~`` (NTK),
    added to the stream with weight ``alpha^2`` in the residual steps
    ``1..depth-1``; layer normalisation evaluates F and G at unit variances
    and correlation ``Sigma / sqrt(q q')`` and uses ``Theta / sqrt(q q')``.
    With a ``width`` the NTK is that of the standard parameterization:
    ``Theta^0 = x.x' + 1`` and branch ``width F + 1 + sw2 G Theta~``."""
    sw2, sb2, a2 = sigma_w**2, sigma_b**2, branch_scale**2
    Xs = X / np.asarray(length_scale, dtype=float)
    S = sw2 * (Xs @ Xs.T) / X.shape[1] + sb2
    T = S.copy() if width is None else Xs @ Xs.T + 1.0
    for layer in range(1, depth + 1):
        q = np.diag(S)
        if normalization == "layer":
            r = np.sqrt(np.outer(q, q))  # divided by: exactly 1 on the diagonal
            Sn, Tn, qn = S / r, T / r, np.ones_like(q)
        else:
            Sn, Tn, qn = S, T, q
        F, G = _duals(activation, qn[:, None], qn[None, :], Sn)
        bS = sw2 * F + sb2
        bT = (bS if width is None else width * F + 1.0) + sw2 * G * Tn
        if residual and layer < depth:
            S, T = S + a2 * bS, T + a2 * bT
        else:
            S, T = bS, bT
    return S, T


def _zscores(mean, se, exact):
    z = (mean - exact)[IU] / se[IU]
    return z


def _report(label, z):
    print(f"{label:<46s} max|z| = {np.abs(z).max():.2f}  z = {np.round(z, 2)}")


# ------------------------------------------------ Monte Carlo estimates (cached)
def _seed(activation, depth, arch):
    """A distinct seed per configuration (independent checks)."""
    return 100 * list(SIGMAS).index(activation) + 10 * depth + list(ARCHS).index(arch)


@functools.lru_cache(maxsize=None)
def _mc_finite(kind, activation, depth, arch):
    """Monte Carlo NNGP (2000 networks) or mean empirical NTK (24 networks)
    of width-1000 networks, with standard errors."""
    sw, sb = SIGMAS[activation]
    estimate, n = (monte_carlo_nngp, 2000) if kind == "nngp" else (monte_carlo_ntk, 24)
    return estimate(
        X, n_networks=n, width=WIDTH, depth=depth, activation=activation,
        sigma_w=sw, sigma_b=sb, random_state=_seed(activation, depth, arch),
        **ARCHS[arch],
    )  # fmt: skip


@functools.lru_cache(maxsize=None)
def _mc_sampler(kind, activation, depth, arch, n_seeds=24, m=512):
    """Mean and standard error over ``n_seeds`` samplers of ``Z Z^T``."""
    sw, sb = SIGMAS[activation]
    cls = NNGPSampler if kind == "nngp" else NTKSampler
    seed0 = 1000 * (kind == "ntk") + 30 * _seed(activation, depth, arch)
    grams = []
    for seed in range(seed0, seed0 + n_seeds):
        Z = cls(
            n_components=m, depth=depth, activation=activation, sigma_w=sw,
            sigma_b=sb, random_state=seed, **ARCHS[arch],
        ).fit_transform(X)  # fmt: skip
        grams.append(Z @ Z.T)
    grams = np.array(grams)
    return grams.mean(0), grams.std(0, ddof=1) / np.sqrt(n_seeds)


# ------------------------------------------------ (a) against the hand recursion
def _cases(depths):
    return [(a, d, arch) for a in depths for d in depths[a] for arch in ARCHS]


# closed forms at every depth; the quadrature activations at depth 2 (time)
NNGP_DEPTHS = {"relu": [1, 2, 3], "erf": [1, 2, 3], "tanh": [2], "gelu": [2]}
NTK_DEPTHS = {"relu": [1, 3], "erf": [1, 3], "tanh": [2], "gelu": [2]}
SAMPLER_DEPTHS = {"relu": [3], "erf": [3], "tanh": [2], "gelu": [2]}


@pytest.mark.slow
@pytest.mark.parametrize("activation, depth, arch", _cases(NNGP_DEPTHS))
def test_finite_nngp_matches_hand_recursion(activation, depth, arch):
    """Outputs of 2000 random networks of width 1000: their second moment."""
    sw, sb = SIGMAS[activation]
    exact = reference(X, activation, depth, sw, sb, **ARCHS[arch])[0]
    z = _zscores(*_mc_finite("nngp", activation, depth, arch), exact)
    _report(f"NNGP finite {activation} depth={depth} {arch}", z)
    assert np.abs(z).max() < Z_MAX


@pytest.mark.slow
@pytest.mark.parametrize("activation, depth, arch", _cases(NTK_DEPTHS))
def test_empirical_ntk_matches_hand_recursion(activation, depth, arch):
    """Mean empirical NTK (exact Jacobians, LN included) of 24 networks of
    width 1000."""
    sw, sb = SIGMAS[activation]
    exact = reference(X, activation, depth, sw, sb, **ARCHS[arch])[1]
    z = _zscores(*_mc_finite("ntk", activation, depth, arch), exact)
    _report(f"NTK finite {activation} depth={depth} {arch}", z)
    assert np.abs(z).max() < Z_MAX


@pytest.mark.parametrize("kind", ["nngp", "ntk"])
@pytest.mark.parametrize("activation, depth, arch", _cases(SAMPLER_DEPTHS))
def test_sampler_features_match_hand_recursion(activation, depth, arch, kind):
    """Inner products of the random features (24 samplers of 512 units)."""
    sw, sb = SIGMAS[activation]
    exact = reference(X, activation, depth, sw, sb, **ARCHS[arch])[kind == "ntk"]
    z = _zscores(*_mc_sampler(kind, activation, depth, arch), exact)
    _report(f"{kind.upper()}Sampler {activation} depth={depth} {arch}", z)
    assert np.abs(z).max() < Z_MAX


def test_wide_sampler_converges_to_hand_recursion():
    """One sampler: the error of Z Z^T shrinks like 1/sqrt(n_components)."""
    sw, sb = SIGMAS["relu"]
    exact = reference(X, "relu", 3, sw, sb, **ARCHS["all"])[1]
    errors = []
    for m in (256, 2048):
        runs = [
            NTKSampler(
                n_components=m, depth=3, sigma_w=sw, sigma_b=sb, random_state=s,
                **ARCHS["all"],
            ).fit_transform(X)
            for s in range(3)
        ]  # fmt: skip
        errors.append(
            np.mean([np.linalg.norm(Z @ Z.T - exact) for Z in runs])
            / np.linalg.norm(exact)
        )
    print("NTKSampler relative error at m = 256, 2048:", np.round(errors, 4))
    assert errors[1] < 0.5 * errors[0], errors


@pytest.mark.slow
def test_literal_weight_networks_match_hand_recursion():
    """``method="weights"`` draws every weight matrix (no Gram shortcut)."""
    sw, sb = SIGMAS["relu"]
    exact = reference(X, "relu", 2, sw, sb, **ARCHS["all"])[0]
    mc = monte_carlo_nngp(
        X, n_networks=250, width=WIDTH, depth=2, sigma_w=sw, sigma_b=sb,
        method="weights", random_state=7, **ARCHS["all"],
    )  # fmt: skip
    z = _zscores(*mc, exact)
    _report("NNGP literal weights relu depth=2 all", z)
    assert np.abs(z).max() < Z_MAX


# ------------------------------------------------ exact properties (no Monte Carlo)
def _move(net, V, step):
    """Add ``step * V`` (E, n_params; columns in the order of
    ``FiniteMLP.jacobian``) to every network's weights and biases."""
    at = 0
    for W, b in zip(net.weights_, net.biases_):
        for arr in (W, b):
            size = arr[0].size
            arr += step * V[:, at : at + size].reshape(arr.shape)
            at += size


@pytest.mark.parametrize("activation", ACTS, ids=repr)
def test_jacobian_through_skips_and_layer_norm_matches_finite_differences(activation):
    """The back-propagation (skips, branch_scale, exact LN Jacobian, ARD
    inputs) against central differences of the forward pass along random
    directions of the parameters: ``J v = (f(w + e v) - f(w - e v)) / 2e``."""
    net = FiniteMLP(
        width=5, depth=3, activation=activation, sigma_w=1.3, sigma_b=0.4,
        n_outputs=2, n_networks=2, random_state=1, **ARCHS["all"],
    ).initialize(3)  # fmt: skip
    J = net.jacobian(X, output=1)
    eps = 1e-6
    for V in np.random.default_rng(0).normal(size=(6, 2, net.n_params)):
        _move(net, V, eps)
        fp = net.predict(X)[:, :, 1]
        _move(net, V, -2 * eps)
        fm = net.predict(X)[:, :, 1]
        _move(net, V, eps)
        fd = (fp - fm) / (2 * eps)
        assert_allclose(np.einsum("enp,ep->en", J, V), fd, rtol=1e-5, atol=1e-6)
    Jy = net.jacobian(X[:2], output=1)
    assert_allclose(net.ntk(X, X[:2], output=1), J @ np.swapaxes(Jy, 1, 2))


@pytest.mark.parametrize("arch", list(ARCHS))
def test_gd_step_is_the_gradient_of_the_loss(arch):
    """One step of ``train`` moves every parameter by -lr times the central
    difference of the loss."""
    y = np.array([[0.5], [-1.0], [0.2]])
    kw = dict(width=4, depth=3, activation="tanh", n_networks=1, random_state=3)
    net = FiniteMLP(**kw, **ARCHS[arch]).initialize(3)
    before = [W.copy() for W in net.weights_] + [b.copy() for b in net.biases_]

    def loss():
        return 0.5 * np.sum((net.predict(X) - y) ** 2) / X.shape[0]

    params, eps = net.weights_ + net.biases_, 1e-6
    grads = [np.zeros_like(arr) for arr in params]
    for arr, g in zip(params, grads):
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            lp = loss()
            arr[idx] = old - eps
            lm = loss()
            arr[idx] = old
            g[idx] = (lp - lm) / (2 * eps)
    net.train(X, y, n_steps=1, learning_rate=0.01)
    for arr, old, g in zip(net.weights_ + net.biases_, before, grads):
        assert_allclose(arr - old, -0.01 * g, rtol=1e-5, atol=1e-12)


def test_length_scale_is_a_scaling_of_the_inputs():
    """``length_scale=l`` equals the default network on ``X / l`` (bitwise),
    and a scale of ones is bitwise the default."""
    Xl = X / LS
    for make in (
        lambda Xq, **k: sample_outputs(Xq, n_networks=5, width=16, depth=2,
                                       random_state=0, **k),
        lambda Xq, **k: sample_outputs(Xq, n_networks=5, width=16, depth=2,
                                       method="weights", random_state=0, **k),
        lambda Xq, **k: FiniteMLP(width=16, depth=2, n_networks=2, random_state=0,
                                  **k).initialize(3).ntk(Xq),
        lambda Xq, **k: NNGPSampler(n_components=32, depth=2, random_state=0,
                                    **k).fit_transform(Xq),
        lambda Xq, **k: NTKSampler(n_components=32, depth=2, random_state=0,
                                   **k).fit_transform(Xq),
    ):  # fmt: skip
        assert_array_equal(make(X, length_scale=LS), make(Xl))
        assert_array_equal(make(X, length_scale=np.ones(3)), make(X))
        assert_array_equal(make(X, length_scale=1), make(X))


def test_depth_one_residual_is_plain_and_layer_norm_is_scale_free():
    """``residual`` changes nothing at depth 1 (no hidden block), and with
    ``sigma_b=0`` a plain layer-normalised network is invariant to scaling x
    (the first normalisation removes the scale; a residual stream keeps it)."""
    plain = dict(width=16, depth=1, n_networks=2, random_state=0)
    a = FiniteMLP(**plain).initialize(3)
    b = FiniteMLP(**plain, residual=True, branch_scale=0.3).initialize(3)
    assert_array_equal(a.ntk(X), b.ntk(X))
    for cls in (NNGPSampler, NTKSampler):
        s1 = cls(n_components=16, random_state=0).fit_transform(X)
        s2 = cls(n_components=16, random_state=0, residual=True).fit_transform(X)
        assert_array_equal(s1, s2)
    for depth in (2, 3):
        ln = dict(depth=depth, sigma_b=0.0, normalization="layer", random_state=0)
        net = FiniteMLP(width=16, n_networks=2, **ln).initialize(3)
        assert_allclose(net.predict(3.7 * X), net.predict(X), rtol=1e-12)
        s = NNGPSampler(n_components=16, **ln).fit(X)
        assert_allclose(s.transform(3.7 * X), s.transform(X), rtol=1e-12)
        res = FiniteMLP(width=16, n_networks=2, residual=True, **ln).initialize(3)
        assert not np.allclose(res.predict(3.7 * X), res.predict(X))


@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_sampler_architectures_do_not_depend_on_n_jobs_or_batches(cls):
    Xb = np.random.default_rng(0).normal(size=(300, 3))
    s = cls(n_components=64, depth=3, random_state=0, **ARCHS["all"]).fit(Xb)
    ref = s.transform(Xb)
    for n_jobs, batch_size in ((2, None), (3, 128), (1, 256)):
        s.set_params(n_jobs=n_jobs, batch_size=batch_size)
        assert_array_equal(s.transform(Xb), ref)
    Z32 = cls(
        n_components=64, depth=3, random_state=0, dtype="float32", **ARCHS["all"]
    ).fit_transform(Xb)  # fmt: skip
    assert Z32.dtype == np.float32
    assert_allclose(Z32, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    Xs = Xb.copy()
    Xs[np.abs(Xs) < 1.0] = 0.0
    assert_array_equal(s.transform(sp.csr_matrix(Xs)), s.transform(Xs))
    assert np.isfinite(s.transform(np.zeros((2, 3)))).all()
    s0 = cls(n_components=16, depth=2, sigma_b=0.0, normalization="layer").fit(Xb)
    assert np.isfinite(s0.transform(np.zeros((2, 3)))).all()


def test_ntk_features_start_with_the_nngp_features():
    """With one random_state both samplers draw the same network: the first
    ``m + 1`` NTK features are the NNGP features, for every architecture."""
    for arch in ARCHS.values():
        kw = dict(n_components=32, depth=3, random_state=4, **arch)
        Zk = NNGPSampler(**kw).fit_transform(X)
        assert_array_equal(NTKSampler(**kw).fit_transform(X)[:, :33], Zk)


def test_zero_variance_layer_norm_is_finite():
    """x = 0 with sigma_b = 0: every unit is 0, s is replaced by 1 (no NaN)."""
    X0 = np.vstack([X, np.zeros(3)])
    net = FiniteMLP(
        width=8, depth=2, sigma_b=0.0, normalization="layer", n_networks=2,
        random_state=0,
    ).initialize(3)  # fmt: skip
    assert np.isfinite(net.predict(X0)).all() and np.isfinite(net.ntk(X0)).all()
    f = sample_outputs(X0, n_networks=4, width=8, depth=2, sigma_b=0.0,
                       normalization="layer", random_state=0)  # fmt: skip
    assert np.isfinite(f).all()


def test_standard_parameterization_sampler_matches_hand_recursion():
    """NTKSampler(parameterization="standard") with the architectures."""
    sw, sb = SIGMAS["relu"]
    exact = reference(X, "relu", 3, sw, sb, width=50, **ARCHS["all"])[1]
    grams = []
    for seed in range(24):
        Z = NTKSampler(
            n_components=512, depth=3, sigma_w=sw, sigma_b=sb, random_state=seed,
            parameterization="standard", width=50, **ARCHS["all"],
        ).fit_transform(X)  # fmt: skip
        grams.append(Z @ Z.T)
    grams = np.array(grams)
    z = _zscores(grams.mean(0), grams.std(0, ddof=1) / np.sqrt(24), exact)
    _report("NTKSampler standard relu depth=3 all", z)
    assert np.abs(z).max() < Z_MAX


# ------------------------------------------------ validation: one rule, same words
X4 = np.random.default_rng(0).normal(size=(4, 3))
Y4 = np.arange(4.0)
OWNERS = {
    "NNGPSampler": lambda **p: NNGPSampler(n_components=4, **p).fit(X4),
    "NTKSampler": lambda **p: NTKSampler(n_components=4, **p).fit(X4),
    "InfiniteWidthRegressor": lambda **p: InfiniteWidthRegressor(**p).fit(X4, Y4),
    "InfiniteWidthClassifier": lambda **p: InfiniteWidthClassifier(**p).fit(X4, Y4 > 1),
    "sample_outputs": lambda **p: sample_outputs(X4, n_networks=2, width=3, **p),
    "FiniteMLP": lambda **p: FiniteMLP(width=3, **p).initialize(3),
    "monte_carlo_ntk": lambda **p: monte_carlo_ntk(X4, n_networks=1, width=3, **p),
}


@pytest.mark.parametrize(
    "params",
    [{"length_scale": 0.0}, {"length_scale": -1.0}, {"length_scale": np.nan},
     {"length_scale": [1.0, -2.0, 1.0]}, {"length_scale": [[1.0, 2.0, 3.0]]},
     {"length_scale": "big"}, {"length_scale": [1.0, 2.0]},
     {"length_scale": [1.0, 2.0, 3.0, 4.0]}, {"residual": 1},
     {"residual": "yes"}, {"branch_scale": 0.0}, {"branch_scale": np.inf},
     {"branch_scale": "1"}, {"normalization": "batch"}, {"normalization": True}],
    ids=repr,
)  # fmt: skip
def test_architecture_rules_same_words_everywhere(params):
    owners = dict(OWNERS)
    owners["NNGPKernel"] = lambda **p: NNGPKernel(**p)(X4)
    owners["NTKKernel"] = lambda **p: NTKKernel(**p)(X4)
    got = {}
    for owner, call in owners.items():
        with pytest.raises((ValueError, TypeError)) as err:
            call(**params)
        got[owner] = (type(err.value), str(err.value).replace(owner, "<owner>"))
    assert len(set(got.values())) == 1, got
    (kind, message), *_ = got.values()
    assert f"'{next(iter(params))}'" in message
    if "length_scale" in params and np.ndim(params["length_scale"]) == 1:
        n = len(params["length_scale"])
        if n != 3:
            assert str(n) in message and "n_features" in message


def test_estimators_pass_the_architecture_to_their_kernels():
    """The four keywords reach both kernels of the estimators."""
    y = np.sin(X4[:, 0])
    for arch in ARCHS.values():
        for cls in (InfiniteWidthRegressor, InfiniteWidthClassifier):
            est = cls(depth=3, **arch)
            target = y if cls is InfiniteWidthRegressor else y > 0
            est.fit(X4, target)
            for kernel in (est.kernel_, est.nngp_kernel_):
                for name, value in arch.items():
                    assert_array_equal(kernel.get_params()[name], value)
    # defaults and explicit default values are accepted in every case
    reg = InfiniteWidthRegressor(length_scale=np.ones(3), branch_scale=1.0)
    assert_allclose(reg.fit(X4, y).predict(X4), y)


# ------------------------------------------------ (b) against the kernels
def _kernel_cases(depths):
    return [pytest.param(*case) for case in _cases(depths)]


def _kernels(activation, depth, arch):
    sw, sb = SIGMAS[activation]
    kw = dict(depth=depth, activation=activation, sigma_w=sw, sigma_b=sb)
    return NNGPKernel(**kw, **ARCHS[arch])(X), NTKKernel(**kw, **ARCHS[arch])(X)


@pytest.mark.parametrize(
    "activation, depth, arch", _kernel_cases({"relu": [1, 2, 3], "erf": [1, 2, 3]})
)
def test_kernels_equal_hand_recursion(activation, depth, arch):
    sw, sb = SIGMAS[activation]
    K, T = reference(X, activation, depth, sw, sb, **ARCHS[arch])
    got_K, got_T = _kernels(activation, depth, arch)
    assert_allclose(got_K, K, rtol=1e-9)
    assert_allclose(got_T, T, rtol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("activation, depth, arch", _kernel_cases(SAMPLER_DEPTHS))
def test_finite_networks_match_kernels(activation, depth, arch):
    K, T = _kernels(activation, depth, arch)
    zK = _zscores(*_mc_finite("nngp", activation, depth, arch), K)
    zT = _zscores(*_mc_finite("ntk", activation, depth, arch), T)
    _report(f"NNGPKernel vs finite {activation} depth={depth} {arch}", zK)
    _report(f"NTKKernel vs finite {activation} depth={depth} {arch}", zT)
    assert np.abs(zK).max() < Z_MAX and np.abs(zT).max() < Z_MAX


@pytest.mark.parametrize("activation, depth, arch", _kernel_cases(SAMPLER_DEPTHS))
def test_sampler_features_match_kernels(activation, depth, arch):
    for kind, exact in zip(("nngp", "ntk"), _kernels(activation, depth, arch)):
        z = _zscores(*_mc_sampler(kind, activation, depth, arch), exact)
        _report(f"{kind.upper()}Sampler vs kernel {activation} depth={depth} {arch}", z)
        assert np.abs(z).max() < Z_MAX
