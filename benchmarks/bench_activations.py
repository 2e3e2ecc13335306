"""Accuracy and speed of every activation.

Usage::

    python benchmarks/bench_activations.py                # accuracy + timing
    python benchmarks/bench_activations.py --n 2000 --skip-accuracy

Accuracy: the largest error of the dual activations ``F = E[phi(u) phi(v)]``
and ``G = E[phi'(u) phi'(v)]`` computed by the kernels, relative to
``sqrt(k(x, x) k(y, y))``, against nested Gauss-Legendre quadrature split at the
kinks (``tests/_reference.py``, independent of sknnk), over layer variances
0.5-13 and correlations -0.95 ... 1. Timing: an NTK depth-3 Gram on
``N x 64`` standard-normal inputs (first call excluded: numba compilation),
best of 3 calls interleaved with relu calls on the same data, as a ratio to
the best relu time seen up to that row.

``--compare PATH`` instead times this checkout against another one (e.g. the
starting commit) in alternating subprocesses, rounds interleaved so that load
from other processes hits both alike: series activations' NTK depth-3 Grams
on ``N x 64`` inputs whose layer-0 variances are uniform in ``[q / 4, q]``
for ``q = 2`` and ``q = 10``, with and without gradient, and the small call
(20 x 3 input: steady state, and with a new ``sigma_w`` at every call, as in
a hyperparameter search)::

    python benchmarks/bench_activations.py --compare /work/baseline --n 2000
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _reference import ACTIVATIONS as REF  # noqa: E402
from _reference import nested_quad_dual  # noqa: E402

from sknnk import ACTIVATION_NAMES, NNGPKernel, NTKKernel  # noqa: E402
from sknnk.activations import ArcCosine, LeakyReLU  # noqa: E402

EXTRA = {
    "LeakyReLU(0.1)": (LeakyReLU(0.1), "leaky_relu_0.1"),
    "ArcCosine(2)": (ArcCosine(2), "arccos2"),
    "ArcCosine(3)": (ArcCosine(3), "arccos3"),
    "ArcCosine(4)": (ArcCosine(4), "arccos4"),
}
REF = dict(REF)
REF["leaky_relu"] = (
    lambda x: np.where(x > 0, x, 0.01 * x),
    lambda x: np.where(x > 0, 1.0, 0.01),
)


def dual(activation, a, b, rho):
    c = rho * np.sqrt(a * b)
    x = np.array([[np.sqrt(2 * a), 0.0]])
    y = np.array([[c * np.sqrt(2 / a), np.sqrt(max(2 * b - 2 * c * c / a, 0.0))]])
    kw = dict(depth=1, activation=activation, sigma_w=1.0, sigma_b=0.0)
    F = NNGPKernel(**kw)(x, y)[0, 0]
    return F, (NTKKernel(**kw)(x, y)[0, 0] - F) / c


def accuracy(activation, key):
    phi, dphi = REF[key]
    eF = eG = 0.0
    for a in (0.5, 1.0, 4.0, 10.0):
        b = 1.3 * a
        Va = nested_quad_dual(phi, dphi, a, a, a)
        Vb = nested_quad_dual(phi, dphi, b, b, b)
        for rho in (-0.95, 0.3, 0.9, 0.999, 0.99999, 1.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                F, G = dual(activation, a, b, rho)
            Fr, Gr = nested_quad_dual(phi, dphi, a, b, rho * np.sqrt(a * b))
            eF = max(eF, abs(F - Fr) / np.sqrt(Va[0] * Vb[0]))
            if key not in ("step", "sign"):
                eG = max(eG, abs(G - Gr) / np.sqrt(Va[1] * Vb[1]))
    return eF, eG


def timing(activation, X, n_jobs, repeat=3, relu_best=None):
    """Best of ``repeat`` NTK Gram calls, interleaved with relu calls on the same
    data (so that load from other processes hits both alike); returns the time
    and the best relu time seen so far."""
    kernels = [NTKKernel(depth=3, activation=a, n_jobs=n_jobs)
               for a in (activation, "relu")]  # fmt: skip
    best = [np.inf, np.inf if relu_best is None else relu_best]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for k in kernels:
            k(X[:8])  # compile
        for _ in range(repeat):
            for i, k in enumerate(kernels):
                t0 = time.perf_counter()
                k(X)
                best[i] = min(best[i], time.perf_counter() - t0)
    return best[0], best[1]


_CHILD = """
import json, sys, time, warnings
import numpy as np
from sknnk import NTKKernel
acts, n, n_jobs = json.loads(sys.argv[1])
warnings.simplefilter("ignore")
out = {}
for act in acts:
    for q in (2.0, 10.0):
        # NTK depth 3, sigma_w^2 = 2, sigma_b^2 = 0.01: layer-0 variances
        # 2 |x|^2 / d + 0.01, uniform in [q / 4, q]
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, 64))
        scale = np.sqrt(rng.uniform(q / 4, q, n) - 0.01) / np.linalg.norm(X, axis=1)
        X *= np.sqrt(64 / 2.0) * scale[:, None]
        k = NTKKernel(depth=3, activation=act, n_jobs=n_jobs)
        for grad in (False, True):
            k(X[:8], eval_gradient=grad)
            t0 = time.perf_counter()
            k(X, eval_gradient=grad)
            key = f"{act} q<={q:g} {'grad' if grad else 'value'}"
            out[key] = time.perf_counter() - t0
    X = np.random.default_rng(0).normal(size=(20, 3))
    k = NTKKernel(depth=3, activation=act)
    k(X)
    best = np.inf
    for _ in range(200):
        t0 = time.perf_counter()
        k(X)
        best = min(best, time.perf_counter() - t0)
    out[f"{act} 20x3 call"] = best
    best = np.inf
    for i in range(200):
        k = NTKKernel(depth=3, activation=act, sigma_w=1.0 + 1e-3 * i)
        t0 = time.perf_counter()
        k(X)
        best = min(best, time.perf_counter() - t0)
    out[f"{act} 20x3 new sigma_w"] = best
print(json.dumps(out))
"""


def compare(other, acts, n, n_jobs, rounds=3):
    """Best times of :data:`_CHILD` for ``other`` and this checkout, in
    alternating subprocesses over ``rounds`` rounds."""
    here = str(Path(__file__).resolve().parents[1])
    best = {other: {}, here: {}}
    for _ in range(rounds):
        for path in (other, here):
            env = dict(os.environ, PYTHONPATH=path)
            arg = json.dumps([acts, n, n_jobs])
            res = subprocess.run([sys.executable, "-c", _CHILD, arg], env=env,
                                 capture_output=True, text=True, check=True,
                                 cwd=path)  # fmt: skip
            for key, t in json.loads(res.stdout.strip().splitlines()[-1]).items():
                best[path][key] = min(best[path].get(key, np.inf), t)
    print(f"{'case':28s} {'other s':>10s} {'this s':>10s} {'ratio':>6s}")
    for key, t_other in best[other].items():
        t_here = best[here][key]
        print(f"{key:28s} {t_other:10.4f} {t_here:10.4f} {t_here / t_other:6.2f}")
    print(
        f"(other = {other}; best of {rounds} alternating rounds, N = {n}, "
        f"n_jobs = {n_jobs}; 20x3: best of 200 calls)"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=4000, help="Gram size (4000)")
    p.add_argument("--n-jobs", type=int, default=-1, help="threads (-1)")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--skip-timing", action="store_true")
    p.add_argument("--compare", metavar="PATH", help="time against a checkout")
    p.add_argument("--act", nargs="*", default=["tanh"], help="with --compare")
    args = p.parse_args()
    if args.compare:
        compare(args.compare, args.act, args.n, args.n_jobs)
        return
    names = [(n, n if n not in ("silu", "linear") else {"silu": "swish"}.get(n, n))
             for n in ACTIVATION_NAMES]  # fmt: skip
    names = [(n, "identity" if k == "linear" else k) for n, k in names]
    cases = [(n, act, key) for n, (act, key) in EXTRA.items()]
    cases = [(n, n, k) for n, k in names] + cases
    X = np.random.default_rng(0).normal(size=(args.n, 64))
    t_relu = None
    print(f"{'activation':16s} {'max err F':>10s} {'max err G':>10s} "
          f"{'seconds':>8s} {'x relu':>7s}")  # fmt: skip
    for label, act, key in cases:
        eF, eG = (np.nan, np.nan) if args.skip_accuracy else accuracy(act, key)
        t = np.nan
        if not args.skip_timing:
            t, t_relu = timing(act, X, args.n_jobs, relu_best=t_relu)
        ratio = t / t_relu if t_relu else np.nan
        print(f"{label:16s} {eF:10.1e} {eG:10.1e} {t:8.2f} {ratio:7.1f}")
    print(f"(N = {args.n}, d = 64, NTK depth 3, n_jobs = {args.n_jobs}; "
          "errors relative to sqrt(k(x,x) k(y,y)), variances 0.5-13)")  # fmt: skip


if __name__ == "__main__":
    main()
