"""Numpy ``phi`` and its derivatives for every activation (pointwise forms).

Each builder returns a tuple ``(phi, phi', phi'', phi''')`` of vectorised numpy
functions; a ``None`` derivative is unknown in closed form (the series engine
then derives it by Stein's identity, see :mod:`sknnk._numerics.series`).
:mod:`sknnk._numerics.registry` attaches one builder to each activation; the
finite networks, the random-feature samplers and the series engine all call
these functions and no other numpy copy of an activation exists.

Conventions shared with the dual kernels: the step function is ``1[x > 0]``,
and step and sign have ``phi' = 0`` (their ``G`` is 0: a finite network has no
gradient through a jump). Kinks and jumps sit at 0.
"""

import math

import numpy as np
from scipy import special

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

#: Constants of SELU (Klambauer et al., 2017): ``SELU_SCALE * ELU(SELU_ALPHA)``.
SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


#: Beyond this |x| the Gaussian factors exp(-x^2 / 2) and exp(-x^2) are 0
#: (exp(-2048) underflows float64): |x| is clipped there before squaring, so
#: float32 inputs ~1e20 give the 0 without an overflow warning.
_X_GAUSS = 64.0


def _gauss_range(x):
    """``x`` clipped to ``[-_X_GAUSS, _X_GAUSS]`` (in its dtype)."""
    return np.clip(x, -_X_GAUSS, _X_GAUSS)


def _npdf(x):
    x = _gauss_range(x)
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def _zeros(x):
    return np.zeros_like(x)


def _ones(x):
    return np.ones_like(x)


# ------------------------------------------------------------ piecewise linear
def identity():
    """``phi(x) = x``."""
    return (lambda x: x.copy()), _ones, _zeros, _zeros


def abrelu(a, b):
    """``phi(x) = a min(x, 0) + b max(x, 0)``; ``(0, 1)`` is ReLU."""
    if (a, b) == (0.0, 1.0):

        def phi(x):
            return np.maximum(x, 0)

        def dphi(x):
            return (x > 0).astype(x.dtype)

        return phi, dphi, None, None

    def phi(x):
        neg = np.minimum(x, 0)
        neg *= x.dtype.type(a)
        pos = np.maximum(x, 0)
        pos *= x.dtype.type(b)
        pos += neg
        return pos

    def dphi(x):
        return np.where(x > 0, x.dtype.type(b), x.dtype.type(a))

    return phi, dphi, None, None


def step():
    """``phi(x) = 1[x > 0]`` with ``phi' = 0`` (see the module conventions)."""
    return (lambda x: (x > 0).astype(x.dtype)), _zeros, None, None


def sign():
    """``phi(x) = sign(x)`` with ``phi' = 0``."""
    return np.sign, _zeros, None, None


def relu_power(n):
    """``phi(x) = max(x, 0)**n`` (the arc-cosine activations); 0 is the step."""
    if n == 0:
        return step()
    if n == 1:
        return abrelu(0.0, 1.0)

    def phi(x):
        return np.maximum(x, 0.0) ** n

    def dphi(x):
        return n * np.maximum(x, 0.0) ** (n - 1)

    return phi, dphi, None, None


def elu(alpha, lam):
    """``phi(x) = lam (max(x, 0) + alpha (exp(min(x, 0)) - 1))`` (ELU, SELU)."""

    def phi(x):
        return lam * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))

    def dphi(x):
        return lam * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))

    def d2phi(x):
        return lam * np.where(x > 0, 0.0, alpha * np.exp(np.minimum(x, 0.0)))

    # phi' jumps at 0 unless alpha = 1 (then phi'' is a function)
    return phi, dphi, (d2phi if alpha == 1.0 else None), None


# ------------------------------------------------------------ closed-form duals
def erf():
    """``phi(x) = erf(x)``, ``phi'(x) = 2 exp(-x^2) / sqrt(pi)``."""

    def dphi(x):
        out = np.square(_gauss_range(x))
        np.negative(out, out=out)
        np.exp(out, out=out)
        out *= x.dtype.type(_TWO_OVER_SQRT_PI)
        return out

    return special.erf, dphi, None, None


def sin():
    """``phi(x) = sin(x)``."""
    return np.sin, np.cos, (lambda x: -np.sin(x)), (lambda x: -np.cos(x))


def cos():
    """``phi(x) = cos(x)``."""
    return np.cos, (lambda x: -np.sin(x)), (lambda x: -np.cos(x)), np.sin


# ------------------------------------------------------------ series activations
def _tanh1(x):
    t = np.tanh(x)
    return 1.0 - t * t


def _tanh2(x):
    t = np.tanh(x)
    return -2.0 * t * (1.0 - t * t)


def _tanh3(x):
    t = np.tanh(x)
    return -2.0 * (1.0 - t * t) * (1.0 - 3.0 * t * t)


def tanh():
    """``phi(x) = tanh(x)``."""
    return np.tanh, _tanh1, _tanh2, _tanh3


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


def sigmoid():
    """The logistic function ``1 / (1 + exp(-x))``."""
    return special.expit, _sig1, _sig2, _sig3


def _softplus(x):
    return np.logaddexp(0.0, x)


def softplus():
    """``phi(x) = log(1 + exp(x))``."""
    return _softplus, special.expit, _sig1, _sig2


def _swish(x):
    return x * special.expit(x)


def _swish1(x):
    return special.expit(x) + x * _sig1(x)


def _swish2(x):
    return 2.0 * _sig1(x) + x * _sig2(x)


def _swish3(x):
    return 3.0 * _sig2(x) + x * _sig3(x)


def swish():
    """Swish / SiLU ``x sigmoid(x)``."""
    return _swish, _swish1, _swish2, _swish3


def _gelu(x):
    return x * special.ndtr(x)


def _gelu1(x):
    return special.ndtr(x) + x * _npdf(x)


def _gelu2(x):
    x = _gauss_range(x)  # the same values (0 beyond), no overflow of x^2
    return (2.0 - x * x) * _npdf(x)


def _gelu3(x):
    x = _gauss_range(x)
    return (x**3 - 4.0 * x) * _npdf(x)


def gelu():
    """Exact GELU ``x Phi(x)``."""
    return _gelu, _gelu1, _gelu2, _gelu3


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


def gelu_tanh():
    """The tanh approximation of GELU."""
    return _gelu_tanh, _gelu_tanh1, _gelu_tanh2, None


# ------------------------------------------------------------ user functions
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


def _as_float(fn):
    def call(x):
        return np.asarray(fn(x), dtype=float)

    return call


def custom(function, derivative=None):
    """A user callable (and its derivative, else central differences)."""
    fn = _as_float(function)
    d1 = numerical_derivative(fn) if derivative is None else _as_float(derivative)
    return fn, d1, None, None
