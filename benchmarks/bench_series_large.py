"""Cost of the series tables and entries of mish at layer variances 10 ... 1e3.

Usage::

    python benchmarks/bench_series_large.py            # mish (and a Custom)
    python benchmarks/bench_series_large.py --tanh     # tanh at q <= 10 only

For each variance ``q``: the seconds per point of a layer's coefficient tables
(``series.layer_tables``, gradients' 4 tables and values' 2, fresh caches),
the terms ``N``, and the seconds per entry of the tiles of a depth-1 NTK Gram
matrix with its gradient (points whose layer-0 variances are ``q (1 + i / (10
n))``), for random directions (most entries need few terms) and for
near-duplicates (correlations near 1: every entry all ``N`` terms, also per
term). ``--tanh`` times tanh's depth-2 NTK with gradient at
``q <= 10`` (the default tier, unchanged by the split tier): run it with
``PYTHONPATH`` on two trees to compare them in one session.
"""

import argparse
import time

import numpy as np

from sknnk import NTKKernel, _parallel
from sknnk._numerics import series
from sknnk.activations import resolve_activation


def _inputs(n, q, d=4, spread=1.0):
    """``n`` points of layer-0 variances ``q (1 + i / (10 n))``; directions
    random (``spread=1``) or within ``spread`` of one (correlations -> 1)."""
    rng = np.random.default_rng(0)
    X = 1.0 + spread * rng.normal(size=(n, d))
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
          f"{'N(val)':>7s} {'s/point(2)':>11s} {'s/entry':>9s} {'(rho->1)':>9s} "
          f"{'ns/term':>11s}")  # fmt: skip
    for q in qs:
        qa = q * (1.0 + np.arange(n) / (10.0 * n))
        grad = _best(repeat, series.layer_tables, funcs[:4], qa)
        n4 = series.layer_tables(funcs[:4], qa)[2]
        val = _best(repeat, series.layer_tables, funcs[:2], qa)
        n2 = series.layer_tables(funcs[:2], qa)[2]
        # a Gram matrix's entries: the time of the tiles alone (the wrapped
        # sknnk._parallel.compute_gram), random directions and near-duplicates
        kernel = NTKKernel(depth=1, activation=activation, sigma_w=1.0, sigma_b=0.0)
        entries = n * (n + 1) / 2
        per = []
        for X in (_inputs(n, q), _inputs(n, q, spread=1e-4)):
            _tiles.clear()
            _best(repeat, kernel, X, eval_gradient=True)
            per.append(min(_tiles) / entries)
        print(f"{'':10s} {q:6g} {n4:8d} {grad / n:11.2e} {n2:7d} {val / n:11.2e} "
              f"{per[0]:9.2e} {per[1]:9.2e} {1e9 * per[1] / n4:11.2f}")  # fmt: skip


_tiles = []


def _timed(fn):
    def call(*args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        _tiles.append(time.perf_counter() - t0)
        return out

    return call


_parallel.compute_gram = _timed(_parallel.compute_gram)


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
