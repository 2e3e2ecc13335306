"""Pointwise ``phi`` and ``phi'`` of every activation, as numpy functions.

The kernels evaluate an activation through its dual (``F`` and ``G``); the
random-feature samplers of :mod:`sknnk.random_features` run a finite
network and need the activation itself and its derivative on arrays.
:func:`pointwise` returns both for any resolved
:class:`~sknnk._numerics.activations.ActivationSpec`: the spec's own numpy
functions when it carries them (Hermite-series activations, user callables),
otherwise an implementation per closed-form code.

Conventions shared with the kernels: the step function is ``1[x > 0]``, and
step and sign have ``phi' = 0`` (their ``G`` is 0: a finite network has no
gradient through a jump).

Every function returns an array of the dtype of its (floating) input, so a
float32 network stays float32; the input is never modified.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special

from ._numerics import activations as _na
from ._numerics.smooth import numerical_derivative
from .activations import _relu_power

Pointwise = Callable[[np.ndarray], np.ndarray]

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _typed(fn: Pointwise) -> Pointwise:
    """Wrap ``fn`` so that it returns an array of its input's dtype."""

    def call(x):
        return np.asarray(fn(x), dtype=x.dtype)

    return call


def _identity():
    return (lambda x: x.copy()), (lambda x: np.ones_like(x))


def _relu():
    def phi(x):
        return np.maximum(x, 0)

    def dphi(x):
        return (x > 0).astype(x.dtype)

    return phi, dphi


def _erf():
    def dphi(x):
        out = np.square(x)
        np.negative(out, out=out)
        np.exp(out, out=out)
        out *= x.dtype.type(_TWO_OVER_SQRT_PI)
        return out

    return special.erf, dphi


def _abrelu(a, b):
    def phi(x):
        neg = np.minimum(x, 0)
        neg *= x.dtype.type(a)
        pos = np.maximum(x, 0)
        pos *= x.dtype.type(b)
        pos += neg
        return pos

    def dphi(x):
        return np.where(x > 0, x.dtype.type(b), x.dtype.type(a))

    return phi, dphi


def _step():
    return (lambda x: (x > 0).astype(x.dtype)), (lambda x: np.zeros_like(x))


def _sign():
    return np.sign, (lambda x: np.zeros_like(x))


def pointwise(spec: _na.ActivationSpec) -> tuple[Pointwise, Pointwise]:
    """Return ``(phi, phi')`` of a resolved activation as numpy functions.

    Parameters
    ----------
    spec : ActivationSpec
        From :func:`sknnk.activations.resolve_activation`.

    Returns
    -------
    phi, dphi : callable
        Vectorised functions of a float array, returning a new array of the
        same shape and dtype.
    """
    if spec.funcs is not None:
        phi = spec.funcs[0]
        dphi = spec.funcs[1] if spec.funcs[1] is not None else None
        if dphi is None:
            dphi = numerical_derivative(phi)
        return _typed(phi), _typed(dphi)
    code = spec.code
    a, b = (float(p) for p in spec.prm[:2])
    if code == _na.IDENTITY:
        return _identity()
    if code == _na.RELU:
        return _relu()
    if code == _na.ERF:
        return _erf()
    if code == _na.ABRELU:
        return _abrelu(a, b)
    if code == _na.STEP:
        return _step()
    if code == _na.SIGN:
        return _sign()
    if code == _na.ARCCOS:
        phi, dphi = _relu_power(int(round(a)))
        return _typed(phi), _typed(dphi)
    if code == _na.SIN:
        return np.sin, np.cos
    if code == _na.COS:
        return np.cos, (lambda x: -np.sin(x))
    # ELU/SELU specs and series activations carry their numpy functions
    raise NotImplementedError(  # pragma: no cover - a new code without a case
        f"No pointwise form of the activation {spec.name!r} (code {code})."
    )
