r"""Gaussian scale mixture of tanh (and of sigmoid): the fitted constants.

.. math::

    \tanh(x) \approx \sum_{k=1}^{K} a_k \operatorname{erf}(x / s_k),\qquad
    \operatorname{sech}^2(x) \approx \sum_k w_k e^{-x^2 / s_k^2},\quad
    w_k = \frac{2 a_k}{\sqrt\pi\, s_k},

with ``K = 22`` geometric scales ``s_k`` in ``[0.32, 4.5]`` and positive
amplitudes ``a_k`` (no cancellation between terms), fitted by
``benchmarks/fit_mixture.py`` (linear least squares on the residuals of
``phi .. phi'''`` over ``x in [0, 30]``, with ``sum a_k = 1`` and ``sum w_k =
1`` exact: the sign-function limit at large variance and the slope
``tanh'(0) = 1`` at small variance). Sup errors on ``x in [0, 40]`` (step
1e-3) against numpy's ``tanh``: ``phi`` 6.0e-15, ``phi'`` 3.9e-15, ``phi''``
3.6e-14, ``phi'''`` 5.5e-13 (``tests/test_mixture.py`` checks them
independently). ``sigmoid(x) = 1/2 + tanh(x/2) / 2`` uses the same mixture
with scales ``2 s_k``.

Each term ``erf(x / s)`` has the closed-form dual of erf at the scaled
covariance ``[[a, c], [c, b]] / s^2`` (the cross terms at ``c / (s_i s_j)``),
so ``E[tanh(u) tanh(v)] = sum_ij a_i a_j F_erf(a / s_i^2, b / s_j^2, c / (s_i
s_j))``: ``K^2`` arcsine terms per entry at every layer variance (1e-300 to
1e300), see :func:`sknnk._numerics.activations.mixture_partials`.
"""

import numpy as np

#: Number of terms.
K = 22
#: Scales ``s_k``.
SCALES = np.geomspace(0.32, 4.5, K)
#: Amplitudes ``a_k`` of ``erf(x / s_k)`` (benchmarks/fit_mixture.py).
AMPLITUDES = np.array([
    2.2884205394838759e-09, 3.2805055981238717e-07, 1.4435293048139779e-05,
    2.5042329724161532e-04, 2.1051415949319783e-03, 1.0058531445698160e-02,
    3.0907318845048486e-02, 6.7172037997507081e-02, 1.1104842385830312e-01,
    1.4749631235981731e-01, 1.6373414535033023e-01, 1.5582806020183920e-01,
    1.2848750058133721e-01, 9.1133128031402319e-02, 5.4139739933309207e-02,
    2.5748211707073684e-02, 9.2088863189297883e-03, 2.2831025870889304e-03,
    3.5328220517694044e-04, 2.9819528032505507e-05, 1.1516584966401394e-06,
    1.6866406894436012e-08,
])  # fmt: skip
#: ``1 / s_k^2`` and ``a_k / s_k`` (the amplitudes of ``phi'`` up to ``2/sqrt(pi)``,
#: which the erf dual's ``G`` carries).
INV_S2 = 1.0 / SCALES**2
AMP_S = AMPLITUDES / SCALES
INV_S = 1.0 / SCALES

#: Layer variance above which the engine uses the mixture instead of the
#: Hermite series, per activation (``sknnk._numerics.engine``): the series is
#: the faster and accurate choice below (benchmarks/series_error_map.py).
#: softplus: its closed form from sigmoid's mixture (``SOFTPLUS_MIX``); the
#: series agrees with it to 6e-15 up to 200 (7.6e-13 at 300) and is faster.
#: gelu, swish: the closed form ``XERF_MIX``; the series agrees with it to
#: 2e-13 up to 100 (dW/dq; values 1e-14), benchmarks/xerf_error_map.py.
SERIES_MAX_VARIANCE = {
    "tanh": 38.0,
    "sigmoid": 100.0,
    "softplus": 200.0,
    "gelu": 10.0,
    "swish": 100.0,
    "gelu_tanh": 38.0,
}

#: Layer variance above which the NTK gradients of the mixture are refused:
#: the partials ``G_a``, ``G_b`` (~ ``q^-2`` at ``|rho| < 1``) underflow
#: float64 near ``q ~ 1e150`` while the recursion multiplies them by
#: ``dq * Theta ~ q^2`` (values and NNGP gradients are fine up to 1e300).
NTK_GRAD_MAX_VARIANCE = 1e140


#: ``x (1 + E(x)) / 2`` activations with ``E = sum_k a_k erf(x / sigma_k)``
#: (code ``XERF_MIX``, :func:`sknnk._numerics.activations.xerf_partials`):
#: their ``(amplitudes, scales)`` by kind. gelu ``x Phi(x)`` is one exact
#: term, ``erf(x / sqrt 2)``; swish ``x sigmoid(x) = x / 2 + x tanh(x / 2) / 2``
#: is tanh's mixture at the scales ``2 s_k``.
#: gelu_tanh ``x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2``: a fitted
#: mixture (benchmarks/fit_gelu_tanh.py: K = 24 scales in [0.6, 2.5], signed
#: amplitudes, ``sum a_k = 1`` and the slope ``sqrt(2 / pi)`` at 0 exact up to
#: their rounding, 6e-14 and 9e-14; sup errors of ``phi .. phi'''`` on [0, 40]
#: 1.5e-11, 1.0e-11, 2.1e-11, 5.4e-11; ``sum |a_k| = 552``, so the dual's
#: sums cancel to ~1e-11 of their size).
XERF_GELU, XERF_SWISH, XERF_GELU_TANH = 0, 1, 2
GELU_TANH_SCALES = np.geomspace(0.6, 2.5, 24)
GELU_TANH_AMPLITUDES = np.array([
    -7.7409990655065430e-05, 1.3268637672230171e-03, -1.1401219502018367e-02,
    6.5895913823081700e-02, -2.8774819937860008e-01, 1.0124154981780262e+00,
    -3.0083377184157447e+00, 7.7487463124485183e+00, -1.7726935122365951e+01,
    3.6120688765371582e+01, -6.4118266351299937e+01, 9.4763622324480011e+01,
    -1.0932733461584664e+02, 9.4411905868188853e+01, -6.1163587454550829e+01,
    3.4142737603558444e+01, -1.6948687065257463e+01, 7.4539228135587399e+00,
    -2.8503468761731354e+00, 9.1993006690163592e-01, -2.3989327360402474e-01,
    4.7234696342841082e-02, -6.2210505776395392e-03, 4.0963034359814410e-04,
])  # fmt: skip
XERF_TABLES = (
    (np.array([1.0]), np.array([np.sqrt(2.0)])),
    (AMPLITUDES, 2.0 * SCALES),
    (GELU_TANH_AMPLITUDES, GELU_TANH_SCALES),
)


def params(scale, offset, amplitude):
    """Engine parameters of ``phi(x) = offset + amplitude tanh(scale x)``."""
    return (float(scale), float(offset), float(amplitude))
