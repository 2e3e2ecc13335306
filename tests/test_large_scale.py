"""Lazy dask Grams and Nyström approximations with the exact kernels."""

import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator

import sknnk._numerics.engine as engine_module
import sknnk._parallel as parallel_module
from sknnk import (
    NNGPKernel,
    NTKKernel,
    dask_gram,
    nystroem_error,
    select_nystroem_components,
)

da = pytest.importorskip("dask.array")

TILE = parallel_module.TILE


@pytest.fixture(scope="module")
def data():
    """Rows spread over three blocks of 256, with duplicates in different
    blocks, and a second set for rectangular Grams."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 12))
    X[5] = X[600]
    X[300] = X[10]
    Y = rng.normal(size=(530, 12))
    return X, Y


@pytest.fixture
def engine_calls(monkeypatch):
    """Shapes of the Grams the tiled engine computes (in this process)."""
    calls = []
    original = engine_module.gram

    def spy(network, X, Y=None, *args, **kwargs):
        calls.append(((len(X), len(X if Y is None else Y)), Y is None))
        return original(network, X, Y, *args, **kwargs)

    monkeypatch.setattr(engine_module, "gram", spy)
    return calls


KERNELS = [
    NTKKernel(depth=3, sigma_w=1.4, sigma_b=0.1),
    NNGPKernel(depth=2, activation="erf", sigma_w=1.2, sigma_b=0.2),
    NTKKernel(depth=2, dtype="float32"),
    ConstantKernel(2.0) * NTKKernel(depth=1) + WhiteKernel(0.3),
]


# ------------------------------------------------------------- dask_gram
@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_dask_gram_is_bitwise_the_local_gram(kernel, data):
    X, Y = data
    K = dask_gram(kernel, X, chunks=TILE)
    assert K.numblocks == (3, 3)
    K_local = kernel(X)
    assert K.dtype == K_local.dtype
    computed = K.compute(scheduler="threads")
    np.testing.assert_array_equal(computed, K_local)
    np.testing.assert_array_equal(computed, computed.T)
    # one block at a time, including a transposed one
    np.testing.assert_array_equal(
        K.blocks[2, 0].compute(scheduler="sync"), K_local[2 * TILE :, :TILE]
    )
    # rectangular, with different row and column blocks
    KXY = dask_gram(kernel, X, Y, chunks=(TILE, 2 * TILE))
    assert KXY.chunks == ((256, 256, 188), (512, 18))
    np.testing.assert_array_equal(KXY.compute(scheduler="threads"), kernel(X, Y))


def test_symmetric_blocks_are_computed_once(data, engine_calls):
    X, _ = data
    kernel = NTKKernel(depth=2)
    K = dask_gram(kernel, X, chunks=TILE)
    assert engine_calls == [((1, 1), True)]  # the probe, when building
    engine_calls.clear()
    K.compute(scheduler="sync")
    # 3 diagonal blocks + 3 above the diagonal; those below are transposes
    shapes = sorted(engine_calls)
    assert shapes == sorted(
        [((256, 256), True), ((256, 256), True), ((188, 188), True)]
        + [((256, 256), False), ((256, 188), False), ((256, 188), False)]
    )


def test_series_activation_blocks_agree_to_series_tolerance():
    # tanh: the number of Hermite terms is chosen per call, so blocks of
    # points of very different norms may differ in the last bits
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 5))
    X[:256] *= 0.05
    X[512:] *= 1.5
    kernel = NTKKernel(depth=2, activation="tanh")
    K = dask_gram(kernel, X, chunks=TILE).compute(scheduler="threads")
    K_local = kernel(X)
    scale = np.sqrt(np.outer(np.diag(K_local), np.diag(K_local)))
    assert np.max(np.abs(K - K_local) / scale) < 1e-13
    np.testing.assert_array_equal(K, K.T)


def test_dask_inputs_are_rechunked(data):
    X, Y = data
    kernel = NNGPKernel(depth=3)
    Xd = da.from_array(X, chunks=(100, 5))
    Yd = da.from_array(Y.astype(np.float32), chunks=(77, 12))
    K = dask_gram(kernel, Xd, chunks=TILE)
    assert K.chunks == ((256, 256, 188),) * 2
    np.testing.assert_array_equal(K.compute(scheduler="threads"), kernel(X))
    KXY = dask_gram(kernel, Xd, Yd, chunks=TILE)
    np.testing.assert_array_equal(
        KXY.compute(scheduler="threads"), kernel(X, Y.astype(np.float32))
    )


def test_later_changes_to_the_kernel_do_not_change_the_graph(data):
    X, _ = data
    kernel = ConstantKernel(2.0) * NTKKernel(depth=2)
    expected = kernel(X)
    K = dask_gram(kernel, X, chunks=TILE)
    kernel.set_params(k2__depth=4, k1__constant_value=3.0)
    np.testing.assert_array_equal(K.compute(scheduler="threads"), expected)


def test_blockwise_matvec_and_store(data, tmp_path):
    X, _ = data
    kernel = NTKKernel(depth=2)
    K = dask_gram(kernel, X, chunks=TILE)
    K_local = kernel(X)
    v = np.random.default_rng(2).normal(size=X.shape[0])
    Kv = (K @ v).compute(scheduler="threads")
    # the block sums run in a different order than one gemv
    np.testing.assert_allclose(
        Kv, K_local @ v, rtol=1e-13, atol=1e-13 * np.abs(Kv).max()
    )
    target = np.lib.format.open_memmap(
        tmp_path / "K.npy", mode="w+", dtype=K.dtype, shape=K.shape
    )
    da.store(K, target, lock=False, scheduler="threads")
    target.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "K.npy"), K_local)


def test_graph_holds_the_kernel_once_and_x_in_blocks(data):
    X, _ = data
    kernel = NTKKernel(depth=2)
    K = dask_gram(kernel, X, chunks=TILE)
    graph = dict(K.__dask_graph__())
    kernels = [v for v in graph.values() if isinstance(v, NTKKernel)]
    assert len(kernels) == 1
    arrays = [v for v in graph.values() if isinstance(v, np.ndarray)]
    assert sorted(a.shape[0] for a in arrays) == [188, 256, 256]
    np.testing.assert_array_equal(np.concatenate(arrays_in_order(graph, K)), X)


def arrays_in_order(graph, K):
    (x_name,) = {k[0] for k in graph if isinstance(k, tuple) and k[0] != K.name}
    return [graph[(x_name, i, 0)] for i in range(3)]


def test_non_sknnk_kernels_take_any_chunks(data):
    X, Y = data
    kernel = RBF(3.0)
    K = dask_gram(kernel, X[:250], Y[:90], chunks=(100, 40))
    assert K.chunks == ((100, 100, 50), (40, 40, 10))
    # sklearn's own code (cdist): same values in any blocking
    np.testing.assert_array_equal(K.compute(scheduler="sync"), kernel(X[:250], Y[:90]))


def test_dask_gram_validation(data):
    X, Y = data
    kernel = NTKKernel()
    with pytest.raises(ValueError, match="multiples of 256"):
        dask_gram(kernel, X, chunks=300)
    with pytest.raises(ValueError, match="chunks=256 or 512"):
        dask_gram(kernel, X, chunks=300)
    with pytest.raises(ValueError, match="multiples of 256"):
        dask_gram(ConstantKernel() * NTKKernel() + WhiteKernel(), X, chunks=300)
    with pytest.raises(ValueError, match="chunks"):
        dask_gram(kernel, X, chunks=0)
    with pytest.raises(TypeError, match="chunks"):
        dask_gram(kernel, X, chunks=256.0)
    with pytest.raises(TypeError, match="chunks"):
        dask_gram(kernel, X, chunks=True)
    with pytest.raises(ValueError, match="chunks"):
        dask_gram(kernel, X, chunks=(256, 256, 256))
    with pytest.raises(ValueError, match="square blocks"):
        dask_gram(kernel, X, chunks=(256, 512))
    with pytest.raises(TypeError, match="Kernel instance"):
        dask_gram(lambda a, b: a @ b.T, X)
    with pytest.raises(ValueError, match="12 features but Y has 3"):
        dask_gram(kernel, X, Y[:, :3])
    with pytest.raises(ValueError, match="12 features but Y has 3"):
        dask_gram(kernel, da.from_array(X), da.from_array(Y[:, :3]))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dask_gram(kernel, bad)
    with pytest.raises(ValueError, match="NaN"):
        dask_gram(kernel, X, bad)
    with pytest.raises(ValueError, match="2D array"):
        dask_gram(kernel, X[0])
    with pytest.raises(ValueError, match="2-D"):
        dask_gram(kernel, da.from_array(X[0]))
    with pytest.raises(TypeError, match="real numbers"):
        dask_gram(kernel, da.from_array(X.astype(complex)))
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        Xd = da.from_array(X, chunks=100)
        dask_gram(kernel, Xd[Xd[:, 0] > 0])
    with pytest.raises(ValueError, match="at least one sample"):
        dask_gram(kernel, da.from_array(X[:0]))
    # the kernel's own parameters are checked when the graph is built
    with pytest.raises(ValueError, match="'depth' parameter of NTKKernel"):
        dask_gram(NTKKernel(depth=-1), X)
    # NaN inside a dask input surfaces from the block that holds it
    K = dask_gram(kernel, da.from_array(bad, chunks=100), chunks=TILE)
    with pytest.raises(ValueError, match="NaN"):
        K.compute(scheduler="sync")
    np.testing.assert_array_equal(
        K.blocks[1, 2].compute(scheduler="sync"), kernel(X)[256:512, 512:]
    )


def test_missing_dask_gives_install_hint(monkeypatch, data):
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"pip install 'sknnk\[dask\]'"):
        dask_gram(NTKKernel(), data[0])


# ---------------------------------------------------- distributed cluster
@pytest.mark.slow
def test_dask_gram_on_a_cluster(client, data, tmp_path):
    import distributed

    X, Y = data
    Xb = np.concatenate([X, X[:150] + 0.5])  # 850 rows: 4 row blocks
    kernels = [
        NTKKernel(depth=3, sigma_w=1.4, sigma_b=0.1),
        NNGPKernel(depth=2, activation="erf", sigma_w=1.2, sigma_b=0.2),
    ]
    with distributed.get_task_stream(client) as stream:
        for kernel in kernels:
            K = dask_gram(kernel, Xb, chunks=TILE)
            np.testing.assert_array_equal(client.compute(K).result(), kernel(Xb))
            KXY = dask_gram(kernel, Xb, Y, chunks=(TILE, 2 * TILE))
            np.testing.assert_array_equal(client.compute(KXY).result(), kernel(Xb, Y))
    workers = {t["worker"] for t in stream.data}
    assert len(workers) == 2  # the blocks did run on both worker processes
    # persisted by the workers (one .npy file per row band), read back here
    kernel = kernels[0]
    K = dask_gram(kernel, Xb, chunks=TILE)
    da.to_npy_stack(tmp_path, K, axis=0)
    stored = da.from_npy_stack(tmp_path)
    np.testing.assert_array_equal(stored.compute(scheduler="sync"), kernel(Xb))
    # persisted in the cluster's memory and reused
    Kp = K.persist()
    np.testing.assert_array_equal(Kp.blocks[3, 1].compute(), kernel(Xb)[768:, 256:512])


# -------------------------------------------------------------- Nystroem
def test_nystroem_features_reproduce_the_nystroem_formula():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    kernel = NTKKernel(depth=2, sigma_w=1.4, sigma_b=0.1)
    nys = Nystroem(kernel=kernel, n_components=60, random_state=0).fit(X)
    Z = X[nys.component_indices_]
    np.testing.assert_array_equal(nys.components_, Z)
    Phi = nys.transform(X)
    ref = kernel(X, Z) @ np.linalg.pinv(kernel(Z)) @ kernel(Z, X)
    assert np.max(np.abs(Phi @ Phi.T - ref)) < 1e-12 * np.max(np.abs(ref))


def test_nystroem_uses_one_engine_call_per_block(engine_calls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100_000, 8))
    nys = Nystroem(kernel=NNGPKernel(depth=2), n_components=64, random_state=0)
    nys.fit(X[:5000])
    # pairwise_kernels calls kernel(Z, Z) with one object: the symmetric path
    assert engine_calls == [((64, 64), True)]
    engine_calls.clear()
    Phi = nys.transform(X)
    assert engine_calls == [((100_000, 64), False)]
    assert Phi.shape == (100_000, 64)


def test_nystroem_n_jobs_splits_the_landmarks(engine_calls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 8))
    kernel = NTKKernel(depth=2)
    ref = Nystroem(kernel=kernel, n_components=100, random_state=0).fit(X)
    engine_calls.clear()
    nys = Nystroem(kernel=kernel, n_components=100, random_state=0, n_jobs=2)
    nys.fit(X)
    Phi = nys.transform(X)
    # pairwise_kernels gives each thread one call on a slice of the landmarks
    assert sorted(engine_calls) == [
        ((100, 50), False),
        ((100, 50), False),
        ((1000, 50), False),
        ((1000, 50), False),
    ]
    K_ref = kernel(X, X[ref.component_indices_])
    np.testing.assert_allclose(
        Phi @ Phi.T, ref.transform(X) @ ref.transform(X).T,
        rtol=0, atol=1e-12 * np.abs(K_ref).max(),
    )  # fmt: skip


def test_nystroem_float32_inputs_use_the_float64_kernel():
    rng = np.random.default_rng(0)
    X32 = rng.normal(size=(500, 6)).astype(np.float32)
    kernel = NNGPKernel(depth=3)
    a = Nystroem(kernel=kernel, n_components=50, random_state=0).fit(X32)
    b = Nystroem(kernel=kernel, n_components=50, random_state=0)
    b.fit(X32.astype(np.float64))
    Fa = a.transform(X32)
    assert Fa.dtype == np.float64
    np.testing.assert_array_equal(Fa, b.transform(X32.astype(np.float64)))


def _features(kernel, X, Z):
    """Nyström features from a symmetric eigendecomposition of K_ZZ."""
    w, V = np.linalg.eigh(kernel(Z))
    return kernel(X, Z) @ (V / np.sqrt(w)) @ V.T


def test_nystroem_ridge_pipeline_equals_ridge_on_the_features():
    X, y = make_regression(n_samples=600, n_features=10, noise=5.0, random_state=0)
    X /= X.std(axis=0)
    Xtr, Xte, ytr, yte = X[:450], X[450:], y[:450], y[450:]
    kernel = NTKKernel(depth=3, sigma_w=1.5)
    model = make_pipeline(
        Nystroem(kernel=kernel, n_components=150, random_state=0), Ridge(alpha=1e-2)
    ).fit(Xtr, ytr)
    Z = Xtr[model[0].component_indices_]
    ridge = Ridge(alpha=1e-2).fit(_features(kernel, Xtr, Z), ytr)
    pred = ridge.predict(_features(kernel, Xte, Z))
    np.testing.assert_allclose(model.predict(Xte), pred, rtol=1e-8, atol=1e-8)
    assert model.score(Xte, yte) > 0.8


def test_nystroem_logistic_pipeline_and_grid_search():
    X, y = make_classification(
        n_samples=500, n_features=8, n_informative=5, random_state=0
    )
    Xtr, Xte, ytr, yte = X[:350], X[350:], y[:350], y[350:]
    kernel = NNGPKernel(depth=2)
    model = make_pipeline(
        Nystroem(kernel=kernel, n_components=100, random_state=0),
        LogisticRegression(C=10.0, max_iter=5000, tol=1e-10),
    ).fit(Xtr, ytr)
    Z = Xtr[model[0].component_indices_]
    logit = LogisticRegression(C=10.0, max_iter=5000, tol=1e-10)
    logit.fit(_features(kernel, Xtr, Z), ytr)
    np.testing.assert_allclose(
        model.predict_proba(Xte),
        logit.predict_proba(_features(kernel, Xte, Z)),
        atol=1e-6,
    )
    assert model.score(Xte, yte) > 0.8
    # hyperparameters of the kernel inside Nystroem are searchable
    search = GridSearchCV(
        model, {"nystroem__kernel__depth": [1, 3], "nystroem__n_components": [50]}, cv=3
    ).fit(Xtr, ytr)
    assert search.best_params_["nystroem__kernel__depth"] in (1, 3)
    assert (
        search.best_estimator_[0].kernel.depth
        == search.best_params_["nystroem__kernel__depth"]
    )


# Both fail with sklearn's own kernels too (RBF, DotProduct): Nystroem declares
# sparse support and float32 preservation, but sklearn's Kernel classes
# take dense input and return float64.
NYSTROEM_EXPECTED_FAILURES = {
    "check_estimator_sparse_tag": "Kernel instances take dense input only",
    "check_transformer_preserve_dtypes": "the kernels compute in float64",
}


@pytest.mark.parametrize("kernel", [NTKKernel(depth=2), NNGPKernel(activation="erf")])
def test_nystroem_check_estimator(kernel):
    check_estimator(
        Nystroem(kernel=kernel, n_components=10),
        expected_failed_checks=NYSTROEM_EXPECTED_FAILURES,
        on_skip=None,
    )


# -------------------------------------------------------- nystroem_error
@pytest.fixture(scope="module")
def gaussian():
    return np.random.default_rng(3).normal(size=(1200, 10))


@pytest.mark.parametrize(
    "kernel", [NNGPKernel(depth=3, sigma_w=1.5), NTKKernel(depth=3, sigma_w=1.5)]
)
def test_nystroem_error_matches_pinv_formula_and_sklearn(kernel, gaussian):
    X = gaussian
    ks = (16, 64, 128, 256)
    # n_points = n_samples: the error of the Gram of the evaluation points
    res = nystroem_error(kernel, X, ks, n_samples=400, n_points=400, random_state=0)
    np.testing.assert_array_equal(res.n_components, ks)
    assert len(res.sample_indices) == 400
    assert not set(res.sample_indices) & set(res.landmark_indices)
    assert np.all(np.diff(res.errors) < 0)  # nested landmarks
    # the same draw, extrapolated to the Gram of all 1200 points (default)
    # and to a Gram so large that its diagonal does not count
    default = nystroem_error(kernel, X, ks, n_samples=400, random_state=0)
    same = nystroem_error(kernel, X, ks, n_samples=400, n_points=1200, random_state=0)
    np.testing.assert_array_equal(default.errors, same.errors)
    huge = nystroem_error(kernel, X, ks, n_samples=400, n_points=10**15, random_state=0)
    E = X[res.sample_indices]
    K_ee = kernel(E)
    off = ~np.eye(len(E), dtype=bool)
    for i, k in enumerate(ks):
        Z = X[res.landmark_indices[:k]]
        R = K_ee - kernel(E, Z) @ np.linalg.pinv(kernel(Z)) @ kernel(Z, E)
        assert abs(res.errors[i] - np.linalg.norm(R) / np.linalg.norm(K_ee)) < 1e-10
        ref_off = np.linalg.norm(R[off]) / np.linalg.norm(K_ee[off])
        assert abs(huge.errors[i] - ref_off) < 1e-10
        # the residual is largest on the diagonal: a large Gram fares better
        assert huge.errors[i] < default.errors[i] < res.errors[i]
        # the landmarks and the error of sklearn's Nystroem with this seed
        nys = Nystroem(kernel=kernel, n_components=k, random_state=0).fit(X)
        np.testing.assert_array_equal(nys.component_indices_, res.landmark_indices[:k])
        Phi = nys.transform(E)
        R_sk = K_ee - Phi @ Phi.T
        assert abs(res.errors[i] - np.linalg.norm(R_sk) / np.linalg.norm(K_ee)) < 1e-12


def test_nystroem_error_is_reproducible(gaussian):
    kernel = NTKKernel(depth=2)
    a = nystroem_error(kernel, gaussian, [32, 8], n_samples=300, random_state=7)
    b = nystroem_error(kernel, gaussian, [32, 8], n_samples=300, random_state=7)
    c = nystroem_error(kernel, gaussian, [32, 8], n_samples=300, random_state=8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a.errors[0] < a.errors[1]  # the order of the candidates is kept
    assert not np.array_equal(a.landmark_indices, c.landmark_indices)
    assert not np.array_equal(a.errors, c.errors)
    # fewer points than asked for: all the non-landmarks
    d = nystroem_error(kernel, gaussian[:100], 32, random_state=0)
    assert len(d.sample_indices) == 68


def test_nystroem_error_validation(gaussian):
    kernel = NNGPKernel()
    with pytest.raises(ValueError, match="n_components \\+ 2 = 1201 rows"):
        nystroem_error(kernel, gaussian, 1199)
    nystroem_error(kernel, gaussian[:20], 18)  # the smallest valid case
    for bad in (0, [], [16, 0], "16", 16.0, [True]):
        with pytest.raises(ValueError, match="n_components"):
            nystroem_error(kernel, gaussian, bad)
    with pytest.raises(ValueError, match="n_samples"):
        nystroem_error(kernel, gaussian, 16, n_samples=1)
    with pytest.raises(ValueError, match="n_points"):
        nystroem_error(kernel, gaussian, 16, n_points=1)
    with pytest.raises(TypeError, match="Kernel instance"):
        nystroem_error("rbf", gaussian, 16)
    with pytest.raises(ValueError, match="NaN"):
        nystroem_error(kernel, np.full((50, 2), np.nan), 16)
    with pytest.raises(ValueError, match="tol"):
        select_nystroem_components(kernel, gaussian, tol=0.0)


def test_select_nystroem_components(gaussian):
    kernel = NTKKernel(depth=3, sigma_w=1.5)
    ks = (16, 64, 256)
    res = nystroem_error(kernel, gaussian, ks, n_samples=300, random_state=0)
    tol = 0.5 * (res.errors[0] + res.errors[1])
    k, sel = select_nystroem_components(
        kernel, gaussian, tol, n_components=(256, 64, 16), n_samples=300,
        random_state=0,
    )  # fmt: skip
    assert k == 64
    np.testing.assert_array_equal(sel.n_components, ks)
    np.testing.assert_array_equal(sel.errors[:2], res.errors[:2])
    assert np.isnan(sel.errors[2])  # not needed, not computed
    with pytest.warns(UserWarning, match="No candidate meets tol"):
        k, sel = select_nystroem_components(
            kernel, gaussian, 1e-9, n_components=ks, n_samples=300, random_state=0
        )
    assert k == 256
    np.testing.assert_array_equal(sel.errors, res.errors)


EXPR_SCRIPT = """
import numpy as np, dask.array as da
from sknnk import NTKKernel, dask_gram
assert da.array_expr_enabled()
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(600, 7)), rng.normal(size=(300, 7))
k = NTKKernel(depth=2)
K = dask_gram(k, X, chunks=256)
assert np.array_equal(K.compute(), k(X))
assert np.array_equal(K[512:, :256].compute(), k(X)[512:, :256])
KXY = dask_gram(k, da.from_array(X, chunks=100), Y, chunks=256)
assert np.array_equal(KXY.compute(), k(X, Y))
print("ok")
"""


@pytest.mark.slow
def test_dask_gram_in_array_expression_mode():
    # dask's opt-in query planning for arrays (fixed when dask.array is first
    # imported, hence a fresh interpreter)
    import os
    import subprocess

    env = dict(os.environ, DASK_ARRAY__QUERY_PLANNING="True")
    out = subprocess.run(
        [sys.executable, "-c", EXPR_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
