"""gelu, swish, gelu_tanh: error map, switch variance and speed of the closed form.

Usage::

    python benchmarks/xerf_error_map.py                 # everything
    python benchmarks/xerf_error_map.py --part map --act gelu
    python benchmarks/xerf_error_map.py --part switch speed

``map``: for each activation and layer-0 variance ``q``, the largest error
over the correlations (``benchmarks/series_error_map.py``'s grid and
reference: nested quadrature of the true activation, five-point central
differences of the reference recursion) of a depth-1 NTK entry and of its
gradients ``d/dlog sigma_w``, ``d/dlog sigma_b``, relative to ``sqrt(k(x,
x) k(y, y))``, with the Hermite series and with the closed form
``XERF_MIX`` (:func:`sknnk._numerics.activations.xerf_partials`) forced.

``switch``: the largest relative difference between the series and the
closed form of ``(V, W, dV/dq, dW/dq)`` and of ``(F, G)`` at a few
correlations, per variance: where the series stops agreeing, and so where
``SERIES_MAX_VARIANCE`` (:mod:`sknnk._numerics.mixture`) switches.

``speed``: seconds per entry of an NTK Gram with its gradient (depth 2,
``n`` points at unit scale) by the series, by the closed form and by tanh's
mixture (``ERF_MIX``), and their ratios.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from series_error_map import ACTIVATIONS, FORCE, RHOS, entry_errors  # noqa: E402

from sknnk import NTKKernel  # noqa: E402
from sknnk._numerics import registry  # noqa: E402

ACTS = ("gelu", "swish", "gelu_tanh")
VARIANCES = (1e-2, 1e-1, 1.0, 10.0, 38.0, 100.0, 300.0, 1e3)


def error_map(acts, qs):
    print("depth-1 NTK; max over rho of |error| / sqrt(k(x,x) k(y,y))")
    cols = f"{'value':>13s} {'grad_w':>8s} {'grad_b':>8s}"
    print(f"{'':10s} {'':>7s} | {'series':>31s} | {'closed form':>31s}")
    print(f"{'activation':10s} {'q':>7s} | {cols} | {cols}")
    for name in acts:
        activation, key = ACTIVATIONS[name]
        for q in qs:
            cells = []
            for method in ("series", "mixture"):
                ev, gw, gb, refused = 0.0, 0.0, 0.0, False
                for rho in RHOS:
                    out = entry_errors(activation, key, q, rho, True, method)
                    e_value, e_grad = out[:2]
                    ev = max(ev, e_value)
                    if e_grad is None:
                        refused = True
                    else:
                        gw, gb = max(gw, e_grad[0]), max(gb, e_grad[1])
                g = ("refused",) * 2 if refused else (f"{gw:.1e}", f"{gb:.1e}")
                cells.append(f"{ev:13.1e} {g[0]:>8s} {g[1]:>8s}")
            print(f"{name:10s} {q:7.3g} | {cells[0]} | {cells[1]}", flush=True)


def switch(acts, qs):
    print("max relative |series - closed form| of (V, W, dV/dq, dW/dq) and of "
          "(F, G) at rho in {-0.9, 0, 0.9, 0.999}")  # fmt: skip
    c = np.array([-0.9, 0.0, 0.9, 0.999])
    for name in acts:
        spec = registry.resolve_name(name)
        top = spec.series_max_variance
        for q in qs:
            spec.series_max_variance = 0.0
            closed = spec.diag(np.array([q]))
            fc, gc, _ = spec.dual(q, c)
            spec.series_max_variance = np.inf
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                series = spec.diag(np.array([q]))
                fs, gs, _ = spec.dual(q, c)
            spec.series_max_variance = top
            diag = max(abs(s[0] - m[0]) / abs(m[0]) for s, m in zip(series, closed))
            pair = max(np.max(np.abs(fs - fc)) / closed[0][0],
                       np.max(np.abs(gs - gc)) / closed[1][0])  # fmt: skip
            print(f"{name:10s} q={q:7.3g}  diag {diag:8.1e}  pair {pair:8.1e}"
                  f"  (switch at {top:g})", flush=True)  # fmt: skip


def _seconds(kernel, X, force, repeat=3):
    spec = kernel._check_params()
    if force is not None:
        spec.series_max_variance = force
    kernel(X[:4], eval_gradient=True)  # compile
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        kernel(X, eval_gradient=True)
        best = min(best, time.perf_counter() - t0)
    return best


def speed(acts, n):
    X = np.random.default_rng(0).normal(size=(n, 8))
    entries = n * (n + 1) / 2
    kw = dict(depth=2, sigma_w=1.3, sigma_b=0.2)
    tanh = _seconds(NTKKernel(activation="tanh", **kw), X, FORCE["mixture"])
    print(f"NTK + gradient, depth 2, n = {n}: microseconds per entry")
    print(f"tanh mixture (ERF_MIX, 22^2 terms): {1e6 * tanh / entries:8.2f}")
    for name in acts:
        k = NTKKernel(activation=name, **kw)
        s = _seconds(k, X, FORCE["series"])
        k = NTKKernel(activation=name, **kw)
        m = _seconds(k, X, FORCE["mixture"])
        us = 1e6 / entries
        print(f"{name:10s} series {us * s:8.2f}  closed {us * m:8.2f}  closed/series "
              f"{m / s:6.2f}  closed/tanh-mixture {m / tanh:6.2f}")  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="*", default=["map", "switch", "speed"])
    parser.add_argument("--act", nargs="*", default=list(ACTS))
    parser.add_argument("--q", nargs="*", type=float, default=list(VARIANCES))
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)
    if "map" in args.part:
        error_map(args.act, args.q)
    if "switch" in args.part:
        switch(args.act, args.q)
    if "speed" in args.part:
        speed(args.act, args.n)


if __name__ == "__main__":
    main()
