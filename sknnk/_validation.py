"""Parameter, input and random-state checks whose messages name the parameter and fix.

Every public entry point (kernels, samplers, estimators, finite networks,
signal propagation) validates the parameters of the network it describes with
:func:`check_network`, against the one declaration :data:`NETWORK_PARAMETERS`
(scikit-learn's ``_parameter_constraints`` style: one constraint per
parameter), so the same value gets the same verdict and the same words
everywhere. Inputs go through :func:`check_input` (or :func:`check_real_dtype`
before scikit-learn's ``validate_data``) and seeds through
:func:`check_generator`.
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils import check_random_state as _sk_check_random_state


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
    """A finite real number: ``> 0`` if ``positive``, ``>= 0`` if ``positive``
    is False, any sign if it is None."""
    if isinstance(value, float) and math.isfinite(value):  # the common case, fast
        if positive is None or (value > 0.0 if positive else value >= 0.0):
            return
    rel = {True: " > 0", False: " >= 0", None: ""}[positive]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"The '{name}' parameter of {owner} must be a float{rel}. " + _got(value)
        )
    bad = not np.isfinite(value) or (
        positive is not None and (value <= 0 if positive else value < 0)
    )
    if bad:
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a finite float{rel}. "
            + _got(value)
        )


def check_bounds(owner, name, value):
    """``"fixed"`` or a pair ``(low, high)`` with ``0 < low <= high``."""
    if type(value) is tuple and len(value) == 2:  # the common case, fast
        low, high = value
        if (
            isinstance(low, float)
            and isinstance(high, float)
            and math.isfinite(high)
            and 0.0 < low <= high
        ):
            return
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


class ComplexInputError(ValueError, TypeError):
    """Raised for complex-valued input.

    A ``ValueError`` (as scikit-learn's estimators raise for complex data) and
    a ``TypeError`` (it is the dtype that is wrong).
    """


def check_real_dtype(X, name: str, owner: str) -> None:
    """Refuse complex-valued ``X`` with :class:`ComplexInputError`."""
    if hasattr(X, "dtype") and np.iscomplexobj(X):
        raise ComplexInputError(
            f"Complex data not supported: {name} passed to {owner} has complex "
            f"dtype {X.dtype}; sknnk takes real-valued features. Pass the real "
            "part, or split real and imaginary parts into separate columns."
        )


def check_input(X, name, owner):
    """Return ``X`` as a finite C-contiguous 2-D float64 array (never
    modifying the input).

    C order for every input: the squared row norms (``einsum``) and so the
    kernel's bits would otherwise depend on the layout of the same numbers
    (Fortran order, strided views). ``X`` is returned as is when it already
    is such an array (a plain ``numpy.ndarray``, at least one row and one
    column, only finite entries) -- what :func:`sklearn.utils.check_array`
    returns for it, without its ~40 us of general checks (dataframes, sparse
    matrices, dtype conversion) on every kernel call. Everything else goes
    through ``check_array``, so every refusal has scikit-learn's message.

    Raises
    ------
    ComplexInputError
        For complex-valued ``X``.
    ValueError, TypeError
        From :func:`sklearn.utils.check_array` (non-finite entries, wrong
        number of dimensions, empty input, sparse matrices, ...).
    """
    if (
        type(X) is np.ndarray
        and X.dtype == np.float64
        and X.ndim == 2
        and X.flags.c_contiguous
        and X.shape[0] > 0
        and X.shape[1] > 0
        and np.isfinite(X).all()
    ):
        return X
    check_real_dtype(X, name, owner)
    return check_array(
        X,
        dtype=np.float64,
        order="C",
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


# ------------------------------------------------------------ network parameters
class _Int:
    """An int ``>= low``."""

    def __init__(self, low):
        self.low = low

    def check(self, owner, name, value):
        check_int(owner, name, value, self.low)


class _Real:
    """A finite float, ``> 0`` (``positive``) or ``>= 0``."""

    def __init__(self, positive):
        self.positive = positive

    def check(self, owner, name, value):
        check_real(owner, name, value, self.positive)


class _Options:
    """One of a set of strings."""

    def __init__(self, *options):
        self.options = options

    def check(self, owner, name, value):
        check_options(owner, name, value, self.options)


def check_length_scale(owner, value, n_features=None):
    """A length scale: a finite float ``> 0`` or a 1-D array of them.

    With ``n_features`` (at call or fit time) an array must have exactly
    ``n_features`` entries (one per input feature, as scikit-learn's
    anisotropic ``RBF``). Returns the value as a float or a float64 array
    (a copy: the caller's array is never modified).

    Raises
    ------
    TypeError, ValueError
        Naming ``length_scale``, what it must be and the value (its length
        and ``n_features`` for a length mismatch).
    """
    if type(value) is float and 0.0 < value < math.inf:  # the common case, fast
        return value
    what = (
        f"The 'length_scale' parameter of {owner} must be a float > 0 or a 1-D "
        "array of finite floats > 0 (one per feature)."
    )
    if np.ndim(value) == 0:
        if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Real, np.ndarray)
        ):
            raise TypeError(what + " " + _got(value))
        scale = float(value)
        if not (np.isfinite(scale) and scale > 0):
            raise ValueError(what + " " + _got(value))
        return scale
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(what + " " + _got(value)) from None
    if (
        np.asarray(value).dtype.kind not in "fiu"
        or arr.ndim != 1
        or arr.size == 0
        or not np.all(np.isfinite(arr))
        or not np.all(arr > 0)
    ):
        raise ValueError(what + " " + _got(value))
    if n_features is not None and arr.size != n_features:
        raise ValueError(
            f"The 'length_scale' parameter of {owner} has {arr.size} entries but "
            f"X has {n_features} features: pass one length scale per feature "
            f"(an array of length n_features={n_features}) or a single float."
        )
    return arr


def check_length_scale_bounds(owner, value, length_scale):
    """``length_scale_bounds``: ``"auto"``, ``"fixed"``, a pair ``(low,
    high)`` or, for an array ``length_scale`` of ``n`` entries, ``n`` such
    pairs (shape ``(n, 2)``, one per feature, as scikit-learn's
    ``Hyperparameter``); a ``ValueError`` naming the parameter otherwise."""
    if isinstance(value, str) and value == "auto":
        return
    if np.iterable(length_scale) and not isinstance(value, str):
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            arr = None
        n = len(length_scale)
        if arr is not None and arr.ndim == 2:
            if arr.shape == (n, 2) and all(
                np.isfinite(hi) and 0 < lo <= hi for lo, hi in arr
            ):
                return
            raise ValueError(
                f"The 'length_scale_bounds' parameter of {owner} must be 'auto', "
                f"'fixed', a pair (low, high) or one pair per feature (shape "
                f"({n}, 2)) with 0 < low <= high. " + _got(value)
            )
    check_bounds(owner, "length_scale_bounds", value)


class _LengthScale:
    """A length scale (:func:`check_length_scale`; its length is checked
    against the features at call or fit time)."""

    def check(self, owner, name, value):
        check_length_scale(owner, value)


class _Activation:
    """A name, an object of :mod:`sknnk.activations` or a callable; the check
    returns the resolved activation."""

    def check(self, owner, name, value):
        from .activations import resolve_activation

        return resolve_activation(value, owner)


# ------------------------------------------------------------ architecture (issue 16)
class _Bool:
    """``True`` or ``False`` (numpy booleans included)."""

    def check(self, owner, name, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(
                f"The '{name}' parameter of {owner} must be a bool. " + _got(value)
            )


class _Normalization:
    """``None`` or ``"layer"``."""

    def check(self, owner, name, value):
        if value is not None and value != "layer":
            raise ValueError(
                f"The '{name}' parameter of {owner} must be None or a str among "
                "{'layer'} "
                "(layer normalisation of the pre-activations). " + _got(value)
            )


_ARCHITECTURE = {
    "length_scale": _LengthScale(),
    "residual": _Bool(),
    "branch_scale": _Real(positive=True),
    "normalization": _Normalization(),
}


def feature_scales(owner, length_scale, n_features):
    """The per-feature scales ``l`` of the first layer for ``n_features``
    inputs (:func:`check_length_scale`), as the samplers and finite networks
    apply them.

    Returns
    -------
    scales : ndarray of shape (n_features,) or None
        The scales as float64, or None when every scale is 1 (the inputs are
        then used as they are, so that the results are bitwise those without
        scales).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_length_scale`.
    """
    arr = check_length_scale(owner, length_scale, n_features)
    if np.all(arr == 1.0):
        return None
    return np.broadcast_to(np.asarray(arr, dtype=np.float64), (n_features,)).copy()


# ------------------------------------------------------------ the network
#: The parameters of a fully-connected network and their constraints, in the
#: order they are checked.
NETWORK_PARAMETERS = {
    "depth": _Int(0),
    "activation": _Activation(),
    "sigma_w": _Real(positive=True),
    "sigma_b": _Real(positive=False),
    "parameterization": _Options("ntk", "standard"),
    "width": _Int(1),
    **_ARCHITECTURE,
}


def check_network(owner: str, **params):
    """Check network parameters against :data:`NETWORK_PARAMETERS`.

    Parameters
    ----------
    owner : str
        The class or function named in messages.
    **params
        Any of ``depth``, ``activation``, ``sigma_w``, ``sigma_b``,
        ``parameterization``, ``width``, ``length_scale``, ``residual``,
        ``branch_scale`` and ``normalization``. With
        ``parameterization="standard"`` a ``width`` of None is refused (that
        NTK has no infinite-width limit); with ``"ntk"`` the width is not
        checked (a finite network passes its width without a
        parameterization).

    Returns
    -------
    activation : Resolved or None
        The resolved activation if ``activation`` was given.

    Raises
    ------
    TypeError, ValueError
        Naming the first invalid parameter, what it must be and the value.
    """
    unknown = set(params) - set(NETWORK_PARAMETERS)
    if unknown:  # pragma: no cover - a programming error
        raise TypeError(f"unknown network parameters {sorted(unknown)}")
    resolved = None
    param = params.get("parameterization")
    for name, constraint in NETWORK_PARAMETERS.items():
        if name not in params:
            continue
        value = params[name]
        if name == "width":
            if param == "ntk":
                continue
            if param == "standard" and value is None:
                raise ValueError(
                    f"{owner}(parameterization='standard') needs an explicit "
                    "'width' (the number of units of every hidden layer): the "
                    "standard-parameterization NTK grows with the width and has "
                    "no infinite-width limit. Pass e.g. width=1024, or use "
                    "parameterization='ntk'."
                )
        out = constraint.check(owner, name, value)
        if name == "activation":
            resolved = out
    return resolved


def check_generator(random_state) -> np.random.Generator:
    """A ``numpy.random.Generator`` from scikit-learn's ``random_state``.

    One convention for every random draw in sknnk: an int seeds the
    generator directly; None and ``RandomState`` instances go through
    :func:`sklearn.utils.check_random_state` and give a seed drawn from that
    ``RandomState`` (the global one for None, so ``np.random.seed`` makes None
    reproducible); a ``Generator`` is used as is.

    Raises
    ------
    ValueError
        For any other value (scikit-learn's message).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return np.random.default_rng(int(random_state))
    rs = _sk_check_random_state(random_state)
    return np.random.default_rng(rs.randint(np.iinfo(np.int32).max))


def check_network_of(estimator, ntk: bool = False):
    """:func:`check_network` on the network parameters of a kernel, sampler or
    estimator (its attributes ``depth``, ``activation``, ``sigma_w``,
    ``sigma_b``, those of ``length_scale``, ``residual``, ``branch_scale`` and
    ``normalization`` it has and, for an NTK, ``parameterization`` and
    ``width``); messages
    name ``type(estimator).__name__``. Returns the resolved activation."""
    params = {
        name: getattr(estimator, name)
        for name in ("depth", "activation", "sigma_w", "sigma_b")
    }
    params.update(
        (name, getattr(estimator, name))
        for name in _ARCHITECTURE
        if hasattr(estimator, name)
    )
    if ntk:
        params.update(
            parameterization=estimator.parameterization, width=estimator.width
        )
    return check_network(type(estimator).__name__, **params)
