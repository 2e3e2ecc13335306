"""Small kernel calls: the fast input check, the skipped memory guard and the
one-tile path keep every guarantee of the general path.

References: scikit-learn's ``check_array`` (the messages of refused inputs
and the array of accepted ones), the tiled computation of a larger point set
(bitwise blocks), the memory model's documented bound computed by hand, and
the process state (SIGINT handler, BLAS limits, threads) before the call.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.utils import check_array

import sknnk._memory as memory
from sknnk import NNGPKernel, NTKKernel
from sknnk import _parallel as par
from sknnk._validation import check_input

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)
X = RNG.normal(size=(20, 3))

# closed forms of every driver family (fast ReLU/erf rows, generic entries);
# series activations are left out of the bitwise-subset tests: their number
# of Hermite terms adapts to the largest variance of the whole point set
KERNELS = [
    NTKKernel(depth=3),
    NNGPKernel(depth=3, activation="erf", sigma_b=0.3),
    NTKKernel(depth=2, activation="erf", sigma_w=1.2),
    NTKKernel(depth=2, activation="leaky_relu", sigma_b=0.0),
    NNGPKernel(depth=2, activation="sin", sigma_w=0.9),
    NTKKernel(depth=2, parameterization="standard", width=64),
]


# ------------------------------------------------------------------ inputs
def _sklearn_error(Z, name="X"):
    """``(type, message)`` of scikit-learn's own refusal of ``Z``."""
    try:
        check_array(
            Z,
            dtype=np.float64,
            ensure_2d=True,
            ensure_all_finite=True,
            input_name=name,
            estimator="NTKKernel",
        )
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError("scikit-learn accepts this input")


BAD_INPUTS = {
    "nan": np.array([[0.0, np.nan], [1.0, 2.0]]),
    "inf": np.array([[0.0, np.inf], [1.0, 2.0]]),
    "one-d": np.array([1.0, 2.0, 3.0]),
    "three-d": np.ones((2, 2, 2)),
    "no rows": np.ones((0, 3)),
    "no features": np.ones((3, 0)),
    "strings": np.array([["a", "b"], ["c", "d"]]),
    "sparse": sp.csr_matrix(np.eye(3)),
    "nan list": [[0.0, float("nan")], [1.0, 2.0]],
    "nan float32": np.array([[0.0, np.nan]], dtype=np.float32),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_refused_inputs_have_scikit_learns_message(name):
    Z = BAD_INPUTS[name]
    kind, message = _sklearn_error(Z)
    with pytest.raises(kind) as excinfo:
        NTKKernel()(Z)
    assert str(excinfo.value) == message
    with pytest.raises(kind) as excinfo:
        NTKKernel().diag(Z)
    assert str(excinfo.value) == message
    kind_y, message_y = _sklearn_error(Z, "Y")
    with pytest.raises(kind_y) as excinfo:
        NTKKernel()(np.ones((2, 2)), Z)
    assert str(excinfo.value) == message_y


def test_complex_input_is_refused_by_the_fast_check_too():
    with pytest.raises(ValueError, match="Complex data not supported"):
        NTKKernel()(X.astype(complex))


def _views():
    """The same numbers as ``X`` in the layouts and types users pass."""
    F = np.asfortranarray(X)
    wide = np.zeros((20, 6))
    wide[:, ::2] = X
    ro = X.copy()
    ro.setflags(write=False)
    return {
        "list": X.tolist(),
        "fortran": F,
        "strided view": wide[:, ::2],
        "read-only": ro,
        "big-endian": X.astype(">f8"),
    }


@pytest.mark.parametrize("layout", list(_views()))
@pytest.mark.parametrize("kernel", KERNELS[:2], ids=repr)
def test_every_input_layout_gives_the_same_bits(kernel, layout):
    Z = _views()[layout]
    ref = check_array(X, dtype=np.float64)
    K, dK = kernel(Z, eval_gradient=True)
    K_ref, dK_ref = kernel(ref, eval_gradient=True)
    assert np.array_equal(K, K_ref) and np.array_equal(dK, dK_ref)
    assert np.array_equal(kernel.diag(Z), kernel.diag(ref))


def test_accepted_float64_input_is_returned_as_is_and_never_modified():
    Z = X.copy()
    Z.setflags(write=False)
    assert check_input(Z, "X", "NTKKernel") is Z
    assert check_array(Z, dtype=np.float64) is Z  # scikit-learn does the same
    before = Z.copy()
    NTKKernel(depth=2)(Z, eval_gradient=True)
    NTKKernel(depth=2).diag(Z)
    assert np.array_equal(Z, before)


# ---------------------------------------------------- bits of the small path
def _blocks(kernel, n_jobs):
    """Small calls (one tile) and the same entries of a tiled call."""
    big = RNG.normal(size=(300, 5))  # 2 x 2 tiles of 256
    big[-1] = big[3]  # a duplicate on another tile
    K_big, dK_big = clone(kernel).set_params(n_jobs=1)(big, eval_gradient=True)
    K_val = clone(kernel).set_params(n_jobs=1)(big)
    k = clone(kernel).set_params(n_jobs=n_jobs)
    rows, cols = slice(0, 20), slice(40, 70)
    K, dK = k(big[rows], eval_gradient=True)
    assert np.array_equal(K, K_big[rows, rows])
    assert np.array_equal(dK, dK_big[rows, rows])
    assert np.array_equal(k(big[rows]), K_val[rows, rows])
    assert np.array_equal(k(big[rows], big[cols]), K_val[rows, cols])
    assert np.array_equal(k(big[-5:], big[:6]), K_val[-5:, :6])
    assert np.array_equal(k.diag(big[rows]), np.diag(K_val)[rows])


@pytest.mark.parametrize("n_jobs", [None, 1, 2, -1])
@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
def test_small_calls_are_blocks_of_the_tiled_gram(kernel, n_jobs):
    _blocks(kernel, n_jobs)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_small_calls_are_blocks_of_the_tiled_gram_on_every_backend(backend):
    with joblib.parallel_config(backend=backend, n_jobs=2):
        for kernel in KERNELS[:3]:
            _blocks(kernel, None)


# ------------------------------------------------------------------ guards
def _counting(monkeypatch, avail):
    calls = []

    def available():
        calls.append(1)
        return avail

    monkeypatch.setattr(memory, "available_memory", available)
    return calls


def test_memory_guard_is_skipped_only_below_its_documented_bound(monkeypatch):
    """The bound by hand: a closed form keeps 64 float64 numbers per point and
    layer beyond the outputs; requests within 1 MiB of the fixed 16 MiB are
    not checked."""
    assert memory.SMALL_REQUEST == 2**20
    calls = _counting(monkeypatch, avail=100)  # nothing fits
    depth = 3
    for n, grads in [(20, 0), (256, 0), (180, 2), (300, 0), (200, 2)]:
        outputs = 8 * n * n * (1 + grads)
        working = 8 * n * depth * 64
        tiny = outputs + working <= 2**20
        Z = RNG.normal(size=(n, 3))
        del calls[:]
        if tiny:
            NTKKernel(depth=depth)(Z, eval_gradient=grads > 0)
            assert not calls, n
        else:
            with pytest.raises(MemoryError, match="would need"):
                NTKKernel(depth=depth)(Z, eval_gradient=grads > 0)
            assert calls, n


def test_small_calls_start_no_worker(monkeypatch):
    """One tile runs in the calling thread whatever ``n_jobs``: no joblib
    ``Parallel`` and no new thread."""

    def no_parallel(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("a small call started joblib workers")

    monkeypatch.setattr(par, "Parallel", no_parallel)
    threads = threading.active_count()
    for kernel in KERNELS:
        K = clone(kernel).set_params(n_jobs=-1)(X, eval_gradient=True)
        assert np.isfinite(K[0]).all()
    with joblib.parallel_config(backend="threading", n_jobs=2):
        NTKKernel()(X)
    assert threading.active_count() == threads


@pytest.mark.exclusive  # a latency bound: no other test runs meanwhile
def test_ctrl_c_stops_a_loop_of_small_calls():
    """A SIGINT during a loop of small calls raises a plain KeyboardInterrupt
    promptly, and the previous SIGINT handler is back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    handler = signal.getsignal(signal.SIGINT)
    kernel = NTKKernel(depth=3)
    kernel(X)
    sent = []

    def interrupt():
        time.sleep(0.2)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    deadline = time.perf_counter() + 30
    with pytest.raises(KeyboardInterrupt):
        while time.perf_counter() < deadline:
            kernel(X, eval_gradient=True)
            kernel.diag(X)
    assert sent and time.perf_counter() - sent[0] < 1.0
    assert signal.getsignal(signal.SIGINT) is handler


_BLAS_DURING_TILE = """
    import json
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits
    from sknnk import NTKKernel
    from sknnk._numerics import gram

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    seen = []
    compute = gram.GramPlan.compute

    def watched(self, *args):
        seen.append(blas())
        return compute(self, *args)

    gram.GramPlan.compute = watched
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    before = blas()
    K, dK = NTKKernel(depth=3)(X, eval_gradient=True)
    NTKKernel(depth=3).diag(X)
    small = seen[:]
    del seen[:]
    Z = rng.normal(size=(200, 64))  # one tile, a gemm of 200 * 200 * 64
    NTKKernel(depth=3)(Z, eval_gradient=True)
    with threadpool_limits(1, user_api="blas"):
        K1, dK1 = NTKKernel(depth=3)(X, eval_gradient=True)
    same = bool(np.array_equal(K, K1) and np.array_equal(dK, dK1))
    print(json.dumps([before, small, seen, same, blas()]))
"""


def _with_two_blas_threads(script):
    """``json`` of the last line printed by ``script`` run in a fresh process
    with two OpenBLAS threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    env.setdefault("PYTHONPATH", str(ROOT))
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_small_calls_run_their_tile_on_one_blas_thread_and_restore_the_limits():
    """In a fresh process with two BLAS threads: the tile's gemm runs on one
    (no oversubscription, and its bits do not depend on BLAS's thread count),
    and the limits are exactly the previous ones after the call.

    A single tile whose gemm OpenBLAS runs on the calling thread whatever
    its limit (at most ``SMALL_GEMM`` multiply-adds, 20 x 20 x 3 here) takes
    no limit: it runs in the calling thread alone, and its bits are those
    of a call under a limit of one thread. A single tile of a larger gemm
    (200 x 200 x 64) runs under the limit."""
    before, small, seen, same, after = _with_two_blas_threads(_BLAS_DURING_TILE)
    assert before and max(before) == 2, before
    assert seen and all(max(s) == 1 for s in seen), seen
    assert small and same
    if par.small_gemm(20, 20, 3):  # (OpenBLAS only: otherwise the limit holds)
        assert all(s == before for s in small), small
    else:
        assert all(max(s) == 1 for s in small), small
    assert after == before


# -------------------------------------------- value-only and typed fast paths
@pytest.mark.parametrize(
    "kernel",
    KERNELS + [NTKKernel(depth=3, dtype="float32"), NNGPKernel(depth=0)],
    ids=repr,
)
def test_value_calls_have_the_bits_of_gradient_calls(kernel):
    """A call without gradient skips the derivatives of the 1-D recursion and
    of the point tables, and from its second call on runs its driver's
    entry point without typing the arguments: its diagonal is that of the
    gradient call's full recursion, and its Gram is the same at every call
    and for every split into rows and columns -- bitwise."""
    Z = RNG.normal(size=(30, 3))
    Z[4] = 0.0  # a zero row (a zero variance without bias)
    big = 1e150 if kernel.dtype is None else 1e15  # rows far from unit scale
    Z[5] *= big
    Z[6] /= big
    K_grad, _ = kernel(Z, eval_gradient=True)
    K = kernel(Z)
    diag = kernel.diag(Z).astype(K.dtype)
    assert np.array_equal(np.diag(K_grad), diag)
    assert np.array_equal(np.diag(K), diag)
    for _ in range(2):
        assert np.array_equal(kernel(Z), K)
        assert np.array_equal(kernel(Z[:7], Z[7:]), K[:7, 7:])


def test_a_pickled_plan_dispatches_by_types():
    """A plan sent to another process (whose arrays may come back read-only
    memory maps) calls its driver through numba's dispatcher, with the bits
    of the plan it was copied from."""
    import pickle

    from sknnk._numerics import engine, gram

    kernel = NTKKernel(depth=3)
    network = kernel._network(kernel._check_params())
    px = engine.prepare(network, X)
    plan = gram.make_plan(
        network, px.params, X, None, px, px, px.diagonal(True), False, 256
    )
    copy = pickle.loads(pickle.dumps(plan))
    assert plan.typed and not copy.typed
    for p in (plan, copy, plan):
        out = np.empty((20, 20))
        p.compute(out, np.empty((0, 0, 0)), 0, 0, (0, 20, 0, 20, True), True)
        assert np.array_equal(out, kernel(X))


def test_checked_parameters_follow_every_change():
    """The checked parameters are kept per parameter values: a change of any
    parameter is checked again (an invalid one raises, whatever was called
    before), a value of another type is a new value (``depth=True`` is not
    ``depth=1``), and the gradient columns follow ``sigma_b`` and the bounds
    (sklearn's ``theta``)."""
    kernel = NTKKernel(depth=1)
    K1 = kernel(X)
    for name, value, error in [
        ("sigma_w", -1.0, ValueError),
        ("sigma_w", float("nan"), ValueError),
        ("depth", True, TypeError),
        ("depth", -1, ValueError),
        ("activation", "no such activation", ValueError),
        ("sigma_w_bounds", (2.0, 1.0), ValueError),
        ("n_jobs", 0, ValueError),
    ]:
        bad = clone(kernel).set_params(**{name: value})
        for _ in range(2):
            with pytest.raises(error, match=name):
                bad(X)
            with pytest.raises(error, match=name):
                bad.diag(X)
        assert np.array_equal(kernel(X), K1)
    kernel.set_params(depth=2)
    assert np.array_equal(kernel(X), NTKKernel(depth=2)(X))
    assert not np.array_equal(kernel(X), K1)
    for params in [
        dict(sigma_b=0.0),
        dict(sigma_b=0.1),
        dict(sigma_w_bounds="fixed"),
        dict(length_scale=2.0, length_scale_bounds=(1e-2, 1e2)),
    ]:
        kernel.set_params(**params)
        _, dK = kernel(X, eval_gradient=True)
        assert dK.shape == (20, 20, len(kernel.theta)), params


# ------------------------------------------------- kept per-input results
def test_kept_norms_follow_the_contents_of_a_mutated_input():
    """The squared norms of small inputs are kept by content: an array
    changed in place between two calls gets the kernel of its new values
    (the reference: the same values with nothing kept), and what a call
    returns is its own (writing to it changes no later call)."""
    from sknnk._numerics import engine

    kernel = NTKKernel(depth=3)
    Z = RNG.normal(size=(20, 3))
    K1 = kernel(Z)
    Z[0] *= 2.0  # the same array object, new contents
    K2 = kernel(Z)
    engine._kept_norms.entries.clear()
    assert np.array_equal(K2, kernel(Z.copy()))
    assert not np.array_equal(K1[0], K2[0])
    norms, _ = engine.squared_norms(Z)
    norms[:] = np.nan  # the caller's copy
    assert np.array_equal(engine.squared_norms(Z)[0], np.einsum("ij,ij->i", Z, Z) / 3)
    assert np.array_equal(kernel(Z), K2)


@pytest.mark.parametrize("kernel", [NTKKernel(depth=2, activation="tanh")], ids=repr)
def test_kept_series_diagonals_are_those_of_a_new_computation(kernel):
    """A series call on points seen before samples nothing (its diagonal
    and tables are kept by variance array): the same bits as with nothing
    kept, and a changed input is computed anew."""
    from sknnk._numerics import series

    Z = RNG.normal(size=(12, 3))
    K, dK = kernel(Z, eval_gradient=True)
    calls = []
    sample = series.sample

    def counting(*args, **kwargs):
        calls.append(1)
        return sample(*args, **kwargs)

    series.sample = counting
    try:
        K_again, dK_again = kernel(Z, eval_gradient=True)
        assert not calls
        Z2 = Z.copy()
        Z2[3] *= 1.5
        kernel(Z2)
        assert calls
    finally:
        series.sample = sample
    assert np.array_equal(K, K_again) and np.array_equal(dK, dK_again)
    series._diag_cache.entries.clear()
    series._table_cache.entries.clear()
    K_new, dK_new = kernel(Z, eval_gradient=True)
    assert np.array_equal(K, K_new) and np.array_equal(dK, dK_new)


_BLAS_ACROSS_THREADS = """
    import json, threading
    import numpy as np
    from threadpoolctl import threadpool_info
    from sknnk import _parallel as par

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    ctx = par.single_threaded_blas()
    seen = []
    entered = threading.Event()
    release = threading.Event()

    def first():  # takes the limit, leaves while another call still runs
        with ctx:
            entered.set()
            release.wait()

    t = threading.Thread(target=first)
    t.start()
    entered.wait()
    ctx.__enter__()  # the main thread's call starts while the first runs
    release.set()
    t.join()
    seen.append(blas())
    ctx.__exit__(None, None, None)  # the last to end: not the thread that took it
    print(json.dumps([before, seen, blas()]))
"""


def test_blas_limit_taken_in_one_thread_is_restored_from_another():
    """In a fresh process with two BLAS threads: a limit taken by a call in
    one thread holds while an overlapping call in another thread runs, and
    the last call to end (in that other thread) restores exactly the
    previous limits (as threadpoolctl reports them)."""
    before, seen, after = _with_two_blas_threads(_BLAS_ACROSS_THREADS)
    assert before and max(before) == 2, before
    assert all(max(s) == 1 for s in seen), seen
    assert after == before


@pytest.mark.parametrize(
    "name, value",
    [("sigma_w", -1.0), ("sigma_w", True), ("sigma_w", 0.0), ("sigma_b", -0.5),
     ("sigma_b", "0.1"), ("sigma_b", float("inf"))],
)  # fmt: skip
def test_tuned_scales_are_refused_as_in_a_first_check(name, value):
    """A new ``sigma_w`` or ``sigma_b`` of checked parameters (GP tuning) is
    checked alone: an invalid one raises the error (type and message) of a
    kernel with nothing checked before; a valid one gives the kernel and the
    gradient columns of a first check (``sigma_b = 0`` fixes its column)."""
    import sknnk.kernels as kernels

    def refusal():
        with pytest.raises((TypeError, ValueError)) as excinfo:
            NTKKernel(depth=2, **{name: value})(X)
        return type(excinfo.value), str(excinfo.value)

    kernels._CHECKED.clear()
    kernels._SHAPES.clear()
    first = refusal()
    NTKKernel(depth=2)(X)  # the shape of the parameters is now known
    assert refusal() == first
    for sigma_b in (0.0, 0.3):
        tuned = NTKKernel(depth=2, sigma_w=1.7, sigma_b=sigma_b)
        K, dK = tuned(X, eval_gradient=True)
        kernels._CHECKED.clear()
        kernels._SHAPES.clear()
        K_ref, dK_ref = tuned(X, eval_gradient=True)
        assert np.array_equal(K, K_ref) and np.array_equal(dK, dK_ref)
        assert dK.shape[2] == (1 if sigma_b == 0.0 else 2)
