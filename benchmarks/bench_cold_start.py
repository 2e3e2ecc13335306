"""Cold- and warm-cache first-call times and small-call costs of sknnk.

Usage examples (run from the repository root)::

    # this checkout
    python benchmarks/bench_cold_start.py

    # two checkouts in the same run (cases interleaved tree by tree)
    python benchmarks/bench_cold_start.py --tree /path/to/old --tree .

    # only the small-call timings (20 x 3 input, depth 3, vs sklearn's RBF)
    python benchmarks/bench_cold_start.py --tree . --skip-cold

    # 7 interleaved runs of one case, with medians
    python benchmarks/bench_cold_start.py --tree /path/to/old --tree . \
        --case "relu NTK" --runs 7 --skip-small

**Cold/warm.** Every case runs in a fresh interpreter with
``PYTHONPATH=<tree>`` and a new, empty ``NUMBA_CACHE_DIR`` in a temporary
directory ("cold": everything the call needs is compiled), then once more in
another fresh interpreter with that cache filled ("warm": compiled code is
loaded from disk). ``import`` is the time of ``import sknnk``, ``first`` the
first call (relu NTK, relu NTK with ``eval_gradient=True``, tanh NTK on a
200 x 8 input; ``NNGPSampler``/``NTKSampler`` ``fit_transform`` of 200 x 8
with 256 components) in wall-clock seconds and ``cpu`` in CPU seconds of the
process (compilation is single-threaded, so on a loaded machine ``cpu`` is
the steadier figure), ``second`` a repeat of the same call. With ``--runs
R`` every case runs R times, the trees alternating in order from run to run,
and a summary gives the median and range of each column.

**Small calls.** In one process per tree (warm cache): the median over
``--repeat`` calls of each kernel on a 20 x 3 input at depth 3, beside the
median of ``RBF()(X)`` in the same process, and their ratio ``xRBF``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CASES = {
    "relu NTK": "NTKKernel(depth=3)(X)",
    "relu NTK + grad": "NTKKernel(depth=3)(X, eval_gradient=True)",
    "tanh NTK": "NTKKernel(depth=3, activation='tanh')(X)",
    "NNGPSampler": "NNGPSampler(depth=3, n_components=256, random_state=0)"
    ".fit_transform(X)",
    "NTKSampler": "NTKSampler(depth=3, n_components=256, random_state=0)"
    ".fit_transform(X)",
}

_FIRST_CALL = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import sknnk
from sknnk import NNGPSampler, NTKKernel, NTKSampler
t1 = time.perf_counter()
X = np.random.default_rng(0).normal(size=(200, 8))
c1 = time.process_time()
{call}
t2 = time.perf_counter()
c2 = time.process_time()
{call}
t3 = time.perf_counter()
print(json.dumps(dict(t_import=t1 - t0, t_first=t2 - t1, c_first=c2 - c1,
                      t_second=t3 - t2)))
"""

SMALL = {
    "relu NTK": "NTKKernel(depth=3)",
    "relu NNGP": "NNGPKernel(depth=3)",
    "erf NTK": "NTKKernel(depth=3, activation='erf')",
    "relu NTK + grad": "NTKKernel(depth=3)",
    "tanh NTK": "NTKKernel(depth=3, activation='tanh')",
    "tanh NNGP": "NNGPKernel(depth=3, activation='tanh')",
    "gelu NTK": "NTKKernel(depth=3, activation='gelu')",
}

_SMALL_CALLS = """
import json, sys, time
import numpy as np
from sklearn.gaussian_process.kernels import RBF
from sknnk import NNGPKernel, NTKKernel
X = np.random.default_rng(0).normal(size=(20, 3))
cases = json.loads(sys.argv[1])
repeat = int(sys.argv[2])
def median(fn):
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]
rbf = RBF()
out = {"RBF": median(lambda: rbf(X))}
out["RBF + grad"] = median(lambda: rbf(X, eval_gradient=True))
for name, expr in cases.items():
    k = eval(expr)
    grad = name.endswith("+ grad")
    out[name] = median(lambda: k(X, eval_gradient=grad))
print(json.dumps(out))
"""


def _run(tree, code, args, cache_dir):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), NUMBA_CACHE_DIR=cache_dir)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),  # never import sknnk from the current dir
    )
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold_start(trees, cases, runs):
    """Print the cold and warm first-call times of every case and tree, each
    ``runs`` times (tree order alternating), then their medians."""
    print(f"{'case':<16} {'tree':<28} {'cache':>5} {'import s':>8} "
          f"{'first s':>8} {'cpu s':>7} {'second s':>8}")  # fmt: skip
    rows = {}
    for run in range(runs):
        for name in cases:
            code = _FIRST_CALL.format(call=CASES[name])
            for tree in trees if run % 2 == 0 else trees[::-1]:
                with tempfile.TemporaryDirectory() as cache_dir:
                    for label in ("cold", "warm"):
                        r = _run(tree, code, [], cache_dir)
                        rows.setdefault((name, tree, label), []).append(r)
                        print(
                            f"{name:<16} {tree[-28:]:<28} {label:>5} "
                            f"{r['t_import']:8.2f} {r['t_first']:8.2f} "
                            f"{r['c_first']:7.2f} {r['t_second']:8.4f}",
                            flush=True,
                        )
    if runs < 2:
        return
    print(f"\nmedian [min, max] of {runs} runs (s)")
    print(f"{'case':<16} {'tree':<28} {'cache':>5} {'import':>6} "
          f"{'first (wall)':>19} {'first (cpu)':>19}")  # fmt: skip
    for (name, tree, label), rs in rows.items():
        cells = []
        for key in ("t_import", "t_first", "c_first"):
            v = sorted(r[key] for r in rs)
            med = statistics.median(v)
            cells.append(f"{med:6.2f}" if key == "t_import" else
                         f"{med:5.2f} [{v[0]:5.2f}, {v[-1]:5.2f}]")  # fmt: skip
        print(f"{name:<16} {tree[-28:]:<28} {label:>5} " + " ".join(cells))


def small_calls(trees, repeat):
    """Print the median time of each small call and its ratio to RBF's."""
    results = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        for tree in trees:
            results[tree] = _run(
                tree, _SMALL_CALLS, [json.dumps(SMALL), str(repeat)], cache_dir
            )
    print(f"\n20 x 3 input, depth 3, median of {repeat} calls (ms; xRBF)")
    print(f"{'case':<16}" + "".join(f" {t[-24:]:>24}" for t in trees))
    for name in ["RBF", "RBF + grad", *SMALL]:
        cells = []
        for tree in trees:
            r = results[tree]
            ref = r["RBF + grad" if name.endswith("+ grad") else "RBF"]
            cells.append(f"{1e3 * r[name]:9.3f} ms ({r[name] / ref:5.1f}x)")
        print(f"{name:<16}" + "".join(f" {c:>24}" for c in cells))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", action="append", help="checkout(s) to measure (.)")
    p.add_argument("--repeat", type=int, default=200, help="small calls (200)")
    p.add_argument("--runs", type=int, default=1, help="cold/warm runs per case (1)")
    p.add_argument(
        "--case", action="append", choices=list(CASES), help="cold cases (all)"
    )
    p.add_argument("--skip-cold", action="store_true")
    p.add_argument("--skip-small", action="store_true")
    args = p.parse_args(argv)
    trees = args.tree or ["."]
    if not args.skip_cold:
        cold_start(trees, args.case or list(CASES), args.runs)
    if not args.skip_small:
        small_calls(trees, args.repeat)


if __name__ == "__main__":
    main()
