"""joblib threads (sknnk's engine) against numba ``prange`` over the same tiles.

Usage::

    python benchmarks/bench_prange.py --n 4000 8000 --threads 1 2

sknnk spreads its tiles over joblib threads (one task per worker pulling tiles
from a shared queue; each tile = one gemm + one ``nogil`` driver call). The
alternative measured here runs one full ``X @ X.T`` (BLAS with as many threads)
and then a ``numba.prange`` loop over the same tiles calling the same compiled
driver (the ReLU one of ``FAST_DRIVERS``), i.e. no Python at all per tile but a
fixed, static split of the tiles and one extra pass over the output for the
gemm.
"""

import argparse
import time

import numba
import numpy as np
from numba import njit, prange
from threadpoolctl import threadpool_limits

import sknnk
from sknnk._numerics import engine
from sknnk._numerics.fast import FAST_DRIVERS
from sknnk._numerics.gram import Tile, make_plan
from sknnk._parallel import TILE, tile_grid, tile_work

_RELU_DRIVER = FAST_DRIVERS[0]  # the ReLU family without gradient


@njit(parallel=True, nogil=True)
def _prange_tiles(K, g, tiles, rows, diag, fam, cst, p, task):
    for t in prange(tiles.shape[0]):
        i0, i1, j0, j1, dg = tiles[t]
        where = Tile(0, 0, i0, i1, j0, j1, dg == 1, True, 0, 0)
        _RELU_DRIVER(K, g, where, rows, rows, diag, fam, cst, p, task)


def prange_gram(kernel, X):
    """NTK/NNGP of ``kernel`` (ReLU) by gemm + prange over the tiles."""
    network = kernel._network(kernel._check_params())
    px = engine.prepare(network, X)
    params = engine.layer_params(network, X.shape[1])
    diagonal = px.diagonal(network.ntk)
    plan = make_plan(network, params, X, None, px, px, diagonal, False, TILE)
    tiles = tile_grid(X.shape[0], X.shape[0], True, TILE)
    tiles.sort(key=tile_work, reverse=True)
    tiles = np.array(tiles, dtype=np.int64)
    K = X @ X.T
    g = np.empty((0, 0, 0))
    _prange_tiles(K, g, tiles, plan.rows, plan.diagonal, *plan.consts)
    return K


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4000, 8000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'N':>6} {'threads':>7} {'joblib s':>9} {'prange s':>9} {'equal':>6}")
    for n in args.n:
        X = rng.standard_normal((n, 64))
        for th in args.threads:
            k = sknnk.NTKKernel(depth=args.depth, sigma_w=1.5, sigma_b=0.1, n_jobs=th)
            k(X[:300])
            numba.set_num_threads(th)
            try:
                with threadpool_limits(th, user_api="blas"):
                    prange_gram(k, X[:300])
                    tj, tp = [], []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        K1 = k(X)
                        tj.append(time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        K2 = prange_gram(k, X)
                        tp.append(time.perf_counter() - t0)
            finally:
                numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            same = np.allclose(K1, K2, rtol=1e-12, atol=0)
            print(
                f"{n:>6} {th:>7} {min(tj):9.3f} {min(tp):9.3f} {str(same):>6}",
                flush=True,
            )


if __name__ == "__main__":
    main()
