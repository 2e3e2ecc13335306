"""The one parallel layer: :func:`map_blocks` runs every heavy loop of sknnk
(Gram tiles, sampler rows, activation sampling) on joblib's workers.

**Blocks.** A loop is cut into blocks on a fixed grid that does not depend on
the number of workers (:func:`tile_grid` for a Gram matrix), and every block
is computed by the same operations whoever computes it, so results are
bitwise identical for any ``n_jobs`` and backend. BLAS runs single-threaded
inside blocks (:func:`single_threaded_blas`: threads of our own run the
blocks, and OpenBLAS results depend on its thread count).

**Workers.** ``n_jobs`` and ``joblib.parallel_config`` are honoured the same
way by every loop: ``n_jobs`` (``None`` takes ``parallel_config``'s) gives the
number of workers, and the active backend decides where they run.

* One worker: the blocks run in the calling thread (no joblib overhead).
* A backend that shares memory (joblib's threading backend, the default here
  through ``prefer="threads"``), or a loop that must write in place: one joblib
  task per worker pulls blocks from a shared queue, largest first, and writes
  them in place (the compiled drivers and numpy release the GIL). There is no
  per-block dispatch, and a worker idles at the end for at most one block.
* Other backends (loky, multiprocessing, dask): ``require="sharedmem"`` would
  silently replace a user's ``parallel_config(backend="dask")`` by threads, so
  loops that can run remotely describe it with a :class:`Remote`: blocks are
  grouped into tasks (about 4 per worker); a task receives only what its blocks
  need, returns their results, and the caller stores them as they arrive (in
  completion order where the backend supports it, otherwise in rounds of two
  tasks per worker), so only the tasks in flight are held twice.

**Interrupts.** Ctrl-C (``KeyboardInterrupt``) or an error in one block sets a
cancellation flag that every worker checks between blocks: all workers stop
within one block, the caller waits for them (so nothing keeps writing to, or
holding, the output) and the exception propagates unchanged -- a plain
``KeyboardInterrupt`` for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

try:
    from joblib.parallel import get_active_backend as _get_active_backend
except ImportError:  # pragma: no cover - old joblib
    _get_active_backend = None

#: Side of the square tiles (rows and columns of one gemm + one driver call).
TILE = 256

#: Tasks per worker on backends without shared memory (load balance vs. the
#: per-task cost of shipping inputs).
TASKS_PER_WORKER = 4

# ------------------------------------------------------------------ BLAS threads
_blas_libs_cache = []
_blas_libs_lock = threading.Lock()
_blas_lock = threading.Lock()
_blas = {"users": 0, "saved": ()}


def _blas_libs():
    """``(controllers, clear)``: threadpoolctl's controllers of the loaded BLAS
    libraries and :func:`_clear_controlling_thread`, found once (a
    ``ThreadpoolController`` costs milliseconds to create)."""
    if not _blas_libs_cache:
        with _blas_libs_lock:
            if not _blas_libs_cache:
                from threadpoolctl import ThreadpoolController

                found = ThreadpoolController().select(user_api="blas")
                _blas_libs_cache.append(
                    (tuple(found.lib_controllers), _clear_controlling_thread())
                )
    return _blas_libs_cache[0]


def _clear_controlling_thread():
    """threadpoolctl's ``OpenBLASController.clear_controlling_thread`` (None
    before threadpoolctl 3.8, which has no controlling thread)."""
    try:
        from threadpoolctl import OpenBLASController

        return OpenBLASController.clear_controlling_thread
    except (ImportError, AttributeError):  # pragma: no cover - threadpoolctl < 3.8
        return None


def _as_controller(action):
    """Run a BLAS limit change so that it applies from any thread.

    threadpoolctl >= 3.8 lets only one "controlling" thread change the limits
    of a process-wide OpenBLAS pool (the others silently do nothing), so a
    limit set in one thread could not be restored from another. Our changes
    are serialized by ``_blas_lock``; each takes control and releases it.
    """
    clear = _blas_libs()[1]
    if clear is None:  # pragma: no cover - threadpoolctl < 3.8
        return action()
    clear(force=True)
    try:
        return action()
    finally:
        clear(force=True)


def _limit_blas():
    """Set every BLAS library to one thread; return ``(library, limit)`` of
    those changed (a library already at one thread, or whose limit cannot be
    read, is left alone)."""
    saved = []
    for lib in _blas_libs()[0]:
        limit = lib.get_num_threads()
        if limit is not None and limit != 1:
            lib.set_num_threads(1)
            saved.append((lib, limit))
    return tuple(saved)


def _restore_blas(saved):
    for lib, limit in saved:
        lib.set_num_threads(limit)


class _SingleThreadedBlas:
    """The context manager of :func:`single_threaded_blas` (stateless: the
    state is the module's reference count, so one instance serves every
    call; a class rather than a generator, which costs a microsecond more
    per use)."""

    __slots__ = ()

    def __enter__(self):
        with _blas_lock:
            if _blas["users"] == 0:
                _blas["saved"] = _as_controller(_limit_blas)
            _blas["users"] += 1

    def __exit__(self, *exc):
        with _blas_lock:
            _blas["users"] -= 1
            if _blas["users"] == 0:
                saved, _blas["saved"] = _blas["saved"], ()
                if saved:
                    _as_controller(lambda: _restore_blas(saved))
        return False


_SINGLE_THREADED_BLAS = _SingleThreadedBlas()
_NO_LIMIT = contextlib.nullcontext()

#: Multiply-adds ``m n k`` of a gemm that OpenBLAS runs on the calling thread
#: whatever its thread count: at most its ``SMP_THRESHOLD_MIN`` (65536; the
#: threshold of its gemm interface is that times ``GEMM_MULTITHREAD_THRESHOLD``,
#: 4 by default, so this holds for every build with a threshold of 1 or more).
SMALL_GEMM = 65536


def small_gemm(m, n, k):
    """Whether a ``(m, k) @ (k, n)`` gemm runs on the calling thread with the
    loaded BLAS, whatever its thread limit: every BLAS library loaded is
    OpenBLAS and ``m n k <= SMALL_GEMM`` (for other libraries nothing is
    assumed: False)."""
    if m * n * k > SMALL_GEMM:
        return False
    if not _all_openblas:
        _all_openblas.append(
            all(lib.internal_api == "openblas" for lib in _blas_libs()[0])
        )
    return _all_openblas[0]


_all_openblas = []  # [whether every loaded BLAS library is OpenBLAS], found once


def single_threaded_blas():
    """Limit BLAS to one thread while at least one sknnk computation runs.

    BLAS thread counts are process-wide, and sknnk may be called from many
    threads at once, so the limit is reference counted: the first of
    overlapping calls records the BLAS limits and sets them to 1, the last one
    to finish (whichever thread it runs in) restores exactly the recorded
    limits. Nothing outlives the calls (a ``threadpool_limits`` per call would
    restore, under concurrency, the limit another call had set). The limits
    are read and set through threadpoolctl's per-library controllers (a few
    microseconds; a full ``threadpool_limits`` costs about 15).

    Returns
    -------
    context manager
        Use as ``with single_threaded_blas(): ...``.
    """
    return _SINGLE_THREADED_BLAS


# ------------------------------------------------------------------ Gram tiles
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


# ------------------------------------------------------------------ progress
class Progress:
    """Periodic progress lines on stdout (``verbose > 0``); thread-safe.

    Progress output never stops a computation: when stdout cannot be written
    (a closed pipe such as ``... | head -1``, a closed file), the error is
    swallowed and the remaining lines of the call are dropped.
    """

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
        try:
            print(f"[sknnk] {msg}", file=sys.stdout, flush=True)
        except (OSError, ValueError):  # broken pipe, closed or full stream
            self.verbose = 0

    def update(self, work, n_tiles=1):
        if self.verbose <= 0:
            return
        with self.lock:
            self.done += work
            self.tiles_done += n_tiles
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


class _Silent:
    """:class:`Progress` at ``verbose <= 0``: nothing to count or print."""

    __slots__ = ()

    def update(self, work, n_tiles=1):
        pass

    def finish(self):
        pass


_SILENT = _Silent()


# ------------------------------------------------------------------ backends
def _backend():
    """joblib's active backend object (threads preferred), None if unknown."""
    if _get_active_backend is None:  # pragma: no cover - old joblib
        return None
    try:
        return _get_active_backend(prefer="threads")[0]
    except TypeError:  # pragma: no cover - old joblib
        return None


def active_backend():
    """``(backend_name, shares_memory)`` of joblib's active backend (threads
    preferred)."""
    backend = _backend()
    if backend is None:  # pragma: no cover - old joblib
        return "threading", True
    name = type(backend).__name__.replace("Backend", "").lower()
    return name, bool(getattr(backend, "supports_sharedmem", False))


def _streams_results():
    """Whether the active backend can return results as they complete."""
    return bool(getattr(_backend(), "supports_return_generator", False))


def n_workers_of(n_jobs):
    """Number of workers joblib would use for ``n_jobs``."""
    return max(1, int(effective_n_jobs(n_jobs)))


# ------------------------------------------------------------------ map_blocks
class Remote(NamedTuple):
    """How a loop runs on a backend without shared memory.

    Attributes
    ----------
    group : callable ``(blocks, n_tasks) -> list of lists of blocks``
        Groups the blocks into about ``n_tasks`` tasks.
    job : callable ``group -> (function, args)``
        The picklable module-level ``function`` and the ``args`` (only the
        inputs the group needs) of the task computing ``group``.
    store : callable ``(group, result) -> None``
        Stores a task's result into the caller's output.
    """

    group: Callable[[list, int], list]
    job: Callable[[list], tuple]
    store: Callable[[list, Any], None]


def _task(index, function, args):
    """A remote task: ``(index, function(*args))`` with BLAS on one thread."""
    with single_threaded_blas():
        return index, function(*args)


#: Set by the SIGINT handler of :func:`interruptible` (a Ctrl-C held for the
#: main thread's engine call); workers of that call stop between blocks.
_HELD_INTERRUPT = threading.Event()


def _hold_interrupt(signum, frame):
    _HELD_INTERRUPT.set()


_SIGINT = int(signal.SIGINT)
try:  # the C functions: signal.signal/getsignal convert handlers to enums by
    # raising and catching two exceptions per call (~3 us each)
    from _signal import getsignal as _getsignal
    from _signal import signal as _setsignal
except ImportError:  # pragma: no cover - not CPython
    _getsignal, _setsignal = signal.getsignal, signal.signal


def interruptible(func):
    """Run an engine call with Ctrl-C held until a block boundary.

    numba and llvmlite run finalizers and ctypes callbacks while they compile
    or load code; a ``KeyboardInterrupt`` raised inside one is printed as
    "Exception ignored" and lost, and the call runs to its end. While a call
    decorated with this runs in the main thread, SIGINT only sets a flag:
    :func:`map_blocks` stops every worker at its next block boundary and the
    call raises a plain ``KeyboardInterrupt`` (at the latest when it would
    return). Python's previous handler is restored when the call ends. Calls
    from other threads, nested calls and programs with their own SIGINT
    handler are left as they are.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if (
            threading.current_thread() is not threading.main_thread()
            or _getsignal(_SIGINT) is not signal.default_int_handler
        ):
            return func(*args, **kwargs)
        if _HELD_INTERRUPT.is_set():
            _HELD_INTERRUPT.clear()
        previous = _setsignal(_SIGINT, _hold_interrupt)
        try:
            result = func(*args, **kwargs)
        finally:
            _setsignal(_SIGINT, previous)
            held = _HELD_INTERRUPT.is_set()
            if held:
                _HELD_INTERRUPT.clear()
        if held:
            raise KeyboardInterrupt
        return result

    return wrapper


def _check_held(watch):
    if watch and _HELD_INTERRUPT.is_set():
        raise KeyboardInterrupt


def _was_interrupted(exc):
    """Whether ``exc`` is numba's ``SystemError`` wrapping a Ctrl-C."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def map_blocks(
    fill: Callable[[Any], None],
    blocks: Sequence,
    n_jobs: int | None,
    *,
    weight: Callable[[Any], float] = lambda block: 1,
    remote: Remote | None = None,
    verbose: int = 0,
    label: str = "",
    blas: bool = True,
) -> None:
    """Run ``fill(block)`` for every block, on joblib's workers.

    Parameters
    ----------
    fill : callable
        ``fill(block)`` computes one block and writes it in place (in the
        caller's process).
    blocks : sequence
        The blocks, on a grid independent of the number of workers.
    n_jobs : int or None
        Number of workers, as joblib's ``n_jobs`` (``None``: the one of
        ``joblib.parallel_config``, else 1).
    weight : callable, default=1 per block
        Work of a block: the largest blocks run first (better load balance)
        and progress is reported in work done.
    remote : Remote or None
        How to run on a backend that does not share memory (processes,
        dask). ``None`` means the loop must write in place: it then runs on
        threads whatever the backend (joblib's ``require="sharedmem"``).
    verbose : int, default=0
        Progress lines on stdout (``1`` every 10 %, ``2`` also every second).
    label : str
        Name of the loop in the progress lines.
    blas : bool, default=True
        Limit BLAS to one thread while the blocks run
        (:func:`single_threaded_blas`). False only for a single block whose
        BLAS calls run on one thread anyway (:func:`small_gemm`): it then
        runs in the calling thread, no other thread of the loop exists, and
        the limit would change neither the threads nor the bits.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, after every worker has stopped (within one block).
    """
    blocks = list(blocks)
    if len(blocks) <= 1 and verbose <= 0:
        # one block runs in the calling thread whatever the backend (without
        # asking joblib for it): the bits of any worker's
        _run_here(fill, blocks, blas)
        return
    backend, shared = active_backend()
    local = shared or remote is None  # the blocks run in this process
    if local and len(blocks) <= 1:
        n_workers = 1  # (without asking joblib)
    else:
        n_workers = n_workers_of(n_jobs)
    if local:
        n_workers = min(n_workers, max(len(blocks), 1))
    if n_workers == 1:
        backend, local = "sequential", True
    if verbose > 0:
        total = sum(weight(b) for b in blocks)
        progress = Progress(verbose, label, total, len(blocks), n_workers, backend)
    else:
        progress = _SILENT
    # a Ctrl-C held by :func:`interruptible` is the main thread's to honour
    watch = threading.current_thread() is threading.main_thread()
    try:
        with single_threaded_blas():
            if backend == "sequential":
                for b in blocks:
                    _check_held(watch)
                    fill(b)
                    progress.update(weight(b))
            elif local:
                _run_threads(
                    fill, blocks, n_workers, weight, remote is None, progress, watch
                )
            else:
                run_returning(remote, blocks, n_workers, weight, progress, watch)
        _check_held(watch)
    except SystemError as exc:  # numba's wrapper of a Ctrl-C in a dispatcher
        if _was_interrupted(exc):
            raise KeyboardInterrupt from None
        raise
    progress.finish()


def _run_here(fill, blocks, blas):
    """The blocks of :func:`map_blocks` in the calling thread, without
    progress lines (BLAS on one thread unless ``blas`` is False)."""
    watch = threading.current_thread() is threading.main_thread()
    try:
        with _SINGLE_THREADED_BLAS if blas else _NO_LIMIT:
            for b in blocks:
                _check_held(watch)
                fill(b)
        _check_held(watch)
    except SystemError as exc:  # numba's wrapper of a Ctrl-C in a dispatcher
        if _was_interrupted(exc):
            raise KeyboardInterrupt from None
        raise


def _run_threads(fill, blocks, n_workers, weight, require_shared, progress, watch):
    """Threads pulling blocks from a shared queue until it is empty or the
    loop is cancelled (interrupt or error)."""
    queue = sorted(blocks, key=weight)  # pop() takes the largest first
    lock = threading.Lock()
    cancel = threading.Event()
    idle = threading.Condition()
    running = [0]

    def worker():
        with idle:
            running[0] += 1
        try:
            while not cancel.is_set() and not (watch and _HELD_INTERRUPT.is_set()):
                with lock:
                    if not queue:
                        return
                    b = queue.pop()
                fill(b)
                progress.update(weight(b))
        except BaseException:
            cancel.set()
            raise
        finally:
            with idle:
                running[0] -= 1
                idle.notify_all()

    try:
        Parallel(
            n_jobs=n_workers,
            prefer="threads",
            require="sharedmem" if require_shared else None,
        )(delayed(worker)() for _ in range(n_workers))
    except BaseException:
        cancel.set()
        with idle:  # no worker may outlive the call (writing, holding memory)
            while running[0]:
                idle.wait(0.05)
        raise


def run_returning(remote, blocks, n_workers, weight, progress, watch=False):
    """Run ``remote``'s tasks on a backend without shared memory and store
    their results as they arrive."""
    groups = remote.group(blocks, TASKS_PER_WORKER * n_workers)

    def jobs(start, stop):  # lazily: a task's inputs exist once it is dispatched
        for i in range(start, stop):
            yield delayed(_task)(i, *remote.job(groups[i]))

    def store(result):
        i, res = result
        remote.store(groups[i], res)
        progress.update(sum(weight(b) for b in groups[i]), len(groups[i]))

    if _streams_results():
        try:
            parallel = Parallel(
                n_jobs=n_workers, prefer="threads", return_as="generator_unordered"
            )
        except ValueError:  # pragma: no cover - joblib < 1.4
            parallel = Parallel(
                n_jobs=n_workers, prefer="threads", return_as="generator"
            )
        for result in parallel(jobs(0, len(groups))):
            _check_held(watch)
            store(result)
        return
    # e.g. the multiprocessing backend: rounds of a few tasks per worker
    step = 2 * n_workers
    with Parallel(n_jobs=n_workers, prefer="threads") as parallel:
        for start in range(0, len(groups), step):
            _check_held(watch)
            for result in parallel(jobs(start, min(start + step, len(groups)))):
                store(result)


# ------------------------------------------------------------------ Gram matrices
def compute_block(plan, tiles):
    """Task of the process backends: compute ``tiles`` into arrays of their own.

    Returns ``(K_tiles, grad_tiles)``; tiles off the diagonal are not mirrored
    (the caller writes their transposes).
    """
    dtype = plan.out_dtype
    Ks, Gs = [], []
    for t in tiles:
        i0, i1, j0, j1, _ = t
        K = np.empty((i1 - i0, j1 - j0), dtype=dtype)
        shape = (i1 - i0, j1 - j0, plan.n_grad) if plan.want_grad else (0, 0, 0)
        G = np.empty(shape, dtype=dtype)
        plan.compute(K, G, i0, j0, t, False)
        Ks.append(K)
        Gs.append(G)
    return Ks, Gs


def compute_gram(plan, K, grad, symmetric, n_jobs, verbose=0, label="Gram"):
    """Fill ``K`` (and ``grad``) with every tile of ``plan``, in parallel.

    Threads share ``K`` when joblib's active backend allows it; otherwise the
    tiles run as returning tasks (:func:`compute_block`), e.g. on dask.
    """
    n, m = K.shape
    want_grad = plan.want_grad

    def fill(t):
        plan.compute(K, grad, 0, 0, t, symmetric)

    def job(tiles):
        r0 = min(t[0] for t in tiles)
        r1 = max(t[1] for t in tiles)
        c0 = min(t[2] for t in tiles)
        c1 = max(t[3] for t in tiles)
        return compute_block, (plan.subset(r0, r1, c0, c1), tiles)

    def store(tiles, res):
        for (i0, i1, j0, j1, diag), blk, gb in zip(tiles, *res):
            K[i0:i1, j0:j1] = blk
            if symmetric and not diag:
                K[j0:j1, i0:i1] = blk.T
            if want_grad:
                grad[i0:i1, j0:j1] = gb
                if symmetric and not diag:
                    grad[j0:j1, i0:i1] = gb.transpose(1, 0, 2)

    tiles = tile_grid(n, m, symmetric, plan.tile)
    # (one tile runs in the calling thread: no tasks to describe)
    remote = None
    if len(tiles) > 1:
        remote = Remote(lambda tiles, k: band_tasks(tiles, n, k), job, store)
    # one tile whose gemm (plan.compute's x . y) BLAS runs on this thread
    # anyway: no limit to take
    blas = not (len(tiles) == 1 and small_gemm(n, m, plan.X.shape[1]))
    map_blocks(
        fill,
        tiles,
        n_jobs,
        weight=tile_work,
        remote=remote,
        verbose=verbose,
        label=label,
        blas=blas,
    )
