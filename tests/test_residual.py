"""Residual blocks and layer normalisation: kernels against hand-written recursions,
gradients against finite differences, the kernel contract, deep nets and validation."""

import pickle

import numpy as np
import pytest
from _reference import central_fd, nested_quad_dual
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, WhiteKernel

from sknnk import NNGPKernel, NTKKernel
from sknnk import signal_propagation as sp

ARCHS = {
    "residual": dict(residual=True),
    "layer": dict(normalization="layer"),
    "residual+layer": dict(residual=True, normalization="layer"),
}


# ------------------------------------------------------------ hand references
def relu_dual(a, b, c):
    """Arc-cosine kernel of degree 1 (Cho & Saul): F and G of ReLU."""
    s = np.sqrt(a * b)
    rho = np.clip(np.where(s > 0, c / np.where(s > 0, s, 1.0), 0.0), -1.0, 1.0)
    t = np.arccos(rho)
    return s * (np.sin(t) + (np.pi - t) * rho) / (2 * np.pi), (np.pi - t) / (2 * np.pi)


def erf_dual(a, b, c):
    """Williams' arcsin kernel of erf and its derivative's dual."""
    D = (1 + 2 * a) * (1 + 2 * b)
    return 2 / np.pi * np.arcsin(2 * c / np.sqrt(D)), 4 / np.pi / np.sqrt(D - 4 * c * c)


def tanh_dual(a, b, c):
    """Nested Gauss-Legendre quadrature (independent of the Hermite series)."""
    a, b, c = np.broadcast_arrays(a, b, c)
    out = [nested_quad_dual("tanh", None, *abc) for abc in zip(a.flat, b.flat, c.flat)]
    return tuple(np.reshape(v, a.shape) for v in zip(*out))


DUALS = {"relu": relu_dual, "erf": erf_dual, "tanh": tanh_dual}


def reference(X, dual, depth, sw, sb, ntk, residual=False, alpha=1.0, ln=False):
    """The infinite-width recursion of the residual / layer-normalised network,
    written from its definition on whole Gram matrices:

    u = LN(z^{l-1}) maps Sigma -> Sigma / sqrt(q q'), Theta -> Theta / sqrt(q q');
    branch: B = sw2 F + sb2, T = B + sw2 G Theta~ (F, G at the normalised
    covariance); residual blocks l < depth add alpha^2 B (T) to the stream, the
    last layer (and every layer of a plain net) replaces it.
    """
    sw2, sb2 = sw**2, sb**2
    S = sw2 * X @ X.T / X.shape[1] + sb2
    T = S.copy()
    for layer in range(1, depth + 1):
        if ln:
            q = np.diag(S)
            r = np.where(q > 0, 1 / np.sqrt(np.where(q > 0, q, 1.0)), 0.0)
            Sn, Tn = S * np.outer(r, r), T * np.outer(r, r)
        else:
            Sn, Tn = S, T
        d = np.diag(Sn)
        F, G = dual(d[:, None], d[None, :], Sn)
        B = sw2 * F + sb2
        Tb = B + sw2 * G * Tn
        if residual and layer < depth:
            S, T = S + alpha**2 * B, T + alpha**2 * Tb
        else:
            S, T = B, Tb
    return T if ntk else S


@pytest.fixture
def Z():
    rng = np.random.default_rng(3)
    return 0.7 * rng.normal(size=(6, 3))


@pytest.mark.parametrize("act", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_matches_hand_recursion(cls, depth, arch, act, Z):
    kw = dict(ARCHS[arch], branch_scale=0.8) if "residual" in arch else ARCHS[arch]
    k = cls(depth=depth, activation=act, sigma_w=1.3, sigma_b=0.4, **kw)
    ref = reference(
        Z, DUALS[act], depth, 1.3, 0.4, cls is NTKKernel,
        residual=kw.get("residual", False), alpha=0.8, ln=arch != "residual",
    )  # fmt: skip
    tol = 1e-10 if act == "tanh" else 1e-12
    assert_allclose(k(Z), ref, rtol=tol, atol=tol)
    assert_allclose(k.diag(Z), np.diag(ref), rtol=tol)
    assert_allclose(k(Z[:2], Z[2:]), ref[:2, 2:], rtol=tol, atol=tol)


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_depth_one_residual_is_plain_and_defaults_bitwise(cls, Z):
    # depth 1: the only hidden step is the readout (another driver: rounding)
    plain = cls(depth=1, activation="erf")(Z)
    assert_allclose(cls(depth=1, activation="erf", residual=True)(Z), plain, rtol=1e-14)
    k = cls(depth=3, residual=False, branch_scale=1.0, normalization=None)
    assert_array_equal(k(Z), cls(depth=3)(Z))


def test_standard_parameterization_residual():
    # Theta^l = Theta^{l-1} + a2 (width F + 1 + sw2 G Theta^{l-1}) (trained biases)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4, 3))
    m, sw, sb, a = 16, 1.2, 0.3, 0.6
    k = NTKKernel(depth=3, sigma_w=sw, sigma_b=sb, parameterization="standard",
                  width=m, residual=True, branch_scale=a)  # fmt: skip
    S = sw**2 * X @ X.T / 3 + sb**2
    T = X @ X.T + 1.0
    for layer in range(1, 4):
        d = np.diag(S)
        F, G = relu_dual(d[:, None], d[None, :], S)
        B, Tb = sw**2 * F + sb**2, m * F + 1.0 + sw**2 * G * T
        S, T = (S + a * a * B, T + a * a * Tb) if layer < 3 else (B, Tb)
    assert_allclose(k(X), T, rtol=1e-12)


# ------------------------------------------------------------ gradients
@pytest.mark.parametrize("act", ["relu", "erf", "tanh", "gelu", "elu"])
@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
def test_gradient_matches_finite_differences(cls, arch, act, Z):
    kw = dict(ARCHS[arch])
    if "residual" in arch:
        kw.update(branch_scale=0.7, branch_scale_bounds=(1e-3, 1e3))
    k = cls(depth=3, activation=act, sigma_w=1.2, sigma_b=0.3, **kw)
    names = [hp.name for hp in k.hyperparameters if not hp.fixed]
    expected = ["sigma_b", "sigma_w"]
    assert names == (["branch_scale"] + expected if "residual" in arch else expected)
    K, dK = k(Z, eval_gradient=True)
    assert dK.shape == (6, 6, len(names))
    fd = central_fd(lambda th: k.clone_with_theta(th)(Z), k.theta, 1e-5)
    assert_allclose(dK, fd, rtol=1e-6, atol=1e-8 * np.abs(K).max())


def test_branch_scale_gradient_of_standard_and_zero_row(X):
    # standard parameterization and the fixture's zero / duplicate / parallel rows
    for k in (
        NTKKernel(
            depth=3,
            parameterization="standard",
            width=8,
            sigma_b=0.2,
            residual=True,
            branch_scale_bounds=(1e-2, 1e2),
        ),
        NTKKernel(
            depth=4,
            activation="erf",
            sigma_b=0.1,
            residual=True,
            normalization="layer",
            branch_scale_bounds=(1e-2, 1e2),
        ),
    ):
        K, dK = k(X, eval_gradient=True)
        fd = central_fd(lambda th, k=k: k.clone_with_theta(th)(X), k.theta, 1e-6)
        assert_allclose(dK, fd, rtol=1e-6, atol=1e-7 * np.abs(K).max())


# ------------------------------------------------------------ scale safety
@pytest.mark.parametrize(
    "act, ln", [("relu", False), ("erf", False), ("relu", True), ("erf", True),
                ("tanh", True)],
)  # fmt: skip
def test_deep_residual_is_finite_and_matches(act, ln, Z):
    k = NTKKernel(depth=200, activation=act, residual=True, branch_scale=0.5,
                  normalization="layer" if ln else None)  # fmt: skip
    K, dK = k(Z, eval_gradient=True)
    assert np.isfinite(K).all() and np.isfinite(dK).all()
    if act != "tanh":
        ref = reference(Z, DUALS[act], 200, 2**0.5, 0.1, True, True, 0.5, ln)
        assert_allclose(K, ref, rtol=1e-9)


def test_deep_residual_overflow_is_the_documented_error(Z):
    # relu residual variances grow like (1 + a2 sw2 / 2)^L = 2^L: beyond float64
    with pytest.raises(ValueError, match="overflows float64 at layer .* smaller depth"):
        NNGPKernel(depth=1100, residual=True)(Z)
    with pytest.raises(ValueError, match="overflows float32"):
        NNGPKernel(depth=140, residual=True, dtype="float32")(Z)


@pytest.mark.parametrize("cls", [NNGPKernel, NTKKernel])
@pytest.mark.parametrize("act", ["relu", "erf"])
def test_layer_norm_of_a_zero_variance_point(cls, act, Z):
    # x = 0 with sigma_b = 0: z = 0 in every unit, LN(0) = 0 (eps -> 0 limit)
    X = np.vstack([np.zeros(3), Z])
    k = cls(depth=3, activation=act, sigma_b=0.0, normalization="layer")
    K, dK = k(X, eval_gradient=True)
    assert np.isfinite(K).all() and np.isfinite(dK).all()
    ref = reference(X, DUALS[act], 3, 2**0.5, 0.0, cls is NTKKernel, ln=True)
    assert_allclose(K, ref, rtol=1e-12, atol=1e-14)
    assert_allclose(K[0], 0.0, atol=0)  # relu/erf: phi(0) = 0 keeps z = 0


# ------------------------------------------------------------ kernel contract
CONTRACT = [
    NNGPKernel(
        depth=3,
        activation="erf",
        residual=True,
        branch_scale=0.6,
        branch_scale_bounds=(1e-2, 10.0),
    ),
    NTKKernel(depth=2, normalization="layer", sigma_b=0.2),
    NTKKernel(
        depth=4,
        activation="tanh",
        residual=True,
        normalization="layer",
        branch_scale_bounds=(1e-2, 10.0),
    ),
    NNGPKernel(depth=0, residual=True, branch_scale_bounds=(1e-2, 10.0)),
]
COMPOUND = [
    ConstantKernel(1.5) * CONTRACT[0] + WhiteKernel(0.1),
    CONTRACT[1] + CONTRACT[2],
    CONTRACT[0] * CONTRACT[1],
]


@pytest.mark.parametrize("kernel", CONTRACT + COMPOUND, ids=repr)
def test_kernel_contract(kernel, X, Y):
    K, dK = kernel(X, eval_gradient=True)
    assert dK.shape == (7, 7, kernel.theta.size)
    assert kernel.bounds.shape == (kernel.theta.size, 2)
    fd = central_fd(lambda th: kernel.clone_with_theta(th)(X), kernel.theta, 1e-6)
    assert_allclose(dK, fd, rtol=1e-6, atol=1e-7 * np.abs(K).max())
    assert_array_equal(K, K.T)
    assert_allclose(kernel.diag(X), np.diag(K), rtol=1e-12)
    Zs = np.vstack([X, Y])
    if "White" not in repr(kernel):
        assert_allclose(kernel(X, Y), kernel(Zs)[:7, 7:], rtol=1e-7, atol=1e-9)
    k2 = pickle.loads(pickle.dumps(clone(kernel)))
    assert_array_equal(k2(X), kernel(X))


@pytest.mark.parametrize("kernel", CONTRACT, ids=repr)
def test_theta_order_and_repr(kernel):
    free = [hp.name for hp in kernel.hyperparameters if not hp.fixed]
    assert free == sorted(free) and free[0] == "branch_scale" or not kernel.residual
    theta = kernel.theta
    for i, name in enumerate(free):
        assert theta[i] == np.log(getattr(kernel, name))
    r = repr(kernel)
    assert ("residual=True" in r) == kernel.residual
    assert ("normalization='layer'" in r) == (kernel.normalization == "layer")


def test_branch_scale_fixed_unless_residual():
    k = NNGPKernel(depth=3, branch_scale=2.0, branch_scale_bounds=(1e-2, 1e2))
    assert k.hyperparameter_branch_scale.fixed and k.theta.size == 2
    assert not k.set_params(residual=True).hyperparameter_branch_scale.fixed
    assert NNGPKernel(residual=True).hyperparameter_branch_scale.fixed  # default


def test_results_do_not_depend_on_n_jobs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    k = NTKKernel(depth=3, activation="gelu", residual=True, normalization="layer",
                  branch_scale_bounds=(1e-2, 1e2))  # fmt: skip
    K1, G1 = k(X, eval_gradient=True)
    K2, G2 = clone(k).set_params(n_jobs=2)(X, eval_gradient=True)
    assert_array_equal(K1, K2)
    assert_array_equal(G1, G2)


@pytest.mark.parametrize("true", [0.3, 1.5])
def test_gpr_recovers_branch_scale(true):
    # data drawn from the GP prior of a residual erf net: the marginal
    # likelihood, with the analytic log branch_scale gradient, finds its scale
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    net = dict(depth=6, activation="erf", sigma_w=1.5, sigma_b=0.1, residual=True)
    K = NNGPKernel(branch_scale=true, **net)(X) + 1e-4 * np.eye(150)
    y = np.linalg.cholesky(K) @ rng.normal(size=150)
    k0 = NNGPKernel(
        branch_scale=0.8, branch_scale_bounds=(1e-2, 1e2), sigma_w_bounds="fixed",
        sigma_b_bounds="fixed", **net,
    ) + WhiteKernel(1e-4, "fixed")  # fmt: skip
    gpr = GaussianProcessRegressor(k0, random_state=0).fit(X, y)
    assert gpr.kernel_.theta.shape == (1,)
    assert abs(np.log(gpr.kernel_.k1.branch_scale / true)) < np.log(1.2)


# ------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "kw, err, match",
    [
        (
            dict(residual=1),
            TypeError,
            "'residual' parameter of NNGPKernel must be a bool",
        ),
        (dict(branch_scale=0.0), ValueError, "'branch_scale' .* finite float > 0"),
        (dict(branch_scale=np.inf), ValueError, "'branch_scale' .* finite float > 0"),
        (dict(branch_scale="1"), TypeError, "'branch_scale' .* float > 0"),
        (dict(normalization="batch"), ValueError, "'normalization' .* None or a str"),
        (dict(branch_scale_bounds=(0, 1)), ValueError, "'branch_scale_bounds'"),
    ],
)
def test_validation(kw, err, match, Z):
    with pytest.raises(err, match=match):
        NNGPKernel(depth=2, **kw)(Z)


# ------------------------------------------------------------ signal propagation
def erf_V(q):
    return 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))


def test_length_map_residual_and_layer_norm():
    q = np.array([0.0, 0.3, 2.0, 7.5])
    sw, sb, a = 1.7, 0.2, 0.6
    B = sw**2 * erf_V(q) + sb**2
    assert_allclose(sp.length_map(q, "erf", sw, sb), B, rtol=1e-13)
    assert_allclose(
        sp.length_map(q, "erf", sw, sb, residual=True, branch_scale=a),
        q + a * a * B, rtol=1e-13,
    )  # fmt: skip
    b1 = sw**2 * erf_V(1.0) + sb**2  # LN: phi sees unit variance (LN(0) = 0)
    ln = sp.length_map(q, "erf", sw, sb, normalization="layer")
    assert_allclose(ln, [sb**2, b1, b1, b1], rtol=1e-13)
    both = dict(residual=True, branch_scale=a, normalization="layer")
    assert_allclose(sp.length_map(q[1:], "erf", sw, sb, **both), q[1:] + a * a * b1)


@pytest.mark.parametrize("act", ["relu", "erf"])
def test_layer_norm_maps_and_fixed_points_by_iteration(act):
    dual = DUALS[act]
    sw, sb = (3.0, 0.1) if act == "erf" else (1.5, 0.3)
    V1, W1 = (erf_V(1.0), 4 / (np.pi * np.sqrt(5.0))) if act == "erf" else (0.5, 0.5)
    B = sw**2 * V1 + sb**2

    def cmap(c):  # the normalised branch map by hand
        return (sw**2 * dual(1.0, 1.0, c)[0] + sb**2) / B

    c = np.linspace(-0.9, 0.9, 7)
    ln = dict(normalization="layer")
    assert_allclose(sp.correlation_map(c, act, sw, sb, **ln), cmap(c), rtol=1e-12)
    assert sp.q_star(act, sw, sb, **ln) == 1.0
    chi = sw**2 * W1 / B
    assert_allclose(sp.chi1(act, sw, sb, **ln), chi, rtol=1e-12)
    cl, diffs = 0.0, []
    for _ in range(3000):
        nxt = cmap(cl)
        diffs.append(nxt - cl)
        cl = nxt
    cs = sp.c_star(act, sw, sb, **ln)
    assert_allclose(cs, cl, atol=1e-10)
    mf = sp.mean_field(act, sw, sb, **ln)
    assert mf.q_star == 1.0 and mf.xi_q == 0.0
    assert mf.phase == ("chaotic" if chi > 1 else "ordered")
    if act == "erf":  # chaotic: c* < 1 and the measured decay rate is chi_c
        assert cs < 0.99
        chi_c = sw**2 * 4 / (np.pi * np.sqrt(9 - 4 * cs**2)) / B
        assert_allclose(mf.chi_c, chi_c, rtol=1e-10)
        assert_allclose(diffs[150] / diffs[149], chi_c, rtol=1e-5)
        assert_allclose(sp.depth_scales(act, sw, sb, **ln)[1], -1 / np.log(chi_c))
    else:
        assert cs == 1.0 and chi < 1


def test_residual_layer_norm_correlation_map_and_fixed_point():
    sw, sb, a, act = 3.0, 0.1, 0.5, "erf"
    kw = dict(residual=True, branch_scale=a, normalization="layer")
    B = sw**2 * erf_V(1.0) + sb**2
    q, c = 2.0, 0.2
    for _ in range(60):  # direct iteration of the residual stream
        fc = sw**2 * erf_dual(1.0, 1.0, c)[0] + sb**2
        c_next = (c * q + a * a * fc) / (q + a * a * B)
        assert_allclose(sp.correlation_map(c, act, sw, sb, q=q, **kw), c_next)
        q, c = q + a * a * B, c_next
    # the fixed points are the branch's, approached ever more slowly
    cs = sp.c_star(act, sw, sb, **kw)
    assert_allclose(cs, sp.c_star(act, sw, sb, normalization="layer"))
    assert_allclose(sp.correlation_map(cs, act, sw, sb, q=q, **kw), cs, atol=1e-14)
    assert sp.depth_scales(act, sw, sb, **kw) == (0.0, np.inf)
    assert sp.chi1(act, sw, sb, **kw) == sp.chi1(act, sw, sb, normalization="layer")


@pytest.mark.parametrize(
    "name", ["q_star", "chi1", "c_star", "depth_scales", "mean_field"]
)
def test_residual_without_layer_norm_has_no_fixed_point(name):
    with pytest.raises(ValueError, match="no finite fixed point q\\*"):
        getattr(sp, name)("tanh", 1.2, 0.1, residual=True)


def test_residual_correlation_map_needs_q_and_checks_options():
    with pytest.raises(ValueError, match="needs the variance q"):
        sp.correlation_map(0.5, "tanh", 1.2, 0.1, residual=True)
    with pytest.raises(ValueError, match="'normalization' parameter of length_map"):
        sp.length_map(1.0, "tanh", normalization="batch")
    with pytest.raises(ValueError, match="'branch_scale' parameter of chi1"):
        sp.chi1("tanh", 1.0, branch_scale=-1.0)


def test_layer_norm_ntk_with_infinite_tangent_at_zero_variance_raises():
    # standard parameterization: trained biases give x = 0 a tangent kernel of
    # 1 while z = 0 (sigma_b = 0): LN's derivative 1 / std diverges there
    X = np.array([[0.0, 0.0], [1.0, 0.5]])
    k = NTKKernel(depth=2, sigma_b=0.0, normalization="layer",
                  parameterization="standard", width=8)  # fmt: skip
    with pytest.raises(ValueError, match="Row 0 has zero variance .* infinite"):
        k(X)
    NNGPKernel(depth=2, sigma_b=0.0, normalization="layer")(X)  # finite: LN(0) = 0
