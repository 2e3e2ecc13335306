"""Per-feature length scales (ARD): values, gradients, sklearn contract, relevance.

Every check compares against an independent reference: central finite
differences of the kernel (fourth order), a 50-digit mpmath recursion of the
ReLU kernels written out here (near-duplicate and duplicate rows), the
arc-cosine kernel of the scaled inputs by hand, and scikit-learn's kernel
contract and ``RBF`` on the same split.
"""

import math
import warnings

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_friedman1
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import train_test_split

from sknnk import NNGPKernel, NTKKernel

KERNELS = (NNGPKernel, NTKKernel)
ARCHS = [  # residual blocks, layer normalisation, both
    dict(residual=True),
    dict(normalization="layer"),
    dict(residual=True, normalization="layer"),
]


def _design(seed, n=9, d=3):
    return np.random.default_rng(seed).normal(size=(n, d))


def _fd(kernel, X, h=1e-3):
    """Fourth-order central differences of ``kernel(X)`` in every entry of
    ``kernel.theta``, shape (n, n, n_dims)."""
    theta = kernel.theta
    cols = []
    for c in range(theta.size):

        def at(step, c=c):
            t = theta.copy()
            t[c] += step
            return kernel.clone_with_theta(t)(X)

        cols.append((8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h))
    return np.stack(cols, axis=-1)


def _check_gradient(kernel, X, rtol):
    K, dK = kernel(X, eval_gradient=True)
    assert dK.shape == (*K.shape, kernel.n_dims)
    ref = _fd(kernel, X)
    scale = np.abs(K).max()
    err = np.abs(dK - ref).max() / scale
    assert err < rtol, (err, kernel)
    return err


# ------------------------------------------------------------ gradients
def _ard_kernel(cls, depth, activation, **arch):
    """The kernel of the gradient checks: three free length scales, sigma_b
    and sigma_w off their defaults, and the architecture options ``arch``."""
    return cls(
        depth=depth,
        activation=activation,
        sigma_w=1.3,
        sigma_b=0.2,
        length_scale=np.array([0.7, 1.6, 2.5]),
        **arch,
    )


SMOOTH = ["relu", "erf", "tanh", "gelu", "elu", "leaky_relu", "sin"]


@pytest.mark.parametrize("activation", SMOOTH)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize("cls", KERNELS)
def test_gradient_every_column_matches_finite_differences(cls, depth, activation):
    """Every ARD column together with sigma_b and sigma_w, against central
    differences of the kernel (a tolerance of the differences' own error)."""
    X = _design(depth, 8, 3)
    k = _ard_kernel(cls, depth, activation)
    assert [h.name for h in k.hyperparameters if not h.fixed] == [
        "length_scale",
        "sigma_b",
        "sigma_w",
    ]
    assert k.n_dims == 5
    _check_gradient(k, X, 1e-8)


@pytest.mark.parametrize("cls", KERNELS)
def test_gradient_of_trimmed_series_terms_matches_finite_differences(cls):
    """The length-scale pass of a series network takes, per pair and layer,
    only the terms its correlation needs: on pairs from nearly orthogonal to
    near duplicates, at variances needing hundreds of terms (tanh,
    sigma_w = 2.5), every column still matches central differences."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(14, 3))
    X[7:] = X[:7] + 1e-2 * rng.normal(size=(7, 3))  # correlations near 1
    k = cls(
        depth=3,
        activation="tanh",
        sigma_w=2.5,
        sigma_b=0.3,
        length_scale=np.array([0.6, 1.0, 1.7]),
    )
    _check_gradient(k, X, 1e-8)


@pytest.mark.parametrize("activation", ["sign", "step"])
@pytest.mark.parametrize("depth", [1, 2])
def test_gradient_of_sign_and_step_nngp(activation, depth):
    # the NNGP of sign/step is smooth in the inputs away from rho = +-1
    X = _design(5, 8, 3)
    k = NNGPKernel(depth=depth, activation=activation, length_scale=[0.5, 1.0, 3.0])
    _check_gradient(k, X, 1e-8)


@pytest.mark.parametrize("cls", KERNELS)
def test_gradient_standard_parameterization_and_scalar(cls):
    X = _design(11, 8, 4)
    kw = dict(parameterization="standard", width=64) if cls is NTKKernel else {}
    k = cls(depth=2, length_scale=np.array([0.5, 1.0, 2.0, 4.0]), **kw)
    _check_gradient(k, X, 1e-8)
    # a scalar length scale: one column, the sum of the per-feature ones
    # (a scalar is fixed under the default bounds "auto": given bounds free it)
    assert cls(depth=2, length_scale=1.7, **kw).n_dims == 2
    ks = cls(depth=2, length_scale=1.7, length_scale_bounds=(1e-5, 1e5), **kw)
    assert ks.n_dims == 3 and not ks.anisotropic
    _check_gradient(ks, X, 1e-8)
    ka = cls(depth=2, length_scale=np.full(4, 1.7), **kw)
    _, ga = ka(X, eval_gradient=True)
    _, gs = ks(X, eval_gradient=True)
    assert_allclose(gs[..., 0], ga[..., :4].sum(-1), rtol=1e-12, atol=1e-14)
    assert_allclose(gs[..., 1:], ga[..., 4:], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", KERNELS)
def test_gradient_with_fixed_sigmas_and_zero_bias(cls):
    X = _design(12, 8, 3)
    ls = np.array([0.6, 1.2, 2.4])
    k = cls(depth=2, sigma_b=0.0, sigma_w_bounds="fixed", length_scale=ls)
    assert k.n_dims == 3
    _check_gradient(k, X, 1e-8)
    # relu without bias is homogeneous of degree 2 in x: sum_k dK/dlog l_k = -2K
    K, dK = k(X, eval_gradient=True)
    assert_allclose(dK.sum(-1), -2 * K, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("cls", KERNELS)
def test_gradient_float32(cls):
    X = _design(13, 8, 3)
    ls = np.array([0.7, 1.4, 2.1])
    k64 = cls(depth=2, length_scale=ls)
    k32 = cls(depth=2, length_scale=ls, dtype="float32")
    K, dK = k32(X, eval_gradient=True)
    assert dK.dtype == np.float32
    ref = _fd(k64, X)
    # float32 rounding of the kernel, the partials and the assembly
    tol = 50 * np.finfo(np.float32).eps
    assert np.abs(dK - ref).max() / np.abs(K).max() < tol


# ---------------------------------------- duplicates: a 50-digit reference
def _mp_relu(xa, xb, ls, sw, sb, depth, ntk, same):
    """The ReLU NNGP/NTK entry of ``(xa / ls, xb / ls)`` in mpmath (Cho & Saul's
    arc-cosine recursion, NTK parameterization); ``same``: the two points
    are one (correlation 1 exactly)."""
    d = len(xa)
    ta = [mpmath.mpf(x) / lk for x, lk in zip(xa, ls)]
    tb = [mpmath.mpf(x) / lk for x, lk in zip(xb, ls)]
    sw2, sb2 = mpmath.mpf(sw) ** 2, mpmath.mpf(sb) ** 2
    qa = sw2 * mpmath.fsum(t * t for t in ta) / d + sb2
    qb = sw2 * mpmath.fsum(t * t for t in tb) / d + sb2
    c = sw2 * mpmath.fsum(u * v for u, v in zip(ta, tb)) / d + sb2
    th = c
    for _ in range(depth):
        if same:
            f, g = c / 2, mpmath.mpf(1) / 2
        else:
            rho = min(max(c / mpmath.sqrt(qa * qb), -1), 1)
            ang = mpmath.acos(rho)
            f = mpmath.sqrt(qa * qb) * (mpmath.sin(ang) + (mpmath.pi - ang) * rho)
            f /= 2 * mpmath.pi
            g = (mpmath.pi - ang) / (2 * mpmath.pi)
        th = sw2 * f + sb2 + sw2 * g * th
        c = sw2 * f + sb2
        qa, qb = sw2 * qa / 2 + sb2, sw2 * qb / 2 + sb2
    return th if ntk else c


def _mp_grad(xa, xb, ls, sw, sb, depth, ntk, same):
    """``d / d log l_k`` of :func:`_mp_relu` by 50-digit central differences."""
    with mpmath.workdps(50):
        h = mpmath.mpf("1e-20")
        base = [mpmath.mpf(v) for v in ls]
        out = []
        for k in range(len(ls)):
            up = list(base)
            dn = list(base)
            up[k] = base[k] * mpmath.exp(h)
            dn[k] = base[k] * mpmath.exp(-h)
            fu = _mp_relu(xa, xb, up, sw, sb, depth, ntk, same)
            fd = _mp_relu(xa, xb, dn, sw, sb, depth, ntk, same)
            out.append(float((fu - fd) / (2 * h)))
        return np.array(out)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("cls", KERNELS)
def test_duplicates_and_near_duplicates_against_mpmath(cls, depth):
    """Rows that are exact duplicates or differ by 1e-6 (relative): the
    partials of the ReLU family are individually large there (arccos' slope
    at rho -> 1) while the gradient is not; against a 50-digit recursion."""
    rng = np.random.default_rng(depth)
    base = rng.normal(size=(3, 4))
    near = base[0] * (1 + 1e-6 * rng.normal(size=4))
    X = np.vstack([base, base[0], near, base[1] * (1 + 1e-9 * rng.normal(size=4))])
    ls = np.array([0.6, 1.1, 1.9, 3.0])
    sw, sb = 1.3, 0.2
    k = cls(depth=depth, sigma_w=sw, sigma_b=sb, length_scale=ls)
    K, dK = k(X, eval_gradient=True)
    ntk = cls is NTKKernel
    scale = np.abs(K).max()
    worst = 0.0
    for a, b in [(0, 3), (0, 4), (3, 4), (1, 5), (0, 0), (4, 4), (0, 1)]:
        same = a == b or np.array_equal(X[a], X[b])
        ref = _mp_grad(X[a], X[b], ls, sw, sb, depth, ntk, same)
        worst = max(worst, np.abs(dK[a, b, :4] - ref).max() / scale)
    # NNGP: rounding only. NTK: G's slope 1 / (2 pi sin theta) ~ 1e6 at the
    # 1e-6 pair multiplies rounding of the three partials before they cancel
    # (eps / theta ~ 1e-10; measured up to 8e-10 at depth 3)
    assert worst < (2e-9 if ntk else 1e-14), worst


# ------------------------------------------------------------- values
@pytest.mark.parametrize("ls", [2.0, [0.5, 1.0, 2.0, 4.0]])
def test_depth1_relu_nngp_is_the_arccosine_kernel_of_the_scaled_inputs(ls):
    X = _design(21, 7, 4)
    Y = _design(22, 5, 4)
    sw, sb = 1.4, 0.3
    K = NNGPKernel(depth=1, sigma_w=sw, sigma_b=sb, length_scale=ls)(X, Y)
    Xs, Ys = X / np.asarray(ls), Y / np.asarray(ls)
    d = X.shape[1]
    qx = sw**2 * (Xs**2).sum(1) / d + sb**2
    qy = sw**2 * (Ys**2).sum(1) / d + sb**2
    c = sw**2 * Xs @ Ys.T / d + sb**2
    norm = np.sqrt(np.outer(qx, qy))
    theta = np.arccos(np.clip(c / norm, -1, 1))
    ref = sw**2 * norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta))
    ref = ref / (2 * np.pi) + sb**2
    assert_allclose(K, ref, rtol=1e-13)


@pytest.mark.parametrize("cls", KERNELS)
@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_unit_length_scale_is_bitwise_the_kernel_without_it(cls, activation):
    X = _design(23, 11, 3)
    ref = cls(depth=2, activation=activation, length_scale_bounds="fixed")
    K0, dK0 = ref(X, eval_gradient=True)
    for ls in (1.0, 1, np.ones(3), [1.0, 1.0, 1.0]):
        k = cls(depth=2, activation=activation, length_scale=ls)
        K, dK = k(X, eval_gradient=True)
        assert_array_equal(K, K0)
        assert_array_equal(dK[..., -2:], dK0)  # sigma_b, sigma_w columns
        assert_array_equal(k(X, X[:4]), ref(X, X[:4]))
        assert_array_equal(k.diag(X), ref.diag(X))


@pytest.mark.parametrize("cls", KERNELS)
def test_length_scales_scale_the_inputs(cls):
    X = _design(24, 10, 3)
    ls = np.array([0.3, 2.0, 7.0])
    k = cls(depth=2, length_scale=ls)
    plain = cls(depth=2, length_scale_bounds="fixed")
    assert_allclose(k(X), plain(X / ls), rtol=1e-14)
    assert_allclose(k(X, X[:3]), plain(X / ls, X[:3] / ls), rtol=1e-14)
    assert_allclose(k.diag(X), plain.diag(X / ls), rtol=1e-14)
    assert_allclose(k.diag(X), np.diag(k(X)), rtol=1e-13)
    Xc = X.copy()
    ls_c = ls.copy()
    k(X, eval_gradient=True)
    assert_array_equal(X, Xc)  # inputs never modified
    assert_array_equal(k.length_scale, ls_c)


def test_results_do_not_depend_on_n_jobs(monkeypatch):
    import sknnk._parallel as par

    monkeypatch.setattr(par, "TILE", 8)
    X = _design(25, 37, 3)
    for act in ("relu", "erf", "tanh", "sin"):
        k = NTKKernel(depth=2, activation=act, length_scale=[0.5, 1.0, 2.0])
        K1, dK1 = k(X, eval_gradient=True)
        k.n_jobs = 2
        K2, dK2 = k(X, eval_gradient=True)
        assert_array_equal(K1, K2)
        assert_array_equal(dK1, dK2)


def test_residual_results_do_not_depend_on_n_jobs(monkeypatch):
    """The length-scale gradient of residual/LN networks: the same bits for
    one and two workers (tiles of 8 rows)."""
    import sknnk._parallel as par

    monkeypatch.setattr(par, "TILE", 8)
    X = _design(27, 29, 3)
    for act, arch in (("relu", ARCHS[0]), ("tanh", ARCHS[2])):
        k = NTKKernel(depth=3, activation=act, length_scale=[0.5, 1.0, 2.0], **arch)
        K1, dK1 = k(X, eval_gradient=True)
        k.n_jobs = 2
        K2, dK2 = k(X, eval_gradient=True)
        assert_array_equal(K1, K2)
        assert_array_equal(dK1, dK2)


@pytest.mark.slow
def test_results_do_not_depend_on_the_joblib_backend(monkeypatch):
    import joblib

    import sknnk._parallel as par

    monkeypatch.setattr(par, "TILE", 8)
    X = _design(26, 30, 3)
    kernels = [
        NNGPKernel(depth=2, activation=act, length_scale=[0.5, 1.0, 2.0])
        for act in ("relu", "tanh")
    ] + [NTKKernel(depth=3, residual=True, length_scale=[0.5, 1.0, 2.0])]
    for k in kernels:
        K1, dK1 = k(X, eval_gradient=True)
        with joblib.parallel_config(backend="loky", n_jobs=2):
            assert par.active_backend()[1] is False  # tiles returned, not shared
            K2, dK2 = k(X, eval_gradient=True)
        assert_array_equal(K1, K2)
        assert_array_equal(dK1, dK2)


def test_extreme_scales_are_right_or_refused():
    # l = 1e-5 with x = 1e140: x / l = 1e145 is representable, and so is
    # |x / l|^2 = 1e290: the right value (arc-cosine kernel by hand)
    x = np.array([[1e140, -2e140, 0.5e140], [3e140, 1e140, -1e140]])
    ls = np.full(3, 1e-5)
    K = NNGPKernel(depth=1, sigma_w=1.0, sigma_b=0.0, length_scale=ls)(x)
    xs = x / ls
    q = (xs**2).sum(1) / 3
    c = (xs[0] @ xs[1]) / 3
    norm = math.sqrt(q[0]) * math.sqrt(q[1])
    th = math.acos(c / norm)
    ref = norm * (math.sin(th) + (math.pi - th) * math.cos(th))
    assert_allclose(K[0, 1], ref / (2 * math.pi), rtol=1e-12)
    assert_allclose(np.diag(K), q / 2, rtol=1e-13)  # relu: Sigma^1(x, x) = q / 2
    # x = 1e150: |x / l|^2 / d = 1e310 is not representable: a clear error
    with pytest.raises(ValueError, match="overflows float64.*length_scale"):
        NNGPKernel(length_scale=ls)(x * 1e10)
    # the division itself overflowing or losing a row to underflow
    with pytest.raises(ValueError, match="X / length_scale overflows"):
        NNGPKernel(length_scale=1e-5)(np.array([[1e305, 1.0]]))
    with pytest.raises(ValueError, match="X / length_scale underflows"):
        NNGPKernel(length_scale=1e5)(np.array([[1e-305, 0.0], [1.0, 1.0]]))


# --------------------------------------------------------- sklearn contract
@pytest.mark.parametrize("cls", KERNELS)
def test_sklearn_kernel_contract(cls):
    ls = np.array([0.5, 2.0, 1.0])
    k = cls(depth=2, length_scale=ls, length_scale_bounds=(1e-3, 1e3))
    assert k.anisotropic and not cls(length_scale=3.0).anisotropic
    assert not cls(length_scale=[3.0]).anisotropic
    hp = k.hyperparameter_length_scale
    assert hp.name == "length_scale" and hp.n_elements == 3 and not hp.fixed
    assert cls(length_scale_bounds="fixed").hyperparameter_length_scale.fixed
    assert k.theta.shape == (5,) and k.bounds.shape == (5, 2)
    assert_allclose(k.theta[:3], np.log(ls))
    assert_allclose(k.bounds[:3], np.log([[1e-3, 1e3]] * 3))
    # theta round trip
    k2 = k.clone_with_theta(k.theta + 0.1)
    assert_allclose(k2.length_scale, ls * np.exp(0.1))
    assert_allclose(k2.theta, k.theta + 0.1)
    # clone and get/set_params
    c = clone(k)
    assert c.get_params()["length_scale"] is not None
    assert_array_equal(c.length_scale, ls)
    c.set_params(length_scale=np.ones(3))
    assert_array_equal(c.length_scale, np.ones(3))
    assert k == clone(k) and k != c
    assert "length_scale=array([0.5, 2. , 1. ])" in repr(k)


@pytest.mark.parametrize("cls", KERNELS)
def test_default_bounds_tune_an_array_and_fix_a_float(cls):
    """``length_scale_bounds="auto"``: an array is free in (1e-5, 1e5), a
    float is fixed, so the default kernels keep their theta."""
    free = cls(length_scale=[1.0, 2.0])
    ls = [h for h in free.hyperparameters if h.name == "length_scale"][0]
    assert not ls.fixed and ls.n_elements == 2
    assert_array_equal(ls.bounds, [[1e-5, 1e5]] * 2)
    assert free.get_params()["length_scale_bounds"] == "auto"
    for k in (cls(), cls(length_scale=3.0)):
        ls = [h for h in k.hyperparameters if h.name == "length_scale"][0]
        assert ls.fixed and k.n_dims == 2  # log sigma_b, log sigma_w
    tuned = cls(length_scale=3.0, length_scale_bounds=(0.1, 10.0))
    assert tuned.n_dims == 3
    assert_allclose(tuned.bounds[0], np.log([0.1, 10.0]))
    assert clone(tuned).get_params()["length_scale_bounds"] == (0.1, 10.0)
    with pytest.raises(ValueError, match="'length_scale_bounds'"):
        cls(length_scale_bounds="automatic")(np.ones((2, 1)))


@pytest.mark.parametrize("cls", KERNELS)
def test_in_sums_and_products(cls):
    X = _design(31, 8, 3)
    ard = cls(depth=2, length_scale=[0.5, 1.0, 2.0])
    kernel = ConstantKernel(1.5) * ard + WhiteKernel(0.1)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    assert names == [
        "k1__k1__constant_value",
        "k1__k2__length_scale",
        "k1__k2__sigma_b",
        "k1__k2__sigma_w",
        "k2__noise_level",
    ]
    assert kernel.theta.shape == (7,)
    _check_gradient(kernel, X, 1e-8)
    fixed = ConstantKernel() * cls(
        depth=1, length_scale=[1.0, 2.0, 3.0], length_scale_bounds="fixed"
    )
    assert fixed.theta.shape == (3,)  # constant, sigma_b, sigma_w


def test_gpr_fit_with_analytic_gradients():
    X, y = make_friedman1(n_samples=60, n_features=6, noise=0.1, random_state=0)
    kernel = (
        ConstantKernel() * NNGPKernel(depth=1, length_scale=np.ones(6)) + WhiteKernel()
    )
    gpr = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0).fit(X, y)
    lml, grad = gpr.log_marginal_likelihood(gpr.kernel_.theta, eval_gradient=True)
    # the analytic gradient of the marginal likelihood against differences
    h = 1e-5
    fd = []
    for c in range(gpr.kernel_.theta.size):
        t = gpr.kernel_.theta.copy()
        t[c] += h
        up = gpr.log_marginal_likelihood(t)
        t[c] -= 2 * h
        fd.append((up - gpr.log_marginal_likelihood(t)) / (2 * h))
    assert_allclose(grad, fd, rtol=1e-4, atol=1e-4 * abs(lml))
    assert gpr.kernel_.k1.k2.length_scale.shape == (6,)


# ------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "value, match",
    [
        ([1.0, 2.0], "has 2 entries but X has 3 features"),
        (0.0, "must be a float > 0"),
        (-1.0, "must be a float > 0"),
        (np.nan, "must be a float > 0"),
        ([1.0, np.nan, 1.0], "1-D array of finite floats > 0"),
        ([1.0, -2.0, 1.0], "1-D array of finite floats > 0"),
        (np.ones((3, 1)), "1-D array"),
        ([], "1-D array"),
    ],
)
@pytest.mark.parametrize("cls", KERNELS)
def test_invalid_length_scale(cls, value, match):
    X = _design(41, 4, 3)
    k = cls(length_scale=value)
    with pytest.raises(ValueError, match="'length_scale' parameter of " + cls.__name__):
        k(X)
    with pytest.raises(ValueError, match=match):
        k.diag(X)


def test_invalid_length_scale_type_and_bounds():
    X = _design(42, 4, 3)
    with pytest.raises(TypeError, match="'length_scale'"):
        NNGPKernel(length_scale="big")(X)
    with pytest.raises(TypeError, match="'length_scale'"):
        NNGPKernel(length_scale=True)(X)
    with pytest.raises(ValueError, match="'length_scale_bounds'"):
        NNGPKernel(length_scale_bounds=(1.0, 0.5))(X)


# ----------------------------------------------------- relevance recovery
@pytest.mark.slow
def test_relevance_recovery_on_friedman1():
    """make_friedman1 with 10 features: 5 informative, 5 pure noise. ARD
    drives the noise features' length scales far above the informative ones
    and beats the isotropic kernel's test R^2 (sklearn's anisotropic RBF on
    the same split for comparison, printed)."""
    X, y = make_friedman1(n_samples=400, n_features=10, noise=0.5, random_state=1)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=0)
    d = X.shape[1]

    def fit(kernel):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs convergence chatter
            gpr = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0)
            return gpr.fit(Xtr, ytr)

    ard = fit(
        ConstantKernel() * NNGPKernel(depth=2, length_scale=np.ones(d)) + WhiteKernel()
    )
    iso = fit(ConstantKernel() * NNGPKernel(depth=2) + WhiteKernel())
    rbf = fit(ConstantKernel() * RBF(length_scale=np.ones(d)) + WhiteKernel())
    r2 = {
        name: m.score(Xte, yte)
        for name, m in [("ard", ard), ("iso", iso), ("rbf", rbf)]
    }
    ls = ard.kernel_.k1.k2.length_scale
    print(f"\nR^2 {r2}; NNGP-ARD length scales {np.round(ls, 2)}")
    assert ls[5:].min() > 10 * ls[:5].max(), ls
    assert r2["ard"] > r2["iso"] + 0.02, r2


@pytest.mark.parametrize("cls", KERNELS)
@pytest.mark.parametrize(
    "arch", [dict(residual=True), dict(normalization="layer")], ids=repr
)
def test_residual_and_layer_norm_take_fixed_scales(cls, arch):
    """Length scales with residual blocks or layer normalisation: the values
    are those of the network on ``X / l``; with free scales the kernel and the
    other columns are unchanged and the length-scale columns are the
    derivatives (central differences)."""
    X = _design(41, 7, 3)
    ls = np.array([0.5, 2.0, 1.0])
    plain = cls(depth=3, **arch)
    fixed = cls(depth=3, length_scale=ls, length_scale_bounds="fixed", **arch)
    assert_array_equal(fixed(X), plain(X / ls))
    assert_array_equal(fixed.diag(X), plain.diag(X / ls))
    _, dK = fixed(X, eval_gradient=True)
    _, dref = plain(X / ls, eval_gradient=True)
    assert_array_equal(dK, dref)
    free = cls(depth=3, length_scale=ls, **arch)
    assert_array_equal(free(X), fixed(X))
    # the length-scale columns, against central differences of the kernel;
    # the other columns and the kernel are those of the fixed scales
    K, dK_free = free(X, eval_gradient=True)
    assert_array_equal(K, fixed(X))
    assert_array_equal(dK_free[..., 3:], dK)
    _check_gradient(free, X, 1e-8)


@pytest.mark.parametrize("arch", ARCHS, ids=repr)
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
@pytest.mark.parametrize("depth", [1, 3, 6])
@pytest.mark.parametrize("cls", KERNELS)
def test_residual_and_layer_norm_gradient_matches_finite_differences(
    cls, depth, activation, arch
):
    """Every ARD column (with sigma_b, sigma_w and, for residual blocks, a
    free branch_scale) of residual and layer-normalised networks against
    central differences of the kernel."""
    X = _design(50 + depth, 7, 3)
    free_branch = dict(branch_scale=0.8, branch_scale_bounds=(1e-2, 1e2))
    extra = free_branch if arch.get("residual") else {}
    k = _ard_kernel(cls, depth, activation, **extra, **arch)
    names = [h.name for h in k.hyperparameters if not h.fixed]
    lead = ["branch_scale"] if arch.get("residual") else []
    assert names == [*lead, "length_scale", "sigma_b", "sigma_w"]
    _check_gradient(k, X, 1e-8)


@pytest.mark.parametrize("cls", KERNELS)
@pytest.mark.parametrize("depth", [1, 3, 6])
def test_residual_relu_without_bias_is_homogeneous(cls, depth):
    """Residual ReLU blocks without bias: the branch B(lambda Sigma) = lambda
    B(Sigma) (F homogeneous of degree 1 in the covariance, G of degree 0) and
    the stream adds it, so K(s x) = s^2 K(x) (NTK parameterization: beta = 0)
    and sum_k dK / d log l_k = -2 K."""
    X = _design(60 + depth, 8, 3)
    k = cls(depth=depth, residual=True, sigma_b=0.0, length_scale=[0.6, 1.2, 2.4])
    K, dK = k(X, eval_gradient=True)
    ls_cols = dK[..., : X.shape[1]]
    assert_allclose(ls_cols.sum(-1), -2 * K, rtol=1e-12, atol=1e-13 * np.abs(K).max())


@pytest.mark.parametrize("cls", KERNELS)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_layer_norm_without_bias_is_scale_invariant(cls, activation):
    """Layer normalisation of every hidden layer's input without bias: the
    first layer's z = W x scales with x and LN(s z) = LN(z); the NTK's
    Theta~ = Theta r r' is invariant too (Theta ~ s^2, r ~ 1 / s), so
    K(s x) = K(x) for any activation and sum_k dK / d log l_k = 0."""
    X = _design(70, 8, 3)
    ls = np.array([0.6, 1.2, 2.4])
    k = cls(depth=3, activation=activation, normalization="layer", sigma_b=0.0,
            length_scale=ls)  # fmt: skip
    K, dK = k(X, eval_gradient=True)
    assert_allclose(k(3.0 * X), K, rtol=1e-12)  # the invariance itself
    ls_sum = dK[..., : X.shape[1]].sum(-1)
    assert np.abs(ls_sum).max() < 1e-12 * np.abs(K).max()
    assert np.abs(dK[..., : X.shape[1]]).max() > 1e-3 * np.abs(K).max()


def test_gpr_fit_with_residual_ard():
    """A GPR fit of a residual kernel with one free scale per feature runs
    with its analytic gradient (no error) and returns d scales."""
    X, y = make_friedman1(n_samples=40, n_features=5, noise=0.1, random_state=0)
    kernel = (
        ConstantKernel() * NNGPKernel(depth=3, residual=True, length_scale=np.ones(5))
        + WhiteKernel()
    )
    gpr = GaussianProcessRegressor(kernel, normalize_y=True, random_state=0).fit(X, y)
    assert gpr.kernel_.k1.k2.length_scale.shape == (5,)
    assert np.isfinite(gpr.log_marginal_likelihood_value_)


@pytest.mark.parametrize("cls", KERNELS)
def test_length_one_array_and_per_feature_bounds(cls):
    """As sklearn's RBF: an array of one scale is tuned (one theta entry);
    bounds of shape (n_features, 2) give each scale its own range."""
    X = _design(51, 8, 3)
    one = cls(depth=2, length_scale=np.ones(1))
    assert one.n_dims == 3 and not one.anisotropic
    _check_gradient(one, X[:, :1], 1e-8)
    bounds = [(1e-2, 1e2), (1e-3, 1e3), (0.5, 2.0)]
    k = cls(depth=2, length_scale=[0.7, 1.6, 1.0], length_scale_bounds=bounds)
    assert_allclose(k.bounds[:3], np.log(bounds))
    _check_gradient(k, X, 1e-8)
    for bad in (1.0, [(1e-2, 1e2)] * 2, [(2.0, 1.0)] * 3):
        with pytest.raises(ValueError, match="'length_scale_bounds' parameter of"):
            _ = cls(length_scale=np.ones(3), length_scale_bounds=bad).bounds
