"""The project's numba decorator: ``njit`` that caches when numba can, and
compiles in memory when it cannot.

numba's ``cache=True`` looks for a writable cache directory when a function is
*decorated* (at import): ``NUMBA_CACHE_DIR``, the package's ``__pycache__``,
then the user cache directory (``$XDG_CACHE_HOME`` or ``$HOME/.cache``). In a
read-only install with no writable home none of them exists, and numba raises
``RuntimeError: cannot cache function ...: no locator available`` -- which
would make ``import sknnk`` fail. :func:`njit` below decorates with the cache
when a location exists and without it otherwise (the functions then compile at
first use in every process), warning once per process with the fix
(``NUMBA_CACHE_DIR``). It never sets environment variables or numba's config.
"""

from __future__ import annotations

import inspect
import threading
import warnings

import numba

__all__ = ["njit"]

_warned = []
_warn_lock = threading.Lock()


def _warn_no_cache(exc):
    """Warn (once per process) that compiled code cannot be cached."""
    with _warn_lock:
        if _warned:
            return
        _warned.append(True)
    warnings.warn(
        "sknnk: numba found no writable directory to cache compiled code "
        f"({exc}); sknnk's functions are compiled again in every process (a "
        "few seconds at first use). Set the environment variable "
        "NUMBA_CACHE_DIR to a writable directory to cache them.",
        UserWarning,
        stacklevel=3,
    )


def njit(*args, cache=True, **options):
    """``numba.njit`` with ``cache=True`` unless no cache location exists.

    Used exactly like ``numba.njit`` (``@njit`` or ``@njit(nogil=True, ...)``,
    optionally with a signature). Falls back to an uncached dispatcher, with
    one :class:`UserWarning` per process naming ``NUMBA_CACHE_DIR``, when
    numba reports that it has no cache locator for the function's file.

    Returns
    -------
    decorator or dispatcher
        As ``numba.njit``.
    """
    if len(args) == 1 and inspect.isfunction(args[0]):
        return _decorate(args[0], (), cache, options)

    def decorator(func):
        return _decorate(func, args, cache, options)

    return decorator


def _decorate(func, args, cache, options):
    if not cache:
        return numba.njit(*args, **options)(func)
    try:
        return numba.njit(*args, cache=True, **options)(func)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        _warn_no_cache(exc)
        return numba.njit(*args, cache=False, **options)(func)
