"""Activations without a closed-form dual, as ``(phi, phi', phi'', phi''')``.

Each entry is a tuple of vectorised numpy functions; a ``None`` derivative is
derived by the series engine from the lower one by Stein's identity (used where
the derivative has a jump or a Dirac mass). ELU and SELU have closed-form duals
(code ``ELU`` of :mod:`sknnk._numerics.activations`); their entries here serve
the pointwise evaluation of ``phi`` and ``phi'`` (finite networks, features).
"""

import math

import numpy as np
from scipy import special

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _npdf(x):
    return np.exp(-0.5 * x * x) / _SQRT_2PI


# tanh
def _tanh1(x):
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh2(x):
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _tanh3(x):
    t = np.tanh(x)
    return -2.0 * (1.0 - t * t) * (1.0 - 3.0 * t * t)


# logistic sigmoid and its derivatives (also the derivatives of softplus)
def _sig1(x):
    s = special.expit(x)
    return s * (1.0 - s)


def _sig2(x):
    s = special.expit(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _sig3(x):
    s = special.expit(x)
    d = s * (1.0 - s)
    return d * ((1.0 - 2.0 * s) ** 2 - 2.0 * d)


def _softplus(x):
    return np.logaddexp(0.0, x)


# swish / SiLU: x sigmoid(x)
def _swish(x):
    return x * special.expit(x)


def _swish1(x):
    return special.expit(x) + x * _sig1(x)


def _swish2(x):
    return 2.0 * _sig1(x) + x * _sig2(x)


def _swish3(x):
    return 3.0 * _sig2(x) + x * _sig3(x)


# exact GELU: x Phi(x)
def _gelu(x):
    return x * special.ndtr(x)


def _gelu1(x):
    return special.ndtr(x) + x * _npdf(x)


def _gelu2(x):
    return (2.0 - x * x) * _npdf(x)


def _gelu3(x):
    return (x**3 - 4.0 * x) * _npdf(x)


# tanh approximation of GELU: x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
_GC = math.sqrt(2.0 / math.pi)
_GK = 0.044715


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(_GC * (x + _GK * x**3)))


def _gelu_tanh1(x):
    t = np.tanh(_GC * (x + _GK * x**3))
    du = _GC * (1.0 + 3.0 * _GK * x * x)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du


def _gelu_tanh2(x):
    t = np.tanh(_GC * (x + _GK * x**3))
    sech2 = 1.0 - t * t
    du = _GC * (1.0 + 3.0 * _GK * x * x)
    d2u = _GC * 6.0 * _GK * x
    # d/dx [ (1 + t)/2 + x sech2 du / 2 ]
    return sech2 * du + 0.5 * x * (d2u * sech2 - 2.0 * t * sech2 * du * du)


# ELU (alpha = 1) and SELU (Klambauer et al., 2017); phi'' jumps at 0
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _elu1(x):
    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0)))


def _elu2(x):
    return np.where(x > 0, 0.0, np.exp(np.minimum(x, 0.0)))


def _selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))


def _selu1(x):
    return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))


SMOOTH = {
    "tanh": (np.tanh, _tanh1, _tanh2, _tanh3),
    "sigmoid": (special.expit, _sig1, _sig2, _sig3),
    "softplus": (_softplus, special.expit, _sig1, _sig2),
    "swish": (_swish, _swish1, _swish2, _swish3),
    "gelu": (_gelu, _gelu1, _gelu2, _gelu3),
    "gelu_tanh": (_gelu_tanh, _gelu_tanh1, _gelu_tanh2, None),
    "elu": (_elu, _elu1, _elu2, None),
    "selu": (_selu, _selu1, None, None),
}


def numerical_derivative(fn):
    """Central-difference derivative of a vectorised function.

    The step ``h = 1e-5 (1 + |x|)`` balances truncation (``h^2 |phi'''| / 6``)
    against rounding (``1e-16 |phi| / h``): about 1e-10 relative for smooth
    activations of moderate size.
    """

    def derivative(x):
        x = np.asarray(x, dtype=float)
        h = 1e-5 * (1.0 + np.abs(x))
        return (np.asarray(fn(x + h), float) - np.asarray(fn(x - h), float)) / (2 * h)

    return derivative
