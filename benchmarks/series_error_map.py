"""Error map of the series activations: layer variance x correlation.

Usage::

    python benchmarks/series_error_map.py               # every series activation
    python benchmarks/series_error_map.py --act tanh gelu --ntk 0

For each series activation, the largest error over the correlations
``rho in {-1 + 2e-3 (y = -x), -0.9, -0.5, 0, 0.5, 0.9, 0.999, 1 - 1e-12}`` of
a depth-1 kernel entry (NTK by default, so that ``F`` and ``G`` both enter) and
of its gradients ``d/dlog sigma_w`` and ``d/dlog sigma_b``, relative to
``sqrt(k(x, x) k(y, y))``, at layer-0 variances ``q = 1e-2 ... 1e3``
(``sigma_w = 1``, ``sigma_b^2 = 1e-3 q``). The reference is independent of
sknnk: nested Gauss-Legendre quadrature of the 2-D Gaussian integrals and a
five-point central difference of the reference recursion
(``tests/test_series_accuracy.py``). ``refused`` marks a gradient the kernel
refuses (a ``ValueError``); ``W`` a truncation warning of the kernel.

tanh and sigmoid switch from the series to their Gaussian scale mixture
(:mod:`sknnk._numerics.mixture`), softplus to the closed form from sigmoid's
(``SOFTPLUS_MIX``), above ``SERIES_MAX_VARIANCE``; ``--method
series`` or ``--method mixture`` forces one method at every variance (to
measure both where they overlap), ``--q`` chooses the variances::

    python benchmarks/series_error_map.py --act tanh sigmoid --method mixture \
        --q 1 38 100 1e3 1e6
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_series_accuracy as ref  # noqa: E402

from sknnk import NNGPKernel, NTKKernel  # noqa: E402
from sknnk.activations import ArcCosine, Custom  # noqa: E402

ACTIVATIONS = {
    "tanh": ("tanh", "tanh"),
    "sigmoid": ("sigmoid", "sigmoid"),
    "softplus": ("softplus", "softplus"),
    "swish": ("swish", "swish"),
    "gelu": ("gelu", "gelu"),
    "gelu_tanh": ("gelu_tanh", "gelu_tanh"),
    "ArcCosine(4)": (ArcCosine(4), "arccos4"),
    "Custom(tanh)": (Custom(np.tanh), "tanh"),
    "mish": ("mish", "mish"),
    # mish as a user writes it, with its derivative (the split tier)
    "Custom(mish)": (
        Custom(
            lambda x: x * np.tanh(np.log1p(np.exp(x))),
            derivative=lambda x: np.tanh(np.log1p(np.exp(x)))
            + x * (1.0 - np.tanh(np.log1p(np.exp(x))) ** 2) / (1.0 + np.exp(-x)),
            name="mish",
        ),
        "mish",
    ),
}
VARIANCES = (1e-2, 1e-1, 1.0, 10.0, 38.0, 100.0, 300.0, 1e3)
RHOS = (-1.0, -0.9, -0.5, 0.0, 0.5, 0.9, 0.999, 1 - 1e-12)


#: ``series_max_variance`` that forces a method (tanh, sigmoid, softplus)
FORCE = {"auto": None, "series": np.inf, "mixture": 0.0}


def entry_errors(activation, key, q, rho, ntk, method="auto"):
    """``(value error, (grad_w error, grad_b error) or None, warned)``."""
    x, y, sw, sb = ref._pair(q, rho)
    cls = NTKKernel if ntk else NNGPKernel
    kernel = cls(depth=1, activation=activation, sigma_w=sw, sigma_b=sb)
    spec = kernel._check_params()
    if FORCE[method] is not None and spec.mixture is not None:
        spec.series_max_variance = FORCE[method]  # the kernel's resolved copy
    X = np.vstack([x, y])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        from sknnk._numerics import series

        series.reset_warnings()
        try:
            K, dK = kernel(X, eval_gradient=True)
        except ValueError:
            K, dK = kernel(X), None
    warned = any("Hermite" in str(w.message) for w in caught)
    r = ref.reference_kernels(x, y, key, 1, sw, sb)[int(ntk)]
    rxx = ref.reference_kernels(x, x, key, 1, sw, sb)[int(ntk)]
    ryy = ref.reference_kernels(y, y, key, 1, sw, sb)[int(ntk)]
    scale = np.sqrt(rxx * ryy)
    e_value = abs(K[0, 1] - r) / scale
    if dK is None:
        return e_value, None, warned
    g = ref.reference_gradient(x, y, key, 1, sw, sb, ntk)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    e_grad = tuple(
        abs(dK[0, 1, names.index(f"sigma_{p}")] - g[i]) / scale
        for i, p in enumerate("wb")
    )
    return e_value, e_grad, warned


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--act", nargs="*", default=list(ACTIVATIONS))
    parser.add_argument("--ntk", type=int, default=1)
    parser.add_argument("--method", choices=sorted(FORCE), default="auto")
    parser.add_argument("--q", nargs="*", type=float, default=list(VARIANCES))
    args = parser.parse_args(argv)
    kind = "NTK" if args.ntk else "NNGP"
    print(
        f"method {args.method}; depth-1 {kind}; "
        "max over rho of |error| / sqrt(k(x,x) k(y,y))"
    )
    print(f"{'activation':14s} {'q':>7s} {'value':>9s} {'d/dlog sw':>10s} "
          f"{'d/dlog sb':>10s}  notes  seconds")  # fmt: skip
    for name in args.act:
        activation, key = ACTIVATIONS[name]
        for q in args.q:
            t0 = time.perf_counter()
            ev, gw, gb, warned, refused = 0.0, 0.0, 0.0, False, False
            for rho in RHOS:
                e_value, e_grad, w = entry_errors(
                    activation, key, q, rho, args.ntk, args.method
                )
                ev = max(ev, e_value)
                warned = warned or w
                if e_grad is None:
                    refused = True
                else:
                    gw, gb = max(gw, e_grad[0]), max(gb, e_grad[1])
            notes = ("W" if warned else "") + (" refused" if refused else "")
            grads = ("refused", "refused") if refused else (f"{gw:.1e}", f"{gb:.1e}")
            took = time.perf_counter() - t0
            print(f"{name:14s} {q:7.3g} {ev:9.1e} {grads[0]:>10s} {grads[1]:>10s}  "
                  f"{notes:6s} {took:6.1f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
