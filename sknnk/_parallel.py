"""Spread row blocks of a Gram matrix over threads with joblib.

The compiled drivers release the GIL (``nogil=True``), so joblib's threading
backend runs blocks truly in parallel, each writing its rows of one shared
output array.  Because blocks write in place, shared memory is required
(``require="sharedmem"``).
"""

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs


def row_blocks(n_rows, n_blocks, symmetric):
    """Split ``range(n_rows)`` into contiguous blocks of about equal work.

    For a symmetric Gram only the upper triangle is computed, so row ``i``
    costs ``n_rows - i`` entries; blocks then get equal areas of the triangle.
    """
    n_blocks = max(1, min(n_blocks, n_rows))
    if not symmetric:
        edges = np.linspace(0, n_rows, n_blocks + 1)
    else:
        # cumulative work up to row i is W(i) = i (2n - i) / 2; invert it
        total = n_rows * (n_rows + 1) / 2.0
        targets = total * np.arange(n_blocks + 1) / n_blocks
        edges = n_rows + 0.5 - np.sqrt(np.maximum((n_rows + 0.5) ** 2 - 2 * targets, 0))
    edges = np.unique(np.round(edges).astype(int))
    edges[0], edges[-1] = 0, n_rows
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_row_blocks(func, n_rows, n_jobs, symmetric, blocks_per_job=4):
    """Call ``func(i0, i1)`` on row blocks, in parallel when ``n_jobs`` allows."""
    n_workers = effective_n_jobs(n_jobs)
    if n_workers == 1 or n_rows < 2:
        func(0, n_rows)
        return
    blocks = row_blocks(n_rows, blocks_per_job * n_workers, symmetric)
    Parallel(n_jobs=n_jobs, require="sharedmem")(delayed(func)(a, b) for a, b in blocks)
