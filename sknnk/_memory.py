"""The memory guard: a model of the peak memory of a Gram matrix or a sampler
transform, checked against the memory available before anything is allocated.

**Gram matrices** (:func:`gram_peak`). The outputs (``K`` and the gradient) are
allocated after the per-point preparation, so the peak is the larger of

* the preparation: for series activations (tanh, gelu, sigmoid, ...) every
  layer samples ``phi, phi', ...`` of every point on a grid of ``G`` points of
  ``z`` and projects them on Hermite functions -- about ``A`` arrays of shape
  ``(n_points, G)`` at once, plus the coefficient tables of the layers done so
  far and their assembled copy (``2 * depth * n_tables * T`` numbers per point
  for tables of up to ``T`` terms);
* the tiles: the outputs, plus the tables the tile drivers read (again
  ``2 * depth * n_tables * T`` numbers per point: the tables and their
  transposed copy).

A kernel call gives its inputs (:func:`gram_model`): the terms and tier of
every layer's tables are then those of the point of largest ``|x / l|^2``
(:func:`_probe_terms`, a one-point preparation), which the growth of the
residual stream's variance or large inputs can take to the large tier
(``6000`` terms on a grid of 2601 points); the preparation, the tiles and
the length-scale pass are modelled from them (:func:`_series_peak`).

Closed forms (ReLU family, erf) and the other activations (ELU, sin, ...) keep
a few numbers per point and layer. The constants below were measured with
peak RSS (``benchmarks/bench_memory.py``: depth 1-6, 1000-6000 points, with
and without gradients): the model is at least the measured peak, and at most
about twice it for the series activations (their number of Hermite terms is
adaptive and only known after the tables are built).

**Samplers** (:func:`transform_peak`): the output, the validated input, and per
worker one block of rows of the layer activations.

**Available memory** (:func:`available_memory`): the smallest of the system's
``MemAvailable``, the address space left under ``RLIMIT_AS`` and the memory
left in the process's cgroup (``memory.max``). It is read on every call
except for tiny requests, whose modelled peak is at most
``_FIXED + SMALL_REQUEST`` bytes (e.g. the Gram of up to 256 points without
gradient, or of 180 with two, for a closed form): reading it costs more than
computing them.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["MemoryBudgetError", "available_memory", "check_memory"]

#: Grid points of the series sampling (``2 * 13 / step + 1`` for the smooth
#: step 0.025; kinked activations use the fine step 0.01).
_GRID_SMOOTH, _GRID_FINE = 1041, 2601
#: ``(n_points, G)`` float64 arrays alive at once while a layer is sampled
#: and projected (values only / with the derivative tables of gradients).
_GRID_ARRAYS = {2: 3.0, 4: 5.5}
#: Hermite terms per table bounding the adaptive tables (padded to the most
#: terms any point needs; measured: a tanh NTK of 1500 points at depth 3
#: peaks at 260 MiB, which 850 bounds; the large tier used above the default
#: tier's range is not modelled).
_TERMS = 850
#: Numbers kept per point and layer by the closed forms and the others.
_PER_POINT_LAYER = 64
#: Fixed working memory of a call (tile scratch, small tables, interpreter).
_FIXED = 16 * 2**20
#: Requests whose modelled peak exceeds :data:`_FIXED` by at most this many
#: bytes are not checked (:func:`check_memory`): reading the limits costs
#: about 35 us, more than a small kernel call, and such a request allocates
#: at most this much beyond what any call of the process needs.
SMALL_REQUEST = 2**20


class MemoryBudgetError(ValueError, MemoryError):
    """Raised before allocating an output that would not fit in memory."""


def _human(n_bytes):
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes} bytes"


def gram_peak(n_rows, n_cols, n_matrices, dtype, family, depth, want_grad, symmetric):
    """Model of the peak bytes of one Gram call, outputs included.

    Parameters
    ----------
    n_rows, n_cols : int
        Shape of ``K``.
    n_matrices : int
        Output arrays of that shape (``1 + n_gradients``).
    dtype : dtype
        Output dtype.
    family : {"relu", "erf", "series", "generic"}
        The tile driver (``sknnk._numerics.gram.family_of``).
    depth : int
        Hidden layers.
    want_grad : bool
        Whether gradient tables are built (4 tables per layer instead of 2).
    symmetric : bool
        ``k(X, X)`` (one set of points) or ``k(X, Y)``.

    Returns
    -------
    outputs, working : int
        Bytes of the outputs and of the working memory at the peak.
    """
    outputs = np.dtype(dtype).itemsize * n_rows * n_cols * n_matrices
    points = n_rows if symmetric else n_rows + n_cols
    layers = max(depth, 1)
    if family != "series":
        return outputs, _FIXED + 8 * points * layers * _PER_POINT_LAYER
    n_tables = 4 if want_grad else 2
    tables = 8 * points * 2 * layers * n_tables * _TERMS
    # the grid of the largest point set sampled at once (X, then Y)
    grid = 8 * max(n_rows, n_cols) * _GRID_SMOOTH * _GRID_ARRAYS[n_tables]
    working = max(grid + tables - outputs, tables, 0)
    return outputs, _FIXED + working


def transform_peak(n_rows, n_out, n_features, width, dtype, n_workers, block):
    """Model of the peak bytes of a sampler ``transform``.

    The output ``(n_rows, n_out)``, the validated float input, and per worker
    the activations of one block of ``block`` rows (at most 8 arrays of the
    layer width, measured).

    Returns
    -------
    outputs, working : int
    """
    itemsize = np.dtype(dtype).itemsize
    outputs = itemsize * n_rows * n_out
    per_worker = 8 * block * (n_out + width) * 8
    return outputs, _FIXED + 8 * n_rows * n_features + n_workers * per_worker


def available_memory():
    """Bytes of memory available to the process (best effort, Linux first).

    The smallest of ``MemAvailable`` (else the free physical pages), the
    address space left under ``RLIMIT_AS`` and the memory left in the
    process's cgroup v2 (``memory.max - memory.current``); None if unknown.
    """
    limits = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
                    break
    except OSError:
        pass
    if not limits:
        try:
            limits.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            pass
    left = _address_space_left()
    if left is not None:
        limits.append(left)
    left = _cgroup_left()
    if left is not None:
        limits.append(left)
    return min(limits) if limits else None


def _address_space_left():
    """``RLIMIT_AS`` minus the current virtual size (None if unlimited)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return max(0, soft - int(line.split()[1]) * 1024)
    except (ImportError, OSError, ValueError):
        pass
    return None


def _cgroup_left():
    """Memory left in the process's cgroup v2 (None if unlimited/unknown)."""
    try:
        with open("/proc/self/cgroup") as fh:
            path = fh.read().strip().split("::")[-1]
        base = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(base, "memory.max")) as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(base, "memory.current")) as fh:
            current = int(fh.read().strip())
        return max(0, int(limit) - current)
    except (OSError, ValueError, IndexError):
        return None


def is_tiny(peak):
    """Whether a modelled ``peak = (outputs, working)`` is at most
    ``_FIXED + SMALL_REQUEST`` bytes: such requests are not checked."""
    return peak[0] + peak[1] <= _FIXED + SMALL_REQUEST


def check_memory(owner, peak, what, dtype, avail=None):
    """Refuse a computation whose modelled peak does not fit in memory.

    Parameters
    ----------
    owner : str
        Name of the estimator or kernel (in the message).
    peak : tuple of int
        ``(outputs, working)`` bytes from :func:`gram_peak` or
        :func:`transform_peak`.
    what : str
        The outputs, e.g. ``"a 400 x 400 Gram matrix (1 float64 array(s))"``.
    dtype : dtype
        Output dtype (the message suggests float32 for float64).
    avail : tuple or None, default=None
        ``(available_memory(),)`` if the caller has just read it (the guard of
        a series call: one reading of the limits per call), else None.

    Raises
    ------
    MemoryBudgetError
        (a ``MemoryError`` and a ``ValueError``) before anything is allocated,
        naming the sizes and the ways out.
    """
    if is_tiny(peak):
        return
    outputs, working = peak
    need = outputs + working
    avail = available_memory() if avail is None else avail[0]
    if avail is None or need <= avail:
        return
    half = (
        "pass dtype='float32' (half the output memory), "
        if np.dtype(dtype) == np.float64
        else ""
    )
    raise MemoryBudgetError(
        f"{owner} would need {_human(outputs)} for {what} plus {_human(working)} "
        f"of working memory, {_human(need)} in all, but only {_human(avail)} are "
        "available (system memory, RLIMIT_AS or cgroup limit). Compute it in row "
        f"blocks (call it on slices of X), {half}use fewer samples, or use a "
        "low-rank approximation such as "
        "sklearn.kernel_approximation.Nystroem(kernel=<this kernel>) "
        "(whose transform also goes in row batches for very many rows)."
    )


def _probe_terms(network, X, Y, want_grad):
    """Terms and grid of the series tables of every layer, from the 1-D
    recursion and tables of the one point of largest ``|x / l|^2`` of ``X``
    (and ``Y``), or None (no inputs, or that point is refused: the call
    itself then raises its own error).

    The layer variances of the recursion grow with ``|x|^2`` at every layer
    (``V(q) = E[phi(sqrt(q) z)^2]`` is nondecreasing, and a residual block
    adds ``alpha^2`` times a nondecreasing function; layer normalisation
    maps every point to the same normalised variance up to ``sigma_b``), and
    the adaptive number of Hermite terms of a layer grows with the variance
    (about linearly, :mod:`sknnk._numerics.series`) and is that of the point
    which needs most (:func:`sknnk._numerics.series.layer_tables`), so this
    point's tables have the terms (and the tier) of the call's tables, up
    to a block of terms where the growth is not monotone; the models using
    them keep more than that margin.

    Returns
    -------
    terms, grids : list of int
        Per layer, the terms of the tables and the grid points sampled by
        its tier (``2601`` for the large tier).
    """
    if X is None:
        return None
    from ._numerics import engine, series

    sets = [X] if Y is None else [X, Y]
    tops = []
    try:
        for Z in sets:
            Zs = engine.scaled_inputs(network, Z)  # the inputs the network sees
            with np.errstate(over="ignore", under="ignore"):
                sq = np.einsum("ij,ij->i", Zs, Zs)
            if Z.shape[0] == 0 or not np.all(np.isfinite(sq)):
                return None
            i = int(np.argmax(sq))
            tops.append((sq[i], Zs[i]))
        top = max(tops, key=lambda t: t[0])[1]
        one = engine.prepare(network, top[None, :], want_grad)
    except (ValueError, FloatingPointError):
        return None
    kink = network.activation.kink
    terms, grids = [], []
    # (a depth-0 network evaluates no activation: no layer, no table)
    for layer, t in enumerate(one.nterms[: one.qa.shape[0]]):
        step = series._step_for(one.qa[layer], kink)
        if t > series._MAX_TERMS:
            step = series._Z_STEP  # the large tier
        elif step == series._Z_STEP_COARSEST and t > series._COARSEST_TERMS:
            step = series._Z_STEP_COARSE
        terms.append(int(t))
        grids.append(int(round(2 * series._Z_MAX / step)) + 1)
    return terms, grids


def _series_peak(points, terms, grids, n_tables, n_direct):
    """Bytes of the preparation of ``points`` points of a series network
    (:class:`sknnk._numerics.engine.Points`) and of its assembled tables.

    Layer ``l`` (``T`` terms, ``G`` grid points) holds, per point: for each
    directly sampled function its samples on the default grid ``G_0`` and
    their evaluation (the argument ``u = sqrt(q) z`` and the expression's
    temporaries, ``2 G_0``), and for the large tier (``G = 2601`` points
    after the default tier) the same on the fine grid (``3 G``) with the
    default tier's coefficients (``T_0``); the even and odd folds of the
    samples (``G``) and the projected coefficients (``T``); per table the
    derived, stacked and returned tables (``3 T``); the tables of the layers
    done so far; and at the end the assembled (padded) copy. Arrays freed
    within a layer are counted as alive: the allocator keeps most of them
    in its heap (peak RSS, not live bytes, is what is bounded).

    Returns
    -------
    prepare, tables : int
        Peak bytes of the preparation, bytes of the assembled tables.
    """
    t_max = max(terms)
    done = 0
    peak = 0
    for t, g in zip(terms, grids):
        default_grid = min(g, _GRID_SMOOTH)
        per_direct = 3 * default_grid + g + t
        if g > default_grid:  # the large tier after the default one
            per_direct += 3 * g + min(t, 1000)
        layer = n_direct * per_direct + 3 * n_tables * t
        peak = max(peak, layer + done)
        done += n_tables * t
    tables = 8 * points * n_tables * len(terms) * t_max
    return max(8 * points * peak, 8 * points * done + tables), tables


def gram_model(network, n_rows, n_cols, eval_gradient, symmetric, X=None, Y=None):
    """``(outputs, working)`` bytes at the peak of one kernel call.

    :func:`gram_peak` for closed forms; for series activations, when the
    inputs ``X`` (and ``Y``, both unscaled, as the kernel receives them) are
    given, the terms and grids of the tables of the call
    (:func:`_probe_terms`) replace the fixed :data:`_TERMS` of the model:
    the preparation (:func:`_series_peak`), then the outputs with the tables
    and their transposed copy, and for a free length scale the tables kept
    for its second pass with four float64 ``n x n`` arrays of partials.
    """
    from ._numerics import series
    from ._numerics.gram import family_of

    n_free = network.n_grad
    n_matrices = 1 + (n_free if eval_gradient else 0)
    want_grad = bool(eval_gradient) and n_free > 0
    family = family_of(network.activation.code)
    dtype = network.dtype
    ard = want_grad and network.grad_ls >= 0
    outputs, working = gram_peak(
        n_rows, n_cols, n_matrices, dtype, family, network.depth, want_grad, symmetric
    )
    probe = None
    # (a call the guard does not check is not probed: its overhead)
    if family == "series" and network.depth > 0 and not is_tiny((outputs, working)):
        probe = _probe_terms(network, X, None if symmetric else Y, want_grad)
    if probe is None:
        if ard:  # length-scale partials: 4 float64 n x n
            working += 32 * n_rows * n_cols
        return outputs, working
    n_tables = 4 if want_grad else 2
    funcs = network.activation.funcs[:n_tables]
    n_direct = next((k for k, f in enumerate(funcs) if f is None), n_tables)
    prep_x, tab_x = _series_peak(n_rows, *probe, n_tables, n_direct)
    prep, tables = prep_x, tab_x
    if not symmetric:
        prep_y, tab_y = _series_peak(n_cols, *probe, n_tables, n_direct)
        prep, tables = max(prep_x, tab_x + prep_y), tab_x + tab_y
    # the tables and the drivers' transposed copy; the length-scale pass
    # keeps them (and adds four float64 n x n arrays of partials)
    tiles = 2 * tables + (32 * n_rows * n_cols if ard else 0)
    basis = 8 * (series._MAX_TERMS_LARGE + 1) * (max(probe[1]) // 2 + 1)
    if max(probe[1]) <= _GRID_SMOOTH:
        basis = 0  # the default bases are part of _FIXED
    return outputs, _FIXED + basis + max(prep - outputs, tiles, 0)


#: How many times the fixed-terms model of a series call's working memory
#: the probed model may reach: residual streams and the large tier need up
#: to 7x the terms (1474 vs 200 per layer measured) and their grids; a
#: request that fits with this margin is not probed (:func:`check_gram`).
_PROBE_MARGIN = 16


def check_gram(
    owner, network, n_rows, n_cols, eval_gradient, symmetric, X=None, Y=None
):
    """:func:`check_memory` of one call of an sknnk kernel (its one-line
    guard): ``owner`` names the kernel, ``network`` is the
    :class:`sknnk._numerics.engine.Network` of the call, the rest as in the
    call (the model: :func:`gram_model`)."""
    n_free = network.n_grad
    n_matrices = 1 + (n_free if eval_gradient else 0)
    dtype = network.dtype
    peak = gram_model(network, n_rows, n_cols, eval_gradient, symmetric)
    if is_tiny(peak):  # before formatting the message
        return
    from ._numerics.activations import SERIES

    read = None  # (the limits read once per call)
    if X is not None and network.activation.code == SERIES:
        # the probe of the series terms costs a one-point preparation (ms):
        # only when the fixed-terms model, times the most the probe has been
        # seen to add, would not fit in the memory available
        avail = available_memory()
        read = (avail,)
        if avail is not None and peak[0] + _PROBE_MARGIN * peak[1] > avail:
            peak = gram_model(network, n_rows, n_cols, eval_gradient, symmetric, X, Y)
    what = (
        f"a {n_rows} x {n_cols} Gram matrix ({n_matrices} "
        f"{np.dtype(dtype).name} array(s))"
    )
    check_memory(owner, peak, what, dtype, read)


def check_transform(sampler, n_rows, n_out, dtype):
    """:func:`check_memory` of a sampler's ``transform`` of ``n_rows`` rows
    into ``n_out`` features (its one-line guard)."""
    from ._parallel import n_workers_of
    from .random_features import BLOCK

    depth = sampler._fitted[0]  # as fitted (not a later set_params)
    width = sampler.weights_[0].shape[1] if depth > 0 else 0
    peak = transform_peak(
        n_rows,
        n_out,
        sampler.n_features_in_,
        width,
        dtype,
        n_workers_of(sampler.n_jobs),
        BLOCK,
    )
    what = f"{n_rows} x {n_out} random features ({np.dtype(dtype).name})"
    check_memory(type(sampler).__name__, peak, what, dtype)


#: n x n float64 arrays alive at the peak of an estimator's fit: the training
#: Gram, its copy and the workspace of the symmetric eigendecomposition
#: (``syevd``: about 2 n^2), and the eigenvectors.
_FIT_SQUARES = 5


def check_fit(estimator, kernel, n):
    """:func:`check_memory` of fitting ``estimator`` on ``n`` samples with an
    sknnk ``kernel`` (one eigendecomposition of an n x n Gram); its one-line
    guard."""
    from ._numerics.gram import family_of

    spec = kernel._check_params()
    family = family_of(spec.code)
    _, working = gram_peak(n, n, 1, np.float64, family, kernel.depth, False, True)
    outputs = 8 * n * n * _FIT_SQUARES
    what = (
        f"{_FIT_SQUARES} {n} x {n} float64 arrays (the Gram and its eigendecomposition)"
    )
    check_memory(type(estimator).__name__, (outputs, working), what, np.float64)
