"""Spread the tiles of a Gram matrix over joblib workers.

**Tiles.** The output is cut into square tiles on a fixed grid of
``tile x tile`` entries (:func:`tile_grid`); a symmetric Gram uses the tiles on
and above the diagonal only. Each tile is one gemm (``X[rows] @ Y[cols].T``,
always the same call with the same operands) followed by a compiled driver, so
every entry is computed by the same operations whatever the number of workers
or the backend: results are bitwise identical for any ``n_jobs`` and backend.
BLAS runs single-threaded inside tiles (threads of our own run the tiles, and
OpenBLAS results depend on its thread count).

**Shared memory (threads).** With a backend that shares memory (joblib's
threading backend, the default here through ``prefer="threads"``), one joblib
task per worker pulls tiles from a shared queue, largest first, and writes
them in place into the output, which the drivers release the GIL for. There is
no per-tile dispatch (a tile costs one gemm call and one compiled call, about
20 us of Python), and a worker idles at the end for at most one tile.

**Other backends (processes, dask).** ``require="sharedmem"`` would silently
replace a user's ``parallel_config(backend="dask")`` by threads, so it is not
used. When the active backend does not share memory, the tiles are grouped
into row bands of about equal work (4 tasks per worker); each task receives
only the rows, columns and per-point tables it needs, computes its tiles into
arrays of its own and returns them, and the caller copies them (and their
mirror images) into the output as they arrive.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

#: Side of the square tiles (rows and columns of one gemm + one driver call).
TILE = 256

_controller = []
_controller_lock = threading.Lock()


def _blas_controller():
    """A cached ``threadpoolctl.ThreadpoolController`` (its creation costs ms)."""
    if not _controller:
        with _controller_lock:
            if not _controller:
                from threadpoolctl import ThreadpoolController

                _controller.append(ThreadpoolController())
    return _controller[0]


def single_threaded_blas():
    """Context manager limiting BLAS to one thread (restored on exit)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def tile_grid(n_rows, n_cols, symmetric, tile=TILE):
    """Tiles ``(i0, i1, j0, j1, diagonal)`` covering the output once.

    A symmetric Gram keeps the tiles with ``j0 >= i0``; the diagonal ones
    (``i0 == j0``) compute their upper triangle. The grid does not depend on
    the number of workers.
    """
    tiles = []
    for i0 in range(0, n_rows, tile):
        i1 = min(i0 + tile, n_rows)
        for j0 in range(i0 if symmetric else 0, n_cols, tile):
            j1 = min(j0 + tile, n_cols)
            tiles.append((i0, i1, j0, j1, symmetric and i0 == j0))
    return tiles


def tile_work(t):
    """Number of entries a tile computes."""
    i0, i1, j0, j1, diag = t
    r = i1 - i0
    return r * (r - 1) // 2 if diag else r * (j1 - j0)


class Progress:
    """Periodic progress lines on stdout (``verbose > 0``); thread-safe."""

    def __init__(self, verbose, label, total, n_tiles, n_workers, backend):
        self.verbose = verbose
        self.label = label
        self.total = max(int(total), 1)
        self.n_tiles = n_tiles
        self.done = 0
        self.tiles_done = 0
        self.t0 = time.perf_counter()
        self.next_frac = 0.1
        self.last_print = self.t0
        self.lock = threading.Lock()
        if verbose > 0:
            self._print(
                f"{label}: {n_tiles} tile{'s' if n_tiles != 1 else ''} on "
                f"{n_workers} worker(s) ({backend})"
            )

    def _print(self, msg):
        print(f"[sknnk] {msg}", file=sys.stdout, flush=True)

    def update(self, work):
        if self.verbose <= 0:
            return
        with self.lock:
            self.done += work
            self.tiles_done += 1
            frac = self.done / self.total
            now = time.perf_counter()
            due = frac >= self.next_frac or (
                self.verbose > 1 and now - self.last_print > 1
            )
            if not due or self.tiles_done == self.n_tiles:
                return
            while self.next_frac <= frac:
                self.next_frac += 0.1
            self.last_print = now
            el = now - self.t0
            eta = el * (1 - frac) / frac if frac > 0 else float("nan")
            self._print(
                f"{self.label}: {100 * frac:5.1f}% ({self.tiles_done}/{self.n_tiles} "
                f"tiles), {el:.1f} s elapsed, ~{eta:.1f} s left"
            )

    def finish(self):
        if self.verbose > 0:
            el = time.perf_counter() - self.t0
            self._print(f"{self.label}: done in {el:.2f} s")


def _run_queue(compute, queue, lock, progress):
    """Worker loop: pull tiles from the shared queue until it is empty."""
    while True:
        with lock:
            if not queue:
                return
            t = queue.pop()
        compute(t)
        progress.update(tile_work(t))


def run_shared(compute, tiles, n_workers, progress):
    """Run ``compute(tile)`` for every tile on threads sharing the output."""
    queue = sorted(tiles, key=tile_work)  # pop() takes the largest first
    lock = threading.Lock()
    if n_workers == 1 or len(tiles) < 2:
        _run_queue(compute, queue, lock, progress)
        return
    n_workers = min(n_workers, len(tiles))
    Parallel(n_jobs=n_workers, prefer="threads")(
        delayed(_run_queue)(compute, queue, lock, progress) for _ in range(n_workers)
    )


def band_tasks(tiles, n_rows, n_tasks):
    """Group tiles into contiguous row bands of about equal work."""
    bands = {}
    for t in tiles:
        bands.setdefault(t[0], []).append(t)
    starts = sorted(bands)
    work = np.array([sum(tile_work(t) for t in bands[s]) for s in starts], float)
    cum = np.concatenate([[0.0], np.cumsum(work)])
    n_tasks = max(1, min(n_tasks, len(starts)))
    cuts = np.searchsorted(cum, cum[-1] * np.arange(1, n_tasks) / n_tasks)
    edges = np.unique(np.concatenate([[0], cuts, [len(starts)]]))
    tasks = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b > a:
            tasks.append([t for s in starts[a:b] for t in bands[s]])
    return tasks


def run_returning(task_fn, plan, tasks, n_jobs, assemble, progress):
    """Run ``task_fn(sub_plan, tiles)`` on a backend without shared memory.

    Each task gets ``plan.subset(...)`` holding only the rows and columns of
    its tiles; ``assemble(result)`` stores the returned tiles as they arrive
    (in completion order where joblib supports it), so that only the tiles in
    flight are held twice.
    """
    jobs = []
    for tiles in tasks:
        r0 = min(t[0] for t in tiles)
        r1 = max(t[1] for t in tiles)
        c0 = min(t[2] for t in tiles)
        c1 = max(t[3] for t in tiles)
        jobs.append(delayed(task_fn)(plan.subset(r0, r1, c0, c1), tiles))
    try:
        parallel = Parallel(
            n_jobs=n_jobs, prefer="threads", return_as="generator_unordered"
        )
    except ValueError:  # pragma: no cover - joblib < 1.4
        parallel = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")
    for res in parallel(jobs):
        assemble(res)
        for t in res[0]:
            progress.update(tile_work(t))


def active_backend():
    """``(backend_name, shares_memory)`` of joblib's active backend (threads
    preferred)."""
    try:
        from joblib.parallel import get_active_backend

        backend, _ = get_active_backend(prefer="threads")
    except (ImportError, TypeError):  # pragma: no cover - old joblib
        return "threading", True
    name = type(backend).__name__.replace("Backend", "").lower()
    return name, bool(getattr(backend, "supports_sharedmem", False))


def n_workers_of(n_jobs):
    """Number of workers joblib would use for ``n_jobs``."""
    return max(1, int(effective_n_jobs(n_jobs)))


def compute_block(plan, tiles):
    """Task of the process backends: compute ``tiles`` into arrays of their own.

    Returns ``(tiles, K_tiles, grad_tiles)``; tiles off the diagonal are not
    mirrored (the caller writes their transposes).
    """
    dtype = plan.out_dtype
    Ks, Gs = [], []
    with single_threaded_blas():
        for t in tiles:
            i0, i1, j0, j1, _ = t
            K = np.empty((i1 - i0, j1 - j0), dtype=dtype)
            shape = (i1 - i0, j1 - j0, plan.n_grad) if plan.want_grad else (0, 0, 0)
            G = np.empty(shape, dtype=dtype)
            plan.compute(K, G, i0, j0, t, False)
            Ks.append(K)
            Gs.append(G)
    return tiles, Ks, Gs


def compute_gram(plan, K, grad, symmetric, n_jobs, verbose=0, label="Gram"):
    """Fill ``K`` (and ``grad``) with every tile of ``plan``, in parallel.

    Threads share ``K`` when joblib's active backend allows it; otherwise the
    tiles run as returning tasks (:func:`compute_block`), e.g. on dask.
    """
    n, m = K.shape
    tiles = tile_grid(n, m, symmetric, plan.tile)
    n_workers = n_workers_of(n_jobs)
    backend, shared = active_backend()
    if n_workers == 1:
        backend, shared = "sequential", True
    total = sum(tile_work(t) for t in tiles)
    progress = Progress(verbose, label, total, len(tiles), n_workers, backend)
    want_grad = plan.want_grad
    if shared:

        def compute(t):
            plan.compute(K, grad, 0, 0, t, symmetric)

        with single_threaded_blas():
            run_shared(compute, tiles, n_workers, progress)
    else:

        def assemble(res):
            for (i0, i1, j0, j1, diag), blk, gb in zip(*res):
                K[i0:i1, j0:j1] = blk
                if symmetric and not diag:
                    K[j0:j1, i0:i1] = blk.T
                if want_grad:
                    grad[i0:i1, j0:j1] = gb
                    if symmetric and not diag:
                        grad[j0:j1, i0:i1] = gb.transpose(1, 0, 2)

        tasks = band_tasks(tiles, n, 4 * n_workers)
        run_returning(compute_block, plan, tasks, n_jobs, assemble, progress)
    progress.finish()
