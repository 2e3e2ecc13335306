"""Series activations with affine tails at layer variances up to 1e3.

mish and a user activation (``Custom``) take the split tier of
:mod:`sknnk._numerics.affine` where the grid's default tier cannot resolve a
layer. The reference is the one of ``tests/test_series_accuracy.py``: nested
Gauss-Legendre quadrature of the true activation (written again there, not
taken from sknnk) and five-point central differences of that reference
recursion for the gradients in ``log sigma``. Errors are relative to
``sqrt(k(x, x) k(y, y))``; the reference's own resolution is ~1e-11 for the
gradients.
"""

import math
import warnings

import numpy as np
import pytest
import test_series_accuracy as acc
from scipy import special

from sknnk import NNGPKernel, NTKKernel
from sknnk._numerics import affine, series
from sknnk.activations import Custom


def _user_mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


def _user_dmish(x):
    sp = np.log1p(np.exp(x))
    t = np.tanh(sp)
    return t + x * (1.0 - t * t) / (1.0 + np.exp(-x))


#: the user activation: mish written as a user would, with its derivative
USER = Custom(_user_mish, derivative=_user_dmish, name="user_mish")
ACTIVATIONS = {"mish": "mish", "custom": USER}
#: without its derivative (central differences, ~1e-10): the split tier's
#: tables of phi' come from phi's by Stein's identity, its diagonal from the
#: split, so only the detection reads the differences
NO_DERIVATIVE = {"custom_nd": Custom(_user_mish)}


def _errors(act, q, rho, ntk):
    """Errors of the depth-1 entry of ``acc._pair(q, rho)`` and of its two
    log-gradients; a truncation warning fails the test (none is due)."""
    x, y, sigma_w, sigma_b = acc._pair(q, rho)
    cls = NTKKernel if ntk else NNGPKernel
    activation = {**ACTIVATIONS, **NO_DERIVATIVE}[act]
    kernel = cls(depth=1, activation=activation, sigma_w=sigma_w, sigma_b=sigma_b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K, dK = kernel(np.vstack([x, y]), eval_gradient=True)
    args = (1, sigma_w, sigma_b)
    ref = acc.reference_kernels(x, y, "mish", *args)[int(ntk)]
    rxx = acc.reference_kernels(x, x, "mish", *args)[int(ntk)]
    ryy = acc.reference_kernels(y, y, "mish", *args)[int(ntk)]
    scale = math.sqrt(rxx * ryy)
    g = acc.reference_gradient(x, y, "mish", *args, ntk)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    e_grad = [
        abs(dK[0, 1, names.index(f"sigma_{p}")] - g[i]) / scale
        for i, p in enumerate("wb")
    ]
    e_diag = abs(K[0, 0] - rxx) / rxx
    return abs(K[0, 1] - ref) / scale, max(e_grad), e_diag


FAST = [
    ("mish", 15.0, 0.5, True),  # the default tier falls short: every point split
    ("mish", 1e3, 1 - 1e-12, True),
    ("custom", 1e3, 0.999, False),
    ("mish", 300.0, -1.0, True),
    ("custom_nd", 1e3, 0.999, True),
]


@pytest.mark.parametrize("act,q,rho,ntk", FAST)
def test_against_quadrature(act, q, rho, ntk):
    e_value, e_grad, e_diag = _errors(act, q, rho, ntk)
    assert max(e_value, e_grad, e_diag) < 1e-9, (e_value, e_grad, e_diag)


@pytest.mark.slow
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("q", [100.0, 300.0, 1e3])
@pytest.mark.parametrize("ntk", [True, False])
def test_grid_against_quadrature(act, q, ntk):
    worst = 0.0
    for rho in (-1.0, 0.0, 0.9, 0.999, 1 - 1e-12, 1.0):
        worst = max(worst, *_errors(act, q, rho, ntk))
    assert worst < 1e-9, worst


def test_points_of_small_and_large_variance_in_one_layer():
    # q = 0.5 keeps the default tier's tables, q = 1e3 takes the split tier's:
    # the merged layer against the reference, values and gradients
    sigma_w, sigma_b = 1.0, 0.1
    x = np.array([1.0, 0.0]) * math.sqrt(2 * (0.5 - sigma_b**2))
    y = np.array([0.6, 0.8]) * math.sqrt(2 * (1e3 - sigma_b**2))
    kernel = NTKKernel(depth=1, activation="mish", sigma_w=sigma_w, sigma_b=sigma_b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K, dK = kernel(np.vstack([x, y]), eval_gradient=True)
    args = (1, sigma_w, sigma_b)
    scale = math.sqrt(
        acc.reference_kernels(x, x, "mish", *args)[1]
        * acc.reference_kernels(y, y, "mish", *args)[1]
    )
    assert abs(K[0, 1] - acc.reference_kernels(x, y, "mish", *args)[1]) < 1e-9 * scale
    g = acc.reference_gradient(x, y, "mish", *args, True)
    names = [h.name for h in kernel.hyperparameters if not h.fixed]
    for i, p in enumerate("wb"):
        assert abs(dK[0, 1, names.index(f"sigma_{p}")] - g[i]) < 1e-9 * scale


# ---------------------------------------------------------------------------
# the split itself
def test_split_of_mish_and_the_user_activation():
    from sknnk.activations import resolve_activation

    for activation in ("mish", USER):
        split = affine.split_of_eligible(resolve_activation(activation).funcs)
        assert split is not None
        assert (split.a0, split.a1, split.da, split.db) == (0.0, 0.0, 1.0, 0.0)


def _softsign(x):
    return x / (1.0 + np.abs(x))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.maximum(x, 0.0),  # affine tails, a kink
        np.sin,  # not affine
        np.square,  # not affine
        _softsign,  # algebraic tails
        lambda x: x * np.tanh(x) + np.where(np.abs(x) > 300, np.nan, 0.0),  # NaN
    ],
)
def test_split_refuses_what_it_cannot_resolve(fn):
    from sknnk.activations import resolve_activation

    assert affine.split_of_eligible(resolve_activation(Custom(fn)).funcs) is None


def test_tanh_and_gelu_are_not_candidates():
    from sknnk.activations import resolve_activation

    for name in ("tanh", "gelu", "swish", "softplus", "sigmoid", "gelu_tanh"):
        assert affine.split_of_eligible(resolve_activation(name).funcs) is None


def test_r_coefficients_against_quadrature():
    # r(x) = x Phi(x) + 0.3 Phi(x) - 0.2 x + 0.5 at q = 50: the closed form
    # against adaptive quadrature (scipy's QUADPACK) of the same function
    from scipy.integrate import quad

    q, n = 50.0, 30
    coef = affine._r_coefficients(q, 0.5, -0.2, 1.0, 0.3, n)
    s = math.sqrt(q)

    def he(k, z):  # normalised probabilists' Hermite polynomial
        a, b = 1.0, z
        if k == 0:
            return a
        for m in range(1, k):
            a, b = b, (z * b - math.sqrt(m) * a) / math.sqrt(m + 1)
        return b

    def integrand(z, k):
        u = s * z
        r = 0.5 - 0.2 * u + u * special.ndtr(u) + 0.3 * special.ndtr(u)
        return r * he(k, z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    for k in range(n):
        ref = quad(integrand, -16, 16, args=(k,), points=[0.0], limit=400,
                   epsabs=1e-13, epsrel=1e-13)[0]  # fmt: skip
        assert abs(coef[k] - ref) < 1e-11 * s, (k, coef[k], ref)


# ---------------------------------------------------------------------------
# beyond the accurate range and what does not qualify
def test_beyond_the_range_values_warn_gradients_are_bounded_or_refused():
    # q ~ 3e4: more terms than the split tier's cap; the values warn with a
    # bound that covers their error, and the gradient is refused or warns
    series.reset_warnings()
    x, y, sigma_w, sigma_b = acc._pair(3e4, 0.9)
    kernel = NNGPKernel(depth=1, activation="mish", sigma_w=sigma_w, sigma_b=sigma_b)
    X = np.vstack([x, y])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        K = kernel(X)
    message = " ".join(str(w.message) for w in caught if "Hermite" in str(w.message))
    ref = acc.reference_kernels(x, y, "mish", 1, sigma_w, sigma_b)[0]
    scale = math.sqrt(K[0, 0] * K[1, 1])
    err = abs(K[0, 1] - ref) / scale
    if message:
        bound = float(message.split("bounded by ")[1].split()[0])
        assert err <= bound
    else:
        assert err < 1e-9


def test_a_kinked_user_activation_keeps_its_warning():
    series.reset_warnings()
    relu = Custom(lambda x: np.maximum(x, 0.0), derivative=lambda x: 1.0 * (x > 0))
    X = np.random.default_rng(1).normal(size=(4, 3)) * 30.0
    with pytest.warns(UserWarning, match="did not converge"):
        NNGPKernel(depth=1, activation=relu)(X)


def test_tables_that_would_not_fit_are_refused_before_any_work():
    # 2e4 points at layer variance 1e3: ~8e4 terms per table and point, some
    # 50 GB of tables; the memory guard probes the split tier's terms on the
    # point of largest norm and refuses
    from sknnk._memory import MemoryBudgetError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 4))
    X *= np.sqrt(4e3 / np.einsum("ij,ij->i", X, X))[:, None]
    kernel = NTKKernel(depth=1, activation="mish", sigma_w=1.0, sigma_b=0.0)
    with pytest.raises(MemoryBudgetError, match="working memory"):
        kernel(X, eval_gradient=True)
