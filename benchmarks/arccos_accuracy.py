"""Accuracy of the branch-free arccos of the fast ReLU path (and its fit).

Usage::

    python benchmarks/arccos_accuracy.py            # measure the shipped polynomial
    python benchmarks/arccos_accuracy.py --refit    # refit it (needs mpmath)

The vectorised ReLU kernels (``sknnk/_numerics/fast.py``) need ``pi - theta``
with ``theta = arccos(rho)``. They use ``arcsin(y) = y + y z P(z)`` with
``z = y^2 in [0, 1/4]`` and a degree-12 polynomial ``P``: ``y = |rho|`` for
``|rho| <= 1/2`` and ``y = sqrt((1 - |rho|) / 2)`` (half-angle form) above.

``--refit`` recomputes ``P`` in 50-digit arithmetic (Lawson-weighted least
squares at 600 Chebyshev nodes, which converges to the minimax polynomial) and
prints its coefficients and maximum error. Without it, the script measures the
shipped double-precision kernel against ``math.acos`` (``pi - arccos(rho) =
arccos(-rho)``) on a dense grid, on random points, and on the 2000 doubles
nearest to each end of [-1, 1], and, when mpmath is available, against
50-digit values on a sample.
"""

import argparse
import math

import numpy as np

from sknnk._numerics.fast import _ASIN_COEF, constants, polynomial_array


def refit(degree=12, nodes=600, iterations=30):
    import mpmath as mp

    mp.mp.dps = 50

    def target(z):  # P(z) = (arcsin(sqrt z) - sqrt z) / z^(3/2)
        if z == 0:
            return mp.mpf(1) / 6
        y = mp.sqrt(z)
        return (mp.asin(y) - y) / (z * y)

    a, b = mp.mpf(0), mp.mpf(1) / 4
    xs = [
        (a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (k + 0.5) / nodes)
        for k in range(nodes)
    ]
    fs = [target(x) for x in xs]
    w = [mp.mpf(1)] * nodes
    for _ in range(iterations):
        A = mp.matrix(nodes, degree + 1)
        rhs = mp.matrix(nodes, 1)
        for i, x in enumerate(xs):
            sw = mp.sqrt(w[i])
            for j in range(degree + 1):
                A[i, j] = sw * x**j
            rhs[i] = sw * fs[i]
        c = mp.qr_solve(A, rhs)[0]
        err = [
            abs(sum(c[j] * x**j for j in range(degree + 1)) - f) for x, f in zip(xs, fs)
        ]
        total = sum(wi * e for wi, e in zip(w, err))
        w = [wi * e / total for wi, e in zip(w, err)]
    print(f"degree {degree}: max |P - P*| = {mp.nstr(max(err), 3)} on [0, 1/4]")
    for j in range(degree + 1):
        print(f"    {float(c[j])!r},")


def measure():
    cst = constants(np.float64)
    rng = np.random.default_rng(0)
    sets = {
        "grid 4e6": np.linspace(-1.0, 1.0, 4_000_001),
        "random 2e6": rng.uniform(-1.0, 1.0, 2_000_000),
        "2000 below +1": np.nextafter(1.0, 0.0) - np.arange(2000) * 2.0**-53,
        "2000 above -1": -1.0 + np.arange(1, 2001) * 2.0**-53,
        "|rho| near 1/2": 0.5 + np.arange(-1000, 1001) * 2.0**-53,
    }
    print(f"{'points':>15} {'max abs err':>12} {'max rel err':>12} {'ulp(max)':>9}")
    for name, x in sets.items():
        ref = np.array([math.acos(-v) for v in x])
        got = polynomial_array(x, cst, False)
        err = np.abs(got - ref)
        pos = ref > 0
        rel = (err[pos] / ref[pos]).max()
        ulps = (err / np.spacing(np.maximum(ref, 1e-300))).max()
        print(f"{name:>15} {err.max():12.2e} {rel:12.2e} {ulps:9.1f}")
    try:
        import mpmath as mp
    except ImportError:
        return
    mp.mp.dps = 40
    x = np.concatenate([rng.uniform(-1, 1, 20000), 1 - rng.uniform(0, 1e-6, 2000)])
    got = polynomial_array(x, cst, False)
    atan2 = np.pi - np.arctan2(np.sqrt((1.0 - x) * (1.0 + x)), x)
    for name, vals in (("polynomial", got), ("pi - atan2 form", atan2)):
        ref = [mp.acos(-mp.mpf(v)) for v in x]
        err = max(abs(float(r - mp.mpf(g))) for r, g in zip(ref, vals))
        print(f"{name}: max abs err vs 40-digit mpmath ({x.size} points) {err:.2e}")
    print(f"polynomial coefficients shipped: {len(_ASIN_COEF)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refit", action="store_true")
    args = parser.parse_args()
    refit() if args.refit else measure()


if __name__ == "__main__":
    main()
