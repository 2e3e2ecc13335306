"""Per-call time of small kernel calls (GP tuning, grid searches) vs sklearn's RBF.

Usage (from the repository root)::

    python benchmarks/bench_small.py                     # this checkout
    python benchmarks/bench_small.py --tree /path/to/old --tree .   # before/after

Every configuration is a kernel (relu/erf NNGP/NTK, tanh NTK/NNGP, depth 3)
on standard normal inputs of 20 x 3 and 100 x 10, called four ways: ``k(X)``,
``k(X, eval_gradient=True)``, ``k.diag(X)`` and ``tune``, a gradient call with
a new ``sigma_w`` every call (as in marginal-likelihood tuning: nothing of a
previous call's parameters can be reused). A measurement is the median
of ``--calls`` back-to-back calls (after warm-up calls that compile), i.e. the
steady-state cost of one call. The reference is sklearn's ``RBF()`` on the
same ``X`` in the same process: ``RBF()(X)`` for the plain call and for the
diagonal (``RBF().diag`` is ``np.ones``, nothing to compare with),
``RBF()(X, eval_gradient=True)`` for the gradient call, and the gradient call
with a new ``length_scale`` every call for ``tune``.

One worker process per checkout (``PYTHONPATH=<tree>``, its own numba cache)
measures when asked; the driver asks them configuration by configuration and
round by round (the order of the trees alternating), so that load from other
processes hits every tree and the reference alike. The table gives, per tree,
the median over ``--rounds`` of the per-round medians in microseconds, the
best round, and ``xRBF`` (median / the median of the reference); with two
trees, ``new/old`` divides the second tree's median by the first's.
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
import itertools, json, sys, time
import numpy as np
from sklearn.gaussian_process.kernels import RBF
from sknnk import NNGPKernel, NTKKernel

data = {}
print("ready", flush=True)
for line in sys.stdin:
    c = json.loads(line)
    key = (c["n"], c["d"])
    if key not in data:
        data[key] = np.random.default_rng(0).standard_normal(key)
    X = data[key]
    if c["kind"] == "RBF":
        k = RBF()
    else:
        cls = NTKKernel if c["kind"] == "NTK" else NNGPKernel
        k = cls(depth=c["depth"], activation=c["act"])
    if c["mode"] == "diag":
        call = lambda: k.diag(X)
    elif c["mode"] == "tune":  # a new hyperparameter value every call
        name = "length_scale" if c["kind"] == "RBF" else "sigma_w"
        base, step = getattr(k, name), itertools.count(1)

        def call():
            setattr(k, name, base * (1.0 + 1e-9 * next(step)))
            return k(X, eval_gradient=True)

    elif c["mode"] == "grad":
        call = lambda: k(X, eval_gradient=True)
    else:
        call = lambda: k(X)
    for _ in range(c["warm"]):
        call()
    ts = []
    for _ in range(c["calls"]):
        t = time.perf_counter()
        call()
        ts.append(time.perf_counter() - t)
    print(json.dumps({"t": float(np.median(ts))}), flush=True)
"""

_KERNELS = [
    ("relu", "NNGP"),
    ("relu", "NTK"),
    ("erf", "NNGP"),
    ("erf", "NTK"),
    ("tanh", "NNGP"),
    ("tanh", "NTK"),
]
_MODES = ("call", "grad", "diag", "tune")


def _configs(sizes, depth, activations, calls, modes=_MODES):
    cfgs = []
    for n, d in sizes:
        for mode in modes:
            base = dict(n=n, d=d, mode=mode, depth=depth, calls=calls, warm=20)
            ref_mode = {"grad": "grad", "tune": "tune"}.get(mode, "call")
            cfgs.append(dict(base, kind="RBF", act="", mode=ref_mode))
            for act, kind in _KERNELS:
                if act in activations:
                    warm = 20 if act != "tanh" else 3
                    n_calls = calls if act != "tanh" else max(10, calls // 10)
                    cfgs.append(
                        dict(base, kind=kind, act=act, warm=warm, calls=n_calls)
                    )
    return cfgs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--tree", action="append", help="checkouts (default: this one)")
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--activation", nargs="+", default=["relu", "erf", "tanh"])
    p.add_argument("--calls", type=int, default=200, help="calls per measurement")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--mode", nargs="+", default=list(_MODES), choices=_MODES)
    args = p.parse_args(argv)
    trees = args.tree or [here]
    sizes = [(20, 3), (100, 10)]
    cfgs = _configs(sizes, args.depth, args.activation, args.calls, args.mode)
    caches = [tempfile.mkdtemp(prefix="sknnk_bench_") for _ in trees]
    workers = []
    for tree, cache in zip(trees, caches):
        env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), NUMBA_CACHE_DIR=cache)
        w = subprocess.Popen(
            [sys.executable, "-c", _WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
        )
        if w.stdout.readline().strip() != "ready":
            raise SystemExit(f"worker for {tree} did not start")
        workers.append(w)

    def ask(w, cfg):
        w.stdin.write(json.dumps(cfg) + "\n")
        w.stdin.flush()
        return json.loads(w.stdout.readline())["t"]

    times = [[[] for _ in trees] for _ in cfgs]
    try:
        for r in range(args.rounds):
            for c, cfg in enumerate(cfgs):
                order = list(range(len(trees)))
                if r % 2:
                    order.reverse()
                for t in order:
                    times[c][t].append(ask(workers[t], cfg))
    finally:
        for w in workers:
            w.stdin.close()
            w.wait()
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)
    print(
        f"depth={args.depth}; median of {args.calls} calls per measurement "
        f"(tanh: {max(10, args.calls // 10)}), {args.rounds} interleaved rounds; "
        f"trees: {' | '.join(trees)}"
    )
    head = f"{'config':<28}"
    for _ in trees:
        head += f" {'median us':>10} {'best us':>9} {'xRBF':>6}"
    if len(trees) > 1:
        head += f" {'new/old':>8}"
    print(head)
    ref = None
    for cfg, ts in zip(cfgs, times):
        med = [statistics.median(x) for x in ts]
        if cfg["kind"] == "RBF":
            ref = med
        name = f"{cfg['n']}x{cfg['d']} {cfg['act']} {cfg['kind']} {cfg['mode']}"
        row = f"{name:<28}"
        for t in range(len(trees)):
            row += f" {1e6 * med[t]:10.1f} {1e6 * min(ts[t]):9.1f}"
            row += f" {med[t] / ref[t]:6.2f}"
        if len(trees) > 1:
            row += f" {med[-1] / med[0]:8.3f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
