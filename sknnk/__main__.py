"""``python -m sknnk``: infinite-width network kernels against RBF and linear.

On data sets that ship with scikit-learn (classification: SVC accuracy;
regression: kernel ridge and Gaussian-process R^2), every method -- the NTK,
the NNGP, an RBF kernel and a linear baseline -- is scored by repeated
K-fold cross-validation (the same splits for every method) and tuned inside
each training fold with the same budget: a grid of 12 candidates searched by
an inner 3-fold ``GridSearchCV`` for SVC and KernelRidge, and the marginal
likelihood for GPR. The table gives the mean and standard deviation of the
test scores over the splits, the fitted hyperparameters, and the time; the
one-time numba compilation is done (and timed) first, so fit times are warm.
The verdict compares the best method with every other one on the same splits
by the corrected resampled t-test of Nadeau & Bengio (2003), which accounts
for the overlap of the training sets across splits.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from joblib import parallel_config
from scipy import stats
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_wine,
    make_friedman1,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import (
    RBF,
    ConstantKernel,
    DotProduct,
    WhiteKernel,
)
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import (
    GridSearchCV,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from . import __version__
from ._numerics.registry import suggest
from .kernels import ACTIVATION_NAMES, NNGPKernel, NTKKernel

METHODS = ("NTK", "NNGP", "RBF", "linear")
#: significance level of the verdict's paired tests
ALPHA = 0.05
# The tuning budget: 12 candidates per method. The network kernels and RBF get
# 3 kernel shapes x 4 regularisation strengths; the linear kernel has no shape
# and gets 12 regularisation strengths over the same range.
_REG = (0.1, 1.0, 10.0, 100.0)
_SIGMA_B = (0.1, 1.0, 3.0)
_GAMMA = (0.3, 1.0, 3.0)  # times 1 / n_features


@dataclass
class Task:
    """One data set and the models compared on it."""

    name: str
    X: np.ndarray
    y: np.ndarray
    classification: bool
    models: list = field(default_factory=list)  # (model, method, build)


def _datasets(quick):
    X, y = load_breast_cancer(return_X_y=True)
    yield Task("breast_cancer", X, y, True)
    if not quick:
        X, y = load_wine(return_X_y=True)
        yield Task("wine", X, y, True)
    X, y = load_diabetes(return_X_y=True)
    yield Task("diabetes", X, y, False)
    if not quick:
        X, y = make_friedman1(n_samples=300, noise=1.0, random_state=0)
        yield Task("friedman1", X, y, False)


def _network_kernel(method, args, **params):
    cls = NTKKernel if method == "NTK" else NNGPKernel
    return cls(depth=args.depth, activation=args.activation, **params)


def _grid(method, n_features, prefix, reg_name):
    """The 12-candidate grid of one method (see ``_REG``)."""
    if method == "linear":
        return {f"{prefix}{reg_name}": list(np.logspace(-1, 2, 12))}
    reg = {f"{prefix}{reg_name}": list(_REG)}
    if method == "RBF":
        scales = [float(np.sqrt(n_features / g)) for g in _GAMMA]
        return {f"{prefix}kernel__length_scale": scales, **reg}
    return {f"{prefix}kernel__sigma_b": list(_SIGMA_B), **reg}


def _base_kernel(method, args, n_features):
    if method == "linear":
        return "linear"
    if method == "RBF":
        return RBF(length_scale=float(np.sqrt(n_features)))
    return _network_kernel(method, args)


def _svc(method, args, n_features):
    pipe = make_pipeline(
        StandardScaler(), SVC(kernel=_base_kernel(method, args, n_features))
    )
    grid = _grid(method, n_features, "svc__", "C")
    return GridSearchCV(pipe, grid, cv=3)


def _kernel_ridge(method, args, n_features):
    # alpha = 1 / C: the same range of regularisation as the SVC grid
    pipe = make_pipeline(
        StandardScaler(), KernelRidge(kernel=_base_kernel(method, args, n_features))
    )
    grid = _grid(method, n_features, "kernelridge__", "alpha")
    grid["kernelridge__alpha"] = [1.0 / c for c in grid["kernelridge__alpha"]]
    search = GridSearchCV(pipe, grid, cv=3)
    return TransformedTargetRegressor(regressor=search, transformer=StandardScaler())


def gpr_kernel(method, args, n_features):
    """Prior of the GPR: a well-posed amplitude, shape and noise.

    The network kernels keep ``sigma_w`` fixed (at its default, the critical
    line of ReLU) and let a ``ConstantKernel`` carry the amplitude: with ReLU,
    scaling ``sigma_w`` rescales the kernel, so tuning both the constant and
    ``sigma_w`` is over-parameterised (user guide, "Tuning by marginal
    likelihood").
    """
    if method == "linear":
        # the intercept's prior scale is fixed: normalize_y centres y, and a
        # free sigma_0 drifts to its lower bound
        base = DotProduct(sigma_0=1.0, sigma_0_bounds="fixed")
    elif method == "RBF":
        base = RBF(length_scale=float(np.sqrt(n_features)))
    else:
        base = _network_kernel(method, args, sigma_w_bounds="fixed")
    return ConstantKernel(1.0) * base + WhiteKernel(0.5)


def _gpr(method, args, n_features):
    pipe = make_pipeline(
        StandardScaler(),
        GaussianProcessRegressor(
            gpr_kernel(method, args, n_features),
            normalize_y=True,
            n_restarts_optimizer=args.restarts,
            random_state=args.random_state,
        ),
    )
    return pipe


def _models(task, args):
    d = task.X.shape[1]
    if task.classification:
        return [("SVC", m, _svc(m, args, d)) for m in METHODS]
    krr = [("KernelRidge", m, _kernel_ridge(m, args, d)) for m in METHODS]
    return krr + [("GPR (ML-II)", m, _gpr(m, args, d)) for m in METHODS]


def _hyperparameters(estimators):
    """Fitted hyperparameters of the models of all outer splits, in one line."""
    est = estimators[0]
    if isinstance(est, TransformedTargetRegressor):
        estimators = [e.regressor_ for e in estimators]
        est = estimators[0]
    if isinstance(est, GridSearchCV):
        # the most frequent choice of the inner search over the outer splits
        choices = Counter(tuple(sorted(e.best_params_.items())) for e in estimators)
        best, count = choices.most_common(1)[0]
        text = ", ".join(f"{k.split('__')[-1]}={_fmt(v)}" for k, v in best)
        text += f" ({count}/{len(estimators)} splits)"
        # an optimum on the first or last candidate may lie outside the grid
        for name, values in est.param_grid.items():
            edge = sum(
                e.best_params_[name] in (values[0], values[-1]) for e in estimators
            )
            if len(values) > 1 and edge:
                text += (
                    f"; {name.split('__')[-1]} at the edge of its grid in "
                    f"{edge}/{len(estimators)} splits"
                )
        return text
    # GPR: median over the splits of every fitted hyperparameter, and how
    # often one ended at a bound of its search range (a degenerate fit)
    kernels = [e[-1].kernel_ for e in estimators]
    names = [_short(h.name) for h in kernels[0].hyperparameters if not h.fixed]
    theta = np.array([k.theta for k in kernels])
    log_bounds = kernels[0].bounds  # log scale, one row per entry of theta
    at_bound = (np.abs(theta - log_bounds[:, 0]) < _AT_BOUND) | (
        np.abs(theta - log_bounds[:, 1]) < _AT_BOUND
    )
    text = ", ".join(
        f"{n}={_fmt(v)}" for n, v in zip(names, np.exp(np.median(theta, axis=0)))
    )
    text += f" (median of {len(estimators)} splits)"
    for n, count in zip(names, at_bound.sum(axis=0)):
        if count:
            text += f"; {n} at a bound in {count}/{len(estimators)} splits"
    return text


#: a fitted log-hyperparameter closer than this to a bound counts as at it
_AT_BOUND = 0.01


def _short(name):
    name = name.split("__")[-1]
    return {"constant_value": "C", "noise_level": "noise"}.get(name, name)


_CONVERGENCE_NOTE = (
    "(*) scikit-learn's ConvergenceWarning, counted here instead of printed: an "
    "optimum on the edge of the search range, as the 'at a bound' notes say. "
    "A noise level at its lower bound means that the kernel explains the noise "
    "as signal; trust that fit less."
)


def _reissue_other_warnings(caught):
    """Show the recorded warnings except ConvergenceWarnings; count those."""
    n = 0
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            n += 1
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return n


def _fmt(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def corrected_ttest(a, b, n_train, n_test):
    r"""Two-sided p-value of the mean paired difference of CV scores.

    The corrected resampled t-test (Nadeau & Bengio 2003): the variance of the
    mean of the :math:`J` paired differences :math:`d_j` is inflated from
    :math:`s^2/J` to :math:`(1/J + n_{test}/n_{train})\, s^2`, because the
    training sets of the splits overlap. Returns ``(mean difference, p)``; the
    p-value is 1 when every difference is zero.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    J = d.size
    var = np.var(d, ddof=1)
    mean = float(d.mean())
    if var == 0.0:
        return mean, 1.0 if mean == 0.0 else 0.0
    t = mean / np.sqrt((1.0 / J + n_test / n_train) * var)
    return mean, float(2.0 * stats.t.sf(abs(t), df=J - 1))


def warm_up(args):
    """Compile (or load from numba's cache) every path the job uses; seconds."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    t0 = time.perf_counter()
    for method in ("NTK", "NNGP"):
        k = _network_kernel(method, args)
        k(X, eval_gradient=True)
        k(X, Y)
        k.diag(X)
        _network_kernel(method, args, sigma_w_bounds="fixed")(X, eval_gradient=True)
    return time.perf_counter() - t0


def _positive_int(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _n_jobs(text):
    value = _positive_int(-(2**31))(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1 or negative (-1: all cores)")
    return value


def _activation_name(text):
    """A registry name, or an argparse error with the closest names."""
    if text in ACTIVATION_NAMES:
        return text
    close = suggest(text)
    hint = f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
    raise argparse.ArgumentTypeError(
        f"unknown activation {text!r}{hint} (names: {', '.join(ACTIVATION_NAMES)})"
    )


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sknnk",
        description=(
            "Compare the NTK and NNGP kernels of an infinitely wide network "
            "with an RBF kernel and a linear baseline on scikit-learn data sets "
            "(SVC, KernelRidge, Gaussian-process regression), every method tuned "
            "with the same budget, scored by repeated cross-validation."
        ),
    )
    parser.add_argument(
        "--depth", type=_positive_int(0), default=3, help="hidden layers (default 3)"
    )
    parser.add_argument(
        "--activation",
        default="relu",
        type=_activation_name,
        metavar="NAME",
        help=f"one of {', '.join(ACTIVATION_NAMES)} (default relu)",
    )
    parser.add_argument(
        "--folds", type=_positive_int(2), default=5, help="K of K-fold (default 5)"
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int(1),
        default=2,
        help="repetitions of K-fold with new shuffles (default 2; 1 with --quick)",
    )
    parser.add_argument(
        "--restarts",
        type=_positive_int(0),
        default=0,
        help="extra GPR optimizer restarts from random starts (default 0)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one data set per task and one repetition (about 10 s)",
    )
    parser.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=-1,
        help=(
            "threads over which the cross-validation splits are spread (default "
            "-1: all cores; 1: none); the scores do not depend on it"
        ),
    )
    parser.add_argument(
        "--random-state", type=int, default=0, help="seed of the splits (default 0)"
    )
    parser.add_argument(
        "--blas-threads",
        type=_positive_int(1),
        default=1,
        help=(
            "BLAS threads (default 1): these data sets are small, and the "
            "separate OpenBLAS thread pools of numpy and scipy can slow each "
            "other down by orders of magnitude on small matrices"
        ),
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def _progress(text):
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    t_start = time.perf_counter()
    _progress("compiling the numba kernels (cached after the first run) ...")
    t_compile = warm_up(args)
    _progress(f"compiled in {t_compile:.1f} s")

    tasks = list(_datasets(args.quick))
    for task in tasks:
        task.models = _models(task, args)
    n_steps = sum(len(t.models) for t in tasks)
    rows, verdicts, notes, step = [], [], set(), 0
    tally = {pair: [0, 0, 0] for pair in _PAIRS}
    t_fit = time.perf_counter()
    with threadpool_limits(args.blas_threads, "blas"):
        for task in tasks:
            cls = RepeatedStratifiedKFold if task.classification else RepeatedKFold
            cv = cls(
                n_splits=args.folds, n_repeats=repeats, random_state=args.random_state
            )
            splits = list(cv.split(task.X, task.y))
            scores = {}
            for model, method, estimator in task.models:
                step += 1
                t0 = time.perf_counter()
                with (
                    warnings.catch_warnings(record=True) as caught,
                    parallel_config(backend="threading"),
                ):
                    warnings.simplefilter("always", ConvergenceWarning)
                    res = cross_validate(
                        estimator, task.X, task.y, cv=splits,
                        n_jobs=args.n_jobs, return_estimator=True,
                        error_score="raise",
                    )  # fmt: skip
                wall = time.perf_counter() - t0
                s = res["test_score"]
                scores[model, method] = s
                hyper = _hyperparameters(res["estimator"])
                n_conv = _reissue_other_warnings(caught)
                if n_conv:
                    hyper += f"; {n_conv} ConvergenceWarning(s) (*)"
                    notes.add(_CONVERGENCE_NOTE)
                rows.append((task.name, model, method, s, wall, hyper))
                _progress(
                    f"[{step}/{n_steps}] {task.name} {model} {method}: "
                    f"{s.mean():.3f} +- {s.std():.3f} in {wall:.1f} s"
                )
            n_test = len(splits[0][1])
            verdicts += _verdict(task, scores, len(task.y) - n_test, n_test)
            _tally(tally, scores, len(task.y) - n_test, n_test)
    total_fit = time.perf_counter() - t_fit

    print(
        f"sknnk {__version__}: depth={args.depth}, activation={args.activation}, "
        f"{args.folds}-fold CV x {repeats} repeats (random_state="
        f"{args.random_state}), 12 candidates per method"
    )
    header = ("dataset", "model", "kernel", "score (mean +- std)", "time s")
    widths = (14, 12, 7, 20, 7)
    print(
        "  ".join(h.ljust(w) for h, w in zip(header, widths))
        + "  fitted hyperparameters"
    )
    for name, model, method, s, wall, hyper in rows:
        metric = "acc" if model == "SVC" else "R^2"
        cells = (
            name,
            model,
            method,
            f"{metric} {s.mean():.3f} +- {s.std():.3f}",
            f"{wall:.1f}",
        )
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + hyper)
    for note in sorted(notes):
        print(note)
    print()
    print(
        f"Verdict (paired over the same splits, corrected resampled t-test, "
        f"alpha={ALPHA}):"
    )
    for line in verdicts:
        print("  " + line)
    print("  Overall, over the same splits of every data set and model:")
    for (a, b), (better, worse, tied) in tally.items():
        print(
            f"    {a} vs {b}: significantly better {better}, significantly worse "
            f"{worse}, no significant difference {tied} (of {better + worse + tied})"
        )
    print(
        f"numba compilation {t_compile:.1f} s (cached on disk after the first run), "
        f"cross-validation {total_fit:.1f} s, total "
        f"{time.perf_counter() - t_start:.1f} s"
    )
    return 0


#: the head-to-head comparisons summed up in the closing verdict
_PAIRS = (("NTK", "RBF"), ("NNGP", "RBF"), ("NTK", "linear"), ("NNGP", "linear"))


def _tally(tally, scores, n_train, n_test):
    """Add one data set's head-to-head outcomes to ``tally[pair]``."""
    for model in dict.fromkeys(m for m, _ in scores):
        for a, b in _PAIRS:
            diff, p = corrected_ttest(
                scores[model, a], scores[model, b], n_train, n_test
            )
            tally[a, b][2 if p >= ALPHA else (0 if diff > 0 else 1)] += 1


def _verdict(task, scores, n_train, n_test):
    """One line per model type: the best method against each of the others."""
    lines = []
    for model in dict.fromkeys(m for m, _ in scores):
        methods = [me for mo, me in scores if mo == model]
        best = max(methods, key=lambda me: scores[model, me].mean())
        worse, tied = [], []
        for other in methods:
            if other == best:
                continue
            diff, p = corrected_ttest(
                scores[model, best], scores[model, other], n_train, n_test
            )
            text = f"{other} ({diff:+.3f}, p={p:.2g})"
            (worse if p < ALPHA else tied).append(text)
        parts = [f"{task.name} {model}: best mean {best}"]
        if worse:
            parts.append("significantly better than " + ", ".join(worse))
        if tied:
            parts.append("no significant difference from " + ", ".join(tied))
        lines.append("; ".join(parts))
    return lines


if __name__ == "__main__":
    sys.exit(main())
