"""Time the per-feature length-scale (ARD) gradient against sklearn's anisotropic RBF.

Usage (from the repository root)::

    python benchmarks/bench_ard.py                  # n = 2000, d = 20
    python benchmarks/bench_ard.py --n 1000 4000 --d 20 --n-jobs 2

For each ``n`` the calls ``K, G = k(X, eval_gradient=True)`` of

* ``RBF(length_scale=np.ones(d))`` (sklearn's anisotropic RBF: ``d`` columns),
* ``NTKKernel(depth=3, length_scale=np.ones(d))`` and the same ``NNGPKernel``
  (ReLU; ``d`` length-scale columns plus ``log sigma_b`` and ``log sigma_w``),
* the same two kernels with ``length_scale_bounds="fixed"`` (only the two
  ``sigma`` columns: what the length scales add),

are interleaved round by round (so that load from other processes hits them
alike) and the best of ``--repeat`` rounds is reported, with its ratio to the
RBF call. Compilation is timed separately: the first call of each kernel on a
few rows in this process (numba's on-disk cache may make it a load).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.gaussian_process.kernels import RBF

from sknnk import NNGPKernel, NTKKernel


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    d = args.d
    kernels = {
        "RBF-ARD": RBF(length_scale=np.ones(d)),
        "NTK relu ARD": NTKKernel(
            depth=args.depth, length_scale=np.ones(d), n_jobs=args.n_jobs
        ),
        "NNGP relu ARD": NNGPKernel(
            depth=args.depth, length_scale=np.ones(d), n_jobs=args.n_jobs
        ),
        "NTK relu (sigmas only)": NTKKernel(
            depth=args.depth, length_scale_bounds="fixed", n_jobs=args.n_jobs
        ),
        "NNGP relu (sigmas only)": NNGPKernel(
            depth=args.depth, length_scale_bounds="fixed", n_jobs=args.n_jobs
        ),
    }
    rng = np.random.default_rng(0)
    warm = rng.normal(size=(16, d))
    print("first call (compile or cache load), 16 rows:")
    for name, k in kernels.items():
        t0 = time.perf_counter()
        k(warm, eval_gradient=True)
        print(f"  {name:<24} {time.perf_counter() - t0:8.3f} s")
    for n in args.n:
        X = rng.normal(size=(n, d))
        best = dict.fromkeys(kernels, np.inf)
        for _ in range(args.repeat):
            for name, k in kernels.items():
                t0 = time.perf_counter()
                K, G = k(X, eval_gradient=True)
                best[name] = min(best[name], time.perf_counter() - t0)
                del K, G
        print(f"\nn = {n}, d = {d}, depth = {args.depth}, n_jobs = {args.n_jobs}")
        print(f"  {'kernel':<24} {'seconds':>8} {'xRBF':>6} {'columns':>8}")
        for name, k in kernels.items():
            ratio = best[name] / best["RBF-ARD"]
            print(f"  {name:<24} {best[name]:8.3f} {ratio:6.2f} {k.n_dims:8d}")


if __name__ == "__main__":
    main()
