r"""Kernels on many points: lazy Gram matrices and Nyström approximations.

Two ways past the memory of one machine:

* :func:`dask_gram` describes the Gram matrix ``k(X, Y)`` as a lazy
  ``dask.array.Array`` whose blocks are computed by the same compiled engine as
  ``kernel(X_block, Y_block)``. It suits Grams that fit on disk (or in the
  memory of a cluster) but not in RAM: store it (zarr, ``.npy``) or feed it to
  blockwise computations such as ``K @ v``.
* :func:`nystroem_error` and :func:`select_nystroem_components` measure the
  error of a Nyström approximation of rank ``n_components`` and choose the
  rank, for ``sklearn.kernel_approximation.Nystroem(kernel=<sknnk kernel>)``.

**Nyström.** With ``k`` landmarks :math:`Z` drawn uniformly without
replacement from the data, scikit-learn's ``Nystroem`` maps a point to
:math:`\Phi(x) = k(x, Z)\, K_{ZZ}^{-1/2}` (the inverse square root from an SVD
of :math:`K_{ZZ}` with its singular values clipped at 1e-12), so that

.. math::

    \Phi(X)\, \Phi(Y)^\top = K_{XZ}\, K_{ZZ}^{+}\, K_{ZY},

a rank-``k`` approximation of the Gram matrix. ``Nystroem`` calls a sklearn
``Kernel`` on whole blocks (``kernel(X, Z)``: one call of the tiled engine per
``fit`` and per ``transform``), so passing an :class:`~sknnk.NTKKernel` or
:class:`~sknnk.NNGPKernel` *instance* as ``kernel`` is efficient; a plain
Python function would be called once per pair of points. Measured on 4000
points of :math:`N(0, I_{16})` (ReLU, depth 3, ``sigma_w=1.5``,
``sigma_b=0.1``), the relative Frobenius error of the Gram at
``n_components=1024`` is about 2e-3 for the NNGP and 2e-2 for the NTK, and it
does not grow with the number of points: ``n_components`` of about 1000 is a
good starting point for :math:`10^5` to :math:`10^6` points. The error depends
on the spectrum of the kernel on the data (slowly decaying spectra, e.g. data
of high intrinsic dimension, need more components), so measure it on your data
with :func:`nystroem_error`.

Practical points with ``Nystroem(kernel=NTKKernel(...))``:

* Parallelise with the kernel's ``n_jobs`` and leave ``Nystroem(n_jobs=None)``:
  ``Nystroem``'s own ``n_jobs`` runs one kernel call per thread on a slice of
  the landmarks, each repeating the per-point work on all rows.
* float32 inputs give float64 features (the kernels compute in float64
  unless built with ``dtype="float32"``).
* ``transform`` computes ``kernel(X, Z)`` and then a product with a
  ``k x k`` matrix, which dominates for large ``k`` (on 2 cores, for
  :math:`10^5` rows and ``k = 1000``: about 3 s for the kernel block, 12 s
  for the product). Transform :math:`10^6` rows in batches of rows
  (``sklearn.utils.gen_batches``, or ``map_blocks`` on a dask array): the
  features alone take 8 GB at ``k = 1000`` in float64, and the kernel refuses
  (``MemoryBudgetError``) a block that does not fit in the available memory.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.base import clone
from sklearn.gaussian_process.kernels import Kernel
from sklearn.utils import Bunch, check_random_state

from . import _parallel
from . import kernels as _kernels
from ._overflow import check_finite_result
from ._validation import check_input, check_int, check_real

__all__ = ["dask_gram", "nystroem_error", "select_nystroem_components"]


# ---------------------------------------------------------------- dask Gram
def _import_dask():
    """``(dask.array, tokenize, HighLevelGraph)``, or a clear ImportError."""
    try:
        import dask.array as da
        from dask.base import tokenize
        from dask.highlevelgraph import HighLevelGraph
    except ImportError as exc:
        raise ImportError(
            "dask_gram needs dask (dask.array), an optional dependency of "
            "sknnk. Install it with: pip install 'sknnk[dask]'"
        ) from exc
    return da, tokenize, HighLevelGraph


def _check_kernel(kernel, owner):
    if not isinstance(kernel, Kernel):
        raise TypeError(
            f"{owner} takes a scikit-learn Kernel instance (e.g. "
            "sknnk.NTKKernel(), or a sum/product of kernels containing one). "
            f"Got {kernel!r} of type {type(kernel).__name__} instead."
        )


def _contains_sknnk_kernel(kernel):
    """Whether ``kernel`` is, or is built from, an sknnk kernel."""
    parts = [kernel, *kernel.get_params(deep=True).values()]
    return any(isinstance(p, _kernels._InfiniteWidthKernel) for p in parts)


def _check_chunks(chunks, aligned):
    """``chunks`` as a pair ``(rows, columns)`` of block sizes."""
    pair = tuple(chunks) if isinstance(chunks, (tuple, list)) else (chunks, chunks)
    tile = _parallel.TILE
    msg = (
        "The 'chunks' parameter of dask_gram must be a positive int (the side "
        "of the square blocks) or a pair of them (rows, columns)"
    )
    if aligned:
        msg += f", multiples of {tile} for sknnk kernels"
    if len(pair) != 2:
        raise ValueError(f"{msg}. Got {chunks!r} instead.")
    for c in pair:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise TypeError(f"{msg}. Got {chunks!r} instead.")
        if c < 1:
            raise ValueError(f"{msg}. Got {chunks!r} instead.")
        if aligned and c % tile:
            lo, hi = max(tile, c - c % tile), c - c % tile + tile
            raise ValueError(
                f"{msg}. Got {chunks!r} instead. The engine computes a Gram "
                f"in tiles of {tile} x {tile} entries; blocks aligned with "
                "those tiles are bitwise equal to the same entries of the "
                f"Gram computed in one piece. Use e.g. chunks={lo} or {hi}."
            )
    return int(pair[0]), int(pair[1])


def _rows_as_dask(X, name, block, da):
    """``X`` as a dask array with row blocks of ``block`` rows, one column block.

    A numpy input is validated and cut into row blocks once (each block is a
    separate key of the graph, so a worker receives only the blocks it
    needs); a dask input is rechunked lazily and validated block by block by
    the kernel when computed.
    """
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(
                f"{name} passed to dask_gram must be 2-D (n_samples, "
                f"n_features). Got a dask array of shape {X.shape}."
            )
        if any(np.isnan(s) for s in X.shape):
            raise ValueError(
                f"{name} passed to dask_gram has unknown chunk sizes (shape "
                f"{X.shape}); call {name}.compute_chunk_sizes() first."
            )
        if X.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} passed to dask_gram must hold real numbers. Got "
                f"dtype {X.dtype}."
            )
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(
                f"{name} passed to dask_gram needs at least one sample and one "
                f"feature. Got shape {X.shape}."
            )
        return X.rechunk({0: block, 1: -1})
    X = check_input(X, name, "dask_gram")
    return da.from_array(X, chunks=(block, X.shape[1]))


def _diagonal_block(kernel, X_block):
    return _finite_block(kernel(X_block))


def _cross_block(kernel, X_block, Y_block):
    return _finite_block(kernel(X_block, Y_block))


def _finite_block(block):
    """A computed block, refused (at compute time) if it is not finite."""
    check_finite_result("dask_gram", "a block of the Gram", block)
    return block


def _transposed_block(block):
    return block.T


def dask_gram(kernel: Kernel, X, Y=None, *, chunks: int | tuple[int, int] = 4096):
    r"""Lazy Gram matrix ``kernel(X, Y)`` as a ``dask.array.Array``.

    Block ``(I, J)`` of the result is ``kernel(X[I], Y[J])``, computed by the
    kernel's tiled engine when the array (or part of it) is computed, on
    whatever dask scheduler is active: threads by default, or the workers of
    a ``distributed`` cluster. Only the blocks being computed and stored are
    in memory (and, for a symmetric Gram, blocks above the diagonal until
    their transposes have been used), so Grams far larger than RAM can be
    written to disk block by block or reduced blockwise (``K @ v``,
    ``K.sum(axis=0)``, ...).

    Parameters
    ----------
    kernel : sklearn.gaussian_process.kernels.Kernel
        An :class:`~sknnk.NNGPKernel`, :class:`~sknnk.NTKKernel`, or any other
        scikit-learn kernel, including sums and products of kernels. The
        kernel is copied (later ``set_params`` calls do not affect the
        result) and sent to each worker once. Its ``n_jobs`` parallelises
        within a block: keep the default where dask already runs one block
        per core. Its ``dtype`` is the dtype of the result
        (``NTKKernel(dtype="float32")`` halves the size).
    X : array-like or dask array of shape (n_samples_X, n_features)
        Left argument. A numpy input is validated here (finite, 2-D, real)
        and cut into row blocks, each its own key of the graph; a dask array
        is rechunked lazily and validated by the kernel block by block. On a
        cluster, pass a large ``X`` as a dask array the workers load
        themselves (e.g. ``dask.array.from_zarr``): a numpy ``X`` travels
        from the client through the scheduler.
    Y : array-like or dask array of shape (n_samples_Y, n_features), default=None
        Right argument. ``None`` gives the symmetric Gram ``kernel(X)``: each
        block above the diagonal is computed once and the block below it is
        its transpose (half the work, and the result is exactly symmetric);
        the diagonal blocks are ``kernel(X[I])``, so they carry the kernel's
        exact diagonal (and e.g. the noise of a ``WhiteKernel`` term, which
        ``kernel(X, X)`` would not).
    chunks : int or tuple of two ints, default=4096
        Side of the blocks (or ``(rows, columns)``); the last block of each
        axis holds the remainder. For kernels built from sknnk kernels they
        must be multiples of 256, the engine's tile, so that every block is
        bitwise equal to the same entries of ``kernel(X, Y)`` (or
        ``kernel(X)``) computed in one piece. 4096 gives blocks of 128 MiB in
        float64.

    Returns
    -------
    K : dask.array.Array of shape (n_samples_X, n_samples_Y)
        The lazy Gram matrix, with chunks ``chunks`` and the dtype the kernel
        returns.

    Raises
    ------
    ImportError
        If dask is not installed (``pip install 'sknnk[dask]'``).
    TypeError
        If ``kernel`` is not a scikit-learn ``Kernel``.
    ValueError
        For invalid ``chunks``, non-finite or non-2-D numpy inputs, or ``X``
        and ``Y`` with different numbers of features.

    See Also
    --------
    nystroem_error : a low-rank alternative when even the disk is too small.

    Notes
    -----
    The engine cuts a Gram into a fixed grid of 256 x 256 tiles, each one
    gemm (:math:`x_i \cdot y_j`) followed by the compiled recursion; with
    blocks aligned to that grid, block ``(I, J)`` consists of the very tiles,
    computed by the same operations, as the corresponding part of the Gram
    computed locally. For activations without a closed form (``"tanh"``), the
    number of Hermite terms is chosen for the points of each call, so blocks
    agree with the local Gram to the series' tolerance (~1e-13 relative)
    rather than bitwise. Other scikit-learn kernels (``RBF``, ...) use their
    own code, whose ``k(X)`` and ``k(X, Y)`` may differ in the last bits.

    To write a Gram larger than memory to disk, ``K.to_zarr(path)`` (with the
    zarr package) writes every block from the worker that computed it;
    ``dask.array.store(K, target)`` works with any array-like target that
    supports slice assignment (with the threaded scheduler, e.g. a
    ``numpy.lib.format.open_memmap`` file, as below).

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from sknnk import NTKKernel, dask_gram
    >>> X = np.random.default_rng(0).normal(size=(1000, 8))
    >>> kernel = NTKKernel(depth=3)
    >>> K = dask_gram(kernel, X, chunks=512)
    >>> K.shape, K.chunksize
    ((1000, 1000), (512, 512))

    A matrix-vector product, block by block:

    >>> v = np.ones(1000)
    >>> Kv = (K @ v).compute()
    >>> bool(np.allclose(Kv, kernel(X) @ v, rtol=1e-12))
    True

    Stored to a ``.npy`` file on disk, one block at a time, and identical to
    the Gram computed in one piece:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "gram.npy")
    >>> out = np.lib.format.open_memmap(path, "w+", dtype=K.dtype, shape=K.shape)
    >>> da.store(K, out, lock=False, scheduler="threads")
    >>> out.flush()
    >>> bool(np.array_equal(np.load(path, mmap_mode="r"), kernel(X)))
    True

    On a cluster (the kernel and the blocks of ``X`` travel to the workers;
    the blocks are written by the workers):

    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client(n_workers=4, threads_per_worker=1)  # doctest: +SKIP
    >>> dask_gram(kernel, X_big, chunks=4096).to_zarr("gram.zarr")  # doctest: +SKIP
    """
    da, tokenize, HighLevelGraph = _import_dask()
    _check_kernel(kernel, "dask_gram")
    kernel = clone(kernel)  # later set_params calls do not change the graph
    row_block, col_block = _check_chunks(chunks, _contains_sknnk_kernel(kernel))
    symmetric = Y is None
    Xd = _rows_as_dask(X, "X", row_block, da)
    Yd = Xd if symmetric else _rows_as_dask(Y, "Y", col_block, da)
    if symmetric and col_block != row_block:
        raise ValueError(
            "A symmetric Gram (Y=None) needs square blocks: pass one int as "
            f"'chunks'. Got {chunks!r}."
        )
    if Yd.shape[1] != Xd.shape[1]:
        raise ValueError(
            f"X has {Xd.shape[1]} features but Y has {Yd.shape[1]} features; "
            "dask_gram needs both with the same number of columns."
        )
    # A one-point call: checks the kernel's parameters now rather than on
    # the workers, and gives the dtype of the blocks.
    probe = np.ones((1, Xd.shape[1]))
    dtype = np.asarray(kernel(probe)).dtype

    token = tokenize(kernel, Xd.name, None if symmetric else Yd.name)
    name = "sknnk-gram-" + token
    kernel_key = "sknnk-kernel-" + token
    dsk = {kernel_key: kernel}  # one key: sent once to each worker using it
    # keys of the row blocks (in dask's array-expression mode they differ
    # from Xd.name, which names the expression before optimisation)
    x_keys = [row[0] for row in Xd.__dask_keys__()]
    y_keys = x_keys if symmetric else [row[0] for row in Yd.__dask_keys__()]
    for i, x_key in enumerate(x_keys):
        for j, y_key in enumerate(y_keys):
            if not symmetric:
                task = (_cross_block, kernel_key, x_key, y_key)
            elif i == j:
                task = (_diagonal_block, kernel_key, x_key)
            elif i < j:
                task = (_cross_block, kernel_key, x_key, y_key)
            else:  # below the diagonal: the mirror image of block (j, i)
                task = (_transposed_block, (name, j, i))
            dsk[(name, i, j)] = task
    deps = [Xd] if symmetric else [Xd, Yd]
    meta = np.empty((0, 0), dtype=dtype)
    chunks_out = (Xd.chunks[0], Yd.chunks[0])
    if _array_expr_enabled(da):  # dask's opt-in "array.query-planning" mode
        from dask.array._array_expr._collection import from_graph

        layer = {}
        for d in deps:
            layer.update(d.__dask_graph__())
        layer.update(dsk)
        keys = [(name, i, j) for i in range(len(x_keys)) for j in range(len(y_keys))]
        return from_graph(layer, meta, chunks_out, keys, "sknnk-gram")
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=deps)
    return da.Array(graph, name, chunks_out, meta=meta)


def _array_expr_enabled(da):
    try:
        return bool(da.array_expr_enabled())
    except AttributeError:  # dask without array expressions
        return False


# ---------------------------------------------------------------- Nyström
def _check_components(n_components, owner, name="n_components"):
    """A non-empty 1-D int array of candidate ranks (each >= 1)."""
    values = (
        list(n_components)
        if isinstance(n_components, (Sequence, np.ndarray))
        and not isinstance(n_components, str)
        else [n_components]
    )
    if not values:
        raise ValueError(f"The '{name}' parameter of {owner} must not be empty.")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(
                f"The '{name}' parameter of {owner} must be an int >= 1 or a "
                f"sequence of them. Got {n_components!r} instead."
            )
    return np.asarray(values, dtype=np.int64)


def _draw(kernel, X, ks, n_samples, n_points, random_state, owner):
    """Landmarks, evaluation points and the kernel blocks they need."""
    _check_kernel(kernel, owner)
    X = check_input(X, "X", owner)
    check_int(owner, "n_samples", n_samples, 2)
    check_int(owner, "n_points", n_points, 2, allow_none=True)
    n = X.shape[0]
    k_max = int(ks.max())
    if n < k_max + 2:
        raise ValueError(
            f"{owner} draws the landmarks and, from the remaining points, the "
            f"points the error is measured on: X needs at least "
            f"n_components + 2 = {k_max + 2} rows but has {n}. Pass smaller "
            "n_components (with so few points the exact Gram kernel(X) is "
            "cheap anyway)."
        )
    # the permutation Nystroem(random_state=...).fit(X) draws: candidate k
    # uses its first k entries as landmarks
    perm = check_random_state(random_state).permutation(n)
    landmarks = perm[:k_max]
    sample = perm[k_max : k_max + n_samples]
    Z = X[landmarks]
    E = X[sample]
    K_zz = np.asarray(kernel(Z, Z), dtype=np.float64)  # as Nystroem.fit does
    K_zz = 0.5 * (K_zz + K_zz.T)
    K_ez = np.asarray(kernel(E, Z), dtype=np.float64)
    K_ee = np.asarray(kernel(E), dtype=np.float64)
    for name, block in (("K(Z, Z)", K_zz), ("K(E, Z)", K_ez), ("K(E, E)", K_ee)):
        check_finite_result(owner, f"the kernel block {name}", block)
    return landmarks, sample, K_zz, K_ez, K_ee, n if n_points is None else n_points


def _gram_error(R, K, n_points):
    """Relative Frobenius norm of the residual ``R`` of a Gram ``K`` of ``n``
    points, with its diagonal and off-diagonal entries weighted as in a Gram
    of ``n_points`` points."""
    n = K.shape[0]
    weight = (n_points - 1) / (n - 1)  # off-diagonal pairs per diagonal entry
    # both scaled by the power of two above max |K| (exact; a ratio): the
    # squares cannot overflow or underflow
    scale = np.max(np.abs(K))
    if scale == 0.0:  # a zero Gram (PSD: K_EZ = 0 too) is reproduced exactly
        return 0.0
    e = np.frexp(scale)[1]
    R, K = np.ldexp(R, -e), np.ldexp(K, -e)
    r_diag = np.sum(np.diag(R) ** 2)
    k_diag = np.sum(np.diag(K) ** 2)
    r_off = max(np.sum(R * R) - r_diag, 0.0)
    k_off = max(np.sum(K * K) - k_diag, 0.0)
    return float(np.sqrt((r_diag + weight * r_off) / (k_diag + weight * k_off)))


def _nystroem_error(K_zz, K_ez, K_ee, k, n_points):
    """Error of scikit-learn's Nyström approximation with the first ``k``
    landmarks, on the evaluation points."""
    # Nystroem takes an SVD of K_ZZ and clips the singular values |w| at
    # 1e-12; Phi Phi^T = K_EZ V diag(1 / |w|) V^T K_ZE depends on nothing else,
    # so the symmetric eigendecomposition (several times faster) gives it too
    w, V = np.linalg.eigh(K_zz[:k, :k])
    B = K_ez[:, :k] @ V
    residual = K_ee - (B / np.clip(np.abs(w), 1e-12, None)) @ B.T
    return _gram_error(residual, K_ee, n_points)


def nystroem_error(
    kernel: Kernel,
    X,
    n_components: int | Sequence[int] = (128, 256, 512, 1024),
    *,
    n_samples: int = 2000,
    n_points: int | None = None,
    random_state=None,
) -> Bunch:
    r"""Measured error of Nyström approximations of a kernel on data.

    Draws the landmarks from ``X`` as ``Nystroem(kernel=kernel,
    n_components=k, random_state=random_state).fit(X)`` does (the first ``k``
    points of one random permutation, so the landmarks of a smaller candidate
    are a subset of those of a larger one), then ``n_samples`` *other* points
    :math:`E` of ``X``, and compares the approximate Gram
    :math:`\Phi(E)\,\Phi(E)^\top = K_{EZ} K_{ZZ}^{+} K_{ZE}` (computed as
    scikit-learn's ``Nystroem`` does, singular values of :math:`K_{ZZ}`
    clipped at 1e-12) with the exact Gram :math:`K_{EE}`. With the residual
    :math:`R = K_{EE} - \Phi(E)\Phi(E)^\top`, the returned error is

    .. math::

        \sqrt{\frac{\sum_i R_{ii}^2 + w \sum_{i \ne j} R_{ij}^2}
                   {\sum_i K_{ii}^2 + w \sum_{i \ne j} K_{ij}^2}},
        \qquad w = \frac{N - 1}{n - 1},

    for ``n`` evaluation points and ``N = n_points``: the relative Frobenius
    error of the approximate Gram of ``N`` points that are not landmarks,
    estimated from the sample. For ``N = n`` it is exactly
    :math:`\|R\|_F / \|K_{EE}\|_F`; as ``N`` grows the diagonal, where the
    residual (positive semi-definite) is largest, weighs less.

    Parameters
    ----------
    kernel : sklearn.gaussian_process.kernels.Kernel
        The kernel to approximate, e.g. ``NTKKernel(depth=3)``. Its ``n_jobs``
        parallelises the kernel evaluations.
    X : array-like of shape (n_samples_X, n_features)
        Data (or a random subsample of it); needs at least
        ``max(n_components) + 2`` rows.
    n_components : int or sequence of int, default=(128, 256, 512, 1024)
        Candidate numbers of landmarks.
    n_samples : int, default=2000
        Number of points the error is measured on (fewer if ``X`` has fewer
        than ``max(n_components) + n_samples`` rows). Costs an ``n_samples x
        n_samples`` exact Gram, an ``n_samples x max(n_components)`` kernel
        block and a symmetric eigendecomposition of a ``k x k`` matrix per
        candidate.
    n_points : int, default=None
        Size of the Gram whose error is estimated; ``None`` means the number
        of rows of ``X``. Pass the size of the full data set when ``X`` is a
        subsample of it.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw; an int makes the result reproducible and the
        landmarks those of ``Nystroem(random_state=random_state)`` on ``X``.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``n_components`` (ndarray of int), ``errors`` (ndarray of float, the
        relative Frobenius errors in the same order), ``landmark_indices``
        (rows of ``X`` used as landmarks; candidate ``k`` uses the first
        ``k``) and ``sample_indices`` (rows the error is measured on).

    See Also
    --------
    select_nystroem_components : the smallest candidate meeting a tolerance.
    sklearn.kernel_approximation.Nystroem : the approximation itself.

    Notes
    -----
    On 4000 points of :math:`N(0, I_{16})` (ReLU, depth 3, ``sigma_w=1.5``,
    ``sigma_b=0.1``) the relative Frobenius error of the whole Gram at
    ``n_components=1024`` is about 2e-3 for the NNGP and 2e-2 for the NTK,
    and it does not grow with the number of points: about 1000 components is
    a good starting point for :math:`10^5` to :math:`10^6` points (this
    function gives 2.1e-3 and 1.5e-2 there for ``n_points=10**6``). The error
    depends on the spectrum of the kernel on the data: slowly decaying
    spectra (e.g. data of high intrinsic dimension) need more components.

    The rows of the landmarks themselves are reproduced exactly by Nyström;
    the estimate ignores this, which overstates the error of the Gram of
    ``X`` when ``n_components`` is not small compared with ``N``. With nested
    landmarks the residual :math:`K - K_{EZ} K_{ZZ}^+ K_{ZE}` is positive
    semi-definite and shrinks as landmarks are added, so the error does not
    increase with ``k`` (up to the 1e-12 clipping).

    Examples
    --------
    >>> import numpy as np
    >>> from sknnk import NNGPKernel
    >>> from sknnk.large_scale import nystroem_error
    >>> X = np.random.default_rng(0).normal(size=(1500, 8))
    >>> res = nystroem_error(NNGPKernel(depth=3), X, n_components=(16, 64, 256),
    ...                      n_samples=500, random_state=0)
    >>> res.n_components
    array([ 16,  64, 256])
    >>> bool(np.all(np.diff(res.errors) < 0))
    True
    """
    owner = "nystroem_error"
    ks = _check_components(n_components, owner)
    landmarks, sample, K_zz, K_ez, K_ee, n_points = _draw(
        kernel, X, ks, n_samples, n_points, random_state, owner
    )
    errors = np.array([_nystroem_error(K_zz, K_ez, K_ee, k, n_points) for k in ks])
    return Bunch(
        n_components=ks,
        errors=errors,
        landmark_indices=landmarks,
        sample_indices=sample,
    )


def select_nystroem_components(
    kernel: Kernel,
    X,
    tol: float = 1e-2,
    *,
    n_components: Sequence[int] = (128, 256, 512, 1024, 2048),
    n_samples: int = 2000,
    n_points: int | None = None,
    random_state=None,
) -> tuple[int, Bunch]:
    """Smallest number of Nyström components whose measured error is ``<= tol``.

    The candidates are tried in increasing order with the landmarks and
    evaluation points of :func:`nystroem_error` (same arguments, same
    errors), and the search stops at the first one meeting the tolerance; the
    kernel blocks are computed once, for the largest candidate.

    Parameters
    ----------
    kernel : sklearn.gaussian_process.kernels.Kernel
        The kernel to approximate.
    X : array-like of shape (n_samples_X, n_features)
        Data (or a random subsample of it); needs at least
        ``max(n_components) + 2`` rows.
    tol : float, default=1e-2
        Largest acceptable relative Frobenius error of the Gram.
    n_components : sequence of int, default=(128, 256, 512, 1024, 2048)
        Candidates (tried in increasing order).
    n_samples : int, default=2000
        Number of points the error is measured on; see :func:`nystroem_error`.
    n_points : int, default=None
        Size of the Gram whose error is estimated (``None``: the rows of
        ``X``); see :func:`nystroem_error`.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw of landmarks and evaluation points.

    Returns
    -------
    n_components : int
        The smallest candidate meeting ``tol``; the largest candidate (with a
        ``UserWarning``) if none does.
    result : sklearn.utils.Bunch
        As returned by :func:`nystroem_error`, with the candidates sorted and
        ``errors`` set to NaN for the candidates not tried.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_approximation import Nystroem
    >>> from sknnk import NNGPKernel
    >>> from sknnk.large_scale import select_nystroem_components
    >>> X = np.random.default_rng(0).normal(size=(1500, 8))
    >>> kernel = NNGPKernel(depth=3)
    >>> k, res = select_nystroem_components(
    ...     kernel, X, tol=0.05, n_components=(16, 64, 256), n_samples=500,
    ...     random_state=0)
    >>> bool(res.errors[res.n_components == k][0] <= 0.05)
    True
    >>> features = Nystroem(kernel=kernel, n_components=k).fit_transform(X)
    >>> features.shape[1] == k
    True
    """
    owner = "select_nystroem_components"
    check_real(owner, "tol", tol, positive=True)
    ks = np.sort(_check_components(n_components, owner))
    landmarks, sample, K_zz, K_ez, K_ee, n_points = _draw(
        kernel, X, ks, n_samples, n_points, random_state, owner
    )
    errors = np.full(ks.shape, np.nan)
    chosen = None
    for i, k in enumerate(ks):
        errors[i] = _nystroem_error(K_zz, K_ez, K_ee, k, n_points)
        if errors[i] <= tol:
            chosen = int(k)
            break
    if chosen is None:
        chosen = int(ks[-1])
        warnings.warn(
            f"No candidate meets tol={tol}: the error at the largest, "
            f"n_components={chosen}, is {errors[-1]:.3g}. Returning it; pass "
            "larger n_components or a larger tol.",
            UserWarning,
            stacklevel=2,
        )
    result = Bunch(
        n_components=ks,
        errors=errors,
        landmark_indices=landmarks,
        sample_indices=sample,
    )
    return chosen, result
