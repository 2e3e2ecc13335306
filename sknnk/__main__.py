"""``python -m sknnk``: infinite-width network kernels vs RBF on sklearn data.

Fits Gaussian-process regression (marginal-likelihood tuning), kernel ridge
regression and support vector classification with the NTK, the NNGP and an RBF
baseline on data sets that ship with scikit-learn, and prints test scores and
times.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from . import __version__
from .kernels import ACTIVATION_NAMES, NNGPKernel, NTKKernel


def _kernels(args):
    common = dict(depth=args.depth, activation=args.activation, n_jobs=args.n_jobs)
    return {
        "NTK": NTKKernel(sigma_w=1.0, sigma_b=0.1, **common),
        "NNGP": NNGPKernel(sigma_w=1.0, sigma_b=0.1, **common),
        "RBF": RBF(length_scale=float(np.sqrt(args.n_features_hint))),
    }


def _time(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _regression(args, rows):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=args.test_size, random_state=args.random_state
    )
    args.n_features_hint = X.shape[1]
    for name, k in _kernels(args).items():
        kernel = ConstantKernel(1.0) * k + WhiteKernel(0.5)
        gpr = GaussianProcessRegressor(
            kernel, n_restarts_optimizer=args.restarts, random_state=args.random_state
        )
        _, t = _time(lambda gpr=gpr: gpr.fit(Xtr, ytr))
        rows.append(
            ("diabetes", "GPR (ML-II)", name, "R^2", gpr.score(Xte, yte), t,
             f"log-ML {gpr.log_marginal_likelihood_value_:.1f}")
        )  # fmt: skip
        krr = KernelRidge(kernel=k, alpha=0.5)
        _, t = _time(lambda krr=krr: krr.fit(Xtr, ytr))
        rows.append(
            ("diabetes", "KernelRidge", name, "R^2", krr.score(Xte, yte), t, "")
        )


def _classification(args, rows):
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, test_size=args.test_size, random_state=args.random_state, stratify=y
    )
    args.n_features_hint = X.shape[1]
    for name, k in _kernels(args).items():
        clf = make_pipeline(StandardScaler(), SVC(kernel=k, C=1.0))
        _, t = _time(lambda clf=clf: clf.fit(Xtr, ytr))
        rows.append(
            ("breast_cancer", "SVC", name, "accuracy", clf.score(Xte, yte), t, "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sknnk",
        description=(
            "Compare the NTK and NNGP kernels of an infinitely wide network with "
            "an RBF kernel on scikit-learn's diabetes (GPR with marginal-likelihood "
            "tuning, KernelRidge) and breast-cancer (SVC) data sets."
        ),
    )
    parser.add_argument("--depth", type=int, default=3, help="hidden layers (3)")
    parser.add_argument(
        "--activation", default="relu", choices=ACTIVATION_NAMES, help="(relu)"
    )
    parser.add_argument("--test-size", type=float, default=0.3, help="(0.3)")
    parser.add_argument(
        "--restarts", type=int, default=2, help="GPR optimizer restarts (2)"
    )
    parser.add_argument("--n-jobs", type=int, default=None, help="threads (1)")
    parser.add_argument("--random-state", type=int, default=0, help="(0)")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help=(
            "BLAS threads (1): these data sets are small, and the separate "
            "OpenBLAS thread pools of numpy and scipy can slow each other down "
            "by orders of magnitude on small matrices"
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    rows: list[tuple] = []
    with warnings.catch_warnings(), threadpool_limits(args.blas_threads, "blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        _regression(args, rows)
        _classification(args, rows)
    total = time.perf_counter() - t0

    print(
        f"sknnk {__version__}: depth={args.depth}, activation={args.activation}, "
        f"test_size={args.test_size}, random_state={args.random_state}"
    )
    header = ("dataset", "model", "kernel", "metric", "score", "fit s", "note")
    widths = (14, 12, 6, 9, 7, 7, 0)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for ds, model, kern, metric, score, t, note in rows:
        cells = (ds, model, kern, metric, f"{score:.3f}", f"{t:.2f}", note)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    print(f"total {total:.1f} s (includes one-time numba compilation if not cached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
