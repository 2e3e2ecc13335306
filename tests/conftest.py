import numpy as np
import pytest


def _readonly(a):
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@pytest.fixture
def X():
    """Small read-only design with a zero row, a duplicate, a parallel and an
    antiparallel pair (the degenerate cases of the angle formulas)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 4))
    X[1] = 2.5 * X[0]
    X[2] = -X[0]
    X[3] = 0.0
    X[4] = X[5]
    return _readonly(X)


@pytest.fixture
def Y():
    rng = np.random.default_rng(1)
    return _readonly(rng.normal(size=(5, 4)))


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    """One BLAS thread for the test session.

    numpy and scipy each ship their own OpenBLAS with its own thread pool; on
    small machines the two pools spin against each other and a 300 x 300
    Cholesky in scipy can take 100x longer. The tests use small matrices, so
    BLAS threads buy nothing; sknnk's own parallelism (joblib threads) is not
    affected.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def client():
    """A real local dask cluster: two worker processes with one thread each."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
