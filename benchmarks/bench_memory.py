"""Peak memory of Gram matrices and sampler transforms: the guard's model
(``sknnk._memory``) against the measured peak RSS, per activation family and size.

Every measurement runs in a fresh process: the kernel (or sampler) is first
called on 40 points (compilation, grids), then the peak RSS counter is reset
(``/proc/self/clear_refs``, Linux) and the real call is measured as
``VmHWM - VmRSS`` before the call.

Usage::

    PYTHONPATH=. python benchmarks/bench_memory.py            # default sizes
    PYTHONPATH=. python benchmarks/bench_memory.py --n 2000 6000 --depth 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

FAMILIES = {  # activation: family
    "relu": "closed form",
    "erf": "closed form",
    "tanh": "series",
    "gelu": "series",
    "elu": "other",
}


def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def child(what, activation, n, grad, depth):
    """Measure one call in this (fresh) process; print a JSON line."""
    import numpy as np

    from sknnk import NTKKernel, NTKSampler
    from sknnk._memory import gram_peak, transform_peak
    from sknnk._numerics.gram import family_of
    from sknnk.activations import resolve_activation
    from sknnk.random_features import BLOCK

    X = np.random.default_rng(0).normal(size=(n, 16))
    if what == "kernel":
        est = NTKKernel(depth=depth, activation=activation)
        est(X[:40], eval_gradient=grad)
        family = family_of(resolve_activation(activation).code)
        model = gram_peak(n, n, 3 if grad else 1, "float64", family, depth, grad, True)

        def call():
            return est(X, eval_gradient=grad)
    else:
        est = NTKSampler(n_components=1024, depth=depth, activation=activation)
        est.set_params(random_state=0).fit(X)
        est.transform(X[:40])
        n_out = est._n_features_out
        model = transform_peak(n, n_out, 16, 1024, "float64", 1, BLOCK)

        def call():
            return est.transform(X)

    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    out = call()
    peak = _status("VmHWM") - before
    del out
    outputs, working = model
    print(json.dumps(dict(peak=peak, outputs=outputs, model=outputs + working)))


def measure(what, activation, n, grad, depth):
    """Run :func:`child` in a fresh interpreter and return its record."""
    cmd = [sys.executable, __file__, "--child", what, activation, str(n)]
    cmd += [str(int(grad)), str(depth)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        what, act, n, grad, depth = args.child
        child(what, act, int(n), grad == "1", int(depth))
        return
    mib = 2**20
    print(f"NTK depth {args.depth}, 16 features; MiB; ratio = model / measured peak")
    print(
        f"{'what':8} {'activation':10} {'family':12} {'n':>6} {'grad':>5} "
        f"{'outputs':>8} {'measured':>9} {'model':>8} {'ratio':>6}"
    )
    rows = [("kernel", a, n, g) for a in FAMILIES for n in args.n for g in (0, 1)]
    rows += [("sampler", a, n, 0) for a in ("relu", "tanh") for n in args.n]
    for what, act, n, grad in rows:
        r = measure(what, act, n, bool(grad), args.depth)
        print(
            f"{what:8} {act:10} {FAMILIES[act]:12} {n:6d} {'yes' if grad else 'no':>5} "
            f"{r['outputs'] / mib:8.1f} {r['peak'] / mib:9.1f} {r['model'] / mib:8.1f} "
            f"{r['model'] / r['peak']:6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
