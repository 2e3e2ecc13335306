"""The Gram engine: tile schedule, fast paths, parallel backends, float32,
progress output and memory refusal."""

import math
import re

import joblib
import numpy as np
import pytest
from _reference import ACTIVATIONS as REF_ACTIVATIONS
from _reference import central_fd, quadrature_kernels
from numpy.testing import assert_allclose
from sklearn.base import clone

from sknnk import NNGPKernel, NTKKernel
from sknnk import _parallel as par
from sknnk._numerics import engine, gram
from sknnk._numerics.fast import constants, polynomial_array
from sknnk.activations import Custom, resolve_activation


def _design(seed, n, d=6):
    """Random rows of varied norm with the degenerate cases of the angle:
    duplicates, a zero row, parallel and antiparallel pairs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 2.0, size=(n, 1))
    X[1] = X[0]
    X[2] = 0.0
    X[3] = 3.0 * X[4]
    X[5] = -0.5 * X[6]
    return X


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 8 x 8, so that small inputs exercise many (and edge) tiles."""
    monkeypatch.setattr(par, "TILE", 8)


# ----------------------------------------------------------------- schedule
@pytest.mark.parametrize("n,m", [(1, 1), (7, 7), (8, 8), (9, 9), (37, 37), (5, 19)])
@pytest.mark.parametrize("tile", [1, 3, 8])
def test_tiles_cover_every_entry_once(n, m, tile):
    for symmetric in (True, False) if n == m else (False,):
        count = np.zeros((n, m), dtype=int)
        for i0, i1, j0, j1, diag in par.tile_grid(n, m, symmetric, tile):
            assert (i1 - i0) <= tile and (j1 - j0) <= tile
            if diag:
                assert (i0, i1) == (j0, j1)
                iu = np.triu_indices(i1 - i0)
                count[i0 + iu[0], j0 + iu[1]] += 1
            else:
                count[i0:i1, j0:j1] += 1
        if symmetric:
            assert np.array_equal(count, np.triu(np.ones((n, n), dtype=int)))
        else:
            assert np.all(count == 1)


@pytest.mark.parametrize("n_tasks", [1, 2, 3, 8, 100])
def test_band_tasks_partition_the_tiles(n_tasks):
    tiles = par.tile_grid(53, 53, True, 8)
    tasks = par.band_tasks(tiles, 53, n_tasks)
    flat = [t for task in tasks for t in task]
    assert sorted(flat) == sorted(tiles)
    assert 1 <= len(tasks) <= min(n_tasks, 7)
    for task in tasks:  # whole row bands
        assert len({t[0] for t in task}) == len({t[0] for t in task if t[4]})


# ------------------------------------------------------ fast arccos accuracy
def test_polynomial_arccos_accuracy():
    cst = constants(np.float64)
    x = np.concatenate(
        [
            np.linspace(-1.0, 1.0, 400_001),
            np.nextafter(1.0, 0.0) - np.arange(2000) * 2.0**-53,
            -1.0 + np.arange(1, 2000) * 2.0**-53,
            np.random.default_rng(0).uniform(-1.0, 1.0, 200_000),
        ]
    )
    ref = np.array([math.acos(-v) for v in x])  # pi - arccos(x)
    got = polynomial_array(x, cst, False)
    err = np.abs(got - ref)
    assert err.max() <= 4.5e-16  # one ulp of pi
    # near rho = -1, where pi - theta is small, it keeps its relative accuracy
    near = (x < -0.999) & (x > -1.0)
    assert (err[near] / ref[near]).max() <= 2.3e-16
    assert got[x == -1.0].max() == 0.0 and got[x == 1.0].min() == np.float64(np.pi)
    assert got[x == 0.0].min() == np.float64(np.pi / 2)
    # the arcsin of the erf path, relative accuracy for small arguments
    y = np.concatenate([x, np.geomspace(1e-300, 0.5, 2000)])
    ref = np.array([math.asin(v) for v in y])
    got = polynomial_array(y, cst, True)
    assert np.all(np.abs(got - ref) <= 2.3e-16 * np.maximum(np.abs(ref), 1.0))
    nz = ref != 0
    assert (np.abs(got - ref)[nz] / np.abs(ref[nz])).max() <= 4.5e-16  # 2 ulps


# --------------------------------------- fast paths against the generic path
def _generic(kernel, X, Y=None, eval_gradient=False):
    """The same kernel through the per-entry driver (``tile_generic``)."""
    orig = gram.family_of
    try:
        gram.family_of = lambda code: (
            gram.SERIES_FAMILY if code == gram.SERIES else gram.GENERIC_FAMILY
        )
        return kernel(X, Y, eval_gradient=eval_gradient)
    finally:
        gram.family_of = orig


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "abs", "erf"])
@pytest.mark.parametrize("depth", [1, 3, 6])
@pytest.mark.parametrize("sigma_w,sigma_b", [(1.5, 0.1), (np.sqrt(2.0), 0.0)])
def test_fast_paths_match_generic(activation, depth, sigma_w, sigma_b):
    X, Y = _design(0, 40), _design(1, 9)
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=depth, activation=activation, sigma_w=sigma_w, sigma_b=sigma_b)
        K, dK = k(X, eval_gradient=True)
        K_ref, dK_ref = _generic(k, X, eval_gradient=True)
        scale = np.abs(K_ref).max()
        assert_allclose(K, K_ref, rtol=1e-13, atol=1e-14 * scale)
        # dG diverges like 1/sin(theta) near rho = +-1: compare in scale
        assert_allclose(dK, dK_ref, rtol=1e-9, atol=1e-11 * np.abs(dK_ref).max())
        assert_allclose(k(X, Y), _generic(k, X, Y), rtol=1e-13, atol=1e-14 * scale)


@pytest.mark.parametrize("sigma_b", [0.1, 0.0])
def test_series_rows_match_generic(sigma_b):
    X = _design(2, 12, d=3)
    X *= 1.2 * np.sqrt(3) / np.linalg.norm(X, axis=1).max()
    for cls in (NNGPKernel, NTKKernel):
        k = cls(depth=2, activation="tanh", sigma_w=1.2, sigma_b=sigma_b)
        K, dK = k(X, eval_gradient=True)
        orig = gram.family_of
        try:
            gram.family_of = lambda code: gram.GENERIC_FAMILY
            K_ref, dK_ref = k(X, eval_gradient=True)
        finally:
            gram.family_of = orig
        assert_allclose(K, K_ref, rtol=1e-12, atol=1e-14)
        assert_allclose(dK, dK_ref, rtol=1e-10, atol=1e-13)


def _odd_even_design(seed):
    """Rows with small correlations (few terms per row segment), near-duplicates
    and an antiparallel pair (all terms), a zero row; variances <= 1.6."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(30, 12))
    X[10:14] = X[:4] + 0.02 * rng.normal(size=(4, 12))
    X[14] = -X[5]
    X[15] = 0.0
    return X * (1.1 / np.linalg.norm(X, axis=1).max() * np.sqrt(12))


def _mixed(x):
    return np.sin(x) + 0.3 * np.cos(2.0 * x)


def _dmixed(x):
    return np.cos(x) - 0.6 * np.sin(2.0 * x)


# activation, reference (phi, phi') or its key, parity of the tables of phi and
# of its derivatives from the term k = 2 on (see gram.parity_table)
PARITY_CASES = [
    ("tanh", "tanh", [1, 0, 1, 0]),
    (Custom(np.sin, np.cos), "sin", [1, 0, 1, 0]),
    (Custom(np.cos, lambda x: -np.sin(x)), "cos", [0, 1, 0, 1]),
    # an even function plus x / 2; its derivative 1 / 2 plus an odd function
    ("softplus", "softplus", [0, 1, 0, 1]),
    (Custom(_mixed, _dmixed), (_mixed, _dmixed), [-1, -1, -1, -1]),
]


@pytest.mark.parametrize(
    "activation,key,parity",
    PARITY_CASES,
    ids=["tanh", "sin", "cos", "softplus", "mixed"],
)
def test_series_parity_and_truncation(activation, key, parity, small_tiles):
    """The series tiles (one parity in rho^2, terms chosen per row segment)
    against the per-entry driver (every term, dense Horner) and against
    independent Gauss-Hermite quadrature of the recursion and its gradient."""
    X, Y = _odd_even_design(5), _odd_even_design(6)[:13]
    sw, sb = 1.1, 0.2
    kw = dict(depth=3, activation=activation, sigma_w=sw, sigma_b=sb)
    spec = resolve_activation(activation, "test")
    network = engine.Network(ntk=True, depth=3, sigma_w=sw, sigma_b=sb, activation=spec)
    prep = engine.prepare(network, X, want_grad=True)
    assert gram.parity_table(prep.coef, prep.nterms).tolist() == [parity] * 3
    need = gram.need_table(prep.coef, prep.rem, prep.nterms)
    # the truncation does adapt: fewer terms at |rho| <= 1/4, all at rho = 1
    # (every term of each point: its tables stop where it has converged)
    assert np.all(need[:, gram.LEVELS // 4].max(axis=1) < prep.nterms)
    nonzero = np.any(prep.coef != 0.0, axis=1)  # (layer, point, term)
    own = nonzero.shape[2] - np.argmax(nonzero[:, :, ::-1], axis=2)
    assert np.array_equal(need[:, gram.LEVELS], own)
    assert np.all(own.max(axis=1) == prep.nterms)
    phi, dphi = REF_ACTIVATIONS[key] if isinstance(key, str) else key
    idx = [0, 10, 5, 14, 15, 20]  # a near-duplicate, antiparallel, zero
    theta = np.log([sb, sw])

    def quad(t, Z=X[idx]):
        s_b, s_w = np.exp(t)
        return np.stack(quadrature_kernels(Z, None, phi, dphi, 3, s_w, s_b, 200))

    refs = quad(theta)
    fds = central_fd(quad, theta, 1e-5)
    for cls in (NNGPKernel, NTKKernel):
        k = cls(**kw)
        K, dK = k(X, eval_gradient=True)
        K_ref, dK_ref = _generic(k, X, eval_gradient=True)
        scale = np.abs(K_ref).max()
        assert_allclose(K, K_ref, rtol=1e-12, atol=1e-14 * scale)
        assert_allclose(dK, dK_ref, rtol=1e-10, atol=1e-13 * np.abs(dK_ref).max())
        KXY = k(X, Y)
        assert_allclose(KXY, _generic(k, X, Y), rtol=1e-12, atol=1e-14 * scale)
        ref, fd = refs[cls._kind], fds[cls._kind]
        assert_allclose(K[np.ix_(idx, idx)], ref, rtol=1e-9, atol=1e-9 * scale)
        dK_sub = dK[np.ix_(idx, idx)]
        assert_allclose(dK_sub, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())


# --------------------------------------------- n_jobs and backend invariance
KERNELS = [
    NTKKernel(depth=3, activation="relu", sigma_w=1.4, sigma_b=0.2),
    NNGPKernel(depth=2, activation="leaky_relu", sigma_w=1.1, sigma_b=0.3),
    NTKKernel(depth=2, activation="erf", sigma_w=1.3, sigma_b=0.1),
    NTKKernel(depth=2, activation="tanh", sigma_w=1.0, sigma_b=0.1),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_bitwise_equal_for_any_n_jobs(kernel, small_tiles):
    X = _design(3, 45)
    X[-3:] = X[:3]  # duplicates on different tiles
    ref_K, ref_dK = clone(kernel).set_params(n_jobs=1)(X, eval_gradient=True)
    ref_XY = kernel(X, X[:20])
    assert np.array_equal(ref_K, ref_K.T)
    for n_jobs in (2, 3, -1):
        k = clone(kernel).set_params(n_jobs=n_jobs)
        K, dK = k(X, eval_gradient=True)
        assert np.array_equal(K, ref_K) and np.array_equal(dK, ref_dK)
        assert np.array_equal(k(X, X[:20]), ref_XY)
    with joblib.parallel_config(backend="threading", n_jobs=4):
        K, dK = kernel(X, eval_gradient=True)
    assert np.array_equal(K, ref_K) and np.array_equal(dK, ref_dK)


@pytest.mark.parametrize("kernel", KERNELS[:3], ids=repr)
def test_returning_blocks_path_equals_shared_path(kernel, small_tiles, monkeypatch):
    """The path of process backends (tasks return blocks), run on threads."""
    X = _design(4, 45)
    ref_K, ref_dK = kernel(X, eval_gradient=True)
    ref_XY = kernel(X, X[:30])
    monkeypatch.setattr(par, "active_backend", lambda: ("returning", False))
    k = clone(kernel).set_params(n_jobs=3)
    K, dK = k(X, eval_gradient=True)
    assert np.array_equal(K, ref_K) and np.array_equal(dK, ref_dK)
    assert np.array_equal(k(X, X[:30]), ref_XY)


@pytest.mark.slow
def test_process_backend_is_used_not_replaced_by_threads(monkeypatch):
    """A user's ``parallel_config(backend=...)`` without shared memory reaches
    the returning path (``require='sharedmem'`` would override it)."""
    seen = []
    orig = par.run_returning
    monkeypatch.setattr(
        par, "run_returning", lambda *a, **k: seen.append(1) or orig(*a, **k)
    )
    X = _design(5, 30)
    k = NTKKernel(depth=2)
    ref = k(X)
    with joblib.parallel_config(backend="loky", n_jobs=2):
        assert par.active_backend()[1] is False
        K = k(X)
    assert seen and np.array_equal(K, ref)


# ------------------------------------------------------------------ float32
@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "leaky_relu"])
def test_float32_error_bound(activation, small_tiles):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(60, 16))
    kw = dict(depth=3, activation=activation, sigma_w=1.4, sigma_b=0.1)
    for cls in (NNGPKernel, NTKKernel):
        K64, dK64 = cls(**kw)(X, eval_gradient=True)
        K32, dK32 = cls(**kw, dtype="float32")(X, eval_gradient=True)
        assert K32.dtype == np.float32 and dK32.dtype == np.float32
        assert np.abs(K32 - K64).max() <= 1e-6 * np.abs(K64).max()
        assert np.abs(dK32 - dK64).max() <= 1e-5 * np.abs(dK64).max()
        assert np.array_equal(K32, K32.T)
        Y32 = cls(**kw, dtype=np.float32)(X, X[:7])
        assert Y32.dtype == np.float32
        assert np.abs(Y32 - K64[:, :7]).max() <= 1e-6 * np.abs(K64).max()


def test_float32_near_duplicates_bound():
    # the angle of nearly parallel inputs is ill-conditioned: dtheta ~
    # sqrt(2 drho), so float32 loses about half its digits there
    rng = np.random.default_rng(7)
    X = rng.normal(size=(20, 32))
    X = np.vstack([X, X + 1e-4 * rng.normal(size=X.shape)])
    K64 = NTKKernel(depth=3, sigma_w=1.4, sigma_b=0.1)(X)
    K32 = NTKKernel(depth=3, sigma_w=1.4, sigma_b=0.1, dtype="float32")(X)
    assert np.abs(K32 - K64).max() <= 1e-4 * np.abs(K64).max()


def test_dtype_validation():
    X = _design(8, 10)
    with pytest.raises(ValueError, match="'dtype' parameter of NTKKernel"):
        NTKKernel(dtype="float16")(X)
    with pytest.raises(ValueError, match="'dtype' parameter of NNGPKernel"):
        NNGPKernel(dtype=int)(X)
    assert NTKKernel(dtype=np.dtype("float64"))(X).dtype == np.float64


# ------------------------------------------------------- verbose, memory
def test_verbose_progress(capsys, small_tiles):
    X = _design(9, 60)
    NTKKernel(depth=2, verbose=0)(X)
    NTKKernel(depth=2, verbose=False)(X)
    assert capsys.readouterr().out == ""
    NTKKernel(depth=2, verbose=1, n_jobs=2)(X, eval_gradient=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("[sknnk] NTKKernel 60 x 60 + gradient: 36 tiles")
    assert any("%" in line and "left" in line for line in lines[1:-1])
    assert lines[-1].startswith("[sknnk] NTKKernel 60 x 60 + gradient: done in")
    # a free length scale: a second pass with its own lines
    kw = dict(depth=2, verbose=1, n_jobs=2, length_scale_bounds=(1e-5, 1e5))
    NTKKernel(**kw)(X, eval_gradient=True)
    lines = capsys.readouterr().out.strip().splitlines()
    ard = "[sknnk] NTKKernel 60 x 60 + gradient (length-scale partials)"
    assert lines[-1].startswith(ard + ": done in")
    assert any(line.startswith(ard + ": 36 tiles") for line in lines)
    with pytest.raises(ValueError, match="'verbose' parameter"):
        NTKKernel(verbose=-1)(X)


def test_memory_refused_before_allocating(monkeypatch):
    import sknnk._memory as v

    monkeypatch.setattr(v, "available_memory", lambda: 10**6)

    def no_plan(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("planned (and would allocate) before refusing")

    monkeypatch.setattr(engine, "gram", no_plan)
    X = np.zeros((400, 3))
    with pytest.raises(MemoryError, match=r"1\.2 MiB .*float64.*float32.*Nystroem"):
        NTKKernel()(X)
    with pytest.raises(MemoryError, match=r"1\.8 MiB .*3 float32") as plain:
        NTKKernel(dtype="float32")(X, eval_gradient=True)
    # a free length scale: one more column and 4 float64 n x n of partials
    free = dict(length_scale=np.ones(3))
    with pytest.raises(MemoryError, match=r"3\.7 MiB .*6 float32") as ard:
        NTKKernel(dtype="float32", **free)(X, eval_gradient=True)

    def working(exc):
        return float(re.search(r"plus ([0-9.]+) MiB", str(exc.value)).group(1))

    assert working(ard) - working(plain) == pytest.approx(32 * 400**2 / 2**20, abs=0.1)


# ------------------------------------------- the engine entry point and record
def _hand_relu(X, Y, sw, sb, depth):
    """NNGP and NTK of a ReLU net by the arc-cosine formulas written out here
    (Cho and Saul, 2009; Jacot et al., 2018), one layer at a time."""
    d = X.shape[1]
    g, gx, gy = X @ Y.T / d, np.sum(X * X, 1) / d, np.sum(Y * Y, 1) / d
    s, a, b = sw**2 * g + sb**2, sw**2 * gx + sb**2, sw**2 * gy + sb**2
    t = s.copy()
    for _ in range(depth):
        sab = np.sqrt(np.outer(a, b))
        rho = np.clip(s / sab, -1.0, 1.0)
        if X is Y:  # theta = 0 exactly on the diagonal (arccos is ill-posed there)
            np.fill_diagonal(rho, 1.0)
        theta = np.arccos(rho)
        f = sab * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
        gg = (np.pi - theta) / (2 * np.pi)
        s, t = sw**2 * f + sb**2, sw**2 * f + sb**2 + sw**2 * gg * t
        a, b = sw**2 * a / 2 + sb**2, sw**2 * b / 2 + sb**2
    return s, t


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_engine_entry_point_against_hand_arccos(depth):
    """``engine.gram``/``engine.diag`` on a plain record, without any kernel."""
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(9, 4)), rng.normal(size=(5, 4))
    sw, sb = 1.3, 0.4
    spec = resolve_activation("relu", "test")
    s_ref, t_ref = _hand_relu(X, Y, sw, sb, depth)
    ss_ref, tt_ref = _hand_relu(X, X, sw, sb, depth)
    for ntk, ref, sym in ((False, s_ref, ss_ref), (True, t_ref, tt_ref)):
        net = engine.Network(
            ntk=ntk, depth=depth, sigma_w=sw, sigma_b=sb, activation=spec
        )
        assert_allclose(engine.gram(net, X, Y), ref, rtol=1e-13)
        assert_allclose(engine.gram(net, X), sym, rtol=1e-13)
        assert_allclose(engine.diag(net, X), np.diag(sym), rtol=1e-13)


def test_kernels_call_the_documented_entry_point(monkeypatch):
    """Kernels pass a plain :class:`engine.Network` and validated arrays."""
    seen = []
    original = engine.gram

    def spy(network, X, Y=None, *args, **kwargs):
        seen.append((network, X.dtype, None if Y is None else Y.shape))
        return original(network, X, Y, *args, **kwargs)

    monkeypatch.setattr(engine, "gram", spy)
    X = _design(12, 10)
    k = NTKKernel(depth=2, sigma_w=1.2, sigma_b=0.0, dtype="float32")
    k(X, X[:3])
    k(X, eval_gradient=True)
    (net, dtype, shape), (net2, _, shape2) = seen
    assert isinstance(net, engine.Network) and dtype == np.float64
    assert (net.ntk, net.depth, net.sigma_w, net.sigma_b) == (True, 2, 1.2, 0.0)
    assert (net.grad_b, net.grad_w, net.n_grad) == (-1, 0, 1)  # sigma_b fixed
    assert net.dtype == np.float32 and shape == (3, 6) and shape2 is None


def test_numerics_never_imports_kernel_objects():
    """Nothing under ``sknnk._numerics`` imports the public kernel modules."""
    import ast
    import pathlib

    import sknnk._numerics

    root = pathlib.Path(sknnk._numerics.__file__).parent
    banned = {"kernels", "random_features", "large_scale", "estimators"}
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            parts = {p for n in names for p in n.split(".")}
            assert not parts & banned, f"{path.name} imports {names}"


@pytest.mark.parametrize("n_features", [3, 7])
def test_parameterization_scalars_from_one_place(n_features):
    """The kernels' recursion scalars and the samplers' feature scales, by
    hand (Jacot et al. 2018; Sohl-Dickstein et al. 2020), from layer.scales."""
    from sknnk import NTKSampler
    from sknnk._numerics.layer import LayerParams

    sw, sb, d, m = 1.7, 0.3, float(n_features), 50
    ntk = NTKKernel(depth=1, sigma_w=sw, sigma_b=sb)._network(None)
    std = NTKKernel(
        depth=1, sigma_w=sw, sigma_b=sb, parameterization="standard", width=m
    )._network(None)
    nngp = NNGPKernel(depth=1, sigma_w=sw, sigma_b=sb)._network(None)
    w2, b2 = sw * sw, sb * sb
    ntk_ref = LayerParams(w2, b2, w2, b2, w2, b2, 2 * w2, 2 * b2, d)
    assert engine.layer_params(ntk, n_features) == ntk_ref
    assert engine.layer_params(nngp, n_features) == ntk_ref
    std_ref = LayerParams(w2, b2, d, 1.0, float(m), 1.0, 0.0, 0.0, d)
    assert engine.layer_params(std, n_features) == std_ref
    sampler = NTKSampler(sigma_w=sw, sigma_b=sb)
    assert sampler._scalars(n_features) == (sw, sb, sw / math.sqrt(d), sb, sw, sb)
    sampler.set_params(parameterization="standard", width=m)
    assert sampler._scalars(n_features) == (sw, sb, 1.0, 1.0, math.sqrt(m), 1.0)


def test_relu_call_compiles_only_its_own_driver(tmp_path):
    """A ReLU kernel call compiles (or loads) only the ReLU driver: no erf,
    generic, series or ELU code (fresh process, empty numba cache)."""
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from sknnk import NTKKernel\n"
        "from sknnk._numerics import activations, fast, gram\n"
        "NTKKernel(depth=2)(np.random.default_rng(0).normal(size=(20, 3)))\n"
        "assert fast.FAST_DRIVERS[0].signatures\n"
        "for f in (*fast.FAST_DRIVERS[1:], gram.tile_generic, gram.tile_series,\n"
        "          activations.elu_diag_values, activations.closed_form_diag_values):\n"
        "    assert not f.signatures, f\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=root)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
