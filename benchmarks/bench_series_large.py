"""Cost of the series tables and entries of mish at layer variances 10 ... 1e3.

Usage::

    python benchmarks/bench_series_large.py            # mish (and a Custom)
    python benchmarks/bench_series_large.py --tanh     # tanh at q <= 10 only

For each variance ``q``: the seconds per point of a layer's coefficient tables
(``series.layer_tables``, gradients' 4 tables and values' 2, fresh caches),
the terms ``N``, and the seconds per entry of a depth-1 NTK Gram matrix with
its gradient (points whose layer-0 variances are ``q (1 + i / (10 n))``): the
time of ``4 n`` points minus that of ``n`` points and of the added tables, per
added entry. ``--tanh`` times tanh's depth-2 NTK with gradient at
``q <= 10`` (the default tier, unchanged by the split tier): run it with
``PYTHONPATH`` on two trees to compare them in one session.
"""

import argparse
import time

import numpy as np

from sknnk import NTKKernel
from sknnk._numerics import series
from sknnk.activations import resolve_activation


def _inputs(n, q, d=4):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    target = q * (1.0 + np.arange(n) / (10.0 * n))
    return X * np.sqrt(target * d / np.einsum("ij,ij->i", X, X))[:, None]


def _clear():
    series._table_cache.entries.clear()
    series._diag_cache.entries.clear()


def _best(repeat, fn, *args, **kwargs):
    best = np.inf
    for _ in range(repeat):
        _clear()
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best


def mish_costs(activation, qs, n, repeat):
    funcs = resolve_activation(activation).funcs
    print(f"{activation!s:10s} {'q':>6s} {'N(grad)':>8s} {'s/point(4)':>11s} "
          f"{'N(val)':>7s} {'s/point(2)':>11s} {'s/entry':>9s} "
          f"{'ns/entry/term':>13s}")  # fmt: skip
    for q in qs:
        qa = q * (1.0 + np.arange(n) / (10.0 * n))
        grad = _best(repeat, series.layer_tables, funcs[:4], qa)
        n4 = series.layer_tables(funcs[:4], qa)[2]
        val = _best(repeat, series.layer_tables, funcs[:2], qa)
        n2 = series.layer_tables(funcs[:2], qa)[2]
        # a Gram matrix's entries: the difference of the calls on n and 4 n
        # points (whose tables are 4 times as many) per added entry
        kernel = NTKKernel(depth=1, activation=activation, sigma_w=1.0, sigma_b=0.0)
        t1 = _best(repeat, kernel, _inputs(n, q), eval_gradient=True)
        t4 = _best(repeat, kernel, _inputs(4 * n, q), eval_gradient=True)
        added = (4 * n) * (4 * n + 1) / 2 - n * (n + 1) / 2
        per_entry = max(t4 - t1 - 3 * grad, 0.0) / added
        print(f"{'':10s} {q:6g} {n4:8d} {grad / n:11.2e} {n2:7d} {val / n:11.2e} "
              f"{per_entry:9.2e} {1e9 * per_entry / n4:13.2f}")  # fmt: skip


def tanh_costs(repeat):
    rng = np.random.default_rng(1)
    for q in (0.5, 2.0, 10.0):
        for n in (10, 200):
            X = rng.normal(size=(n, 5))
            X *= np.sqrt(q)
            kernel = NTKKernel(depth=2, activation="tanh", sigma_w=1.0, sigma_b=0.1)
            t = _best(repeat, kernel, X, eval_gradient=True)
            print(f"tanh q={q:5g} n={n:4d} NTK depth 2 + gradient: {t * 1e3:9.2f} ms")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--q", nargs="*", type=float, default=[10.0, 100.0, 1e3])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tanh", action="store_true")
    args = parser.parse_args(argv)
    if args.tanh:
        tanh_costs(args.repeat)
        return
    mish_costs("mish", args.q, args.n, args.repeat)


if __name__ == "__main__":
    main()
