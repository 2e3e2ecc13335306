"""Interleaved before/after timing of two sknnk checkouts on the Gram workloads.

Usage (from the repository root)::

    python benchmarks/bench_trees.py --tree /path/to/old --tree . \\
        --activation relu erf --rounds 15
    python benchmarks/bench_trees.py --tree /path/to/old --tree . \\
        --activation tanh --rounds 5

One worker process per checkout (``PYTHONPATH=<tree>``, its own numba cache)
holds the data of ``bench_gram.py``/``bench_activations.py`` (standard normal,
``N x 64``) and times one call of a kernel when asked; the driver asks the
workers in turn, configuration by configuration and round by round (the order
of the two trees alternating between rounds), so that load from other
processes hits both alike. Each configuration is first called once per worker
(compilation) and once under ``tracemalloc`` (``peak``: the peak of the memory
allocated during the call, every numpy array included). The table gives the
median and the best of the rounds and their ratios (second tree / first).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

_WORKER = """
import gc, json, sys, time, tracemalloc
import numpy as np
from sknnk import NNGPKernel, NTKKernel
X = np.random.default_rng(0).standard_normal((int(sys.argv[1]), 64))
print("ready", flush=True)
for line in sys.stdin:
    c = json.loads(line)
    cls = NTKKernel if c["kind"] == "NTK" else NNGPKernel
    k = cls(depth=c["depth"], activation=c["act"], sigma_w=c["sw"], sigma_b=c["sb"],
            n_jobs=c["n_jobs"])
    if c["mem"]:
        gc.collect()
        tracemalloc.start()
        r = k(X, eval_gradient=c["grad"])
        del r
        out = {"peak": tracemalloc.get_traced_memory()[1]}
        tracemalloc.stop()
    else:
        t = time.perf_counter()
        r = k(X, eval_gradient=c["grad"])
        out = {"t": time.perf_counter() - t}
        del r
    print(json.dumps(out), flush=True)
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", action="append", required=True, help="two checkouts")
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--activation", nargs="+", default=["relu", "erf", "tanh"])
    p.add_argument("--sigma-w", type=float, default=1.5)
    p.add_argument("--sigma-b", type=float, default=0.1)
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    trees = args.tree
    workers = []
    caches = [tempfile.mkdtemp(prefix="sknnk_bench_") for _ in trees]
    for tree, cache in zip(trees, caches):
        env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), NUMBA_CACHE_DIR=cache)
        w = subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(args.n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        if w.stdout.readline().strip() != "ready":
            raise SystemExit(f"worker for {tree} did not start")
        workers.append(w)

    def ask(w, cfg, mem=False):
        w.stdin.write(json.dumps(dict(cfg, mem=mem)) + "\n")
        w.stdin.flush()
        return json.loads(w.stdout.readline())

    base = dict(depth=args.depth, sw=args.sigma_w, sb=args.sigma_b)
    base["n_jobs"] = args.n_jobs
    cfgs = [
        dict(base, act=a, kind=k, grad=g)
        for a in args.activation
        for k in ("NTK", "NNGP")
        for g in (False, True)
    ]
    times = [[[] for _ in trees] for _ in cfgs]
    peaks = [[0] * len(trees) for _ in cfgs]
    for c, cfg in enumerate(cfgs):
        for t, w in enumerate(workers):
            ask(w, cfg)  # compile
            peaks[c][t] = ask(w, cfg, mem=True)["peak"]
    for r in range(args.rounds):
        for c, cfg in enumerate(cfgs):
            order = range(len(trees)) if r % 2 == 0 else reversed(range(len(trees)))
            for t in order:
                times[c][t].append(ask(workers[t], cfg)["t"])
    for w in workers:
        w.stdin.close()
        w.wait()
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)
    print(
        f"N={args.n}, d=64, depth={args.depth}, sigma_w={args.sigma_w}, "
        f"sigma_b={args.sigma_b}, n_jobs={args.n_jobs}; {args.rounds} "
        f"interleaved rounds; trees: {' | '.join(trees)}"
    )
    print(
        f"{'config':<16} {'median s':>17} {'ratio':>6} {'best s':>17} "
        f"{'ratio':>6} {'peak MiB':>15}"
    )
    for cfg, ts, pk in zip(cfgs, times, peaks):
        med = [statistics.median(x) for x in ts]
        best = [min(x) for x in ts]
        name = f"{cfg['act']} {cfg['kind']}{' +grad' if cfg['grad'] else ''}"
        print(
            f"{name:<16} {med[0]:8.3f} {med[-1]:8.3f} {med[-1] / med[0]:6.3f} "
            f"{best[0]:8.3f} {best[-1]:8.3f} {best[-1] / best[0]:6.3f} "
            f"{pk[0] / 2**20:7.1f} {pk[-1] / 2**20:7.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
