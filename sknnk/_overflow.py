"""Refusal of non-finite results, and overflow-free sample moments.

Public functions whose result overflows float64 (a Gram, a prediction, a
trained network's loss, a Monte Carlo mean) raise the one ``ValueError`` of
:func:`check_finite_result`, naming the quantity and the fixes, instead of
returning NaN or infinities with a numpy ``RuntimeWarning``.
"""

import functools
import math

import numpy as np

#: The fixes of an overflow that comes from the scale of the inputs.
STANDARDIZE = "standardize X (e.g. sklearn.preprocessing.StandardScaler)"
#: The fix of a non-finite output of a user's activation.
FINITE_ACTIVATION = "make the activation finite for every real input"


def quiet_overflow(func):
    """Decorate ``func`` to run without numpy's overflow/invalid warnings:
    for functions whose results are checked by :func:`check_finite_result`
    (the refusal replaces the warning). A fresh ``np.errstate`` per call, so
    it is thread-safe with every numpy version and leaves no state behind."""

    @functools.wraps(func)
    def quiet(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return func(*args, **kwargs)

    return quiet


def check_finite_result(owner, quantity, values, fixes=STANDARDIZE):
    """Raise a ``ValueError`` naming ``quantity`` if ``values`` has a NaN or an
    infinity.

    Parameters
    ----------
    owner : str
        The public function or class, named first in the message.
    quantity : str
        What ``values`` is (e.g. ``"the training Gram k(X, X)"``).
    values : array-like
        The result to check.
    fixes : str, default=STANDARDIZE
        What the user can change, appended to the message.

    Raises
    ------
    ValueError
        If some entry of ``values`` is not finite.
    """
    values = np.asarray(values)
    if np.isfinite(values).all():
        return
    raise ValueError(
        f"{owner}: NaN or infinite entries in {quantity} ({values.dtype.name}: "
        "a value overflows its range, or an activation returned NaN or inf); "
        f"{fixes}."
    )


def sample_moments(owner, quantity, samples, exponents=None):
    r"""Mean and standard error over axis 0 of ``samples * 2**exponents``,
    without overflow.

    Every entry is divided by the power of two :math:`2^e` nearest above its
    largest magnitude over the samples (exact in floating point), so the
    squares of the standard deviation cannot overflow; the exponents are
    restored at the end. Results are those of ``mean``/``std`` bitwise
    wherever these do not overflow or underflow.

    Parameters
    ----------
    owner, quantity : str
        For the error message.
    samples : ndarray of shape (S, ...)
        ``S`` draws (finite), float; overwritten (scaled in place), so pass
        a temporary.
    exponents : ndarray of int of shape (...), default=None
        Extra power-of-two exponents of every entry (samples scaled before).

    Returns
    -------
    mean, stderr : ndarray of shape (...)
        Sample mean, and sample standard deviation (``ddof=1``) over
        :math:`\sqrt S` (``inf`` for ``S = 1``).

    Raises
    ------
    ValueError
        If a sample is not finite or the mean overflows float64.
    """
    check_finite_result(owner, f"a sample of {quantity}", samples)
    S = samples.shape[0]
    # max |sample| per entry from two reductions (no temporary |samples|)
    big = np.maximum(samples.max(axis=0), -samples.min(axis=0))
    e = np.frexp(big)[1]
    z = np.ldexp(samples, -e, out=samples)  # in place: the caller's temporary
    if exponents is not None:
        e = e + exponents
    with np.errstate(over="ignore"):
        mean = np.ldexp(z.mean(axis=0), e)
        if S > 1:
            se = np.ldexp(z.std(axis=0, ddof=1), e) / math.sqrt(S)
        else:
            se = np.full_like(mean, np.inf)
    check_finite_result(owner, quantity, mean)
    return mean, se
