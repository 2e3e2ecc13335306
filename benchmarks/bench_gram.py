"""Time sknnk Gram matrices against sklearn's RBF, a plain gemm and neural-tangents.

Usage examples (run from the repository root)::

    # the issue's reference workload: relu NTK, depth 3, d = 64, 1 and 2 threads
    python benchmarks/bench_gram.py --n 2000 4000 --n-jobs 1 2

    # with eval_gradient=True (compared with RBF's own gradient call)
    python benchmarks/bench_gram.py --n 4000 --gradient

    # neural-tangents in another interpreter (a venv with jax + neural-tangents)
    python benchmarks/bench_gram.py --n 1000 4000 --nt-python /path/to/venv/bin/python

    # cost growth with N and with depth
    python benchmarks/bench_gram.py --n 1000 2000 4000 8000 12000 16000 20000 --n-jobs 2
    python benchmarks/bench_gram.py --n 2000 --depth 1 2 3 5 10 20 --n-jobs 2

    # float32, tanh, the dask backend (needs dask[distributed])
    python benchmarks/bench_gram.py --n 4000 --dtype float32
    python benchmarks/bench_gram.py --n 4000 --activation tanh --n-jobs 2
    python benchmarks/bench_gram.py --n 4000 --backend dask --dask-workers 2

    # cold start: first call in a fresh process, numba cache cold vs warm
    python benchmarks/bench_gram.py --cold-start

Every row of the table is one configuration: ``seconds`` is the best of
``--repeat`` calls after a warm-up call (which compiles); the calls of all
configurations of one ``N`` and of the references are interleaved round by
round, so that load from other processes hits them alike. ``xRBF`` and
``xgemm`` divide it by the best time of ``RBF()(X)`` (or of RBF's gradient
call with ``--gradient``) and of ``X @ X.T`` on the same data in the same run.
``peak`` is the peak of the memory allocated during one call (``tracemalloc``,
which traces every numpy array) and ``peak/out`` divides it by the size of the
returned arrays.
``NT`` is neural-tangents' jitted ``kernel_fn(X, None, ("nngp", "ntk"))`` for
the same network (after a warm-up call) when it can be imported here or run
through ``--nt-python``, and ``NT/sknnk`` the speed-up over it.

BLAS threads stay as configured unless ``--blas-threads`` is given (sknnk limits
BLAS to one thread inside its own blocks; RBF and the gemm use what BLAS has).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc

import numpy as np


def _peak_memory(fn):
    """Peak of the memory allocated through numpy/Python during ``fn()``
    (``tracemalloc``, which sees every numpy array), in bytes, and the bytes
    of what ``fn`` returns."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, _nbytes(out)


def _timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    del out
    return dt


def _nbytes(out):
    if isinstance(out, tuple):
        return sum(a.nbytes for a in out)
    return out.nbytes


# --------------------------------------------------------------------------
# neural-tangents, in this interpreter or in another one
_NT_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    def run(X, depth, activation, sigma_w, sigma_b, repeat):
        act = {"relu": stax.Relu, "erf": stax.Erf}.get(activation)
        if act is None:
            import jax.numpy as jnp
            act = lambda: stax.ElementwiseNumerical(getattr(jnp, activation), deg=100)
        kw = dict(W_std=sigma_w, b_std=sigma_b)
        layers = []
        for _ in range(depth):
            layers += [stax.Dense(512, **kw), act()]
        layers.append(stax.Dense(1, **kw))
        kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
        Xj = jax.numpy.asarray(X)
        jax.block_until_ready(kernel_fn(Xj, None, ("nngp", "ntk")))
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(kernel_fn(Xj, None, ("nngp", "ntk")))
            ts.append(time.perf_counter() - t0)
        return min(ts)

    if __name__ == "__main__":
        a = json.loads(sys.argv[2])
        X = np.load(sys.argv[1])
        print(json.dumps({"seconds": run(X, **a)}))
    """
)


def _nt_time(X, args, depth):
    """Seconds of neural-tangents on X, or None (with a reason on stderr)."""
    if X.shape[0] > args.nt_max_n:
        return None
    params = dict(
        depth=depth,
        activation=args.activation,
        sigma_w=args.sigma_w,
        sigma_b=args.sigma_b,
        repeat=args.repeat,
    )
    if args.nt_python is None:
        try:
            import neural_tangents  # noqa: F401
        except ImportError:
            return None
        ns = {}
        exec(compile(_NT_SCRIPT, "<nt>", "exec"), ns)
        return ns["run"](X, **params)
    with tempfile.TemporaryDirectory() as tmp:
        xpath = os.path.join(tmp, "X.npy")
        np.save(xpath, X)
        spath = os.path.join(tmp, "nt_bench.py")
        with open(spath, "w") as fh:
            fh.write(_NT_SCRIPT)
        proc = subprocess.run(
            [args.nt_python, spath, xpath, json.dumps(params)],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        print(f"neural-tangents failed: {proc.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


# --------------------------------------------------------------------------
def _make_kernel(args, depth, n_jobs):
    import sknnk

    cls = sknnk.NTKKernel if args.kernel == "ntk" else sknnk.NNGPKernel
    kw = dict(
        depth=depth,
        activation=args.activation,
        sigma_w=args.sigma_w,
        sigma_b=args.sigma_b,
        n_jobs=n_jobs,
    )
    params = cls().get_params()
    if args.dtype != "float64":
        if "dtype" not in params:
            raise SystemExit("this version of sknnk has no 'dtype' parameter")
        kw["dtype"] = args.dtype
    return cls(**kw)


def _backend_context(args):
    import contextlib

    if args.backend == "threading":
        return contextlib.nullcontext(), None
    import joblib

    if args.backend == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=args.dask_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
        ctx = joblib.parallel_config(backend="dask")

        def close():
            client.close()
            cluster.close()

        return ctx, close
    return joblib.parallel_config(backend=args.backend), None


def run_table(args):
    from sklearn.gaussian_process.kernels import RBF

    rng = np.random.default_rng(args.seed)
    header = (
        f"{'N':>6} {'kernel':>6} {'act':>5} {'depth':>5} {'backend':>9} "
        f"{'n_jobs':>6} {'dtype':>7} {'grad':>4} {'seconds':>8} {'xRBF':>6} "
        f"{'xgemm':>6} {'peak MiB':>8} {'peak/out':>8} {'NT s':>7} {'NT/sknnk':>8}"
    )
    print(header)
    print("-" * len(header))
    grad = args.gradient
    ctx, close = _backend_context(args)
    try:
        with ctx:
            for n in args.n:
                X = rng.standard_normal((n, args.d))
                configs = [(dp, nj) for dp in args.depth for nj in args.n_jobs]
                kernels = {c: _make_kernel(args, *c) for c in configs}
                for k in kernels.values():
                    k(X[:50], eval_gradient=grad)  # compile / load the cache
                # interleaved rounds, so that load from elsewhere hits all alike
                times = {c: [] for c in configs}
                t_rbf, t_gemm = [], []
                for _ in range(args.repeat):
                    t_rbf.append(_timed(lambda X=X: RBF()(X, eval_gradient=grad)))
                    t_gemm.append(_timed(lambda X=X: X @ X.T))
                    for c, k in kernels.items():
                        times[c].append(
                            _timed(lambda k=k, X=X: k(X, eval_gradient=grad))
                        )
                t_rbf, t_gemm = min(t_rbf), min(t_gemm)
                nt = {}
                for c, k in kernels.items():
                    t = min(times[c])
                    depth, n_jobs = c
                    if args.nt and depth not in nt:
                        nt[depth] = _nt_time(X, args, depth)
                    t_nt = nt.get(depth)
                    peak, out_bytes = _peak_memory(
                        lambda k=k, X=X: k(X, eval_gradient=grad)
                    )
                    nt_s = f"{t_nt:7.3f}" if t_nt else f"{'-':>7}"
                    nt_r = f"{t_nt / t:8.1f}" if t_nt else f"{'-':>8}"
                    print(
                        f"{n:>6} {args.kernel:>6} {args.activation[:5]:>5} "
                        f"{depth:>5} {args.backend:>9} {n_jobs:>6} "
                        f"{args.dtype:>7} {'yes' if grad else 'no':>4} "
                        f"{t:8.3f} {t / t_rbf:6.2f} {t / t_gemm:6.2f} "
                        f"{peak / 2**20:8.0f} {peak / out_bytes:8.2f} "
                        f"{nt_s} {nt_r}",
                        flush=True,
                    )
                rbf_name = "RBF(grad)" if grad else "RBF"
                print(
                    f"{'':>6} reference for N={n}: {rbf_name} {t_rbf:.3f} s, "
                    f"X @ X.T {t_gemm:.3f} s",
                    flush=True,
                )
    finally:
        if close is not None:
            close()


# --------------------------------------------------------------------------
_COLD_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import sknnk
    t_import = time.perf_counter() - t0
    a = json.loads(sys.argv[1])
    X = np.random.default_rng(0).standard_normal((a["n"], 64))
    cls = sknnk.NTKKernel if a["kernel"] == "ntk" else sknnk.NNGPKernel
    k = cls(depth=a["depth"], activation=a["activation"], n_jobs=a["n_jobs"])
    t0 = time.perf_counter()
    k(X, eval_gradient=a["grad"])
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    k(X, eval_gradient=a["grad"])
    t_second = time.perf_counter() - t0
    print(json.dumps(dict(t_import=t_import, t_first=t_first, t_second=t_second)))
    """
)


def _fresh_process(argv, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    return proc, time.perf_counter() - t0


def run_cold_start(args):
    """First call in fresh processes with an empty and with a warm numba cache.

    Each "cold" row uses a new, empty ``NUMBA_CACHE_DIR`` (everything the call
    needs is compiled); the "warm" row after it reuses that cache (compiled
    code is loaded from disk), as on a machine where sknnk ran before.
    """
    print(f"{'cache':>6} {'grad':>4} {'import s':>8} {'1st call s':>10} {'2nd s':>8}")
    for grad in (False, True) if args.gradient else (False,):
        params = dict(
            n=args.n[0],
            kernel=args.kernel,
            depth=args.depth[0],
            activation=args.activation,
            n_jobs=args.n_jobs[0],
            grad=grad,
        )
        argv = [sys.executable, "-c", _COLD_SCRIPT, json.dumps(params)]
        with tempfile.TemporaryDirectory() as cache_dir:
            for label in ("cold", "warm"):
                proc, _ = _fresh_process(argv, cache_dir)
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr)
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                print(
                    f"{label:>6} {'yes' if grad else 'no':>4} {r['t_import']:8.2f} "
                    f"{r['t_first']:10.2f} {r['t_second']:8.3f}",
                    flush=True,
                )
    argv = [sys.executable, "-m", "sknnk", "--restarts", "0"]
    with tempfile.TemporaryDirectory() as cache_dir:
        for label in ("cold", "warm"):
            proc, dt = _fresh_process(argv, cache_dir)
            status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
            print(f"python -m sknnk --restarts 0, {label} cache: {dt:.1f} s ({status})")


def _machine():
    import numba
    import sklearn

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('version')} {i['num_threads']} thr"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        )
    except ImportError:
        blas = "?"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, numba {numba.__version__}, "
        f"scikit-learn {sklearn.__version__}; BLAS: {blas}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--d", type=int, default=64, help="features (64)")
    parser.add_argument("--depth", type=int, nargs="+", default=[3])
    parser.add_argument("--kernel", choices=["ntk", "nngp"], default="ntk")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--sigma-w", type=float, default=1.5)
    parser.add_argument("--sigma-b", type=float, default=0.1)
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--backend", choices=["threading", "loky", "dask"], default="threading"
    )
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--gradient", action="store_true", help="eval_gradient=True")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--nt-python",
        default=None,
        help="python of an environment with neural-tangents (default: import it here)",
    )
    parser.add_argument("--nt-max-n", type=int, default=8000)
    parser.add_argument(
        "--no-nt", dest="nt", action="store_false", help="skip neural-tangents"
    )
    parser.add_argument("--blas-threads", type=int, default=None)
    parser.add_argument("--cold-start", action="store_true")
    args = parser.parse_args(argv)

    print(_machine())
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads, user_api="blas")
        print(f"BLAS threads limited to {args.blas_threads}")
    if args.cold_start:
        run_cold_start(args)
    else:
        run_table(args)


if __name__ == "__main__":
    main()
