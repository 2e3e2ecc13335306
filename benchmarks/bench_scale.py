"""NTK/NNGP models on 10^5-10^6 rows: Nystroem and random features vs RBF.

Usage examples (run from the repository root)::

    # the issue's workload: 10^6 training rows, 50 features, every method
    python benchmarks/bench_scale.py --n 1000000

    # a quicker look
    python benchmarks/bench_scale.py --n 100000 --methods ntk_nystroem rbf_nystroem

    # accuracy of the approximations against the exact NTK on a 20k subset
    python benchmarks/bench_scale.py --n 20000 --exact

Data: ``make_classification`` with ``--n`` training rows plus ``--n-test``
test rows, 50 features (20 informative), standardised with the training
statistics. Every method maps the rows to features in batches of
``--batch`` rows and fits a ridge classifier (one-vs-rest, +-1 targets,
penalty ``--alpha``, unpenalised intercept) from normal equations accumulated
batch by batch, so the features of all rows are never in memory at once (10^6
rows x 2049 float64 features alone would take 16 GB); ``linear`` is the same
classifier on the raw features. Methods:

* ``ntk_nystroem`` / ``nngp_nystroem``: ``sklearn.kernel_approximation.Nystroem``
  with ``NTKKernel()`` / ``NNGPKernel()`` (relu, depth 3) as its kernel,
  ``--components`` landmarks;
* ``ntk_sampler`` / ``nngp_sampler``: sknnk's random-network features with
  ``--rf-components`` units;
* ``rbf_nystroem`` / ``rbf_sampler``: sklearn's ``Nystroem(RBF)`` and
  ``RBFSampler`` with ``gamma = 1 / n_features`` (inputs are standardised).

Every method runs in a fresh process (the script calls itself with ``--run``),
so ``peak GB`` is that process's maximum resident memory, data included.
Columns: ``features s`` (fit + all batches of ``transform`` of the training
rows), ``model s`` (accumulating ``F^T F``, ``F^T Y`` and the solve), ``acc``
(test accuracy).

``--exact`` adds, on a training subset of ``--exact-n`` rows (default 20000):
the exact-kernel ``KernelRidge``-style classifier (one Cholesky of the
``NTKKernel`` Gram) and the relative Frobenius error of each approximate
Gram ``Phi Phi^T`` against the exact Gram on 2000 of those rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

METHODS = (
    "linear",
    "ntk_nystroem",
    "nngp_nystroem",
    "ntk_sampler",
    "nngp_sampler",
    "rbf_nystroem",
    "rbf_sampler",
)


def make_data(n, n_test, n_features, seed=0):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n + n_test,
        n_features=n_features,
        n_informative=20,
        n_redundant=10,
        n_clusters_per_class=4,
        flip_y=0.02,
        class_sep=0.8,
        random_state=seed,
    )
    mean, std = X[:n].mean(0), X[:n].std(0)
    X = (X - mean) / std
    return X[:n], y[:n], X[n:], y[n:]


def make_map(method, args, n_features):
    from sklearn.gaussian_process.kernels import RBF
    from sklearn.kernel_approximation import Nystroem, RBFSampler

    from sknnk import NNGPKernel, NTKKernel

    net = dict(depth=args.depth, activation=args.activation)
    gamma = 1.0 / n_features
    seed = args.seed
    if method == "linear":
        return None
    if method == "ntk_nystroem":
        kernel = NTKKernel(**net, n_jobs=args.n_jobs)
        return Nystroem(kernel=kernel, n_components=args.components, random_state=seed)
    if method == "nngp_nystroem":
        kernel = NNGPKernel(**net, n_jobs=args.n_jobs)
        return Nystroem(kernel=kernel, n_components=args.components, random_state=seed)
    if method == "rbf_nystroem":
        # RBF(length_scale) with 1 / (2 l^2) = gamma
        kernel = RBF(length_scale=np.sqrt(0.5 / gamma))
        return Nystroem(kernel=kernel, n_components=args.components, random_state=seed)
    if method == "rbf_sampler":
        return RBFSampler(
            gamma=gamma, n_components=args.rf_components, random_state=seed
        )
    from sknnk import NNGPSampler, NTKSampler

    cls = NTKSampler if method == "ntk_sampler" else NNGPSampler
    return cls(
        n_components=args.rf_components,
        random_state=seed,
        n_jobs=args.n_jobs,
        **net,
    )


def streaming_ridge(fmap, X, y, Xt, yt, batch, alpha):
    """Ridge classifier (one-vs-rest on +-1 targets, unpenalised intercept)
    fitted from the normal equations accumulated batch by batch, so that the
    features of all rows are never held at once; returns the timings and the
    test accuracy."""
    classes = np.unique(y)
    t_feat = t_model = 0.0
    G = B = None
    for start in range(0, X.shape[0], batch):
        t0 = time.perf_counter()
        xb = X[start : start + batch]
        F = xb if fmap is None else fmap.transform(xb)
        F = np.hstack([F, np.ones((F.shape[0], 1))])
        t1 = time.perf_counter()
        T = np.where(y[start : start + batch, None] == classes[None, :], 1.0, -1.0)
        if G is None:
            G = np.zeros((F.shape[1], F.shape[1]))
            B = np.zeros((F.shape[1], len(classes)))
        G += F.T @ F
        B += F.T @ T
        t_feat += t1 - t0
        t_model += time.perf_counter() - t1
    t0 = time.perf_counter()
    reg = np.full(G.shape[0], alpha)
    reg[-1] = 0.0
    W = np.linalg.solve(G + np.diag(reg), B)
    t_model += time.perf_counter() - t0
    correct = 0
    for start in range(0, Xt.shape[0], batch):
        xb = Xt[start : start + batch]
        F = xb if fmap is None else fmap.transform(xb)
        pred = classes[(F @ W[:-1] + W[-1]).argmax(1)]
        correct += int(np.sum(pred == yt[start : start + batch]))
    return G.shape[0] - 1, t_feat, t_model, correct / Xt.shape[0]


def run_one(method, args):
    X, y, Xt, yt = make_data(args.n, args.n_test, args.features, args.seed)
    fmap = make_map(method, args, X.shape[1])
    t0 = time.perf_counter()
    if fmap is not None:
        fmap.fit(X)
    t_fit = time.perf_counter() - t0
    dim, t_feat, t_model, acc = streaming_ridge(
        fmap, X, y, Xt, yt, args.batch, args.alpha
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return dict(
        method=method,
        dim=int(dim),
        features_s=t_fit + t_feat,
        model_s=t_model,
        acc=acc,
        peak_gb=peak,
    )


def run_exact(args):
    """Exact NTK classifier on a subset, and Gram errors of every approximation."""
    from scipy.linalg import cho_factor, cho_solve

    from sknnk import NNGPKernel, NTKKernel

    X, y, Xt, yt = make_data(args.n, args.n_test, args.features, args.seed)
    rng = np.random.default_rng(args.seed)
    sub = rng.choice(X.shape[0], size=min(args.exact_n, X.shape[0]), replace=False)
    Xs, ys = X[sub], y[sub]
    rows = []
    for name, kernel in (
        ("exact NTK", NTKKernel(depth=args.depth, activation=args.activation)),
        ("exact NNGP", NNGPKernel(depth=args.depth, activation=args.activation)),
    ):
        t0 = time.perf_counter()
        K = kernel(Xs)
        K[np.diag_indices_from(K)] += args.alpha
        targets = np.where(ys[:, None] == np.unique(y)[None, :], 1.0, -1.0)
        coef = cho_solve(cho_factor(K, lower=True, overwrite_a=True), targets)
        del K
        scores = kernel(Xt, Xs) @ coef
        acc = float(np.mean(np.unique(y)[scores.argmax(1)] == yt))
        rows.append(
            dict(method=name, n=len(sub), seconds=time.perf_counter() - t0, acc=acc)
        )
    # relative Frobenius error of the approximate Grams on 2000 rows
    ev = Xs[:2000]
    errs = []
    for method in METHODS[1:]:
        if "rbf" in method:
            continue
        fmap = make_map(method, args, X.shape[1])
        fmap.fit(Xs)
        P = fmap.transform(ev)
        exact_kernel = (NTKKernel if method.startswith("ntk") else NNGPKernel)(
            depth=args.depth, activation=args.activation
        )
        K = exact_kernel(ev)
        err = np.linalg.norm(P @ P.T - K) / np.linalg.norm(K)
        errs.append(dict(method=method, dim=int(P.shape[1]), rel_fro=float(err)))
    return dict(exact=rows, gram_errors=errs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1_000_000, help="training rows")
    p.add_argument("--n-test", type=int, default=20_000)
    p.add_argument("--features", type=int, default=50)
    p.add_argument("--components", type=int, default=1000, help="Nystroem k")
    p.add_argument("--rf-components", type=int, default=4096, help="RF units m")
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--activation", default="relu")
    p.add_argument("--alpha", type=float, default=1.0, help="ridge penalty")
    p.add_argument("--batch", type=int, default=50_000)
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--exact", action="store_true", help="exact-NTK subset + errors")
    p.add_argument("--exact-n", type=int, default=20_000)
    p.add_argument("--run", choices=METHODS + ("exact",), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.run == "exact":
        print(json.dumps(run_exact(args)))
        return
    if args.run:
        print(json.dumps(run_one(args.run, args)))
        return

    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    if "--methods" in passthrough:
        i = passthrough.index("--methods")
        j = i + 1
        while j < len(passthrough) and not passthrough[j].startswith("--"):
            j += 1
        passthrough = passthrough[:i] + passthrough[j:]
    passthrough = [a for a in passthrough if a != "--exact"]

    def child(what):
        cmd = [sys.executable, __file__, *passthrough, "--run", what]
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"{what} failed")
        return json.loads(out.stdout.strip().splitlines()[-1])

    print(
        f"N={args.n} train, {args.n_test} test, {args.features} features; "
        f"Nystroem k={args.components}, RF m={args.rf_components}, "
        f"{args.activation} depth {args.depth}"
    )
    print(
        f"{'method':<15}{'dim':>7}{'features s':>12}{'model s':>10}"
        f"{'acc':>8}{'peak GB':>9}"
    )
    for method in args.methods:
        r = child(method)
        print(
            f"{r['method']:<15}{r['dim']:>7}{r['features_s']:>12.1f}"
            f"{r['model_s']:>10.1f}{r['acc']:>8.4f}{r['peak_gb']:>9.2f}",
            flush=True,
        )
    if args.exact:
        r = child("exact")
        for row in r["exact"]:
            print(
                f"{row['method']} on {row['n']} rows: {row['seconds']:.1f} s, "
                f"acc {row['acc']:.4f}"
            )
        for row in r["gram_errors"]:
            print(
                f"{row['method']:<15} dim {row['dim']:>6}: relative Frobenius "
                f"error of the Gram on 2000 rows {row['rel_fro']:.2e}"
            )


if __name__ == "__main__":
    main()
