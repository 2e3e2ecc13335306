"""Dual activations: ``F = E[phi(u) phi(v)]`` and ``G = E[phi'(u) phi'(v)]``.

For a centred Gaussian pair ``(u, v)`` with covariance ``[[a, c], [c, b]]`` every
activation provides

* ``F(a, b, c)`` and ``G(a, b, c)`` (the NNGP map and the NTK factor),
* their partial derivatives with respect to ``a``, ``b`` and ``c`` (for the
  forward-mode hyperparameter gradients),
* the diagonal values ``V(q) = F(q, q, q)``, ``W(q) = G(q, q, q)`` and their
  derivatives ``dV/dq``, ``dW/dq`` (for the one-dimensional recursion).

Closed-form activations are evaluated per entry by numba functions selected by
an integer code.  Activations without a closed form use the Hermite (Mehler)
series of :mod:`sknnk._numerics.series`; they carry the code ``SERIES``.
"""

import math

import numpy as np
from numba import njit

# Integer codes used by the compiled recursion.
SERIES = 0
IDENTITY = 1
RELU = 2
ERF = 3

_TWO_PI = 2.0 * math.pi
_RHO_SNAP = 4e-15


@njit(cache=True, nogil=True, inline="always")
def _angle(rho):
    """Return ``(theta, sin(theta))`` for ``rho = cos(theta)`` clipped to [-1, 1].

    ``sin(theta)`` is formed as ``sqrt((1 - rho)(1 + rho))`` and ``theta`` with
    ``atan2`` so that neither loses accuracy near ``rho = +-1``. A correlation
    within rounding error of +-1 (``1 - |rho| <= _RHO_SNAP``, as for duplicate
    or parallel inputs whose dot products were summed in different orders) is
    taken as exactly +-1, so duplicates get identical kernel values; the
    resulting change of ``theta`` is below its own rounding error.
    """
    if rho >= 1.0 - _RHO_SNAP:
        rho = 1.0
    elif rho <= -1.0 + _RHO_SNAP:
        rho = -1.0
    s = math.sqrt((1.0 - rho) * (1.0 + rho))
    return math.atan2(s, rho), s


@njit(cache=True, nogil=True, inline="always")
def closed_form_dual(code, a, b, c):
    """Return ``(F, G)`` of a closed-form activation at covariance ``(a, b, c)``."""
    if code == RELU:
        ab = a * b
        if ab <= 0.0:
            # zero-variance input: the correlation is irrelevant, use rho = 0
            return 0.0, 0.25
        s = math.sqrt(ab)
        rho = min(1.0, max(-1.0, c / s))
        theta, sin_t = _angle(rho)
        f = s * (sin_t + (math.pi - theta) * rho) / _TWO_PI
        return f, (math.pi - theta) / _TWO_PI
    if code == ERF:
        aa = 1.0 + 2.0 * a
        bb = 1.0 + 2.0 * b
        arg = 2.0 * c / math.sqrt(aa * bb)
        arg = min(1.0, max(-1.0, arg))
        d = aa * bb - 4.0 * c * c
        return 2.0 / math.pi * math.asin(arg), 4.0 / math.pi / math.sqrt(d)
    # IDENTITY
    return c, 1.0


@njit(cache=True, nogil=True, inline="always")
def closed_form_partials(code, a, b, c):
    """Return ``(F, G, F_a, F_b, F_c, G_a, G_b, G_c)`` of a closed-form activation.

    For ReLU the partials of ``G`` diverge like ``1 / sin(theta)`` at
    ``rho = +-1``, where the correlation is constant in every hyperparameter;
    there the combination entering the gradient is zero and so are the returned
    partials (see the notes of the kernel classes).
    """
    if code == RELU:
        ab = a * b
        if ab <= 0.0:
            # a zero-variance input keeps a = 0 (or b = 0) for all
            # hyperparameters: every term of the gradient vanishes
            return 0.0, 0.25, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0
        s = math.sqrt(ab)
        rho = min(1.0, max(-1.0, c / s))
        theta, sin_t = _angle(rho)
        g = (math.pi - theta) / _TWO_PI
        f = s * (sin_t + (math.pi - theta) * rho) / _TWO_PI
        fa = math.sqrt(b / a) * sin_t / (2.0 * _TWO_PI)
        fb = math.sqrt(a / b) * sin_t / (2.0 * _TWO_PI)
        if sin_t == 0.0:
            return f, g, fa, fb, g, 0.0, 0.0, 0.0
        gc = 1.0 / (_TWO_PI * s * sin_t)
        ga = -rho / (2.0 * _TWO_PI * a * sin_t)
        gb = -rho / (2.0 * _TWO_PI * b * sin_t)
        return f, g, fa, fb, g, ga, gb, gc
    if code == ERF:
        aa = 1.0 + 2.0 * a
        bb = 1.0 + 2.0 * b
        arg = min(1.0, max(-1.0, 2.0 * c / math.sqrt(aa * bb)))
        d = aa * bb - 4.0 * c * c
        sd = math.sqrt(d)
        k = 4.0 / math.pi
        g = k / sd
        f = 2.0 / math.pi * math.asin(arg)
        d32 = d * sd
        return (
            f,
            g,
            -k * c / (aa * sd),
            -k * c / (bb * sd),
            g,
            -k * bb / d32,
            -k * aa / d32,
            4.0 * k * c / d32,
        )
    return c, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0


@njit(cache=True, nogil=True)
def closed_form_diag(code, q):
    """Return ``(V, W, dV/dq, dW/dq)`` of a closed-form activation at variance ``q``."""
    if code == RELU:
        return 0.5 * q, 0.5, 0.5, 0.0
    if code == ERF:
        d = 1.0 + 4.0 * q
        sd = math.sqrt(d)
        v = 2.0 / math.pi * math.asin(2.0 * q / (1.0 + 2.0 * q))
        w = 4.0 / math.pi / sd
        # d/dq asin(2q / (1 + 2q)) = 2 / ((1 + 2q) sqrt(1 + 4q))
        dv = 4.0 / math.pi / ((1.0 + 2.0 * q) * sd)
        dw = -8.0 / math.pi / (d * sd)
        return v, w, dv, dw
    return q, 1.0, 1.0, 0.0


def _tanh_derivatives():
    def d1(x):
        t = np.tanh(x)
        return 1.0 - t * t

    def d2(x):
        t = np.tanh(x)
        return -2.0 * t * (1.0 - t * t)

    def d3(x):
        t = np.tanh(x)
        return -2.0 * (1.0 - t * t) * (1.0 - 3.0 * t * t)

    return (np.tanh, d1, d2, d3)


class ActivationSpec:
    """How the recursion evaluates one activation.

    Attributes
    ----------
    name : str
    code : int
        ``SERIES`` or the integer code of a closed form.
    funcs : tuple of callables or None
        ``(phi, phi', phi'', phi''')`` as vectorised numpy functions, for
        activations evaluated by the Hermite series.
    """

    def __init__(self, name, code, funcs=None):
        self.name = name
        self.code = code
        self.funcs = funcs


ACTIVATIONS = {
    "identity": ActivationSpec("identity", IDENTITY),
    "relu": ActivationSpec("relu", RELU),
    "erf": ActivationSpec("erf", ERF),
    "tanh": ActivationSpec("tanh", SERIES, _tanh_derivatives()),
}
