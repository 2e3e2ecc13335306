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
