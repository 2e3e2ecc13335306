"""Accuracy and speed of the random-feature samplers (NNGPSampler, NTKSampler).

Usage::

    python benchmarks/bench_samplers.py accuracy [--points 2000] [--max-m 16384]
        [--max-m-deep 4096] [--seeds 1]
    python benchmarks/bench_samplers.py speed [--rows 20000] [--features 50]
        [--n-jobs 1 2]

``accuracy``: relative Frobenius error ``|Z Z^T - K| / |K|`` of the feature Gram
against the exact ``NNGPKernel`` / ``NTKKernel`` Gram on ``--points`` points
drawn from N(0, I_16), ``sigma_w=1.5``, ``sigma_b=0.1``, for relu, erf and tanh,
depths 1 to 5 and ``n_components`` from 256 up to ``--max-m`` (``--max-m-deep``
for depth > 2: the weights take ``(depth - 1) m^2`` numbers). Each cell is the
mean over ``--seeds`` seeds; ``sqrt(m) * error`` is printed alongside.

``speed``: seconds of ``transform`` per 10^5 rows (measured on ``--rows`` rows,
after a warm-up call), rows per second, and the peak memory that numpy
allocates during ``transform`` besides its output (tracemalloc), for m = 1024
and 4096, depths 1 and 3, relu and tanh, float64 and float32, and each
``--n-jobs``.
"""

import argparse
import time
import tracemalloc

import numpy as np

from sknnk import NNGPKernel, NNGPSampler, NTKKernel, NTKSampler

SW, SB = 1.5, 0.1


def accuracy(points, max_m, max_m_deep, seeds):
    X = np.random.default_rng(0).normal(size=(points, 16))
    ms = [m for m in (256, 1024, 4096, 16384) if m <= max_m]
    print(
        f"relative Frobenius error of the Gram, {points} points, d=16, "
        f"sigma_w={SW}, sigma_b={SB}, mean of {seeds} seed(s)"
    )
    head = " | ".join(f"m={m:>5}" for m in ms)
    print(f"| kernel | act | depth | {head} | sqrt(m)*err |")
    for kname, kcls, scls in (
        ("NNGP", NNGPKernel, NNGPSampler),
        ("NTK", NTKKernel, NTKSampler),
    ):
        for act in ("relu", "erf", "tanh"):
            for depth in range(1, 6):
                K = kcls(depth=depth, activation=act, sigma_w=SW, sigma_b=SB)(X)
                nk = np.linalg.norm(K)
                cells, scaled = [], []
                for m in ms:
                    if depth > 2 and m > max_m_deep:
                        cells.append("    -")
                        continue
                    errs = []
                    for seed in range(seeds):
                        s = scls(
                            n_components=m,
                            depth=depth,
                            activation=act,
                            sigma_w=SW,
                            sigma_b=SB,
                            random_state=seed,
                            n_jobs=2,
                        )
                        Z = s.fit_transform(X)
                        G = Z @ Z.T
                        del Z, s
                        errs.append(np.linalg.norm(G - K) / nk)
                    e = float(np.mean(errs))
                    cells.append(f"{e:.2e}")
                    scaled.append(np.sqrt(m) * e)
                rng = f"{min(scaled):.1f}-{max(scaled):.1f}"
                print(
                    f"| {kname} | {act} | {depth} | "
                    + " | ".join(cells)
                    + f" | {rng} |",
                    flush=True,
                )


def speed(rows, features, n_jobs_list):
    X = np.random.default_rng(0).normal(size=(rows, features))
    print(f"transform of {rows} rows x {features} features (time scaled to 1e5 rows)")
    print(
        "| sampler | act | depth | m | dtype | n_jobs | s / 1e5 rows | rows/s "
        "| peak MiB (besides output) | output MiB |"
    )
    for scls in (NNGPSampler, NTKSampler):
        for act in ("relu", "tanh"):
            for depth in (1, 3):
                for m in (1024, 4096):
                    for dtype in ("float64", "float32"):
                        for n_jobs in n_jobs_list:
                            s = scls(
                                n_components=m,
                                depth=depth,
                                activation=act,
                                random_state=0,
                                dtype=dtype,
                                n_jobs=n_jobs,
                            )
                            s.fit(X[:10])
                            s.transform(X[:300])  # warm-up
                            tracemalloc.start()
                            t0 = time.perf_counter()
                            Z = s.transform(X)
                            dt = time.perf_counter() - t0
                            _, peak = tracemalloc.get_traced_memory()
                            tracemalloc.stop()
                            out_mib = Z.nbytes / 2**20
                            del Z
                            print(
                                f"| {scls.__name__} | {act} | {depth} | {m} | "
                                f"{dtype} | {n_jobs} | {dt * 1e5 / rows:.1f} | "
                                f"{rows / dt:.0f} | {peak / 2**20 - out_mib:.0f} | "
                                f"{out_mib:.0f} |",
                                flush=True,
                            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--points", type=int, default=2000)
    a.add_argument("--max-m", type=int, default=16384)
    a.add_argument("--max-m-deep", type=int, default=4096)
    a.add_argument("--seeds", type=int, default=1)
    s = sub.add_parser("speed")
    s.add_argument("--rows", type=int, default=20000)
    s.add_argument("--features", type=int, default=50)
    s.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    if args.what == "accuracy":
        accuracy(args.points, args.max_m, args.max_m_deep, args.seeds)
    else:
        speed(args.rows, args.features, args.n_jobs)


if __name__ == "__main__":
    main()
