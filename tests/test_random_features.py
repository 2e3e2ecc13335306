"""Tests of NNGPSampler and NTKSampler (random features of the NNGP and NTK).

The exact Grams come from the independent references of ``_reference.py``
(closed forms and quadrature, written without sknnk); the features are checked
for unbiasedness by z-scores over many seeds, for the 1/sqrt(m) decay of the
error, and for the sklearn transformer contract.
"""

import pickle

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_circles
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import sknnk
from sknnk import NNGPKernel, NNGPSampler, NTKKernel, NTKSampler
from sknnk.activations import (
    ABReLU,
    ArcCosine,
    Custom,
    LeakyReLU,
    resolve_activation,
)
from sknnk.random_features import _draw_sketch, _sketch

SW, SB = 1.4, 0.3


@pytest.fixture
def X():
    """Read-only design of 300 rows: three blocks of the 128-row grid."""
    a = np.random.default_rng(0).normal(size=(300, 5))
    a.setflags(write=False)
    return a


def _gram(sampler, X):
    Z = sampler.fit_transform(X)
    return Z @ Z.T


# --------------------------------------------------------------- sklearn contract
@parametrize_with_checks(
    [
        NNGPSampler(n_components=64, random_state=0),
        NNGPSampler(n_components=33, depth=3, activation="tanh", random_state=0),
        NNGPSampler(depth=0),
        NTKSampler(n_components=64, depth=2, activation="erf", random_state=0),
        NTKSampler(n_components=31, dtype="float32", random_state=0),
        NTKSampler(
            n_components=16, parameterization="standard", width=8, random_state=0
        ),
    ]
)
def test_sklearn_compatible(estimator, check):
    name = getattr(check, "func", check).__name__
    if name == "check_methods_sample_order_invariance" and estimator.dtype == "float32":
        # sklearn's check asks rtol 1e-7, below float32's resolution (eps 1.2e-7):
        # OpenBLAS rounds a product 1-2 ulp differently at another row position
        # (a width-1 layer is a gemv with a scalar tail), so it fails for about
        # one permutation in three. The same check at float32's resolution:
        _check_float32_sample_order_invariance(estimator)
        return
    check(estimator)


def _check_float32_sample_order_invariance(estimator):
    """sklearn's sample-order check (its data, ``n_components=1``, random state
    1), over 200 permutations, to 4 float32 ulp of each feature's scale; and
    the same permutations in float64 to sklearn's 1e-7."""
    rnd = np.random.RandomState(0)
    X = 3 * rnd.uniform(size=(20, 3))
    est32 = clone(estimator).set_params(n_components=1, random_state=1).fit(X)
    est64 = clone(est32).set_params(dtype="float64").fit(X)
    F32, F64 = est32.transform(X), est64.transform(X)
    assert F32.dtype == np.float32
    scale = np.abs(F64).max(axis=0)
    for _ in range(200):
        idx = rnd.permutation(20)
        G32 = est32.transform(X[idx])
        bound = 4 * np.finfo(np.float32).eps * scale
        assert np.all(np.abs(G32 - F32[idx]) <= bound), (idx, G32 - F32[idx])
        np.testing.assert_allclose(est64.transform(X[idx]), F64[idx], rtol=1e-7)
    # measured on OpenBLAS: about 1 permutation in 3 differs in float32


def test_public_names():
    assert {"NNGPSampler", "NTKSampler"} <= set(sknnk.__all__)
    assert sknnk.NNGPSampler is NNGPSampler


# --------------------------------------------------------------- pointwise phi
_REF_NAMES = {
    "relu": "relu",
    "erf": "erf",
    "tanh": "tanh",
    "identity": "identity",
    "linear": "identity",
    "sigmoid": "sigmoid",
    "softplus": "softplus",
    "gelu": "gelu",
    "swish": "swish",
    "silu": "swish",
    "elu": "elu",
    "selu": "selu",
    "gelu_tanh": "gelu_tanh",
    "sin": "sin",
    "cos": "cos",
    "step": "step",
    "sign": "sign",
    "abs": "abs",
    LeakyReLU(0.1): "leaky_relu_0.1",
    ABReLU(0.1, 1.0): "leaky_relu_0.1",
    ArcCosine(2): "arccos2",
    ArcCosine(3): "arccos3",
    ArcCosine(4): "arccos4",
    ArcCosine(0): "step",
}


@pytest.mark.parametrize("activation", list(_REF_NAMES), ids=repr)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pointwise_matches_reference(activation, dtype):
    # kinks at 0 are excluded: the derivative there is a convention
    x = np.concatenate([np.linspace(-6, -1e-3, 301), np.linspace(1e-3, 6, 301)])
    xd = x.astype(dtype)
    xd.setflags(write=False)
    phi, dphi = resolve_activation(activation).pointwise()
    rphi, rdphi = ref.ACTIVATIONS[_REF_NAMES[activation]]
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    for fn, rfn in ((phi, rphi), (dphi, rdphi)):
        y = fn(xd)
        assert y.dtype == dtype and y.shape == x.shape
        np.testing.assert_allclose(y, rfn(xd.astype(float)), rtol=rtol, atol=rtol)


def test_pointwise_every_name_and_callables():
    x = np.linspace(-3, 3, 13)
    for name in sknnk.ACTIVATION_NAMES:
        phi, dphi = resolve_activation(name).pointwise()
        assert np.all(np.isfinite(phi(x))) and np.all(np.isfinite(dphi(x)))
    # user callables: derivative given, or by central differences (~1e-10)
    for act in (np.sin, Custom(np.sin), Custom(np.sin, derivative=np.cos)):
        phi, dphi = resolve_activation(act).pointwise()
        np.testing.assert_allclose(phi(x), np.sin(x), rtol=1e-15)
        np.testing.assert_allclose(dphi(x), np.cos(x), rtol=1e-8, atol=1e-9)


def test_pointwise_does_not_modify_input():
    x = np.linspace(-2, 2, 9)
    x.setflags(write=False)
    for name in sknnk.ACTIVATION_NAMES:
        phi, dphi = resolve_activation(name).pointwise()
        phi(x), dphi(x)
    np.testing.assert_array_equal(x, np.linspace(-2, 2, 9))


# --------------------------------------------------------------- unbiasedness
_XS = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -1.0], [2.0, -1.0, 0.5], [-0.3, 0.2, 0.1]])


def _exact(kind, activation, depth, **kw):
    """Exact Gram on ``_XS`` from the independent references."""
    if kw.get("width") is not None:
        return ref.standard_param_ntk(_XS, _XS, activation, depth, SW, SB, kw["width"])
    nngp, ntk = ref.closed_form_kernels(_XS, _XS, activation, depth, SW, SB)
    return nngp if kind == "nngp" else ntk


def _seed_grams(cls, n_seeds, m, **params):
    grams = []
    for seed in range(n_seeds):
        s = cls(n_components=m, sigma_w=SW, sigma_b=SB, random_state=seed, **params)
        grams.append(_gram(s, _XS))
    return np.array(grams)


def _max_z(grams, exact):
    iu = np.triu_indices(exact.shape[0])
    mean = grams.mean(0)[iu]
    se = grams.std(0, ddof=1)[iu] / np.sqrt(grams.shape[0])
    # entries without randomness (sign: phi^2 = 1) must match to rounding
    se = np.maximum(se, 1e-12 * np.abs(exact).max())
    return np.max(np.abs(mean - exact[iu]) / se)


def _tanh_exact(kind, depth):
    nngp, ntk = ref.quadrature_kernels(
        _XS, _XS, "tanh", None, depth, SW, SB, n_nodes=200
    )
    return nngp if kind == "nngp" else ntk


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("kind", ["nngp", "ntk"])
def test_depth1_unbiased(kind, activation):
    """Mean Gram over 400 seeds equals the exact kernel within Monte-Carlo
    error (z-scores of the 10 distinct entries); the same test rejects the
    kernel of a 3% different sigma_w."""
    cls = NNGPSampler if kind == "nngp" else NTKSampler
    grams = _seed_grams(cls, 400, 16, depth=1, activation=activation)
    if activation == "tanh":
        exact = _tanh_exact(kind, 1)
    else:
        exact = _exact(kind, activation, 1)
    assert _max_z(grams, exact) < 4.5
    nngp, ntk = ref.closed_form_kernels(_XS, _XS, "erf", 1, SW * 1.03, SB)
    if activation == "erf":  # power: a nearby wrong kernel is rejected
        assert _max_z(grams, nngp if kind == "nngp" else ntk) > 6


def test_depth1_unbiased_standard_parameterization():
    grams = _seed_grams(
        NTKSampler, 400, 16, depth=1, parameterization="standard", width=7
    )
    assert _max_z(grams, _exact("ntk", "relu", 1, width=7)) < 4.5


def test_sketch_unbiased():
    """TensorSRHT: E[S(a x b) . S(a' x b')] = (a . a')(b . b'), here with a
    short ``a`` (several sign vectors) and a long ``b``."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 5))
    B = rng.normal(size=(3, 40))
    exact = (A @ A.T) * (B @ B.T)
    vals = []
    for seed in range(2000):
        sk = _draw_sketch(np.random.default_rng(seed), 5, 40, 10, np.float64)
        out = np.empty((3, 20))
        _sketch(A, B, sk, out)
        vals.append(out @ out.T)
    vals = np.array(vals)
    assert _max_z(vals, exact) < 4.5
    # the sketch is an unbiased estimate, not the exact value
    assert np.abs(vals[0] - exact).max() > 1e-3 * np.abs(exact).max()


@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_depth0_exact(cls):
    Z = cls(depth=0, sigma_w=SW, sigma_b=SB).fit_transform(_XS)
    np.testing.assert_allclose(Z @ Z.T, _exact("nngp", "relu", 0), rtol=1e-14)
    assert Z.shape == (4, 4)
    Zs = NTKSampler(depth=0, parameterization="standard", width=3).fit_transform(_XS)
    np.testing.assert_allclose(Zs @ Zs.T, _XS @ _XS.T + 1, rtol=1e-14)


def _rel_err(cls, X, K, m, seeds, **params):
    errs = [
        np.linalg.norm(_gram(cls(n_components=m, random_state=s, **params), X) - K)
        for s in range(seeds)
    ]
    return np.sqrt(np.mean(np.square(errs))) / np.linalg.norm(K)


@pytest.mark.parametrize(
    "cls, kcls", [(NNGPSampler, NNGPKernel), (NTKSampler, NTKKernel)]
)
def test_error_decays_like_inverse_sqrt_m(cls, kcls):
    X = np.random.default_rng(2).normal(size=(60, 4))
    params = dict(depth=1, activation="erf", sigma_w=SW, sigma_b=SB)
    K = kcls(**params)(X)
    small = _rel_err(cls, X, K, 256, 12, **params)
    large = _rel_err(cls, X, K, 4096, 12, **params)
    assert 3.0 < small / large < 5.3
    assert small < 0.25


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("cls, kind", [(NNGPSampler, "nngp"), (NTKSampler, "ntk")])
def test_depth3_bias_small(cls, kind, activation):
    """Depth 3 is biased by O(1/m) (each layer sees an estimated covariance):
    with only m=64 units the mean over 1000 seeds is within 2% of the kernel
    scale sqrt(k(x, x) k(x', x')) of every exact entry, up to 4 standard
    errors; a 3% different sigma_w is rejected by the same criterion."""
    grams = _seed_grams(cls, 1000, 64, depth=3, activation=activation)
    if activation == "tanh":
        exact = _tanh_exact(kind, 3)
    else:
        exact = _exact(kind, activation, 3)
    mean = grams.mean(0)
    se = grams.std(0, ddof=1) / np.sqrt(grams.shape[0])
    scale = np.sqrt(np.outer(np.diag(exact), np.diag(exact)))
    assert np.all(np.abs(mean - exact) <= 4 * se + 0.02 * scale)
    k = cls is NNGPSampler and NNGPKernel or NTKKernel
    wrong = k(depth=3, activation=activation, sigma_w=SW * 1.03, sigma_b=SB)(_XS)
    assert not np.all(np.abs(mean - wrong) <= 4 * se + 0.02 * scale)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The Hermite series")  # elu/selu: ~1e-3
@pytest.mark.parametrize(
    "activation",
    list(_REF_NAMES)
    + [n for n in sknnk.ACTIVATION_NAMES if n not in _REF_NAMES]
    + [np.sin],
    ids=repr,
)
def test_every_activation_depth1_unbiased(activation):
    """Every activation: the depth-1 mean Gram over 300 seeds (m=16) equals
    NNGPKernel / NTKKernel within Monte-Carlo error."""
    for cls, kcls in ((NNGPSampler, NNGPKernel), (NTKSampler, NTKKernel)):
        exact = kcls(depth=1, activation=activation, sigma_w=SW, sigma_b=SB)(_XS)
        grams = _seed_grams(cls, 300, 16, depth=1, activation=activation)
        assert _max_z(grams, exact) < 4.5


# --------------------------------------------------------------- behaviour
@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_batch_size_and_n_jobs_bitwise(cls, X):
    for params in ({"depth": 2, "activation": "tanh"}, {"depth": 1}):
        base = cls(n_components=40, random_state=3, **params).fit(X)
        ref_out = base.transform(X)
        for batch_size in (1, 7, 128, 129, 300, 1000):
            for n_jobs in (1, 2):
                s = clone(base).set_params(batch_size=batch_size, n_jobs=n_jobs)
                np.testing.assert_array_equal(s.fit(X).transform(X), ref_out)
        np.testing.assert_array_equal(base.transform(sp.csr_matrix(X)), ref_out)


@pytest.mark.slow  # starting the worker processes takes seconds
def test_process_backend_bitwise(X):
    """Backends without shared memory (loky processes here, dask alike) get
    batches and return their features: same bits as the sequential run."""
    from joblib import parallel_config

    s = NTKSampler(n_components=40, depth=2, random_state=0, batch_size=128).fit(X)
    expected = s.transform(X)
    with parallel_config(backend="loky", n_jobs=2):
        np.testing.assert_array_equal(s.transform(X), expected)


def test_ntk_features_extend_nngp_features(X):
    params = dict(n_components=50, depth=3, activation="erf", random_state=5)
    Zg = NNGPSampler(**params).fit_transform(X)
    Zt = NTKSampler(**params).fit_transform(X)
    assert Zg.shape == (300, 51) and Zt.shape == (300, 101)
    np.testing.assert_array_equal(Zt[:, :51], Zg)
    assert NTKSampler(n_components=51).fit(X).transform(X).shape == (300, 104)


@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_random_state(cls, X):
    a = cls(n_components=30, depth=2, random_state=0).fit_transform(X)
    b = cls(n_components=30, depth=2, random_state=0).fit_transform(X)
    c = cls(n_components=30, depth=2, random_state=1).fit_transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    r1 = cls(30, random_state=np.random.RandomState(4)).fit_transform(X)
    r2 = cls(30, random_state=np.random.RandomState(4)).fit_transform(X)
    np.testing.assert_array_equal(r1, r2)
    np.random.seed(7)  # noqa: NPY002 - sklearn's random_state=None convention
    n1 = cls(30).fit_transform(X)
    np.random.seed(7)  # noqa: NPY002 - sklearn's random_state=None convention
    n2 = cls(30).fit_transform(X)
    np.testing.assert_array_equal(n1, n2)
    # refitting draws again only if the seed is not fixed
    s = cls(30, random_state=0)
    np.testing.assert_array_equal(s.fit(X).transform(X), s.fit(X).transform(X))


@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_float32(cls, X):
    params = dict(n_components=64, depth=2, activation="tanh", random_state=0)
    z64 = cls(**params).fit_transform(X)
    s32 = cls(dtype="float32", **params).fit(X)
    z32 = s32.transform(X)
    assert z32.dtype == np.float32 and z64.dtype == np.float64
    assert all(W.dtype == np.float32 for W in s32.weights_)
    # same draws, rounded: agreement to float32 precision
    np.testing.assert_allclose(z32, z64, atol=2e-6 * np.abs(z64).max())
    assert cls(**params).fit(X).transform(X.astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_input_not_modified(cls, X):
    before = np.array(X)
    Xf = np.asfortranarray(X)
    Xf.setflags(write=False)
    s = cls(n_components=20, depth=2, random_state=0).fit(X)
    np.testing.assert_array_equal(s.transform(Xf), s.transform(X))
    np.testing.assert_array_equal(X, before)
    np.testing.assert_array_equal(Xf, before)


def test_pickle_and_feature_names(X):
    s = NTKSampler(n_components=20, depth=2, random_state=0).fit(X)
    s2 = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(s.transform(X), s2.transform(X))
    names = s.get_feature_names_out()
    assert len(names) == 41 and names[0] == "ntksampler0"


def test_params_clone():
    s = NTKSampler(n_components=10, activation=LeakyReLU(0.2), depth=2)
    p = s.get_params()
    assert p["activation__negative_slope"] == 0.2 and p["n_components"] == 10
    c = clone(s).set_params(activation__negative_slope=0.3, depth=4)
    assert c.activation.negative_slope == 0.3 and c.depth == 4
    assert s.activation.negative_slope == 0.2 and s.depth == 2


# --------------------------------------------------------------- errors
@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_bad_input(cls, X):
    s = cls(n_components=8).fit(X)
    bad = np.array(X)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        s.transform(bad)
    with pytest.raises(ValueError, match="NaN"):
        cls().fit(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        s.transform(bad)
    with pytest.raises(ValueError, match="X has 4 features, but .* expecting 5"):
        s.transform(X[:, :4])
    with pytest.raises(ValueError, match="complex"):
        cls().fit(X + 1j)


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ({"n_components": 0}, ValueError, "'n_components' parameter .* int >= 1"),
        ({"n_components": 2.5}, TypeError, "'n_components'"),
        ({"depth": -1}, ValueError, "'depth'"),
        ({"activation": "relu6"}, ValueError, "'activation' .* among .*'tanh'"),
        ({"sigma_w": 0.0}, ValueError, "'sigma_w'"),
        ({"sigma_b": -1.0}, ValueError, "'sigma_b'"),
        ({"dtype": "float16"}, ValueError, "'dtype'"),
        ({"batch_size": 0}, ValueError, "'batch_size'"),
        ({"n_jobs": 0}, ValueError, "'n_jobs'"),
    ],
)
@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_bad_params(cls, params, exc, match, X):
    with pytest.raises(exc, match=match):
        cls(**params).fit(X)


def test_standard_needs_width(X):
    with pytest.raises(ValueError, match="needs an explicit 'width'"):
        NTKSampler(parameterization="standard").fit(X)
    with pytest.raises(ValueError, match="'parameterization'"):
        NTKSampler(parameterization="mup").fit(X)


# --------------------------------------------------------------- pipelines
def test_ridge_pipeline_matches_kernel_ridge():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    Xt = rng.normal(size=(40, 3))
    for cls, kcls in ((NNGPSampler, NNGPKernel), (NTKSampler, NTKKernel)):
        params = dict(depth=2, activation="erf", sigma_w=SW, sigma_b=SB)
        exact = KernelRidge(alpha=0.1, kernel=kcls(**params)).fit(X, y).predict(Xt)
        approx = (
            make_pipeline(
                cls(n_components=4096, random_state=0, **params),
                Ridge(alpha=0.1, fit_intercept=False),
            )
            .fit(X, y)
            .predict(Xt)
        )
        assert np.linalg.norm(approx - exact) < 0.1 * np.linalg.norm(exact)


@pytest.mark.parametrize(
    "clf",
    [
        LogisticRegression(C=10.0),
        SGDClassifier(random_state=0),
        LinearSVC(C=10.0),
    ],
    ids=["logreg", "sgd", "linearsvc"],
)
@pytest.mark.parametrize("cls", [NNGPSampler, NTKSampler])
def test_classifier_pipelines(cls, clf):
    X, y = make_circles(300, factor=0.4, noise=0.05, random_state=0)
    linear = make_pipeline(StandardScaler(), clone(clf)).fit(X, y).score(X, y)
    pipe = make_pipeline(
        cls(n_components=256, depth=2, sigma_b=1.0, random_state=0),
        StandardScaler(),
        clf,
    )
    assert pipe.fit(X, y).score(X, y) > 0.9 > linear + 0.2


def test_grid_search():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = np.tanh(2 * X[:, 0]) + 0.05 * rng.normal(size=120)
    pipe = make_pipeline(NNGPSampler(n_components=128, random_state=0), Ridge(1e-3))
    grid = {"nngpsampler__depth": [0, 1, 3], "nngpsampler__sigma_w": [0.5, 2.0]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert search.best_params_["nngpsampler__depth"] > 0  # y is not linear
    assert len(search.cv_results_["params"]) == 6
    pipe = make_pipeline(
        NTKSampler(n_components=64, activation=LeakyReLU(), random_state=0), Ridge()
    )
    grid = {"ntksampler__activation__negative_slope": [0.0, 0.5]}
    GridSearchCV(pipe, grid, cv=2).fit(X, y)
