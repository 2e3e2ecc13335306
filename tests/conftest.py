"""Shared fixtures and the test session's settings (hypothesis, CI skips)."""

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

# No example database on disk: a test run leaves no files in the checkout (the
# rest of hypothesis's storage goes to a temporary directory, see below).
settings.register_profile("sknnk", database=None)
settings.load_profile("sknnk")
# hypothesis also caches data (e.g. ``constants/``) under ``.hypothesis/`` in
# the working directory, from collection on: a temporary directory instead.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="sknnk-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

# Skip reasons that mean "an optional package is missing" (pytest.importorskip,
# scikit-learn's estimator checks).
_MISSING_PACKAGE = ("could not import", "no module named", "is not installed")


def _in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true``, a skip for a missing optional package is a failure.

    Every test dependency is in the ``test`` extra, so in CI such a skip means
    that the extra (or the install step) is incomplete.
    """
    outcome = yield
    report = outcome.get_result()
    if not (_in_ci() and report.skipped and call.excinfo is not None):
        return
    reason = str(call.excinfo.value).lower()
    if any(text in reason for text in _MISSING_PACKAGE):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped for a missing optional package under CI=true: "
            f"{call.excinfo.value}. Add the package to the 'test' extra of "
            "pyproject.toml."
        )


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


@pytest.fixture(autouse=True)
def _fresh_truncation_warnings():
    """Every test starts with no series truncation warning shown yet.

    sknnk states each truncation warning once per key and process; a test that
    expects one (``pytest.warns``) or reads the bound it states must not
    depend on which tests ran before it in the same process (pytest-xdist
    runs the files in two processes, in an order that varies).
    """
    from sknnk._numerics import series

    series.reset_warnings()


# --------------------------------------------------- tests that must run alone
# The suite runs on pytest-xdist workers (setup.cfg). A test marked
# ``exclusive`` measures wall-clock latency (Ctrl-C): the other workers' CPU
# load would be measured with it. Every test holds a lock on one file of the
# run, shared, and an exclusive test holds it exclusively, so it starts once
# the other workers' current tests have finished and no test starts before it
# ends. Without xdist (or without POSIX file locks) there is nothing to do.
try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None


def _run_lock_path():
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if uid is None or fcntl is None:
        return None
    return os.path.join(tempfile.gettempdir(), f"sknnk-tests-{uid}.lock")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    path = _run_lock_path()
    if path is None:
        yield
        return
    mode = fcntl.LOCK_EX if item.get_closest_marker("exclusive") else fcntl.LOCK_SH
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # releases the lock


def pytest_sessionfinish(session, exitstatus):
    # a worker whose tests are all done: the others run alone from here, so
    # the file can go (a later open by them makes a new, uncontended one)
    path = _run_lock_path()
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass
