"""Fit the erf mixture of gelu_tanh used by ``sknnk._numerics.mixture``.

Usage::

    python benchmarks/fit_gelu_tanh.py          # fit; print the constants, sup errors
    python benchmarks/fit_gelu_tanh.py --scan   # also scan K and the scale range

``gelu_tanh(x) = x (1 + T(x)) / 2``, ``T(x) = tanh(sqrt(2 / pi) (x + 0.044715
x^3))``, and ``T(x) ~= sum_k a_k erf(x / s_k)`` with ``K`` geometric scales in
``[S_MIN, S_MAX]``, so that ``gelu_tanh`` is an ``XERF_MIX`` activation (the
closed form of :func:`sknnk._numerics.activations.xerf_partials`). ``T``
tends to its limits like ``exp(-c x^3)``, faster than any erf: no positive
mixture fits it (non-negative least squares stalls near 1e-3), the
amplitudes are signed (``max |a_k|`` ~ 1e2, so the dual's ``K^2`` sums
cancel to ~1e-11 of their size). As ``benchmarks/fit_mixture.py`` for tanh:
one linear least-squares problem on ``x in [0, 20]`` whose rows are the
residuals of ``(x T)^(n) / 2``, ``n = 0..3`` (the kernel's values need
``phi``, ``phi'``, its gradients ``phi''``, ``phi'''``; ``x / 2`` is exact),
with two equality constraints solved exactly (null-space method):

* ``sum_k a_k = 1``: ``T(+-inf) = +-1``, the ReLU limit at large variance;
* ``sum_k 2 a_k / (sqrt(pi) s_k) = sqrt(2 / pi)``: ``T'(0)``, the
  small-variance limit ``phi ~ x / 2 + sqrt(2 / pi) x^2 / 2``.

The printed sup errors of ``phi .. phi'''`` are measured on a grid of step
1e-3 on ``[0, 40]``, independently of the fit's grid. The selected
configuration (K = 24, scales 0.6..2.5) comes from ``--scan``: all four
sup errors below 6e-11 with the smallest ``sum |a_k|`` (552).
"""

import argparse

import numpy as np
from scipy.linalg import null_space
from scipy.special import erf

K, S_MIN, S_MAX = 24, 0.6, 2.5
C, KAPPA = np.sqrt(2.0 / np.pi), 0.044715
_SQRT_PI = np.sqrt(np.pi)


def _columns(x, s):
    """``(x erf(x / s))^(n) / 2``, ``n = 0..3``: one column per amplitude."""
    X = x[:, None]
    g = 2.0 / (s * _SQRT_PI) * np.exp(-((X / s) ** 2))
    h0 = X * erf(X / s)
    h1 = erf(X / s) + X * g
    h2 = g * (2.0 - 2.0 * X**2 / s**2)
    h3 = g * (X / s**2) * (4.0 * X**2 / s**2 - 8.0)
    return h0 / 2, h1 / 2, h2 / 2, h3 / 2


def _targets(x):
    """``(x T)^(n) / 2``, ``n = 0..3``, of gelu_tanh's ``T``."""
    u = C * (x + KAPPA * x**3)
    u1, u2, u3 = C * (1.0 + 3.0 * KAPPA * x * x), 6.0 * C * KAPPA * x, 6.0 * C * KAPPA
    t = np.tanh(u)
    s = 1.0 - t * t
    e1 = s * u1
    e2 = s * u2 - 2.0 * t * s * u1**2
    e3 = s * u3 - 6.0 * t * s * u1 * u2 - 2.0 * s * s * u1**3 + 4.0 * t * t * s * u1**3
    return x * t / 2, (t + x * e1) / 2, (2 * e1 + x * e2) / 2, (3 * e2 + x * e3) / 2


def fit(k=K, s_min=S_MIN, s_max=S_MAX):
    """``(scales, amplitudes)`` of ``T(x) ~= sum a_k erf(x / s_k)``."""
    s = np.geomspace(s_min, s_max, k)
    x = np.linspace(0.0, 20.0, 4001)
    a_mat = np.vstack(_columns(x, s))
    y = np.concatenate(_targets(x))
    cons = np.vstack([np.ones(k), 2.0 / (s * _SQRT_PI)])
    rhs = np.array([1.0, C])
    a0 = np.linalg.lstsq(cons, rhs, rcond=None)[0]
    null = null_space(cons)
    z = np.linalg.lstsq(a_mat @ null, y - a_mat @ a0, rcond=None)[0]
    return s, a0 + null @ z


def sup_errors(scales, amplitudes, x=None):
    """Sup errors of the mixture's ``phi .. phi'''`` against gelu_tanh's."""
    if x is None:
        x = np.linspace(0.0, 40.0, 40001)
    cols = _columns(x, scales)
    return [float(np.abs(c @ amplitudes - t).max()) for c, t in zip(cols, _targets(x))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scan", action="store_true")
    args = parser.parse_args()
    if args.scan:
        for k in (16, 20, 24, 28):
            for s_min in (0.5, 0.6, 0.65, 0.7):
                for s_max in (1.6, 2.0, 2.5, 3.0):
                    e = sup_errors(*fit(k, s_min, s_max))
                    print(k, s_min, s_max, " ".join(f"{v:.1e}" for v in e))
    s, a = fit()
    np.set_printoptions(precision=17, floatmode="unique")
    print(f"K = {K}, scales = np.geomspace({S_MIN}, {S_MAX}, {K})")
    print("amplitudes =", repr(a))
    slope = (2 * a / (s * _SQRT_PI)).sum()
    print("sum a - 1 =", a.sum() - 1.0, " slope - sqrt(2/pi) =", slope - C)
    print("max |a| =", np.abs(a).max(), " sum |a| =", np.abs(a).sum())
    names = ("phi", "phi'", "phi''", "phi'''")
    print(
        "sup errors:",
        ", ".join(f"{n} {e:.2e}" for n, e in zip(names, sup_errors(s, a))),
    )


if __name__ == "__main__":
    main()
