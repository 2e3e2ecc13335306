"""Gram matrices computed on a dask cluster through joblib's dask backend."""

import joblib
import numpy as np
import pytest

import sknnk._parallel as parallel_module
from sknnk import NNGPKernel, NTKKernel

distributed = pytest.importorskip("distributed")


@pytest.mark.slow
def test_dask_gram_equals_local_gram(client, monkeypatch):
    monkeypatch.setattr(parallel_module, "TILE", 64)  # several tasks per worker
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12))
    X[7] = X[250]  # duplicates in different tasks
    Y = rng.normal(size=(70, 12))
    kernels = [
        NTKKernel(depth=3, sigma_w=1.4, sigma_b=0.1),
        NNGPKernel(depth=2, activation="erf", sigma_w=1.2, sigma_b=0.2),
    ]
    local = [(k(X, eval_gradient=True), k(X, Y)) for k in kernels]
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            remote = [(k(X, eval_gradient=True), k(X, Y)) for k in kernels]
    assert len(stream.data) > 0  # the tiles did run on the cluster
    workers = {t["worker"] for t in stream.data}
    assert len(workers) == 2
    for ((K, dK), KXY), ((K_, dK_), KXY_) in zip(local, remote):
        assert np.array_equal(K, K_)
        assert np.array_equal(dK, dK_)
        assert np.array_equal(KXY, KXY_)
