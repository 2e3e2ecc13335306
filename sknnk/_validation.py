"""Parameter and input checks with messages that name the parameter and the fix."""

import numbers

import numpy as np
from sklearn.utils import check_array


def _got(value):
    return f"Got {value!r} instead."


def check_int(owner, name, value, low, allow_none=False):
    """An integer ``>= low`` (``bool`` is rejected)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be an int >= {low}. " + _got(value)
        )
    if value < low:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be an int >= {low}. " + _got(value)
        )


def check_real(owner, name, value, positive):
    """A finite real number, ``> 0`` if ``positive`` else ``>= 0``."""
    rel = "> 0" if positive else ">= 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a float {rel}. " + _got(value)
        )
    bad = not np.isfinite(value) or (value <= 0 if positive else value < 0)
    if bad:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a finite float {rel}. "
            + _got(value)
        )


def check_bounds(owner, name, value):
    """``"fixed"`` or a pair ``(low, high)`` with ``0 < low <= high``."""
    if isinstance(value, str):
        if value == "fixed":
            return
    else:
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            arr = None
        if (
            arr is not None
            and arr.shape == (2,)
            and np.all(np.isfinite(arr))
            and 0 < arr[0] <= arr[1]
        ):
            return
    raise ValueError(
        f"The '{name}' parameter of {owner} must be 'fixed' or a pair "
        f"(low, high) with 0 < low <= high (the bounds of a log-scale search). "
        + _got(value)
    )


def check_options(owner, name, value, options):
    """One of a set of strings."""
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in sorted(options))
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a str among "
            f"{{{listed}}}. " + _got(value)
        )


def check_n_jobs(owner, value):
    """``None`` or a nonzero int (negative counts from the number of cores)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"The 'n_jobs' parameter of {owner} must be None or an int. " + _got(value)
        )
    if value == 0:
        raise ValueError(
            f"The 'n_jobs' parameter of {owner} must be None or a nonzero int "
            "(-1 uses all cores). " + _got(value)
        )


def check_input(X, name, owner):
    """Return ``X`` as a finite 2-D float64 array (never modifying the input)."""
    if hasattr(X, "dtype") and np.iscomplexobj(X):
        raise TypeError(
            f"{name} passed to {owner} has complex dtype {X.dtype}; sknnk kernels "
            "take real-valued features. Pass the real part or split real and "
            "imaginary parts into separate columns."
        )
    return check_array(
        X,
        dtype=np.float64,
        ensure_2d=True,
        ensure_all_finite=True,
        input_name=name,
        estimator=owner,
    )


def resolve_dtype(owner, dtype):
    """The numpy scalar type of a ``dtype`` parameter (None is float64)."""
    if dtype is None:
        return np.float64
    if isinstance(dtype, str):
        if dtype in ("float64", "float32"):
            return np.dtype(dtype).type
    else:
        try:
            if np.dtype(dtype) in (np.float64, np.float32):
                return np.dtype(dtype).type
        except TypeError:
            pass
    raise ValueError(
        f"The 'dtype' parameter of {owner} must be None, 'float64' or 'float32'. "
        f"Got {dtype!r} instead."
    )
