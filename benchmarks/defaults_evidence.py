"""Evidence for the default ``sigma_w``/``sigma_b``: cross-validated scores.

Usage::

    python benchmarks/defaults_evidence.py

For every bundled scikit-learn data set (breast cancer, wine, iris, digits:
SVC accuracy; diabetes: KernelRidge R^2 on standardised targets), every
kernel (NNGP, NTK), depth 1 and 3 and a grid of ``sigma_w`` and ``sigma_b``,
prints the mean and standard deviation of the score over 5-fold
cross-validation repeated twice (the same folds for every setting), with the
estimators' own defaults (``SVC(C=1)``, ``KernelRidge(alpha=1)``): the
setting a user gets without tuning. ``chi_1 = sigma_w**2 / 2`` for ReLU, so
``sigma_w = sqrt(2)`` is the critical line (for every ``sigma_b``).
"""

import sys
import time

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import (
    RepeatedKFold,
    RepeatedStratifiedKFold,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from sknnk import NNGPKernel, NTKKernel
from sknnk.signal_propagation import chi1

SIGMA_W = (1.0, 1.2, np.sqrt(2.0), 1.6, 2.0)
SIGMA_B = (0.0, 0.1)
DEPTHS = (1, 3)


def _data():
    for name, loader in [
        ("breast_cancer", load_breast_cancer),
        ("wine", load_wine),
        ("iris", load_iris),
        ("digits", load_digits),
    ]:
        X, y = loader(return_X_y=True)
        cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=0)
        yield name, X, y, cv, lambda k: make_pipeline(StandardScaler(), SVC(kernel=k))
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    cv = RepeatedKFold(n_splits=5, n_repeats=2, random_state=0)
    yield (
        "diabetes",
        X,
        y,
        cv,
        lambda k: make_pipeline(StandardScaler(), KernelRidge(kernel=k)),
    )


def main():
    print(
        "sigma_w  chi_1(relu): "
        + ", ".join(f"{sw:.4g}: {chi1('relu', sw, 0.1):.3f}" for sw in SIGMA_W)
    )
    print(
        f"{'dataset':14} {'kernel':5} {'depth':5} {'sigma_b':7} "
        + " ".join(f"{'sw=' + format(sw, '.4g'):>13}" for sw in SIGMA_W)
    )
    sys.stdout.flush()
    t0 = time.perf_counter()
    with threadpool_limits(1, "blas"):
        for name, X, y, cv, model in _data():
            for Kern in (NNGPKernel, NTKKernel):
                for depth in DEPTHS:
                    for sb in SIGMA_B:
                        cells = []
                        for sw in SIGMA_W:
                            k = Kern(depth=depth, sigma_w=sw, sigma_b=sb)
                            s = cross_val_score(model(k), X, y, cv=cv)
                            cells.append(f"{s.mean():.3f}±{s.std():.3f}")
                        print(
                            f"{name:14} {Kern.__name__[:-6]:5} {depth:5} "
                            f"{sb:7} " + " ".join(f"{c:>13}" for c in cells)
                        )
                        sys.stdout.flush()
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
