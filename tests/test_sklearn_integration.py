"""End to end inside scikit-learn estimators."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.kernel_approximation import Nystroem
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from sknnk import NNGPKernel, NTKKernel


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    return train_test_split(X, y, test_size=0.3, random_state=0)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.mark.parametrize(
    "base",
    [
        NNGPKernel(depth=3, activation="erf"),
        NTKKernel(depth=2),
        NTKKernel(depth=2, sigma_b=0.0),
    ],
    ids=repr,
)
def test_gpr_marginal_likelihood_tuning(base, diabetes):
    Xtr, Xte, ytr, yte = diabetes
    kernel = ConstantKernel(1.0) * base + WhiteKernel(0.5)
    start = GaussianProcessRegressor(kernel, optimizer=None).fit(Xtr, ytr)
    gpr = GaussianProcessRegressor(kernel, n_restarts_optimizer=1, random_state=0)
    gpr.fit(Xtr, ytr)
    assert gpr.log_marginal_likelihood_value_ > start.log_marginal_likelihood_value_
    # the analytic gradient of the log-ML agrees with finite differences
    theta = gpr.kernel_.theta
    lml, grad = gpr.log_marginal_likelihood(theta, eval_gradient=True)
    eps = 1e-6
    fd = [
        (
            gpr.log_marginal_likelihood(theta + eps * e)
            - gpr.log_marginal_likelihood(theta - eps * e)
        )
        / (2 * eps)
        for e in np.eye(len(theta))
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)
    assert gpr.score(Xte, yte) > 0.3


def test_kernel_ridge_and_svc(diabetes, cancer):
    Xtr, Xte, ytr, yte = diabetes
    assert (
        KernelRidge(kernel=NTKKernel(depth=3, sigma_w=1.0), alpha=0.5)
        .fit(Xtr, ytr)
        .score(Xte, yte)
        > 0.3
    )
    Xtr, Xte, ytr, yte = cancer
    for k in (NTKKernel(depth=2, activation="relu"), NNGPKernel(depth=1)):
        clf = make_pipeline(StandardScaler(), SVC(kernel=k)).fit(Xtr, ytr)
        assert clf.score(Xte, yte) > 0.9


def test_grid_search_parallel_and_pickle(cancer):
    Xtr, Xte, ytr, yte = cancer
    search = GridSearchCV(
        make_pipeline(StandardScaler(), SVC(kernel=NTKKernel())),
        {"svc__kernel__sigma_w": [1.0, 1.5, 2.0], "svc__kernel__depth": [1, 2, 4]},
        n_jobs=2,
        cv=3,
    ).fit(Xtr, ytr)
    assert search.best_score_ > 0.9
    assert search.best_params_["svc__kernel__depth"] in (1, 2, 4)
    model = pickle.loads(pickle.dumps(search.best_estimator_))
    np.testing.assert_array_equal(model.predict(Xte), search.predict(Xte))


def test_nystroem_block_path(diabetes):
    Xtr, Xte, ytr, yte = diabetes
    k = NTKKernel(depth=2)
    # with every training point as a landmark, Nystroem is exact
    ny = Nystroem(kernel=k, n_components=len(Xtr), random_state=0).fit(Xtr)
    F = ny.transform(Xtr)
    np.testing.assert_allclose(F @ F.T, k(Xtr), rtol=1e-6, atol=1e-6)
    model = make_pipeline(Nystroem(kernel=k, n_components=100, random_state=0), Ridge())
    assert model.fit(Xtr, ytr).score(Xte, yte) > 0.3


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_n_jobs_gives_identical_results(n_jobs):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(57, 6)), rng.normal(size=(23, 6))
    for cls in (NNGPKernel, NTKKernel):
        ref = cls(depth=3, n_jobs=1)
        k = cls(depth=3, n_jobs=n_jobs)
        np.testing.assert_array_equal(k(X), ref(X))
        np.testing.assert_array_equal(k(X, Y), ref(X, Y))
        np.testing.assert_array_equal(
            k(X, eval_gradient=True)[1], ref(X, eval_gradient=True)[1]
        )


def test_compound_with_rbf(diabetes):
    Xtr, _, ytr, _ = diabetes
    k = NTKKernel(depth=2) + RBF(3.0)
    gpr = GaussianProcessRegressor(k + WhiteKernel(), random_state=0).fit(Xtr, ytr)
    assert np.isfinite(gpr.log_marginal_likelihood_value_)


def test_repr_shows_hyperparameters_and_non_default_settings():
    """sklearn-style: the architecture and hyperparameters always, every other
    parameter when it differs from its default."""
    k = NTKKernel(n_jobs=-1, dtype="float32", sigma_w_bounds="fixed")
    assert repr(k) == (
        "NTKKernel(depth=1, activation='relu', sigma_w=1.414, sigma_b=0.1, "
        "sigma_w_bounds='fixed', n_jobs=-1, dtype='float32')"
    )
    assert repr(NNGPKernel(depth=2, sigma_w=1.5)) == (
        "NNGPKernel(depth=2, activation='relu', sigma_w=1.5, sigma_b=0.1)"
    )
    k = NTKKernel(parameterization="standard", width=64, sigma_b_bounds=(1e-3, 10.0))
    assert repr(k).endswith(
        "sigma_b_bounds=(0.001, 10.0), parameterization='standard', width=64)"
    )
    # the repr of a fitted GPR kernel keeps the fixed bounds visible
    assert "sigma_w_bounds='fixed'" in repr(
        ConstantKernel() * NNGPKernel(sigma_w_bounds="fixed")
    )
